/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Prune the items older than the retention horizon, user by user, and
 *	  fold what they decided into presence.folded_sessions and
 *	  presence.folded_users.
 *
 * presence.maintain() moves the horizon to now() - presence.retention and
 * calls presence.prune_users() for batches of users, committing after each,
 * so that no user's row is locked for more than a moment.  For each user,
 * under the same row lock ingest takes:
 *
 *   - a session still online by its items older than the horizon keeps
 *	   what they said (started_at, os, client_ip) in folded_sessions;
 *   - a session ended by them is cut at the horizon: its items older than
 *	   the horizon are forgotten, and the session is what its newer items
 *	   make it (the session rules applied to them alone), or is removed
 *	   when it has none;
 *   - the user's greatest "0" time and greatest "1"/"2" item go into
 *	   folded_users, so that presence.users keeps its last_* times and
 *	   logged_out, and presence.check() stays exact.
 *
 * Both choices depend only on the items older than the horizon, never on
 * when they arrived, so the same items end in the same rows whether
 * maintain() ran before or after the newer ones arrived.  The rows are
 * rebuilt with session_rules.c, the one place the state rules live, and the
 * user's fold with its users rule (users_note_item).
 *
 * The user's lock and its session rows go through the store, as ingest's do
 * (store_lock_user, store_read_session, store_write_session,
 * store_remove_session, within store_begin .. store_end), so the users rule
 * follows each change as it does for ingest.  The folds, the reading of a
 * user's items and their deletion are statements, the natural tool for
 * them: SPI, prepared once under a pinned search_path (plans.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "utils/datetime.h"

#include "plans.h"
#include "presence.h"
#include "session_rules.h"
#include "store.h"
#include "version.h"

PG_FUNCTION_INFO_V1(presence_prune_users);

/*
 * Does s read as a non-negative interval, as interval_in would read it?
 * Built from the routines interval_in uses, which report problems instead
 * of raising them, since a GUC check hook must not raise.  When it does and
 * ms is not NULL, *ms is its length in milliseconds (a month as 30 days).
 */
bool
interval_parse_ms(const char *s, int64 *ms)
{
	char		workbuf[256];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype = 0;
	int			dterr;
	struct pg_itm_in itm_in;
	Interval	span;

	if (s == NULL)
		return false;
	dterr = ParseDateTime(s, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf);
	if (dterr == 0)
		dterr = DecodeInterval(field, ftype, nf, INTERVAL_FULL_RANGE, &dtype, &itm_in);
	if (dterr == DTERR_BAD_FORMAT)
		dterr = DecodeISO8601Interval(unconstify(char *, s), &dtype, &itm_in);
	if (dterr != 0 || dtype != DTK_DELTA || itmin2interval(&itm_in, &span) != 0)
		return false;
	if (span.month < 0 || span.day < 0 || span.time < 0)
		return false;
	if (ms != NULL)
		*ms = span.time / 1000 +
			((int64) span.month * DAYS_PER_MONTH + span.day) * SECS_PER_DAY * 1000;
	return true;
}

/* Does s read as a non-negative interval?  Raises no error (a GUC check). */
bool
retention_parse(const char *s)
{
	return interval_parse_ms(s, NULL);
}

/* One item of presence.events, as pruning reads it. */
typedef struct PrunedItem
{
	char	   *session_id;
	RuleItem	rule;
} PrunedItem;

/* What one call removed. */
typedef struct PruneCounts
{
	int64		items;
	int64		sessions;
} PruneCounts;

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

static char *
column_text(HeapTuple row, TupleDesc desc, int col)
{
	return SPI_getvalue(row, desc, col);
}

static TimestampTz
column_time(HeapTuple row, TupleDesc desc, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(row, desc, col, isnull);

	return *isnull ? 0 : DatumGetTimestampTz(d);
}

/* The next max_users users after after_user that have items older than horizon. */
static int
next_users(const char *after_user, TimestampTz horizon, int max_users, char ***users)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TIMESTAMPTZOID, INT4OID};
	Datum		values[] = {CStringGetTextDatum(after_user), TimestampTzGetDatum(horizon),
	Int32GetDatum(max_users)};
	int			n;

	/*
	 * Walk presence.users in key order and probe each user's items: the
	 * LIMIT 1 keeps the probe a nested loop, so a batch costs its users'
	 * items, never a pass over the whole of presence.events.
	 */
	plan_execute(plan_cached(&plan,
					  "SELECT u.user_id FROM presence.users u "
					  "CROSS JOIN LATERAL (SELECT 1 FROM presence.events e "
					  "WHERE e.user_id = u.user_id AND e.status_time < $2 LIMIT 1) old "
					  "WHERE u.user_id > $1 ORDER BY u.user_id LIMIT $3", lengthof(types), types),
				 values, lengthof(values), NULL, 0);
	n = (int) SPI_processed;
	*users = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		(*users)[i] = column_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	return n;
}

