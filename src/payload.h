/*-------------------------------------------------------------------------
 *
 * payload.h
 *	  Parse a webhook body into status items, on PostgreSQL's JSON lexer.
 *
 * The parser touches no tables and raises no errors itself: it reports the
 * first problem in a PayloadError, so it also builds outside the server
 * (against libpgcommon) for fuzzing.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_PAYLOAD_H
#define PRESENCE_PAYLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "item_status.h"

/* The largest item or envelope time we accept: 9999-12-31 23:59:59.999 UTC. */
#define PAYLOAD_MAX_TIME_MS INT64_C(253402300799999)

/* A user id, session id or envelope id longer than this many bytes is rejected. */
#define PAYLOAD_MAX_ID_BYTES 256

/* An os or clientIp longer than this many bytes is rejected. */
#define PAYLOAD_MAX_TAG_BYTES 64

/* What went wrong; ingest maps each kind to one SQLSTATE. */
typedef enum PayloadErrorKind
{
	PAYLOAD_OK = 0,
	PAYLOAD_SYNTAX,				/* not one JSON value: 22P02 */
	PAYLOAD_NUL_CHARACTER,		/* \u0000 in a string: 22P05 */
	PAYLOAD_SHAPE,				/* valid JSON, wrong shape: 22023 */
	PAYLOAD_OUT_OF_RANGE		/* an integer out of range: 22003 */
} PayloadErrorKind;

typedef struct PayloadError
{
	PayloadErrorKind kind;
	char	   *message;		/* names the field path, e.g. data[1].status */
	char	   *detail;			/* a full sentence, or NULL */
} PayloadError;

/* One status item, as the provider sent it. */
typedef struct PayloadItem
{
	ItemStatus	status;
	int			item_no;		/* 0-based position in data[] or in the array */
	int64_t		time_ms;
	char	   *user_id;
	char	   *session_id;		/* "" for the anonymous session */
	char	   *os;				/* NULL when absent */
	char	   *client_ip;		/* NULL when absent */
} PayloadItem;

/* What an open_channel:operation item does (operationType). */
typedef enum RoomOperation
{
	ROOM_CREATE = 0,
	ROOM_JOIN = 1,
	ROOM_LEAVE = 2,
	ROOM_DESTROY = 3
} RoomOperation;

/* A userIds array with more entries than this is rejected. */
#define PAYLOAD_MAX_ROOM_USERS 1000

/* One room item (open_channel:operation), as the provider sent it. */
typedef struct PayloadRoomItem
{
	int			item_no;		/* 0-based position in data[] */
	int64_t		time_ms;
	char	   *room_id;		/* channelId */
	RoomOperation operation;
	int			status;			/* 0 action, 1 auto-exited, 2 banned, 3 auto-destroyed */
	int			nusers;			/* 0 to PAYLOAD_MAX_ROOM_USERS */
	char	  **user_ids;
} PayloadRoomItem;

typedef struct Payload
{
	bool		has_envelope;
	char	   *event_id;		/* envelope id, NULL for the legacy shapes */
	int64_t		event_time_ms;	/* envelope time, -1 for the legacy shapes */
	int			nitems;			/* items to apply */
	int			nignored;		/* elements of a foreign event's data */
	PayloadItem *items;
	int			nrooms;			/* room items to apply */
	PayloadRoomItem *rooms;
} Payload;

/* Room items count once per user they name (once for a create or a destroy). */
static inline int
payload_room_units(const Payload *p)
{
	int			n = 0;

	for (int i = 0; i < p->nrooms; i++)
		n += p->rooms[i].nusers > 0 ? p->rooms[i].nusers : 1;
	return n;
}

extern bool payload_parse(char *json, int len, int encoding,
						  Payload *out, PayloadError *err);

#endif							/* PRESENCE_PAYLOAD_H */
