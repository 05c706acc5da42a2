/*-------------------------------------------------------------------------
 *
 * columns.c
 *	  One column map per presence table, for store.c and triggers.c alike.
 *
 * Rows are read and built by column number; the numbers are looked up by
 * name once, and again after any relcache invalidation (rows.c counts
 * them), so a column dropped and added again by an upgrade is still found.
 * The triggers read the tuples they are given with the same maps as ingest
 * writes them, so a column's name is spelt in one place.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "columns.h"
#include "rows.h"

/* A column map's entry: the column's name and where its number goes. */
#define COLUMN_REF(t, column) {#column, &t.column},

/*
 * For one table: its column numbers, their map, and columns_NAME(rel), which
 * looks the numbers up again after any invalidation.  One definition serves
 * every table, so that the lookup is written once.
 */
#define COLUMNS_LOOKUP(name, type, LIST) \
static type name; \
static const RowsColumn name##_map[] = {LIST(COLUMN_REF, name)}; \
const type * \
columns_##name(Relation rel) \
{ \
	static uint64 found_at; \
\
	rows_find_columns(rel, name##_map, lengthof(name##_map), &found_at); \
	return &name; \
}

COLUMNS_LOOKUP(users, UsersColumns, USERS_COLUMNS)
COLUMNS_LOOKUP(sessions, SessionsColumns, SESSIONS_COLUMNS)
COLUMNS_LOOKUP(events, EventsColumns, EVENTS_COLUMNS)
COLUMNS_LOOKUP(signatures, SignaturesColumns, SIGNATURES_COLUMNS)
