/*-------------------------------------------------------------------------
 *
 * triggers.c
 *	  Keep presence.users equal to the aggregate of its sessions and items.
 *
 * presence.events (every distinct item, stale ones too) drives the times:
 * last_online_at, last_offline_at and last_seen_at only ever grow.
 *
 * presence.sessions drives the counts: online_sessions moves by the change
 * in the number of online sessions, online follows it, and logged_out is
 * worked out again whenever the user is left with no online session.  Then
 * every session is ended, each holds its own greatest "1" or "2" item in
 * (state, ended_at), and the user's greatest such item is a "2" exactly
 * when some session is logged_out with ended_at = last_offline_at.
 *
 * When ingest fired the trigger, it holds the user's row lock and its tables
 * are open (rows.c): the triggers then change the user's row in memory,
 * and ingest writes it once when it is done with the user.  Any other writer
 * gets the same change through an UPDATE statement at once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "plans.h"
#include "rows.h"
#include "tcop/pquery.h"
#include "utils/portal.h"

PG_FUNCTION_INFO_V1(presence_users_follow_events);
PG_FUNCTION_INFO_V1(presence_users_follow_sessions);

static void
require_row_trigger(FunctionCallInfo fcinfo, const char *name)
{
	TriggerData *trig = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trig->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trig->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be fired AFTER ... FOR EACH ROW", name)));
}

static Datum
column(HeapTuple tuple, TupleDesc desc, const char *name, bool *isnull)
{
	int			attnum = SPI_fnumber(desc, name);

	if (attnum <= 0)
		elog(ERROR, "presence: column \"%s\" is missing", name);
	return SPI_getbinval(tuple, desc, attnum, isnull);
}

static char *
column_text(HeapTuple tuple, TupleDesc desc, const char *name)
{
	bool		isnull;
	Datum		d = column(tuple, desc, name, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * Rows that COPY loads outside an ingest call, as the restore of a pg_dump
 * does, are taken as they are: the dump carries the users rows that go with
 * them, and counting the sessions again would count them twice.
 */
static bool
loaded_by_copy(void)
{
	return !rows_call_running() && ActivePortal != NULL &&
		ActivePortal->commandTag == CMDTAG_COPY;
}

/* Make the user's row if it is missing (rows written outside ingest). */
static void
ensure_user_row(Datum user_id)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID};
	Datum		values[1] = {user_id};

	plan_execute(PLAN(&plan,
					  "INSERT INTO presence.users (user_id) VALUES ($1) "
					  "ON CONFLICT DO NOTHING", types),
				 values, NULL, 0);
}

/* note_item_times for any writer: one UPDATE statement. */
static void
note_item_times_by_statement(Datum user_id, bool connect, Datum status_time)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[3] = {user_id, status_time, status_time};
	bool		isnull[3] = {false, !connect, connect};

	SPI_connect();
	for (int attempt = 0; attempt < 2; attempt++)
	{
		plan_execute(PLAN(&plan,
						  "UPDATE presence.users AS u SET "
						  "last_online_at = greatest(u.last_online_at, $2), "
						  "last_offline_at = greatest(u.last_offline_at, $3), "
						  "last_seen_at = greatest(u.last_seen_at, $2, $3), "
						  "updated_at = now() "
						  "WHERE u.user_id = $1 "
						  "RETURNING 1",
						  types),
					 values, isnull, 0);
		if (SPI_processed > 0)
			break;
		ensure_user_row(user_id);
	}
	SPI_finish();
}

/* Column numbers the in-place path reads and writes (see find_columns). */
typedef struct UserColumns
{
	uint64		users_found_at;
	AttrNumber	online_sessions;
	AttrNumber	online;
	AttrNumber	last_online_at;
	AttrNumber	last_offline_at;
	AttrNumber	last_seen_at;
	AttrNumber	logged_out;
	AttrNumber	updated_at;
} UserColumns;

static UserColumns ucol;

static const RowsColumn user_columns[] = {
	{"online_sessions", &ucol.online_sessions},
	{"online", &ucol.online},
	{"last_online_at", &ucol.last_online_at},
	{"last_offline_at", &ucol.last_offline_at},
	{"last_seen_at", &ucol.last_seen_at},
	{"logged_out", &ucol.logged_out},
	{"updated_at", &ucol.updated_at},
};

