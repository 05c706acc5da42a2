/*
 * metrics.c: presence-http's counters and histograms, rendered in the
 * Prometheus text exposition format for GET /metrics.
 *
 * Families: requests by status code, requests that ended without a reply
 * (by reason), ingest latency, batch sizes, database reconnects, calls
 * abandoned at their deadline, the depth of the delivery queue and, with
 * --provider-url, the reconcile loop's provider answers by result and, with
 * --forward-url, the deliveries passed on to the app's handler by result.
 */
#include <pthread.h>
#include <string.h>

#include "presence_http.h"

#define MIN_STATUS 100
#define MAX_STATUS 599

static const double latency_bounds[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};
#define N_LATENCY (sizeof(latency_bounds) / sizeof(latency_bounds[0]))

/* Why a request ended without a reply: log.c's note= values. */
static const char *const unanswered_reasons[] = {
	"timeout", "client-abort", "shutdown", "body-too-large-closed", "error"
};
#define N_UNANSWERED (sizeof(unanswered_reasons) / sizeof(unanswered_reasons[0]))

static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
#define N_BATCH (sizeof(batch_bounds) / sizeof(batch_bounds[0]))

typedef struct Histogram
{
	const double *bounds;
	size_t		nbounds;
	uint64_t	counts[16];		/* per bucket, not cumulative; last = +Inf */
	uint64_t	count;
	double		sum;
} Histogram;

static struct
{
	pthread_mutex_t lock;
	uint64_t	requests[MAX_STATUS - MIN_STATUS + 1];
	Histogram	latency;
	Histogram	batch;
	uint64_t	reconnects;
	uint64_t	db_timeouts;
	uint64_t	unanswered[N_UNANSWERED];
	int			queue_depth;
	bool		reconcile_on;	/* render the reconcile family */
	uint64_t	reconcile[N_PROVIDER_ANSWERS];
	uint64_t	path_switches[2];	/* to provider.c's v4 path 0 or 1 */
	bool		forward_on;		/* render the forward family */
	uint64_t	forward[N_FORWARD_RESULTS];
}			m = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Set up the counters (once, before any thread starts). */
void
metrics_init(void)
{
	m.latency.bounds = latency_bounds;
	m.latency.nbounds = N_LATENCY;
	m.batch.bounds = batch_bounds;
	m.batch.nbounds = N_BATCH;
}

