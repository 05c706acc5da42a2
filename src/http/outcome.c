/*
 * outcome.c: turns what the database said about one delivery into the HTTP
 * status and the small JSON reply (doc/rules.md section 5).
 */
#include <stdlib.h>
#include <string.h>

#include "presence_http.h"

/*
 * SQLSTATE to HTTP status.  22xxx is bad input, 54000 too large, 28000 a bad
 * signature, 55000 no secret; connection, resource and operator errors, a
 * call that took too long (57014: statement_timeout or a cancel; 55P03:
 * lock_timeout), a server that takes no writes (25006: fenced, or a standby
 * after a failover) and transient conflicts are worth a retry (503); anything
 * else is a bug (500).
 */
int
http_status_for_sqlstate(const char *sqlstate)
{
	if (sqlstate == NULL || strlen(sqlstate) != 5)
		return 500;
	if (strncmp(sqlstate, "22", 2) == 0)
		return 400;
	if (strcmp(sqlstate, "54000") == 0)
		return 413;
	if (strcmp(sqlstate, "28000") == 0)
		return 401;
	if (strcmp(sqlstate, "55000") == 0)
		return 500;
	if (strncmp(sqlstate, "08", 2) == 0 ||
		strncmp(sqlstate, "53", 2) == 0 ||
		strncmp(sqlstate, "57P", 3) == 0 ||
		strcmp(sqlstate, "57014") == 0 ||
		strcmp(sqlstate, "55P03") == 0 ||
		strcmp(sqlstate, "25006") == 0 ||
		strcmp(sqlstate, "40001") == 0 ||
		strcmp(sqlstate, "40P01") == 0)
		return 503;
	return 500;
}

static void
job_set_reply(Job *job, int status, Buf *reply)
{
	free(job->reply);
	job->status = status;
	job->reply = reply->data;
}

/* Success: the ingest_result counts, each a decimal integer or NULL. */
void
job_set_counts(Job *job, const char *items, const char *applied,
			   const char *duplicates, const char *stale, const char *ignored)
{
	Buf			b;

	if (!items || !applied || !duplicates || !stale || !ignored)
	{
		job_set_error(job, "XX000", "the database returned an incomplete outcome");
		return;
	}
	buf_init(&b, 96);
	buf_printf(&b, "{\"items\":%ld,\"applied\":%ld,\"duplicates\":%ld,\"stale\":%ld,\"ignored\":%ld}",
			   strtol(items, NULL, 10), strtol(applied, NULL, 10),
			   strtol(duplicates, NULL, 10), strtol(stale, NULL, 10),
			   strtol(ignored, NULL, 10));
	job->sqlstate[0] = '\0';
	job_set_reply(job, 200, &b);
}

/*
 * 54000 is also what NOTIFY raises when its queue is full (the live feed, with
 * a listener idling in a transaction): a passing state of the server, not a
 * body too large, so 503 and the provider retries, rather than 413.
 */
static int
http_status_for_error(const char *sqlstate, const char *message)
{
	static const char queue_full[] = "too many notifications in the NOTIFY queue";
	int			status = http_status_for_sqlstate(sqlstate);

	if (status == 413 && message != NULL &&
		strncmp(message, queue_full, sizeof(queue_full) - 1) == 0)
		return 503;
	return status;
}

/*
 * The message with each quoted name that holds a '/' replaced by "...": the
 * server quotes the files it names ("could not extend file
 * \"base/16384/2619\": No space left on device"), and a reply to the
 * provider does not show the server's files.
 */
static void
buf_scrubbed(Buf *b, const char *message)
{
	const char *s = message;

	while (*s)
	{
		const char *close = *s == '"' ? strchr(s + 1, '"') : NULL;

		if (close != NULL && memchr(s + 1, '/', (size_t) (close - s - 1)) != NULL)
		{
			buf_puts(b, "\"...\"");
			s = close + 1;
		}
		else if (close != NULL)
		{
			buf_put(b, s, (size_t) (close - s + 1));
			s = close + 1;
		}
		else
			buf_put(b, s++, 1);
	}
}

/* Failure with a SQLSTATE and the server's primary message. */
void
job_set_error(Job *job, const char *sqlstate, const char *message)
{
	Buf			b;
	Buf			text;

	buf_init(&text, 128);
	buf_scrubbed(&text, message ? message : "unknown error");
	buf_init(&b, 128);
	buf_puts(&b, "{\"error\":");
	buf_json_string(&b, text.data);
	buf_puts(&b, "}");
	buf_free(&text);
	if (sqlstate && strlen(sqlstate) == 5)
		memcpy(job->sqlstate, sqlstate, 6);
	else
		strcpy(job->sqlstate, "XX000");
	job_set_reply(job, http_status_for_error(job->sqlstate, message), &b);
}

/* The database cannot be reached: 503, the client should retry later. */
void
job_set_unavailable(Job *job, const char *message)
{
	job_set_error(job, "08006", message ? message : "database unavailable");
}

/* The database did not finish in time (--db-timeout): 503, as 57014. */
void
job_set_too_slow(Job *job)
{
	job_set_error(job, "57014", "the database did not answer in time, try again later");
}
