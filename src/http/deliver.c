/*
 * deliver.c: applying a batch of deliveries: the group-commit call of
 * presence_ingest_batch(), and what happens when it fails as a whole.
 *
 * - A connection found lost is tried once more on a fresh one, within the
 *   deliveries' deadlines: the call may never have reached the server, and
 *   sending it twice is safe (a re-sent delivery is a duplicate).
 * - A transient failure of the whole call (section 5's 503 class: a timeout,
 *   a cancel, lock_timeout, a conflict, an overloaded server) answers every
 *   delivery in it at once with 503.  Trying them again one by one would only
 *   make each wait again.
 * - Any other failure of the whole call may come from one delivery's own
 *   content: each delivery is then applied on its own with presence_ingest(),
 *   within its own deadline, so that it still gets its own outcome.
 *
 * Prepared statement: parsing and planning the batch call was a tenth of the
 * server's work per call, so by default each connection prepares it once.
 * Behind a transaction pooler (pgbouncer pool_mode = transaction) each call
 * may run in another server session, where the statement is missing or
 * already exists: errors in the server log.  --prepare auto (the default)
 * prepares only when the server listens on the port we connected to (no
 * pooler or proxy in between), and stops preparing, process-wide, the
 * first time the statement turns out missing or already there.  --prepare
 * on always prepares (direct connections, session pooling); off never does.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "presence_http.h"

#define BATCH_STATEMENT "presence_http_batch"

/* The entry points, qualified with the extension's schema (db_sql). */
static const char batch_sql[] =
"SELECT ord, items, applied, duplicates, stale, ignored, sqlstate, message "
"FROM %spresence_ingest_batch($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])";

static const char single_sql[] =
"SELECT (r).* FROM %spresence_ingest($1, $2, $3, $4, $5) r";

static PrepareMode prepare_mode;
static atomic_bool churn_seen;	/* auto: a pooler moved our session */

/* Take the --prepare setting. */
void
deliver_init(const ShimConfig *cfg)
{
	prepare_mode = cfg->prepare;
}

static const char *
result_state(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return s ? s : "";
}

static bool
want_prepared(const DbConn *db)
{
	if (prepare_mode == PREPARE_OFF)
		return false;
	if (prepare_mode == PREPARE_ON)
		return true;
	return !db->via_proxy && !atomic_load(&churn_seen);
}

/* The statement was missing or already there: a pooler moved the session? */
static void
note_churn(DbConn *db, const char *what, const char *state)
{
	db->batch_prepared = false;
	if (prepare_mode != PREPARE_AUTO || atomic_exchange(&churn_seen, true))
		return;
	log_msg("%s: the prepared batch statement %s (sqlstate %s), as behind a "
			"transaction pooler: sending the batch call unprepared from now on",
			db->name, what, state);
}

/* The result of what PQsend*() sent (sent: its return value), within p. */
static PGresult *
await_sent(DbConn *db, Pending *p, int sent, CallEnd *end)
{
	if (sent)
		return db_call(db, p, end);
	db_lost(db);
	*end = CALL_LOST;
	return NULL;
}

/* Prepare once per connection.  False: send the call unprepared. */
static bool
prepare_batch(DbConn *db, Pending *p, CallEnd *end)
{
	PGresult   *res;
	char		sql[DB_SQL_MAX];

	if (db->batch_prepared)
		return true;
	res = await_sent(db, p, PQsendPrepare(db->conn, BATCH_STATEMENT,
										  db_sql(db, sql, sizeof(sql), batch_sql), 5, NULL),
					 end);
	if (*end == CALL_DONE && PQresultStatus(res) == PGRES_COMMAND_OK)
		db->batch_prepared = true;
	else if (*end == CALL_DONE && strcmp(result_state(res), "42P05") == 0)
	{
		if (prepare_mode == PREPARE_ON)
			db->batch_prepared = true;	/* it is there: use it */
		else
			note_churn(db, "already exists", "42P05");
	}
	PQclear(res);
	return db->batch_prepared;
}

