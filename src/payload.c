/*-------------------------------------------------------------------------
 *
 * payload.c
 *	  Parse a webhook body into status items in one pass over the text.
 *
 * The body is one of three shapes: the envelope {type, id, time, data: [...]},
 * one legacy item object, or a JSON array of legacy items.  We drive
 * PostgreSQL's JSON lexer (common/jsonapi.h) with a small grammar of our own
 * so that the first problem stops the parse at once and names the field by
 * its path.  Values we do not know are validated and skipped without
 * recursion, so deep nesting cannot exhaust the stack.
 *
 * Problems in the items of an envelope are held back until the envelope's
 * type is known: a foreign event's data is not ours to judge.
 *
 * This file touches no tables and never raises: it also builds outside the
 * server, against libpgcommon, for fuzzing.
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "payload.h"
#include "payload_fields.h"
#include "presence_compat.h"

#define CONNECTION_STATUS_TYPE "user:connection_status"
#define OPEN_CHANNEL_TYPE "open_channel:operation"

static const char *const field_names[F_COUNT] = {
	"type", "id", "time", "data", "status", "userId", "userid", "os",
	"clientIp", "sessionId", "channelId", "userIds", "operationType"
};

/* The keys of one object, checked for repeats when the object closes. */
typedef struct KeySet
{
	char	  **keys;
	int			n;
	int			cap;
} KeySet;

/* One open object or array while a value is skipped. */
typedef struct Frame
{
	bool		is_object;
	KeySet		keys;
} Frame;

typedef struct Parser
{
	JsonLexContext *lex;
	Payload    *out;
	PayloadError *err;			/* the problem that ends the parse */
	PayloadError repeat_err;	/* the first repeated key, held back */
	PayloadError item_err;		/* the first problem in an item, held back */
	PayloadError room_err;		/* the first problem in a room item, held back */
	int			items_cap;
	int			data_len;		/* elements seen in the item array */
} Parser;

static bool parse_item_array(Parser *p, const char *base);

/* Errors */

bool
payload_fail(PayloadError *err, PayloadErrorKind kind, char *message, char *detail)
{
	if (err->kind == PAYLOAD_OK)
	{
		err->kind = kind;
		err->message = message;
		err->detail = detail;
	}
	return false;
}

/*
 * The bytes of s (len long) that make at most limit bytes of whole characters,
 * counted as pg_encoding_mbcliplen does, but never a character that runs past
 * len (an invalid token may end in half of one); one loop for the server and
 * the fuzz build, so the fuzzer runs the code the server runs.
 */
static int
clip_whole_chars(int encoding, const char *s, int len, int limit)
{
	int			clen = 0;

	for (int l; len > 0 && *s && (l = pg_encoding_mblen(encoding, s)) <= len &&
		 clen + l <= limit; len -= l, s += l)
		clen += l;
	return clen;
}

/* The current token, quoted for a message: at most 40 bytes, whole characters. */
static char *
quoted_token(JsonLexContext *lex)
{
	const char *start = lex->token_start;
	int			len;

	if (start == NULL || lex->token_terminator <= start)
		return pstrdup("the end of the input");
	len = clip_whole_chars(lex->input_encoding, start, lex->token_terminator - start, 40);
	return psprintf("\"%.*s\"", len, start);
}

/* A full sentence for a syntax problem, in the spirit of json_errdetail(). */
static char *
syntax_detail(JsonLexContext *lex, JsonParseErrorType code)
{
	const char *expected;

	switch (code)
	{
		case JSON_EXPECTED_MORE:
			return pstrdup("The input string ended unexpectedly.");
		case JSON_UNICODE_CODE_POINT_ZERO:
			return pstrdup("\\u0000 cannot be converted to text.");
		case JSON_EXPECTED_END:
			expected = "the end of the input";
			break;
		case JSON_EXPECTED_COLON:
			expected = "\":\"";
			break;
		case JSON_EXPECTED_OBJECT_FIRST:
			expected = "a string or \"}\"";
			break;
		case JSON_EXPECTED_OBJECT_NEXT:
			expected = "\",\" or \"}\"";
			break;
		case JSON_EXPECTED_STRING:
			expected = "a string";
			break;
		case JSON_EXPECTED_ARRAY_FIRST:
			expected = "an array element or \"]\"";
			break;
		case JSON_EXPECTED_ARRAY_NEXT:
			expected = "\",\" or \"]\"";
			break;
		case JSON_EXPECTED_JSON:
			expected = "a JSON value";
			break;
		default:
			return psprintf("Token %s is invalid, on line %d.", quoted_token(lex),
							lex->line_number);
	}
	return psprintf("Expected %s, but found %s on line %d.", expected, quoted_token(lex),
					lex->line_number);
}

