/*
 * db.c: presence-http's database connections and calls, each with a
 * deadline.
 *
 * A connection is opened without blocking (PQconnectStartParams), so an
 * attempt ends after --connect-timeout or once the deliveries waiting for it
 * are due, whichever comes first; connections come back by themselves after
 * an outage.  Every statement is sent asynchronously and its result awaited
 * against the deadlines of the deliveries it serves (pending.c).  When they
 * have all passed, the statement is cancelled (PQcancel): the connection is
 * kept if the call then ends within CANCEL_GRACE, dropped otherwise.  Each
 * session also gets statement_timeout = --db-timeout + STATEMENT_MARGIN, so
 * the server gives up by itself should the cancel never arrive (the margin
 * lets our own deadline, which starts earlier, come first).  Also here: the health ping
 * and the start-up check.
 *
 * Every call is a single statement in autocommit mode, so when it returns
 * successfully its transaction has committed.  Values reach the server only
 * as parameters, never spliced into SQL.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "presence_http.h"

#define BACKOFF_MIN 0.05
#define BACKOFF_MAX 2.0

/* How long a cancelled call may take to end before we drop the connection. */
#define CANCEL_GRACE 1.0

/* statement_timeout is --db-timeout plus this many seconds. */
#define STATEMENT_MARGIN 1.0

/*
 * Also the extension's schema, once per connection: the entry points are
 * called qualified with it (db_sql), so no search_path needs to name it.
 */
static const char setup_sql[] =
"SELECT pg_catalog.current_setting('port'), "
"pg_catalog.set_config('statement_timeout', $1, false), "
"(SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e "
"JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'presence')";

static const char extension_sql[] =
"SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'presence'";

/* The keywords connect_params sets, and the terminating NULL. */
#define CONNECT_PARAMS 5

/*
 * Connection keywords.  Our defaults come before the user's conninfo so that
 * it can override them, except client_encoding: bodies are UTF-8.
 */
static void
connect_params(const ShimConfig *cfg, const char **keys, const char **values,
			   char *timeout, size_t size)
{
	int			i = 0;

	snprintf(timeout, size, "%d", (int) ceil(cfg->connect_timeout));
	keys[i] = "connect_timeout";
	values[i++] = timeout;
	keys[i] = "fallback_application_name";
	values[i++] = "presence-http";
	keys[i] = "dbname";
	values[i++] = cfg->db ? cfg->db : "";
	keys[i] = "client_encoding";
	values[i++] = "UTF8";
	keys[i] = NULL;
	values[i++] = NULL;
	assert(i == CONNECT_PARAMS);
}

/* The first line of libpq's error message, without the newline. */
static void
db_error_line(PGconn *conn, char *out, size_t size)
{
	const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
	size_t		len = strcspn(msg, "\n");

	if (len >= size)
		len = size - 1;
	memcpy(out, msg, len);
	out[len] = '\0';
}

/* A connection that is not open yet; nothing is tried before db_ensure(). */
void
db_init(DbConn *db, const ShimConfig *cfg, const char *name)
{
	memset(db, 0, sizeof(*db));
	db->cfg = cfg;
	db->name = name;
	db->backoff = BACKOFF_MIN;
	db->last_try = -1e9;
}

/* Is the connection open (as far as libpq knows)? */
bool
db_connected(DbConn *db)
{
	return db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK;
}

/* When the next background connection attempt is due (mono_now() time). */
double
db_next_try(const DbConn *db)
{
	return db->last_try + db->backoff;
}

/* Close the connection, if any. */
void
db_close(DbConn *db)
{
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
	db->batch_prepared = false;
}

/*
 * Wait until conn's socket is ready for events, answering the jobs of p whose
 * deadlines pass meanwhile.  False once p's wait is over.
 */
static bool
wait_socket(PGconn *conn, short events, Pending *p)
{
	for (;;)
	{
		double		next = pending_next(p, mono_now());
		struct pollfd pfd = {.fd = PQsocket(conn), .events = events};
		int			rc;

		if (next == 0)
			return false;
		if (pfd.fd < 0)
			return true;		/* let libpq report it */
		rc = poll(&pfd, 1, ms_until(next));
		if (rc > 0)
			return true;
		if (rc < 0 && errno != EINTR)
			return true;
	}
}

/* Drive PQconnectPoll to the end; false on failure or when p's wait ends. */
static bool
connect_async(DbConn *db, Pending *p, bool *timed_out)
{
	const char *keys[CONNECT_PARAMS];
	const char *values[CONNECT_PARAMS];
	char		timeout[16];
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	connect_params(db->cfg, keys, values, timeout, sizeof(timeout));
	db->conn = PQconnectStartParams(keys, values, 1);
	if (db->conn == NULL || PQstatus(db->conn) == CONNECTION_BAD)
		return false;
	while (st != PGRES_POLLING_OK)
	{
		if (st == PGRES_POLLING_FAILED)
			return false;
		if (!wait_socket(db->conn, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, p))
		{
			*timed_out = true;
			return false;
		}
		st = PQconnectPoll(db->conn);
	}
	return PQsetnonblocking(db->conn, 1) == 0;
}

