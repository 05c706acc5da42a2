/*-------------------------------------------------------------------------
 *
 * store.h
 *	  Reads and writes of the presence tables for ingest.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_STORE_H
#define PRESENCE_STORE_H

#include "datatype/timestamp.h"
#include "fmgr.h"

#include "session_rules.h"
#include "signature.h"

/* One row for presence.events. */
typedef struct EventRow
{
	const char *user_id;
	const char *session_id;
	TimestampTz status_time;
	ItemStatus	status;
	const char *event_id;		/* NULL for legacy bodies */
	bool		has_event_time;
	TimestampTz event_time;
	int			item_no;
	const char *os;
	const char *client_ip;
	bool		stale;
} EventRow;

/*
 * The user lock: store_lock_user locks a user's row (creating it), and the
 * reads and writes that follow are that user's, until store_release_user
 * (or the next store_lock_user, or store_end) writes the row once.  The
 * triggers change the users row through store_user_note_item and
 * store_user_count_online, in memory while ingest holds that user's lock,
 * else under a lock of their own.
 */
extern void store_begin(void);
/*
 * The trigger functions that keep presence.users (triggers.c), whose work a
 * call takes over where they are their tables' only triggers; _PG_init sets
 * them, so that this layer needs nothing of the one above it.
 */
extern void store_set_user_triggers(PGFunction follow_events, PGFunction follow_sessions);
extern void store_end(void);
extern bool store_call_running(void);
extern bool store_lock_user(const char *user_id);
extern void store_release_user(void);
extern void store_read_locked_user(UserRow *row);
extern void store_user_note_item(const char *user_id, ItemStatus status, TimestampTz time);
extern void store_user_count_online(const char *user_id, int delta);
extern void store_read_session(const char *user_id, const char *session_id,
							   SessionRow *row);
/* The os and client_ip an item was logged with (either may be NULL). */
typedef struct LoggedFields
{
	char	   *os;
	char	   *client_ip;
} LoggedFields;

extern bool store_insert_event(const EventRow *ev, bool may_be_logged, LoggedFields *known);
extern void store_widen_event(const LoggedFields *fields);
extern void store_write_session(const char *user_id, const char *session_id,
								const SessionRow *row, bool is_new, bool was_online);

/* The rows of presence.secrets. */
typedef struct SecretSet
{
	int			n;
	char	  **app_keys;
	char	  **secrets;
} SecretSet;

extern SecretSet *store_load_secrets(void);
extern TimestampTz store_load_horizon(void);
extern char **store_secrets_serving(const SecretSet *set, const char *app_key,
									int *nsecrets);
/* One distinct signature triple of a call, with its body's digest. */
typedef struct SignatureBinding
{
	const char *nonce;
	const char *sign_timestamp;
	const char *signature;		/* lower case */
	uint8_t		digest[BODY_DIGEST_LEN];
	TimestampTz signed_at;
	uint8_t		stored[BODY_DIGEST_LEN];	/* out: the digest it is bound to */
} SignatureBinding;

extern void store_bind_signatures(SignatureBinding *b, int n);

#endif							/* PRESENCE_STORE_H */
