/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  The local applier: apply a call's accepted deliveries to this database's
 *	  presence tables (phase 3 of ingest.c).
 *
 * ingest.c checks and binds deliveries and hands the accepted ones, verified
 * and parsed, to an applier its caller chose: this one, or a router's
 * (router.c), which sends them to the partitions, where this one applies
 * them.  All accepted items are applied together, sorted by (user, session,
 * time, status): each user's row is locked before anything else of that user
 * is read or written, and users are taken in one fixed order, so concurrent
 * calls never deadlock, however many users they name.  Room items follow,
 * room by room (room_apply.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "apply.h"
#include "feed.h"
#include "presence.h"
#include "room_apply.h"
#include "store.h"

/* An item to apply, with the delivery it came in. */
typedef struct WorkItem
{
	const PayloadItem *item;
	Delivery   *delivery;
	int			delivery_no;
} WorkItem;

static int
compare_work(const void *a, const void *b)
{
	const WorkItem *x = a;
	const WorkItem *y = b;
	int			c = strcmp(x->item->user_id, y->item->user_id);

	if (c == 0)
		c = strcmp(x->item->session_id, y->item->session_id);
	if (c == 0 && x->item->time_ms != y->item->time_ms)
		c = x->item->time_ms < y->item->time_ms ? -1 : 1;
	if (c == 0)
		c = (int) x->item->status - (int) y->item->status;
	if (c == 0)
		c = x->delivery_no - y->delivery_no;
	if (c == 0)
		c = x->item->item_no - y->item->item_no;
	return c;
}

/*
 * The items to apply, sorted; an item older than the retention horizon is
 * stale at once: what it could have changed is no longer kept.
 */
static WorkItem *
collect_work(Delivery *deliveries, int n, TimestampTz horizon, int *nwork)
{
	WorkItem   *work;
	int			total = 0;

	for (int i = 0; i < n; i++)
		if (!deliveries[i].rejected)
			total += deliveries[i].payload.nitems;
	work = palloc(sizeof(WorkItem) * Max(total, 1));
	*nwork = 0;
	for (int i = 0; i < n; i++)
	{
		if (deliveries[i].rejected)
			continue;
		for (int j = 0; j < deliveries[i].payload.nitems; j++)
		{
			const PayloadItem *it = &deliveries[i].payload.items[j];
			WorkItem   *w;

			if (presence_ms_to_timestamptz(it->time_ms) < horizon)
			{
				deliveries[i].stale++;
				continue;
			}
			w = &work[(*nwork)++];
			w->item = it;
			w->delivery = &deliveries[i];
			w->delivery_no = i;
		}
	}
	qsort(work, *nwork, sizeof(WorkItem), compare_work);
	return work;
}

static bool
same_session(const WorkItem *a, const WorkItem *b)
{
	return strcmp(a->item->user_id, b->item->user_id) == 0 &&
		strcmp(a->item->session_id, b->item->session_id) == 0;
}

/* The value a copy brings that beats the logged one, else NULL. */
static const char *
greater_copy_value(const char *logged, const char *copy)
{
	const char *keep = session_greatest_value(logged, copy);

	return keep != logged ? keep : NULL;
}

/*
 * A copy of a logged item: the item keeps the byte-wise greatest os and
 * client_ip of its copies (doc/rules.md section 3.3), in its events row and, through the
 * session rules, wherever it decides the field.  Returns whether the session
 * row changed.
 */
static bool
merge_copy(const PayloadItem *it, RuleItem ri, LoggedFields *known, SessionRow *row)
{
	const char *os = greater_copy_value(known->os, it->os);
	const char *ip = greater_copy_value(known->client_ip, it->client_ip);

	if (os == NULL && ip == NULL)
		return false;
	if (os != NULL)
		known->os = (char *) os;
	if (ip != NULL)
		known->client_ip = (char *) ip;
	store_widen_event(known);
	ri.os = os;
	ri.client_ip = ip;
	return session_apply(row, &ri);
}

/* Apply one item to the session row in memory and log it; count its outcome. */
static bool
apply_item(const WorkItem *w, SessionRow *row)
{
	const PayloadItem *it = w->item;
	const Payload *p = &w->delivery->payload;
	RuleItem	ri = {
		.status = it->status,
		.time = presence_ms_to_timestamptz(it->time_ms),
		.anonymous = *it->session_id == '\0',
		.os = it->os,
		.client_ip = it->client_ip,
	};
	SessionRow	before = *row;
	bool		changed = session_apply(row, &ri);
	EventRow	ev = {
		.user_id = it->user_id,
		.session_id = it->session_id,
		.status_time = ri.time,
		.status = it->status,
		.event_id = p->event_id,
		.has_event_time = p->event_time_ms >= 0,
		.event_time = presence_ms_to_timestamptz(p->event_time_ms),
		.item_no = it->item_no,
		.os = it->os,
		.client_ip = it->client_ip,
		.stale = !changed,
	};
	LoggedFields known;

	/*
	 * A session's items are all at or before its last_event_at, and a user
	 * lock holds off every other writer: an item past it, or of a session
	 * not yet kept, cannot have been received before.
	 */
	if (!store_insert_event(&ev, before.exists && ri.time <= before.last_event_at, &known))
	{
		*row = before;
		w->delivery->duplicates++;
		return merge_copy(it, ri, &known, row);
	}
	if (changed)
		w->delivery->applied++;
	else
		w->delivery->stale++;
	return changed;
}

/*
 * Apply work[from..to), all of one session; the user's row is locked.  A new
 * user has no session to read.  feed, when the feed is on, is told of the
 * session if presence.feed_sessions asks and its state changed (or it is new).
 */
static void
apply_session(const WorkItem *work, int from, int to, bool new_user, FeedUser *feed)
{
	const PayloadItem *first = work[from].item;
	SessionRow	row = {0};
	SessionRow	read;
	bool		is_new;
	SessionState state_before;
	bool		dirty = false;

	if (!new_user)
		store_read_session(first->user_id, first->session_id, &row);
	is_new = !row.exists;
	state_before = row.state;
	read = row;
	for (int i = from; i < to; i++)
		dirty |= apply_item(&work[i], &row);
	/* An item may move an order key alone (the same os from a greater item). */
	if (!dirty && !session_keys_moved(&read, &row))
		return;
	store_write_session(first->user_id, first->session_id, &row, is_new,
						!is_new && state_before == SESSION_ONLINE);
	if (feed != NULL && presence_feed_sessions && (is_new || row.state != state_before))
		feed_note_session(feed, first->session_id, &row);
}

/*
 * Apply the sorted work, user by user.  What applying a user allocates is
 * freed once the user is done, so a call's memory grows with its body and
 * not with the rows it writes.  With the live feed on, the user's row is read
 * as locked and again once its items are applied, and the feed reports what
 * changed: at most one user message per user per call, as users come once.
 */
static void
apply_work(const WorkItem *work, int nwork)
{
	MemoryContext per_user = AllocSetContextCreate(CurrentMemoryContext, "presence apply",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext caller = MemoryContextSwitchTo(per_user);
	FeedUser	feed_user = {0};
	FeedUser   *feed = feed_enabled() ? &feed_user : NULL;
	int			i = 0;

	while (i < nwork)
	{
		const char *user_id = work[i].item->user_id;
		bool		new_user = store_lock_user(user_id);

		if (feed != NULL)
		{
			feed_user_begin(feed, user_id);
			store_read_locked_user(&feed->before);
		}
		while (i < nwork && strcmp(work[i].item->user_id, user_id) == 0)
		{
			int			end = i + 1;

			while (end < nwork && same_session(&work[i], &work[end]))
				end++;
			apply_session(work, i, end, new_user, feed);
			i = end;
		}
		if (feed != NULL)
		{
			store_read_locked_user(&feed->after);
			feed_user_end(feed);
		}
		store_release_user();
		MemoryContextReset(per_user);
	}
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(per_user);
}

/* The local applier (apply.h): apply, then end the call's store. */
void
apply_local(Delivery *deliveries, int n, TimestampTz horizon)
{
	int			nwork;
	WorkItem   *work = collect_work(deliveries, n, horizon, &nwork);

	apply_work(work, nwork);
	store_end();
	room_apply(deliveries, n, horizon);
}
