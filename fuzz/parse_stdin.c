/*-------------------------------------------------------------------------
 *
 * parse_stdin.c
 *	  Run the payload parser outside the server on one body read from stdin,
 *	  printing the items or the error: for debugging and for replaying fuzz
 *	  findings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "mb/pg_wchar.h"

#include "payload.h"

int
main(void)
{
	char		buf[1 << 20];
	size_t		len = fread(buf, 1, sizeof(buf), stdin);
	Payload		payload;
	PayloadError err;

	if (!payload_parse(buf, (int) len, PG_UTF8, &payload, &err))
	{
		printf("error %d: %s%s%s\n", err.kind, err.message,
			   err.detail ? " / " : "", err.detail ? err.detail : "");
		return 1;
	}
	printf("event %s, %d items, %d ignored\n",
		   payload.event_id ? payload.event_id : "(none)", payload.nitems, payload.nignored);
	for (int i = 0; i < payload.nitems; i++)
		printf("%d %c %s/%s %lld\n", payload.items[i].item_no, payload.items[i].status,
			   payload.items[i].user_id, payload.items[i].session_id,
			   (long long) payload.items[i].time_ms);
	return 0;
}
