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

typedef struct Payload
{
	bool		has_envelope;
	char	   *event_id;		/* envelope id, NULL for the legacy shapes */
	int64_t		event_time_ms;	/* envelope time, -1 for the legacy shapes */
	int			nitems;			/* items to apply */
	int			nignored;		/* elements of a foreign event's data */
	PayloadItem *items;
} Payload;

extern bool payload_parse(char *json, int len, int encoding,
						  Payload *out, PayloadError *err);

#endif							/* PRESENCE_PAYLOAD_H */