/*
 * Did the prepared statement itself fail: gone from the session (26000) or
 * no longer of its result type (0A000, "cached plan must not change result
 * type", after an upgrade)?  Then forget it and say so.
 */
static bool
statement_failed(DbConn *db, Pending *p, const PGresult *res, CallEnd *end)
{
	const char *state = result_state(res);

	if (strcmp(state, "26000") == 0)
	{
		note_churn(db, "does not exist", state);
		return true;
	}
	if (strcmp(state, "0A000") != 0)
		return false;
	db->batch_prepared = false;
	PQclear(await_sent(db, p, PQsendQuery(db->conn, "DEALLOCATE " BATCH_STATEMENT), end));
	return true;
}

/* Send the batch call, prepared when wanted; its result within p. */
static PGresult *
send_batch(DbConn *db, Pending *p, const char **params, CallEnd *end)
{
	char		sql[DB_SQL_MAX];

	*end = CALL_DONE;
	if (want_prepared(db) && prepare_batch(db, p, end))
	{
		PGresult   *res = await_sent(db, p,
								PQsendQueryPrepared(db->conn, BATCH_STATEMENT, 5,
													params, NULL, NULL, 0),
								end);

		if (*end != CALL_DONE || !statement_failed(db, p, res, end))
			return res;
		PQclear(res);
	}
	if (*end != CALL_DONE)
		return NULL;
	return await_sent(db, p, PQsendQueryParams(db->conn, db_sql(db, sql, sizeof(sql), batch_sql),
											   5, NULL, params, NULL, NULL, 0), end);
}

/* One text[] literal holding field k of every live job. */
static void
build_array(Buf *b, const Pending *p, const int *slot, int m, int k)
{
	buf_put(b, "{", 1);
	for (int i = 0; i < m; i++)
	{
		const Job  *job = p->jobs[slot[i]];
		const char *v[5] = {job->body, job->nonce, job->sign_ts,
		job->signature, job->app_key};

		if (i > 0)
			buf_put(b, ",", 1);
		buf_array_element(b, v[k]);
	}
	buf_put(b, "}", 1);
}

