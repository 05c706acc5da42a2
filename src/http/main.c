/*
 * main.c: presence-http's start-up and shutdown.
 *
 * Start-up refuses to run (exit 1) unless the database answers and has the
 * presence extension.  SIGTERM or SIGINT: stop accepting connections, let
 * every request in flight get its database outcome and its reply, then exit 0.
 * The reconcile loop (with --provider-url) stops first, at once.
 * SIGHUP is logged and ignored: the settings are read at start only, and the
 * log is stderr, which there is nothing to reopen for.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "presence_http.h"

/* How long in-flight requests may take to finish after SIGTERM. */
#define SHUTDOWN_GRACE_SECONDS 60.0

/* Block the stop signals in every thread; main takes them with sigwait(). */
static void
block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int
wait_for_stop_signal(const sigset_t *set)
{
	int			sig = 0;

	for (;;)
	{
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			return sig;
		log_msg("received SIGHUP: ignored (settings are read at start only; "
				"restart presence-http to change them)");
	}
}

static void
shutdown_gracefully(int sig)
{
	log_msg("received %s: no new connections, finishing requests in flight",
			sig == SIGINT ? "SIGINT" : "SIGTERM");
	reconcile_stop();
	server_quiesce();
	if (!server_wait_idle(SHUTDOWN_GRACE_SECONDS))
	{
		log_msg("requests still in flight after %.0f s, exiting anyway",
				SHUTDOWN_GRACE_SECONDS);
		_exit(1);
	}
	server_stop();
	batcher_stop();
	forward_stop();
	health_stop();
	log_msg("stopped");
}

/* presence-http: read the flags, start the workers and serve until a signal. */
int
main(int argc, char **argv)
{
	ShimConfig	cfg;
	sigset_t	set;
	char	   *why = NULL;
	int			rc;

	rc = config_load(argc, argv, &cfg);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	block_signals(&set);
	metrics_init();
	if ((cfg.provider_url != NULL || cfg.forward_url != NULL) &&
		!provider_global_init())
	{
		fprintf(stderr, "presence-http: refusing to start: cannot initialize libcurl\n");
		return 1;
	}
	if (!db_check_startup(&cfg, &why))
	{
		fprintf(stderr, "presence-http: refusing to start: %s\n", why);
		free(why);
		return 1;
	}
	if (!batcher_start(&cfg) || !health_start(&cfg) || !forward_start(&cfg) ||
		!server_start(&cfg) || !reconcile_start(&cfg))
	{
		fprintf(stderr, "presence-http: refusing to start\n");
		return 1;
	}
	shutdown_gracefully(wait_for_stop_signal(&set));
	return 0;
}
