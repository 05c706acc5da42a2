/*-------------------------------------------------------------------------
 *
 * rows.c
 *	  Direct row access to the presence tables, one executor state per call.
 *
 * Ingest touches one row at a time by primary key.  Running each touch as
 * an SQL statement pays for an executor start and end every time, about
 * half of a delivery's cost; here one executor state and one set of opened
 * tables, indexes and slots serve the whole call, the way logical
 * replication's apply worker writes rows.  Writes still go through the
 * executor's row routines, so constraints, indexes and every row trigger
 * behave as for an INSERT or UPDATE, except a trigger the caller takes over
 * (rows_take_over_trigger) and applies itself.
 *
 * Visibility follows what SPI gives a statement: the caller locks a row
 * (rows_insert_draft_or_lock), then rows_begin_reading takes a snapshot,
 * and the lock and each read first make the transaction's earlier writes
 * visible: the call's own, and those of an earlier call in the same SQL
 * statement, which no statement boundary separates from this one.  What a caller locks and why
 * is its own business (store.c's user lock); this layer knows no table's
 * meaning, only their names.
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

static const char *const rows_table_names[ROWS_NUM_TABLES] = {
	"users", "sessions", "events", "seen_signatures", "retention_state"
};

typedef struct CallTables
{
	EState	   *estate;
	EPQState	epqstate;
	RowsTable tables[ROWS_NUM_TABLES];
	bool		reading;		/* rows_begin_reading pushed a snapshot */
	void	   *owner;			/* the caller's state for this call */
	SubTransactionId subid;		/* the subtransaction that opened the tables */
	struct CallTables *outer;	/* the call this one runs inside (a trigger's) */
} CallTables;

/*
 * The running call's tables, from rows_open to rows_close or abort; a
 * call made from a trigger during another call stacks on it.
 */
static CallTables *call;
static bool callbacks_registered;

static void write_all_later_rows(void);

/* Bumped by every relcache invalidation: cached column numbers are then stale. */
static uint64 generation = 1;

/* Forget the calls opened in subtransaction subid or in one inside it. */
static void
forget_calls_since(SubTransactionId subid)
{
	while (call != NULL && call->subid >= subid)
		call = call->outer;
}

static void
on_relcache_invalidation(Datum arg, Oid relid)
{
	generation++;
}

static void
on_xact_event(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		call = NULL;
}

static void
on_subxact_event(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		forget_calls_since(mySubid);
}

static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(on_xact_event, NULL);
	RegisterSubXactCallback(on_subxact_event, NULL);
	CacheRegisterRelcacheCallback(on_relcache_invalidation, (Datum) 0);
	callbacks_registered = true;
}

static Oid
rows_table_oid(Oid nsp, const char *name)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table presence.%s does not exist", name),
				 errhint("Reinstall the presence extension.")));
	return relid;
}

/* The tables' OIDs, looked up again only after a relcache invalidation. */
static const Oid *
rows_table_oids(void)
{
	static Oid	relids[ROWS_NUM_TABLES];
	static uint64 found_at;

	while (found_at != generation)
	{
		uint64		g = generation;
		Oid			nsp = get_namespace_oid("presence", false);

		for (int i = 0; i < ROWS_NUM_TABLES; i++)
			relids[i] = rows_table_oid(nsp, rows_table_names[i]);
		found_at = g;
	}
	return relids;
}

static Relation
primary_key_of(ResultRelInfo *rri)
{
	Oid			pkey = presence_primary_key_index(rri->ri_RelationDesc);

	for (int i = 0; i < rri->ri_NumIndices; i++)
		if (RelationGetRelid(rri->ri_IndexRelationDescs[i]) == pkey)
			return rri->ri_IndexRelationDescs[i];
	elog(ERROR, "presence: table \"%s\" has no primary key",
		 RelationGetRelationName(rri->ri_RelationDesc));
	pg_unreachable();
}

/* Lock the table and open it, its indexes and its slots, for this call. */
static void
rows_open_table(EState *estate, RowsTable *t, Index rti)
{
	TupleDesc	desc;

	table_close(table_open(exec_rt_fetch(rti, estate)->relid, RowExclusiveLock), NoLock);
	t->rri = makeNode(ResultRelInfo);
	ExecInitResultRelation(estate, t->rri, rti);
	t->rel = t->rri->ri_RelationDesc;
	ExecOpenIndices(t->rri, false);	/* rows_insert_draft_if_new adds the rest */
	t->pkey = primary_key_of(t->rri);
	desc = RelationGetDescr(t->rel);
	t->found = ExecInitExtraTupleSlot(estate, desc, table_slot_callbacks(t->rel));
	t->draft = ExecInitExtraTupleSlot(estate, desc, &TTSOpsVirtual);
	t->probe = ExecInitExtraTupleSlot(estate, desc, table_slot_callbacks(t->rel));
}

