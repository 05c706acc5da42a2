/*
 * log.c: presence-http's logging, to stderr, one line per event.
 *
 * Request lines carry method, path, status, bytes sent, latency and batch
 * size; never a query string, a header value, a signature, a secret or a body.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "presence_http.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* UTC wall-clock time with milliseconds, ISO 8601 (also a timestamptz literal). */
void
utc_now_iso(char *out, size_t size)
{
	struct timeval tv;
	struct tm	tm;
	size_t		n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, size - n, ".%03dZ", (int) (tv.tv_usec / 1000));
}

/* Copy s into out, at most size-1 bytes, with unprintable bytes as '?'. */
static void
sanitize(char *out, size_t size, const char *s)
{
	size_t		i;

	for (i = 0; s[i] && i + 1 < size; i++)
	{
		unsigned char c = (unsigned char) s[i];

		out[i] = s[i];
		if (c < 0x21 || c > 0x7e)
			out[i] = '?';
	}
	out[i] = '\0';
}

/* Write one line to the log, with a UTC timestamp. */
void
log_msg(const char *fmt,...)
{
	char		ts[40];
	va_list		ap;

	utc_now_iso(ts, sizeof(ts));
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s presence-http: ", ts);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

/* Write the access log line of one request. */
void
log_request(const char *method, const char *path, int status, size_t bytes,
			double latency, int batch, const char *sqlstate, const char *note)
{
	char		m[16];
	char		p[128];
	char		extra[64] = "";

	sanitize(m, sizeof(m), method ? method : "-");
	sanitize(p, sizeof(p), path ? path : "-");
	if (sqlstate && sqlstate[0])
		snprintf(extra, sizeof(extra), " sqlstate=%.5s", sqlstate);
	if (note)
	{
		size_t		n = strlen(extra);

		snprintf(extra + n, sizeof(extra) - n, " note=%s", note);
	}
	log_msg("request method=%s path=%s status=%d bytes=%zu latency_ms=%.3f batch=%d%s",
			m, p, status, bytes, latency * 1000.0, batch, extra);
}
