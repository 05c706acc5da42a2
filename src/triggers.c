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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "plans.h"

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

/* Raise the user's greatest times to those of a newly logged item. */
static void
note_item_times(Datum user_id, bool connect, Datum status_time)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[3] = {user_id, status_time, status_time};
	bool		isnull[3] = {false, !connect, connect};

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
			return;
		ensure_user_row(user_id);
	}
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
	if (!TRIGGER_FIRED_BY_INSERT(trig->tg_event))
		return PointerGetDatum(NULL);
	user_id = column(tuple, desc, "user_id", &isnull);
	status_time = column(tuple, desc, "status_time", &isnull);
	status = column_text(tuple, desc, "status");
	SPI_connect();
	note_item_times(user_id, strcmp(status, "0") == 0, status_time);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/* Move the user's online count by delta and work out online and logged_out. */
static void
adjust_user(Datum user_id, int delta)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, INT4OID};
	Datum		values[2] = {user_id, Int32GetDatum(delta)};
	bool		isnull;

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
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("presence.users count of online sessions would go negative"),
				 errdetail("A session row was changed outside the presence entry points."),
				 errhint("Run presence.check() to see which rows differ.")));
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

	SPI_connect();
	if (old && new && strcmp(old_id, new_id) == 0)
	{
		int			delta = (int) is_online(new, desc) - (int) is_online(old, desc);

		/* Nothing that counts changed, or the user is online either way. */
		if (delta != 0 || (!end_unchanged(old, new, desc) && !is_online(new, desc)))
			adjust_user(new_user, delta);
	}
	else
	{
		if (old)
			adjust_user(old_user, -(int) is_online(old, desc));
		if (new)
			adjust_user(new_user, (int) is_online(new, desc));
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}
