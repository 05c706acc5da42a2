/*-------------------------------------------------------------------------
 *
 * triggers.c
 *	  Keep presence.users equal to the aggregate of its sessions and items.
 *
 * presence.events (every distinct item, stale ones too) drives the times:
 * last_online_at, last_offline_at and last_seen_at only ever grow, and
 * last_offline_logout says whether the item at last_offline_at is a "2".
 *
 * presence.sessions drives the counts: online_sessions moves by the change
 * in the number of online sessions and online follows it.  logged_out is
 * "not online and last_offline_logout", worked out again whenever either
 * changes, so no session has to be looked at for it.
 *
 * The rule itself is C, in one place (session_rules.c, users_*), and every
 * writer reaches it through store.c.  Ingest, while it holds the user's row
 * lock, has the row changed in memory and written once; where these
 * triggers are their tables' only ones it does not even queue them, and
 * applies the rule for its own writes at once (store_begin).  Any other
 * writer (a hand UPDATE, maintain()) fires them, and has the row changed
 * under the user's row lock, taken as ingest takes it.
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
#include "triggers.h"

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
	ItemStatus	status;

	require_row_trigger(fcinfo, "presence.users_follow_events");
	if (!TRIGGER_FIRED_BY_INSERT(trig->tg_event) || loaded_by_copy())
		return PointerGetDatum(NULL);
	c = columns_events(trig->tg_relation);
	status_time = DatumGetTimestampTz(heap_getattr(tuple, c->status_time, desc, &isnull));
	if (isnull || !item_status_from_text(column_text(tuple, desc, c->status), &status))
		elog(ERROR, "presence: an item has no valid status or no status_time");
	store_user_note_item(column_text(tuple, desc, c->user_id), status, status_time);
	return PointerGetDatum(NULL);
}

static bool
is_online(HeapTuple tuple, TupleDesc desc, const SessionsColumns *c)
{
	char	   *name = tuple ? column_text(tuple, desc, c->state) : NULL;
	SessionState state;

	return name != NULL && session_state_from_name(name, &state) && state == SESSION_ONLINE;
}

/*
 * A session row went from old to new (either NULL): move the users' counts
 * by the change in online sessions.  A change that leaves the count moves
 * nothing: logged_out follows the count and the items alone (session_rules.c).
 */
static void
follow_session(HeapTuple old, HeapTuple new, TupleDesc desc, const SessionsColumns *c)
{
	char	   *old_id = old ? column_text(old, desc, c->user_id) : NULL;
	char	   *new_id = new ? column_text(new, desc, c->user_id) : NULL;
	int			was = (int) is_online(old, desc, c);
	int			is = (int) is_online(new, desc, c);

	if (old && new && strcmp(old_id, new_id) == 0)
	{
		if (is != was)
			store_user_count_online(new_id, is - was);
		return;
	}
	if (was)
		store_user_count_online(old_id, -was);
	if (is)
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
