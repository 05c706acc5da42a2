/*
 * db.c: presence-http's database side: connections that come back by
 * themselves after an outage, the group-commit call of
 * presence_ingest_batch() with its per-delivery fallback to presence_ingest(),
 * the health probe and the start-up check.
 *
 * Every call is a single statement in autocommit mode, so when it returns
 * successfully its transaction has committed.  Values reach the server only as
 * parameters, never spliced into SQL.
 */
#include <stdlib.h>
#include <string.h>

#include "presence_http.h"

#define BACKOFF_MIN 0.05
#define BACKOFF_MAX 2.0

#define BATCH_STATEMENT "presence_http_batch"

static const char batch_sql[] =
"SELECT ord, items, applied, duplicates, stale, ignored, sqlstate, message "
"FROM presence_ingest_batch($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])";

static const char single_sql[] =
"SELECT (r).* FROM presence_ingest($1, $2, $3, $4, $5) r";

static const char extension_sql[] =
"SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'presence'";

/*
 * Open a connection.  Our defaults come before the user's conninfo so that it
 * can override them, except client_encoding: bodies are UTF-8.
 */
static PGconn *
connect_db(const char *conninfo)
{
	const char *const keys[] = {
		"connect_timeout", "fallback_application_name", "dbname",
		"client_encoding", NULL
	};
	const char *const values[] = {
		"10", "presence-http", conninfo ? conninfo : "", "UTF8", NULL
	};

	return PQconnectdbParams(keys, values, 1);
}

/* The last line of libpq's error message, without the newline. */
static void
error_line(PGconn *conn, char *out, size_t size)
{
	const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
	size_t		len = strcspn(msg, "\n");

	if (len >= size)
		len = size - 1;
	memcpy(out, msg, len);
	out[len] = '\0';
}

void
db_init(DbConn *db, const char *conninfo, const char *name)
{
	memset(db, 0, sizeof(*db));
	db->conninfo = conninfo;
	db->name = name;
	db->backoff = BACKOFF_MIN;
	db->last_try = -1e9;
}

bool
db_connected(DbConn *db)
{
	return db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK;
}

double
db_next_try(const DbConn *db)
{
	return db->last_try + db->backoff;
}

void
db_close(DbConn *db)
{
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
	db->batch_prepared = false;
}

static void
connect_failed(DbConn *db)
{
	char		why[256];

	error_line(db->conn, why, sizeof(why));
	db_close(db);
	if (!db->loss_logged)
		log_msg("%s: cannot connect to the database: %s", db->name, why);
	db->loss_logged = true;
	db->backoff = db->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : db->backoff * 2;
}

/*
 * Make sure there is a working connection, connecting if the last attempt
 * is at least min_gap seconds old (DB_RETRY_BACKOFF: the current backoff).
 */
bool
db_ensure(DbConn *db, double min_gap)
{
	double		now = mono_now();

	if (db_connected(db))
		return true;
	db_close(db);
	if (now - db->last_try < (min_gap < 0 ? db->backoff : min_gap))
		return false;
	db->conn = connect_db(db->conninfo);
	db->last_try = mono_now();	/* after: connecting may take a while */
	if (!db_connected(db))
	{
		connect_failed(db);
		return false;
	}
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

/* After a failed statement: was the connection lost?  Then drop it. */
static bool
connection_lost(DbConn *db)
{
	if (PQstatus(db->conn) == CONNECTION_OK)
		return false;
	if (!db->loss_logged)
	{
		char		why[256];

		error_line(db->conn, why, sizeof(why));
		log_msg("%s: lost the database connection: %s", db->name, why);
	}
	db->loss_logged = true;
	db_close(db);
	return true;
}

static void
set_error_from_result(Job *job, PGconn *conn, PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	char		line[256];

	if (msg == NULL)
	{
		error_line(conn, line, sizeof(line));
		msg = line;
	}
	job_set_error(job, state, msg);
}

/* Apply one delivery on its own with presence_ingest(). */
static void
ingest_one(DbConn *db, Job *job)
{
	const char *params[5];
	PGresult   *res;

	if (!db_ensure(db, DB_RETRY_EAGER))
	{
		job_set_unavailable(job, NULL);
		return;
	}
	params[0] = job->body;
	params[1] = job->nonce;
	params[2] = job->sign_ts;
	params[3] = job->signature;
	params[4] = job->app_key;
	res = PQexecParams(db->conn, single_sql, 5, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		job_set_counts(job,
					   PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0),
					   PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1),
					   PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2),
					   PQgetisnull(res, 0, 3) ? NULL : PQgetvalue(res, 0, 3),
					   PQgetisnull(res, 0, 4) ? NULL : PQgetvalue(res, 0, 4));
	else if (PQresultStatus(res) == PGRES_TUPLES_OK)
		job_set_error(job, "XX000", "presence_ingest returned no row");
	else if (connection_lost(db))
		job_set_unavailable(job, NULL);
	else
		set_error_from_result(job, db->conn, res);
	PQclear(res);
}

/* Every delivery that has no outcome yet, one call each. */
static void
ingest_each(DbConn *db, Job **jobs, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (jobs[i]->status == 0)
			ingest_one(db, jobs[i]);
}