/* Keep the schema setup_sql found, as a prefix; none (unqualified) when it found none. */
static void
remember_schema(DbConn *db, const PGresult *res)
{
	const char *schema = PQgetisnull(res, 0, 2) ? "" : PQgetvalue(res, 0, 2);

	if (schema[0] == '\0' || strlen(schema) + 2 > sizeof(db->schema))
		db->schema[0] = '\0';
	else
		snprintf(db->schema, sizeof(db->schema), "%s.", schema);
}

/*
 * The statement fmt, whose one %s stands before an entry point's name, with
 * the extension's schema there (into buf, size bytes).
 */
const char *
db_sql(const DbConn *db, char *buf, size_t size, const char *fmt)
{
	snprintf(buf, size, fmt, db->schema);
	return buf;
}

/*
 * Set statement_timeout for the session, look up the extension's schema,
 * and note whether the server
 * listens on another port than the one we connected to: then something (a
 * pooler such as pgbouncer, or a proxy) is in between (deliver.c).
 */
static bool
setup_session(DbConn *db, Pending *p)
{
	char		ms[32];
	const char *params[1] = {ms};
	const char *port = PQport(db->conn);
	PGresult   *res;
	CallEnd		end;
	bool		ok;

	snprintf(ms, sizeof(ms), "%ld", (long) ceil((db->cfg->db_timeout + STATEMENT_MARGIN) * 1000.0));
	if (!PQsendQueryParams(db->conn, setup_sql, 1, NULL, params, NULL, NULL, 0))
		return false;
	res = db_call(db, p, &end);
	ok = end == CALL_DONE && PQresultStatus(res) == PGRES_TUPLES_OK &&
		PQntuples(res) == 1;
	if (ok)
	{
		db->via_proxy = port != NULL && port[0] != '\0' &&
			strcmp(PQgetvalue(res, 0, 0), port) != 0;
		remember_schema(db, res);
	}
	PQclear(res);
	return ok && db_connected(db);
}

static void
connect_failed(DbConn *db, bool timed_out)
{
	char		why[256];

	if (timed_out)
		snprintf(why, sizeof(why), "timeout expired");
	else if (db->conn == NULL)
		snprintf(why, sizeof(why), "the connection closed during its set-up");
	else
		db_error_line(db->conn, why, sizeof(why));
	db_close(db);
	if (!db->loss_logged)
		log_msg("%s: cannot connect to the database: %s", db->name, why);
	db->loss_logged = true;
	db->backoff = db->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : db->backoff * 2;
}

