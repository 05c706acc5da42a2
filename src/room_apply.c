/*-------------------------------------------------------------------------
 *
 * room_apply.c
 *	  Apply a call's room items (doc/rules.md section 14).
 *
 * An item that names several users is one unit per user; a create or a
 * destroy is one unit with the user ''.  The units are sorted by room (byte
 * order of room_id) and each room's units go to presence.apply_room_items()
 * in one statement, which locks the room's row before it reads or writes
 * anything of the room.  A call applies its status items first (apply.c),
 * so every call takes user rows, then room rows, each in one fixed order:
 * concurrent calls never deadlock.  The statement returns each unit's
 * outcome, counted here in its delivery, and, with presence.feed_rooms on,
 * the feed messages of the memberships whose state changed, sent by the
 * feed (feed.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "feed.h"
#include "plans.h"
#include "presence.h"
#include "room_apply.h"

/* The statement's arguments, in order. */
#define ROOM_ARGS 9

/* One user of one room item, with the delivery it came in. */
typedef struct RoomUnit
{
	const PayloadRoomItem *item;
	const char *user_id;		/* "" for a create or a destroy */
	int			user_no;
	Delivery   *delivery;
	int			delivery_no;
} RoomUnit;

/* How many units the accepted deliveries' room items make: one per user named, or one. */
static int
count_units(const Delivery *deliveries, int n)
{
	int			total = 0;

	for (int i = 0; i < n; i++)
		for (int j = 0; !deliveries[i].rejected && j < deliveries[i].payload.nrooms; j++)
			total += Max(deliveries[i].payload.rooms[j].nusers, 1);
	return total;
}

/* Units in the order they are applied: by room, then as delivered. */
static int
compare_units(const void *a, const void *b)
{
	const RoomUnit *x = a;
	const RoomUnit *y = b;
	int			c = strcmp(x->item->room_id, y->item->room_id);

	if (c != 0)
		return c;
	if (x->delivery_no != y->delivery_no)
		return x->delivery_no - y->delivery_no;
	if (x->item->item_no != y->item->item_no)
		return x->item->item_no - y->item->item_no;
	return x->user_no - y->user_no;
}

/* The units to apply, sorted; one older than the horizon is stale at once. */
static RoomUnit *
collect_units(Delivery *deliveries, int n, TimestampTz horizon, int *nunits)
{
	RoomUnit   *units = palloc(sizeof(RoomUnit) * Max(count_units(deliveries, n), 1));

	*nunits = 0;
	for (int i = 0; i < n; i++)
	{
		for (int j = 0; !deliveries[i].rejected && j < deliveries[i].payload.nrooms; j++)
		{
			const PayloadRoomItem *it = &deliveries[i].payload.rooms[j];
			int			nusers = Max(it->nusers, 1);

			if (presence_ms_to_timestamptz(it->time_ms) < horizon)
			{
				deliveries[i].stale += nusers;
				continue;
			}
			for (int k = 0; k < nusers; k++)
				units[(*nunits)++] = (RoomUnit) {
					.item = it,
					.user_id = it->nusers > 0 ? it->user_ids[k] : "",
					.user_no = k,
					.delivery = &deliveries[i],
					.delivery_no = i,
				};
		}
	}
	qsort(units, *nunits, sizeof(RoomUnit), compare_units);
	return units;
}

/* Count each unit's outcome ('a', 'd' or 's') in its delivery. */
static void
count_outcomes(const RoomUnit *units, int n, const char *outcomes)
{
	if (outcomes == NULL || (int) strlen(outcomes) != n)
		elog(ERROR, "presence: apply_room_items returned %d outcomes for %d items",
			 outcomes ? (int) strlen(outcomes) : -1, n);
	for (int i = 0; i < n; i++)
	{
		Delivery   *d = units[i].delivery;

		if (outcomes[i] == 'a')
			d->applied++;
		else if (outcomes[i] == 'd')
			d->duplicates++;
		else
			d->stale++;
	}
}

/* Send the feed messages the statement returned (a text[] or null). */
static void
send_feed(Datum messages, bool isnull)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;

	if (isnull)
		return;
	deconstruct_array(DatumGetArrayTypeP(messages), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	for (int i = 0; i < nelems; i++)
		if (!nulls[i])
			feed_send(FEED_STREAM_ROOMS, "", TextDatumGetCString(elems[i]));
}

