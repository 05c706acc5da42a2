/*
 * health.c: answers GET /healthz from a thread with its own database
 * connection, so that a probe neither blocks the HTTP event loop nor waits
 * behind deliveries.  Probes that arrive together share one SELECT 1.
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
	DbConn		db;
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
		answer(list, db_ping(&h.db));
		pthread_mutex_lock(&h.lock);
	}
	pthread_mutex_unlock(&h.lock);
	db_close(&h.db);
	return NULL;
}

bool
health_start(const ShimConfig *cfg)
{
	db_init(&h.db, cfg->db, "health");
	if (pthread_create(&h.thread, NULL, health_main, NULL) != 0)
		return false;
	h.started = true;
	return true;
}

void
health_submit(Job *job)
{
	pthread_mutex_lock(&h.lock);
	job->next = h.pending;
	h.pending = job;
	pthread_cond_signal(&h.wake);
	pthread_mutex_unlock(&h.lock);
}

void
health_stop(void)
{
	pthread_mutex_lock(&h.lock);
	h.stopping = true;
	pthread_cond_signal(&h.wake);
	pthread_mutex_unlock(&h.lock);
	if (h.started)
		pthread_join(h.thread, NULL);
	h.started = false;
}