static void
observe(Histogram *h, double v)
{
	size_t		i;

	for (i = 0; i < h->nbounds && v > h->bounds[i]; i++)
		;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

/* Count one answered request. */
void
metrics_request(int status, bool ingest, double latency)
{
	pthread_mutex_lock(&m.lock);
	if (status >= MIN_STATUS && status <= MAX_STATUS)
		m.requests[status - MIN_STATUS]++;
	if (ingest)
		observe(&m.latency, latency);
	pthread_mutex_unlock(&m.lock);
}

/* Observe one ingest call: how many deliveries it carried. */
void
metrics_batch(int size)
{
	pthread_mutex_lock(&m.lock);
	observe(&m.batch, (double) size);
	pthread_mutex_unlock(&m.lock);
}

/* Count one reconnection to the database. */
void
metrics_reconnect(void)
{
	pthread_mutex_lock(&m.lock);
	m.reconnects++;
	pthread_mutex_unlock(&m.lock);
}

/* A database call ran past every deadline and was cancelled. */
void
metrics_db_timeout(void)
{
	pthread_mutex_lock(&m.lock);
	m.db_timeouts++;
	pthread_mutex_unlock(&m.lock);
}

/* A request ended without a reply; reason as in its log line. */
void
metrics_unanswered(const char *reason)
{
	size_t		i;

	for (i = 0; i < N_UNANSWERED - 1; i++)
		if (reason != NULL && strcmp(reason, unanswered_reasons[i]) == 0)
			break;
	pthread_mutex_lock(&m.lock);
	m.unanswered[i]++;
	pthread_mutex_unlock(&m.lock);
}

/* Record how many deliveries wait for a batch. */
void
metrics_queue_depth(int depth)
{
	pthread_mutex_lock(&m.lock);
	m.queue_depth = depth;
	pthread_mutex_unlock(&m.lock);
}

/* Turn a counter family on, and count one result in it if the index is one. */
static void
count_result(bool *family_on, uint64_t *counts, int ncounts, int result)
{
	pthread_mutex_lock(&m.lock);
	*family_on = true;
	if (result >= 0 && result < ncounts)
		counts[result]++;
	pthread_mutex_unlock(&m.lock);
}

/* A provider answer in the reconcile loop; -1: the loop is on, count nothing. */
void
metrics_reconcile(int answer)
{
	count_result(&m.reconcile_on, m.reconcile, N_PROVIDER_ANSWERS, answer);
}

/* The reconcile loop moved to the v4 status path with this index. */
void
metrics_reconcile_path(int path)
{
	pthread_mutex_lock(&m.lock);
	if (path == 0 || path == 1)
		m.path_switches[path]++;
	pthread_mutex_unlock(&m.lock);
}

/* A delivery passed on (forward.c's result); -1: forwarding is on, count nothing. */
void
metrics_forward(int result)
{
	count_result(&m.forward_on, m.forward, N_FORWARD_RESULTS, result);
}

static void
render_forward(Buf *out)
{
	if (!m.forward_on)
		return;
	buf_puts(out, "# HELP presence_http_forward_total Deliveries passed on to --forward-url, by result.\n"
			 "# TYPE presence_http_forward_total counter\n");
	for (int i = 0; i < N_FORWARD_RESULTS; i++)
		buf_printf(out, "presence_http_forward_total{result=\"%s\"} %llu\n",
				   forward_result_name(i), (unsigned long long) m.forward[i]);
}

static void
render_reconcile(Buf *out)
{
	static const char *const paths[2] = {"connection-status", "online-status"};

	if (!m.reconcile_on)
		return;
	buf_puts(out, "# HELP presence_http_reconcile_path_switches_total Moves to the other v4 status path after a 404, by the path moved to.\n"
			 "# TYPE presence_http_reconcile_path_switches_total counter\n");
	for (int i = 0; i < 2; i++)
		buf_printf(out, "presence_http_reconcile_path_switches_total{path=\"%s\"} %llu\n",
				   paths[i], (unsigned long long) m.path_switches[i]);
	buf_puts(out, "# HELP presence_http_reconcile_total Provider status checks of suspected ghost sessions, by result.\n"
			 "# TYPE presence_http_reconcile_total counter\n");
	for (int i = 0; i < N_PROVIDER_ANSWERS; i++)
		buf_printf(out, "presence_http_reconcile_total{result=\"%s\"} %llu\n",
				   provider_answer_name((ProviderAnswer) i),
				   (unsigned long long) m.reconcile[i]);
}

static void
render_histogram(Buf *out, const char *name, const char *help,
				 const Histogram *h)
{
	uint64_t	cumulative = 0;
	size_t		i;

	buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (i = 0; i < h->nbounds; i++)
	{
		cumulative += h->counts[i];
		buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
				   (unsigned long long) cumulative);
	}
	cumulative += h->counts[h->nbounds];
	buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name,
			   (unsigned long long) cumulative);
	buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name,
			   (unsigned long long) h->count);
}

/* The counters in the Prometheus text format. */
void
metrics_render(Buf *out)
{
	int			i;

	pthread_mutex_lock(&m.lock);
	buf_puts(out, "# HELP presence_http_requests_total HTTP requests answered, by status code.\n"
			 "# TYPE presence_http_requests_total counter\n");
	for (i = 0; i <= MAX_STATUS - MIN_STATUS; i++)
		if (m.requests[i] > 0)
			buf_printf(out, "presence_http_requests_total{code=\"%d\"} %llu\n",
					   i + MIN_STATUS, (unsigned long long) m.requests[i]);
	buf_puts(out, "# HELP presence_http_requests_unanswered_total Requests that ended without a reply, by reason.\n"
			 "# TYPE presence_http_requests_unanswered_total counter\n");
	for (i = 0; i < (int) N_UNANSWERED; i++)
		buf_printf(out, "presence_http_requests_unanswered_total{reason=\"%s\"} %llu\n",
				   unanswered_reasons[i], (unsigned long long) m.unanswered[i]);
	render_histogram(out, "presence_http_ingest_duration_seconds",
					 "Time from request to reply for webhook deliveries.",
					 &m.latency);
	render_histogram(out, "presence_http_batch_size",
					 "Deliveries per batch call sent to the database (group commit).",
					 &m.batch);
	buf_printf(out, "# HELP presence_http_db_reconnects_total Database connections re-established after a loss.\n"
			   "# TYPE presence_http_db_reconnects_total counter\n"
			   "presence_http_db_reconnects_total %llu\n",
			   (unsigned long long) m.reconnects);
	buf_printf(out, "# HELP presence_http_db_timeouts_total Database calls cancelled because every delivery in them was past its deadline.\n"
			   "# TYPE presence_http_db_timeouts_total counter\n"
			   "presence_http_db_timeouts_total %llu\n",
			   (unsigned long long) m.db_timeouts);
	buf_printf(out, "# HELP presence_http_queue_depth Deliveries waiting for a database worker.\n"
			   "# TYPE presence_http_queue_depth gauge\n"
			   "presence_http_queue_depth %d\n", m.queue_depth);
	render_reconcile(out);
	render_forward(out);
	pthread_mutex_unlock(&m.lock);
}
