/*
 * presence_http.h: types and entry points shared by the modules of
 * presence-http, the HTTP front door of the presence extension.
 *
 * Modules: config.c (flags), server.c (HTTP handling), batcher.c (queue and
 * group commit), db.c (libpq calls), health.c (/healthz probe), metrics.c
 * (Prometheus counters), log.c (stderr logging), util.c (small helpers),
 * main.c (start-up and shutdown).
 */
#ifndef PRESENCE_HTTP_H
#define PRESENCE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libpq-fe.h>

/* Seconds suggested to clients in Retry-After when we answer 503. */
#define RETRY_AFTER_SECONDS 2

/* ---------- config.c ---------- */

typedef struct ShimConfig
{
	const char *listen;			/* host:port to bind */
	const char *path;			/* URL path of the webhook */
	const char *db;				/* libpq conninfo, NULL = libpq environment */
	size_t		max_body;		/* largest accepted body, bytes */
	int			workers;		/* database connections / batchers */
	int			batch_max;		/* deliveries per transaction */
	long		batch_wait_us;	/* extra wait to fill a batch */
	int			timeout;		/* idle client timeout, seconds */
	int			max_connections;	/* concurrent client connections */
	int			queue_max;		/* deliveries waiting for a batcher */
} ShimConfig;

struct addrinfo;

/* Returns 0 to run, 1 to exit successfully (--help), 2 on a usage error. */
extern int	config_load(int argc, char **argv, ShimConfig *cfg);
extern struct addrinfo *config_resolve_listen(const char *listen);

/* ---------- util.c ---------- */

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

extern void *xmalloc(size_t size);
extern void *xcalloc(size_t n, size_t size);
extern char *xstrdup(const char *s);
extern void buf_init(Buf *b, size_t cap);
extern void buf_reserve(Buf *b, size_t extra);
extern void buf_put(Buf *b, const char *s, size_t len);
extern void buf_puts(Buf *b, const char *s);
extern void buf_printf(Buf *b, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern void buf_free(Buf *b);
extern void buf_json_string(Buf *b, const char *s);
extern void buf_array_element(Buf *b, const char *s);
extern bool utf8_valid(const char *s, size_t len);
extern double mono_now(void);
extern struct timespec deadline_after_us(long us);

/* ---------- log.c ---------- */

extern void log_msg(const char *fmt,...)
			__attribute__((format(printf, 1, 2)));
extern void log_request(const char *method, const char *path, int status,
						size_t bytes, double latency, int batch,
						const char *sqlstate, const char *note);

/* ---------- metrics.c ---------- */

extern void metrics_init(void);
extern void metrics_request(int status, bool ingest, double latency);
extern void metrics_batch(int size);
extern void metrics_reconnect(void);
extern void metrics_queue_depth(int depth);
extern void metrics_render(Buf *out);

/* ---------- jobs: what server.c hands to batcher.c and health.c ---------- */

typedef struct Job Job;
typedef void (*JobDone) (Job *job);

struct Job
{
	/* input of an ingest job; any signature value may be NULL */
	const char *body;
	const char *nonce;
	const char *sign_ts;
	const char *signature;
	const char *app_key;

	/* outcome, set by the batcher or the health thread */
	int			status;			/* HTTP status */
	char	   *reply;			/* JSON body, malloc'd */
	char		sqlstate[6];	/* "" on success */
	int			batch_size;		/* deliveries in the call that served it */

	JobDone		done;			/* called once the outcome is set */
	void	   *owner;			/* the HTTP request it belongs to */
	Job		   *next;			/* health queue link */
};

extern void job_set_counts(Job *job, const char *items, const char *applied,
						   const char *duplicates, const char *stale,
						   const char *ignored);
extern void job_set_error(Job *job, const char *sqlstate, const char *message);
extern void job_set_unavailable(Job *job, const char *message);
extern int	http_status_for_sqlstate(const char *sqlstate);

/* ---------- db.c ---------- */

typedef struct DbConn
{
	PGconn	   *conn;
	const char *conninfo;		/* may be NULL */
	const char *name;			/* for log lines */
	bool		ever_connected;
	bool		loss_logged;	/* the current outage was logged */
	bool		batch_prepared; /* the batch statement is prepared on conn */
	double		last_try;		/* mono_now() of the last connection attempt */
	double		backoff;		/* seconds, grows while the server is away */
} DbConn;

/* min_gap values for db_ensure() */
#define DB_RETRY_NOW 0.0		/* try at once */
#define DB_RETRY_EAGER 0.1		/* a request is waiting: try unless just tried */
#define DB_RETRY_BACKOFF (-1.0) /* background: honour the backoff */

extern void db_init(DbConn *db, const char *conninfo, const char *name);
extern bool db_connected(DbConn *db);
extern bool db_ensure(DbConn *db, double min_gap);
extern double db_next_try(const DbConn *db);
extern void db_close(DbConn *db);
extern void db_ingest(DbConn *db, Job **jobs, int n);
extern bool db_ping(DbConn *db);
extern bool db_check_startup(const char *conninfo, char **why);

/* ---------- batcher.c ---------- */

extern bool batcher_start(const ShimConfig *cfg);
extern bool batcher_submit(Job *job);
extern void batcher_stop(void);

/* ---------- health.c ---------- */

extern bool health_start(const ShimConfig *cfg);
extern void health_submit(Job *job);
extern void health_stop(void);

/* ---------- server.c ---------- */

extern bool server_start(const ShimConfig *cfg);
extern void server_quiesce(void);
extern bool server_wait_idle(double seconds);
extern void server_stop(void);

#endif							/* PRESENCE_HTTP_H */
