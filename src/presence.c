/*-------------------------------------------------------------------------
 *
 * presence.c
 *	  Module setup: the library's magic block and its settings.
 *
 * Every setting is SUSET: an application role must not be able to switch
 * the signature age check off, lift the size limit, or prune everything,
 * for its own session, or switch the live feed off (or flood it).  The feed's
 * channel is hidden from other roles too (GUC_SUPERUSER_ONLY), and its secret
 * is never shown at all: SHOW prints whether it is set, so not even
 * pg_read_all_settings (which pg_monitor has) reads it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/guc.h"

#include "feed.h"
#include "grace_queue.h"
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
char	   *presence_feed_channel = NULL;
char	   *presence_feed_secret = NULL;
bool		presence_feed_rooms = false;
int64		presence_offline_grace_ms = 0;
static char *presence_offline_grace = NULL;

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

/* presence.feed_channel must be a name a listener can write unquoted, with room for a suffix. */
static bool
check_feed_channel(char **newval, void **extra, GucSource source)
{
	if (feed_channel_valid(*newval))
		return true;
	GUC_check_errdetail("The channel must be 1 to %d lower-case letters, digits and underscores, not starting with a digit.",
						FEED_CHANNEL_MAX_BYTES);
	return false;
}

/* SHOW presence.feed_secret: whether it is set, never the secret itself. */
static const char *
show_feed_secret(void)
{
	if (presence_feed_secret == NULL || presence_feed_secret[0] == '\0')
		return "";
	return "(set)";
}

/*
 * presence.offline_grace must read as a non-negative interval, and other
 * than 0 only where the library is preloaded: the grace's worker needs it.
 */
static bool
check_offline_grace(char **newval, void **extra, GucSource source)
{
	int64		ms;

	if (!interval_parse_ms(*newval, &ms))
	{
		GUC_check_errdetail("The value must be a non-negative interval, such as '10 seconds', or 0 to send every offline at once.");
		return false;
	}
	if (ms > 0 && !grace_preloaded)
	{
		GUC_check_errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE);
		GUC_check_errmsg("presence.offline_grace needs the presence library preloaded");
		GUC_check_errdetail("The offlines held back are sent by a background worker of the library.");
		GUC_check_errhint("Add presence to shared_preload_libraries and restart the server.");
		return false;
	}
	return true;
}

/* Keep presence.offline_grace in milliseconds (checked already). */
static void
assign_offline_grace(const char *newval, void *extra)
{
	int64		ms = 0;

	presence_offline_grace_ms = interval_parse_ms(newval, &ms) ? ms : 0;
}

void		_PG_init(void);

/*
 * Module load: define the presence.* settings; tell the store of the users
 * triggers; when preloaded, set up the offline grace's workers.
 */
void
_PG_init(void)
{
	/* Not under pg_upgrade: a worker connected to a database would stop it being recreated. */
	if (process_shared_preload_libraries_in_progress && !IsBinaryUpgrade)
		grace_queue_init();
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
	DefineCustomStringVariable("presence.feed_channel",
							   "The NOTIFY channel and logical decoding prefix of the live feed.",
							   "Rooms use the channel with _rooms appended (presence.feed_channel('rooms')).",
							   &presence_feed_channel,
							   "presence",
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
							   check_feed_channel, NULL, NULL);
	DefineCustomStringVariable("presence.feed_secret",
							   "The key of the HMAC-SHA256 signature each feed message carries; empty signs nothing.",
							   "Set it in postgresql.conf or with ALTER SYSTEM, never with ALTER DATABASE or ALTER ROLE (pg_db_role_setting is readable by every role).",
							   &presence_feed_secret,
							   "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, show_feed_secret);
	DefineCustomBoolVariable("presence.feed_rooms",
							 "Also report each room membership whose state changed, when presence.feed is on.",
							 "On presence.feed_channel with _rooms appended (presence_rooms by default).",
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
	DefineCustomStringVariable("presence.offline_grace",
							   "How long a user must stay offline before the feed says so.",
							   "0 sends every offline at once; a connect within the grace cancels both messages.",
							   &presence_offline_grace,
							   "0",
							   PGC_SUSET, 0,
							   check_offline_grace, assign_offline_grace, NULL);
	MarkGUCPrefixReserved("presence");

	/*
	 * Until a backend loads the library, presence.feed_secret from the
	 * configuration is a placeholder that any role can SHOW.
	 */
	if (!process_shared_preload_libraries_in_progress && presence_feed_secret[0] != '\0')
		ereport(LOG,
				(errmsg("presence.feed_secret is set but presence is not in shared_preload_libraries"),
				 errdetail("Sessions that have not loaded presence show the secret to every role."),
				 errhint("Add presence to shared_preload_libraries and restart.")));
}