static const char *
field(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* Hand each row of presence_ingest_batch() to the delivery it names. */
static void
take_batch_rows(const PGresult *res, Pending *p, const int *slot, int m)
{
	for (int r = 0; r < PQntuples(res); r++)
	{
		const char *ord_s = field(res, r, 0);
		long		ord = ord_s ? strtol(ord_s, NULL, 10) : 0;
		Job		   *job;

		if (ord < 1 || ord > m || (job = p->jobs[slot[ord - 1]]) == NULL ||
			job->status != 0)
			continue;
		if (field(res, r, 6) == NULL)
			job_set_counts(job, field(res, r, 1), field(res, r, 2),
						   field(res, r, 3), field(res, r, 4), field(res, r, 5));
		else
			job_set_error(job, field(res, r, 6), field(res, r, 7));
		pending_finish(p, slot[ord - 1]);
	}
}

/* presence_ingest()'s answer for one delivery. */
static void
single_outcome(Job *job, const PGresult *res)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		job_set_error(job, result_state(res),
					  PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
	else if (PQntuples(res) != 1)
		job_set_error(job, "XX000", "presence_ingest returned no row");
	else
		job_set_counts(job, field(res, 0, 0), field(res, 0, 1), field(res, 0, 2),
					   field(res, 0, 3), field(res, 0, 4));
}

/* Apply job i on its own with presence_ingest(), within its deadline. */
static void
ingest_one(DbConn *db, Pending *p, int i)
{
	Job		   *job = p->jobs[i];
	PGresult   *res = NULL;
	CallEnd		end = CALL_LOST;

	p->focus = i;
	if (db_ensure(db, DB_RETRY_EAGER, p) && p->jobs[i] != NULL)
	{
		const char *params[5] = {job->body, job->nonce, job->sign_ts,
		job->signature, job->app_key};
		char		sql[DB_SQL_MAX];

		res = await_sent(db, p, PQsendQueryParams(db->conn,
												  db_sql(db, sql, sizeof(sql), single_sql),
												  5, NULL, params, NULL, NULL, 0), &end);
	}
	if (p->jobs[i] != NULL && end == CALL_DONE)
	{
		single_outcome(job, res);
		if (strcmp(result_state(res), "25006") == 0)
			db_forget_read_only(db);
	}
	else if (p->jobs[i] != NULL)
		job_set_unavailable(job, NULL);
	PQclear(res);
	pending_finish(p, i);
	p->focus = PENDING_ALL;
}

/* Every delivery still without an outcome, one call each. */
static void
ingest_each(DbConn *db, Pending *p)
{
	for (int i = 0; i < p->n; i++)
	{
		pending_next(p, mono_now());
		if (p->jobs[i] != NULL)
			ingest_one(db, p, i);
	}
}

/* Every delivery still held gets the same (transient) error. */
static void
answer_all(Pending *p, const char *state, const char *message)
{
	for (int i = 0; i < p->n; i++)
		if (p->jobs[i] != NULL)
		{
			job_set_error(p->jobs[i], state, message);
			pending_finish(p, i);
		}
}

/* The call came back: rows, a transient failure, or one to try one by one. */
static void
batch_outcome(DbConn *db, Pending *p, const PGresult *res, const int *slot,
			  int m, IngestEnd *e)
{
	const char *state = result_state(res);

	if (PQresultStatus(res) == PGRES_TUPLES_OK)
	{
		e->succeeded = true;
		take_batch_rows(res, p, slot, m);
		ingest_each(db, p);		/* any the batch left out */
		return;
	}
	if (strcmp(state, "25006") == 0)
	{
		/* Refused before anything was read: once more on a fresh connection. */
		db_forget_read_only(db);
		(void) db_ensure(db, DB_RETRY_NOW, p);
		ingest_each(db, p);
		return;
	}
	if (http_status_for_sqlstate(state) == 503)
	{
		e->stalled = strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0 ||
			strncmp(state, "53", 2) == 0;
		answer_all(p, state, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		return;
	}
	log_msg("%s: batch of %d failed (sqlstate %s), applying one by one",
			db->name, p->left, state[0] ? state : "none");
	ingest_each(db, p);
}

/* One batch call for the live jobs of p. */
static CallEnd
batch_attempt(DbConn *db, Pending *p, IngestEnd *e)
{
	Buf			arrays[5];
	const char *params[5];
	int		   *slot = xcalloc((size_t) p->n, sizeof(int));
	int			m = 0;
	PGresult   *res;
	CallEnd		end;

	for (int i = 0; i < p->n; i++)
		if (p->jobs[i] != NULL)
			slot[m++] = i;
	for (int k = 0; k < 5; k++)
	{
		buf_init(&arrays[k], k == 0 ? 256 : 64);
		build_array(&arrays[k], p, slot, m, k);
		params[k] = arrays[k].data;
	}
	res = send_batch(db, p, params, &end);
	e->reached |= end != CALL_LOST;	/* answered, or held until the deadline */
	if (end == CALL_TIMED_OUT)
		e->stalled = true;
	else if (end == CALL_DONE)
		batch_outcome(db, p, res, slot, m, e);
	PQclear(res);
	for (int k = 0; k < 5; k++)
		buf_free(&arrays[k]);
	free(slot);
	return end;
}

/*
 * Apply a batch of deliveries in one call (one transaction), each answered
 * (its done() called) by the time this returns: with its outcome, or 503
 * once its deadline passes or when the database cannot be asked.
 */
IngestEnd
db_ingest(DbConn *db, Job **jobs, int n)
{
	IngestEnd	e = {false, false, false};
	Pending		p;

	pending_init(&p, jobs, n, HUGE_VAL);
	for (int attempt = 0; attempt < 2; attempt++)
	{
		if (pending_next(&p, mono_now()) == 0 ||
			!db_ensure(db, DB_RETRY_EAGER, &p))
			break;
		if (batch_attempt(db, &p, &e) != CALL_LOST)
			break;
	}
	pending_finish_all(&p);
	return e;
}
