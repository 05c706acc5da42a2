/*
 * util.c: small helpers for presence-http: allocation that never returns
 * NULL, growable buffers, JSON and array-literal escaping, UTF-8 checks and
 * clocks.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "presence_http.h"

static void
out_of_memory(void)
{
	fputs("presence-http: out of memory\n", stderr);
	abort();
}

/* malloc that aborts when memory runs out. */
static void *
xmalloc(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
		out_of_memory();
	return p;
}

/* calloc that aborts when memory runs out. */
void *
xcalloc(size_t n, size_t size)
{
	void	   *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		out_of_memory();
	return p;
}

/* strdup that aborts when memory runs out. */
char *
xstrdup(const char *s)
{
	size_t		len = strlen(s);
	char	   *p = xmalloc(len + 1);

	memcpy(p, s, len + 1);
	return p;
}

/* Start an empty growing buffer. */
void
buf_init(Buf *b, size_t cap)
{
	b->cap = cap ? cap : 64;
	b->data = xmalloc(b->cap);
	b->len = 0;
	b->data[0] = '\0';
}

/* Make room for extra more bytes plus a terminating NUL. */
static void
buf_reserve(Buf *b, size_t extra)
{
	size_t		need = b->len + extra + 1;
	size_t		cap = b->cap;
	char	   *p;

	if (need <= cap)
		return;
	while (cap < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		out_of_memory();
	b->data = p;
	b->cap = cap;
}

/* Append len bytes to the buffer. */
void
buf_put(Buf *b, const char *s, size_t len)
{
	buf_reserve(b, len);
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

/* Append a string to the buffer. */
void
buf_puts(Buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

/* Append printf output to the buffer. */
void
buf_printf(Buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_reserve(b, (size_t) n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
}

/* Free the buffer's memory. */
void
buf_free(Buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Append s as a JSON string literal, quotes included. */
void
buf_json_string(Buf *b, const char *s)
{
	static const char specials[] = "\"\\\n\r\t";
	static const char *const escapes[] = {"\\\"", "\\\\", "\\n", "\\r", "\\t"};
	const unsigned char *p;

	buf_put(b, "\"", 1);
	for (p = (const unsigned char *) s; *p; p++)
	{
		const char *special = strchr(specials, *p);	/* *p is never NUL here */

		if (special != NULL)
			buf_put(b, escapes[special - specials], 2);
		else if (*p < 0x20 || *p == 0x7f)
			buf_printf(b, "\\u%04x", *p);
		else
			buf_put(b, (const char *) p, 1);
	}
	buf_put(b, "\"", 1);
}

/*
 * Append one element of a PostgreSQL array literal: NULL unquoted, anything
 * else double-quoted with '"' and '\' backslash-escaped.  The caller adds the
 * braces and commas.
 */
void
buf_array_element(Buf *b, const char *s)
{
	const char *p;
	const char *run;

	if (s == NULL)
	{
		buf_put(b, "NULL", 4);
		return;
	}
	buf_reserve(b, strlen(s) + 2);
	buf_put(b, "\"", 1);
	run = s;
	for (p = s; *p; p++)
	{
		if (*p != '"' && *p != '\\')
			continue;
		buf_put(b, run, (size_t) (p - run));
		buf_put(b, "\\", 1);
		run = p;
	}
	buf_put(b, run, (size_t) (p - run));
	buf_put(b, "\"", 1);
}

/* Length of the UTF-8 sequence starting at p, 0 if it is not valid. */
static size_t
utf8_sequence(const unsigned char *p, size_t left)
{
	unsigned char c = p[0];
	unsigned char lo = 0x80,
				hi = 0xbf;
	size_t		n,
				i;

	if (c >= 0x01 && c <= 0x7f)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
	{
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;			/* no surrogates */
	}
	else if (c >= 0xf0 && c <= 0xf4)
	{
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;			/* nothing above U+10FFFF */
	}
	else
		return 0;				/* NUL, continuation byte or invalid lead */
	if (left < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* True when s[0..len) is valid UTF-8 without NUL bytes, as the server wants. */
bool
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	while (i < len)
	{
		size_t		n = utf8_sequence(p + i, len - i);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* Seconds on the monotonic clock. */
double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/*
 * The clocks: every wait and deadline of presence-http is on CLOCK_MONOTONIC
 * (condition variables are made with pthread_condattr_setclock), so that a
 * change of the wall clock never stretches or cuts one short.
 */

/* Make cond a condition variable whose timed waits are on CLOCK_MONOTONIC. */
void
cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

/* mono_now() time at as an absolute timespec, for pthread_cond_timedwait. */
struct timespec
mono_timespec(double at)
{
	struct timespec ts;
	double		secs = floor(at);

	ts.tv_sec = (time_t) secs;
	ts.tv_nsec = (long) ((at - secs) * 1e9);
	if (ts.tv_nsec >= 1000000000L)
	{
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* An absolute CLOCK_MONOTONIC deadline us microseconds from now. */
struct timespec
deadline_after_us(long us)
{
	return mono_timespec(mono_now() + (double) us / 1e6);
}

/* Milliseconds from now until mono_now() time at, rounded up, at least 0. */
int
ms_until(double at)
{
	double		ms = (at - mono_now()) * 1000.0;

	if (ms <= 0)
		return 0;
	if (ms > 3600000.0)
		return 3600000;
	return (int) ceil(ms);
}

/* Empty buf and make sink write into it, at most cap bytes. */
void
curl_sink_reset(CurlSink *sink, Buf *buf, size_t cap)
{
	buf_free(buf);
	buf_init(buf, 256);
	sink->buf = buf;
	sink->cap = cap;
	sink->too_big = false;
}

/* A libcurl write callback (CURLOPT_WRITEDATA a CurlSink): 0 aborts past the cap. */
size_t
curl_sink_write(char *data, size_t size, size_t n, void *arg)
{
	CurlSink   *sink = arg;

	if (sink->buf->len + size * n > sink->cap)
	{
		sink->too_big = true;
		return 0;
	}
	buf_put(sink->buf, data, size * n);
	return size * n;
}
