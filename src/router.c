/*-------------------------------------------------------------------------
 *
 * router.c
 *	  Scale-out on PL/Proxy: a router sends each item to its user's partition.
 *
 * A database is a router once the foreign server presence_cluster exists
 * (presence.create_cluster(), extension presence_router).  On a router,
 * ingest checks signatures and binds triples as on one node, then, instead
 * of applying, hands each partition its share of the call's items in one
 * call of presence.cluster_apply() (a PL/Proxy function: RUN ON the
 * partition, which runs presence.partition_apply() there) and sums the
 * counts each partition returns back into the deliveries.
 *
 * A user's partition is fixed: the first 32 bits of md5(user_id), big
 * endian, masked with partitions - 1 (partition_of(), which the SQL
 * presence.partition_of() calls).
 *
 * Each partition's call runs in a subtransaction, so that a failing
 * partition fails only the deliveries with items on it: the single-delivery
 * entry points raise its error, the batch reports it in each such row.
 * PL/Proxy reports a partition it cannot reach as XX000; that becomes
 * 08006, which presence-http answers with 503.  The partitions a call has
 * already applied keep what they applied: the re-delivery converges, since
 * applying an item twice changes nothing.
 *
 * Nothing here needs plproxy: a single node never reaches this code.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "common/cryptohash.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "apply.h"
#include "ingest.h"
#include "plans.h"
#include "presence.h"
#include "router.h"
#include "store.h"
#include "version.h"

PG_FUNCTION_INFO_V1(presence_partition_apply);
PG_FUNCTION_INFO_V1(presence_user_hash);
PG_FUNCTION_INFO_V1(presence_partition_of);
PG_FUNCTION_INFO_V1(presence_cluster_partitions);
PG_FUNCTION_INFO_V1(presence_unreachable);

#define CLUSTER_SERVER "presence_cluster"
#define APPLY_ARGS 10			/* presence.partition_apply's arrays */
#define APPLY_COLUMNS 4			/* delivery, applied, duplicates, stale */

/* The partition count of this router, or 0 on a database that is none. */
int
router_partitions(void)
{
	ForeignServer *server = GetForeignServerByName(CLUSTER_SERVER, true);
	ListCell   *lc;
	int			n = 0;

	if (server == NULL)
		return 0;
	foreach(lc, server->options)
	{
		DefElem    *opt = lfirst(lc);

		if (opt->defname[0] == 'p' && strspn(opt->defname + 1, "0123456789") > 0 &&
			opt->defname[1 + strspn(opt->defname + 1, "0123456789")] == '\0')
			n++;
	}
	return n;
}

/*
 * The hash that places a user: the first 32 bits of md5(user_id), big
 * endian, as a signed integer (what PL/Proxy's RUN ON masks).  The one copy
 * of the rule: presence.user_hash() and presence.partition_of() call it.
 */
static int32
user_hash(const char *user_id, size_t len)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_MD5);
	uint8		digest[16];
	uint32		hash;

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) user_id, len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "presence: could not compute MD5");
	pg_cryptohash_free(ctx);
	hash = ((uint32) digest[0] << 24) | ((uint32) digest[1] << 16) |
		((uint32) digest[2] << 8) | (uint32) digest[3];
	return (int32) hash;
}

/* The partition of user_id among partitions (a power of two): hash & (partitions - 1). */
static int
partition_of(const char *user_id, size_t len, int partitions)
{
	return user_hash(user_id, len) & (partitions - 1);
}

/* The partition of a key (a user id, or a room id: the same hash), for router_rooms.c. */
int
router_partition_of(const char *key, int partitions)
{
	return partition_of(key, strlen(key), partitions);
}

/* presence.user_hash(user_id): user_hash() in SQL. */
Datum
presence_user_hash(PG_FUNCTION_ARGS)
{
	text	   *user_id = PG_GETARG_TEXT_PP(0);

	PG_RETURN_INT32(user_hash(VARDATA_ANY(user_id), VARSIZE_ANY_EXHDR(user_id)));
}

