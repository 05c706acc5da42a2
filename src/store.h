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

#include "session_rules.h"
#include "signature.h"

/* One row for presence.events. */
typedef struct EventRow
{
	const char *user_id;
	const char *session_id;
	TimestampTz status_time;
	char		status;
	const char *event_id;		/* NULL for legacy bodies */
	bool		has_event_time;
	TimestampTz event_time;
	int			item_no;
	const char *os;
	const char *client_ip;
	bool		stale;
} EventRow;

extern void store_begin(void);
extern void store_end(void);
extern bool store_lock_user(const char *user_id);
extern void store_read_session(const char *user_id, const char *session_id,
							   SessionRow *row);
extern void store_find_superseding(const char *user_id, const char *session_id,
								   TimestampTz time, char status, bool *os, bool *ip);
extern bool store_insert_event(const EventRow *ev);
extern void store_write_session(const char *user_id, const char *session_id,
								const SessionRow *row, bool is_new);

extern char **store_secrets_for(const char *app_key, int *nsecrets, bool *any_secret);
extern bool store_bind_signature(const char *nonce, const char *sign_timestamp,
								 const char *signature, const uint8_t *digest,
								 TimestampTz signed_at);

#endif							/* PRESENCE_STORE_H */
