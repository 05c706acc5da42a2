/*
 * config.c: presence-http's settings, from command-line flags with an
 * environment variable fallback for each (PRESENCE_HTTP_*), and the
 * resolution of the --listen address.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <curl/curl.h>

#include "presence_http.h"

enum
{
	OPT_LISTEN = 'l',
	OPT_PATH = 'p',
	OPT_DB = 'd',
	OPT_HELP = 'h',
	OPT_MAX_BODY = 256,
	OPT_WORKERS,
	OPT_BATCH_MAX,
	OPT_BATCH_WAIT,
	OPT_TIMEOUT,
	OPT_MAX_CONN,
	OPT_QUEUE_MAX,
	OPT_DB_TIMEOUT,
	OPT_CONNECT_TIMEOUT,
	OPT_PREPARE,
	OPT_PROVIDER_URL,
	OPT_PROVIDER_API,
	OPT_APP_KEY,
	OPT_APP_SECRET_FILE,
	OPT_RECONCILE_IDLE,
	OPT_RECONCILE_EVERY,
	OPT_RECONCILE_RATE,
	OPT_FORWARD_URL,
	OPT_FORWARD_ALL
};

static const struct option options[] = {
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"path", required_argument, NULL, OPT_PATH},
	{"db", required_argument, NULL, OPT_DB},
	{"max-body", required_argument, NULL, OPT_MAX_BODY},
	{"workers", required_argument, NULL, OPT_WORKERS},
	{"batch-max", required_argument, NULL, OPT_BATCH_MAX},
	{"batch-wait-us", required_argument, NULL, OPT_BATCH_WAIT},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"max-connections", required_argument, NULL, OPT_MAX_CONN},
	{"queue-max", required_argument, NULL, OPT_QUEUE_MAX},
	{"db-timeout", required_argument, NULL, OPT_DB_TIMEOUT},
	{"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
	{"prepare", required_argument, NULL, OPT_PREPARE},
	{"provider-url", required_argument, NULL, OPT_PROVIDER_URL},
	{"provider-api", required_argument, NULL, OPT_PROVIDER_API},
	{"app-key", required_argument, NULL, OPT_APP_KEY},
	{"app-secret-file", required_argument, NULL, OPT_APP_SECRET_FILE},
	{"reconcile-idle", required_argument, NULL, OPT_RECONCILE_IDLE},
	{"reconcile-every", required_argument, NULL, OPT_RECONCILE_EVERY},
	{"reconcile-rate", required_argument, NULL, OPT_RECONCILE_RATE},
	{"forward-url", required_argument, NULL, OPT_FORWARD_URL},
	{"forward-all", no_argument, NULL, OPT_FORWARD_ALL},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0}
};

static void
usage(FILE *out)
{
	fputs("presence-http: HTTP front door of the presence extension\n"
		  "\n"
		  "Usage: presence-http [OPTION]...\n"
		  "\n"
		  "Options (each also read from the environment variable shown):\n"
		  "  --listen=HOST:PORT     address to bind (PRESENCE_HTTP_LISTEN, default 127.0.0.1:8080)\n"
		  "  --path=PATH            webhook URL path (PRESENCE_HTTP_PATH, default /webhook)\n"
		  "  --db=CONNINFO          libpq connection string (PRESENCE_HTTP_DB, default: PG* environment)\n"
		  "  --max-body=BYTES       largest accepted body (PRESENCE_HTTP_MAX_BODY, default 65536)\n"
		  "  --workers=N            database connections (PRESENCE_HTTP_WORKERS, default 4)\n"
		  "  --batch-max=N          deliveries per transaction (PRESENCE_HTTP_BATCH_MAX, default 64)\n"
		  "  --batch-wait-us=US     extra wait to fill a batch under load (PRESENCE_HTTP_BATCH_WAIT_US, default 200)\n"
		  "  --timeout=SECONDS      idle client connection timeout (PRESENCE_HTTP_TIMEOUT, default 30)\n"
		  "  --max-connections=N    concurrent client connections (PRESENCE_HTTP_MAX_CONNECTIONS, default 512)\n"
		  "  --queue-max=N          deliveries waiting for a worker before 503 (PRESENCE_HTTP_QUEUE_MAX, default 1024)\n"
		  "  --db-timeout=SECONDS   latest reply after a delivery arrives, 503 past it (PRESENCE_HTTP_DB_TIMEOUT, default 4)\n"
		  "  --connect-timeout=SECONDS  one database connection attempt (PRESENCE_HTTP_CONNECT_TIMEOUT, default 2)\n"
		  "  --prepare=auto|on|off  prepare the batch call per connection (PRESENCE_HTTP_PREPARE, default auto:\n"
		  "                         not behind a pooler or proxy)\n"
		  "\n"
		  "Reconciliation of ghost sessions (only with --provider-url):\n"
		  "  --provider-url=URL     the provider's API base (PRESENCE_HTTP_PROVIDER_URL, default: off)\n"
		  "  --provider-api=v4|legacy  status API shape (PRESENCE_HTTP_PROVIDER_API, default v4)\n"
		  "  --app-key=KEY          App-Key header (PRESENCE_HTTP_APP_KEY)\n"
		  "  --app-secret-file=FILE file holding the app secret (PRESENCE_HTTP_APP_SECRET_FILE;\n"
		  "                         or the secret itself in PRESENCE_HTTP_APP_SECRET)\n"
		  "  --reconcile-idle=DUR   ask about users idle this long (PRESENCE_HTTP_RECONCILE_IDLE, default 30m)\n"
		  "  --reconcile-every=DUR  time between rounds (PRESENCE_HTTP_RECONCILE_EVERY, default 60s)\n"
		  "  --reconcile-rate=N     provider requests per second, 1..100 (PRESENCE_HTTP_RECONCILE_RATE, default 10)\n"
		  "                         DUR: seconds, or a number with s, m or h (90s, 30m, 1h)\n"
		  "\n"
		  "Forwarding to the app's own handler (forward.c):\n"
		  "  --forward-url=URL      pass signed deliveries of types presence does not apply on to URL\n"
		  "                         and relay its reply (PRESENCE_HTTP_FORWARD_URL, default: off)\n"
		  "  --forward-all          pass presence's own deliveries on too, after their commit\n"
		  "                         (PRESENCE_HTTP_FORWARD_ALL=1)\n"
		  "  --help                 show this help and exit\n",
		  out);
}

/* Parse a decimal integer within [min, max]; false (with a message) if not. */
static bool
parse_long(const char *name, const char *s, long min, long max, long *out)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
	{
		fprintf(stderr, "presence-http: invalid value \"%s\" for %s (expected %ld..%ld)\n",
				s, name, min, max);
		return false;
	}
	*out = v;
	return true;
}

