/*
 * server.c: presence-http's HTTP side on libmicrohttpd: routing, reading
 * bodies within --max-body, picking the signature values, handing
 * deliveries to the batcher and replying once the database has answered.
 *
 * A request that waits for the database is suspended (MHD_suspend_connection)
 * and resumed by the worker that served it, so the event loop never blocks;
 * it carries a deadline (--db-timeout after its headers arrived) by which
 * the batcher answers it, 503 if need be.  Requests whose framing is
 * ambiguous (Content-Length headers that disagree, Content-Length with
 * Transfer-Encoding, HTTP/1.1 without Host) are refused with 400 before any
 * body is read, and their connection is closed.  With --forward-url, a
 * delivery is handed to forward.c instead of (or after) the batcher; its
 * raw query string is kept for that (on_uri).
 */
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "deadline.h"
#include "presence_http.h"

/* How much of an oversized chunked body we read (and drop) to answer 413. */
#define DISCARD_FACTOR 4

/*
 * Memory pool of one connection: request line, headers and the read buffer.
 * libmicrohttpd's default of 32 kB would make 1,000 idle keep-alive clients
 * cost over 30 MB; bodies are copied out as they arrive, so 16 kB is plenty.
 */
#define CONNECTION_MEMORY 16384

typedef enum ReqKind
{
	REQ_INGEST,
	REQ_HEALTH,
	REQ_METRICS,
	REQ_REFUSED					/* 404 or 405, see refuse_status */
} ReqKind;

typedef enum Phase
{
	PH_NEW,						/* only the request line is seen (on_uri) */
	PH_ROUTED,					/* headers seen, answer on the next call */
	PH_READING,					/* receiving the body */
	PH_WAITING,					/* suspended, the database has the job */
	PH_ANSWERED					/* a response is queued */
} Phase;

typedef struct Request
{
	ReqKind		kind;
	Phase		phase;
	struct MHD_Connection *conn;
	char		method[16];
	char		path[128];
	double		start;
	double		latency;		/* until the reply was queued */
	Buf			body;
	size_t		received;		/* body bytes seen, kept or not */
	bool		too_large;
	bool		close;			/* answer with Connection: close */
	const char *note;			/* for the log line */
	int			refuse_status;	/* REQ_REFUSED: 404 or 405 */
	const char *allow;			/* REQ_REFUSED with 405: the Allow header */
	Job			job;
	char	   *query;			/* the raw query string, for forward.c */
	ForwardReq	fwd;
	int			status;			/* of the reply, 0 while none */
	size_t		bytes;
} Request;

static const ShimConfig *config;
static struct MHD_Daemon *daemon_handle;
static MHD_socket listen_fd = MHD_INVALID_SOCKET;
static atomic_bool quiescing;

static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond;
static int	in_flight;			/* requests begun and not yet completed */

static void
in_flight_add(int delta)
{
	pthread_mutex_lock(&idle_lock);
	in_flight += delta;
	if (in_flight == 0)
		pthread_cond_broadcast(&idle_cond);
	pthread_mutex_unlock(&idle_lock);
}

static void
request_free(Request *req)
{
	free(req->job.reply);
	free((char *) req->job.nonce);
	free((char *) req->job.sign_ts);
	free((char *) req->job.signature);
	free((char *) req->job.app_key);
	free(req->query);
	forward_req_free(&req->fwd);
	buf_free(&req->body);
	free(req);
}

/* Queue a reply of len bytes; false if libmicrohttpd would not take it now. */
static bool
respond_bytes(Request *req, int status, const char *body, size_t len,
			  const char *ctype, const char *allow)
{
	struct MHD_Response *r;
	bool		ok;

	r = MHD_create_response_from_buffer(len, (void *) body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return false;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	if (status == 503)
	{
		char		secs[16];

		snprintf(secs, sizeof(secs), "%d", RETRY_AFTER_SECONDS);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, secs);
	}
	if (quiescing || req->close)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ok = MHD_queue_response(req->conn, (unsigned int) status, r) == MHD_YES;
	MHD_destroy_response(r);
	if (ok)
	{
		req->status = status;
		req->bytes = len;
		req->latency = mono_now() - req->start;
		req->phase = PH_ANSWERED;
	}
	return ok;
}

