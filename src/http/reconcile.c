/*
 * reconcile.c: the ghost-session reconcile loop of presence-http
 * (doc/rules.md section 11), run only with --provider-url.
 *
 * One thread with its own database connection: every --reconcile-every it
 * reads presence.suspects(--reconcile-idle, SUSPECTS_MAX), asks the
 * provider about each suspect (provider.c) at most --reconcile-rate times a
 * second, and for each well-formed "not online" answer calls
 * presence_reconcile(user, false, checked_at) with checked_at the time the
 * request was sent, so a connect that arrives after the check still wins.
 * Any other answer changes nothing, is counted in /metrics, and doubles the
 * wait before the next round (up to BACKOFF_FACTOR x --reconcile-every).
 * The thread shares nothing with the webhook path but the log and the
 * metrics, and stops at its next wait, or its current request, on SIGTERM.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "presence_http.h"

/* Users asked about per round at most. */
#define SUSPECTS_MAX 1000

/* The wait between rounds grows to this many times --reconcile-every. */
#define BACKOFF_FACTOR 10.0

/* A round ends early after this many transport errors or timeouts in a row. */
#define MAX_FAILURES_IN_A_ROW 3

/*
 * Statements for query(): a %s stands before an entry point's name, for the
 * extension's schema (db_sql); presence.suspects() is in schema presence.
 */
static const char suspects_sql[] =
"SELECT user_id FROM presence.suspects($1::interval, $2::integer)";

static const char bind_sql[] =
"SELECT presence.bind_outgoing_signature($1, $2, $3)";

static const char reconcile_sql[] =
"SELECT (r).applied FROM %spresence_reconcile($1, false, $2::timestamptz) r";

static struct
{
	pthread_t	thread;
	bool		started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool		stop;
	const ShimConfig *cfg;
	DbConn		db;
	Provider   *provider;
	double		last_sent;		/* mono_now() of the last provider request */
}			r = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The tally of one round, for its log line. */
typedef struct Round
{
	int			suspects;
	int			answers[N_PROVIDER_ANSWERS];
	int			ended;			/* sessions presence_reconcile() ended */
	int			db_errors;
} Round;

static bool
stopping(void)
{
	bool		s;

	pthread_mutex_lock(&r.lock);
	s = r.stop;
	pthread_mutex_unlock(&r.lock);
	return s;
}

/* Sleep until mono_now() time at; false if told to stop first. */
static bool
sleep_until(double at)
{
	struct timespec ts = mono_timespec(at);
	bool		go;

	pthread_mutex_lock(&r.lock);
	while (!r.stop && mono_now() < at)
		pthread_cond_timedwait(&r.wake, &r.lock, &ts);
	go = !r.stop;
	pthread_mutex_unlock(&r.lock);
	return go;
}

/* Send fmt (see db_sql) with params on the reconcile connection; NULL if it failed. */
static PGresult *
query(const char *fmt, int n, const char *const *params)
{
	Pending		p;
	CallEnd		end;
	PGresult   *res;
	char		sql[DB_SQL_MAX];

	pending_init(&p, NULL, 0, mono_now() + r.cfg->db_timeout);
	if (!db_ensure(&r.db, DB_RETRY_BACKOFF, &p))
		return NULL;
	if (!PQsendQueryParams(r.db.conn, db_sql(&r.db, sql, sizeof(sql), fmt), n, NULL, params,
						   NULL, NULL, 0))
	{
		db_lost(&r.db);
		return NULL;
	}
	res = db_call(&r.db, &p, &end);
	if (end != CALL_DONE)
		return NULL;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		log_msg("reconcile: query failed: sqlstate=%s",
				PQresultErrorField(res, PG_DIAG_SQLSTATE) ?
				PQresultErrorField(res, PG_DIAG_SQLSTATE) : "?");
		PQclear(res);
		return NULL;
	}
	return res;
}

/* The suspects of this round, or NULL if the database cannot say. */
static PGresult *
fetch_suspects(void)
{
	char		idle[32];
	char		max[16];
	const char *params[2] = {idle, max};

	snprintf(idle, sizeof(idle), "%.3f seconds", r.cfg->reconcile_idle);
	snprintf(max, sizeof(max), "%d", SUSPECTS_MAX);
	return query(suspects_sql, 2, params);
}

/*
 * The provider hook: bind an outgoing request's triple in the database, so it
 * can never pass as a webhook's signature (same secret, same formula).
 */
static bool
bind_request(const char *nonce, const char *timestamp, const char *signature)
{
	const char *params[3] = {nonce, timestamp, signature};
	PGresult   *res = query(bind_sql, 3, params);

	if (res == NULL)
		return false;
	PQclear(res);
	return true;
}

