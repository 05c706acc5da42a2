/*-------------------------------------------------------------------------
 *
 * fuzz_payload.c
 *	  libFuzzer target for the webhook body parser (src/payload.c).
 *
 * Each input is one body, parsed as UTF-8 the way the server does in a UTF8
 * database.  Besides the sanitizers' own checks (ASan, UBSan) it aborts on
 * any broken promise of payload_parse():
 *
 *	 - success: statuses '0'/'1'/'2'; user ids 1..256 bytes, session ids at
 *	   most 256 bytes, every string NUL-terminated within its length; times
 *	   within 0..PAYLOAD_MAX_TIME_MS; item_no = position; exactly one of
 *	   nitems, nignored and nrooms > 0; room items (open_channel:operation)
 *	   only in envelopes, with an operation and a status 0..3, a room id,
 *	   and 1..1,000 user ids for a join or a leave (none otherwise);
 *	   envelope fields set exactly for envelopes;
 *	   valid UTF-8 in, valid UTF-8 out;
 *	 - failure: a known kind other than PAYLOAD_OK, a non-empty message,
 *	   nothing left in the output; valid UTF-8 in, valid UTF-8 message out;
 *	 - both: agreement with PostgreSQL's own JSON parser (pg_parse_json) on
 *	   what is JSON: a syntax error iff the text is not JSON, a \u0000 error
 *	   iff the text has one, a shape or range error only on valid JSON.
 *
 * The body is copied so that it ends right before a PROT_NONE page: a read
 * past its end, even from libpgcommon's uninstrumented lexer, faults.
 *
 * Memory: see fe_arena.c; LeakSanitizer stays on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <limits.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "payload.h"
#include "presence_compat.h"
#include "fe_arena.h"
#include "fuzz_check.h"

#define GUARDED_MAX (1 << 20)

static char *guarded;			/* GUARDED_MAX bytes, then a PROT_NONE page */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	long		page = sysconf(_SC_PAGESIZE);
	char	   *region = mmap(NULL, GUARDED_MAX + page, PROT_READ | PROT_WRITE,
							  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (region == MAP_FAILED || mprotect(region + GUARDED_MAX, page, PROT_NONE) != 0)
	{
		perror("fuzz_payload: mmap");
		abort();
	}
	guarded = region;
	return 0;
}

static bool
valid_utf8(const char *s, size_t len)
{
	return pg_encoding_verifymbstr(PG_UTF8, s, (int) len) == (int) len;
}

/* A string of the output: NUL-terminated, at most max bytes, valid if the input was. */
static size_t
check_string(const char *s, size_t max, bool input_valid)
{
	size_t		len;

	CHECK(s != NULL);
	len = strnlen(s, max + 1);
	CHECK(len <= max);
	if (input_valid)
		CHECK(valid_utf8(s, len));
	return len;
}

/* What PostgreSQL's own parser says of the text: JSON_SUCCESS or its error. */
static JsonParseErrorType
reference_parse(char *json, int len)
{
	JsonLexContext *lex = presence_json_lexer(json, len, PG_UTF8);

	return pg_parse_json(lex, &nullSemAction);
}

/* pg_parse_json recurses; keep it away from deeply nested input. */
static bool
shallow(const uint8_t *data, size_t size)
{
	size_t		opens = 0;

	for (size_t i = 0; i < size; i++)
		if (data[i] == '[' || data[i] == '{')
			opens++;
	return opens <= 2000;
}

