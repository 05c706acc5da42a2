/*
 * health.c: answers GET /healthz from a thread of its own, so that a probe
 * never blocks the HTTP event loop.  Probes that arrive together share one
 * answer: 200 when a worker pings the database (SELECT 1, ahead of any
 * queued delivery) within the earliest probe's deadline and calls are not
 * timing out (batcher_ping), else 503.  It uses the workers' connections, so
 * it says what a delivery would find, and needs no connection of its own.
 */
#include <pthread.h>
#include <stdlib.h>

#include "presence_http.h"

static struct
{
	pthread_mutex_t lock;
	pthread_cond_t wake;
	Job		   *pending;		/* probes waiting for an answer */
	bool		stopping;
	bool		started;
	pthread_t	thread;
}			h = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static void
answer(Job *list, bool up)
{
	while (list)
	{
		Job		   *next = list->next;
		Buf			b;

		buf_init(&b, 64);
		buf_puts(&b, up ? "{\"status\":\"ok\"}" : "{\"status\":\"database unavailable\"}");
		free(list->reply);
		list->reply = b.data;
		list->status = up ? 200 : 503;
		list->done(list);
		list = next;
	}
}

/* The earliest deadline of the probes in list. */
static double
earliest_deadline(const Job *list)
{
	double		until = list->deadline;

	for (; list; list = list->next)
		if (list->deadline < until)
			until = list->deadline;
	return until;
}

static void *
health_main(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&h.lock);
	for (;;)
	{
		Job		   *list;

		while (h.pending == NULL && !h.stopping)
			pthread_cond_wait(&h.wake, &h.lock);
		list = h.pending;
		h.pending = NULL;
		if (list == NULL)
			break;				/* stopping, nothing left */
		pthread_mutex_unlock(&h.lock);
		answer(list, batcher_ping(earliest_deadline(list)));
		pthread_mutex_lock(&h.lock);
	}
	pthread_mutex_unlock(&h.lock);
	return NULL;
}

/* Start the thread that answers probes. */
bool
health_start(const ShimConfig *cfg)
{
	(void) cfg;
	if (pthread_create(&h.thread, NULL, health_main, NULL) != 0)
		return false;
	h.started = true;
	return true;
}

/* Queue a probe; its done() is called with the answer. */
void
health_submit(Job *job)
{
	pthread_mutex_lock(&h.lock);
	job->next = h.pending;
	h.pending = job;
	pthread_cond_signal(&h.wake);
	pthread_mutex_unlock(&h.lock);
}

/* Answer what is queued, then stop the thread. */
void
health_stop(void)
{
	pthread_mutex_lock(&h.lock);
	h.stopping = true;
	pthread_mutex_unlock(&h.lock);
	pthread_cond_signal(&h.wake);	/* the thread reads stopping under the lock */
	if (h.started)
		pthread_join(h.thread, NULL);
	h.started = false;
}
