/*-------------------------------------------------------------------------
 *
 * payload_fields.h
 *	  What the body parser (payload.c) shares with the room item reader
 *	  (room_payload.c): the fields an item may have, a field's value as read,
 *	  and the checks both use.  Not for other files: payload.h is the
 *	  parser's interface.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_PAYLOAD_FIELDS_H
#define PRESENCE_PAYLOAD_FIELDS_H

#include "common/jsonapi.h"

#include "payload.h"

/* The fields we read, from an envelope or from an item. */
typedef enum Field
{
	F_TYPE,
	F_ID,
	F_TIME,
	F_DATA,
	F_STATUS,
	F_USERID,
	F_USERID_LOWER,
	F_OS,
	F_CLIENT_IP,
	F_SESSION_ID,
	F_CHANNEL_ID,
	F_USER_IDS,
	F_OPERATION_TYPE,
	F_COUNT,
	F_UNKNOWN = -1
} Field;

/* A field's value, kept until the whole object has been read. */
typedef struct Value
{
	bool		present;
	JsonTokenType type;			/* OBJECT_START / ARRAY_START for composites */
	char	   *text;			/* de-escaped string or number text */
	char	   *raw;			/* a composite's JSON text (validated), else NULL */
	int			raw_len;
} Value;

/* Note the first problem in err (kept if one is there); returns false. */
extern bool payload_fail(PayloadError *err, PayloadErrorKind kind, char *message, char *detail);

/* A shape problem: field "base.key" problem. */
extern bool payload_fail_field(PayloadError *err, const char *base, const char *key,
							   const char *problem);

/* Absent or null. */
extern bool payload_is_null(const Value *v);

/* An item's "time": an integer of ms (or, with digits_as_string, a string of digits). */
extern bool payload_read_time(PayloadError *err, const char *base, const Value *v,
							  bool digits_as_string, int64_t *ms);

/*
 * Read the room item (open_channel:operation) whose fields are in values[],
 * at path base, position item_no, and append it to out; the first problem is
 * noted in err (room_payload.c).
 */
extern void room_accept_item(Payload *out, PayloadError *err, const char *base,
							 const Value *values, int item_no, int encoding);

#endif							/* PRESENCE_PAYLOAD_FIELDS_H */