/* Lock and open the tables for this call; rows_close ends it. */
void
rows_open(void)
{
	EState	   *estate;
	MemoryContext old;
	CallTables *outer = call;
	List	   *rtable = NIL;
	const Oid  *relids;

	register_callbacks();
	relids = rows_table_oids();
	estate = CreateExecutorState();
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	call = palloc0(sizeof(CallTables));
	call->estate = estate;
	call->subid = GetCurrentSubTransactionId();
	call->outer = outer;
	for (int i = 0; i < ROWS_NUM_TABLES; i++)
	{
		RangeTblEntry *rte = makeNode(RangeTblEntry);

		rte->rtekind = RTE_RELATION;
		rte->relid = relids[i];
		rte->relkind = RELKIND_RELATION;
		rte->rellockmode = RowExclusiveLock;
		rtable = lappend(rtable, rte);
	}
	presence_init_range_table(estate, rtable);
	/* seen_signatures only when a call binds a signature (rows_get) */
	for (int i = 0; i < ROWS_NUM_TABLES; i++)
		if (i != ROWS_SIGNATURES && i != ROWS_RETENTION_STATE)
			rows_open_table(estate, &call->tables[i], i + 1);
	presence_epq_init(&call->epqstate, estate);
	MemoryContextSwitchTo(old);
}

/* End the running call: close its tables and free its executor state. */
void
rows_close(void)
{
	EState	   *estate = call->estate;

	write_all_later_rows();
	rows_end_reading();
	EvalPlanQualEnd(&call->epqstate);
	ExecResetTupleTable(estate->es_tupleTable, false);
	ExecCloseResultRelations(estate);
	ExecCloseRangeTableRelations(estate);
	call = call->outer;
	FreeExecutorState(estate);
}

/* Table id of the running call, opened on first use. */
RowsTable *
rows_get(RowsTableId id)
{
	RowsTable *t = &call->tables[id];

	if (t->rri == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(call->estate->es_query_cxt);

		rows_open_table(call->estate, t, id + 1);
		MemoryContextSwitchTo(old);
	}
	return t;
}

/* Is tgfoid the function whose C entry point is function?  Remembers a few answers. */
static bool
trigger_runs(Oid tgfoid, PGFunction function)
{
	static struct
	{
		Oid			oid;
		PGFunction	function;
	}			known[4];
	static int	next;
	FmgrInfo	finfo;

	for (int i = 0; i < (int) lengthof(known); i++)
		if (known[i].oid == tgfoid && OidIsValid(tgfoid))
			return known[i].function == function;
	fmgr_info(tgfoid, &finfo);
	known[next].oid = tgfoid;
	known[next].function = finfo.fn_addr;
	next = (next + 1) % (int) lengthof(known);
	return finfo.fn_addr == function;
}

/* Would the trigger fire now, under session_replication_role? */
static bool
trigger_fires(const Trigger *trigger)
{
	if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
		return trigger->tgenabled == TRIGGER_FIRES_ON_REPLICA ||
			trigger->tgenabled == TRIGGER_FIRES_ALWAYS;
	return trigger->tgenabled == TRIGGER_FIRES_ON_ORIGIN ||
		trigger->tgenabled == TRIGGER_FIRES_ALWAYS;
}

/*
 * For the rest of the call, write t's rows without queuing its one trigger,
 * which runs the C function function: the caller does what it would have
 * done, at once.  Only when that trigger is the table's only one and would
 * fire; else nothing changes and false is returned, and the triggers fire as
 * for any statement.  Queuing and firing an AFTER ROW event per row costs
 * more than the work the trigger does.
 */
bool
rows_take_over_trigger(RowsTable *t, PGFunction function)
{
	TriggerDesc *td = t->rri->ri_TrigDesc;

	if (td == NULL || td->numtriggers != 1 || !trigger_fires(&td->triggers[0]) ||
		!trigger_runs(td->triggers[0].tgfoid, function))
		return false;
	t->rri->ri_TrigDesc = NULL;
	return true;
}

/*
 * The column of the first row of table id (a settings table of at most one
 * row), read with a snapshot taken now, as a statement would; false when the
 * table is empty or the value null.  Outside a call, and cheaper than a
 * statement: a heap scan of one page.  The column's number is looked up as
 * rows_find_columns does (found_at is the caller's); its type must be by value.
 */
