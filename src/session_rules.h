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
	/*
	 * The order key (session_item_key) of the greatest item that carried os,
	 * and of the one that carried client_ip: what makes the rule "from the
	 * greatest item that carries the field" one comparison, however long the
	 * session's history.
	 */
	bool		has_os_key;
	int64_t		os_key;
	bool		has_client_ip_key;
	int64_t		client_ip_key;
} SessionRow;

/* The aggregate fields of a row of presence.users; times are TimestampTz values. */
typedef struct UserRow
{
	int32_t		online_sessions;
	bool		online;
	bool		logged_out;
	bool		last_offline_logout;	/* the item at last_offline_at is a "2" */
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
 * The (time, status) order of items as one integer, for the os_key and
 * client_ip_key columns of presence.sessions: time * 4 + the status's rank.
 * Times are those ingest accepts (up to the end of year 9999); one beyond
 * +-2^60 microseconds (past year 38,000) is clamped there.
 */
extern int64_t session_item_key(int64_t time, ItemStatus status);

/*
 * Apply item to row.  Returns whether a field of the contract's row changed
 * (false means the item is stale); the order keys may move even then, and
 * session_keys_moved tells the caller the row must still be written.
 */
extern bool session_apply(SessionRow *row, const RuleItem *item);

/* Do the order keys of two versions of a session row differ? */
extern bool session_keys_moved(const SessionRow *before, const SessionRow *after);

/*
 * presence.sessions.client_ip_key as stored: NULL (false) where it would
 * repeat os_key, as it does whenever one item carried both, or where no item
 * carried client_ip; session_load_client_ip_key reads it back.
 */
extern bool session_stored_client_ip_key(const SessionRow *row, int64_t *key);
extern void session_load_client_ip_key(SessionRow *row, bool stored, int64_t key);

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
 * negative.
 */
extern bool users_count_online(UserRow *u, int delta);

extern const char *session_state_name(SessionState state);
extern bool session_state_from_name(const char *name, SessionState *state);

#endif							/* PRESENCE_SESSION_RULES_H */
