/*-------------------------------------------------------------------------
 *
 * router_rooms.c
 *	  Scale-out of rooms: a router sends each room item to its room's
 *	  partition (doc/rules.md sections 12 and 14).
 *
 * A room's rows live on one partition, placed by room_id with the hash that
 * places users (router.c).  After its status items, a router hands each
 * partition its share of the call's room items, one unit per user an item
 * names, in one call of presence.cluster_apply_rooms() (PL/Proxy: RUN ON
 * the partition, presence.partition_apply_rooms() there), in a
 * subtransaction as for status items: a failing partition fails only the
 * deliveries with room items on it.  The partition applies them with the
 * local room applier (room_apply.c), under its own horizon and feed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "plans.h"
#include "presence.h"
#include "presence_compat.h"
#include "room_apply.h"
#include "router.h"
#include "store.h"
#include "version.h"

PG_FUNCTION_INFO_V1(presence_partition_apply_rooms);

#define ROOM_SHARE_ARGS 9		/* presence.partition_apply_rooms's arrays */

/* One partition's share of the call's room units. */
typedef struct RoomShare
{
	int			n;
	Datum	   *room_ids;
	Datum	   *user_ids;
	Datum	   *operations;
	Datum	   *statuses;
	Datum	   *times;
	Datum	   *item_nos;
	Datum	   *delivery_nos;
} RoomShare;

typedef struct RoomCall
{
	const RoomShare *share;
	const Datum *env;
	Delivery   *deliveries;
	int			n;
} RoomCall;

static void
share_add(RoomShare *s, const PayloadRoomItem *it, const char *user_id, int delivery_no)
{
	int			i = s->n++;

	s->room_ids[i] = CStringGetTextDatum(it->room_id);
	s->user_ids[i] = CStringGetTextDatum(user_id);
	s->operations[i] = Int16GetDatum((int16) it->operation);
	s->statuses[i] = Int16GetDatum((int16) it->status);
	s->times[i] = Int64GetDatum(it->time_ms);
	s->item_nos[i] = Int32GetDatum(it->item_no);
	s->delivery_nos[i] = Int32GetDatum(delivery_no + 1);
}

static void
share_alloc(RoomShare *s, int cap)
{
	Datum	  **cols[] = {&s->room_ids, &s->user_ids, &s->operations, &s->statuses, &s->times,
	&s->item_nos, &s->delivery_nos};

	s->n = 0;
	router_alloc_columns(cols, lengthof(cols), cap);
}

/* Run one partition's share and add the counts it returns to the deliveries. */
static void
call_rooms(int part, void *arg)
{
	static SPIPlanPtr plan = NULL;
	static const Oid types[ROOM_SHARE_ARGS + 1] = {
		INT4OID, TEXTARRAYOID, TEXTARRAYOID, INT2ARRAYOID, INT2ARRAYOID, INT8ARRAYOID,
		INT4ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT8ARRAYOID
	};
	static const Oid column_types[] = {TEXTOID, TEXTOID, INT2OID, INT2OID, INT8OID, INT4OID, INT4OID};
	RoomCall   *c = arg;
	const RoomShare *s = c->share;
	Datum	   *columns[] = {s->room_ids, s->user_ids, s->operations, s->statuses, s->times,
	s->item_nos, s->delivery_nos};
	Datum		values[ROOM_SHARE_ARGS + 1];
	int			i = 0;

	StaticAssertStmt(lengthof(columns) == lengthof(column_types), "a type for each column");
	values[i++] = Int32GetDatum(part);
	for (int col = 0; col < (int) lengthof(columns); col++)
		values[i++] = plan_array_arg(columns[col], NULL, s->n, column_types[col]);
	values[i++] = c->env[0];
	values[i++] = c->env[1];
	Assert(i == ROOM_SHARE_ARGS + 1);
	plan_execute(plan_cached(&plan,
							 "SELECT r.delivery, r.applied, r.duplicates, r.stale"
							 "  FROM presence.cluster_apply_rooms($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) r",
							 lengthof(types), types),
				 values, i, NULL, 0);
	router_add_counts(part, c->deliveries, c->n);
}

/* Does delivery d have a room item on partition part? */
static bool
has_room_on(const Delivery *d, int part, int partitions)
{
	for (int j = 0; j < d->payload.nrooms; j++)
		if (router_partition_of(d->payload.rooms[j].room_id, partitions) == part)
			return true;
	return false;
}