bool
rows_read_single(RowsTableId id, const RowsColumn *column, uint64 *found_at, Datum *value)
{
	Relation	rel;
	Snapshot	snapshot;
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		isnull = true;

	register_callbacks();
	rel = table_open(rows_table_oids()[id], AccessShareLock);
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, snapshot, 0, NULL);
	rows_find_columns(rel, column, 1, found_at);
	if (!TupleDescAttr(RelationGetDescr(rel), *column->attnum - 1)->attbyval)
		elog(ERROR, "presence: column \"%s\" of \"%s\" is not of a by-value type",
			 column->name, RelationGetRelationName(rel));
	if (table_scan_getnextslot(scan, ForwardScanDirection, slot))
		*value = slot_getattr(slot, *column->attnum, &isnull);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	table_close(rel, NoLock);
	return !isnull;
}

/*
 * Look up the number of each column of refs in rel (one of the presence
 * tables), unless *found_at says it was done since the last relcache
 * invalidation.
 */
void
rows_find_columns(Relation rel, const RowsColumn *refs, int n, uint64 *found_at)
{
	register_callbacks();
	if (*found_at == generation)
		return;
	for (int i = 0; i < n; i++)
	{
		int			attnum = attnameAttNum(rel, refs[i].name, false);

		if (attnum <= 0)
			elog(ERROR, "presence: column \"%s\" of \"%s\" is missing",
				 refs[i].name, RelationGetRelationName(rel));
		*refs[i].attnum = (AttrNumber) attnum;
	}
	*found_at = generation;
}

/*
 * After the caller has locked what it reads: read with a snapshot taken now,
 * as the next statement would (under REPEATABLE READ, the transaction's own).
 */
void
rows_begin_reading(void)
{
	Assert(!call->reading);
	PushActiveSnapshot(GetTransactionSnapshot());
	call->reading = true;
	ResetPerTupleExprContext(call->estate);
}

/* Done reading: drop the snapshot rows_begin_reading took, if any. */
void
rows_end_reading(void)
{
	if (!call->reading)
		return;
	PopActiveSnapshot();
	call->reading = false;
}

/* The caller's state for the running call (NULL when none is running or set). */
void *
rows_call_owner(void)
{
	return call != NULL ? call->owner : NULL;
}

/* Give the running call zeroed caller's state of size bytes, freed with the call. */
void *
rows_call_set_owner(Size size)
{
	call->owner = MemoryContextAllocZero(call->estate->es_query_cxt, size);
	return call->owner;
}

/* Write the rows t holds for later: one multi-insert, then their index entries. */
static void
write_later_rows(RowsTable *t)
{
	EState	   *estate = call->estate;
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
static void
write_all_later_rows(void)
{
	for (int i = 0; i < ROWS_NUM_TABLES; i++)
		if (call->tables[i].rri != NULL)
			write_later_rows(&call->tables[i]);
}

/* Make this call's earlier writes, and those of the triggers, visible. */
static Snapshot
reading_snapshot(void)
{
	Assert(call->reading);
	CommandCounterIncrement();
	UpdateActiveSnapshotCommandId();
	return GetActiveSnapshot();
}

/*
 * Under REPEATABLE READ, the row in t->found must be one the transaction's
 * snapshot sees; else another transaction changed it since, and this is a
 * serialization failure, as SQL would raise.
 */
static void
require_visible_to_transaction(RowsTable *t)
{
	if (IsolationUsesXactSnapshot() &&
		!table_tuple_satisfies_snapshot(t->rel, t->found, GetTransactionSnapshot()))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update")));
}

/* Scan index with keys (each in the index column's collation). */
static IndexScanDesc
begin_index_scan(RowsTable *t, Relation index, Snapshot snapshot, ScanKey keys, int nkeys)
{
	IndexScanDesc scan = presence_index_beginscan(t->rel, index, snapshot, nkeys);

	for (int i = 0; i < nkeys; i++)
		keys[i].sk_collation = index->rd_indcollation[keys[i].sk_attno - 1];
	index_rescan(scan, keys, nkeys, NULL, 0);
	return scan;
}

/* Scan the primary key with keys. */
static IndexScanDesc
begin_key_scan(RowsTable *t, Snapshot snapshot, ScanKey keys, int nkeys)
{
	return begin_index_scan(t, t->pkey, snapshot, keys, nkeys);
}

/* The index of t called name, opened with the table; an error when it is missing. */
Relation
rows_index(RowsTable *t, const char *name)
{
	for (int i = 0; i < t->rri->ri_NumIndices; i++)
		if (strcmp(RelationGetRelationName(t->rri->ri_IndexRelationDescs[i]), name) == 0)
			return t->rri->ri_IndexRelationDescs[i];
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("index presence.%s does not exist", name),
			 errhint("Run ALTER EXTENSION presence UPDATE, or reinstall the extension.")));
	pg_unreachable();
}

