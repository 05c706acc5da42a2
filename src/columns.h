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

/* Column numbers of presence.users. */
typedef struct UsersColumns
{
	AttrNumber	user_id;
	AttrNumber	online_sessions;
	AttrNumber	online;
	AttrNumber	logged_out;
	AttrNumber	last_offline_logout;
	AttrNumber	last_online_at;
	AttrNumber	last_offline_at;
	AttrNumber	last_seen_at;
	AttrNumber	updated_at;
} UsersColumns;

/* Column numbers of presence.sessions. */
typedef struct SessionsColumns
{
	AttrNumber	user_id;
	AttrNumber	session_id;
	AttrNumber	state;
	AttrNumber	os;
	AttrNumber	client_ip;
	AttrNumber	started_at;
	AttrNumber	ended_at;
	AttrNumber	last_event_at;
	AttrNumber	updated_at;
	AttrNumber	os_key;
	AttrNumber	client_ip_key;
} SessionsColumns;

/* Column numbers of presence.events. */
typedef struct EventsColumns
{
	AttrNumber	user_id;
	AttrNumber	session_id;
	AttrNumber	status_time;
	AttrNumber	status;
	AttrNumber	event_id;
	AttrNumber	event_time;
	AttrNumber	item_no;
	AttrNumber	os;
	AttrNumber	client_ip;
	AttrNumber	received_at;
	AttrNumber	outcome;
} EventsColumns;

/* Column numbers of presence.seen_signatures. */
typedef struct SignaturesColumns
{
	AttrNumber	nonce;
	AttrNumber	sign_timestamp;
	AttrNumber	signature;
	AttrNumber	body_sha256;
	AttrNumber	signed_at;
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
