/*
 * deadline.c: close connections whose requests do not arrive in time.
 *
 * libmicrohttpd's --timeout is one of inactivity: a client that sends its
 * headers, or its body, a byte a second never trips it, and enough such
 * clients hold every connection slot (slowloris).  Each connection is tracked
 * from the moment it opens, and again after each request it completes; a
 * sweeper shuts down the socket of any connection whose next request, headers
 * and body, is not complete within --timeout seconds.  libmicrohttpd then sees the socket end and closes
 * the connection as usual.  Its clock is util.c's monotonic one.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "deadline.h"
#include "presence_http.h"

#define SWEEP_INTERVAL_US 500000L

typedef struct Tracked
{
	int			fd;
	double		since;			/* when the wait for a request began */
	bool		waiting;		/* for a request's headers and body */
	bool		expired;		/* the sweeper shut it down: a timeout */
	struct Tracked *prev;
	struct Tracked *next;
} Tracked;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;		/* on CLOCK_MONOTONIC (cond_init_monotonic) */
static Tracked tracked = {.prev = &tracked, .next = &tracked};
static pthread_t sweeper;
static bool running;
static int	limit_s;

static void
sweep(void)
{
	double		now = mono_now();

	for (Tracked *t = tracked.next; t != &tracked; t = t->next)
	{
		if (t->waiting && now - t->since > limit_s)
		{
			shutdown(t->fd, SHUT_RDWR);
			t->waiting = false;
			t->expired = true;
		}
	}
}

static void *
sweeper_main(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&lock);
	while (running)
	{
		struct timespec until = deadline_after_us(SWEEP_INTERVAL_US);

		pthread_cond_timedwait(&wake, &lock, &until);
		sweep();
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

/* MHD_OPTION_NOTIFY_CONNECTION: track a connection from open to close. */
void
deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
				enum MHD_ConnectionNotificationCode toe)
{
	Tracked    *t = *socket_context;

	(void) cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
	{
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		t = calloc(1, sizeof(Tracked));
		if (t == NULL || ci == NULL)
		{
			free(t);
			*socket_context = NULL;
			return;
		}
		t->fd = ci->connect_fd;
		t->since = mono_now();
		t->waiting = true;
		pthread_mutex_lock(&lock);
		t->next = tracked.next;
		t->prev = &tracked;
		tracked.next->prev = t;
		tracked.next = t;
		pthread_mutex_unlock(&lock);
		*socket_context = t;
	}
	else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && t != NULL)
	{
		pthread_mutex_lock(&lock);
		t->prev->next = t->next;
		t->next->prev = t->prev;
		pthread_mutex_unlock(&lock);
		free(t);
		*socket_context = NULL;
	}
}

/* The connection's request is all in (headers_done: body too) or over. */
void
deadline_mark(struct MHD_Connection *conn, bool headers_done)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	Tracked    *t = ci ? (Tracked *) ci->socket_context : NULL;

	if (t == NULL)
		return;
	pthread_mutex_lock(&lock);
	t->waiting = !headers_done;
	t->since = mono_now();
	pthread_mutex_unlock(&lock);
}

/*
 * Did the sweeper end the connection's request?  libmicrohttpd sees only the
 * socket end, and would report an error, not the timeout it was.
 */
bool
deadline_expired(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	Tracked    *t = ci ? (Tracked *) ci->socket_context : NULL;
	bool		expired;

	if (t == NULL)
		return false;
	pthread_mutex_lock(&lock);
	expired = t->expired;
	pthread_mutex_unlock(&lock);
	return expired;
}

/* Start the sweeper: a whole request is due within timeout_s seconds. */
bool
deadline_start(int timeout_s)
{
	cond_init_monotonic(&wake);
	limit_s = timeout_s;
	running = true;
	if (pthread_create(&sweeper, NULL, sweeper_main, NULL) != 0)
	{
		running = false;
		return false;
	}
	return true;
}

/* Stop the sweeper and wait for it. */
void
deadline_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&lock);
	running = false;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(sweeper, NULL);
}
