/*-------------------------------------------------------------------------
 *
 * feed.c
 *	  The live feed (doc/rules.md section 9): one message per user whose online
 *	  or logged_out an ingest call changed, carrying the user's row after the
 *	  call; with presence.feed_sessions, one more per session whose state
 *	  changed.
 *
 * presence.feed = notify sends each with NOTIFY on presence.feed_channel
 * (default presence; Async_Notify), logical writes it to the WAL as a
 * transactional logical decoding message with that prefix (LogLogicalMessage).
 * Both are transactional: nothing leaves a transaction that rolls back, a
 * savepoint rolled back takes its messages with it, and listeners see them at
 * commit.  Every message of every stream leaves through feed_send(), which
 * picks the stream's channel and, with presence.feed_secret set, appends
 * "signature": HMAC-SHA256 (src/common/hmac.c) keyed by the secret over the
 * message as it was without that field, in lower-case hex, as the last key.
 *
 * NOTIFY folds a payload equal to one already pending in the transaction into
 * that one, which would lose a state the user went back to (online, offline,
 * online again in three calls of one transaction): the listener's last
 * message would be the offline.  So each repeat of a user's payload within a
 * transaction gets one more trailing space, still the same JSON value.
 *
 * A payload always fits NOTIFY's 8000 bytes: user and session ids have at
 * most 256 bytes, os and client_ip at most 64 (payload.h), so even with
 * every byte escaped as \u00XX a session message stays under 4200 bytes,
 * and a signature adds 82.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/async.h"
#include "common/hashfn.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "lib/stringinfo.h"
#include "replication/message.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "feed.h"
#include "grace_queue.h"
#include "payload.h"
#include "presence_compat.h"

/* NOTIFY_PAYLOAD_MAX_LENGTH of async.c, which does not export it: 8000 bytes. */
#define FEED_NOTIFY_MAX_BYTES (BLCKSZ - NAMEDATALEN - 128)

/* A session noted by feed_note_session. */
typedef struct FeedSession
{
	const char *session_id;
	SessionRow	row;
} FeedSession;

/* Start collecting what an ingest call changes of this user. */
void
feed_user_begin(FeedUser *fu, const char *user_id)
{
	fu->user_id = user_id;
	fu->sessions = NIL;
}

/* Note a session of the user whose state changed (or that is new). */
void
feed_note_session(FeedUser *fu, const char *session_id, const SessionRow *row)
{
	FeedSession *s = palloc(sizeof(FeedSession));

	s->session_id = session_id;
	s->row = *row;
	fu->sessions = lappend(fu->sessions, s);
}