/* Queue a reply of a string; false if libmicrohttpd would not take it now. */
static bool
respond(Request *req, int status, const char *body, const char *ctype,
		const char *allow)
{
	return respond_bytes(req, status, body, strlen(body), ctype, allow);
}

static enum MHD_Result
respond_json_error(Request *req, int status, const char *message,
				   const char *allow)
{
	Buf			b;
	bool		ok;

	buf_init(&b, 64);
	buf_puts(&b, "{\"error\":");
	buf_json_string(&b, message);
	buf_puts(&b, "}");
	ok = respond(req, status, b.data, "application/json", allow);
	buf_free(&b);
	return ok ? MHD_YES : MHD_NO;
}

/* Called by a worker or the health thread once job's outcome is set. */
static void
job_done(Job *job)
{
	Request    *req = job->owner;

	MHD_resume_connection(req->conn);
}

/* Suspend the request and hand its job over; resumed by job_done(). */
static void
hand_over(Request *req, bool health)
{
	req->phase = PH_WAITING;
	req->job.done = req->job.forward ? forward_after_commit : job_done;
	req->job.owner = req;
	req->job.deadline = req->start + config->db_timeout;
	MHD_suspend_connection(req->conn);
	if (health)
		health_submit(&req->job);
	else if (req->job.forward != NULL && req->job.forward->verify)
		forward_submit(&req->job);
	else if (!batcher_submit(&req->job))
	{
		job_set_error(&req->job, "53000", "too many deliveries waiting, try again later");
		job_done(&req->job);
	}
}

/* First value found: query arguments (case-sensitive), then headers. */
static const char *
signature_value(struct MHD_Connection *conn, const char *arg1,
				const char *arg2, const char *header)
{
	const char *v;

	v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, arg1);
	if (v == NULL && arg2 != NULL)
		v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, arg2);
	if (v == NULL)
		v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, header);
	if (v == NULL)
	{
		char		rc_header[64];

		snprintf(rc_header, sizeof(rc_header), "RC-%s", header);
		v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, rc_header);
	}
	return v;
}

static bool
copy_value(const char **dst, const char *v)
{
	*dst = v ? xstrdup(v) : NULL;
	return v == NULL || utf8_valid(v, strlen(v));
}

static bool
pick_signature(Request *req)
{
	struct MHD_Connection *c = req->conn;
	bool		ok = true;

	ok &= copy_value(&req->job.nonce, signature_value(c, "nonce", NULL, "Nonce"));
	ok &= copy_value(&req->job.sign_ts,
					 signature_value(c, "signTimestamp", "timestamp", "Timestamp"));
	ok &= copy_value(&req->job.signature,
					 signature_value(c, "signature", NULL, "Signature"));
	ok &= copy_value(&req->job.app_key, signature_value(c, "appKey", NULL, "App-Key"));
	return ok;
}

/* The whole body is in: check it and hand it to the batcher. */
static enum MHD_Result
ingest_complete(Request *req)
{
	if (req->too_large)
	{
		char		msg[64];

		snprintf(msg, sizeof(msg), "request body exceeds %zu bytes", config->max_body);
		return respond_json_error(req, 413, msg, NULL);
	}
	if (!utf8_valid(req->body.data, req->body.len))
		return respond_json_error(req, 400,
								  "invalid byte sequence for encoding \"UTF8\" in the body", NULL);
	if (!pick_signature(req))
		return respond_json_error(req, 400,
								  "invalid byte sequence for encoding \"UTF8\" in a signature value", NULL);
	req->job.body = req->body.data;
	if (config->forward_url != NULL)
	{
		bool		foreign = forward_is_foreign(req->body.data, req->body.len);

		if (foreign || config->forward_all)
		{
			forward_prepare(&req->fwd, req->conn, req->method, req->query,
							req->body.len, foreign, job_done);
			req->job.forward = &req->fwd;
		}
	}
	hand_over(req, false);
	return MHD_YES;
}

