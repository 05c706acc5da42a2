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

/* Done with the user (before and after read): send what changed, transactionally. */
extern void feed_user_end(FeedUser *fu);

/* Send a room membership message on presence_rooms, transactionally. */
extern void feed_send_room(char *payload);

#endif							/* PRESENCE_FEED_H */