/* Connect within --connect-timeout and p's deadlines (p may be NULL). */
static bool
connect_within(DbConn *db, Pending *p)
{
	Pending		none;
	double		cap = mono_now() + db->cfg->connect_timeout;
	double		saved;
	bool		timed_out = false;
	bool		ok;

	if (p == NULL)
	{
		pending_init(&none, NULL, 0, cap);
		p = &none;
	}
	saved = p->until;
	p->until = fmin(saved, cap);
	ok = connect_async(db, p, &timed_out) && setup_session(db, p);
	if (!ok && !timed_out && db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
		timed_out = true;		/* the session setup did not finish */
	p->until = saved;
	if (!ok)
		connect_failed(db, timed_out);
	return ok;
}

/*
 * Make sure there is a working connection, connecting if the last attempt
 * is at least min_gap seconds old (DB_RETRY_BACKOFF: the current backoff).
 * The attempt ends when p's deliveries are all answered (p may be NULL).
 */
bool
db_ensure(DbConn *db, double min_gap, Pending *p)
{
	if (db_connected(db))
		return true;
	db_close(db);
	if (mono_now() - db->last_try < (min_gap < 0 ? db->backoff : min_gap))
		return false;
	db->last_try = mono_now();
	if (!connect_within(db, p))
	{
		db->last_try = mono_now();	/* after: connecting may take a while */
		return false;
	}
	db->last_try = mono_now();
	if (db->ever_connected)
	{
		metrics_reconnect();
		log_msg("%s: reconnected to the database", db->name);
	}
	db->ever_connected = true;
	db->loss_logged = false;
	db->backoff = BACKOFF_MIN;
	return true;
}

/* Keep the more telling of two results: the error, else the later one. */
static PGresult *
keep_result(PGresult *kept, PGresult *r)
{
	if (kept != NULL && PQresultStatus(kept) == PGRES_FATAL_ERROR)
	{
		PQclear(r);
		return kept;
	}
	PQclear(kept);
	return r;
}

/* Collect the results of what was sent until the last, or p's wait ends. */
static CallEnd
wait_results(DbConn *db, Pending *p, PGresult **res)
{
	PGconn	   *conn = db->conn;

	*res = NULL;
	for (;;)
	{
		int			unsent = PQflush(conn);

		if (unsent < 0)
			return CALL_LOST;
		if (unsent == 0 && !PQisBusy(conn))
		{
			PGresult   *r = PQgetResult(conn);

			if (r == NULL)
				return PQstatus(conn) == CONNECTION_OK ? CALL_DONE : CALL_LOST;
			*res = keep_result(*res, r);
			continue;
		}
		if (!wait_socket(conn, POLLIN | (unsent ? POLLOUT : 0), p))
			return CALL_TIMED_OUT;
		if (!PQconsumeInput(conn))
			return CALL_LOST;
	}
}

/*
 * The call ran past every deadline: cancel it, and keep the connection only
 * if the call then ends within CANCEL_GRACE.  The jobs were answered already,
 * so a slow PQcancel delays nobody's reply.
 */
static void
abandon_call(DbConn *db)
{
	PGcancel   *cancel = PQgetCancel(db->conn);
	char		err[256];
	Pending		grace;
	PGresult   *res;

	metrics_db_timeout();
	if (cancel == NULL || !PQcancel(cancel, err, sizeof(err)))
		log_msg("%s: cannot cancel the call that ran past its deadline", db->name);
	PQfreeCancel(cancel);
	pending_init(&grace, NULL, 0, mono_now() + CANCEL_GRACE);
	if (wait_results(db, &grace, &res) != CALL_DONE)
	{
		log_msg("%s: the call did not end after a cancel, dropping the connection",
				db->name);
		db_close(db);
	}
	PQclear(res);
}

/*
 * The server takes no writes (25006, or transaction_read_only on): it was
 * fenced, or is a standby after a failover.  Drop the connection, so that the
 * next call connects afresh and, with target_session_attrs=read-write in
 * --db, finds the primary among the hosts.
 */
void
db_forget_read_only(DbConn *db)
{
	if (!db->read_only_logged)
		log_msg("%s: the database takes no writes (read-only or in recovery); "
				"reconnecting for the next call", db->name);
	db->read_only_logged = true;
	db_close(db);
}

/* The connection went away during a call: log it once, drop it. */
void
db_lost(DbConn *db)
{
	if (!db->loss_logged)
	{
		char		why[256];

		db_error_line(db->conn, why, sizeof(why));
		log_msg("%s: lost the database connection: %s", db->name, why);
	}
	db->loss_logged = true;
	db_close(db);
}

/*
 * Wait for the result of the statement just sent, within p.  CALL_DONE: the
 * result (maybe an error; the caller clears it).  CALL_TIMED_OUT: p's wait
 * ended first; the call was cancelled.  CALL_LOST: the connection is gone
 * (and closed).  NULL unless CALL_DONE.
 */
PGresult *
db_call(DbConn *db, Pending *p, CallEnd *end)
{
	PGresult   *res;

	*end = wait_results(db, p, &res);
	if (*end == CALL_DONE)
		return res;
	PQclear(res);
	if (*end == CALL_TIMED_OUT)
		abandon_call(db);
	else
		db_lost(db);
	return NULL;
}

/* Does the database answer SELECT 1 by until?  Once more on a fresh connection. */
bool
db_ping(DbConn *db, double until)
{
	for (int attempt = 0; attempt < 2; attempt++)
	{
		Pending		p;
		PGresult   *res;
		CallEnd		end;
		bool		ok;

		pending_init(&p, NULL, 0, until);
		if (!db_ensure(db, DB_RETRY_NOW, &p))
			return false;
		/* A server that takes no writes (fenced, or a standby) is down for us. */
		if (!PQsendQuery(db->conn, "SELECT pg_catalog.current_setting('transaction_read_only')"))
		{
			db_lost(db);
			continue;
		}
		res = db_call(db, &p, &end);
		ok = end == CALL_DONE && PQresultStatus(res) == PGRES_TUPLES_OK &&
			PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "off") == 0;
		if (end == CALL_DONE && !ok)
			db_forget_read_only(db);
		else if (ok)
			db->read_only_logged = false;
		PQclear(res);
		if (ok || end != CALL_LOST)
			return ok;
	}
	return false;
}

/* The database must be reachable and have the extension; else say why. */
bool
db_check_startup(const ShimConfig *cfg, char **why)
{
	const char *keys[CONNECT_PARAMS];
	const char *values[CONNECT_PARAMS];
	char		timeout[16];
	PGconn	   *conn;
	PGresult   *res;
	char		line[256];
	Buf			b;
	bool		ok;

	connect_params(cfg, keys, values, timeout, sizeof(timeout));
	conn = PQconnectdbParams(keys, values, 1);
	buf_init(&b, 128);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		db_error_line(conn, line, sizeof(line));
		buf_printf(&b, "cannot connect to the database: %s", line);
		PQfinish(conn);
		*why = b.data;
		return false;
	}
	res = PQexec(conn, extension_sql);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		db_error_line(conn, line, sizeof(line));
		buf_printf(&b, "cannot query the database: %s", line);
	}
	else if (!ok)
		buf_printf(&b, "the database \"%s\" does not have the presence extension "
				   "(run CREATE EXTENSION presence)", PQdb(conn));
	PQclear(res);
	PQfinish(conn);
	if (ok)
		buf_free(&b);
	*why = ok ? NULL : b.data;
	return ok;
}