/* Look the column numbers up again after any relcache invalidation. */
static const UserColumns *
find_columns(void)
{
	rows_find_columns(ROWS_USERS, user_columns, lengthof(user_columns),
					   &ucol.users_found_at);
	return &ucol;
}

static void
raise_time(TupleTableSlot *row, AttrNumber attnum, TimestampTz t)
{
	bool		isnull;
	TimestampTz old = rows_get_time(row, attnum, &isnull);

	rows_set_time(row, attnum, true, (isnull || t > old) ? t : old);
}

/* note_item_times on the locked user's pending row (rows_locked_user_row). */
static void
note_item_times_in_place(TupleTableSlot *row, bool connect, TimestampTz status_time)
{
	const UserColumns *c = find_columns();

	raise_time(row, connect ? c->last_online_at : c->last_offline_at, status_time);
	raise_time(row, c->last_seen_at, status_time);
	rows_set_time(row, c->updated_at, true, GetCurrentTransactionStartTimestamp());
}

/*
 * Is some session of the user logged_out with ended_at = last_offline_at?
 * One probe of the partial index sessions_logged_out, however many sessions
 * the user has.
 */
static bool
logged_out_at(const char *user_id, TimestampTz last_offline_at)
{
	RowsTable *s = rows_get(ROWS_SESSIONS);
	ScanKeyData keys[2];
	IndexScanDesc scan;
	bool		found;

	rows_key_text(&keys[0], 1, user_id);
	rows_key_time(&keys[1], 2, BTEqualStrategyNumber, last_offline_at);
	scan = rows_scan_index_begin(s, rows_index(s, "sessions_logged_out"), keys, 2);
	found = rows_scan_next(scan, s->probe);
	rows_scan_end(scan);
	return found;
}

/* Raise the user's greatest times to those of a newly logged item. */
static void
note_item_times(Datum user_id, bool connect, Datum status_time)
{
	TupleTableSlot *row = rows_locked_user_row(TextDatumGetCString(user_id));

	if (row != NULL)
		note_item_times_in_place(row, connect, DatumGetTimestampTz(status_time));
	else
		note_item_times_by_statement(user_id, connect, status_time);
}

static void
raise_negative_count(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("presence.users count of online sessions would go negative"),
			 errdetail("A session row was changed outside the presence entry points."),
			 errhint("Run presence.check() to see which rows differ.")));
}

/* adjust_user on the locked user's pending row (rows_locked_user_row). */
static void
adjust_user_in_place(TupleTableSlot *row, const char *user_id, int delta)
{
	const UserColumns *c = find_columns();
	bool		isnull;
	int			count;
	TimestampTz last_offline;
	bool		logged_out = false;

	count = DatumGetInt32(slot_getattr(row, c->online_sessions, &isnull)) + delta;
	if (count < 0)
		raise_negative_count();
	last_offline = rows_get_time(row, c->last_offline_at, &isnull);
	if (count == 0 && !isnull)
		logged_out = logged_out_at(user_id, last_offline);
	rows_set_int32(row, c->online_sessions, count);
	rows_set_bool(row, c->online, count > 0);
	rows_set_bool(row, c->logged_out, logged_out);
	rows_set_time(row, c->updated_at, true, GetCurrentTransactionStartTimestamp());
}

Datum
presence_users_follow_events(PG_FUNCTION_ARGS)
{
	TriggerData *trig = (TriggerData *) fcinfo->context;
	HeapTuple	tuple = trig->tg_trigtuple;
	TupleDesc	desc = trig->tg_relation->rd_att;
	bool		isnull;
	Datum		user_id;
	Datum		status_time;
	char	   *status;

	require_row_trigger(fcinfo, "presence.users_follow_events");
	if (!TRIGGER_FIRED_BY_INSERT(trig->tg_event) || loaded_by_copy())
		return PointerGetDatum(NULL);
	user_id = column(tuple, desc, "user_id", &isnull);
	status_time = column(tuple, desc, "status_time", &isnull);
	status = column_text(tuple, desc, "status");
	note_item_times(user_id, strcmp(status, "0") == 0, status_time);
	return PointerGetDatum(NULL);
}

