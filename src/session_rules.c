/*-------------------------------------------------------------------------
 *
 * session_rules.c
 *	  Merge one status item into one session row (doc/rules.md section 3).
 *
 * Items are ordered by (time, status): the later time is greater, and at the
 * same time "2" > "1" > "0".  Every rule below only ever moves a field
 * towards the greatest item that decides it, so the result does not depend
 * on the order items arrive in.
 *
 *   identified session: ended for good once any "1" or "2" is known; state
 *		and ended_at follow the greatest such item, a later "0" only fills in
 *		started_at.
 *   anonymous session (id ''): the greatest item wins and may bring the
 *		session back online.
 *   both: started_at is the greatest "0" time, last_event_at the greatest
 *		time, os and client_ip come from the greatest item that carries them
 *		(copies of one item keep the byte-wise greatest value).
 *   users (users_*): the aggregate of a user's sessions and items, the one
 *		place it is written; every writer reaches it through store.c.
 *
 * Pure code: no tables, no errors.
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include "session_rules.h"

static const char *const state_names[] = {"online", "offline", "logged_out"};

/* The presence.sessions.state name of state. */
const char *
session_state_name(SessionState state)
{
	return state_names[state];
}

/* The state a presence.sessions.state name stands for; false when none. */
bool
session_state_from_name(const char *name, SessionState *state)
{
	for (int s = SESSION_ONLINE; s <= SESSION_LOGGED_OUT; s++)
	{
		if (strcmp(name, state_names[s]) == 0)
		{
			*state = (SessionState) s;
			return true;
		}
	}
	return false;
}

static SessionState
state_of_status(ItemStatus status)
{
	return status == ITEM_CONNECTED ? SESSION_ONLINE :
		status == ITEM_DISCONNECTED ? SESSION_OFFLINE : SESSION_LOGGED_OUT;
}

static ItemStatus
status_of_state(SessionState state)
{
	return state == SESSION_ONLINE ? ITEM_CONNECTED :
		state == SESSION_OFFLINE ? ITEM_DISCONNECTED : ITEM_LOGGED_OUT;
}

/* (time, status) order: is a greater than b? */
static bool
key_greater(int64_t a_time, ItemStatus a_status, int64_t b_time, ItemStatus b_status)
{
	return a_time > b_time || (a_time == b_time && a_status > b_status);
}

/*
 * The item that decides state and ended_at now, if any: for an anonymous
 * session its greatest item, for an identified one its greatest "1" or "2".
 */
static bool
deciding_key(const SessionRow *row, bool anonymous, int64_t *time, ItemStatus *status)
{
	if (row->state != SESSION_ONLINE)
	{
		*time = row->ended_at;
		*status = status_of_state(row->state);
		return true;
	}
	if (anonymous && row->has_started)
	{
		*time = row->started_at;
		*status = ITEM_CONNECTED;
		return true;
	}
	return false;
}

/* (time, status) order as one integer (header). */
int64_t
session_item_key(int64_t time, ItemStatus status)
{
	const int64_t limit = INT64_C(1) << 60;

	if (time > limit)
		time = limit;
	else if (time < -limit)
		time = -limit;
	return time * 4 + item_status_rank(status);
}

/* Do the order keys of two versions of a session row differ? */
bool
session_keys_moved(const SessionRow *before, const SessionRow *after)
{
	return before->has_os_key != after->has_os_key || before->os_key != after->os_key ||
		before->has_client_ip_key != after->has_client_ip_key ||
		before->client_ip_key != after->client_ip_key;
}

/* client_ip_key as stored: none where it repeats os_key (header). */
bool
session_stored_client_ip_key(const SessionRow *row, int64_t *key)
{
	*key = row->client_ip_key;
	return row->has_client_ip_key &&
		!(row->has_os_key && row->os_key == row->client_ip_key);
}

/* Read back a client_ip_key stored by session_stored_client_ip_key. */
void
session_load_client_ip_key(SessionRow *row, bool stored, int64_t key)
{
	row->has_client_ip_key = stored || (row->client_ip != NULL && row->has_os_key);
	row->client_ip_key = stored ? key : row->os_key;
}

/* The byte-wise greatest of two copies' values, a value beating none. */
const char *
session_greatest_value(const char *a, const char *b)
{
	if (a == NULL)
		return b;
	if (b == NULL)
		return a;
	return strcmp(a, b) >= 0 ? a : b;	/* strcmp compares unsigned bytes */
}

