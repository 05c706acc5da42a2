/*
 * batcher.c: the bounded delivery queue and the worker threads that drain
 * it, each with its own database connection (group commit).
 *
 * A worker that finds deliveries queued takes all of them (up to
 * --batch-max) and sends them in one call.  When every other worker is idle
 * it sends at once, so a lone client sees no added latency; when another
 * call is in flight (the server is busy) it waits up to --batch-wait-us for
 * more deliveries to fill its batch.  Only one worker gathers at a time, so
 * batches form while calls are in flight instead of being split up.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "presence_http.h"

typedef struct Worker
{
	pthread_t	thread;
	int			id;
	char		name[32];
	DbConn		db;
	bool		started;
} Worker;

static struct
{
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* a delivery was queued, or stopping */
	Job		  **ring;
	int			cap;
	int			head;
	int			count;
	int			busy;			/* workers inside a database call */
	bool		gathering;		/* a worker is filling its batch */
	bool		stopping;
	const ShimConfig *cfg;
	Worker	   *workers;
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

/*
 * Lock held, no connection: sleep until the next reconnection attempt is due
 * (or a delivery arrives), then try, without the lock.
 */
static void
reconnect_when_due(Worker *w)
{
	double		delay = db_next_try(&w->db) - mono_now();
	struct timespec until = deadline_after_us(delay > 0 ? (long) (delay * 1e6) : 0);

	if (pthread_cond_timedwait(&q.wake, &q.lock, &until) != ETIMEDOUT)
		return;
	pthread_mutex_unlock(&q.lock);
	db_ensure(&w->db, DB_RETRY_BACKOFF);
	pthread_mutex_lock(&q.lock);
}

/*
 * Sleep, lock held, until there is work.  A worker without a connection
 * wakes up on its backoff schedule to reconnect, so that it is ready before
 * the next delivery comes.
 */
static void
wait_for_work(Worker *w)
{
	while (!q.stopping && (q.count == 0 || q.gathering))
	{
		if (w->db.conn != NULL)
			pthread_cond_wait(&q.wake, &q.lock);
		else
			reconnect_when_due(w);
	}
}

static void
run_batch(Worker *w, Job **jobs, int n)
{
	int			i;

	db_ingest(&w->db, jobs, n);
	metrics_batch(n);
	for (i = 0; i < n; i++)
	{
		jobs[i]->batch_size = n;
		jobs[i]->done(jobs[i]);
	}
}

static void *
worker_main(void *arg)
{
	Worker	   *w = arg;
	int			max = q.cfg->batch_max;
	Job		  **jobs = xcalloc((size_t) max, sizeof(Job *));

	db_ensure(&w->db, DB_RETRY_NOW);
	pthread_mutex_lock(&q.lock);
	for (;;)
	{
		int			n;

		wait_for_work(w);
		if (q.count == 0)
			break;				/* stopping and drained */
		q.gathering = true;
		n = take_jobs(jobs, max);
		n = gather_more(jobs, n, max);
		q.gathering = false;
		q.busy++;
		metrics_queue_depth(q.count);
		pthread_cond_broadcast(&q.wake);	/* another worker may gather */
		pthread_mutex_unlock(&q.lock);

		run_batch(w, jobs, n);

		pthread_mutex_lock(&q.lock);
		q.busy--;
	}
	pthread_mutex_unlock(&q.lock);
	db_close(&w->db);
	free(jobs);
	return NULL;
}

bool
batcher_start(const ShimConfig *cfg)
{
	pthread_condattr_t attr;
	int			i;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&q.wake, &attr);
	pthread_condattr_destroy(&attr);
	q.cfg = cfg;
	q.cap = cfg->queue_max;
	q.ring = xcalloc((size_t) q.cap, sizeof(Job *));
	q.workers = xcalloc((size_t) cfg->workers, sizeof(Worker));
	for (i = 0; i < cfg->workers; i++)
	{
		Worker	   *w = &q.workers[i];

		w->id = i + 1;
		snprintf(w->name, sizeof(w->name), "worker %d", w->id);
		db_init(&w->db, cfg->db, w->name);
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
	}
	pthread_mutex_unlock(&q.lock);
	return ok;
}

/* Let the workers finish what is queued, then join them. */
void
batcher_stop(void)
{
	int			i;

	pthread_mutex_lock(&q.lock);
	q.stopping = true;
	pthread_cond_broadcast(&q.wake);
	pthread_mutex_unlock(&q.lock);
	for (i = 0; q.workers && i < q.cfg->workers; i++)
		if (q.workers[i].started)
			pthread_join(q.workers[i].thread, NULL);
	free(q.workers);
	free(q.ring);
	q.workers = NULL;
	q.ring = NULL;
}