static bool
fail_syntax(Parser *p, JsonParseErrorType code)
{
	/* At the end of the input there is no token to quote: say so instead. */
	if (p->lex->token_type == JSON_TOKEN_END && code != JSON_UNICODE_CODE_POINT_ZERO &&
		code != JSON_EXPECTED_END)
		code = JSON_EXPECTED_MORE;
	return payload_fail(p->err,
				code == JSON_UNICODE_CODE_POINT_ZERO ? PAYLOAD_NUL_CHARACTER : PAYLOAD_SYNTAX,
				pstrdup("invalid input syntax for type json"),
				syntax_detail(p->lex, code));
}

static char *
field_path(const char *base, const char *key)
{
	return *base ? psprintf("%s.%s", base, key) : pstrdup(key);
}

/* A shape problem: "field "data[1].status" must be ..." */
bool
payload_fail_field(PayloadError *err, const char *base, const char *key, const char *problem)
{
	return payload_fail(err, PAYLOAD_SHAPE,
				psprintf("field \"%s\" %s", field_path(base, key), problem), NULL);
}

/* Lexing */

static bool
next_token(Parser *p)
{
	JsonParseErrorType rc = json_lex(p->lex);

	if (rc != JSON_SUCCESS)
		return fail_syntax(p, rc);
	return true;
}

static inline JsonTokenType
token(Parser *p)
{
	return p->lex->token_type;
}

static bool
expect_token(Parser *p, JsonTokenType want, JsonParseErrorType otherwise)
{
	if (!next_token(p))
		return false;
	if (token(p) != want)
		return fail_syntax(p, otherwise);
	return true;
}

static bool
is_scalar(JsonTokenType t)
{
	return t == JSON_TOKEN_STRING || t == JSON_TOKEN_NUMBER ||
		t == JSON_TOKEN_TRUE || t == JSON_TOKEN_FALSE || t == JSON_TOKEN_NULL;
}

static char *
token_text(Parser *p)
{
	if (token(p) == JSON_TOKEN_STRING)
		return pstrdup(p->lex->strval->data);
	return pnstrdup(p->lex->token_start,
					p->lex->token_terminator - p->lex->token_start);
}

/* Repeated keys */

static void
keyset_add(KeySet *ks, const char *key)
{
	if (ks->n == ks->cap)
	{
		ks->cap = ks->cap ? ks->cap * 2 : 8;
		ks->keys = ks->keys ? repalloc(ks->keys, ks->cap * sizeof(char *))
			: palloc(ks->cap * sizeof(char *));
	}
	ks->keys[ks->n++] = pstrdup(key);
}

