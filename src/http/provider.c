/*
 * provider.c: asks the chat provider's status API whether a user is online,
 * for the reconcile loop (reconcile.c).
 *
 * One libcurl easy handle per Provider (its connection is reused between
 * calls).  The v4 status API is POST /v4/user/connection-status/get, the
 * path of the provider's API definition and of all its SDKs; one docs page
 * names /v4/user/online-status/get instead, so a 404 on the one is tried once
 * on the other, and the path that answered is kept for later calls (logged,
 * and counted in presence_http_reconcile_path_switches_total).  Each request
 * is signed with App-Key, Nonce (random), Timestamp (Unix seconds, as the
 * provider's SDKs send it) and Signature (lower-case hex SHA1 of secret +
 * nonce + timestamp, OpenSSL's libcrypto).  The provider signs its webhooks
 * with the same secret and formula, so before a request leaves its triple is
 * bound (the Provider's bind hook, reconcile.c) in presence.seen_signatures
 * to a digest no body has: whoever sees the headers cannot replay them as a
 * delivery, and a webhook's age check (milliseconds) refuses a Timestamp in
 * seconds as well.  HTTP and HTTPS only, no redirects (a 3xx
 * is an error), no proxy from the environment, a connect and a total
 * timeout, answers of at most MAX_ANSWER bytes.  The secret and the
 * signature are never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/sha.h>

#include "presence_http.h"

#define CONNECT_TIMEOUT_MS 2000L
#define TOTAL_TIMEOUT_MS 3000L
#define MAX_ANSWER 65536

struct Provider
{
	const ShimConfig *cfg;
	CURL	   *curl;
	char	   *urls[2];		/* the status endpoint; v4: and the other path */
	int			path;			/* the index in urls used now */
	bool		retrying;		/* a 404 is being tried on the other path */
	bool		(*stopping) (void);
	ProviderBind bind;			/* NULL: requests are not bound */
	Buf			answer;
	CurlSink	sink;			/* libcurl's writes into answer */
};

/* The v4 paths: the API definition's and SDKs' first, the older docs' next. */
static const char *const v4_paths[2] = {
	"/v4/user/connection-status/get", "/v4/user/online-status/get"
};

static const char *const answer_names[N_PROVIDER_ANSWERS] = {
	"offline", "online", "error", "timeout", "bad_answer"
};

/* The metric label of an answer. */
const char *
provider_answer_name(ProviderAnswer a)
{
	return answer_names[a];
}

/* Once per process, before any thread is started. */
bool
provider_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

/* Lower-case hex SHA1 of secret + nonce + timestamp, NUL-terminated. */
static void
provider_signature(const char *secret, const char *nonce,
				   const char *timestamp, char out[41])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	Buf			b;

	buf_init(&b, 128);
	buf_puts(&b, secret);
	buf_puts(&b, nonce);
	buf_puts(&b, timestamp);
	SHA1((const unsigned char *) b.data, b.len, md);
	memset(b.data, 0, b.len);
	buf_free(&b);
	for (size_t i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Abort a transfer once presence-http is stopping. */
static int
on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	Provider   *pv = arg;

	(void) dt, (void) dn, (void) ut, (void) un;
	return pv->stopping() ? 1 : 0;
}

/* base without its trailing slashes, then path; malloc'd. */
static char *
endpoint(const char *base, const char *path)
{
	size_t		len = strlen(base);
	Buf			url;

	while (len > 0 && base[len - 1] == '/')
		len--;
	buf_init(&url, len + strlen(path) + 1);
	buf_put(&url, base, len);
	buf_puts(&url, path);
	return url.data;
}

/* A handle for cfg's provider; NULL if libcurl cannot make one. */
Provider *
provider_open(const ShimConfig *cfg, bool (*stopping) (void))
{
	Provider   *pv = xcalloc(1, sizeof(Provider));

	if (cfg->provider_api == PROVIDER_API_V4)
	{
		pv->urls[0] = endpoint(cfg->provider_url, v4_paths[0]);
		pv->urls[1] = endpoint(cfg->provider_url, v4_paths[1]);
	}
	else
		pv->urls[0] = endpoint(cfg->provider_url, "/user/checkOnline.json");
	pv->cfg = cfg;
	pv->stopping = stopping;
	pv->curl = curl_easy_init();
	if (pv->curl == NULL)
	{
		provider_close(pv);
		return NULL;
	}
	return pv;
}

/* Free the handle. */
void
provider_close(Provider *pv)
{
	if (pv == NULL)
		return;
	if (pv->curl)
		curl_easy_cleanup(pv->curl);
	free(pv->urls[0]);
	free(pv->urls[1]);
	free(pv);
}

/* The request's body: JSON for v4, a urlencoded form for legacy. */
static char *
request_body(Provider *pv, const char *user_id, struct curl_slist **headers)
{
	Buf			b;

	buf_init(&b, 64 + strlen(user_id));
	if (pv->cfg->provider_api == PROVIDER_API_V4)
	{
		buf_puts(&b, "{\"userId\":");
		buf_json_string(&b, user_id);
		buf_puts(&b, "}");
		*headers = curl_slist_append(*headers, "Content-Type: application/json");
	}
	else
	{
		char	   *esc = curl_easy_escape(pv->curl, user_id, 0);

		buf_puts(&b, "userId=");
		buf_puts(&b, esc ? esc : "");
		curl_free(esc);
		*headers = curl_slist_append(*headers,
									 "Content-Type: application/x-www-form-urlencoded");
	}
	return b.data;
}