/* The keywords of --prepare and --provider-api, in their enums' order. */
static const char *const prepare_words[] = {"auto", "on", "off"};
static const char *const provider_api_words[] = {"v4", "legacy"};

/*
 * The index of s in words[] (a setting's keywords, in its enum's order), or
 * -1 (with a message naming every keyword) if s is none of them.
 */
static int
parse_keyword(const char *name, const char *s, const char *const *words, int nwords)
{
	int			i;

	for (i = 0; i < nwords; i++)
		if (strcmp(s, words[i]) == 0)
			return i;
	fprintf(stderr, "presence-http: invalid value \"%s\" for %s (expected", s, name);
	for (i = 0; i < nwords; i++)
		fprintf(stderr, "%s %s", i == 0 ? "" : (i == nwords - 1 ? " or" : ","), words[i]);
	fprintf(stderr, ")\n");
	return -1;
}

/* A duration: seconds, or a number followed by ms, s, m or h; within [min, max]. */
static bool
parse_duration(const char *name, const char *s, double min, double max, double *out)
{
	char	   *end;
	double		v;
	double		unit = 1.0;

	errno = 0;
	v = strtod(s, &end);
	if (end != s && strcmp(end, "ms") == 0)
		unit = 0.001;
	else if (end != s && strcmp(end, "m") == 0)
		unit = 60.0;
	else if (end != s && strcmp(end, "h") == 0)
		unit = 3600.0;
	else if (end != s && *end != '\0' && strcmp(end, "s") != 0)
		end = (char *) s;
	v *= unit;
	if (errno != 0 || end == s || !(v >= min && v <= max))
	{
		fprintf(stderr, "presence-http: invalid value \"%s\" for %s "
				"(expected a duration such as 90s, 30m or 1h, %g..%g s)\n",
				s, name, min, max);
		return false;
	}
	*out = v;
	return true;
}

