/*-------------------------------------------------------------------------
 *
 * tables.h
 *	  Direct row access to the presence tables, one executor state per call.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_TABLES_H
#define PRESENCE_TABLES_H

#include "access/genam.h"
#include "access/skey.h"
#include "datatype/timestamp.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"

typedef enum TableId
{
	TABLE_USERS,
	TABLE_SESSIONS,
	TABLE_EVENTS,
	TABLE_SIGNATURES,
	NUM_TABLES
} TableId;

/* One table opened for a call: its row slots and its primary key. */
typedef struct PresenceTable
{
	Relation	rel;
	ResultRelInfo *rri;
	Relation	pkey;			/* primary key index, opened with the others */
	TupleTableSlot *found;		/* the row the last lookup found */
	TupleTableSlot *draft;		/* a row being built to write */
	TupleTableSlot *probe;		/* rows the triggers read (table_probe) */
} PresenceTable;

extern void tables_open(void);
extern void tables_close(void);
extern PresenceTable *tables_get(TableId id);
extern bool tables_call_running(void);
/* A column looked up by name, and where its number is kept. */
typedef struct TableColumn
{
	const char *name;
	AttrNumber *attnum;
} TableColumn;

extern void table_find_columns(TableId id, const TableColumn *refs, int n, uint64 *found_at);

extern void tables_begin_user(const char *user_id, ItemPointer tid, bool drafted);
extern void tables_end_user(void);
extern TupleTableSlot *tables_locked_user_row(const char *user_id);
extern TupleTableSlot *tables_current_user_row(void);

extern bool table_lock_row(PresenceTable *t, Datum key);
extern bool table_lookup(PresenceTable *t, ScanKey keys, int nkeys);
extern bool table_lookup_committed(PresenceTable *t, ScanKey keys, int nkeys);
extern IndexScanDesc table_scan_begin(PresenceTable *t, ScanKey keys, int nkeys);
extern Relation table_index(PresenceTable *t, const char *name);
extern IndexScanDesc table_scan_index_begin(PresenceTable *t, Relation index, ScanKey keys,
											int nkeys);
extern bool table_scan_next(IndexScanDesc scan, TupleTableSlot *slot);
extern void table_scan_end(IndexScanDesc scan);

extern void table_draft_clear(PresenceTable *t);
extern void table_draft_from_found(PresenceTable *t);
extern void table_insert_draft(PresenceTable *t);
extern bool table_insert_draft_if_new(PresenceTable *t);
extern void table_update_found(PresenceTable *t);

extern void scan_key_text(ScanKey key, AttrNumber indexcol, const char *value);
extern void scan_key_time(ScanKey key, AttrNumber indexcol, StrategyNumber strategy,
						  TimestampTz value);
extern char *slot_text(TupleTableSlot *slot, AttrNumber attnum);
extern TimestampTz slot_time(TupleTableSlot *slot, AttrNumber attnum, bool *isnull);
extern void slot_set_text(TupleTableSlot *slot, AttrNumber attnum, const char *value);
extern void slot_set_time(TupleTableSlot *slot, AttrNumber attnum, bool present,
						  TimestampTz value);
extern void slot_set_bool(TupleTableSlot *slot, AttrNumber attnum, bool value);
extern void slot_set_int32(TupleTableSlot *slot, AttrNumber attnum, int32 value);

#endif							/* PRESENCE_TABLES_H */