/* Apply units[0..n), all of one room, in one statement. */
static void
apply_room_units(const RoomUnit *units, int n, bool feed)
{
	static SPIPlanPtr plan = NULL;
	static const Oid argtypes[ROOM_ARGS] = {
		TEXTOID, TEXTARRAYOID, INT2ARRAYOID, INT2ARRAYOID, TIMESTAMPTZARRAYOID,
		TEXTARRAYOID, TIMESTAMPTZARRAYOID, INT4ARRAYOID, BOOLOID
	};
	Datum	   *users = palloc(sizeof(Datum) * n);
	Datum	   *operations = palloc(sizeof(Datum) * n);
	Datum	   *statuses = palloc(sizeof(Datum) * n);
	Datum	   *times = palloc(sizeof(Datum) * n);
	Datum	   *event_ids = palloc(sizeof(Datum) * n);
	Datum	   *event_times = palloc(sizeof(Datum) * n);
	Datum	   *item_nos = palloc(sizeof(Datum) * n);
	Datum		args[ROOM_ARGS];
	int			a = 0;
	bool		isnull;
	char	   *outcomes;

	for (int i = 0; i < n; i++)
	{
		const Payload *p = &units[i].delivery->payload;

		users[i] = CStringGetTextDatum(units[i].user_id);
		operations[i] = Int16GetDatum((int16) units[i].item->operation);
		statuses[i] = Int16GetDatum((int16) units[i].item->status);
		times[i] = TimestampTzGetDatum(presence_ms_to_timestamptz(units[i].item->time_ms));
		event_ids[i] = CStringGetTextDatum(p->event_id);
		event_times[i] = TimestampTzGetDatum(presence_ms_to_timestamptz(p->event_time_ms));
		item_nos[i] = Int32GetDatum(units[i].item->item_no);
	}
	args[a++] = CStringGetTextDatum(units[0].item->room_id);
	args[a++] = plan_array_arg(users, NULL, n, TEXTOID);
	args[a++] = plan_array_arg(operations, NULL, n, INT2OID);
	args[a++] = plan_array_arg(statuses, NULL, n, INT2OID);
	args[a++] = plan_array_arg(times, NULL, n, TIMESTAMPTZOID);
	args[a++] = plan_array_arg(event_ids, NULL, n, TEXTOID);
	args[a++] = plan_array_arg(event_times, NULL, n, TIMESTAMPTZOID);
	args[a++] = plan_array_arg(item_nos, NULL, n, INT4OID);
	args[a++] = BoolGetDatum(feed);
	Assert(a == ROOM_ARGS);
	plan_execute(plan_cached(&plan,
							 "SELECT outcomes, feed FROM presence.apply_room_items("
							 "$1, $2, $3, $4, $5, $6, $7, $8, $9)",
							 ROOM_ARGS, argtypes),
				 args, ROOM_ARGS, NULL, 1);
	if (SPI_processed != 1)
		elog(ERROR, "presence: apply_room_items returned no row");
	outcomes = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	count_outcomes(units, n, outcomes);
	if (feed)
	{
		Datum		messages = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
											 &isnull);

		send_feed(messages, isnull);
	}
	SPI_freetuptable(SPI_tuptable);
}

/* Apply the room items of the accepted deliveries (room_apply.h). */
void
room_apply(Delivery *deliveries, int n, TimestampTz horizon)
{
	MemoryContext per_room;
	MemoryContext caller;
	int			nunits;
	RoomUnit   *units = collect_units(deliveries, n, horizon, &nunits);
	bool		feed = feed_enabled() && presence_feed_rooms;
	int			i = 0;

	if (nunits == 0)
		return;
	per_room = AllocSetContextCreate(CurrentMemoryContext, "presence rooms",
									 ALLOCSET_DEFAULT_SIZES);
	caller = MemoryContextSwitchTo(per_room);
	while (i < nunits)
	{
		int			end = i + 1;

		while (end < nunits && strcmp(units[end].item->room_id, units[i].item->room_id) == 0)
			end++;
		apply_room_units(&units[i], end - i, feed);
		MemoryContextReset(per_room);
		i = end;
	}
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(per_room);
}