/* --prepare or --provider-api: one of its keywords. */
static bool
config_set_keyword(ShimConfig *cfg, int opt, const char *name, const char *value)
{
	bool		prepare = opt == OPT_PREPARE;
	int			k = prepare
		? parse_keyword(name, value, prepare_words, N_ELEMENTS(prepare_words))
		: parse_keyword(name, value, provider_api_words, N_ELEMENTS(provider_api_words));

	if (k < 0)
		return false;
	if (prepare)
		cfg->prepare = (PrepareMode) k;
	else
		cfg->provider_api = (ProviderApi) k;
	return true;
}

/* An http:// or https:// URL; false (with a message) if not. */
static bool
parse_http_url(const char *name, const char *value, const char **out)
{
	if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
	{
		fprintf(stderr, "presence-http: %s must start with http:// or https://\n", name);
		return false;
	}
	*out = value;
	return true;
}

/* Does the URL name localhost, 127.0.0.0/8 or ::1? */
static bool
url_is_loopback(const char *url)
{
	CURLU	   *u = curl_url();
	char	   *host = NULL;
	unsigned char addr[16];
	bool		loopback = false;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
	{
		if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
			loopback = true;
		else if (inet_pton(AF_INET, host, addr) == 1)
			loopback = addr[0] == 127;
	}
	curl_free(host);
	curl_url_cleanup(u);
	return loopback;
}

/* The reconcile settings: flags with a duration, a name or a file. */
static bool
config_set_reconcile(ShimConfig *cfg, int opt, const char *name, const char *value)
{
	long		rate;

	switch (opt)
	{
		case OPT_PROVIDER_URL:
			if (!parse_http_url(name, value, &cfg->provider_url))
				return false;
			if (strncmp(value, "http://", 7) == 0 && !url_is_loopback(value))
			{
				fprintf(stderr, "presence-http: %s must be https:// unless it names a loopback address "
						"(its requests carry the app key and a signature)\n", name);
				return false;
			}
			return true;
		case OPT_PROVIDER_API:
			return config_set_keyword(cfg, opt, name, value);
		case OPT_RECONCILE_IDLE:
			return parse_duration(name, value, 1, 365 * 86400.0, &cfg->reconcile_idle);
		case OPT_RECONCILE_EVERY:
			return parse_duration(name, value, 0.1, 86400, &cfg->reconcile_every);
		default:
			if (!parse_long(name, value, 1, PROVIDER_MAX_RATE, &rate))
				return false;
			cfg->reconcile_rate = (int) rate;
			return true;
	}
}

static void
config_defaults(ShimConfig *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = "127.0.0.1:8080";
	cfg->path = "/webhook";
	cfg->db = NULL;
	cfg->max_body = 65536;
	cfg->workers = 4;
	cfg->batch_max = 64;
	cfg->batch_wait_us = 200;
	cfg->timeout = 30;
	cfg->max_connections = 512;
	cfg->queue_max = 1024;
	cfg->db_timeout = 4.0;
	cfg->connect_timeout = 2.0;
	cfg->prepare = PREPARE_AUTO;
	cfg->provider_api = PROVIDER_API_V4;
	cfg->reconcile_idle = 30 * 60.0;
	cfg->reconcile_every = 60.0;
	cfg->reconcile_rate = 10;
}

/* An integer setting by option id, within its bounds. */
static bool
config_set_number(ShimConfig *cfg, int opt, const char *name, const char *value)
{
	const struct
	{
		int			opt;
		long		min;
		long		max;
		int		   *target;
	}			ints[] = {
		{OPT_WORKERS, 1, 256, &cfg->workers},
		{OPT_BATCH_MAX, 1, 10000, &cfg->batch_max},
		{OPT_TIMEOUT, 0, 86400, &cfg->timeout},
		{OPT_MAX_CONN, 1, 100000, &cfg->max_connections},
		{OPT_QUEUE_MAX, 1, 1000000, &cfg->queue_max},
	};
	long		v;

	if (opt == OPT_BATCH_WAIT)
		return parse_long(name, value, 0, 10000000, &cfg->batch_wait_us);
	if (opt == OPT_MAX_BODY)
	{
		if (!parse_long(name, value, 1, 64L * 1024 * 1024, &v))
			return false;
		cfg->max_body = (size_t) v;
		return true;
	}
	for (int i = 0; i < N_ELEMENTS(ints); i++)
	{
		if (ints[i].opt != opt)
			continue;
		if (!parse_long(name, value, ints[i].min, ints[i].max, &v))
			return false;
		*ints[i].target = (int) v;
		return true;
	}
	return false;
}

