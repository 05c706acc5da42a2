/*-------------------------------------------------------------------------
 *
 * rows.c
 *	  Direct row access to the presence tables, one executor state per call:
 *	  the call itself (open, close, its tables and triggers).  Reading is in
 *	  rows_read.c, writing in rows_write.c, the speculative insert in
 *	  rows_speculative.c; rows_call.h is what they share.
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
#include "rows_call.h"

static const char *const rows_table_names[ROWS_NUM_TABLES] = {
	"users", "sessions", "events", "seen_signatures", "retention_state"
};

/*
 * The running call's tables, from rows_open to rows_close or abort; a
 * call made from a trigger during another call stacks on it.
 */
CallTables *rows_current_call;
static bool callbacks_registered;

/* Bumped by every relcache invalidation: cached column numbers are then stale. */
static uint64 generation = 1;

/* Forget the calls opened in subtransaction subid or in one inside it. */
static void
forget_calls_since(SubTransactionId subid)
{
	while (rows_current_call != NULL && rows_current_call->subid >= subid)
		rows_current_call = rows_current_call->outer;
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
		rows_current_call = NULL;
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
}

/* Lock and open the tables for this call; rows_close ends it. */
void
rows_open(void)
{
	EState	   *estate;
	MemoryContext old;
	CallTables *outer = rows_current_call;
	List	   *rtable = NIL;
	const Oid  *relids;

	register_callbacks();
	relids = rows_table_oids();
	estate = CreateExecutorState();
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	rows_current_call = palloc0(sizeof(CallTables));
	rows_current_call->estate = estate;
	rows_current_call->subid = GetCurrentSubTransactionId();
	rows_current_call->outer = outer;
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
			rows_open_table(estate, &rows_current_call->tables[i], i + 1);
	presence_epq_init(&rows_current_call->epqstate, estate);
	MemoryContextSwitchTo(old);
}

/* End the running call: close its tables and free its executor state. */
void
rows_close(void)
{
	EState	   *estate = rows_current_call->estate;

	rows_write_all_later();
	rows_end_reading();
	EvalPlanQualEnd(&rows_current_call->epqstate);
	ExecResetTupleTable(estate->es_tupleTable, false);
	ExecCloseResultRelations(estate);
	ExecCloseRangeTableRelations(estate);
	rows_current_call = rows_current_call->outer;
	FreeExecutorState(estate);
}

/* Table id of the running call, opened on first use. */
RowsTable *
rows_get(RowsTableId id)
{
	RowsTable *t = &rows_current_call->tables[id];

	if (t->rri == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(rows_current_call->estate->es_query_cxt);

		rows_open_table(rows_current_call->estate, t, id + 1);
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

/* The caller's state for the running call (NULL when none is running or set). */
void *
rows_call_owner(void)
{
	return rows_current_call != NULL ? rows_current_call->owner : NULL;
}

/* Give the running call zeroed caller's state of size bytes, freed with the call. */
void *
rows_call_set_owner(Size size)
{
	rows_current_call->owner = MemoryContextAllocZero(rows_current_call->estate->es_query_cxt, size);
	return rows_current_call->owner;
}
