/*-------------------------------------------------------------------------
 *
 * grace_queue.c
 *	  The offline grace (doc/rules.md section 16), ingest's side: with
 *	  presence.offline_grace set, a user's online: false message is not sent
 *	  by ingest but queued in presence.pending_offlines, in the same
 *	  transaction, for the database's grace worker (grace_worker.c) to send
 *	  at its deadline; a connect within the grace deletes the queued row and
 *	  sends nothing either.  online: true and logged_out go out at once.
 *
 * It also keeps, in shared memory, the registry of those workers: one slot
 * per database that has one (wanted, starting or running), so that a
 * committing ingest can wake its database's worker (SetLatch), or have the
 * launcher start one when there is none.  A worker that finds nothing
 * queued leaves, and holds no connection to its database while idle.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "grace_queue.h"
#include "plans.h"
#include "presence.h"

/* The most databases with a grace worker at once. */
#define GRACE_MAX_DBS 64

/* How long a worker that failed waits before the launcher starts it again. */
#define GRACE_RETRY_MS 5000

typedef enum GraceSlotState
{
	GRACE_FREE = 0,
	GRACE_WANTED,				/* the launcher is to start a worker */
	GRACE_STARTING,				/* registered, not yet attached */
	GRACE_RUNNING				/* attached: latch is the worker's */
} GraceSlotState;

typedef struct GraceSlot
{
	Oid			dboid;
	GraceSlotState state;
	int			pid;
	Latch	   *latch;
	TimestampTz not_before;		/* WANTED: not started before then */
} GraceSlot;

typedef struct GraceShared
{
	LWLock	   *lock;
	Latch	   *launcher;
	GraceSlot	slots[GRACE_MAX_DBS];
} GraceShared;

bool		grace_preloaded = false;
static GraceShared *shared = NULL;
static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;
static bool wake_at_commit = false;
static bool xact_callback_set = false;

/* Ask for the registry's memory and its lock. */
static void
grace_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(MAXALIGN(sizeof(GraceShared)));
	RequestNamedLWLockTranche("presence_grace", 1);
}

/* Make (or find) the registry. */
static void
grace_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("presence_grace", sizeof(GraceShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(GraceShared));
		shared->lock = &(GetNamedLWLockTranche("presence_grace"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* _PG_init, preloading: ask for the registry's shared memory and register the launcher. */
void
grace_queue_init(void)
{
	BackgroundWorker bgw = {0};

	grace_preloaded = true;
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = grace_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = grace_shmem_startup;

	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 1;
	snprintf(bgw.bgw_library_name, sizeof(bgw.bgw_library_name), "presence");
	snprintf(bgw.bgw_function_name, sizeof(bgw.bgw_function_name), "presence_grace_launcher_main");
	snprintf(bgw.bgw_name, sizeof(bgw.bgw_name), "presence grace launcher");
	snprintf(bgw.bgw_type, sizeof(bgw.bgw_type), "presence grace launcher");
	RegisterBackgroundWorker(&bgw);
}

/* The slot of dboid, or NULL; with the lock held. */
static GraceSlot *
slot_of(Oid dboid)
{
	for (int i = 0; i < GRACE_MAX_DBS; i++)
		if (shared->slots[i].state != GRACE_FREE && shared->slots[i].dboid == dboid)
			return &shared->slots[i];
	return NULL;
}

/* A free slot for dboid, marked wanted, or NULL when all are taken; with the lock held. */
static GraceSlot *
new_slot(Oid dboid)
{
	for (int i = 0; i < GRACE_MAX_DBS; i++)
	{
		GraceSlot  *s = &shared->slots[i];

		if (s->state == GRACE_FREE)
		{
			memset(s, 0, sizeof(GraceSlot));
			s->dboid = dboid;
			s->state = GRACE_WANTED;
			return s;
		}
	}
	return NULL;
}

/* The launcher: this is its latch. */
void
grace_set_launcher(Latch *latch)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->launcher = latch;
	LWLockRelease(shared->lock);
}

/* The launcher: a worker is wanted for dboid (unless one is there already). */
void
grace_want(Oid dboid)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (slot_of(dboid) == NULL)
		(void) new_slot(dboid);
	LWLockRelease(shared->lock);
}

/*
 * The launcher: up to max databases whose worker it is to start now, marked
 * starting; *retry_ms is how soon to ask again (-1: not until woken).
 */
int
grace_take_wanted(Oid *dbs, int max, long *retry_ms)
{
	TimestampTz now = GetCurrentTimestamp();
	int			n = 0;

	*retry_ms = -1;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < GRACE_MAX_DBS; i++)
	{
		GraceSlot  *s = &shared->slots[i];

		if (s->state != GRACE_WANTED)
			continue;
		if (s->not_before > now || n == max)
		{
			long		ms = n == max ? 1000 : TimestampDifferenceMilliseconds(now, s->not_before) + 1;

			if (*retry_ms < 0 || ms < *retry_ms)
				*retry_ms = ms;
			continue;
		}
		s->state = GRACE_STARTING;
		dbs[n++] = s->dboid;
	}
	LWLockRelease(shared->lock);
	return n;
}

/*
 * The launcher: dboid's worker could not be registered (wanted again, a
 * second later), or stopped before it attached (its database is gone or
 * takes no connections: forgotten until ingest asks again).
 */
void
grace_start_failed(Oid dboid)
{
	GraceSlot  *s;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	s = slot_of(dboid);
	if (s != NULL && s->state == GRACE_STARTING)
		s->state = GRACE_FREE;
	LWLockRelease(shared->lock);
}