/* presence.partition_of(user_id, partitions): partition_of() in SQL. */
Datum
presence_partition_of(PG_FUNCTION_ARGS)
{
	text	   *user_id = PG_GETARG_TEXT_PP(0);

	PG_RETURN_INT32(partition_of(VARDATA_ANY(user_id), VARSIZE_ANY_EXHDR(user_id),
								 PG_GETARG_INT32(1)));
}

/* presence.cluster_partitions(): router_partitions() in SQL. */
Datum
presence_cluster_partitions(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(router_partitions());
}

/*
 * A partition the router cannot reach: 08006, PL/Proxy's message in the
 * detail, with the partition's number when known (part >= 0).  The one text
 * of the rule, for ingest (partition_failure) and the reads
 * (presence.unreachable()).
 */
static void
partition_unreachable(int part, const char *proxy_message, Rejection *why)
{
	why->sqlerrcode = ERRCODE_CONNECTION_FAILURE;
	why->message = pstrdup("a partition of the presence cluster is unreachable");
	why->detail = part >= 0
		? psprintf("Partition %d: %s", part, proxy_message ? proxy_message : "no message.")
		: (proxy_message ? pstrdup(proxy_message) : NULL);
	why->hint = pstrdup("Calls that need this partition fail until it is back; deliveries sent again then converge.");
}

/* presence.unreachable(message): raise partition_unreachable()'s error (the router's reads). */
Datum
presence_unreachable(PG_FUNCTION_ARGS)
{
	Rejection	why;

	partition_unreachable(-1, PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0)), &why);
	ingest_raise(&why);
	PG_RETURN_VOID();
}

/* Router side */

/* The arrays of one partition's share of a call, as presence.partition_apply takes them. */
typedef struct Share
{
	int			n;
	Datum	   *user_ids;
	Datum	   *session_ids;
	Datum	   *statuses;
	Datum	   *times;
	Datum	   *oses;
	bool	   *os_nulls;
	Datum	   *ips;
	bool	   *ip_nulls;
	Datum	   *item_nos;
	Datum	   *delivery_nos;
} Share;

/* Point each of ncols column arrays at room for cap values, from one allocation. */
void
router_alloc_columns(Datum **cols[], int ncols, int cap)
{
	Datum	   *all = palloc(sizeof(Datum) * cap * ncols);

	for (int c = 0; c < ncols; c++)
		*cols[c] = all + c * cap;
}

static void
share_alloc(Share *s, int cap)
{
	Datum	  **cols[] = {&s->user_ids, &s->session_ids, &s->statuses, &s->times, &s->oses,
	&s->ips, &s->item_nos, &s->delivery_nos};

	s->n = 0;
	router_alloc_columns(cols, lengthof(cols), cap);
	s->os_nulls = palloc(sizeof(bool) * cap);
	s->ip_nulls = palloc(sizeof(bool) * cap);
}

static void
share_add(Share *s, const PayloadItem *it, int delivery_no)
{
	const char *status = item_status_text(it->status);
	int			i = s->n++;

	s->user_ids[i] = CStringGetTextDatum(it->user_id);
	s->session_ids[i] = CStringGetTextDatum(it->session_id);
	s->statuses[i] = CStringGetTextDatum(status);
	s->times[i] = Int64GetDatum(it->time_ms);
	s->oses[i] = it->os ? CStringGetTextDatum(it->os) : (Datum) 0;
	s->os_nulls[i] = it->os == NULL;
	s->ips[i] = it->client_ip ? CStringGetTextDatum(it->client_ip) : (Datum) 0;
	s->ip_nulls[i] = it->client_ip == NULL;
	s->item_nos[i] = Int32GetDatum(it->item_no);
	s->delivery_nos[i] = Int32GetDatum(delivery_no + 1);
}

/* The call's envelope ids and times, one per delivery (NULL for legacy bodies). */
static void
envelopes(const Delivery *deliveries, int n, Datum *values, bool *nulls)
{
	Datum	   *ids = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *id_nulls = palloc(sizeof(bool) * Max(n, 1));
	Datum	   *times = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *time_nulls = palloc(sizeof(bool) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		const Payload *p = &deliveries[i].payload;
		bool		usable = !deliveries[i].rejected;

		id_nulls[i] = !usable || p->event_id == NULL;
		ids[i] = id_nulls[i] ? (Datum) 0 : CStringGetTextDatum(p->event_id);
		time_nulls[i] = !usable || p->event_time_ms < 0;
		times[i] = Int64GetDatum(time_nulls[i] ? 0 : p->event_time_ms);
	}
	values[0] = plan_array_arg(ids, id_nulls, n, TEXTOID);
	values[1] = plan_array_arg(times, time_nulls, n, INT8OID);
	nulls[0] = nulls[1] = false;
}