/*
 * A piece of the body, or (size 0) the end of it.  A body that grows past
 * --max-body without a Content-Length saying so (chunked) is dropped as it
 * comes; libmicrohttpd only lets us answer 413 once it has ended, so past
 * DISCARD_FACTOR times the limit we close the connection instead.
 */
static enum MHD_Result
ingest_read(Request *req, const char *data, size_t *size)
{
	size_t		n = *size;

	if (n == 0)
		return ingest_complete(req);
	*size = 0;
	req->received += n;
	if (req->too_large)
	{
		if (req->received <= DISCARD_FACTOR * config->max_body)
			return MHD_YES;
		req->note = "body-too-large-closed";
		return MHD_NO;
	}
	if (req->received > config->max_body)
	{
		req->too_large = true;
		buf_free(&req->body);
		buf_init(&req->body, 1);
		return MHD_YES;
	}
	buf_put(&req->body, data, n);
	return MHD_YES;
}

/* POST <path>: refuse a declared Content-Length over the limit up front. */
static enum MHD_Result
ingest_begin(Request *req)
{
	const char *cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
												 MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (cl != NULL && strtoull(cl, NULL, 10) > config->max_body)
	{
		char		msg[64];

		snprintf(msg, sizeof(msg), "request body exceeds %zu bytes", config->max_body);
		return respond_json_error(req, 413, msg, NULL);
	}
	buf_init(&req->body, cl ? (size_t) strtoull(cl, NULL, 10) + 1 : 1024);
	req->phase = PH_READING;
	return MHD_YES;
}

static enum MHD_Result
metrics_reply(Request *req)
{
	Buf			b;
	bool		ok;

	buf_init(&b, 4096);
	metrics_render(&b);
	ok = respond(req, 200, b.data, "text/plain; version=0.0.4; charset=utf-8", NULL);
	buf_free(&b);
	return ok ? MHD_YES : MHD_NO;
}

/* Resumed: the database (or the health probe) has answered. */
static enum MHD_Result
reply_job(Request *req)
{
	if (req->job.status == 0 || req->job.reply == NULL)
		return respond_json_error(req, 500, "no outcome for this request", NULL);
	if (req->fwd.relayed)
		return respond_bytes(req, req->job.status, req->job.reply,
							 req->fwd.reply_len, req->fwd.content_type,
							 NULL) ? MHD_YES : MHD_NO;
	return respond(req, req->job.status, req->job.reply, "application/json",
				   NULL) ? MHD_YES : MHD_NO;
}

/* Does the request come with a body (that we would have to read)? */
static bool
has_body(const Request *req)
{
	const char *cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
												 MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (cl != NULL)
		return strtoull(cl, NULL, 10) > 0;
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
									   MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

static void
route(Request *req, const char *url)
{
	bool		get = strcmp(req->method, MHD_HTTP_METHOD_GET) == 0 ||
		strcmp(req->method, MHD_HTTP_METHOD_HEAD) == 0;

	req->kind = REQ_REFUSED;
	req->refuse_status = 404;
	if (strcmp(url, config->path) == 0)
	{
		if (strcmp(req->method, MHD_HTTP_METHOD_POST) == 0)
			req->kind = REQ_INGEST;
		req->refuse_status = 405;
		req->allow = "POST";
	}
	else if (strcmp(url, "/healthz") == 0 || strcmp(url, "/metrics") == 0)
	{
		if (get)
			req->kind = url[1] == 'h' ? REQ_HEALTH : REQ_METRICS;
		req->refuse_status = 405;
		req->allow = "GET, HEAD";
	}
}

static enum MHD_Result
refuse(Request *req)
{
	return respond_json_error(req, req->refuse_status,
							  req->refuse_status == 405 ? "method not allowed" : "not found",
							  req->allow);
}

/* MHD_get_connection_values() callback: Content-Length headers that disagree? */
static enum MHD_Result
check_content_length(void *cls, enum MHD_ValueKind kind, const char *key,
					 const char *value)
{
	const char **first = cls;

	(void) kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
		return MHD_YES;
	if (value[0] == '\0' || value[strspn(value, "0123456789")] != '\0' ||
		(*first != NULL && strcmp(*first, value) != 0))
	{
		*first = "";			/* ambiguous: stop */
		return MHD_NO;
	}
	*first = value;
	return MHD_YES;
}

/* Why the request's framing is ambiguous, or NULL when it is not. */
static const char *
framing_problem(struct MHD_Connection *conn, const char *version)
{
	const char *first = NULL;

	MHD_get_connection_values(conn, MHD_HEADER_KIND, check_content_length, &first);
	if (first != NULL && first[0] == '\0')
		return "conflicting or invalid Content-Length headers";
	if (first != NULL &&
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
		return "both Content-Length and Transfer-Encoding";
	if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 &&
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST) == NULL)
		return "an HTTP/1.1 request needs a Host header";
	return NULL;
}

