/*-------------------------------------------------------------------------
 *
 * rows_write.c
 *	  Writing rows of the running call (rows.c): drafts, inserts, updates.
 *
 * Writes go through the executor's row routines, so constraints, indexes and
 * row triggers behave as for an INSERT or UPDATE; rows of a table whose
 * trigger the caller took over may wait for one multi-insert.
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


/* Write the rows t holds for later: one multi-insert, then their index entries. */
void
rows_write_later(RowsTable *t)
{
	EState	   *estate = rows_current_call->estate;
	CommandId	cid = GetCurrentCommandId(true);

	if (t->nlater == 0)
		return;
	if (t->nlater == 1)
		table_tuple_insert(t->rel, t->later[0], cid, 0, NULL);
	else
		table_multi_insert(t->rel, t->later, t->nlater, cid, 0, NULL);
	estate->es_output_cid = cid;
	for (int i = 0; i < t->nlater; i++)
	{
		List	   *recheck = presence_insert_index_tuples(t->rri, t->later[i], estate, false,
															   false, NULL, NIL, false);

		list_free(recheck);
		ExecClearTuple(t->later[i]);
	}
	t->nlater = 0;
}

/* Write every row the call holds for later, at its end. */
void
rows_write_all_later(void)
{
	for (int i = 0; i < ROWS_NUM_TABLES; i++)
		if (rows_current_call->tables[i].rri != NULL)
			rows_write_later(&rows_current_call->tables[i]);
}

/* Start a row of nulls in t->draft; set columns, then insert it. */
void
rows_draft_clear(RowsTable *t)
{
	TupleTableSlot *slot = t->draft;

	ExecClearTuple(slot);
	for (int i = 0; i < slot->tts_tupleDescriptor->natts; i++)
	{
		slot->tts_values[i] = (Datum) 0;
		slot->tts_isnull[i] = true;
	}
	ExecStoreVirtualTuple(slot);
}

/* Start t->draft as a copy of t->found; set columns, then update. */
void
rows_draft_from_found(RowsTable *t)
{
	TupleTableSlot *slot = t->draft;
	int			natts = slot->tts_tupleDescriptor->natts;

	ExecClearTuple(slot);
	slot_getallattrs(t->found);
	memcpy(slot->tts_values, t->found->tts_values, sizeof(Datum) * natts);
	memcpy(slot->tts_isnull, t->found->tts_isnull, sizeof(bool) * natts);
	ExecStoreVirtualTuple(slot);
}

/* Start a write to t; a table with triggers queues their events from here. */
void
rows_begin_write(RowsTable *t)
{
	rows_current_call->estate->es_snapshot = GetActiveSnapshot();
	rows_current_call->estate->es_output_cid = GetCurrentCommandId(true);
	if (t->rri->ri_TrigDesc != NULL)
		AfterTriggerBeginQuery();
}

/* Run the row triggers the write queued, as at the end of a statement. */
void
rows_end_write(RowsTable *t)
{
	if (t->rri->ri_TrigDesc != NULL)
		AfterTriggerEndQuery(rows_current_call->estate);
}

/* Insert t->draft, firing the row triggers. */
static void
rows_insert_draft(RowsTable *t)
{
	rows_begin_write(t);
	ExecSimpleRelationInsert(t->rri, rows_current_call->estate, t->draft);
	rows_end_write(t);
}

/* How many rows a table holds for later before it writes them. */
#define ROWS_LATER_MAX 64

/*
 * Insert t->draft later: at the next read of t, at the call's end, or with
 * the next 63, in one multi-insert as COPY writes rows (one WAL record per
 * page instead of one per row).  Constraints are checked now.  Only for a
 * table whose triggers the caller took over (none is left to fire); else
 * the row is inserted at once.
 */
void
rows_insert_draft_later(RowsTable *t)
{
	EState	   *estate = rows_current_call->estate;
	MemoryContext old;

	if (t->rri->ri_TrigDesc != NULL)
	{
		rows_insert_draft(t);
		return;
	}
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	if (t->later == NULL)
		t->later = palloc0(sizeof(TupleTableSlot *) * ROWS_LATER_MAX);
	if (t->later[t->nlater] == NULL)
		t->later[t->nlater] = table_slot_create(t->rel, &estate->es_tupleTable);
	MemoryContextSwitchTo(old);
	if (t->rel->rd_att->constr)
		ExecConstraints(t->rri, t->draft, estate);
	ExecCopySlot(t->later[t->nlater++], t->draft);
	if (t->nlater == ROWS_LATER_MAX)
		rows_write_later(t);
}

/*
 * Replace the row at tid by t->draft, as ExecSimpleRelationUpdate does for a
 * row in a slot: constraints, the heap, indexes unless the update was HOT,
 * and the AFTER ROW triggers.  The caller holds the row's lock.  The row may
 * have been written by this call (a new user's), so a new command starts
 * first: a row version is invisible to the command that wrote it.
 */
void
rows_update_at(RowsTable *t, ItemPointer tid)
{
	EState	   *estate = rows_current_call->estate;
	ItemPointerData old_tid = *tid;
	bool		only_summarizing;
	List	   *recheck = NIL;

	CommandCounterIncrement();
	rows_begin_write(t);
	if (t->rel->rd_att->constr)
		ExecConstraints(t->rri, t->draft, estate);
	if (presence_table_update(t->rel, &old_tid, t->draft, estate->es_snapshot, &only_summarizing) &&
		t->rri->ri_NumIndices > 0)
		recheck = presence_insert_index_tuples(t->rri, t->draft, estate, true, false, NULL, NIL,
											   only_summarizing);
	ExecARUpdateTriggers(estate, t->rri, NULL, NULL, &old_tid, NULL, t->draft, recheck,
						 NULL, false);
	rows_end_write(t);
	list_free(recheck);
}

/* Replace the row in t->found by t->draft. */
void
rows_update_found(RowsTable *t)
{
	rows_begin_write(t);
	ExecSimpleRelationUpdate(t->rri, rows_current_call->estate, &rows_current_call->epqstate, t->found, t->draft);
	rows_end_write(t);
}

/* Set a text column of a draft (NULL sets null). */
void
rows_set_text(TupleTableSlot *slot, AttrNumber attnum, const char *value)
{
	slot->tts_isnull[attnum - 1] = (value == NULL);
	slot->tts_values[attnum - 1] = value ? CStringGetTextDatum(value) : (Datum) 0;
}

/* Set a timestamptz column of a draft, or null when !present. */
void
rows_set_time(TupleTableSlot *slot, AttrNumber attnum, bool present, TimestampTz value)
{
	slot->tts_isnull[attnum - 1] = !present;
	slot->tts_values[attnum - 1] = present ? TimestampTzGetDatum(value) : (Datum) 0;
}

/* Set a bigint column of a draft, or null when !present. */
void
rows_set_int64(TupleTableSlot *slot, AttrNumber attnum, bool present, int64 value)
{
	slot->tts_isnull[attnum - 1] = !present;
	slot->tts_values[attnum - 1] = present ? Int64GetDatum(value) : (Datum) 0;
}

/* Set a boolean column of a draft. */
void
rows_set_bool(TupleTableSlot *slot, AttrNumber attnum, bool value)
{
	slot->tts_values[attnum - 1] = BoolGetDatum(value);
	slot->tts_isnull[attnum - 1] = false;
}

/* Set an integer column of a draft. */
void
rows_set_int32(TupleTableSlot *slot, AttrNumber attnum, int32 value)
{
	slot->tts_values[attnum - 1] = Int32GetDatum(value);
	slot->tts_isnull[attnum - 1] = false;
}
