/*
 * presence_http.h: types and entry points shared by the modules of
 * presence-http, the HTTP front door of the presence extension.
 *
 * Modules: config.c (flags), server.c (HTTP handling), deadline.c (request
 * header deadline), batcher.c (queue, workers and group commit), deliver.c
 * (the batch call and its fallback), db.c (connections and calls with a
 * deadline), pending.c (the deliveries a call serves and their deadlines),
 * outcome.c (SQLSTATE to HTTP), health.c (/healthz), metrics.c (Prometheus
 * counters), log.c (stderr logging), util.c (small helpers and clocks),
 * reconcile.c (the ghost-session reconcile loop), provider.c (the
 * provider's status API over libcurl), json.c (reading its answers),
 * forward.c (passing deliveries on to the app's own handler, --forward-url),
 * main.c (start-up, signals and shutdown).
 */
#ifndef PRESENCE_HTTP_H
#define PRESENCE_HTTP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libpq-fe.h>

/* Seconds suggested to clients in Retry-After when we answer 503. */
#define RETRY_AFTER_SECONDS 2

/* The number of elements of an array (PostgreSQL's lengthof, for the shim). */
#define N_ELEMENTS(a) ((int) (sizeof(a) / sizeof((a)[0])))

/* ---------- config.c ---------- */

/* --prepare: when the batch call is sent as a named prepared statement */
typedef enum PrepareMode
{
	PREPARE_AUTO,				/* unless a pooler is seen (see deliver.c) */
	PREPARE_ON,
	PREPARE_OFF
} PrepareMode;

/* --provider-api: the shape of the provider's status API */
typedef enum ProviderApi
{
	PROVIDER_API_V4,			/* POST /v4/user/connection-status/get, JSON */
	PROVIDER_API_LEGACY			/* POST /user/checkOnline.json, form */
} ProviderApi;

/* The provider allows 100 calls per second; --reconcile-rate stays below. */
#define PROVIDER_MAX_RATE 100

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
	double		db_timeout;		/* seconds from arrival to the latest reply */
	double		connect_timeout;	/* seconds for one connection attempt */
	PrepareMode prepare;		/* --prepare */
	const char *provider_url;	/* NULL: no reconciliation */
	ProviderApi provider_api;
	const char *app_key;
	const char *app_secret_file;
	char	   *app_secret;		/* never logged */
	double		reconcile_idle; /* seconds */
	double		reconcile_every;	/* seconds */
	int			reconcile_rate; /* requests per second */
	const char *forward_url;	/* NULL: other event types are not passed on */
	bool		forward_all;	/* pass presence's own events on too */
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

extern void *xcalloc(size_t n, size_t size);
extern char *xstrdup(const char *s);
extern void buf_init(Buf *b, size_t cap);
extern void buf_put(Buf *b, const char *s, size_t len);

/* Where libcurl writes an answer: into buf, refused past cap bytes (too_big). */
typedef struct CurlSink
{
	Buf		   *buf;
	size_t		cap;
	bool		too_big;
} CurlSink;

