/*
 * forward.c: passes deliveries on to the app's own webhook handler
 * (--forward-url, doc/rules.md / contract section 15) and relays its reply.
 *
 * The provider has one webhook URL per app for every event, so an app that
 * puts presence-http in front still needs the other events (messages,
 * groups, *:pre_messaging, which waits for {"pass": ...}).  The design:
 *
 * - server.c reads the envelope's "type" with json.c.  A type presence does
 *   not apply (anything but user:connection_status) is "foreign": it is not
 *   sent to presence_ingest at all, only its signature is checked, with
 *   SELECT presence_verify(nonce, signTimestamp, signature, appKey) on a
 *   connection of our own (presence-http has no secret; the extension does).
 *   A foreign delivery whose signature does not verify gets 401 and is never
 *   passed on.  presence_verify does not bind the triple to the body, so a
 *   captured triple could carry another body to the app within
 *   presence.signature_max_age; the app's handler must check the signature
 *   too (see README), as it would without presence-http in front.
 * - Presence's own types take the ingest path unchanged (the batcher, group
 *   commit, replay binding); with --forward-all they are passed on after
 *   their commit, and the reply is the upstream's, 2xx only if both the
 *   commit and the upstream succeeded.
 * - Passed on unchanged: the method, the raw query string (the signature
 *   values are there), the signature headers, Content-Type and the body,
 *   byte for byte.  The upstream's status, Content-Type and body come back
 *   as the reply, whatever the status, except that a late or unreachable
 *   upstream gets the provider a 503: the whole exchange ends by the
 *   delivery's deadline (--db-timeout after its arrival).
 *
 * A pool of threads, each with a libcurl easy handle and (for the signature
 * check) a database connection opened on first use; the easy handles share
 * one connection cache and DNS cache (a share handle).  No redirects, no
 * proxy from the environment.  Nothing secret is logged: neither the query
 * string nor the signature headers.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "presence_http.h"

#define CONNECTED_TYPE "user:connection_status"
#define MAX_UPSTREAM_REPLY ((size_t) 1 << 20)	/* bytes */
#define MIN_THREADS 4
#define MAX_THREADS 64

/* presence_http_forward_total's result label */
typedef enum ForwardResult
{
	FWD_OK,
	FWD_UPSTREAM_4XX,
	FWD_UPSTREAM_5XX,
	FWD_TIMEOUT,
	FWD_UNREACHABLE
} ForwardResult;

static const char *const result_names[N_FORWARD_RESULTS] = {
	"ok", "upstream_4xx", "upstream_5xx", "timeout", "unreachable"
};

/* Request headers passed on as they came, besides the body's framing. */
static const char *const passed_headers[] = {
	"Content-Type", "Nonce", "Timestamp", "Signature", "App-Key",
	"RC-Nonce", "RC-Timestamp", "RC-Signature", "RC-App-Key"
};

typedef struct Worker
{
	pthread_t	thread;
	bool		started;
	DbConn		db;
	CURL	   *curl;
	Buf			answer;
	CurlSink	sink;			/* libcurl's writes into answer */
} Worker;

static struct
{
	pthread_mutex_t lock;
	pthread_cond_t wake;
	Job		   *head;
	Job		   *tail;
	int			queued;
	bool		stopping;
	const ShimConfig *cfg;
	CURLSH	   *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	Worker	   *workers;
	int			nworkers;
}			f = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The metric label of a result. */
const char *
forward_result_name(int result)
{
	return result_names[result];
}

/* Is body an envelope whose type presence does not apply? */
bool
forward_is_foreign(const char *body, size_t len)
{
	JsonPick	pick = {.path = "type"};

	if (!json_pick(body, len, &pick, 1) || pick.kind != JSON_STRING)
		return false;			/* legacy shapes and bad JSON: ingest decides */
	return strcmp(pick.text, CONNECTED_TYPE) != 0;
}

/* MHD_get_connection_values() callback: keep the headers we pass on. */
static enum MHD_Result
keep_header(void *cls, enum MHD_ValueKind kind, const char *key,
			const char *value)
{
	ForwardReq *fr = cls;
	Buf			line;

	(void) kind;
	if (fr->nheaders >= N_ELEMENTS(fr->headers))
		return MHD_NO;
	for (int i = 0; i < N_ELEMENTS(passed_headers); i++)
		if (strcasecmp(key, passed_headers[i]) == 0)
		{
			buf_init(&line, strlen(key) + strlen(value) + 3);
			buf_printf(&line, "%s: %s", key, value);
			fr->headers[fr->nheaders++] = line.data;
			break;
		}
	return MHD_YES;
}

/* Fill fr from the request on conn; resume is called once the reply is set. */
void
forward_prepare(ForwardReq *fr, struct MHD_Connection *conn, const char *method,
				const char *query, size_t body_len, bool verify, JobDone resume)
{
	fr->method = method;
	fr->query = query;
	fr->body_len = body_len;
	fr->verify = verify;
	fr->resume = resume;
	MHD_get_connection_values(conn, MHD_HEADER_KIND, keep_header, fr);
}