/* Begin a scan of one of t's indexes; fetch rows into a slot of t. */
IndexScanDesc
rows_scan_index_begin(RowsTable *t, Relation index, ScanKey keys, int nkeys)
{
	write_later_rows(t);
	return begin_index_scan(t, index, reading_snapshot(), keys, nkeys);
}

/* Begin a scan of the primary key; fetch rows into t->found. */
IndexScanDesc
rows_scan_begin(RowsTable *t, ScanKey keys, int nkeys)
{
	write_later_rows(t);
	return begin_key_scan(t, reading_snapshot(), keys, nkeys);
}

/* The next row of the scan into slot; false at the end. */
bool
rows_scan_next(IndexScanDesc scan, TupleTableSlot *slot)
{
	return index_getnext_slot(scan, ForwardScanDirection, slot);
}

/* End a scan. */
void
rows_scan_end(IndexScanDesc scan)
{
	index_endscan(scan);
}

/* The first row matching keys into t->found; false when there is none. */
bool
rows_lookup(RowsTable *t, ScanKey keys, int nkeys)
{
	IndexScanDesc scan = rows_scan_begin(t, keys, nkeys);
	bool		found = index_getnext_slot(scan, ForwardScanDirection, t->found);

	rows_scan_end(scan);
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

	write_later_rows(t);
	CommandCounterIncrement();
	scan = begin_key_scan(t, GetLatestSnapshot(), keys, nkeys);
	found = index_getnext_slot(scan, ForwardScanDirection, t->found);
	index_endscan(scan);
	if (found)
		require_visible_to_transaction(t);
	return found;
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
static void
begin_write(RowsTable *t)
{
	call->estate->es_snapshot = GetActiveSnapshot();
	call->estate->es_output_cid = GetCurrentCommandId(true);
	if (t->rri->ri_TrigDesc != NULL)
		AfterTriggerBeginQuery();
}

/* Run the row triggers the write queued, as at the end of a statement. */
static void
end_write(RowsTable *t)
{
	if (t->rri->ri_TrigDesc != NULL)
		AfterTriggerEndQuery(call->estate);
}

/* Insert t->draft, firing the row triggers. */
static void
rows_insert_draft(RowsTable *t)
{
	begin_write(t);
	ExecSimpleRelationInsert(t->rri, call->estate, t->draft);
	end_write(t);
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
	EState	   *estate = call->estate;
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
		write_later_rows(t);
}

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
	old = MemoryContextSwitchTo(call->estate->es_query_cxt);
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
	EState	   *estate = call->estate;
	List	   *arbiters = list_make1_oid(RelationGetRelid(t->pkey));
	TransactionId xid = GetCurrentTransactionId();
	bool		taken = false;
	uint32		token;
	List	   *recheck;

	prepare_speculative(t);
	write_later_rows(t);
	if (!presence_check_index_constraints(t->rri, t->draft, estate, conflict, arbiters))
		return SPECULATIVE_TAKEN;
	begin_write(t);
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
	end_write(t);
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
		require_visible_to_transaction(t);
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
	EState	   *estate = call->estate;
	ItemPointerData old_tid = *tid;
	bool		only_summarizing;
	List	   *recheck = NIL;

	CommandCounterIncrement();
	begin_write(t);
	if (t->rel->rd_att->constr)
		ExecConstraints(t->rri, t->draft, estate);
	if (presence_table_update(t->rel, &old_tid, t->draft, estate->es_snapshot, &only_summarizing) &&
		t->rri->ri_NumIndices > 0)
		recheck = presence_insert_index_tuples(t->rri, t->draft, estate, true, false, NULL, NIL,
											   only_summarizing);
	ExecARUpdateTriggers(estate, t->rri, NULL, NULL, &old_tid, NULL, t->draft, recheck,
						 NULL, false);
	end_write(t);
	list_free(recheck);
}

/* Replace the row in t->found by t->draft. */
void
rows_update_found(RowsTable *t)
{
	begin_write(t);
	ExecSimpleRelationUpdate(t->rri, call->estate, &call->epqstate, t->found, t->draft);
	end_write(t);
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

/* A bigint column of slot; *isnull says whether it is null. */
int64
rows_get_int64(TupleTableSlot *slot, AttrNumber attnum, bool *isnull)
{
	Datum		d = slot_getattr(slot, attnum, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
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
