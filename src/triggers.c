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
 * The rule itself is C, in one place (session_rules.c, users_*), and every
 * writer reaches it through store.c: ingest, whose writes fire these
 * triggers while it holds the user's row lock, has the row changed in
 * memory and written once; any other writer (a hand UPDATE, maintain()) has
 * it changed under the user's row lock, taken as ingest takes it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "tcop/pquery.h"
#include "utils/builtins.h"
#include "utils/portal.h"
#include "utils/timestamp.h"

#include "columns.h"
#include "store.h"

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

/*
 * Rows that COPY loads outside an ingest call, as the restore of a pg_dump
 * does, are taken as they are: the dump carries the users rows that go with
 * them, and counting the sessions again would count them twice.
 */
static bool
loaded_by_copy(void)
{
	return !store_call_running() && ActivePortal != NULL &&
		ActivePortal->commandTag == CMDTAG_COPY;
}

static char *
column_text(HeapTuple tuple, TupleDesc desc, AttrNumber attnum)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, attnum, desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

Datum
presence_users_follow_events(PG_FUNCTION_ARGS)
{
	TriggerData *trig = (TriggerData *) fcinfo->context;
	HeapTuple	tuple = trig->tg_trigtuple;
	TupleDesc	desc = trig->tg_relation->rd_att;
	const EventsColumns *c;
	bool		isnull;
	TimestampTz status_time;
	char	   *status;

	require_row_trigger(fcinfo, "presence.users_follow_events");
	if (!TRIGGER_FIRED_BY_INSERT(trig->tg_event) || loaded_by_copy())
		return PointerGetDatum(NULL);
	c = columns_events(trig->tg_relation);
	status_time = DatumGetTimestampTz(heap_getattr(tuple, c->status_time, desc, &isnull));
	status = column_text(tuple, desc, c->status);
	if (isnull || status == NULL)
		elog(ERROR, "presence: an item has no status or status_time");
	store_user_note_item(column_text(tuple, desc, c->user_id), (ItemStatus) status[0],
						 status_time);
	return PointerGetDatum(NULL);
}

static bool
is_online(HeapTuple tuple, TupleDesc desc, const SessionsColumns *c)
{
	char	   *name = tuple ? column_text(tuple, desc, c->state) : NULL;
	SessionState state;

	return name != NULL && session_state_from_name(name, &state) && state == SESSION_ONLINE;
}

/* Did an update leave state and ended_at as they were? */
static bool
end_unchanged(HeapTuple old, HeapTuple new, TupleDesc desc, const SessionsColumns *c)
{
	bool		old_null;
	bool		new_null;
	Datum		old_end = heap_getattr(old, c->ended_at, desc, &old_null);
	Datum		new_end = heap_getattr(new, c->ended_at, desc, &new_null);
	char	   *old_state = column_text(old, desc, c->state);
	char	   *new_state = column_text(new, desc, c->state);

	if (old_state == NULL || new_state == NULL || strcmp(old_state, new_state) != 0)
		return false;
	if (old_null || new_null)
		return old_null == new_null;
	return DatumGetTimestampTz(old_end) == DatumGetTimestampTz(new_end);
}

/* A session row went from old to new (either NULL): move the users' counts. */
static void
follow_session(HeapTuple old, HeapTuple new, TupleDesc desc, const SessionsColumns *c)
{
	char	   *old_id = old ? column_text(old, desc, c->user_id) : NULL;
	char	   *new_id = new ? column_text(new, desc, c->user_id) : NULL;
	int			was = (int) is_online(old, desc, c);
	int			is = (int) is_online(new, desc, c);

	if (old && new && strcmp(old_id, new_id) == 0)
	{
		/* Nothing that counts changed, or the user is online either way. */
		if (is != was || (!end_unchanged(old, new, desc, c) && !is))
			store_user_count_online(new_id, is - was);
		return;
	}

	/*
	 * A session removed while not online changes no count, and the user's
	 * logged_out follows the items, which stay (or are folded).
	 */
	if (old && (new != NULL || was))
		store_user_count_online(old_id, -was);
	if (new)
		store_user_count_online(new_id, is);
}

Datum
presence_users_follow_sessions(PG_FUNCTION_ARGS)
{
	TriggerData *trig = (TriggerData *) fcinfo->context;
	HeapTuple	old = NULL;
	HeapTuple	new = NULL;

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
	follow_session(old, new, trig->tg_relation->rd_att, columns_sessions(trig->tg_relation));
	return PointerGetDatum(NULL);
}