/* Free what forward_prepare() and the worker allocated in fr. */
void
forward_req_free(ForwardReq *fr)
{
	for (int i = 0; i < fr->nheaders; i++)
		free(fr->headers[i]);
	fr->nheaders = 0;
	free(fr->content_type);
	fr->content_type = NULL;
}

/* Queue job for a worker; it is answered (503) at once if it cannot be. */
void
forward_submit(Job *job)
{
	bool		taken = false;

	pthread_mutex_lock(&f.lock);
	if (!f.stopping && f.queued < f.cfg->queue_max)
	{
		job->next = NULL;
		if (f.tail)
			f.tail->next = job;
		else
			f.head = job;
		f.tail = job;
		f.queued++;
		taken = true;
		pthread_cond_signal(&f.wake);
	}
	pthread_mutex_unlock(&f.lock);
	if (!taken)
	{
		job_set_error(job, "53000", "too many deliveries waiting, try again later");
		job->forward->resume(job);
	}
}

/* The batcher's done() with --forward-all: pass on only what committed. */
void
forward_after_commit(Job *job)
{
	if (job->status >= 200 && job->status <= 299)
		forward_submit(job);
	else
		job->forward->resume(job);
}

static void
ignore_done(Job *job)
{
	(void) job;
}

/* The verdict of presence_verify()'s result on job. */
static bool
verify_outcome(Job *job, PGresult *res)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		job_set_error(job, PQresultErrorField(res, PG_DIAG_SQLSTATE),
					  PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		return false;
	}
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
		strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		return true;
	job_set_error(job, "28000", "signature missing, wrong or too old");
	return false;
}

/*
 * Check job's signature with presence_verify() within its deadline; false
 * with job's reply set (401, 503, or the database's error) when it fails.
 */
static bool
verify(Worker *w, Job *job)
{
	Job			probe = {.deadline = job->deadline, .done = ignore_done};
	Job		   *slot = &probe;
	PGresult   *res = NULL;
	CallEnd		end = CALL_LOST;
	Pending		p;
	bool		ok = false;

	pending_init(&p, &slot, 1, INFINITY);
	p.focus = 0;
	if (db_ensure(&w->db, DB_RETRY_EAGER, &p) && slot != NULL)
	{
		const char *params[4] = {job->nonce, job->sign_ts, job->signature,
		job->app_key};
		char		sql[DB_SQL_MAX];

		if (PQsendQueryParams(w->db.conn,
							  db_sql(&w->db, sql, sizeof(sql),
									 "SELECT %spresence_verify($1, $2, $3, $4)"),
							  4, NULL, params, NULL, NULL, 0))
			res = db_call(&w->db, &p, &end);
		else
			db_lost(&w->db);
	}
	if (end == CALL_DONE)
		ok = verify_outcome(job, res);
	else if (end == CALL_TIMED_OUT || job->deadline <= mono_now())
		job_set_too_slow(job);
	else
		job_set_unavailable(job, NULL);
	PQclear(res);
	pending_finish_all(&p);
	free(probe.reply);
	return ok;
}

/* --forward-url with the delivery's raw query string; malloc'd. */
static char *
upstream_url(const ForwardReq *fr)
{
	Buf			b;

	buf_init(&b, 256);
	buf_puts(&b, f.cfg->forward_url);
	if (fr->query != NULL)
	{
		buf_puts(&b, strchr(f.cfg->forward_url, '?') ? "&" : "?");
		buf_puts(&b, fr->query);
	}
	return b.data;
}

/* The request headers: those passed on, and none that libcurl would add. */
static struct curl_slist *
upstream_headers(const ForwardReq *fr)
{
	struct curl_slist *h = NULL;
	bool		has_type = false;

	for (int i = 0; i < fr->nheaders; i++)
	{
		h = curl_slist_append(h, fr->headers[i]);
		has_type |= strncasecmp(fr->headers[i], "Content-Type:", 13) == 0;
	}
	if (!has_type)
		h = curl_slist_append(h, "Content-Type:");
	h = curl_slist_append(h, "Expect:");
	h = curl_slist_append(h, "Accept:");
	return h;
}

static void
set_options(Worker *w, const Job *job, const char *url,
			struct curl_slist *headers, long timeout_ms)
{
	CURL	   *c = w->curl;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_SHARE, f.share);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, job->forward->method);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, job->body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t) job->forward->body_len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "presence-http");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &w->sink);
}

/* Relay the upstream's answer as job's reply. */
static void
take_answer(Worker *w, Job *job, long status)
{
	ForwardReq *fr = job->forward;
	char	   *ctype = NULL;

	curl_easy_getinfo(w->curl, CURLINFO_CONTENT_TYPE, &ctype);
	free(fr->content_type);
	fr->content_type = xstrdup(ctype ? ctype : "application/octet-stream");
	fr->reply_len = w->answer.len;
	buf_put(&w->answer, "", 1);	/* NUL-terminated, not counted */
	free(job->reply);
	job->reply = w->answer.data;
	job->status = (int) status;
	job->sqlstate[0] = '\0';
	fr->relayed = true;
	buf_init(&w->answer, 256);
}

