/*-------------------------------------------------------------------------
 *
 * rows_speculative.c
 *	  The speculative insert: a row unless its key is taken, as INSERT ... ON
 *	  CONFLICT does.
 *
 * One index search either inserts the row or finds, and waits for, the row
 * that has its key; used to create or lock a user's row and to log an item
 * once (rows.h).
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
 * What ExecOpenIndices(..., true) adds for ON CONFLICT, once per call and
 * only for the tables a caller inserts into that way.
 */
static void
prepare_speculative(RowsTable *t)
{
	MemoryContext old;

	if (t->speculative)
		return;
	old = MemoryContextSwitchTo(rows_current_call->estate->es_query_cxt);
	for (int i = 0; i < t->rri->ri_NumIndices; i++)
		if (t->rri->ri_IndexRelationInfo[i]->ii_Unique)
			BuildSpeculativeIndexInfo(t->rri->ri_IndexRelationDescs[i],
									  t->rri->ri_IndexRelationInfo[i]);
	MemoryContextSwitchTo(old);
	t->speculative = true;
}

/* What one attempt of a speculative insertion did. */
typedef enum SpeculativeOutcome
{
	SPECULATIVE_INSERTED,
	SPECULATIVE_TAKEN,			/* the key is taken by the row at *conflict */
	SPECULATIVE_RACED			/* another transaction took the key meanwhile: again */
} SpeculativeOutcome;

/*
 * Insert t->draft unless its primary key is taken, as INSERT ... ON CONFLICT
 * does: the pre-check waits for an inserter of the same key to finish and
 * says where the row it finds is, and the insertion itself is speculative,
 * so that a row inserted meanwhile is caught.
 */
static SpeculativeOutcome
insert_speculatively(RowsTable *t, ItemPointer conflict)
{
	EState	   *estate = rows_current_call->estate;
	List	   *arbiters = list_make1_oid(RelationGetRelid(t->pkey));
	TransactionId xid = GetCurrentTransactionId();
	bool		taken = false;
	uint32		token;
	List	   *recheck;

	prepare_speculative(t);
	rows_write_later(t);
	if (!presence_check_index_constraints(t->rri, t->draft, estate, conflict, arbiters))
		return SPECULATIVE_TAKEN;
	rows_begin_write(t);
	if (t->rel->rd_att->constr)
		ExecConstraints(t->rri, t->draft, estate);
	token = SpeculativeInsertionLockAcquire(xid);
	table_tuple_insert_speculative(t->rel, t->draft, estate->es_output_cid, 0, NULL, token);
	recheck = presence_insert_index_tuples(t->rri, t->draft, estate, false, true, &taken,
										   arbiters, false);
	table_tuple_complete_speculative(t->rel, t->draft, token, !taken);
	SpeculativeInsertionLockRelease(xid);
	if (!taken)
		ExecARInsertTriggers(estate, t->rri, t->draft, recheck, NULL);
	rows_end_write(t);
	list_free(recheck);
	return taken ? SPECULATIVE_RACED : SPECULATIVE_INSERTED;
}

/*
 * Insert t->draft unless its primary key is taken, as INSERT ... ON CONFLICT
 * DO NOTHING does.  False when the key is taken, once its inserter has
 * finished.
 */
bool
rows_insert_draft_if_new(RowsTable *t)
{
	ItemPointerData conflict;
	SpeculativeOutcome outcome;

	do
		outcome = insert_speculatively(t, &conflict);
	while (outcome == SPECULATIVE_RACED);
	return outcome == SPECULATIVE_INSERTED;
}

/*
 * Lock (FOR UPDATE) the row at tid into t->found, as ON CONFLICT DO UPDATE
 * locks the row it conflicts with; false when it was updated or deleted
 * meanwhile (look again), and under REPEATABLE READ that, or a row the
 * transaction cannot see, is a serialization failure.
 */
static bool
lock_at(RowsTable *t, ItemPointer tid)
{
	TM_FailureData tmfd;
	TM_Result	result = table_tuple_lock(t->rel, tid, GetLatestSnapshot(), t->found,
										  GetCurrentCommandId(false), LockTupleExclusive,
										  LockWaitBlock, 0, &tmfd);

	if (result == TM_Ok)
	{
		rows_require_visible(t);
		return true;
	}
	if (result != TM_Updated && result != TM_Deleted)
		elog(ERROR, "presence: unexpected result %d locking a row of \"%s\"",
			 (int) result, RelationGetRelationName(t->rel));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update")));
	return false;
}

/*
 * Insert t->draft, or lock the row that has its primary key (as INSERT ...
 * ON CONFLICT DO UPDATE would, without the update): true when inserted,
 * false when the existing row is locked in t->found.  One index search
 * either way.  A new command starts first: a row version written under the
 * current one (by the previous call of the same statement, say) would be
 * invisible to the lock.
 */
bool
rows_insert_draft_or_lock(RowsTable *t)
{
	ItemPointerData conflict;

	CommandCounterIncrement();
	for (;;)
	{
		SpeculativeOutcome outcome = insert_speculatively(t, &conflict);

		if (outcome == SPECULATIVE_INSERTED)
			return true;
		if (outcome == SPECULATIVE_TAKEN && lock_at(t, &conflict))
			return false;
	}
}