extern void curl_sink_reset(CurlSink *sink, Buf *buf, size_t cap);
extern size_t curl_sink_write(char *data, size_t size, size_t n, void *arg);
extern void buf_puts(Buf *b, const char *s);
extern void buf_printf(Buf *b, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern void buf_free(Buf *b);
extern void buf_json_string(Buf *b, const char *s);
extern void buf_array_element(Buf *b, const char *s);
extern bool utf8_valid(const char *s, size_t len);
extern double mono_now(void);
extern struct timespec deadline_after_us(long us);
extern struct timespec mono_timespec(double at);
extern void cond_init_monotonic(pthread_cond_t *cond);
extern int	ms_until(double at);

/* ---------- log.c ---------- */

extern void utc_now_iso(char *out, size_t size);
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
extern void metrics_db_timeout(void);
extern void metrics_unanswered(const char *reason);
extern void metrics_reconcile(int answer);
extern void metrics_reconcile_path(int path);
extern void metrics_forward(int result);
extern void metrics_render(Buf *out);

/* ---------- json.c ---------- */

typedef enum JsonKind
{
	JSON_ABSENT,
	JSON_STRING,
	JSON_NUMBER,
	JSON_OTHER					/* true, false, null */
} JsonKind;

/* A scalar wanted at a key path such as "result.status" */
typedef struct JsonPick
{
	const char *path;
	JsonKind	kind;
	char		text[32];		/* a string's value or a number's text */
} JsonPick;

extern bool json_pick(const char *text, size_t len, JsonPick *picks, int npicks);

/* ---------- provider.c ---------- */

/* What the provider said about one user; also the metric's result label */
typedef enum ProviderAnswer
{
	ANSWER_OFFLINE,				/* well-formed, status "0" */
	ANSWER_ONLINE,				/* well-formed, status "1" */
	ANSWER_ERROR,				/* no HTTP answer, or a non-2xx one */
	ANSWER_TIMEOUT,				/* no answer within the timeouts */
	ANSWER_BAD_ANSWER			/* 2xx, but bad JSON, code or status */
} ProviderAnswer;

#define N_PROVIDER_ANSWERS 5

typedef struct Provider Provider;

extern bool provider_global_init(void);
extern Provider *provider_open(const ShimConfig *cfg, bool (*stopping) (void));
/* Records a request's nonce, timestamp and signature before it leaves; false: do not send. */
typedef bool (*ProviderBind) (const char *nonce, const char *timestamp, const char *signature);
extern void provider_set_bind(Provider *pv, ProviderBind bind);
extern ProviderAnswer provider_check(Provider *pv, const char *user_id,
									 int *http_status);
extern void provider_close(Provider *pv);
extern const char *provider_answer_name(ProviderAnswer a);

/* ---------- reconcile.c ---------- */

extern bool reconcile_start(const ShimConfig *cfg);
extern void reconcile_stop(void);

/* ---------- jobs: what server.c hands to batcher.c and health.c ---------- */

typedef struct Job Job;
typedef void (*JobDone) (Job *job);

/* What forward.c needs to pass a delivery on, and what it brings back */
typedef struct ForwardReq
{
	const char *method;
	const char *query;			/* the raw query string, without '?'; or NULL */
	char	   *headers[12];	/* "Name: value" lines to pass on, malloc'd */
	int			nheaders;
	size_t		body_len;
	bool		verify;			/* check the signature first (a foreign type) */
	JobDone		resume;			/* called once the job's reply is set */
	bool		relayed;		/* job->reply is the upstream's */
	char	   *content_type;	/* the upstream's, malloc'd */
	size_t		reply_len;		/* of job->reply when relayed */
} ForwardReq;

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
	double		deadline;		/* mono_now() by which it must be answered */

	JobDone		done;			/* called once the outcome is set */
	void	   *owner;			/* the HTTP request it belongs to */
	ForwardReq *forward;		/* set when the delivery is passed on */
	Job		   *next;			/* health queue link */
};

extern void job_set_counts(Job *job, const char *items, const char *applied,
						   const char *duplicates, const char *stale,
						   const char *ignored);
extern void job_set_error(Job *job, const char *sqlstate, const char *message);
extern void job_set_unavailable(Job *job, const char *message);
extern void job_set_too_slow(Job *job);
extern int	http_status_for_sqlstate(const char *sqlstate);

/* ---------- forward.c ---------- */

#define N_FORWARD_RESULTS 5

struct MHD_Connection;

extern bool forward_start(const ShimConfig *cfg);
extern bool forward_is_foreign(const char *body, size_t len);
extern void forward_prepare(ForwardReq *fr, struct MHD_Connection *conn,
							const char *method, const char *query,
							size_t body_len, bool verify, JobDone resume);