static SPIPlanPtr
apply_plan(void)
{
	static SPIPlanPtr plan = NULL;
	static const Oid types[APPLY_ARGS + 1] = {
		INT4OID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, INT4ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT8ARRAYOID
	};

	if (plan == NULL)
		plan = plan_prepare("SELECT r.delivery, r.applied, r.duplicates, r.stale"
							"  FROM presence.cluster_apply($1, $2, $3, $4, $5, $6, $7, $8, $9,"
							"                              $10, $11) r",
							lengthof(types), types);
	return plan;
}

/* Run one partition's share and add the counts it returns to the deliveries. */
static void
call_partition(int part, const Share *s, const Datum *env, Delivery *deliveries, int n)
{
	Datum		values[APPLY_ARGS + 1];
	bool		nulls[APPLY_ARGS + 1] = {false};
	int			i = 0;

	values[i++] = Int32GetDatum(part);
	values[i++] = plan_array_arg(s->user_ids, NULL, s->n, TEXTOID);
	values[i++] = plan_array_arg(s->session_ids, NULL, s->n, TEXTOID);
	values[i++] = plan_array_arg(s->statuses, NULL, s->n, TEXTOID);
	values[i++] = plan_array_arg(s->times, NULL, s->n, INT8OID);
	values[i++] = plan_array_arg(s->oses, s->os_nulls, s->n, TEXTOID);
	values[i++] = plan_array_arg(s->ips, s->ip_nulls, s->n, TEXTOID);
	values[i++] = plan_array_arg(s->item_nos, NULL, s->n, INT4OID);
	values[i++] = plan_array_arg(s->delivery_nos, NULL, s->n, INT4OID);
	values[i++] = env[0];
	values[i++] = env[1];
	Assert(i == APPLY_ARGS + 1);
	plan_execute(apply_plan(), values, i, nulls, 0);
	router_add_counts(part, deliveries, n);
}

/*
 * Add the counts a partition returned, (delivery, applied, duplicates, stale)
 * rows in SPI_tuptable, to the deliveries (status and room items alike).
 */
void
router_add_counts(int part, Delivery *deliveries, int n)
{
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			d = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull)) - 1;

		if (isnull || d < 0 || d >= n)
			elog(ERROR, "presence: partition %d answered for no delivery of the call", part);
		deliveries[d].applied += DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		deliveries[d].duplicates += DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		deliveries[d].stale += DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	}
}

/*
 * What a failed partition call means for its deliveries.  PL/Proxy raises
 * its own failures (connect, send, receive) as XX000 "PL/Proxy function
 * ...": the partition is unreachable, 08006.  A partition's own error keeps
 * its SQLSTATE.
 */
static void
partition_failure(int part, ErrorData *edata, Rejection *why)
{
	if (edata->sqlerrcode == ERRCODE_INTERNAL_ERROR &&
		edata->message != NULL && strncmp(edata->message, "PL/Proxy function", 17) == 0)
	{
		partition_unreachable(part, edata->message, why);
		return;
	}
	why->sqlerrcode = edata->sqlerrcode;
	why->message = psprintf("partition %d of the presence cluster failed: %s", part, edata->message);
	why->detail = edata->detail;
	why->hint = edata->hint;
}

/* The arguments of call_share. */
typedef struct ShareCall
{
	const Share *share;
	const Datum *env;
	Delivery   *deliveries;
	int			n;
} ShareCall;

static void
call_share(int part, void *arg)
{
	ShareCall  *c = arg;

	call_partition(part, c->share, c->env, c->deliveries, c->n);
}

/*
 * Run call(part, arg) on one partition inside a subtransaction; on failure
 * fill *why and return false with the subtransaction rolled back.
 */
