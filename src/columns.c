/*-------------------------------------------------------------------------
 *
 * columns.c
 *	  One column map per presence table, for store.c and triggers.c alike.
 *
 * Rows are read and built by column number; the numbers are looked up by
 * name once, and again after any relcache invalidation (rows.c counts
 * them), so a column dropped and added again by an upgrade is still found.
 * The triggers read the tuples they are given with the same maps as ingest
 * writes them, so a column's name is spelt in one place.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "columns.h"
#include "rows.h"

static UsersColumns users;
static SessionsColumns sessions;
static EventsColumns events;
static SignaturesColumns signatures;

static const RowsColumn users_map[] = {
	{"user_id", &users.user_id},
	{"online_sessions", &users.online_sessions},
	{"online", &users.online},
	{"logged_out", &users.logged_out},
	{"last_offline_logout", &users.last_offline_logout},
	{"last_online_at", &users.last_online_at},
	{"last_offline_at", &users.last_offline_at},
	{"last_seen_at", &users.last_seen_at},
	{"updated_at", &users.updated_at},
};

static const RowsColumn sessions_map[] = {
	{"user_id", &sessions.user_id},
	{"session_id", &sessions.session_id},
	{"state", &sessions.state},
	{"os", &sessions.os},
	{"client_ip", &sessions.client_ip},
	{"started_at", &sessions.started_at},
	{"ended_at", &sessions.ended_at},
	{"last_event_at", &sessions.last_event_at},
	{"updated_at", &sessions.updated_at},
	{"os_key", &sessions.os_key},
	{"client_ip_key", &sessions.client_ip_key},
};

static const RowsColumn events_map[] = {
	{"user_id", &events.user_id},
	{"session_id", &events.session_id},
	{"status_time", &events.status_time},
	{"status", &events.status},
	{"event_id", &events.event_id},
	{"event_time", &events.event_time},
	{"item_no", &events.item_no},
	{"os", &events.os},
	{"client_ip", &events.client_ip},
	{"received_at", &events.received_at},
	{"outcome", &events.outcome},
};

static const RowsColumn signatures_map[] = {
	{"nonce", &signatures.nonce},
	{"sign_timestamp", &signatures.sign_timestamp},
	{"signature", &signatures.signature},
	{"body_sha256", &signatures.body_sha256},
	{"signed_at", &signatures.signed_at},
};

/* The column numbers of presence.users, looked up again after any invalidation. */
const UsersColumns *
columns_users(Relation rel)
{
	static uint64 found_at;

	rows_find_columns(rel, users_map, lengthof(users_map), &found_at);
	return &users;
}

/* The column numbers of presence.sessions, looked up again after any invalidation. */
const SessionsColumns *
columns_sessions(Relation rel)
{
	static uint64 found_at;

	rows_find_columns(rel, sessions_map, lengthof(sessions_map), &found_at);
	return &sessions;
}

/* The column numbers of presence.events, looked up again after any invalidation. */
const EventsColumns *
columns_events(Relation rel)
{
	static uint64 found_at;

	rows_find_columns(rel, events_map, lengthof(events_map), &found_at);
	return &events;
}

/* The column numbers of presence.seen_signatures, looked up again after any invalidation. */
const SignaturesColumns *
columns_signatures(Relation rel)
{
	static uint64 found_at;

	rows_find_columns(rel, signatures_map, lengthof(signatures_map), &found_at);
	return &signatures;
}
