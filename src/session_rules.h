/*-------------------------------------------------------------------------
 *
 * session_rules.h
 *	  The state rules of one session key (doc/rules.md section 3), as pure code.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_SESSION_RULES_H
#define PRESENCE_SESSION_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "item_status.h"

typedef enum SessionState
{
	SESSION_ONLINE,
	SESSION_OFFLINE,
	SESSION_LOGGED_OUT
} SessionState;

/* A row of presence.sessions; times are TimestampTz values. */
typedef struct SessionRow
{
	bool		exists;
	SessionState state;
	char	   *os;				/* NULL when never given */
	char	   *client_ip;
	bool		has_started;
	int64_t		started_at;
	bool		has_ended;
	int64_t		ended_at;
	int64_t		last_event_at;
} SessionRow;

/* The aggregate fields of a row of presence.users; times are TimestampTz values. */
typedef struct UserRow
{
	int32_t		online_sessions;
	bool		online;
	bool		logged_out;
	bool		has_online_at;
	bool		has_offline_at;
	bool		has_seen_at;
	int64_t		last_online_at;
	int64_t		last_offline_at;
	int64_t		last_seen_at;
} UserRow;

/* One status item applied to a session key. */
typedef struct RuleItem
{
	ItemStatus	status;
	int64_t		time;			/* TimestampTz */
	bool		anonymous;		/* session id '' */
	const char *os;				/* NULL when the item does not carry it */
	const char *client_ip;
} RuleItem;

/*
 * Which of os and client_ip the item would change but may be older than an
 * item already known: for those the caller must look for a greater item of
 * the session that carried the field.
 */
extern void session_fields_to_check(const SessionRow *row, const RuleItem *item,
									bool *check_os, bool *check_ip);

/*
 * Apply item to row.  os_superseded / ip_superseded say that a greater item
 * of this session already carried the field.  Returns whether any field of
 * the row changed (false means the item is stale).
 */
extern bool session_apply(SessionRow *row, const RuleItem *item,
						  bool os_superseded, bool ip_superseded);

/*
 * Of two copies' values of os or client_ip, the one an item keeps: the
 * byte-wise greatest, a value beating none (doc/rules.md section 3.3).
 */
extern const char *session_greatest_value(const char *a, const char *b);

/*
 * The users rule (doc/rules.md section 3.3), the one place it is written: a newly logged
 * item raises the user's greatest times.
 */
extern void users_note_item(UserRow *u, ItemStatus status, int64_t time);

/*
 * The users rule: the user's online sessions moved by delta (0 when only a
 * session's end changed).  False, and u unchanged, when the count would go
 * negative.  *probe says the caller must look whether a session of the user
 * is logged_out with ended_at = last_offline_at, and set logged_out to that.
 */
extern bool users_count_online(UserRow *u, int delta, bool *probe);

extern const char *session_state_name(SessionState state);
extern bool session_state_from_name(const char *name, SessionState *state);

#endif							/* PRESENCE_SESSION_RULES_H */
