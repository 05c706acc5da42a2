/*
 * batcher.c: the bounded delivery queue, the worker threads that drain it,
 * each with its own database connection (group commit), and the health
 * probe they answer.
 *
 * A worker that finds deliveries queued takes all of them (up to
 * --batch-max) and sends them in one call.  When every other worker is idle
 * it sends at once, so a lone client sees no added latency; when another
 * call is in flight (the server is busy) it waits up to --batch-wait-us for
 * more deliveries to fill its batch.  Only one worker gathers at a time, so
 * batches form while calls are in flight instead of being split up.
 *
 * Only a worker with a connection takes work, unless no worker has one: a
 * worker that cannot connect (the role's connection limit, say) leaves the
 * deliveries to those that can, and reconnects on its own backoff.  A
 * delivery still queued when its deadline passes is answered 503 by the
 * reaper thread.  /healthz asks a worker to ping the database (batcher_ping);
 * it is 503 when no worker does so in time, or while calls time out.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "presence_http.h"

/*
 * After a call timed out or the server ran out of a resource (a full disk),
 * /healthz is 503 for this many --db-timeouts.
 */
#define STALL_FACTOR 3.0

typedef struct Worker
{
	pthread_t	thread;
	int			id;
	char		name[32];
	DbConn		db;
	bool		started;
	bool		connected;		/* as last counted in q.connected */
} Worker;

typedef enum Task
{
	TASK_BATCH,
	TASK_PROBE,
	TASK_STOP
} Task;

static struct
{
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* work queued, a probe asked, or stopping */
	pthread_cond_t reap;		/* the queue's head changed, or stopping */
	pthread_cond_t probed;		/* a probe was answered */
	Job		  **ring;
	int			cap;
	int			head;
	int			count;
	int			busy;			/* workers inside a database call */
	int			connected;		/* workers with a connection */
	bool		gathering;		/* a worker is filling its batch */
	bool		stopping;
	long		probe_asked;	/* probes asked, taken and answered, by id */
	long		probe_taken;
	long		probe_answered;
	bool		probe_ok;
	double		probe_until;
	double		stalled_until;	/* a call timed out or ran out of a
								 * resource: unhealthy until then */
	const ShimConfig *cfg;
	Worker	   *workers;
	pthread_t	reaper;
	bool		reaper_started;
}			q = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Move up to max queued jobs into out; caller holds the lock. */
static int
take_jobs(Job **out, int max)
{
	int			n = 0;

	while (n < max && q.count > 0)
	{
		out[n++] = q.ring[q.head];
		q.head = (q.head + 1) % q.cap;
		q.count--;
	}
	return n;
}

/* Wait, lock held, for the batch to fill while other calls are in flight. */
static int
gather_more(Job **jobs, int n, int max)
{
	struct timespec deadline;

	if (q.cfg->batch_wait_us <= 0 || q.busy == 0)
		return n;
	deadline = deadline_after_us(q.cfg->batch_wait_us);
	while (n < max && !q.stopping)
	{
		int			rc = pthread_cond_timedwait(&q.wake, &q.lock, &deadline);

		n += take_jobs(jobs + n, max - n);
		if (rc == ETIMEDOUT)
			break;
	}
	return n;
}

/* Lock held: count the worker's connection in q.connected. */
static void
note_connection(Worker *w)
{
	bool		now = db_connected(&w->db);

	if (now == w->connected)
		return;
	w->connected = now;
	q.connected += now ? 1 : -1;
	pthread_cond_broadcast(&q.wake);	/* who may take work has changed */
}

/*
 * Lock held, no connection: sleep until the next reconnection attempt is due
 * (or something changes), then try, without the lock.
 */
static void
reconnect_when_due(Worker *w)
{
	struct timespec until = mono_timespec(db_next_try(&w->db));

	if (pthread_cond_timedwait(&q.wake, &q.lock, &until) != ETIMEDOUT)
		return;
	pthread_mutex_unlock(&q.lock);
	db_ensure(&w->db, DB_RETRY_BACKOFF, NULL);
	pthread_mutex_lock(&q.lock);
	note_connection(w);
}

/*
 * Sleep, lock held, until there is something for this worker to do.  A
 * worker without a connection takes work only when no worker has one; it
 * wakes up on its backoff schedule to reconnect meanwhile.
 */
static Task
wait_for_task(Worker *w)
{
	for (;;)
	{
		bool		may = w->connected || q.connected == 0;

		if (may && q.probe_asked > q.probe_taken)
			return TASK_PROBE;
		if (may && q.count > 0 && !q.gathering)
			return TASK_BATCH;
		if (q.stopping && q.count == 0)
			return TASK_STOP;
		if (w->connected)
			pthread_cond_wait(&q.wake, &q.lock);
		else
			reconnect_when_due(w);
	}
}

/* Lock held: ping the database for the newest probe, without the lock. */
static void
run_probe(Worker *w)
{
	long		id = q.probe_asked;
	double		until = q.probe_until;
	bool		ok;

	q.probe_taken = id;
	pthread_mutex_unlock(&q.lock);
	ok = db_ping(&w->db, until);
	pthread_mutex_lock(&q.lock);
	if (id > q.probe_answered)
	{
		q.probe_answered = id;
		q.probe_ok = ok;
	}
	pthread_cond_broadcast(&q.probed);
}

