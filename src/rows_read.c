/*-------------------------------------------------------------------------
 *
 * rows_read.c
 *	  Reading rows of the running call (rows.c): snapshots, key lookups, columns.
 *
 * Reads follow what SPI gives a statement: a snapshot taken after the caller
 * locked what it reads, with the transaction's earlier writes made visible
 * first (rows.c's file comment).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class_d.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "parser/parse_relation.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "presence_compat.h"
#include "rows.h"
#include "rows_call.h"


/*
 * After the caller has locked what it reads: read with a snapshot taken now,
 * as the next statement would (under REPEATABLE READ, the transaction's own).
 */
void
rows_begin_reading(void)
{
	Assert(!rows_current_call->reading);
	PushActiveSnapshot(GetTransactionSnapshot());
	rows_current_call->reading = true;
	ResetPerTupleExprContext(rows_current_call->estate);
}

/* Done reading: drop the snapshot rows_begin_reading took, if any. */
void
rows_end_reading(void)
{
	if (!rows_current_call->reading)
		return;
	PopActiveSnapshot();
	rows_current_call->reading = false;
}

/* Make this call's earlier writes, and those of the triggers, visible. */
static Snapshot
reading_snapshot(void)
{
	Assert(rows_current_call->reading);
	CommandCounterIncrement();
	UpdateActiveSnapshotCommandId();
	return GetActiveSnapshot();
}

/*
 * Under REPEATABLE READ, the row in t->found must be one the transaction's
 * snapshot sees; else another transaction changed it since, and this is a
 * serialization failure, as SQL would raise.
 */
void
rows_require_visible(RowsTable *t)
{
	if (IsolationUsesXactSnapshot() &&
		!table_tuple_satisfies_snapshot(t->rel, t->found, GetTransactionSnapshot()))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update")));
}

/* Scan the primary key of t with keys (each in the index column's collation). */
static IndexScanDesc
rows_begin_key_scan(RowsTable *t, Snapshot snapshot, ScanKey keys, int nkeys)
{
	IndexScanDesc scan = presence_index_beginscan(t->rel, t->pkey, snapshot, nkeys);

	for (int i = 0; i < nkeys; i++)
		keys[i].sk_collation = t->pkey->rd_indcollation[keys[i].sk_attno - 1];
	index_rescan(scan, keys, nkeys, NULL, 0);
	return scan;
}

/* The first row matching keys into t->found; false when there is none. */
bool
rows_lookup(RowsTable *t, ScanKey keys, int nkeys)
{
	IndexScanDesc scan;
	bool		found;

	rows_write_later(t);
	scan = rows_begin_key_scan(t, reading_snapshot(), keys, nkeys);
	found = index_getnext_slot(scan, ForwardScanDirection, t->found);
	index_endscan(scan);
	return found;
}

/*
 * The committed row matching keys, read with a snapshot taken now (after
 * rows_insert_draft_if_new found the key taken).  Under REPEATABLE READ a
 * row the transaction cannot see is a serialization failure, as for
 * INSERT ... ON CONFLICT DO UPDATE.
 */
bool
rows_lookup_committed(RowsTable *t, ScanKey keys, int nkeys)
{
	IndexScanDesc scan;
	bool		found;

	rows_write_later(t);
	CommandCounterIncrement();
	scan = rows_begin_key_scan(t, GetLatestSnapshot(), keys, nkeys);
	found = index_getnext_slot(scan, ForwardScanDirection, t->found);
	index_endscan(scan);
	if (found)
		rows_require_visible(t);
	return found;
}

/* A scan key: index column indexcol equals the text value. */
void
rows_key_text(ScanKey key, AttrNumber indexcol, const char *value)
{
	ScanKeyInit(key, indexcol, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(value));
}

/* A scan key: index column indexcol = or >= the timestamptz value. */
void
rows_key_time(ScanKey key, AttrNumber indexcol, StrategyNumber strategy, TimestampTz value)
{
	ScanKeyInit(key, indexcol, strategy,
				strategy == BTEqualStrategyNumber ? F_TIMESTAMPTZ_EQ : F_TIMESTAMPTZ_GE,
				TimestampTzGetDatum(value));
}

/* A text column of slot, NULL when null. */
char *
rows_get_text(TupleTableSlot *slot, AttrNumber attnum)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, attnum, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* A timestamptz column of slot; *isnull says whether it is null. */
TimestampTz
rows_get_time(TupleTableSlot *slot, AttrNumber attnum, bool *isnull)
{
	Datum		d = slot_getattr(slot, attnum, isnull);

	return *isnull ? 0 : DatumGetTimestampTz(d);
}

/* A bigint column of slot; *isnull says whether it is null. */
int64
rows_get_int64(TupleTableSlot *slot, AttrNumber attnum, bool *isnull)
{
	Datum		d = slot_getattr(slot, attnum, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}