/* A worker that ends without leaving (an error, a termination) is wanted again, a little later. */
static void
worker_gone(int code, Datum arg)
{
	GraceSlot  *s;
	Latch	   *launcher = NULL;

	if (shared == NULL)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	s = slot_of(DatumGetObjectId(arg));
	if (s != NULL && s->state == GRACE_RUNNING && s->pid == MyProcPid)
	{
		s->state = GRACE_WANTED;
		s->latch = NULL;
		s->not_before = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), GRACE_RETRY_MS);
		launcher = shared->launcher;
	}
	LWLockRelease(shared->lock);
	if (launcher != NULL)
		SetLatch(launcher);
}

/* A worker, connected to dboid: take its slot; false when another worker has it. */
bool
grace_claim(Oid dboid)
{
	GraceSlot  *s;
	bool		ok = false;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	s = slot_of(dboid);
	if (s == NULL)
		s = new_slot(dboid);
	if (s != NULL && s->state != GRACE_RUNNING)
	{
		s->state = GRACE_RUNNING;
		s->pid = MyProcPid;
		s->latch = MyLatch;
		ok = true;
	}
	LWLockRelease(shared->lock);
	if (ok)
		on_shmem_exit(worker_gone, ObjectIdGetDatum(dboid));
	return ok;
}

/*
 * A worker that found nothing queued: free its slot and go, unless an
 * ingest set its latch since it last looked (then it looks again).
 */
bool
grace_leave(Oid dboid)
{
	bool		gone;
	GraceSlot  *s;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	s = slot_of(dboid);
	gone = s != NULL && s->pid == MyProcPid && !MyLatch->is_set;
	if (gone)
		s->state = GRACE_FREE;	/* no ingest asked since the worker looked */
	LWLockRelease(shared->lock);
	return gone;
}

/*
 * After a commit that queued an offline: wake the database's worker, or have
 * the launcher start one.  A worker starting or wanted will look at the
 * queue once attached, which is after this commit.
 */
static void
wake_worker(void)
{
	GraceSlot  *s;
	Latch	   *latch = NULL;

	if (shared == NULL)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	s = slot_of(MyDatabaseId);
	if (s == NULL)
	{
		if (new_slot(MyDatabaseId) != NULL)
			latch = shared->launcher;
	}
	else if (s->state == GRACE_RUNNING)
		latch = s->latch;
	LWLockRelease(shared->lock);
	if (latch != NULL)
		SetLatch(latch);
}

/* At the end of a transaction that queued an offline, wake the worker if it committed. */
static void
grace_xact_callback(XactEvent event, void *arg)
{
	if (!wake_at_commit)
		return;
	if (event == XACT_EVENT_COMMIT)
	{
		wake_at_commit = false;
		wake_worker();
	}
	else if (event == XACT_EVENT_ABORT)
		wake_at_commit = false;
}

/*
 * Queue the user's offline, due the grace from now, to be sent the way
 * presence.feed and presence.feed_channel say now (the worker's session may
 * have other values: they can be set per session).
 */
static void
queue_offline(const char *user_id)
{
	static SPIPlanPtr plan = NULL;
	static const Oid types[] = {TEXTOID, INT8OID, TEXTOID, TEXTOID};
	Datum		values[4];

	values[0] = CStringGetTextDatum(user_id);
	values[1] = Int64GetDatum(presence_offline_grace_ms);
	values[2] = CStringGetTextDatum(presence_feed == PRESENCE_FEED_LOGICAL ? "logical" : "notify");
	values[3] = CStringGetTextDatum(presence_feed_channel);
	plan_execute(plan_cached(&plan,
							 "INSERT INTO presence.pending_offlines AS p (user_id, due_at, feed, channel)"
							 " VALUES ($1, clock_timestamp() + $2 * interval '1 millisecond', $3, $4)"
							 " ON CONFLICT (user_id) DO UPDATE SET due_at = excluded.due_at,"
							 " feed = excluded.feed, channel = excluded.channel",
							 4, types),
				 values, 4, NULL, 0);
	if (!xact_callback_set)
	{
		RegisterXactCallback(grace_xact_callback, NULL);
		xact_callback_set = true;
	}
	wake_at_commit = true;
}

/* Drop the user's queued offline; true when there was one. */
static bool
cancel_offline(const char *user_id)
{
	static SPIPlanPtr plan = NULL;
	static const Oid types[] = {TEXTOID};
	Datum		values[1];

	values[0] = CStringGetTextDatum(user_id);
	plan_execute(plan_cached(&plan,
							 "DELETE FROM presence.pending_offlines WHERE user_id = $1",
							 1, types),
				 values, 1, NULL, 0);
	return SPI_processed > 0;
}

/*
 * Ingest, feed on, a user whose online or logged_out changed: true when the
 * user's message is held back, false when it is to be sent now.  A logout
 * (or a change of logged_out) goes at once and replaces a queued offline; an
 * offline is queued; a connect cancels a queued offline and is itself not
 * sent (the listener never heard the user leave), else it goes at once.
 */
bool
grace_holds(const char *user_id, const UserRow *before, const UserRow *after)
{
	if (presence_offline_grace_ms <= 0)
		return false;
	if (before->logged_out != after->logged_out || before->online == after->online)
	{
		if (!before->online)
			(void) cancel_offline(user_id);
		return false;
	}
	if (!after->online)
	{
		queue_offline(user_id);
		return true;
	}
	return cancel_offline(user_id);
}