/*
 * First call for a request: route it by path and method.  A request we
 * refuse is answered at once if it has a body, so that the body is not read
 * (libmicrohttpd then closes the connection); without a body the answer waits
 * for the next call, which keeps the connection open.
 */
static enum MHD_Result
request_begin(Request *req, const char *url, const char *version)
{
	const char *problem = framing_problem(req->conn, version);

	if (problem != NULL)
	{
		req->close = true;		/* what follows on the connection is not to be trusted */
		return respond_json_error(req, 400, problem, NULL);
	}
	route(req, url);
	if (req->kind == REQ_INGEST)
		return ingest_begin(req);
	if (req->kind == REQ_REFUSED && has_body(req))
		return refuse(req);
	req->phase = PH_ROUTED;
	return MHD_YES;
}

/* Second call of a request without a body to read. */
static enum MHD_Result
request_routed(Request *req, size_t *upload_data_size)
{
	if (*upload_data_size != 0)
	{
		*upload_data_size = 0;	/* a GET with a body: ignore it */
		return MHD_YES;
	}
	switch (req->kind)
	{
		case REQ_HEALTH:
			hand_over(req, true);
			return MHD_YES;
		case REQ_METRICS:
			return metrics_reply(req);
		default:
			return refuse(req);
	}
}

/* The request line is in: keep its raw query string (MHD gives it decoded). */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	Request    *req = xcalloc(1, sizeof(Request));
	const char *q = strchr(uri, '?');

	(void) cls, (void) conn;
	req->phase = PH_NEW;
	req->query = q ? xstrdup(q + 1) : NULL;
	return req;
}

static void
request_init(Request *req, struct MHD_Connection *conn, const char *url,
			 const char *method)
{
	req->conn = conn;
	req->kind = REQ_REFUSED;
	req->phase = PH_ROUTED;
	req->start = mono_now();
	snprintf(req->method, sizeof(req->method), "%s", method);
	snprintf(req->path, sizeof(req->path), "%s", url);
	in_flight_add(1);
}

static enum MHD_Result
on_access(void *cls, struct MHD_Connection *conn, const char *url,
		  const char *method, const char *version, const char *upload_data,
		  size_t *upload_data_size, void **req_cls)
{
	Request    *req = *req_cls;

	(void) cls;
	if (req == NULL)
		return MHD_NO;
	if (req->phase == PH_NEW)
	{
		request_init(req, conn, url, method);
		return request_begin(req, url, version);
	}
	if (*upload_data_size == 0)
		deadline_mark(conn, true);	/* the whole request is in, body included */
	switch (req->phase)
	{
		case PH_ROUTED:
			return request_routed(req, upload_data_size);
		case PH_READING:
			return ingest_read(req, upload_data, upload_data_size);
		case PH_WAITING:
			return reply_job(req);
		case PH_ANSWERED:
		case PH_NEW:
			break;
	}
	*upload_data_size = 0;		/* answered early: drop what still comes */
	return MHD_YES;
}

static const char *
termination_note(enum MHD_RequestTerminationCode toe)
{
	switch (toe)
	{
		case MHD_REQUEST_TERMINATED_COMPLETED_OK:
			return NULL;
		case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
			return "timeout";
		case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
			return "client-abort";
		case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
			return "shutdown";
		default:
			return "error";
	}
}