/* Route the room items (router.h). */
void
router_apply_rooms(Delivery *deliveries, int n, int partitions, const Datum *env)
{
	RoomShare  *shares = palloc(sizeof(RoomShare) * partitions);
	int			total = 0;

	for (int i = 0; i < n; i++)
		if (!deliveries[i].rejected)
			total += payload_room_units(&deliveries[i].payload);
	if (total == 0)
		return;
	for (int p = 0; p < partitions; p++)
		share_alloc(&shares[p], total);
	for (int i = 0; i < n; i++)
	{
		for (int j = 0; !deliveries[i].rejected && j < deliveries[i].payload.nrooms; j++)
		{
			const PayloadRoomItem *it = &deliveries[i].payload.rooms[j];
			RoomShare  *s = &shares[router_partition_of(it->room_id, partitions)];

			if (it->nusers == 0)
				share_add(s, it, "", i);
			for (int k = 0; k < it->nusers; k++)
				share_add(s, it, it->user_ids[k], i);
		}
	}
	for (int p = 0; p < partitions; p++)
	{
		RoomCall	c = {&shares[p], env, deliveries, n};
		Rejection	why;

		if (shares[p].n == 0 || router_try_partition(p, call_rooms, &c, &why))
			continue;
		for (int i = 0; i < n; i++)
			if (!deliveries[i].rejected && has_room_on(&deliveries[i], p, partitions))
			{
				deliveries[i].rejected = true;
				deliveries[i].why = why;
			}
	}
}

/* Partition side */

presence_noreturn static void bad_room_share(const char *why);

static void
bad_room_share(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("partition_apply_rooms got a malformed share"),
			 errdetail("%s", why)));
	pg_unreachable();
}

/* One unit of the share, as a room item of its delivery naming one user (or none). */
static void
take_unit(Datum **a, bool **nl, int i, Delivery *d)
{
	PayloadRoomItem *it = &d->payload.rooms[d->payload.nrooms++];
	char	   *user_id;

	for (int k = 0; k < ROOM_SHARE_ARGS - 2; k++)
		if (nl[k][i])
			bad_room_share("A room unit has a null field.");
	it->room_id = TextDatumGetCString(a[0][i]);
	user_id = TextDatumGetCString(a[1][i]);
	it->operation = (RoomOperation) DatumGetInt16(a[2][i]);
	it->status = DatumGetInt16(a[3][i]);
	it->time_ms = DatumGetInt64(a[4][i]);
	it->item_no = DatumGetInt32(a[5][i]);
	if (*it->room_id == '\0' || strlen(it->room_id) > PAYLOAD_MAX_ID_BYTES ||
		strlen(user_id) > PAYLOAD_MAX_ID_BYTES || it->operation < ROOM_CREATE ||
		it->operation > ROOM_DESTROY || it->status < 0 || it->status > 3 ||
		it->time_ms < 0 || it->time_ms > PAYLOAD_MAX_TIME_MS ||
		(*user_id == '\0') != (it->operation == ROOM_CREATE || it->operation == ROOM_DESTROY))
		bad_room_share("A room unit has a field the parser would not let through.");
	it->nusers = *user_id ? 1 : 0;
	it->user_ids = palloc(sizeof(char *));
	it->user_ids[0] = user_id;
}

/*
 * presence.partition_apply_rooms: apply a router's share of a call's room
 * items on this partition, one row per delivery that has room items here.
 * Executable only by presence_router; the router checked the signatures.
 */
Datum
presence_partition_apply_rooms(PG_FUNCTION_ARGS)
{
	static const Oid types[ROOM_SHARE_ARGS] = {
		TEXTOID, TEXTOID, INT2OID, INT2OID, INT8OID, INT4OID, INT4OID, TEXTOID, INT8OID
	};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *a[ROOM_SHARE_ARGS];
	bool	   *nl[ROOM_SHARE_ARGS];
	int			count[ROOM_SHARE_ARGS];
	Delivery   *d;
	int			n;

	presence_require_writable("presence.partition_apply_rooms()");
	presence_require_sql_version();
	for (int k = 0; k < ROOM_SHARE_ARGS; k++)
		a[k] = router_array_arg(fcinfo, k, types[k], &nl[k], &count[k]);
	for (int k = 1; k < ROOM_SHARE_ARGS; k++)
		if (count[k] != count[k < 7 ? 0 : 7])
			bad_room_share("The unit arrays, and the two envelope arrays, must have equal lengths.");
	n = count[7];
	d = palloc0(sizeof(Delivery) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		d[i].parsed = true;
		d[i].payload.event_id = nl[7][i] ? NULL : TextDatumGetCString(a[7][i]);
		d[i].payload.event_time_ms = nl[8][i] ? -1 : DatumGetInt64(a[8][i]);
		if (d[i].payload.event_id == NULL || strlen(d[i].payload.event_id) > PAYLOAD_MAX_ID_BYTES)
			bad_room_share("A room delivery needs an envelope id of at most 256 bytes.");
		d[i].payload.rooms = palloc(sizeof(PayloadRoomItem) * Max(count[0], 1));
	}
	for (int i = 0; i < count[0]; i++)
	{
		int			dn = nl[6][i] ? -1 : DatumGetInt32(a[6][i]) - 1;

		if (dn < 0 || dn >= n)
			bad_room_share("A unit names a delivery the envelope arrays do not have.");
		take_unit(a, nl, i, &d[dn]);
	}
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	room_apply(d, n, store_load_horizon());
	router_return_counts(rsinfo, d, n);
	SPI_finish();
	return (Datum) 0;
}