bool
router_try_partition(int part, PartitionCall call, void *arg, Rejection *why)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		call(part, arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
		partition_failure(part, edata, why);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* Fail every accepted delivery with an item on partition part. */
static void
fail_deliveries(Delivery *deliveries, int n, const int *const *parts, int part,
				const Rejection *why)
{
	for (int i = 0; i < n; i++)
	{
		if (deliveries[i].rejected)
			continue;
		for (int j = 0; j < deliveries[i].payload.nitems; j++)
			if (parts[i][j] == part)
			{
				deliveries[i].rejected = true;
				deliveries[i].why = *why;
				break;
			}
	}
}

/*
 * The router's DeliveryApplier: apply the accepted deliveries' items on their
 * partitions, which apply them with the local applier and their own horizon.
 */
void
router_apply(Delivery *deliveries, int n, TimestampTz horizon)
{
	int			partitions = router_partitions();
	int		  **parts = palloc(sizeof(int *) * Max(n, 1));
	Share	   *shares;
	Datum		env[2];
	bool		env_nulls[2];
	int			total = 0;

	/* A router keeps no presence rows: its tables close before the calls out. */
	store_end();
	Assert(partitions > 0);
	shares = palloc(sizeof(Share) * partitions);

	for (int i = 0; i < n; i++)
		if (!deliveries[i].rejected)
			total += deliveries[i].payload.nitems;
	for (int p = 0; p < partitions; p++)
		share_alloc(&shares[p], Max(total, 1));
	for (int i = 0; i < n; i++)
	{
		const Payload *pl = &deliveries[i].payload;

		parts[i] = palloc(sizeof(int) * Max(pl->nitems, 1));
		for (int j = 0; j < pl->nitems && !deliveries[i].rejected; j++)
		{
			parts[i][j] = partition_of(pl->items[j].user_id, strlen(pl->items[j].user_id),
									   partitions);
			share_add(&shares[parts[i][j]], &pl->items[j], i);
		}
	}
	envelopes(deliveries, n, env, env_nulls);
	for (int p = 0; p < partitions; p++)
	{
		Rejection	why;
		ShareCall	c = {&shares[p], env, deliveries, n};

		if (shares[p].n == 0)
			continue;
		if (!router_try_partition(p, call_share, &c, &why))
			fail_deliveries(deliveries, n, (const int *const *) parts, p, &why);
	}
	router_apply_rooms(deliveries, n, partitions, env);
}

/* Partition side */

/* Element i of a text[] as a C string, NULL for a NULL element. */
static char *
text_elem(Datum *elems, bool *nulls, int i)
{
	return nulls[i] ? NULL : TextDatumGetCString(elems[i]);
}

/* Argument a, an array of type, deconstructed; never null. */
Datum *
router_array_arg(FunctionCallInfo fcinfo, int a, Oid type, bool **nulls, int *count)
{
	Datum	   *elems;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (PG_ARGISNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("partition_apply arguments must not be null")));
	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(a), type, typlen, typbyval, typalign,
					  &elems, nulls, count);
	return elems;
}

presence_noreturn static void bad_share(const char *why);

static void
bad_share(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("partition_apply got a malformed share"),
			 errdetail("%s", why)));
	pg_unreachable();
}

/* Is s (NULL: absent) longer than the parser lets a field be? */
static bool
over_cap(const char *s, size_t cap)
{
	return s != NULL && strlen(s) > cap;
}

