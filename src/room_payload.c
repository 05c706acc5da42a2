/*-------------------------------------------------------------------------
 *
 * room_payload.c
 *	  Read the items of an open_channel:operation delivery (contract section
 *	  14): {channelId, userIds, operationType, status, time}.
 *
 * payload.c reads every element of an envelope's data once, before it knows
 * the envelope's type, and hands each element's fields here as well as to
 * its status item reader; the type then decides which reading stands, and
 * the first problem of that reading is the delivery's error.  userIds comes
 * as the JSON text of the array, already validated, and is lexed again here.
 *
 * Like payload.c this file touches no tables and never raises: it also builds
 * outside the server, for fuzzing.
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include "payload.h"
#include "payload_fields.h"
#include "presence_compat.h"

/* A small integer field: a JSON integer or a string of its digits, 0 to max. */
static bool
read_small_int(PayloadError *err, const char *base, const char *key,
			   const Value *v, int max, int *out)
{
	if (payload_is_null(v))
		return payload_fail_field(err, base, key, "is missing");
	if ((v->type == JSON_TOKEN_NUMBER || v->type == JSON_TOKEN_STRING) &&
		v->text[0] >= '0' && v->text[0] <= '0' + max && v->text[1] == '\0')
	{
		*out = v->text[0] - '0';
		return true;
	}
	return payload_fail_field(err, base, key,
							  psprintf("must be an integer from 0 to %d", max));
}

/* A non-empty string of at most PAYLOAD_MAX_ID_BYTES bytes. */
static bool
check_id(PayloadError *err, const char *base, const char *key, JsonTokenType type,
		 const char *text)
{
	if (type != JSON_TOKEN_STRING || *text == '\0')
		return payload_fail_field(err, base, key, "must be a non-empty string");
	if (strlen(text) > PAYLOAD_MAX_ID_BYTES)
		return payload_fail_field(err, base, key, "is longer than 256 bytes");
	return true;
}

/* Lex userIds again from its (valid) JSON text: strings only, at most the cap. */
static bool
read_user_ids(PayloadError *err, const char *base, const Value *v, int encoding,
			  PayloadRoomItem *item)
{
	JsonLexContext *lex;
	int			cap = 0;

	if (v->type != JSON_TOKEN_ARRAY_START || v->raw == NULL)
		return payload_fail_field(err, base, "userIds", "must be an array of strings");
	lex = presence_json_lexer(v->raw, v->raw_len, encoding);
	if (json_lex(lex) != JSON_SUCCESS || json_lex(lex) != JSON_SUCCESS)
		return payload_fail_field(err, base, "userIds", "must be an array of strings");
	while (lex->token_type != JSON_TOKEN_ARRAY_END)
	{
		char	   *key = psprintf("userIds[%d]", item->nusers);

		if (item->nusers == PAYLOAD_MAX_ROOM_USERS)
			return payload_fail(err, PAYLOAD_SHAPE,
								psprintf("field \"%s\" has more than %d entries",
										 *base ? psprintf("%s.userIds", base) : "userIds",
										 PAYLOAD_MAX_ROOM_USERS),
								pstrdup("Send the users of a larger operation in several items."));
		if (!check_id(err, base, key, lex->token_type,
					  lex->token_type == JSON_TOKEN_STRING ? lex->strval->data : ""))
			return false;
		if (item->nusers == cap)
		{
			cap = cap ? cap * 2 : 4;
			item->user_ids = item->user_ids ? repalloc(item->user_ids, cap * sizeof(char *))
				: palloc(cap * sizeof(char *));
		}
		item->user_ids[item->nusers++] = pstrdup(lex->strval->data);
		pfree(key);
		/* The text is valid JSON: a comma and the next string, or the end. */
		if (json_lex(lex) != JSON_SUCCESS ||
			(lex->token_type == JSON_TOKEN_COMMA && json_lex(lex) != JSON_SUCCESS))
			return payload_fail_field(err, base, "userIds", "must be an array of strings");
	}
	return true;
}

static bool
room_item_from_values(PayloadError *err, const char *base, const Value *values,
					  int encoding, PayloadRoomItem *item)
{
	const Value *room = &values[F_CHANNEL_ID];
	const Value *users = &values[F_USER_IDS];
	int			operation = 0;

	if (payload_is_null(room))
		return payload_fail_field(err, base, "channelId", "is missing");
	if (!check_id(err, base, "channelId", room->type, room->text ? room->text : ""))
		return false;
	item->room_id = room->text;
	if (!read_small_int(err, base, "operationType", &values[F_OPERATION_TYPE], 3, &operation) ||
		!read_small_int(err, base, "status", &values[F_STATUS], 3, &item->status) ||
		!payload_read_time(err, base, &values[F_TIME], true, &item->time_ms))
		return false;
	item->operation = (RoomOperation) operation;
	/* A create or a destroy names the room alone: its userIds, if any, are checked only. */
	if (payload_is_null(users))
	{
		if (item->operation == ROOM_JOIN || item->operation == ROOM_LEAVE)
			return payload_fail_field(err, base, "userIds", "is missing");
		return true;
	}
	if (!read_user_ids(err, base, users, encoding, item))
		return false;
	if (item->nusers == 0 && (item->operation == ROOM_JOIN || item->operation == ROOM_LEAVE))
		return payload_fail_field(err, base, "userIds", "must not be empty");
	if (item->operation == ROOM_CREATE || item->operation == ROOM_DESTROY)
		item->nusers = 0;
	return true;
}

/* Read one room item (payload_fields.h); after a problem, the rest are not read. */
void
room_accept_item(Payload *out, PayloadError *err, const char *base,
				 const Value *values, int item_no, int encoding)
{
	PayloadRoomItem item = {0};

	if (err->kind != PAYLOAD_OK)
		return;
	item.item_no = item_no;
	if (!room_item_from_values(err, base, values, encoding, &item))
		return;
	/* Grown by doubling: the capacity is the next power of two of nrooms. */
	if ((out->nrooms & (out->nrooms - 1)) == 0)
	{
		int			cap = out->nrooms ? out->nrooms * 2 : 1;

		out->rooms = out->rooms ? repalloc(out->rooms, cap * sizeof(PayloadRoomItem))
			: palloc(cap * sizeof(PayloadRoomItem));
	}
	out->rooms[out->nrooms++] = item;
}