static int
compare_keys(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Returns the first key that appears twice, or NULL. */
static const char *
keyset_repeated(KeySet *ks)
{
	if (ks->n < 2)
		return NULL;
	qsort(ks->keys, ks->n, sizeof(char *), compare_keys);
	for (int i = 1; i < ks->n; i++)
		if (strcmp(ks->keys[i - 1], ks->keys[i]) == 0)
			return ks->keys[i];
	return NULL;
}

/*
 * Note the first repeated key, to report once the whole text is known to be
 * JSON (text that is not one JSON value is a syntax error first).
 */
static void
note_repeated_key(Parser *p, const char *base, const char *key)
{
	if (p->repeat_err.kind == PAYLOAD_OK)
		payload_fail(&p->repeat_err, PAYLOAD_SHAPE,
			 psprintf("field \"%s\" appears twice", field_path(base, key)),
			 pstrdup("An object must not have the same key twice."));
}

/* Note a key of the object that appears twice; the report waits (note_repeated_key). */
static void
note_repeated_keys(Parser *p, KeySet *ks, const char *base)
{
	const char *key = keyset_repeated(ks);

	if (key != NULL)
		note_repeated_key(p, base, key);
}

/* After the whole text: report a held-back problem, if any. */
static bool
report_held(Parser *p, const PayloadError *held)
{
	if (held->kind == PAYLOAD_OK)
		return true;
	return payload_fail(p->err, held->kind, held->message, held->detail);
}

/* Skipping values we do not read */

static void
push_frame(Frame **frames, int *depth, int *cap, bool is_object)
{
	if (*depth == *cap)
	{
		*cap = *cap ? *cap * 2 : 16;
		*frames = *frames ? repalloc(*frames, *cap * sizeof(Frame))
			: palloc(*cap * sizeof(Frame));
	}
	(*frames)[*depth].is_object = is_object;
	memset(&(*frames)[*depth].keys, 0, sizeof(KeySet));
	(*depth)++;
}

/*
 * Validate and step over one composite value; the current token is its
 * opening bracket.  An explicit stack replaces recursion.
 */
static bool
skip_composite(Parser *p, const char *path)
{
	Frame	   *frames = NULL;
	int			depth = 0;
	int			cap = 0;
	bool		first = true;

	push_frame(&frames, &depth, &cap, token(p) == JSON_TOKEN_OBJECT_START);
	while (depth > 0)
	{
		Frame	   *f = &frames[depth - 1];
		JsonTokenType closer = f->is_object ? JSON_TOKEN_OBJECT_END : JSON_TOKEN_ARRAY_END;

		if (!next_token(p))
			return false;
		if (token(p) == closer)
		{
			if (f->is_object)
				note_repeated_keys(p, &f->keys, path);
			depth--;
			first = false;
			continue;
		}
		if (!first)
		{
			if (token(p) != JSON_TOKEN_COMMA)
				return fail_syntax(p, f->is_object ? JSON_EXPECTED_OBJECT_NEXT
								   : JSON_EXPECTED_ARRAY_NEXT);
			if (!next_token(p))
				return false;
		}
		if (f->is_object)
		{
			if (token(p) != JSON_TOKEN_STRING)
				return fail_syntax(p, first ? JSON_EXPECTED_OBJECT_FIRST : JSON_EXPECTED_STRING);
			keyset_add(&f->keys, p->lex->strval->data);
			if (!expect_token(p, JSON_TOKEN_COLON, JSON_EXPECTED_COLON) || !next_token(p))
				return false;
		}
		if (token(p) == JSON_TOKEN_OBJECT_START || token(p) == JSON_TOKEN_ARRAY_START)
		{
			push_frame(&frames, &depth, &cap, token(p) == JSON_TOKEN_OBJECT_START);
			first = true;
			continue;
		}
		if (!is_scalar(token(p)))
			return fail_syntax(p, first && !f->is_object ? JSON_EXPECTED_ARRAY_FIRST
							   : JSON_EXPECTED_JSON);
		first = false;
	}
	return true;
}

/* Step over the value of base.key, whose first token is current. */
static bool
skip_value(Parser *p, const char *base, const char *key)
{
	if (is_scalar(token(p)))
		return true;
	if (token(p) == JSON_TOKEN_OBJECT_START || token(p) == JSON_TOKEN_ARRAY_START)
		return skip_composite(p, key ? field_path(base, key) : base);
	return fail_syntax(p, JSON_EXPECTED_JSON);
}

/*
 * After an element of an object or array, step to the next element's first
 * token (*more = true) or to the closing bracket (*more = false).
 */
static bool
next_element(Parser *p, bool is_object, bool *more)
{
	if (!next_token(p))
		return false;
	*more = false;
	if (token(p) == (is_object ? JSON_TOKEN_OBJECT_END : JSON_TOKEN_ARRAY_END))
		return true;
	if (token(p) != JSON_TOKEN_COMMA)
		return fail_syntax(p, is_object ? JSON_EXPECTED_OBJECT_NEXT : JSON_EXPECTED_ARRAY_NEXT);
	*more = true;
	return next_token(p);
}

/* Objects */

static Field
lookup_field(const char *key, bool top)
{
	for (int f = 0; f < F_COUNT; f++)
	{
		bool		envelope_only = (f == F_TYPE || f == F_ID || f == F_DATA);

		if ((top || !envelope_only) && strcmp(key, field_names[f]) == 0)
			return (Field) f;
	}
	return F_UNKNOWN;
}

/*
 * Read one object's fields into values[]; the current token is "{".
 * At the top level a "data" array is parsed as items on the way.
 */
static bool
read_object(Parser *p, const char *base, Value *values, bool top)
{
	KeySet		keys = {0};

	if (!next_token(p))
		return false;
	for (bool first = true, more = token(p) != JSON_TOKEN_OBJECT_END; more; first = false)
	{
		Field		f;
		const char *key;

		if (token(p) != JSON_TOKEN_STRING)
			return fail_syntax(p, first ? JSON_EXPECTED_OBJECT_FIRST : JSON_EXPECTED_STRING);

		/*
		 * A known key is found repeated by its value's present flag; only
		 * unknown keys are kept, to be checked when the object closes.
		 */
		f = lookup_field(p->lex->strval->data, top);
		if (f == F_UNKNOWN)
		{
			keyset_add(&keys, p->lex->strval->data);
			key = keys.keys[keys.n - 1];
		}
		else
		{
			key = field_names[f];
			if (values[f].present)
				note_repeated_key(p, base, key);
		}
		if (!expect_token(p, JSON_TOKEN_COLON, JSON_EXPECTED_COLON) || !next_token(p))
			return false;
		if (f != F_UNKNOWN)
		{
			values[f].present = true;
			values[f].type = token(p);
			values[f].text = is_scalar(token(p)) ? token_text(p) : NULL;
		}
		if (f == F_DATA && token(p) == JSON_TOKEN_ARRAY_START)
		{
			if (!parse_item_array(p, "data"))
				return false;
		}
		else
		{
			const char *start = p->lex->token_start;

			if (!skip_value(p, base, key))
				return false;
			if (f != F_UNKNOWN && !is_scalar(values[f].type))
			{
				values[f].raw = (char *) start;
				values[f].raw_len = p->lex->token_terminator - start;
			}
		}
		if (!next_element(p, true, &more))
			return false;
	}
	note_repeated_keys(p, &keys, base);
	return true;
}

/* Field values */

bool
payload_is_null(const Value *v)
{
	return !v->present || v->type == JSON_TOKEN_NULL;
}

/* Digits only, at most 19 of them, at most PAYLOAD_MAX_TIME_MS. */
static bool
read_millis(PayloadError *err, const char *base, const char *key,
			const char *text, int64_t *ms)
{
	int64_t		v = 0;
	const char *c = text;

	if (*c == '-')
		return payload_fail(err, PAYLOAD_OUT_OF_RANGE,
					psprintf("field \"%s\" is out of range", field_path(base, key)),
					pstrdup("Times are milliseconds since 1970-01-01 and cannot be negative."));
	if (*c == '\0' || strspn(c, "0123456789") != strlen(c))
		return payload_fail_field(err, base, key, "must be an integer of milliseconds");
	for (; *c; c++)
	{
		v = v * 10 + (*c - '0');
		if (v > PAYLOAD_MAX_TIME_MS)
			return payload_fail(err, PAYLOAD_OUT_OF_RANGE,
						psprintf("field \"%s\" is out of range", field_path(base, key)),
						pstrdup("Times are milliseconds since 1970-01-01, up to the end of year 9999."));
	}
	*ms = v;
	return true;
}

/* An integer of ms; with digits_as_string, "1730192400000" is accepted too. */
bool
payload_read_time(PayloadError *err, const char *base, const Value *v,
		  bool digits_as_string, int64_t *ms)
{
	if (payload_is_null(v))
		return payload_fail_field(err, base, "time", "is missing");
	if (v->type == JSON_TOKEN_NUMBER ||
		(digits_as_string && v->type == JSON_TOKEN_STRING))
	{
		if (v->type == JSON_TOKEN_NUMBER && strpbrk(v->text, ".eE") != NULL)
			return payload_fail_field(err, base, "time", "must be an integer of milliseconds");
		return read_millis(err, base, "time", v->text, ms);
	}
	return payload_fail_field(err, base, "time", "must be an integer of milliseconds");
}

/* An optional string; "" and null count as absent unless keep_empty. */
static bool
read_optional_string(PayloadError *err, const char *base, Field f,
					 const Value *v, bool keep_empty, char **dest)
{
	*dest = NULL;
	if (payload_is_null(v))
		return true;
	if (v->type != JSON_TOKEN_STRING)
		return payload_fail_field(err, base, field_names[f], "must be a string");
	if (*v->text != '\0' || keep_empty)
		*dest = v->text;
	return true;
}

static bool
read_status(PayloadError *err, const char *base, const Value *v, ItemStatus *status)
{
	if (payload_is_null(v))
		return payload_fail_field(err, base, "status", "is missing");
	if ((v->type == JSON_TOKEN_STRING || v->type == JSON_TOKEN_NUMBER) &&
		item_status_from_text(v->text, status))
		return true;
	return payload_fail_field(err, base, "status", "must be \"0\", \"1\" or \"2\"");
}

static bool
read_user_id(PayloadError *err, const char *base, const Value *values, char **user_id)
{
	const Value *v = &values[F_USERID];
	const char *key = field_names[F_USERID];

	if (values[F_USERID].present && values[F_USERID_LOWER].present)
		return payload_fail_field(err, base, "userid", "repeats field \"userId\"");
	if (!v->present)
	{
		v = &values[F_USERID_LOWER];
		key = field_names[F_USERID_LOWER];
	}
	if (payload_is_null(v))
		return payload_fail_field(err, base, "userId", "is missing");
	if (v->type != JSON_TOKEN_STRING || *v->text == '\0')
		return payload_fail_field(err, base, key, "must be a non-empty string");
	if (strlen(v->text) > PAYLOAD_MAX_ID_BYTES)
		return payload_fail_field(err, base, key, "is longer than 256 bytes");
	*user_id = v->text;
	return true;
}

/* Items */

/* Is the string field f longer than cap bytes?  Then say so at its path. */
static bool
fail_if_too_long(PayloadError *err, const char *base, int f, const Value *v, size_t cap)
{
	if (v->type != JSON_TOKEN_STRING || strlen(v->text) <= cap)
		return false;
	payload_fail_field(err, base, field_names[f], psprintf("is longer than %zu bytes", cap));
	return true;
}

static bool
item_from_values(PayloadError *err, const char *base, const Value *values,
				 PayloadItem *item)
{
	if (fail_if_too_long(err, base, F_SESSION_ID, &values[F_SESSION_ID], PAYLOAD_MAX_ID_BYTES) ||
		fail_if_too_long(err, base, F_OS, &values[F_OS], PAYLOAD_MAX_TAG_BYTES) ||
		fail_if_too_long(err, base, F_CLIENT_IP, &values[F_CLIENT_IP], PAYLOAD_MAX_TAG_BYTES))
		return false;
	return read_status(err, base, &values[F_STATUS], &item->status) &&
		read_user_id(err, base, values, &item->user_id) &&
		payload_read_time(err, base, &values[F_TIME], true, &item->time_ms) &&
		read_optional_string(err, base, F_OS, &values[F_OS], false, &item->os) &&
		read_optional_string(err, base, F_CLIENT_IP, &values[F_CLIENT_IP], false,
							 &item->client_ip) &&
		read_optional_string(err, base, F_SESSION_ID, &values[F_SESSION_ID], true,
							 &item->session_id);
}

static void
append_item(Parser *p, const PayloadItem *item)
{
	Payload    *out = p->out;

	if (out->nitems == p->items_cap)
	{
		p->items_cap = p->items_cap ? p->items_cap * 2 : 4;
		out->items = out->items ? repalloc(out->items, p->items_cap * sizeof(PayloadItem))
			: palloc(p->items_cap * sizeof(PayloadItem));
	}
	out->items[out->nitems++] = *item;
}

/* Validate the item read into values[]; a problem is held back in item_err. */
static void
accept_item(Parser *p, const char *base, const Value *values, int item_no)
{
	PayloadItem item = {0};

	if (p->item_err.kind != PAYLOAD_OK)
		return;
	if (!item_from_values(&p->item_err, base, values, &item))
		return;
	if (item.session_id == NULL)
		item.session_id = "";
	item.item_no = item_no;
	append_item(p, &item);
}

/* The current token is "[": read each element as an item. */
static bool
parse_item_array(Parser *p, const char *base)
{
	int			n = 0;

	if (!next_token(p))
		return false;
	for (bool more = token(p) != JSON_TOKEN_ARRAY_END; more;)
	{
		char	   *path = psprintf("%s[%d]", base, n);

		if (token(p) == JSON_TOKEN_OBJECT_START)
		{
			Value		values[F_COUNT] = {{0}};

			if (!read_object(p, path, values, false))
				return false;
			accept_item(p, path, values, n);
			if (*base != '\0')
				room_accept_item(p->out, &p->room_err, path, values, n,
								 p->lex->input_encoding);
		}
		else
		{
			char	   *problem = psprintf("field \"%s\" must be an object", path);

			payload_fail(&p->item_err, PAYLOAD_SHAPE, problem, NULL);
			payload_fail(&p->room_err, PAYLOAD_SHAPE, problem, NULL);
			if (!skip_value(p, path, NULL))
				return false;
		}
		pfree(path);
		n++;
		if (!next_element(p, false, &more))
			return false;
	}
	p->data_len = n;
	return true;
}

/* Envelopes */

static bool
check_envelope(Parser *p, const Value *values)
{
	const Value *type = &values[F_TYPE];
	const Value *id = &values[F_ID];
	const Value *data = &values[F_DATA];
	PayloadError *err = p->err;

	if (payload_is_null(type))
		return payload_fail_field(err, "", "type", "is missing");
	if (type->type != JSON_TOKEN_STRING)
		return payload_fail_field(err, "", "type", "must be a string");
	if (payload_is_null(id))
		return payload_fail_field(err, "", "id", "is missing");
	if (id->type != JSON_TOKEN_STRING || *id->text == '\0')
		return payload_fail_field(err, "", "id", "must be a non-empty string");
	if (fail_if_too_long(err, "", F_ID, id, PAYLOAD_MAX_ID_BYTES))
		return false;
	if (!payload_read_time(err, "", &values[F_TIME], false, &p->out->event_time_ms))
		return false;
	if (payload_is_null(data))
		return payload_fail_field(err, "", "data", "is missing");
	if (data->type != JSON_TOKEN_ARRAY_START)
		return payload_fail_field(err, "", "data", "must be an array");
	if (p->data_len == 0)
		return payload_fail_field(err, "", "data", "must not be empty");
	p->out->event_id = id->text;
	return true;
}

/* Decide what the top-level object was and check it as that. */
static bool
finish_object(Parser *p, const Value *values)
{
	if (values[F_TYPE].present || values[F_DATA].present)
	{
		p->out->has_envelope = true;
		if (!check_envelope(p, values))
			return false;
		if (strcmp(values[F_TYPE].text, OPEN_CHANNEL_TYPE) == 0)
		{
			/* Room items (room_payload.c): the status items read are not. */
			p->out->nitems = 0;
			return report_held(p, &p->room_err);
		}
		p->out->nrooms = 0;
		if (strcmp(values[F_TYPE].text, CONNECTION_STATUS_TYPE) != 0)
		{
			/* A foreign event: acknowledged, nothing applied. */
			p->out->nignored = p->data_len;
			p->out->nitems = 0;
			return true;
		}
	}
	else
		accept_item(p, "", values, 0);
	return report_held(p, &p->item_err);
}

static bool
parse_top(Parser *p)
{
	if (!next_token(p))
		return false;
	if (token(p) == JSON_TOKEN_OBJECT_START)
	{
		Value		values[F_COUNT] = {{0}};

		if (!read_object(p, "", values, true) ||
			!expect_token(p, JSON_TOKEN_END, JSON_EXPECTED_END) ||
			!report_held(p, &p->repeat_err))
			return false;
		return finish_object(p, values);
	}
	if (token(p) == JSON_TOKEN_ARRAY_START)
	{
		if (!parse_item_array(p, "") ||
			!expect_token(p, JSON_TOKEN_END, JSON_EXPECTED_END) ||
			!report_held(p, &p->repeat_err))
			return false;
		if (p->data_len == 0)
			return payload_fail(p->err, PAYLOAD_SHAPE, pstrdup("body must not be an empty array"),
						pstrdup("A legacy body holds at least one status item."));
		return report_held(p, &p->item_err);
	}
	if (!skip_value(p, "", NULL) || !expect_token(p, JSON_TOKEN_END, JSON_EXPECTED_END) ||
		!report_held(p, &p->repeat_err))
		return false;
	return payload_fail(p->err, PAYLOAD_SHAPE, pstrdup("body must be a JSON object or array"),
				pstrdup("A delivery is an event envelope, a status item, or an array of status items."));
}

/*
 * Parse json (len bytes, not necessarily NUL-terminated) into out.
 * Returns false with err filled in at the first problem.
 */
bool
payload_parse(char *json, int len, int encoding, Payload *out, PayloadError *err)
{
	Parser		p = {0};

	memset(out, 0, sizeof(Payload));
	memset(err, 0, sizeof(PayloadError));
	out->event_time_ms = -1;
	p.lex = presence_json_lexer(json, len, encoding);
	p.out = out;
	p.err = err;
	if (parse_top(&p))
		return true;
	out->nitems = 0;
	out->nignored = 0;
	out->nrooms = 0;
	return false;
}
