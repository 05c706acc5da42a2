/*-------------------------------------------------------------------------
 *
 * grace_worker.c
 *	  The offline grace's background workers (doc/rules.md section 16).
 *
 * The launcher, a static worker registered by _PG_init when the library is
 * preloaded, connects to no database.  At every start of the server
 * (including after a crash) it asks for a worker in each database that
 * takes connections, so that offlines queued before a restart are still
 * sent; after that it sleeps until an ingest's commit asks for a worker in
 * a database that has none (grace_queue.c), and starts it as a dynamic
 * background worker.
 *
 * A database's worker sends the queued offlines whose deadline has come,
 * each in the transaction that deletes its row, through the feed's own send
 * path (feed_send_user), with the presence.feed and presence.feed_channel
 * of the ingest that queued it (and the server's presence.feed_secret): so
 * each is sent once, also across a crash.  Then
 * it sleeps on its latch until the next deadline; an ingest that queues one
 * sets the latch.  When nothing is queued (or the extension is not in the
 * database) it leaves, holding no connection while idle.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "feed.h"
#include "grace_queue.h"
#include "presence.h"

/* Offlines sent per transaction: a large backlog goes out in several. */
#define GRACE_BATCH 1000

/* The most workers the launcher starts in one round. */
#define GRACE_START_MAX 64

PGDLLEXPORT void presence_grace_launcher_main(Datum arg);
PGDLLEXPORT void presence_grace_worker_main(Datum arg);

/* Ask for a worker in every database that takes connections (not templates). */
static void
want_every_database(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	StartTransactionCommand();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate && db->datconnlimit != -2)
			grace_want(db->oid);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
}

/* Register dboid's worker, telling the launcher when it starts and stops. */
static BackgroundWorkerHandle *
start_worker(Oid dboid)
{
	BackgroundWorker bgw = {0};
	BackgroundWorkerHandle *handle;

	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, sizeof(bgw.bgw_library_name), "presence");
	snprintf(bgw.bgw_function_name, sizeof(bgw.bgw_function_name), "presence_grace_worker_main");
	snprintf(bgw.bgw_name, sizeof(bgw.bgw_name), "presence grace worker for database %u", dboid);
	snprintf(bgw.bgw_type, sizeof(bgw.bgw_type), "presence grace worker");
	bgw.bgw_main_arg = ObjectIdGetDatum(dboid);
	bgw.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&bgw, &handle))
		return NULL;
	return handle;
}

/* The launcher's main: start the workers the registry asks for, then sleep. */
void
presence_grace_launcher_main(Datum arg)
{
	Oid			starting[GRACE_START_MAX];
	BackgroundWorkerHandle *handles[GRACE_START_MAX];
	int			nstarting = 0;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	grace_set_launcher(MyLatch);
	want_every_database();

	for (;;)
	{
		Oid			dbs[GRACE_START_MAX];
		long		retry_ms;
		int			n;
		int			kept = 0;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		/* A worker that stopped before it attached is forgotten. */
		for (int i = 0; i < nstarting; i++)
		{
			pid_t		pid;

			if (GetBackgroundWorkerPid(handles[i], &pid) == BGWH_STOPPED)
			{
				grace_start_failed(starting[i]);
				pfree(handles[i]);
				continue;
			}
			starting[kept] = starting[i];
			handles[kept++] = handles[i];
		}
		nstarting = kept;
		n = grace_take_wanted(dbs, GRACE_START_MAX - nstarting, &retry_ms);
		for (int i = 0; i < n; i++)
		{
			BackgroundWorkerHandle *h = start_worker(dbs[i]);

			if (h == NULL)
			{
				/* No free background worker slot: wanted again shortly. */
				grace_start_failed(dbs[i]);
				grace_want(dbs[i]);
				retry_ms = 1000;
				continue;
			}
			starting[nstarting] = dbs[i];
			handles[nstarting++] = h;
		}
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (retry_ms >= 0 ? WL_TIMEOUT : 0),
						 retry_ms >= 0 ? retry_ms : -1L, PG_WAIT_EXTENSION);
	}
}

/* Is the extension's queue in this database?  (A worker starts in every database.) */
static bool
queue_exists(void)
{
	bool		isnull;

	if (SPI_execute("SELECT to_regclass('presence.pending_offlines') IS NOT NULL", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "presence: looking for presence.pending_offlines failed");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Send the queued offlines whose deadline has come (GRACE_BATCH at most),
 * each user's row as it is now, and delete them; the sends and the deletes
 * commit together.  Returns the milliseconds to the next deadline: 0 when
 * more are due, -1 when nothing is queued (or the extension is not here).
 */
static long
send_due(void)
{
	long		wait_ms = -1;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "presence: sending offlines past their grace");
	if (queue_exists())
	{
		uint64		nsent;

		if (SPI_execute("WITH due AS ("
						" DELETE FROM presence.pending_offlines p WHERE p.user_id IN ("
						"  SELECT q.user_id FROM presence.pending_offlines q"
						"   WHERE q.due_at <= clock_timestamp() ORDER BY q.due_at"
						"   LIMIT " CppAsString2(GRACE_BATCH) " FOR UPDATE SKIP LOCKED)"
						" RETURNING p.user_id, p.feed, p.channel)"
						" SELECT d.user_id, d.feed, u.online, u.online_sessions, u.logged_out,"
						"  u.last_online_at, u.last_offline_at, u.last_seen_at, d.channel"
						"  FROM due d JOIN presence.users u ON u.user_id = d.user_id",
						false, 0) != SPI_OK_SELECT)
			elog(ERROR, "presence: reading the due offlines failed");
		nsent = SPI_processed;
		for (uint64 r = 0; r < nsent; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			UserRow		u = {0};
			char	   *user_id = SPI_getvalue(tup, desc, 1);

			u.online = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
			u.online_sessions = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
			u.logged_out = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
			u.last_online_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 6, &isnull));
			u.has_online_at = !isnull;
			u.last_offline_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 7, &isnull));
			u.has_offline_at = !isnull;
			u.last_seen_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 8, &isnull));
			u.has_seen_at = !isnull;
			/* Back online or logged out since: that message was the last word. */
			if (u.online || u.logged_out)
				continue;
			SetConfigOption("presence.feed", SPI_getvalue(tup, desc, 2), PGC_SUSET, PGC_S_SESSION);
			SetConfigOption("presence.feed_channel", SPI_getvalue(tup, desc, 9), PGC_SUSET, PGC_S_SESSION);
			feed_send_user(user_id, &u);
		}
		if (nsent == GRACE_BATCH)
			wait_ms = 0;
		else if (SPI_execute("SELECT ceil(extract(epoch FROM min(due_at) - clock_timestamp()) * 1000)::int8"
							 " FROM presence.pending_offlines", true, 1) == SPI_OK_SELECT)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				wait_ms = Max(DatumGetInt64(d), 0);
		}
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return wait_ms;
}

/* A database's worker: send the offlines as they come due; leave when none is queued. */
void
presence_grace_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	if (!grace_claim(dboid))
		proc_exit(0);			/* another worker serves the database */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	for (;;)
	{
		long		wait_ms;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		wait_ms = send_due();
		if (wait_ms == 0)
			continue;
		if (wait_ms < 0)
		{
			if (grace_leave(dboid))
				proc_exit(0);
			continue;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
	}
}
