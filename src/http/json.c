/*
 * json.c: a small strict JSON reader for the provider's status answers.
 *
 * libmicrohttpd has no JSON parser and the answers are two flat shapes, so
 * instead of a library we validate the whole text against RFC 8259 (depth
 * limited, no trailing bytes, no duplicate keys at the levels we read) and
 * pick out the scalars at a few key paths ("code", "status",
 * "result.status").  Anything malformed is refused as a whole.
 */
#include <stdio.h>
#include <string.h>

#include "presence_http.h"

#define JSON_MAX_DEPTH 16

typedef struct JsonReader
{
	const char *p;
	const char *end;
	int			depth;
	JsonPick   *picks;
	int			npicks;
} JsonReader;

static bool read_value(JsonReader *r, const char *path);

static void
skip_ws(JsonReader *r)
{
	while (r->p < r->end &&
		   (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * A string; its bytes (escapes other than \" \\ \/ kept as '?') into out, at
 * most size-1 of them.  NULL out: validate only.
 */
static bool
read_string(JsonReader *r, char *out, size_t size)
{
	size_t		n = 0;

	if (r->p >= r->end || *r->p != '"')
		return false;
	r->p++;
	while (r->p < r->end && *r->p != '"')
	{
		char		c = *r->p++;

		if ((unsigned char) c < 0x20)
			return false;
		if (c == '\\')
		{
			if (r->p >= r->end || strchr("\"\\/bfnrtu", *r->p) == NULL)
				return false;
			c = *r->p++;
			if (c == 'u')
			{
				for (int i = 0; i < 4; i++, r->p++)
					if (r->p >= r->end || !is_hex(*r->p))
						return false;
				c = '?';
			}
			else if (c != '"' && c != '\\' && c != '/')
				c = '?';
		}
		if (out != NULL && n + 1 < size)
			out[n++] = c;
	}
	if (r->p >= r->end)
		return false;
	r->p++;
	if (out != NULL)
		out[n] = '\0';
	return true;
}

static bool
read_digits(JsonReader *r)
{
	const char *start = r->p;

	while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
		r->p++;
	return r->p > start;
}

/* A number, by the JSON grammar (no leading zeros, no bare dot). */
static bool
read_number(JsonReader *r)
{
	if (r->p < r->end && *r->p == '-')
		r->p++;
	if (r->p < r->end && *r->p == '0')
		r->p++;
	else if (!read_digits(r))
		return false;
	if (r->p < r->end && *r->p == '.')
	{
		r->p++;
		if (!read_digits(r))
			return false;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E'))
	{
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (!read_digits(r))
			return false;
	}
	return true;
}

static bool
read_literal(JsonReader *r, const char *word)
{
	size_t		len = strlen(word);

	if ((size_t) (r->end - r->p) < len || memcmp(r->p, word, len) != 0)
		return false;
	r->p += len;
	return true;
}

/* The pick for path, if one is wanted there. */
static JsonPick *
pick_for(JsonReader *r, const char *path)
{
	for (int i = 0; i < r->npicks; i++)
		if (strcmp(r->picks[i].path, path) == 0)
			return &r->picks[i];
	return NULL;
}

/* A scalar at path: record it (kind, text) if it is picked; twice is bad. */
static bool
read_scalar(JsonReader *r, const char *path)
{
	JsonPick   *pick = pick_for(r, path);
	const char *start = r->p;
	JsonKind	kind;
	bool		ok;

	if (*r->p == '"')
	{
		kind = JSON_STRING;
		ok = read_string(r, pick ? pick->text : NULL, sizeof(pick->text));
	}
	else if (*r->p == 't' || *r->p == 'f' || *r->p == 'n')
	{
		kind = JSON_OTHER;
		ok = read_literal(r, "true") || read_literal(r, "false") || read_literal(r, "null");
	}
	else
	{
		kind = JSON_NUMBER;
		ok = read_number(r);
	}
	if (!ok || pick == NULL)
		return ok;
	if (pick->kind != JSON_ABSENT)
		return false;			/* a duplicate key */
	pick->kind = kind;
	if (kind != JSON_STRING)
	{
		size_t		len = (size_t) (r->p - start);

		if (len >= sizeof(pick->text))
			len = sizeof(pick->text) - 1;
		memcpy(pick->text, start, len);
		pick->text[len] = '\0';
	}
	return true;
}

/*
 * After a container's first token (close is '}' or ']'): consume the close
 * and say true if the container is empty.
 */
static bool
read_empty(JsonReader *r, char close)
{
	r->p++;
	skip_ws(r);
	if (r->p < r->end && *r->p == close)
	{
		r->p++;
		return true;
	}
	return false;
}

/* After a member or element: 1 if a comma follows, 0 if the close, -1 if neither. */
static int
read_next(JsonReader *r, char close)
{
	skip_ws(r);
	if (r->p < r->end && *r->p == ',')
	{
		r->p++;
		return 1;
	}
	if (r->p < r->end && *r->p == close)
	{
		r->p++;
		return 0;
	}
	return -1;
}

/* An object whose members are at path.key. */
static bool
read_object(JsonReader *r, const char *path)
{
	char		key[64];
	char		sub[160];
	int			next;

	if (read_empty(r, '}'))
		return true;
	for (;;)
	{
		skip_ws(r);
		if (!read_string(r, key, sizeof(key)))
			return false;
		if (strchr(key, '.') != NULL)
			strcpy(sub, "[]");	/* never a picked path */
		else
			snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", key);
		skip_ws(r);
		if (r->p >= r->end || *r->p++ != ':' || !read_value(r, sub))
			return false;
		if ((next = read_next(r, '}')) <= 0)
			return next == 0;
	}
}

/* An array; its elements are picked by nobody ("[]" in their path). */
static bool
read_array(JsonReader *r)
{
	int			next;

	if (read_empty(r, ']'))
		return true;
	for (;;)
	{
		if (!read_value(r, "[]"))
			return false;
		if ((next = read_next(r, ']')) <= 0)
			return next == 0;
	}
}

static bool
read_value(JsonReader *r, const char *path)
{
	bool		ok;

	skip_ws(r);
	if (r->p >= r->end)
		return false;
	if (*r->p != '{' && *r->p != '[')
		return read_scalar(r, path);
	if (++r->depth > JSON_MAX_DEPTH)
		return false;
	ok = *r->p == '{' ? read_object(r, path) : read_array(r);
	r->depth--;
	return ok;
}

/*
 * Is text (len bytes) one well-formed JSON object?  Fills each of picks[]
 * found at its path (kind JSON_ABSENT if not there).
 */
bool
json_pick(const char *text, size_t len, JsonPick *picks, int npicks)
{
	JsonReader	r = {.p = text, .end = text + len, .picks = picks, .npicks = npicks};

	for (int i = 0; i < npicks; i++)
	{
		picks[i].kind = JSON_ABSENT;
		picks[i].text[0] = '\0';
	}
	skip_ws(&r);
	if (r.p >= r.end || *r.p != '{' || !read_value(&r, ""))
		return false;
	skip_ws(&r);
	return r.p == r.end;
}