/* ISO 8601 in UTC with milliseconds, e.g. "2024-10-29T09:00:00.000Z"; else null. */
static void
append_time(StringInfo buf, const char *key, bool present, TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;

	appendStringInfo(buf, ", \"%s\": ", key);
	if (!present || TIMESTAMP_NOT_FINITE(t) || timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	appendStringInfo(buf, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
					 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
					 (int) (fsec / 1000));
}

/* , "key": "value" (JSON-escaped), or , "key": null */
static void
append_text(StringInfo buf, const char *key, const char *value)
{
	appendStringInfo(buf, ", \"%s\": ", key);
	if (value == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
}

/* The JSON message the feed sends for a user (and a session, when given). */
static char *
feed_payload(const char *user_id, const UserRow *u, const char *session_id,
			 const SessionRow *s)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"user_id\": ");
	escape_json(&buf, user_id);
	appendStringInfo(&buf, ", \"online\": %s, \"online_sessions\": %d, \"logged_out\": %s",
					 u->online ? "true" : "false", u->online_sessions,
					 u->logged_out ? "true" : "false");
	append_time(&buf, "last_online_at", u->has_online_at, u->last_online_at);
	append_time(&buf, "last_offline_at", u->has_offline_at, u->last_offline_at);
	append_time(&buf, "last_seen_at", u->has_seen_at, u->last_seen_at);
	if (s != NULL)
	{
		append_text(&buf, "session_id", session_id);
		append_text(&buf, "state", session_state_name(s->state));
		append_text(&buf, "os", s->os);
		append_text(&buf, "client_ip", s->client_ip);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* The payloads each user was sent by NOTIFY in the current transaction. */
typedef struct FeedSent
{
	char		user_id[PAYLOAD_MAX_ID_BYTES + 1];	/* the hash key */
	List	   *payloads;		/* char *, in TopTransactionContext */
} FeedSent;

static HTAB *sent_in_xact = NULL;
static LocalTransactionId sent_lxid = InvalidLocalTransactionId;


/* The user's list of payloads sent in this transaction, made on first use. */
static FeedSent *
sent_for_user(const char *user_id)
{
	bool		found;
	FeedSent   *entry;

	if (sent_in_xact == NULL || sent_lxid != presence_current_lxid())
	{
		HASHCTL		ctl = {.keysize = PAYLOAD_MAX_ID_BYTES + 1, .entrysize = sizeof(FeedSent),
		.hcxt = TopTransactionContext};

		/* The old table went with its transaction's memory. */
		sent_in_xact = hash_create("presence feed payloads", 64, &ctl,
								   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		sent_lxid = presence_current_lxid();
	}
	entry = hash_search(sent_in_xact, user_id, HASH_ENTER, &found);
	if (!found)
		entry->payloads = NIL;
	return entry;
}

/*
 * The payload to NOTIFY for the user: itself, or with one trailing space
 * for each time the same payload was sent for the user in this transaction.
 */
static char *
unfolded_payload(const char *user_id, char *payload)
{
	FeedSent   *entry = sent_for_user(user_id);
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	int			repeats = 0;
	ListCell   *lc;

	foreach(lc, entry->payloads)
	{
		if (strcmp(lfirst(lc), payload) == 0)
			repeats++;
	}
	entry->payloads = lappend(entry->payloads, pstrdup(payload));
	MemoryContextSwitchTo(old);
	if (repeats == 0)
		return payload;
	return psprintf("%s%*s", payload, repeats, "");
}

/* Is name fit for presence.feed_channel ([a-z_][a-z0-9_]*, at most FEED_CHANNEL_MAX_BYTES)? */
bool
feed_channel_valid(const char *name)
{
	size_t		len = name == NULL ? 0 : strlen(name);

	if (len == 0 || len > FEED_CHANNEL_MAX_BYTES || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
			  name[i] == '_'))
			return false;
	return true;
}

/* The channel (and logical decoding prefix) of a stream, palloc'd. */
char *
feed_channel(FeedStream stream)
{
	if (stream == FEED_STREAM_ROOMS)
		return psprintf("%s%s", presence_feed_channel, FEED_ROOMS_SUFFIX);
	return pstrdup(presence_feed_channel);
}

/*
 * The message with , "signature": "<64 hex digits>" before its closing
 * brace: HMAC-SHA256 keyed by presence.feed_secret over the message as given.
 * The message itself when no secret is set.
 */
static char *
signed_message(const char *message)
{
	size_t		len = strlen(message);
	uint8		mac[PG_SHA256_DIGEST_LENGTH];
	char		hex[PG_SHA256_DIGEST_LENGTH * 2 + 1];
	pg_hmac_ctx *ctx;

	if (presence_feed_secret == NULL || presence_feed_secret[0] == '\0')
		return pstrdup(message);
	Assert(len > 0 && message[len - 1] == '}');
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL ||
		pg_hmac_init(ctx, (const uint8 *) presence_feed_secret, strlen(presence_feed_secret)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) message, len) < 0 ||
		pg_hmac_final(ctx, mac, sizeof(mac)) < 0)
	{
		pg_hmac_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not sign a presence feed message")));
	}
	pg_hmac_free(ctx);
	hex[hex_encode((const char *) mac, sizeof(mac), hex)] = '\0';
	return psprintf("%.*s, \"signature\": \"%s\"}", (int) (len - 1), message, hex);
}

/* Send one message of a stream: signed, on the stream's channel, the way presence.feed says. */
void
feed_send(FeedStream stream, const char *key, const char *message)
{
	char	   *channel = feed_channel(stream);
	char	   *payload = signed_message(message);
	size_t		len;

	if (presence_feed == PRESENCE_FEED_NOTIFY)
		payload = unfolded_payload(key, payload);
	len = strlen(payload);

	if (presence_feed == PRESENCE_FEED_LOGICAL)
	{
		(void) presence_log_logical_message(channel, payload, len);
		return;
	}
	/* Cannot happen (see the file comment); never fail the delivery for it. */
	if (len >= FEED_NOTIFY_MAX_BYTES)
	{
		ereport(WARNING,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("presence feed message is too long for NOTIFY"),
				 errdetail("The message has %zu bytes; NOTIFY allows fewer than %d.",
						   len, FEED_NOTIFY_MAX_BYTES)));
		return;
	}
	Async_Notify(channel, payload);
}

/* Send the user's message now, for the row u (the grace worker's delayed offlines). */
void
feed_send_user(const char *user_id, const UserRow *u)
{
	feed_send(FEED_STREAM_USERS, user_id, feed_payload(user_id, u, NULL, NULL));
}

/*
 * Send the user's message, if its presence changed and the offline grace
 * does not hold it back (grace_queue.c), and forget the user.
 */
void
feed_user_end(FeedUser *fu)
{
	ListCell   *lc;

	if ((fu->before.online != fu->after.online ||
		 fu->before.logged_out != fu->after.logged_out) &&
		!grace_holds(fu->user_id, &fu->before, &fu->after))
		feed_send(FEED_STREAM_USERS, fu->user_id, feed_payload(fu->user_id, &fu->after, NULL, NULL));
	foreach(lc, fu->sessions)
	{
		FeedSession *s = lfirst(lc);

		feed_send(FEED_STREAM_USERS, fu->user_id, feed_payload(fu->user_id, &fu->after, s->session_id, &s->row));
	}
	fu->sessions = NIL;
}
