/*-------------------------------------------------------------------------
 *
 * presence.c
 *	  Module setup: the library's magic block and its settings.
 *
 * Every setting is SUSET: an application role must not be able to switch
 * the signature age check off, lift the size limit, or prune everything,
 * for its own session, or switch the live feed off (or flood it).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/memutils.h"
#include "utils/guc.h"

#include "presence.h"
#include "store.h"
#include "triggers.h"

/* presence_compat.h refuses a PostgreSQL older than 15. */
#include "presence_compat.h"

PG_MODULE_MAGIC;

int			presence_signature_max_age = 300;
int			presence_max_payload_bytes = 1048576;
char	   *presence_retention = NULL;
int			presence_feed = PRESENCE_FEED_OFF;
bool		presence_feed_sessions = false;
bool		presence_feed_rooms = false;

static const struct config_enum_entry feed_options[] = {
	{"off", PRESENCE_FEED_OFF, false},
	{"notify", PRESENCE_FEED_NOTIFY, false},
	{"logical", PRESENCE_FEED_LOGICAL, false},
	{NULL, 0, false}
};
static char *presence_daily_retention = NULL;	/* read by SQL only */

/* presence.retention must read as a non-negative interval ('0' keeps everything). */
static bool
check_retention(char **newval, void **extra, GucSource source)
{
	if (retention_parse(*newval))
		return true;
	GUC_check_errdetail("The value must be a non-negative interval, such as '30 days', or 0 to keep everything.");
	return false;
}

void		_PG_init(void);

/* Module load: define the presence.* settings; tell the store of the users triggers. */
void
_PG_init(void)
{
	store_set_user_triggers(presence_users_follow_events, presence_users_follow_sessions);
	DefineCustomIntVariable("presence.signature_max_age",
							"Largest accepted distance, in seconds, between a delivery's signTimestamp and the server clock.",
							"0 turns the age check off.",
							&presence_signature_max_age,
							300, 0, INT_MAX / 1000,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("presence.max_payload_bytes",
							"Largest accepted delivery body, in bytes.",
							NULL,
							&presence_max_payload_bytes,
							1048576, 1, MaxAllocSize / 2,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomStringVariable("presence.retention",
							   "How long presence.maintain() keeps status items and ended sessions.",
							   "0 keeps everything.",
							   &presence_retention,
							   "30 days",
							   PGC_SUSET, 0,
							   check_retention, NULL, NULL);
	DefineCustomEnumVariable("presence.feed",
							 "Where ingest reports each user whose online or logged_out changed.",
							 "off, notify (NOTIFY presence) or logical (a logical decoding message with the prefix presence).",
							 &presence_feed,
							 PRESENCE_FEED_OFF, feed_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("presence.feed_sessions",
							 "Also report each session whose state changed, when presence.feed is on.",
							 NULL,
							 &presence_feed_sessions,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("presence.feed_rooms",
							 "Also report each room membership whose state changed, when presence.feed is on.",
							 "On the channel (or logical prefix) presence_rooms.",
							 &presence_feed_rooms,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("presence.daily_retention",
							   "How long presence.maintain() keeps the rows of presence.daily.",
							   "0 keeps everything.",
							   &presence_daily_retention,
							   "400 days",
							   PGC_SUSET, 0,
							   check_retention, NULL, NULL);
	MarkGUCPrefixReserved("presence");
}