/*
 * What the user's pruned items decided (its row of presence.folded_users), as
 * the users rule keeps it: last_online_at, last_offline_at and whether the
 * item there is a "2" (users_note_item, the one copy of the rule).
 */
static void
read_user_fold(Datum user_id, UserRow *fold)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID};
	Datum		values[] = {user_id};
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;
	char	   *status;

	memset(fold, 0, sizeof(UserRow));
	plan_execute(plan_cached_replanned(&plan,
					  "SELECT f.last_online_at, f.last_offline_at, f.last_end_status "
					  "FROM presence.folded_users f WHERE f.user_id = $1", lengthof(types), types),
				 values, lengthof(values), NULL, 0);
	if (SPI_processed == 0)
		return;
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	fold->last_online_at = column_time(row, desc, 1, &isnull);
	fold->has_online_at = !isnull;
	fold->last_offline_at = column_time(row, desc, 2, &isnull);
	status = column_text(row, desc, 3);
	fold->has_offline_at = !isnull && status != NULL;
	if (fold->has_offline_at)
	{
		ItemStatus	end;

		if (!item_status_from_text(status, &end) || end == ITEM_CONNECTED)
			elog(ERROR, "presence: a user's fold has the status \"%s\"", status);
		fold->last_offline_logout = end == ITEM_LOGGED_OUT;
	}
}

/*
 * Run a fold's upsert (sql, its argument types) with the values built, i of
 * them, which must be one per argument.
 */
static void
upsert_fold(SPIPlanPtr *plan, const Oid *types, int ntypes, Datum *values, bool *isnull,
			int nvalues, const char *sql)
{
	Assert(nvalues == ntypes);
	plan_execute(plan_cached(plan, sql, ntypes, types), values, nvalues, isnull, 0);
}

static void
write_user_fold(Datum user_id, const UserRow *fold)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[lengthof(types)];
	bool		isnull[lengthof(types)] = {false};
	int			i = 0;

	values[i++] = user_id;
	isnull[i] = !fold->has_online_at;
	values[i++] = TimestampTzGetDatum(fold->last_online_at);
	isnull[i] = !fold->has_offline_at;
	values[i++] = TimestampTzGetDatum(fold->last_offline_at);
	isnull[i] = !fold->has_offline_at;
	values[i++] = CStringGetTextDatum(item_status_text(fold->last_offline_logout
													   ? ITEM_LOGGED_OUT : ITEM_DISCONNECTED));
	upsert_fold(&plan, types, lengthof(types), values, isnull, i,
				"INSERT INTO presence.folded_users AS f "
				"(user_id, last_online_at, last_offline_at, last_end_status) "
				"VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET "
				"last_online_at = excluded.last_online_at, "
				"last_offline_at = excluded.last_offline_at, "
				"last_end_status = excluded.last_end_status");
}

