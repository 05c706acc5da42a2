/*-------------------------------------------------------------------------
 *
 * grace_queue.h
 *	  The offline grace (doc/rules.md section 16): the pending offlines ingest
 *	  queues, and the shared registry of the workers that send them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_GRACE_QUEUE_H
#define PRESENCE_GRACE_QUEUE_H

#include "datatype/timestamp.h"
#include "storage/latch.h"

#include "session_rules.h"

/* Was the library loaded by shared_preload_libraries (set by _PG_init)? */
extern bool grace_preloaded;

/* _PG_init, preloading: ask for the registry's shared memory and register the launcher. */
extern void grace_queue_init(void);

/*
 * Ingest, feed on, a user whose online or logged_out changed: true when the
 * user's message is held back (an offline queued, or a connect that cancels
 * a queued offline), false when it is to be sent now.
 */
extern bool grace_holds(const char *user_id, const UserRow *before, const UserRow *after);

/* The registry, for grace_worker.c: the launcher's side ... */
extern void grace_set_launcher(Latch *latch);	/* this is the launcher's latch */
extern void grace_want(Oid dboid);	/* a worker is wanted for dboid */
extern int	grace_take_wanted(Oid *dbs, int max, long *retry_ms);	/* those to start now */
extern void grace_start_failed(Oid dboid);	/* stopped before it attached: forget it */

/* ... and a database's worker's. */
extern bool grace_claim(Oid dboid); /* take the slot; false: another worker has it */
extern bool grace_leave(Oid dboid); /* nothing queued: free the slot, unless woken since */

#endif							/* PRESENCE_GRACE_QUEUE_H */