/* Apply one setting by option id; used for both flags and environment. */
static bool
config_set(ShimConfig *cfg, int opt, const char *name, const char *value)
{
	const struct
	{
		int			opt;
		const char **target;
	}			strings[] = {
		{OPT_LISTEN, &cfg->listen},
		{OPT_DB, &cfg->db},
		{OPT_APP_KEY, &cfg->app_key},
		{OPT_APP_SECRET_FILE, &cfg->app_secret_file},
	};

	for (int i = 0; i < N_ELEMENTS(strings); i++)
	{
		if (strings[i].opt == opt)
		{
			*strings[i].target = value;	/* taken as it is */
			return true;
		}
	}
	switch (opt)
	{
		case OPT_PATH:
			if (value[0] != '/')
			{
				fprintf(stderr, "presence-http: %s must start with \"/\"\n", name);
				return false;
			}
			cfg->path = value;
			return true;
		case OPT_DB_TIMEOUT:
			return parse_duration(name, value, 0.1, 3600, &cfg->db_timeout);
		case OPT_CONNECT_TIMEOUT:
			return parse_duration(name, value, 0.1, 3600, &cfg->connect_timeout);
		case OPT_PREPARE:
			return config_set_keyword(cfg, opt, name, value);
		case OPT_FORWARD_URL:
			return parse_http_url(name, value, &cfg->forward_url);
		case OPT_FORWARD_ALL:
			cfg->forward_all = value == NULL || strcmp(value, "0") != 0;
			return true;
		case OPT_PROVIDER_URL:
		case OPT_PROVIDER_API:
		case OPT_RECONCILE_IDLE:
		case OPT_RECONCILE_EVERY:
		case OPT_RECONCILE_RATE:
			return config_set_reconcile(cfg, opt, name, value);
		default:
			return config_set_number(cfg, opt, name, value);
	}
}

/* Environment first, so that flags override it. */
static bool
config_from_env(ShimConfig *cfg)
{
	static const struct
	{
		const char *var;
		int			opt;
	}			env[] = {
		{"PRESENCE_HTTP_LISTEN", OPT_LISTEN},
		{"PRESENCE_HTTP_PATH", OPT_PATH},
		{"PRESENCE_HTTP_DB", OPT_DB},
		{"PRESENCE_HTTP_MAX_BODY", OPT_MAX_BODY},
		{"PRESENCE_HTTP_WORKERS", OPT_WORKERS},
		{"PRESENCE_HTTP_BATCH_MAX", OPT_BATCH_MAX},
		{"PRESENCE_HTTP_BATCH_WAIT_US", OPT_BATCH_WAIT},
		{"PRESENCE_HTTP_TIMEOUT", OPT_TIMEOUT},
		{"PRESENCE_HTTP_MAX_CONNECTIONS", OPT_MAX_CONN},
		{"PRESENCE_HTTP_QUEUE_MAX", OPT_QUEUE_MAX},
		{"PRESENCE_HTTP_DB_TIMEOUT", OPT_DB_TIMEOUT},
		{"PRESENCE_HTTP_CONNECT_TIMEOUT", OPT_CONNECT_TIMEOUT},
		{"PRESENCE_HTTP_PREPARE", OPT_PREPARE},
		{"PRESENCE_HTTP_PROVIDER_URL", OPT_PROVIDER_URL},
		{"PRESENCE_HTTP_PROVIDER_API", OPT_PROVIDER_API},
		{"PRESENCE_HTTP_APP_KEY", OPT_APP_KEY},
		{"PRESENCE_HTTP_APP_SECRET_FILE", OPT_APP_SECRET_FILE},
		{"PRESENCE_HTTP_RECONCILE_IDLE", OPT_RECONCILE_IDLE},
		{"PRESENCE_HTTP_RECONCILE_EVERY", OPT_RECONCILE_EVERY},
		{"PRESENCE_HTTP_RECONCILE_RATE", OPT_RECONCILE_RATE},
		{"PRESENCE_HTTP_FORWARD_URL", OPT_FORWARD_URL},
		{"PRESENCE_HTTP_FORWARD_ALL", OPT_FORWARD_ALL},
	};
	int			i;

	for (i = 0; i < N_ELEMENTS(env); i++)
	{
		const char *value = getenv(env[i].var);

		if (value != NULL && value[0] != '\0' &&
			!config_set(cfg, env[i].opt, env[i].var, value))
			return false;
	}
	return true;
}

