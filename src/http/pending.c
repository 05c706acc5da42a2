/*
 * pending.c: the deliveries one database call is serving, and their
 * deadlines.
 *
 * A call may serve deliveries that arrived at different times; each must be
 * answered within --db-timeout of its own arrival.  While the call waits,
 * pending_next() answers every delivery whose deadline has passed with 503
 * and tells the caller when to look again; the call gives up once none is
 * left (or once the one it is for, its focus, is answered).  A slot is NULL once its job was handed back (done() called), since
 * the HTTP side may free the job at once.
 */
#include <math.h>
#include <stdlib.h>

#include "presence_http.h"

/* Start serving jobs[0..n); until ends a wait that has no jobs. */
void
pending_init(Pending *p, Job **jobs, int n, double until)
{
	p->jobs = jobs;
	p->n = n;
	p->left = 0;
	p->focus = n > 0 ? PENDING_ALL : PENDING_UNTIL;
	p->until = until;
	for (int i = 0; i < n; i++)
		if (jobs[i] != NULL)
			p->left++;
}

/* Hand job i back to the HTTP side: its outcome is set. */
void
pending_finish(Pending *p, int i)
{
	Job		   *job = p->jobs[i];

	if (job == NULL)
		return;
	p->jobs[i] = NULL;
	p->left--;
	job->done(job);
}

/* Hand back every job still held; those without an outcome get 503. */
void
pending_finish_all(Pending *p)
{
	for (int i = 0; i < p->n; i++)
	{
		if (p->jobs[i] == NULL)
			continue;
		if (p->jobs[i]->status == 0)
			job_set_unavailable(p->jobs[i], NULL);
		pending_finish(p, i);
	}
}

/* Is the wait over (see Pending.focus)? */
static bool
pending_over(const Pending *p, double now)
{
	if (now >= p->until)
		return true;
	if (p->focus == PENDING_ALL)
		return p->left == 0;
	if (p->focus >= 0)
		return p->jobs[p->focus] == NULL;
	return false;
}

/*
 * Answer each job whose deadline has passed (503, too slow).  Returns the
 * next time to look again (the earliest deadline left, or until), or 0 when
 * the wait is over.
 */
double
pending_next(Pending *p, double now)
{
	double		next = p->until;

	for (int i = 0; i < p->n; i++)
	{
		Job		   *job = p->jobs[i];

		if (job == NULL)
			continue;
		if (job->deadline <= now)
		{
			job_set_too_slow(job);
			pending_finish(p, i);
		}
		else if (job->deadline < next)
			next = job->deadline;
	}
	if (pending_over(p, now))
		return 0;
	return isinf(next) ? now + 3600.0 : next;
}