/* The provider said user is not online at checked_at: end its ghosts. */
static void
apply_offline(const char *user, const char *checked_at, Round *round)
{
	const char *params[2] = {user, checked_at};
	PGresult   *res = query(reconcile_sql, 2, params);

	if (res == NULL)
	{
		round->db_errors++;
		return;
	}
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		round->ended += atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
}

/* Ask about one suspect, no sooner than 1/rate after the last request. */
static ProviderAnswer
check_one(const char *user, Round *round)
{
	char		checked_at[40];
	int			http_status;
	ProviderAnswer a;

	if (!sleep_until(r.last_sent + 1.0 / r.cfg->reconcile_rate))
		return ANSWER_ERROR;
	r.last_sent = mono_now();
	utc_now_iso(checked_at, sizeof(checked_at));
	a = provider_check(r.provider, user, &http_status);
	if (stopping())
		return ANSWER_ERROR;	/* aborted: neither counted nor applied */
	round->answers[a]++;
	metrics_reconcile((int) a);
	if (a == ANSWER_OFFLINE)
		apply_offline(user, checked_at, round);
	else if (a != ANSWER_ONLINE && round->answers[a] == 1)
		log_msg("reconcile: provider answer %s (http status %d)",
				provider_answer_name(a), http_status);
	return a;
}

/* One round; true if every answer was well-formed. */
static bool
run_round(void)
{
	PGresult   *res = fetch_suspects();
	Round		round = {0};
	int			in_a_row = 0;
	bool		clean;

	if (res == NULL)
	{
		log_msg("reconcile: round skipped: cannot read presence.suspects()");
		return false;
	}
	round.suspects = PQntuples(res);
	for (int i = 0; i < round.suspects && !stopping(); i++)
	{
		ProviderAnswer a = check_one(PQgetvalue(res, i, 0), &round);

		in_a_row = (a == ANSWER_ERROR || a == ANSWER_TIMEOUT) ? in_a_row + 1 : 0;
		if (in_a_row >= MAX_FAILURES_IN_A_ROW)
			break;
	}
	PQclear(res);
	clean = round.answers[ANSWER_ERROR] + round.answers[ANSWER_TIMEOUT] +
		round.answers[ANSWER_BAD_ANSWER] == 0;
	log_msg("reconcile: round suspects=%d offline=%d online=%d error=%d "
			"timeout=%d bad_answer=%d sessions_ended=%d db_errors=%d",
			round.suspects, round.answers[ANSWER_OFFLINE],
			round.answers[ANSWER_ONLINE], round.answers[ANSWER_ERROR],
			round.answers[ANSWER_TIMEOUT], round.answers[ANSWER_BAD_ANSWER],
			round.ended, round.db_errors);
	return clean && round.db_errors == 0;
}

static void *
reconcile_main(void *arg)
{
	double		every = r.cfg->reconcile_every;
	double		wait = every;

	(void) arg;
	while (sleep_until(mono_now() + wait))
	{
		if (run_round())
			wait = every;
		else
			wait = wait * 2 > every * BACKOFF_FACTOR ? every * BACKOFF_FACTOR : wait * 2;
	}
	db_close(&r.db);
	return NULL;
}

/* Start the reconcile thread if --provider-url is set; false on failure. */
bool
reconcile_start(const ShimConfig *cfg)
{
	if (cfg->provider_url == NULL)
		return true;
	cond_init_monotonic(&r.wake);
	r.cfg = cfg;
	r.last_sent = -1e9;
	db_init(&r.db, cfg, "reconcile");
	r.provider = provider_open(cfg, stopping);
	if (r.provider == NULL)
	{
		log_msg("reconcile: cannot set up the HTTP client");
		return false;
	}
	provider_set_bind(r.provider, bind_request);
	metrics_reconcile(-1);
	if (pthread_create(&r.thread, NULL, reconcile_main, NULL) != 0)
		return false;
	r.started = true;
	log_msg("reconcile: on, provider api %s, idle %.0f s, every %.1f s, rate %d/s",
			cfg->provider_api == PROVIDER_API_V4 ? "v4" : "legacy",
			cfg->reconcile_idle, cfg->reconcile_every, cfg->reconcile_rate);
	return true;
}

/* Stop the reconcile thread (its request in flight is aborted) and wait. */
void
reconcile_stop(void)
{
	if (!r.started)
		return;
	pthread_mutex_lock(&r.lock);
	r.stop = true;
	pthread_cond_broadcast(&r.wake);
	pthread_mutex_unlock(&r.lock);
	pthread_join(r.thread, NULL);
	provider_close(r.provider);
	r.started = false;
}