/* "--name" of an option id, for messages. */
static const char *
option_name(int opt)
{
	static char name[40];
	const struct option *o;

	for (o = options; o->name != NULL; o++)
		if (o->val == opt)
		{
			snprintf(name, sizeof(name), "--%s", o->name);
			return name;
		}
	return "option";
}

/*
 * With --provider-url: the app key and secret are required; the secret comes
 * from --app-secret-file (first line, without its newline) or from
 * PRESENCE_HTTP_APP_SECRET.  It is never printed.
 */
static bool
config_load_secret(ShimConfig *cfg)
{
	const char *env = getenv("PRESENCE_HTTP_APP_SECRET");
	char		line[1024];
	FILE	   *f;

	if (cfg->provider_url == NULL || cfg->provider_url[0] == '\0')
	{
		cfg->provider_url = NULL;
		return true;
	}
	if (cfg->app_key == NULL || cfg->app_key[0] == '\0')
	{
		fputs("presence-http: --provider-url needs --app-key\n", stderr);
		return false;
	}
	if (cfg->app_secret_file == NULL)
	{
		if (env == NULL || env[0] == '\0')
		{
			fputs("presence-http: --provider-url needs --app-secret-file or "
				  "PRESENCE_HTTP_APP_SECRET\n", stderr);
			return false;
		}
		cfg->app_secret = xstrdup(env);
		return true;
	}
	f = fopen(cfg->app_secret_file, "r");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL)
	{
		fprintf(stderr, "presence-http: cannot read --app-secret-file \"%s\"\n",
				cfg->app_secret_file);
		if (f)
			fclose(f);
		return false;
	}
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if (line[0] == '\0')
	{
		fprintf(stderr, "presence-http: --app-secret-file \"%s\" is empty\n",
				cfg->app_secret_file);
		return false;
	}
	cfg->app_secret = xstrdup(line);
	return true;
}

/* Flags over environment over defaults; see presence_http.h for the result. */
int
config_load(int argc, char **argv, ShimConfig *cfg)
{
	int			opt;

	config_defaults(cfg);
	if (!config_from_env(cfg))
		return 2;
	while ((opt = getopt_long(argc, argv, "l:p:d:h", options, NULL)) != -1)
	{
		if (opt == OPT_HELP)
		{
			usage(stdout);
			return 1;
		}
		if (opt == '?' || !config_set(cfg, opt, option_name(opt), optarg))
		{
			fputs("Try \"presence-http --help\" for more information.\n", stderr);
			return 2;
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "presence-http: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (cfg->forward_all && cfg->forward_url == NULL)
	{
		fputs("presence-http: --forward-all needs --forward-url\n", stderr);
		return 2;
	}
	return config_load_secret(cfg) ? 0 : 2;
}

/*
 * --listen to a socket address: host:port, [v6addr]:port; an empty host or
 * "*" means every interface.  NULL if it does not resolve.  Free the result
 * with freeaddrinfo().
 */
struct addrinfo *
config_resolve_listen(const char *listen)
{
	char		host[256];
	const char *port;
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints = {0};
	struct addrinfo *ai = NULL;
	size_t		hlen;
	int			rc;

	if (colon == NULL || colon[1] == '\0')
		return NULL;
	port = colon + 1;
	hlen = (size_t) (colon - listen);
	if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']')
	{
		listen++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return NULL;
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(hlen == 0 || strcmp(host, "*") == 0 ? NULL : host, port,
					 &hints, &ai);
	return rc == 0 ? ai : NULL;
}
