/*-------------------------------------------------------------------------
 *
 * presence.h
 *	  Settings and small helpers shared by the server-side files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_H
#define PRESENCE_H

#include "datatype/timestamp.h"

/* presence.signature_max_age, seconds; 0 turns the age check off */
extern int	presence_signature_max_age;

/* presence.max_payload_bytes */
extern int	presence_max_payload_bytes;

/* presence.retention, an interval as text */
extern char *presence_retention;

/* presence.feed: where ingest reports users whose presence changed */
typedef enum PresenceFeed
{
	PRESENCE_FEED_OFF,
	PRESENCE_FEED_NOTIFY,		/* NOTIFY presence */
	PRESENCE_FEED_LOGICAL		/* a logical decoding message, prefix presence */
} PresenceFeed;

extern int	presence_feed;

/* presence.feed_sessions: also report sessions whose state changed */
extern bool presence_feed_sessions;

/* presence.feed_channel: the feed's NOTIFY channel and logical decoding prefix */
extern char *presence_feed_channel;

/* presence.feed_secret: the HMAC-SHA256 key of the feed's signature; "" signs nothing */
extern char *presence_feed_secret;
/* presence.feed_rooms: also report room memberships whose state changed */
extern bool presence_feed_rooms;

/* Does s read as a non-negative interval?  Raises no error (a GUC check). */
extern bool retention_parse(const char *s);

/* As retention_parse, and its length in milliseconds into *ms (when not NULL). */
extern bool interval_parse_ms(const char *s, int64 *ms);

/* presence.offline_grace, in milliseconds; 0: online false is sent at once */
extern int64 presence_offline_grace_ms;

/* Milliseconds from the Unix epoch (1970) to PostgreSQL's (2000). */
#define PRESENCE_UNIX_EPOCH_OFFSET_MS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * INT64CONST(1000))

/* Unix milliseconds to a timestamptz. */
static inline TimestampTz
presence_ms_to_timestamptz(int64 ms)
{
	return (TimestampTz) (ms - PRESENCE_UNIX_EPOCH_OFFSET_MS) * 1000;
}

/* A timestamptz to Unix milliseconds. */
static inline int64
presence_timestamptz_to_ms(TimestampTz ts)
{
	return ts / 1000 + PRESENCE_UNIX_EPOCH_OFFSET_MS;
}

#endif							/* PRESENCE_H */