extern void forward_submit(Job *job);
extern void forward_after_commit(Job *job);
extern void forward_req_free(ForwardReq *fr);
extern const char *forward_result_name(int result);
extern void forward_stop(void);

/* ---------- pending.c ---------- */

/*
 * The deliveries a database call serves.  Each is answered (503) as soon as
 * its own deadline passes, and its slot is then NULL: once done() is called
 * the job belongs to the HTTP side again.  A wait without deliveries (the
 * health probe) ends at until.
 */
typedef struct Pending
{
	Job		  **jobs;
	int			n;
	int			left;			/* slots not yet answered */
	int			focus;			/* a slot, or PENDING_ALL or PENDING_UNTIL */
	double		until;			/* the wait ends then at the latest */
} Pending;

#define PENDING_ALL (-1)		/* the wait ends once every job is answered */
#define PENDING_UNTIL (-2)		/* the wait ends at until only */

extern void pending_init(Pending *p, Job **jobs, int n, double until);
extern double pending_next(Pending *p, double now);
extern void pending_finish(Pending *p, int i);
extern void pending_finish_all(Pending *p);

/* ---------- db.c ---------- */

typedef struct DbConn
{
	PGconn	   *conn;
	const ShimConfig *cfg;
	const char *name;			/* for log lines */
	bool		ever_connected;
	bool		loss_logged;	/* the current outage was logged */
	bool		read_only_logged;	/* that the server takes no writes was logged */
	bool		batch_prepared; /* the batch statement is prepared on conn */
	bool		via_proxy;		/* the server listens on another port */
	char		schema[136];	/* the extension's schema, quoted, with a dot; or "" */
	double		last_try;		/* mono_now() of the last connection attempt */
	double		backoff;		/* seconds, grows while the server is away */
} DbConn;

/* What db_call() came back with besides its result */
typedef enum CallEnd
{
	CALL_DONE,					/* a result (which may be an error) */
	CALL_TIMED_OUT,				/* every deadline passed: cancelled */
	CALL_LOST					/* the connection is gone */
} CallEnd;

/* min_gap values for db_ensure() */
#define DB_RETRY_NOW 0.0		/* try at once */
#define DB_RETRY_EAGER 0.1		/* a request is waiting: try unless just tried */
#define DB_RETRY_BACKOFF (-1.0) /* background: honour the backoff */

extern void db_init(DbConn *db, const ShimConfig *cfg, const char *name);
extern bool db_connected(DbConn *db);
extern bool db_ensure(DbConn *db, double min_gap, Pending *p);
extern double db_next_try(const DbConn *db);
extern void db_close(DbConn *db);
extern const char *db_sql(const DbConn *db, char *buf, size_t size, const char *fmt);
#define DB_SQL_MAX 512			/* room for any statement of db_sql */
extern PGresult *db_call(DbConn *db, Pending *p, CallEnd *end);
extern void db_lost(DbConn *db);
extern void db_forget_read_only(DbConn *db);
extern bool db_ping(DbConn *db, double until);
extern bool db_check_startup(const ShimConfig *cfg, char **why);

/* ---------- deliver.c ---------- */

/* How a batch went, for the batcher's bookkeeping */
typedef struct IngestEnd
{
	bool		reached;		/* the database had the batch call (it
								 * answered, or held it to the deadline) */
	bool		stalled;		/* too slow: cancelled at the deadline, or
								 * statement_timeout / lock_timeout; or out
								 * of a resource (53xxx: a full disk) */
	bool		succeeded;		/* it came back with its rows */
} IngestEnd;

extern void deliver_init(const ShimConfig *cfg);
extern IngestEnd db_ingest(DbConn *db, Job **jobs, int n);

/* ---------- batcher.c ---------- */

extern bool batcher_start(const ShimConfig *cfg);
extern bool batcher_submit(Job *job);
extern bool batcher_ping(double until);
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