/* Lock held: take a batch, apply it without the lock. */
static void
run_batch(Worker *w, Job **jobs)
{
	int			n;
	IngestEnd	e;

	q.gathering = true;
	n = take_jobs(jobs, q.cfg->batch_max);
	n = gather_more(jobs, n, q.cfg->batch_max);
	q.gathering = false;
	q.busy++;
	metrics_queue_depth(q.count);
	pthread_cond_broadcast(&q.wake);	/* another worker may gather */
	pthread_cond_signal(&q.reap);
	pthread_mutex_unlock(&q.lock);

	for (int i = 0; i < n; i++)
		jobs[i]->batch_size = n;
	e = db_ingest(&w->db, jobs, n);	/* answers every job */
	if (e.reached)
		metrics_batch(n);

	pthread_mutex_lock(&q.lock);
	q.busy--;
	if (e.stalled)
		q.stalled_until = mono_now() + STALL_FACTOR * q.cfg->db_timeout;
	else if (e.succeeded)
		q.stalled_until = 0;
}

static void *
worker_main(void *arg)
{
	Worker	   *w = arg;
	Job		  **jobs = xcalloc((size_t) q.cfg->batch_max, sizeof(Job *));
	Task		task;

	db_ensure(&w->db, DB_RETRY_NOW, NULL);
	pthread_mutex_lock(&q.lock);
	note_connection(w);
	while ((task = wait_for_task(w)) != TASK_STOP)
	{
		if (task == TASK_PROBE)
			run_probe(w);
		else
			run_batch(w, jobs);
		note_connection(w);
	}
	pthread_mutex_unlock(&q.lock);
	db_close(&w->db);
	free(jobs);
	return NULL;
}

/* Answer 503, lock not held, a delivery whose deadline passed in the queue. */
static void
expire_queued(Job *job)
{
	pthread_mutex_unlock(&q.lock);
	job_set_too_slow(job);
	job->done(job);
	pthread_mutex_lock(&q.lock);
}

/* The reaper: answers queued deliveries no worker took by their deadline. */
static void *
reaper_main(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&q.lock);
	while (!q.stopping)
	{
		Job		   *head = q.count > 0 ? q.ring[q.head] : NULL;
		struct timespec until;

		if (head == NULL)
		{
			pthread_cond_wait(&q.reap, &q.lock);
			continue;
		}
		if (head->deadline > mono_now())
		{
			until = mono_timespec(head->deadline);
			pthread_cond_timedwait(&q.reap, &q.lock, &until);
			continue;
		}
		q.head = (q.head + 1) % q.cap;
		q.count--;
		metrics_queue_depth(q.count);
		expire_queued(head);
	}
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

/* Start the workers and the reaper; false if a thread cannot start. */
bool
batcher_start(const ShimConfig *cfg)
{
	cond_init_monotonic(&q.wake);
	cond_init_monotonic(&q.reap);
	cond_init_monotonic(&q.probed);
	deliver_init(cfg);
	q.cfg = cfg;
	q.cap = cfg->queue_max;
	q.ring = xcalloc((size_t) q.cap, sizeof(Job *));
	q.workers = xcalloc((size_t) cfg->workers, sizeof(Worker));
	if (pthread_create(&q.reaper, NULL, reaper_main, NULL) != 0)
		return false;
	q.reaper_started = true;
	for (int i = 0; i < cfg->workers; i++)
	{
		Worker	   *w = &q.workers[i];

		w->id = i + 1;
		snprintf(w->name, sizeof(w->name), "worker %d", w->id);
		db_init(&w->db, cfg, w->name);
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
		{
			log_msg("cannot start %s", w->name);
			return false;
		}
		w->started = true;
	}
	return true;
}

/* Queue a delivery; false when the queue is full or we are stopping. */
bool
batcher_submit(Job *job)
{
	bool		ok = false;

	pthread_mutex_lock(&q.lock);
	if (!q.stopping && q.count < q.cap)
	{
		q.ring[(q.head + q.count) % q.cap] = job;
		q.count++;
		ok = true;
		metrics_queue_depth(q.count);
		pthread_cond_broadcast(&q.wake);
		pthread_cond_signal(&q.reap);
	}
	pthread_mutex_unlock(&q.lock);
	return ok;
}

/*
 * Can a worker serve by until?  One of them pings the database; false if
 * none did so in time, if the ping failed, or while calls time out.
 */
bool
batcher_ping(double until)
{
	struct timespec ts = mono_timespec(until);
	long		id;
	bool		ok;

	pthread_mutex_lock(&q.lock);
	id = ++q.probe_asked;
	q.probe_until = until;
	pthread_cond_broadcast(&q.wake);
	while (q.probe_answered < id && !q.stopping)
		if (pthread_cond_timedwait(&q.probed, &q.lock, &ts) == ETIMEDOUT)
			break;
	ok = q.probe_answered >= id && q.probe_ok && mono_now() >= q.stalled_until;
	if (q.probe_taken < id)
		q.probe_taken = id;		/* nobody took it: withdraw it */
	pthread_mutex_unlock(&q.lock);
	return ok;
}

/* Let the workers finish what is queued, then join them and the reaper. */
void
batcher_stop(void)
{
	pthread_mutex_lock(&q.lock);
	q.stopping = true;
	pthread_cond_broadcast(&q.wake);
	pthread_cond_broadcast(&q.reap);
	pthread_cond_broadcast(&q.probed);
	pthread_mutex_unlock(&q.lock);
	for (int i = 0; q.workers && i < q.cfg->workers; i++)
		if (q.workers[i].started)
			pthread_join(q.workers[i].thread, NULL);
	if (q.reaper_started)
		pthread_join(q.reaper, NULL);
	q.reaper_started = false;
	free(q.workers);
	free(q.ring);
	q.workers = NULL;
	q.ring = NULL;
}