static void
check_success(const Payload *out, bool input_valid)
{
	CHECK(out->nitems >= 0 && out->nignored >= 0 && out->nrooms >= 0);
	CHECK((out->nitems > 0) + (out->nignored > 0) + (out->nrooms > 0) == 1);
	CHECK(out->nitems == 0 || out->items != NULL);
	CHECK(out->nrooms == 0 || (out->rooms != NULL && out->has_envelope));
	for (int i = 0; i < out->nrooms; i++)
	{
		const PayloadRoomItem *r = &out->rooms[i];

		CHECK(r->operation >= ROOM_CREATE && r->operation <= ROOM_DESTROY);
		CHECK(r->status >= 0 && r->status <= 3);
		CHECK(r->item_no == i);
		CHECK(r->time_ms >= 0 && r->time_ms <= PAYLOAD_MAX_TIME_MS);
		CHECK(check_string(r->room_id, PAYLOAD_MAX_ID_BYTES, input_valid) >= 1);
		/* A join or leave names 1 to 1,000 users; a create or destroy none. */
		if (r->operation == ROOM_JOIN || r->operation == ROOM_LEAVE)
			CHECK(r->nusers >= 1 && r->nusers <= PAYLOAD_MAX_ROOM_USERS);
		else
			CHECK(r->nusers == 0);
		for (int k = 0; k < r->nusers; k++)
			CHECK(check_string(r->user_ids[k], PAYLOAD_MAX_ID_BYTES, input_valid) >= 1);
	}
	if (out->has_envelope)
	{
		size_t		len = check_string(out->event_id, SIZE_MAX - 1, input_valid);

		CHECK(len > 0);
		CHECK(out->event_time_ms >= 0 && out->event_time_ms <= PAYLOAD_MAX_TIME_MS);
	}
	else
	{
		CHECK(out->event_id == NULL);
		CHECK(out->event_time_ms == -1);
		CHECK(out->nignored == 0);
	}
	for (int i = 0; i < out->nitems; i++)
	{
		const PayloadItem *it = &out->items[i];
		size_t		len;

		CHECK(it->status == '0' || it->status == '1' || it->status == '2');
		CHECK(it->item_no == i);
		CHECK(it->time_ms >= 0 && it->time_ms <= PAYLOAD_MAX_TIME_MS);
		len = check_string(it->user_id, PAYLOAD_MAX_ID_BYTES, input_valid);
		CHECK(len >= 1);
		check_string(it->session_id, PAYLOAD_MAX_ID_BYTES, input_valid);
		/* os and clientIp: absent, or a non-empty string */
		if (it->os != NULL)
			CHECK(check_string(it->os, SIZE_MAX - 1, input_valid) > 0);
		if (it->client_ip != NULL)
			CHECK(check_string(it->client_ip, SIZE_MAX - 1, input_valid) > 0);
	}
}

static void
check_failure(const Payload *out, const PayloadError *err, bool input_valid)
{
	CHECK(err->kind == PAYLOAD_SYNTAX || err->kind == PAYLOAD_NUL_CHARACTER ||
		  err->kind == PAYLOAD_SHAPE || err->kind == PAYLOAD_OUT_OF_RANGE);
	CHECK(err->message != NULL && err->message[0] != '\0');
	CHECK(out->nitems == 0 && out->nignored == 0 && out->nrooms == 0);
	if (input_valid)
	{
		CHECK(valid_utf8(err->message, strlen(err->message)));
		if (err->detail != NULL)
			CHECK(valid_utf8(err->detail, strlen(err->detail)));
	}
	if (err->detail != NULL)
		CHECK(err->detail[0] != '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *body;
	char	   *copy = NULL;
	Payload		out;
	PayloadError err;
	bool		ok;
	bool		input_valid;

	if (size > INT_MAX)
		return -1;
	if (size <= GUARDED_MAX)
		body = guarded + GUARDED_MAX - size;
	else
		body = copy = malloc(size);
	memcpy(body, data, size);
	input_valid = valid_utf8(body, size);

	ok = payload_parse(body, (int) size, PG_UTF8, &out, &err);
	if (ok)
	{
		CHECK(err.kind == PAYLOAD_OK);
		check_success(&out, input_valid);
	}
	else
		check_failure(&out, &err, input_valid);

	/* The parser must not have written to its input. */
	CHECK(memcmp(body, data, size) == 0);

	if (shallow(data, size))
	{
		JsonParseErrorType ref = reference_parse(body, (int) size);

		if (ref == JSON_SUCCESS)
			CHECK(ok || err.kind == PAYLOAD_SHAPE || err.kind == PAYLOAD_OUT_OF_RANGE);
		else if (ref == JSON_UNICODE_CODE_POINT_ZERO)
			CHECK(!ok && err.kind == PAYLOAD_NUL_CHARACTER);
		else
			CHECK(!ok && err.kind == PAYLOAD_SYNTAX);
	}

	arena_reset();
	free(copy);
	return 0;
}