/* Pass job on to the upstream within its deadline and set its reply. */
static ForwardResult
pass_on(Worker *w, Job *job)
{
	long		timeout_ms = (long) ((job->deadline - mono_now()) * 1000.0);
	struct curl_slist *headers = upstream_headers(job->forward);
	char	   *url = upstream_url(job->forward);
	long		status = 0;
	CURLcode	rc = CURLE_OPERATION_TIMEDOUT;

	curl_sink_reset(&w->sink, &w->answer, MAX_UPSTREAM_REPLY);
	if (timeout_ms > 0)
	{
		set_options(w, job, url, headers, timeout_ms);
		rc = curl_easy_perform(w->curl);
		curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	}
	curl_slist_free_all(headers);
	free(url);
	if (rc == CURLE_OPERATION_TIMEDOUT)
	{
		job_set_too_slow(job);
		return FWD_TIMEOUT;
	}
	if (rc != CURLE_OK || w->sink.too_big || status < 100)
	{
		log_msg("forward: no usable answer from the upstream: %s",
				w->sink.too_big ? "reply too large" : curl_easy_strerror(rc));
		job_set_unavailable(job, "the app's handler could not be reached");
		return FWD_UNREACHABLE;
	}
	take_answer(w, job, status);
	if (status >= 200 && status <= 299)
		return FWD_OK;
	return status >= 500 ? FWD_UPSTREAM_5XX : FWD_UPSTREAM_4XX;
}

/* Serve one job: verify if it is foreign, pass it on, resume its request. */
static void
serve(Worker *w, Job *job)
{
	if (!job->forward->verify || verify(w, job))
		metrics_forward((int) pass_on(w, job));
	job->forward->resume(job);
}

static void *
worker_main(void *arg)
{
	Worker	   *w = arg;

	for (;;)
	{
		Job		   *job;

		pthread_mutex_lock(&f.lock);
		while (f.head == NULL && !f.stopping)
			pthread_cond_wait(&f.wake, &f.lock);
		job = f.head;
		if (job != NULL)
		{
			f.head = job->next;
			if (f.head == NULL)
				f.tail = NULL;
			f.queued--;
		}
		pthread_mutex_unlock(&f.lock);
		if (job == NULL)
			break;
		serve(w, job);
	}
	return NULL;
}

static void
share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *arg)
{
	(void) c, (void) access, (void) arg;
	pthread_mutex_lock(&f.share_locks[data]);
}

static void
share_unlock(CURL *c, curl_lock_data data, void *arg)
{
	(void) c, (void) arg;
	pthread_mutex_unlock(&f.share_locks[data]);
}

/* One connection and DNS cache for every worker's easy handle. */
static CURLSH *
share_open(void)
{
	CURLSH	   *sh = curl_share_init();

	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&f.share_locks[i], NULL);
	if (sh == NULL)
		return NULL;
	curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	return sh;
}

/* Start the forward workers if --forward-url is set; false on failure. */
bool
forward_start(const ShimConfig *cfg)
{
	f.cfg = cfg;
	if (cfg->forward_url == NULL)
		return true;
	metrics_forward(-1);
	pthread_cond_init(&f.wake, NULL);
	f.share = share_open();
	f.nworkers = cfg->workers * 2;
	f.nworkers = f.nworkers < MIN_THREADS ? MIN_THREADS :
		f.nworkers > MAX_THREADS ? MAX_THREADS : f.nworkers;
	f.workers = xcalloc((size_t) f.nworkers, sizeof(Worker));
	for (int i = 0; i < f.nworkers; i++)
	{
		Worker	   *w = &f.workers[i];

		db_init(&w->db, cfg, "forward");
		buf_init(&w->answer, 256);
		w->curl = curl_easy_init();
		if (f.share == NULL || w->curl == NULL ||
			pthread_create(&w->thread, NULL, worker_main, w) != 0)
			return false;
		w->started = true;
	}
	log_msg("forward: on, %d workers, other event types%s passed on",
			f.nworkers, cfg->forward_all ? " and presence's own" : "");
	return true;
}

/* Let the workers finish what is queued, then stop them. */
void
forward_stop(void)
{
	if (f.workers == NULL)
		return;
	pthread_mutex_lock(&f.lock);
	f.stopping = true;
	pthread_cond_broadcast(&f.wake);
	pthread_mutex_unlock(&f.lock);
	for (int i = 0; i < f.nworkers; i++)
	{
		Worker	   *w = &f.workers[i];

		if (w->started)
			pthread_join(w->thread, NULL);
		if (w->curl)
			curl_easy_cleanup(w->curl);
		db_close(&w->db);
		buf_free(&w->answer);
	}
	if (f.share)
		curl_share_cleanup(f.share);
	free(f.workers);
	f.workers = NULL;
}
