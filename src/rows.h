/*-------------------------------------------------------------------------
 *
 * rows.h
 *	  Direct row access to the presence tables, one executor state per call.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_ROWS_H
#define PRESENCE_ROWS_H

#include "access/genam.h"
#include "access/skey.h"
#include "datatype/timestamp.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"

typedef enum RowsTableId
{
	ROWS_USERS,
	ROWS_SESSIONS,
	ROWS_EVENTS,
	ROWS_SIGNATURES,
	ROWS_RETENTION_STATE,		/* read only, by rows_read_single */
	ROWS_NUM_TABLES
} RowsTableId;

/* One table opened for a call: its row slots and its primary key. */
typedef struct RowsTable
{
	Relation	rel;
	ResultRelInfo *rri;
	Relation	pkey;			/* primary key index, opened with the others */
	TupleTableSlot *found;		/* the row the last lookup found */
	TupleTableSlot *draft;		/* a row being built to write */
	bool		speculative;	/* index info for ON CONFLICT is built */
	TupleTableSlot **later;		/* rows_insert_draft_later's rows, not yet written */
	int			nlater;
} RowsTable;

extern void rows_open(void);
extern void rows_close(void);
extern RowsTable *rows_get(RowsTableId id);
extern bool rows_take_over_trigger(RowsTable *t, PGFunction function);
/* A column looked up by name, and where its number is kept. */
typedef struct RowsColumn
{
	const char *name;
	AttrNumber *attnum;
} RowsColumn;

extern bool rows_read_single(RowsTableId id, const RowsColumn *column, uint64 *found_at,
							 Datum *value);

extern void rows_find_columns(Relation rel, const RowsColumn *refs, int n, uint64 *found_at);

extern void rows_begin_reading(void);
extern void rows_end_reading(void);
extern void *rows_call_owner(void);
extern void *rows_call_set_owner(Size size);

extern bool rows_lookup(RowsTable *t, ScanKey keys, int nkeys);
extern bool rows_lookup_committed(RowsTable *t, ScanKey keys, int nkeys);

extern void rows_draft_clear(RowsTable *t);
extern void rows_draft_from_found(RowsTable *t);
extern bool rows_insert_draft_if_new(RowsTable *t);
extern bool rows_insert_draft_or_lock(RowsTable *t);
extern void rows_insert_draft_later(RowsTable *t);
extern void rows_update_found(RowsTable *t);
extern void rows_update_at(RowsTable *t, ItemPointer tid);

extern void rows_key_text(ScanKey key, AttrNumber indexcol, const char *value);
extern void rows_key_time(ScanKey key, AttrNumber indexcol, StrategyNumber strategy,
						  TimestampTz value);
extern char *rows_get_text(TupleTableSlot *slot, AttrNumber attnum);
extern TimestampTz rows_get_time(TupleTableSlot *slot, AttrNumber attnum, bool *isnull);
extern void rows_set_text(TupleTableSlot *slot, AttrNumber attnum, const char *value);
extern void rows_set_time(TupleTableSlot *slot, AttrNumber attnum, bool present,
						  TimestampTz value);
extern int64 rows_get_int64(TupleTableSlot *slot, AttrNumber attnum, bool *isnull);
extern void rows_set_int64(TupleTableSlot *slot, AttrNumber attnum, bool present,
						   int64 value);
extern void rows_set_bool(TupleTableSlot *slot, AttrNumber attnum, bool value);
extern void rows_set_int32(TupleTableSlot *slot, AttrNumber attnum, int32 value);

#endif							/* PRESENCE_ROWS_H */
