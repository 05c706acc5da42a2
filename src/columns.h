/*-------------------------------------------------------------------------
 *
 * columns.h
 *	  One column map per presence table, for store.c and triggers.c alike.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_COLUMNS_H
#define PRESENCE_COLUMNS_H

#include "utils/rel.h"

/* A struct member for each column: its number in the table. */
#define COLUMN_NUMBER(t, column) AttrNumber column;

/* The columns of presence.users: X(t, column) for each. */
#define USERS_COLUMNS(X, t) \
	X(t, user_id) X(t, online_sessions) X(t, online) X(t, logged_out) X(t, last_offline_logout) \
	X(t, last_online_at) X(t, last_offline_at) X(t, last_seen_at) X(t, updated_at)

/* Column numbers of presence.users. */
typedef struct UsersColumns
{
	USERS_COLUMNS(COLUMN_NUMBER, _)
} UsersColumns;

/* The columns of presence.sessions: X(t, column) for each. */
#define SESSIONS_COLUMNS(X, t) \
	X(t, user_id) X(t, session_id) X(t, state) X(t, os) X(t, client_ip) X(t, started_at) \
	X(t, ended_at) X(t, last_event_at) X(t, updated_at) X(t, os_key) X(t, client_ip_key)

/* Column numbers of presence.sessions. */
typedef struct SessionsColumns
{
	SESSIONS_COLUMNS(COLUMN_NUMBER, _)
} SessionsColumns;

/* The columns of presence.events: X(t, column) for each. */
#define EVENTS_COLUMNS(X, t) \
	X(t, user_id) X(t, session_id) X(t, status_time) X(t, status) X(t, event_id) \
	X(t, event_time) X(t, item_no) X(t, os) X(t, client_ip) X(t, received_at) \
	X(t, outcome)

/* Column numbers of presence.events. */
typedef struct EventsColumns
{
	EVENTS_COLUMNS(COLUMN_NUMBER, _)
} EventsColumns;

/* The columns of presence.seen_signatures: X(t, column) for each. */
#define SIGNATURES_COLUMNS(X, t) \
	X(t, nonce) X(t, sign_timestamp) X(t, signature) X(t, body_sha256) X(t, signed_at)

/* Column numbers of presence.seen_signatures. */
typedef struct SignaturesColumns
{
	SIGNATURES_COLUMNS(COLUMN_NUMBER, _)
} SignaturesColumns;

/* The columns of presence.users, read from rel (that table) after any invalidation. */
extern const UsersColumns *columns_users(Relation rel);

/* The columns of presence.sessions, from rel. */
extern const SessionsColumns *columns_sessions(Relation rel);

/* The columns of presence.events, from rel. */
extern const EventsColumns *columns_events(Relation rel);

/* The columns of presence.seen_signatures, from rel. */
extern const SignaturesColumns *columns_signatures(Relation rel);

#endif							/* PRESENCE_COLUMNS_H */