/* The user's items, by session and in (time, status) order. */
static PrunedItem *
read_items(Datum user_id, int *n)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID};
	Datum		values[] = {user_id};
	PrunedItem *items;

	plan_execute(plan_cached(&plan,
					  "SELECT e.session_id, e.status_time, e.status, e.os, e.client_ip "
					  "FROM presence.events e WHERE e.user_id = $1 "
					  "ORDER BY e.session_id, e.status_time, e.status", lengthof(types), types),
				 values, lengthof(values), NULL, 0);
	*n = (int) SPI_processed;
	items = palloc(sizeof(PrunedItem) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		PrunedItem *p = &items[i];

		p->session_id = column_text(row, desc, 1);
		p->rule.time = column_time(row, desc, 2, &isnull);
		if (!item_status_from_text(column_text(row, desc, 3), &p->rule.status))
			elog(ERROR, "presence: a pruned item has no valid status");
		p->rule.anonymous = p->session_id[0] == '\0';
		p->rule.os = column_text(row, desc, 4);
		p->rule.client_ip = column_text(row, desc, 5);
	}
	return items;
}

/*
 * The session's fold kept from earlier pruning, as the one item it stands
 * for: a connect at started_at with its os and client_ip.  False when none.
 */
static bool
read_session_fold(Datum user_id, const char *session_id, RuleItem *seed)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TEXTOID};
	Datum		values[] = {user_id, CStringGetTextDatum(session_id)};
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;

	plan_execute(plan_cached_replanned(&plan,
					  "SELECT f.started_at, f.os, f.client_ip FROM presence.folded_sessions f "
					  "WHERE f.user_id = $1 AND f.session_id = $2", lengthof(types), types),
				 values, lengthof(values), NULL, 0);
	if (SPI_processed == 0)
		return false;
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	seed->status = ITEM_CONNECTED;
	seed->time = column_time(row, desc, 1, &isnull);
	seed->anonymous = session_id[0] == '\0';
	seed->os = column_text(row, desc, 2);
	seed->client_ip = column_text(row, desc, 3);
	return true;
}

static void
write_session_fold(Datum user_id, const char *session_id, const SessionRow *old)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Datum		values[lengthof(types)];
	bool		isnull[lengthof(types)] = {false};
	int			i = 0;

	values[i++] = user_id;
	values[i++] = CStringGetTextDatum(session_id);
	values[i++] = TimestampTzGetDatum(old->started_at);
	values[i] = text_or_null(old->os, &isnull[i]);
	i++;
	values[i] = text_or_null(old->client_ip, &isnull[i]);
	i++;
	upsert_fold(&plan, types, lengthof(types), values, isnull, i,
				"INSERT INTO presence.folded_sessions AS f "
				"(user_id, session_id, started_at, os, client_ip) "
				"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, session_id) DO UPDATE SET "
				"started_at = excluded.started_at, os = excluded.os, "
				"client_ip = excluded.client_ip");
}

/* Delete one user's rows by a saved two-argument plan; how many went. */
static int64
delete_user_rows(SPIPlanPtr plan, Datum user_id, Datum second)
{
	Datum		values[] = {user_id, second};

	plan_execute(plan, values, lengthof(values), NULL, 0);
	return (int64) SPI_processed;
}

static void
drop_session_fold(Datum user_id, const char *session_id)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TEXTOID};

	delete_user_rows(plan_cached_replanned(&plan,
										   "DELETE FROM presence.folded_sessions f "
										   "WHERE f.user_id = $1 AND f.session_id = $2",
										   lengthof(types), types),
					 user_id, CStringGetTextDatum(session_id));
}

static int64
remove_items(Datum user_id, TimestampTz horizon)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TIMESTAMPTZOID};

	return delete_user_rows(plan_cached(&plan,
										"DELETE FROM presence.events e "
										"WHERE e.user_id = $1 AND e.status_time < $2",
										lengthof(types), types),
							user_id, TimestampTzGetDatum(horizon));
}