/* One text[] literal holding field k of every job. */
static void
build_array(Buf *b, Job **jobs, int n, int k)
{
	int			i;

	buf_put(b, "{", 1);
	for (i = 0; i < n; i++)
	{
		const char *v[5] = {jobs[i]->body, jobs[i]->nonce, jobs[i]->sign_ts,
		jobs[i]->signature, jobs[i]->app_key};

		if (i > 0)
			buf_put(b, ",", 1);
		buf_array_element(b, v[k]);
	}
	buf_put(b, "}", 1);
}

/*
 * Prepare the batch statement once per connection: parsing, analysing and
 * planning it was a tenth of the server's work per call.  False when it
 * cannot be prepared; the statement is then sent unprepared, so that a
 * problem (a missing extension, say) is reported by the call itself.
 */
static bool
prepare_batch(DbConn *db)
{
	PGresult   *res;

	if (!db->batch_prepared)
	{
		res = PQprepare(db->conn, BATCH_STATEMENT, batch_sql, 5, NULL);
		db->batch_prepared = PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
	}
	return db->batch_prepared;
}

/*
 * Did the prepared statement itself fail: gone from the session (26000, as
 * after a pooler's DISCARD ALL) or no longer of its result type (0A000,
 * "cached plan must not change result type", after an upgrade)?
 */
static bool
prepared_statement_failed(PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return state != NULL &&
		(strcmp(state, "26000") == 0 || strcmp(state, "0A000") == 0);
}

/* Forget the prepared statement; it is prepared again on the next call. */
static void
unprepare_batch(DbConn *db)
{
	PQclear(PQexec(db->conn, "DEALLOCATE " BATCH_STATEMENT));
	db->batch_prepared = false;
}

static PGresult *
exec_batch(DbConn *db, Job **jobs, int n)
{
	Buf			arrays[5];
	const char *params[5];
	PGresult   *res = NULL;
	int			k;

	for (k = 0; k < 5; k++)
	{
		buf_init(&arrays[k], k == 0 ? 256 : 64);
		build_array(&arrays[k], jobs, n, k);
		params[k] = arrays[k].data;
	}
	if (prepare_batch(db))
	{
		res = PQexecPrepared(db->conn, BATCH_STATEMENT, 5, params, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_FATAL_ERROR && prepared_statement_failed(res) &&
			PQstatus(db->conn) == CONNECTION_OK)
		{
			PQclear(res);
			res = NULL;
			unprepare_batch(db);
		}
	}
	if (res == NULL)
		res = PQexecParams(db->conn, batch_sql, 5, NULL, params, NULL, NULL, 0);
	for (k = 0; k < 5; k++)
		buf_free(&arrays[k]);
	return res;
}

static const char *
field(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* Hand each row of presence_ingest_batch() to the delivery it names. */
static void
take_batch_rows(PGresult *res, Job **jobs, int n)
{
	int			rows = PQntuples(res);
	int			r;

	for (r = 0; r < rows; r++)
	{
		const char *ord_s = field(res, r, 0);
		long		ord = ord_s ? strtol(ord_s, NULL, 10) : 0;
		Job		   *job;

		if (ord < 1 || ord > n || jobs[ord - 1]->status != 0)
			continue;
		job = jobs[ord - 1];
		if (field(res, r, 6) == NULL)
			job_set_counts(job, field(res, r, 1), field(res, r, 2),
						   field(res, r, 3), field(res, r, 4), field(res, r, 5));
		else
			job_set_error(job, field(res, r, 6), field(res, r, 7));
	}
}

/*
 * Apply a batch of deliveries in one call (one transaction).  If the call as
 * a whole fails (lost connection, deadlock, serialization failure, ...), each
 * delivery is applied on its own so that it still gets its own outcome; a
 * delivery the database cannot be asked about gets 503.
 */
void
db_ingest(DbConn *db, Job **jobs, int n)
{
	PGresult   *res;

	if (!db_ensure(db, DB_RETRY_EAGER))
	{
		for (int i = 0; i < n; i++)
			job_set_unavailable(jobs[i], NULL);
		return;
	}
	res = exec_batch(db, jobs, n);
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		take_batch_rows(res, jobs, n);
	else if (!connection_lost(db))
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		log_msg("%s: batch of %d failed (sqlstate %s), applying one by one",
				db->name, n, state ? state : "none");
	}
	PQclear(res);
	ingest_each(db, jobs, n);	/* all of them, or any the batch left out */
}

/* Does the database answer?  Retries once on a fresh connection. */
bool
db_ping(DbConn *db)
{
	int			attempt;

	for (attempt = 0; attempt < 2; attempt++)
	{
		PGresult   *res;
		bool		ok;

		if (!db_ensure(db, DB_RETRY_NOW))
			return false;
		res = PQexec(db->conn, "SELECT 1");
		ok = PQresultStatus(res) == PGRES_TUPLES_OK;
		if (!ok && !connection_lost(db))
			attempt = 2;		/* answered, but with an error: no retry */
		PQclear(res);
		if (ok)
			return true;
	}
	return false;
}

/* The database must be reachable and have the extension; else say why. */
bool
db_check_startup(const char *conninfo, char **why)
{
	PGconn	   *conn = connect_db(conninfo);
	PGresult   *res;
	char		line[256];
	Buf			b;
	bool		ok;

	buf_init(&b, 128);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		error_line(conn, line, sizeof(line));
		buf_printf(&b, "cannot connect to the database: %s", line);
		PQfinish(conn);
		*why = b.data;
		return false;
	}
	res = PQexec(conn, extension_sql);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		error_line(conn, line, sizeof(line));
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