/*
 * os or client_ip from the greatest item that carries it: an item that
 * carries the field and is not less than the one it came from takes it (at
 * an equal key it is a copy of that item, whose greatest value the caller
 * passes).  Returns whether the field's value changed.
 */
static bool
take_field(char **field, bool *has_key, int64_t *key, const char *value, int64_t item_key)
{
	if (value == NULL || (*has_key && *key > item_key))
		return false;
	*has_key = true;
	*key = item_key;
	if (*field != NULL && strcmp(*field, value) == 0)
		return false;
	*field = (char *) value;
	return true;
}

static void
start_row(SessionRow *row, const RuleItem *item)
{
	row->exists = true;
	row->state = state_of_status(item->status);
	row->has_started = item->status == ITEM_CONNECTED;
	row->started_at = item->time;
	row->has_ended = item->status != ITEM_CONNECTED;
	row->ended_at = item->time;
	row->last_event_at = item->time;
	row->has_os_key = false;
	row->has_client_ip_key = false;
	row->os = NULL;
	row->client_ip = NULL;
	(void) take_field(&row->os, &row->has_os_key, &row->os_key, item->os,
					  session_item_key(item->time, item->status));
	(void) take_field(&row->client_ip, &row->has_client_ip_key, &row->client_ip_key,
					  item->client_ip, session_item_key(item->time, item->status));
}

/* Does the item take over state and ended_at? */
static bool
item_decides_state(const SessionRow *row, const RuleItem *item)
{
	int64_t		time;
	ItemStatus	status;

	if (!item->anonymous && item->status == ITEM_CONNECTED)
		return false;			/* a connect never reopens an identified session */
	if (!deciding_key(row, item->anonymous, &time, &status))
		return true;
	return key_greater(item->time, item->status, time, status);
}

/* Apply one item to one session row (doc/rules.md sections 3.1 to 3.3). */
bool
session_apply(SessionRow *row, const RuleItem *item)
{
	bool		changed = false;
	int64_t		key = session_item_key(item->time, item->status);

	if (!row->exists)
	{
		start_row(row, item);
		return true;
	}
	if (item_decides_state(row, item))
	{
		SessionState state = state_of_status(item->status);
		bool		ends = item->status != ITEM_CONNECTED;

		changed |= row->state != state || row->has_ended != ends ||
			(ends && row->ended_at != item->time);
		row->state = state;
		row->has_ended = ends;
		row->ended_at = item->time;
	}
	if (item->status == ITEM_CONNECTED && (!row->has_started || item->time > row->started_at))
	{
		row->has_started = true;
		row->started_at = item->time;
		changed = true;
	}
	if (item->time > row->last_event_at)
	{
		row->last_event_at = item->time;
		changed = true;
	}
	changed |= take_field(&row->os, &row->has_os_key, &row->os_key, item->os, key);
	changed |= take_field(&row->client_ip, &row->has_client_ip_key, &row->client_ip_key,
						  item->client_ip, key);
	return changed;
}

static void
raise_time(bool *has, int64_t *field, int64_t time)
{
	if (!*has || time > *field)
		*field = time;
	*has = true;
}

/* The users rule: a newly logged item raises the greatest times. */
void
users_note_item(UserRow *u, ItemStatus status, int64_t time)
{
	if (status == ITEM_CONNECTED)
		raise_time(&u->has_online_at, &u->last_online_at, time);
	else if (!u->has_offline_at || time > u->last_offline_at)
	{
		raise_time(&u->has_offline_at, &u->last_offline_at, time);
		u->last_offline_logout = status == ITEM_LOGGED_OUT;
	}
	else if (time == u->last_offline_at && status == ITEM_LOGGED_OUT)
		u->last_offline_logout = true;	/* at one time a "2" beats a "1" */
	raise_time(&u->has_seen_at, &u->last_seen_at, time);
	u->logged_out = !u->online && u->last_offline_logout;
}

/* The users rule: the online count moved by delta (header). */
bool
users_count_online(UserRow *u, int delta)
{
	int32_t		count = u->online_sessions + delta;

	if (count < 0)
		return false;
	u->online_sessions = count;
	u->online = count > 0;
	/* Every session is ended: the greatest "1" or "2" item decides. */
	u->logged_out = !u->online && u->last_offline_logout;
	return true;
}