/*
 * App-Key, Nonce, Timestamp and Signature for a request sent now, appended to
 * *headers; false, and nothing to send, if the triple could not be bound.
 */
static bool
sign_headers(Provider *pv, struct curl_slist **headers)
{
	unsigned char raw[8];
	char		nonce[17];
	char		ts[24];
	char		sig[41];
	char		line[256];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t) sizeof(raw))
		for (size_t i = 0; i < sizeof(raw); i++)
			raw[i] = (unsigned char) random();
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(nonce + 2 * i, 3, "%02x", raw[i]);
	snprintf(ts, sizeof(ts), "%lld", (long long) time(NULL));
	provider_signature(pv->cfg->app_secret, nonce, ts, sig);
	if (pv->bind != NULL && !pv->bind(nonce, ts, sig))
		return false;
	snprintf(line, sizeof(line), "App-Key: %s", pv->cfg->app_key);
	*headers = curl_slist_append(*headers, line);
	snprintf(line, sizeof(line), "Nonce: %s", nonce);
	*headers = curl_slist_append(*headers, line);
	snprintf(line, sizeof(line), "Timestamp: %s", ts);
	*headers = curl_slist_append(*headers, line);
	snprintf(line, sizeof(line), "Signature: %s", sig);
	*headers = curl_slist_append(*headers, line);
	memset(line, 0, sizeof(line));
	*headers = curl_slist_append(*headers, "Expect:");
	return true;
}

/* Bind each request's triple with bind before it is sent. */
void
provider_set_bind(Provider *pv, ProviderBind bind)
{
	pv->bind = bind;
}

static void
set_options(Provider *pv, const char *body, struct curl_slist *headers)
{
	CURL	   *c = pv->curl;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, pv->urls[pv->path]);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "presence-http");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &pv->sink);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, pv);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
}

/* Is the pick a JSON number with exactly this text? */
static bool
number_is(const JsonPick *p, const char *text)
{
	return p->kind == JSON_NUMBER && strcmp(p->text, text) == 0;
}

/* Read a 2xx answer: online, offline or bad. */
static ProviderAnswer
provider_parse_answer(ProviderApi api, const char *body, size_t len)
{
	JsonPick	picks[2] = {{.path = "code"}, {.path = NULL}};

	picks[1].path = api == PROVIDER_API_V4 ? "result.status" : "status";
	if (!json_pick(body, len, picks, 2))
		return ANSWER_BAD_ANSWER;
	if (!number_is(&picks[0], api == PROVIDER_API_V4 ? "0" : "200"))
		return ANSWER_BAD_ANSWER;
	if (picks[1].kind != JSON_STRING)
		return ANSWER_BAD_ANSWER;
	if (strcmp(picks[1].text, "0") == 0)
		return ANSWER_OFFLINE;
	if (strcmp(picks[1].text, "1") == 0)
		return ANSWER_ONLINE;
	return ANSWER_BAD_ANSWER;
}

/*
 * A 404 on one v4 path: ask once on the other, and keep it if it answers
 * with anything but a 404.
 */
static ProviderAnswer
retry_other_path(Provider *pv, const char *user_id, int *http_status)
{
	ProviderAnswer a;
	int			tried = pv->path;

	pv->path = 1 - tried;
	pv->retrying = true;
	a = provider_check(pv, user_id, http_status);
	pv->retrying = false;
	if (*http_status == 404)
		pv->path = tried;
	else
	{
		log_msg("reconcile: %s answered 404, %s answered %d: using %s from now on",
				v4_paths[tried], v4_paths[pv->path], *http_status,
				v4_paths[pv->path]);
		metrics_reconcile_path(pv->path);
	}
	return a;
}

/* Ask whether user_id is online; *http_status is 0 without an answer. */
ProviderAnswer
provider_check(Provider *pv, const char *user_id, int *http_status)
{
	struct curl_slist *headers = NULL;
	char	   *body = request_body(pv, user_id, &headers);
	long		status = 0;
	CURLcode	rc;
	ProviderAnswer a;

	if (!sign_headers(pv, &headers))
	{
		*http_status = 0;
		curl_slist_free_all(headers);
		free(body);
		return ANSWER_ERROR;
	}
	curl_sink_reset(&pv->sink, &pv->answer, MAX_ANSWER);
	set_options(pv, body, headers);
	rc = curl_easy_perform(pv->curl);
	curl_easy_getinfo(pv->curl, CURLINFO_RESPONSE_CODE, &status);
	*http_status = (int) status;
	if (rc == CURLE_OPERATION_TIMEDOUT)
		a = ANSWER_TIMEOUT;
	else if (pv->sink.too_big)
		a = ANSWER_BAD_ANSWER;
	else if (rc != CURLE_OK || status < 200 || status > 299)
		a = ANSWER_ERROR;
	else
		a = provider_parse_answer(pv->cfg->provider_api, pv->answer.data,
								  pv->answer.len);
	curl_slist_free_all(headers);
	free(body);
	if (status == 404 && pv->urls[1] != NULL && !pv->retrying)
		return retry_other_path(pv, user_id, http_status);
	return a;
}
