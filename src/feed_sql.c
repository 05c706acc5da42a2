/*-------------------------------------------------------------------------
 *
 * feed_sql.c
 *	  What a consumer of the live feed asks the database (doc/feed.md): the
 *	  channel of each stream, and, for presence_admin, the key of the signature.
 *
 * presence.feed_channel and presence.feed_secret are superuser-only settings
 * that other roles cannot SHOW; these functions are how the roles granted
 * EXECUTE learn them (the extension script says which roles).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "feed.h"
#include "presence.h"

PG_FUNCTION_INFO_V1(presence_feed_channel_of);
PG_FUNCTION_INFO_V1(presence_feed_secret_value);

/* presence.feed_channel(stream text): the channel and logical prefix of 'users' or 'rooms'. */
Datum
presence_feed_channel_of(PG_FUNCTION_ARGS)
{
	char	   *stream = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (strcmp(stream, "users") == 0)
		PG_RETURN_TEXT_P(cstring_to_text(feed_channel(FEED_STREAM_USERS)));
	if (strcmp(stream, "rooms") == 0)
		PG_RETURN_TEXT_P(cstring_to_text(feed_channel(FEED_STREAM_ROOMS)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown feed stream \"%s\"", stream),
			 errdetail("The streams are users and rooms.")));
	PG_RETURN_NULL();			/* not reached */
}

/* presence.feed_secret(): the key of the feed's signature, null when none is set. */
Datum
presence_feed_secret_value(PG_FUNCTION_ARGS)
{
	if (presence_feed_secret == NULL || presence_feed_secret[0] == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(presence_feed_secret));
}