/* One item of the share, into its delivery's payload. */
static void
take_item(Datum **a, bool **nl, int i, Delivery *d)
{
	PayloadItem *it = &d->payload.items[d->payload.nitems++];
	char	   *status = text_elem(a[2], nl[2], i);

	if (nl[0][i] || nl[1][i] || nl[3][i] || nl[6][i] || !item_status_from_text(status, &it->status))
		bad_share("Every item needs a user id, a session id, a status \"0\", \"1\" or \"2\", a time and a number.");
	it->user_id = text_elem(a[0], nl[0], i);
	it->session_id = text_elem(a[1], nl[1], i);
	it->time_ms = DatumGetInt64(a[3][i]);
	it->os = text_elem(a[4], nl[4], i);
	it->client_ip = text_elem(a[5], nl[5], i);
	it->item_no = DatumGetInt32(a[6][i]);
	if (*it->user_id == '\0' || it->time_ms < 0 || it->time_ms > PAYLOAD_MAX_TIME_MS)
		bad_share("An item has an empty user id or a time out of range.");
	if (over_cap(it->user_id, PAYLOAD_MAX_ID_BYTES) || over_cap(it->session_id, PAYLOAD_MAX_ID_BYTES) ||
		over_cap(it->os, PAYLOAD_MAX_TAG_BYTES) || over_cap(it->client_ip, PAYLOAD_MAX_TAG_BYTES))
		bad_share("An item has a field longer than the parser allows (ids 256 bytes, os and clientIp 64).");
}

/* The share's items grouped into the deliveries they came in. */
static Delivery *
share_deliveries(FunctionCallInfo fcinfo, int *ndeliveries)
{
	static const Oid types[APPLY_ARGS] = {
		TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID, INT4OID, INT4OID, TEXTOID, INT8OID
	};
	Datum	   *a[APPLY_ARGS];
	bool	   *nl[APPLY_ARGS];
	int			count[APPLY_ARGS];
	Delivery   *d;

	for (int k = 0; k < APPLY_ARGS; k++)
		a[k] = router_array_arg(fcinfo, k, types[k], &nl[k], &count[k]);
	for (int k = 1; k < APPLY_ARGS; k++)
		if (count[k] != count[k < 8 ? 0 : 8])
			bad_share("The item arrays, and the two envelope arrays, must have equal lengths.");
	*ndeliveries = count[8];
	d = palloc0(sizeof(Delivery) * Max(count[8], 1));
	for (int i = 0; i < count[8]; i++)
	{
		d[i].parsed = true;
		d[i].payload.event_id = text_elem(a[8], nl[8], i);
		d[i].payload.event_time_ms = nl[9][i] ? -1 : DatumGetInt64(a[9][i]);
		if (over_cap(d[i].payload.event_id, PAYLOAD_MAX_ID_BYTES))
			bad_share("An envelope id is longer than 256 bytes.");
		d[i].payload.items = palloc(sizeof(PayloadItem) * Max(count[0], 1));
	}
	for (int i = 0; i < count[0]; i++)
	{
		int			dn = nl[7][i] ? -1 : DatumGetInt32(a[7][i]) - 1;

		if (dn < 0 || dn >= count[8])
			bad_share("An item names a delivery the envelope arrays do not have.");
		take_item(a, nl, i, &d[dn]);
	}
	return d;
}

/*
 * presence.partition_apply: apply a router's share of a call on this
 * partition, one row per delivery that has items here.  Executable only by
 * presence_router; the router checked the signatures.
 */
Datum
presence_partition_apply(PG_FUNCTION_ARGS)
{
	int			n;
	Delivery   *deliveries;
	ReturnSetInfo *rsinfo;

	presence_require_writable("presence.partition_apply()");
	deliveries = share_deliveries(fcinfo, &n);
	SPI_connect();
	ingest_deliveries(deliveries, n, apply_local);
	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	router_return_counts(rsinfo, deliveries, n);
	SPI_finish();
	return (Datum) 0;
}

/*
 * A partition's answer: one row (delivery, applied, duplicates, stale) per
 * delivery with items (status or room items) here, into rsinfo's tuplestore.
 */
void
router_return_counts(ReturnSetInfo *rsinfo, const Delivery *deliveries, int n)
{
	for (int i = 0; i < n; i++)
	{
		Datum		values[APPLY_COLUMNS];
		bool		nulls[APPLY_COLUMNS] = {false};
		int			c = 0;

		if (deliveries[i].payload.nitems == 0 && deliveries[i].payload.nrooms == 0)
			continue;
		values[c++] = Int32GetDatum(i + 1);
		values[c++] = Int32GetDatum(deliveries[i].applied);
		values[c++] = Int32GetDatum(deliveries[i].duplicates);
		values[c++] = Int32GetDatum(deliveries[i].stale);
		Assert(c == APPLY_COLUMNS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}