/* adjust_user for any writer: one UPDATE statement. */
static void
adjust_user_by_statement(Datum user_id, int delta)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, INT4OID};
	Datum		values[2] = {user_id, Int32GetDatum(delta)};
	bool		isnull;

	SPI_connect();
	for (int attempt = 0; attempt < 2; attempt++)
	{
		plan_execute(PLAN(&plan,
						  "UPDATE presence.users AS u SET "
						  "online_sessions = u.online_sessions + $2, "
						  "online = u.online_sessions + $2 > 0, "
						  "logged_out = CASE WHEN u.online_sessions + $2 > 0 THEN false "
						  "ELSE EXISTS (SELECT 1 FROM presence.sessions s "
						  "WHERE s.user_id = u.user_id AND s.state = 'logged_out' "
						  "AND s.ended_at = u.last_offline_at) END, "
						  "updated_at = now() "
						  "WHERE u.user_id = $1 "
						  "RETURNING u.online_sessions", types),
					 values, NULL, 0);
		if (SPI_processed > 0)
			break;
		ensure_user_row(user_id);
	}
	if (SPI_processed == 0 ||
		DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									&isnull)) < 0)
		raise_negative_count();
	SPI_finish();
}

/* Move the user's online count by delta and work out online and logged_out. */
static void
adjust_user(Datum user_id, int delta)
{
	const char *id = TextDatumGetCString(user_id);
	TupleTableSlot *row = rows_locked_user_row(id);

	if (row != NULL)
		adjust_user_in_place(row, id, delta);
	else
		adjust_user_by_statement(user_id, delta);
}

static bool
is_online(HeapTuple tuple, TupleDesc desc)
{
	char	   *state = tuple ? column_text(tuple, desc, "state") : NULL;

	return state != NULL && strcmp(state, "online") == 0;
}

/* Did an update leave state and ended_at as they were? */
static bool
end_unchanged(HeapTuple old, HeapTuple new, TupleDesc desc)
{
	bool		old_null;
	bool		new_null;
	Datum		old_end = column(old, desc, "ended_at", &old_null);
	Datum		new_end = column(new, desc, "ended_at", &new_null);
	char	   *old_state = column_text(old, desc, "state");
	char	   *new_state = column_text(new, desc, "state");

	if (old_state == NULL || new_state == NULL || strcmp(old_state, new_state) != 0)
		return false;
	if (old_null || new_null)
		return old_null == new_null;
	return DatumGetTimestampTz(old_end) == DatumGetTimestampTz(new_end);
}

Datum
presence_users_follow_sessions(PG_FUNCTION_ARGS)
{
	TriggerData *trig = (TriggerData *) fcinfo->context;
	TupleDesc	desc = trig->tg_relation->rd_att;
	HeapTuple	old = NULL;
	HeapTuple	new = NULL;
	bool		isnull;
	Datum		old_user = (Datum) 0;
	Datum		new_user = (Datum) 0;
	char	   *old_id = NULL;
	char	   *new_id = NULL;

	require_row_trigger(fcinfo, "presence.users_follow_sessions");
	if (loaded_by_copy())
		return PointerGetDatum(NULL);
	if (TRIGGER_FIRED_BY_INSERT(trig->tg_event))
		new = trig->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_DELETE(trig->tg_event))
		old = trig->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_UPDATE(trig->tg_event))
	{
		old = trig->tg_trigtuple;
		new = trig->tg_newtuple;
	}
	else
		return PointerGetDatum(NULL);

	if (old)
	{
		old_user = column(old, desc, "user_id", &isnull);
		old_id = TextDatumGetCString(old_user);
	}
	if (new)
	{
		new_user = column(new, desc, "user_id", &isnull);
		new_id = TextDatumGetCString(new_user);
	}

	if (old && new && strcmp(old_id, new_id) == 0)
	{
		int			delta = (int) is_online(new, desc) - (int) is_online(old, desc);

		/* Nothing that counts changed, or the user is online either way. */
		if (delta != 0 || (!end_unchanged(old, new, desc) && !is_online(new, desc)))
			adjust_user(new_user, delta);
	}
	else
	{
		/*
		 * A session removed while not online changes no count, and the
		 * user's logged_out follows the items, which stay (or are folded).
		 */
		if (old && (new != NULL || is_online(old, desc)))
			adjust_user(old_user, -(int) is_online(old, desc));
		if (new)
			adjust_user(new_user, (int) is_online(new, desc));
	}
	return PointerGetDatum(NULL);
}
