/*-------------------------------------------------------------------------
 *
 * feed.h
 *	  The live feed: report users (and sessions) whose presence changed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_FEED_H
#define PRESENCE_FEED_H

#include "nodes/pg_list.h"

#include "presence.h"
#include "session_rules.h"
#include "store.h"

/* One user of an ingest call, while the call applies the user's items. */
typedef struct FeedUser
{
	const char *user_id;
	UserRow		before;			/* the row as locked, before the items */
	UserRow		after;			/* the row once the items are applied */
	List	   *sessions;		/* FeedSession *, those whose state changed */
} FeedUser;

/*
 * The streams of the feed, each on a channel (and logical decoding prefix) of
 * its own: users (and their sessions) on presence.feed_channel, rooms on it
 * with FEED_ROOMS_SUFFIX appended (doc/feed.md).
 */
typedef enum FeedStream
{
	FEED_STREAM_USERS,
	FEED_STREAM_ROOMS
} FeedStream;

#define FEED_ROOMS_SUFFIX "_rooms"

/* The longest presence.feed_channel: a stream's channel must fit NAMEDATALEN - 1 bytes. */
#define FEED_CHANNEL_MAX_BYTES (NAMEDATALEN - 1 - (int) sizeof(FEED_ROOMS_SUFFIX) + 1)

/* Is the feed on?  Cheap: ingest asks once per call. */
static inline bool
feed_enabled(void)
{
	return presence_feed != PRESENCE_FEED_OFF;
}

/* Start the user: forget the sessions noted for the user before. */
extern void feed_user_begin(FeedUser *fu, const char *user_id);

/* Note a session whose state the call changed (or made), when feed_sessions is on. */
extern void feed_note_session(FeedUser *fu, const char *session_id, const SessionRow *row);

/* Send the user's message for the row u now (the offline grace's worker). */
extern void feed_send_user(const char *user_id, const UserRow *u);

/* Done with the user (before and after read): send what changed, transactionally. */
extern void feed_user_end(FeedUser *fu);

/* Is name fit for presence.feed_channel ([a-z_][a-z0-9_]*, at most FEED_CHANNEL_MAX_BYTES)? */
extern bool feed_channel_valid(const char *name);

/* The channel (and logical decoding prefix) of a stream, palloc'd. */
extern char *feed_channel(FeedStream stream);

/*
 * Send one message (a JSON object) of a stream, transactionally: signed when
 * presence.feed_secret is set, on the stream's channel, the way presence.feed
 * says.  key names what the message is about (a user id): repeats of a key's
 * message within a transaction are kept apart from NOTIFY's folding.
 */
extern void feed_send(FeedStream stream, const char *key, const char *message);

#endif							/* PRESENCE_FEED_H */