/* The request is over (reply sent, or the connection gone): log it. */
static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	Request    *req = *req_cls;
	const char *note;

	(void) cls;
	deadline_mark(conn, false);	/* the next request's headers are due */
	if (req == NULL)
		return;
	*req_cls = NULL;
	if (req->phase == PH_NEW)
	{
		request_free(req);		/* never routed: not counted, not logged */
		return;
	}
	if (req->note)
		note = req->note;
	else if (deadline_expired(conn))
		note = "timeout";		/* the sweeper ended it; MHD saw only the socket end */
	else
		note = termination_note(toe);

	log_request(req->method, req->path, req->status, req->bytes,
				req->status ? req->latency : mono_now() - req->start,
				req->job.batch_size, req->job.sqlstate, note);
	if (req->status != 0)
		metrics_request(req->status, req->kind == REQ_INGEST, req->latency);
	else
		metrics_unanswered(note);
	request_free(req);
	in_flight_add(-1);
}

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char		line[512];
	size_t		len;

	(void) cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	log_msg("libmicrohttpd: %s", line);
}

/* Start the HTTP daemon on cfg->listen; false when it cannot. */
bool
server_start(const ShimConfig *cfg)
{
	struct addrinfo *ai;
	unsigned int flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC |
		MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	config = cfg;
	cond_init_monotonic(&idle_cond);
	ai = config_resolve_listen(cfg->listen);
	if (ai == NULL)
	{
		log_msg("cannot resolve listen address \"%s\" (expected HOST:PORT)", cfg->listen);
		return false;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	daemon_handle = MHD_start_daemon(flags, 0, NULL, NULL, on_access, NULL,
									 MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
									 MHD_OPTION_SOCK_ADDR, ai->ai_addr,
									 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) cfg->timeout,
									 MHD_OPTION_CONNECTION_LIMIT, (unsigned int) cfg->max_connections,
									 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) CONNECTION_MEMORY,
									 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
									 MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
									 MHD_OPTION_NOTIFY_CONNECTION, deadline_notify, NULL,
									 MHD_OPTION_END);
	freeaddrinfo(ai);
	if (daemon_handle == NULL)
	{
		log_msg("cannot listen on %s", cfg->listen);
		return false;
	}
	info = MHD_get_daemon_info(daemon_handle, MHD_DAEMON_INFO_BIND_PORT);
	log_msg("listening on %s (port %u), webhook path %s, %d workers",
			cfg->listen, info ? (unsigned int) info->port : 0U, cfg->path, cfg->workers);
	if (!deadline_start(cfg->timeout))
	{
		log_msg("cannot start the header deadline thread");
		return false;
	}
	return true;
}

/*
 * Stop accepting connections; those already open are still served.  The
 * listening socket is shut down too, so that new clients are refused at once
 * instead of waiting in the backlog; it is closed after MHD_stop_daemon().
 */
void
server_quiesce(void)
{
	quiescing = true;
	listen_fd = MHD_quiesce_daemon(daemon_handle);
	if (listen_fd != MHD_INVALID_SOCKET)
		shutdown(listen_fd, SHUT_RDWR);
}

/* Wait until no request is in flight; false if seconds ran out first. */
bool
server_wait_idle(double seconds)
{
	struct timespec until = deadline_after_us((long) (seconds * 1e6));
	bool		idle;

	pthread_mutex_lock(&idle_lock);
	while (in_flight > 0)
		if (pthread_cond_timedwait(&idle_cond, &idle_lock, &until) != 0)
			break;
	idle = in_flight == 0;
	pthread_mutex_unlock(&idle_lock);
	return idle;
}

/* Stop taking requests, let those in flight finish, and stop the daemon. */
void
server_stop(void)
{
	deadline_stop();
	MHD_stop_daemon(daemon_handle);
	daemon_handle = NULL;
	if (listen_fd != MHD_INVALID_SOCKET)
		close(listen_fd);
	listen_fd = MHD_INVALID_SOCKET;
}