/*
 * Prune one session's items items[from..to), in (time, status) order, of
 * which the first nold are older than the horizon.  Returns whether the
 * session's row was removed.
 */
static bool
prune_session(const char *user, Datum user_id, const PrunedItem *items, int from, int nold, int to)
{
	const char *session_id = items[from].session_id;
	SessionRow	old = {0};
	SessionRow	kept = {0};
	SessionRow	stored;
	RuleItem	seed;
	bool		had_fold = read_session_fold(user_id, session_id, &seed);

	if (had_fold)
		session_apply(&old, &seed);
	for (int i = from; i < from + nold; i++)
		session_apply(&old, &items[i].rule);
	if (old.state == SESSION_ONLINE)
	{
		write_session_fold(user_id, session_id, &old);
		return false;
	}
	if (had_fold)
		drop_session_fold(user_id, session_id);
	for (int i = from + nold; i < to; i++)
		session_apply(&kept, &items[i].rule);
	store_read_session(user, session_id, &stored);
	if (!stored.exists)
		return false;
	if (!kept.exists)
	{
		store_remove_session(user, stored.state == SESSION_ONLINE);
		return true;
	}
	store_write_session(user, session_id, &kept, false, stored.state == SESSION_ONLINE);
	return false;
}

/* Prune one user's items older than horizon; the user's row is locked. */
static void
prune_user(const char *user, TimestampTz horizon, PruneCounts *counts)
{
	Datum		user_id = CStringGetTextDatum(user);
	UserRow		fold;
	PrunedItem *items;
	int			n;
	int			i = 0;

	(void) store_lock_user(user);
	read_user_fold(user_id, &fold);
	items = read_items(user_id, &n);
	while (i < n)
	{
		int			end = i;
		int			nold = 0;

		while (end < n && strcmp(items[end].session_id, items[i].session_id) == 0)
		{
			if (items[end].rule.time < horizon)
			{
				users_note_item(&fold, items[end].rule.status, items[end].rule.time);
				nold++;
			}
			end++;
		}
		if (nold > 0 && prune_session(user, user_id, items, i, nold, end))
			counts->sessions++;
		i = end;
	}
	write_user_fold(user_id, &fold);
	counts->items += remove_items(user_id, horizon);
	store_release_user();
}

/* Users a call looks at, at most. */
#define PRUNE_USERS_PER_CALL 100

/*
 * presence.prune_users(horizon, after_user, max_items): prune the users
 * after after_user, in user order, until max_items items have gone (or 100
 * users were pruned); returns the last user pruned (NULL when none was
 * left) and how many items and sessions went.
 */
Datum
presence_prune_users(PG_FUNCTION_ARGS)
{
	TimestampTz horizon = PG_GETARG_TIMESTAMPTZ(0);
	char	   *after_user = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int64		max_items = PG_GETARG_INT32(2);
	PruneCounts counts = {0};
	TupleDesc	tupdesc;
	char	  **users;
	char	   *last = NULL;
	int			n;
	Datum		values[3];
	bool		nulls[3] = {false};
	int			i = 0;

	presence_require_writable("presence.prune_users()");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "presence: return type must be a row type");
	if (max_items < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_items must be at least 1")));
	SPI_connect();
	n = next_users(after_user, horizon, PRUNE_USERS_PER_CALL, &users);
	store_begin();
	for (int u = 0; u < n; u++)
	{
		prune_user(users[u], horizon, &counts);
		if (counts.items >= max_items)
			n = u + 1;
	}
	store_end();
	if (n > 0)
	{
		/* the last user outlives SPI: copy it into the caller's context */
		last = SPI_palloc(strlen(users[n - 1]) + 1);
		strcpy(last, users[n - 1]);
	}
	SPI_finish();
	nulls[i] = last == NULL;
	values[i++] = last ? CStringGetTextDatum(last) : (Datum) 0;
	values[i++] = Int64GetDatum(counts.items);
	values[i++] = Int64GetDatum(counts.sessions);
	Assert(i == lengthof(values));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
