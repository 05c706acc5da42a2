/*-------------------------------------------------------------------------
 *
 * sqlfuncs.c
 *	  The SQL entry points: presence_parse, presence_verify, presence_ingest,
 *	  presence_ingest_unsigned and presence_ingest_batch.
 *
 * Each turns its arguments into Delivery structs, runs the ingest pipeline
 * with SPI connected and the applier of this database (local or router), and
 * shapes the outcome as SQL values.  Those that
 * touch the tables first check that the installed SQL is not older than
 * the library (version.c); presence_parse touches none and always works.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "apply.h"
#include "ingest.h"
#include "presence.h"
#include "router.h"
#include "store.h"
#include "version.h"

PG_FUNCTION_INFO_V1(presence_parse);
PG_FUNCTION_INFO_V1(presence_verify);
PG_FUNCTION_INFO_V1(presence_ingest);
PG_FUNCTION_INFO_V1(presence_ingest_unsigned);
PG_FUNCTION_INFO_V1(presence_ingest_batch);
PG_FUNCTION_INFO_V1(presence_item_key);
PG_FUNCTION_INFO_V1(presence_require_writable_sql);

#define RESULT_COLUMNS 5		/* presence.ingest_result */
#define BATCH_COLUMNS 8			/* ord, the result's, sqlstate, message */
#define ITEM_COLUMNS 9			/* presence.status_item */

static char *
optional_text_arg(FunctionCallInfo fcinfo, int n)
{
	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

static Datum
required_body_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("delivery body must not be null")));
	return PG_GETARG_DATUM(0);
}

/* values[*i..]: items, applied, duplicates, stale, ignored (RESULT_COLUMNS). */
static void
outcome_values(const Delivery *d, Datum *values, int *i)
{
	int			first PG_USED_FOR_ASSERTS_ONLY = *i;

	values[(*i)++] = Int32GetDatum(d->payload.nitems + payload_room_units(&d->payload) +
								   d->payload.nignored);
	values[(*i)++] = Int32GetDatum(d->applied);
	values[(*i)++] = Int32GetDatum(d->duplicates);
	values[(*i)++] = Int32GetDatum(d->stale);
	values[(*i)++] = Int32GetDatum(d->payload.nignored);
	Assert(*i - first == RESULT_COLUMNS);
}

/* A text datum of s, or a null one. */
static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = s == NULL;
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * The applier of this database: a router's (router.c) where it is one, else
 * the local one (apply.c).  Chosen here, above both, so that ingest.c and the
 * appliers need not know of each other.
 */
static DeliveryApplier
applier(void)
{
	return router_partitions() > 0 ? router_apply : apply_local;
}

/* Run one delivery; raise its rejection, or return presence.ingest_result. */
static Datum
ingest_one(FunctionCallInfo fcinfo, Delivery *d)
{
	TupleDesc	tupdesc;
	Datum		values[RESULT_COLUMNS];
	bool		nulls[RESULT_COLUMNS] = {false};
	int			i = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "presence: return type must be a row type");
	SPI_connect();
	ingest_deliveries(d, 1, applier());
	if (d->rejected)
		ingest_raise(&d->why);
	outcome_values(d, values, &i);
	Assert(i == RESULT_COLUMNS);
	SPI_finish();
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls));
}

/*
 * Start the delivery an entry point was called with: refused where the
 * transaction may not write or the SQL is older than the library, and only
 * then is the body read.
 */
static void
delivery_begin(FunctionCallInfo fcinfo, const char *entry, Delivery *d)
{
	presence_require_writable(entry);
	d->body = required_body_arg(fcinfo);
}

Datum
presence_ingest(PG_FUNCTION_ARGS)
{
	Delivery	d = {0};

	delivery_begin(fcinfo, "presence_ingest()", &d);
	d.verify = true;
	d.nonce = optional_text_arg(fcinfo, 1);
	d.sign_timestamp = optional_text_arg(fcinfo, 2);
	d.signature = optional_text_arg(fcinfo, 3);
	d.app_key = optional_text_arg(fcinfo, 4);
	return ingest_one(fcinfo, &d);
}

Datum
presence_ingest_unsigned(PG_FUNCTION_ARGS)
{
	Delivery	d = {0};

	delivery_begin(fcinfo, "presence_ingest_unsigned()", &d);
	return ingest_one(fcinfo, &d);
}

Datum
presence_verify(PG_FUNCTION_ARGS)
{
	char	   *nonce = optional_text_arg(fcinfo, 0);
	char	   *sign_timestamp = optional_text_arg(fcinfo, 1);
	char	   *signature = optional_text_arg(fcinfo, 2);
	char	   *app_key = optional_text_arg(fcinfo, 3);
	Rejection	why = {0};
	bool		valid;

	presence_require_sql_version();
	if (nonce == NULL || sign_timestamp == NULL || signature == NULL ||
		*nonce == '\0' || *sign_timestamp == '\0' || *signature == '\0')
		PG_RETURN_BOOL(false);
	SPI_connect();
	valid = ingest_signature_valid(nonce, sign_timestamp, signature, app_key,
								   store_load_secrets(), &why);
	if (!valid && why.sqlerrcode == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE)
		ingest_raise(&why);
	SPI_finish();
	PG_RETURN_BOOL(valid);
}

Datum
presence_parse(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Payload		payload;

	ingest_parse_or_raise(PG_GETARG_DATUM(0), &payload);
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < payload.nitems; i++)
	{
		const PayloadItem *it = &payload.items[i];
		const char *status = item_status_text(it->status);
		Datum		values[ITEM_COLUMNS];
		bool		nulls[ITEM_COLUMNS] = {false};
		int			c = 0;

		values[c] = text_or_null(payload.event_id, &nulls[c]);
		c++;
		nulls[c] = payload.event_time_ms < 0;
		values[c++] = TimestampTzGetDatum(presence_ms_to_timestamptz(payload.event_time_ms));
		values[c++] = Int32GetDatum(it->item_no);
		values[c++] = CStringGetTextDatum(status);
		values[c++] = CStringGetTextDatum(it->user_id);
		values[c++] = CStringGetTextDatum(it->session_id);
		values[c] = text_or_null(it->os, &nulls[c]);
		c++;
		values[c] = text_or_null(it->client_ip, &nulls[c]);
		c++;
		values[c++] = TimestampTzGetDatum(presence_ms_to_timestamptz(it->time_ms));
		Assert(c == ITEM_COLUMNS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Batch */

/* A one-dimensional text[] argument; NULL elements come back as (Datum) 0. */
static Datum *
text_array_arg(FunctionCallInfo fcinfo, int n, int *count)
{
	ArrayType  *array;
	Datum	   *elems;
	bool	   *nulls;

	*count = -1;
	if (PG_ARGISNULL(n))
		return NULL;
	array = PG_GETARG_ARRAYTYPE_P(n);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("delivery arrays must be one-dimensional")));
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, count);
	for (int i = 0; i < *count; i++)
		if (nulls[i])
			elems[i] = (Datum) 0;
	return elems;
}

static char *
element_string(Datum *elems, int i)
{
	return (elems && elems[i] != (Datum) 0) ? TextDatumGetCString(elems[i]) : NULL;
}

static Delivery *
batch_deliveries(FunctionCallInfo fcinfo, int *n)
{
	int			counts[5];
	Datum	   *args[5];
	Delivery   *deliveries;

	for (int a = 0; a < 5; a++)
		args[a] = text_array_arg(fcinfo, a, &counts[a]);
	*n = Max(counts[0], 0);
	for (int a = 1; a < 5; a++)
		if (counts[a] >= 0 && counts[a] != *n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("delivery arrays must all have the same length"),
					 errdetail("bodies has %d elements, argument %d has %d.",
							   *n, a + 1, counts[a])));
	deliveries = palloc0(sizeof(Delivery) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		Delivery   *d = &deliveries[i];

		d->body = args[0][i];
		d->verify = true;
		d->nonce = element_string(args[1], i);
		d->sign_timestamp = element_string(args[2], i);
		d->signature = element_string(args[3], i);
		d->app_key = element_string(args[4], i);
	}
	return deliveries;
}

static void
put_batch_row(ReturnSetInfo *rsinfo, const Delivery *d, int ord)
{
	Datum		values[BATCH_COLUMNS] = {0};
	bool		nulls[BATCH_COLUMNS] = {false};
	int			i = 0;

	values[i++] = Int32GetDatum(ord);
	if (d->rejected)
	{
		for (int c = 0; c < RESULT_COLUMNS; c++)
			nulls[i++] = true;
		values[i++] = CStringGetTextDatum(unpack_sql_state(d->why.sqlerrcode));
		values[i++] = CStringGetTextDatum(d->why.message);
	}
	else
	{
		outcome_values(d, values, &i);
		nulls[i++] = true;		/* sqlstate */
		nulls[i++] = true;		/* message */
	}
	Assert(i == BATCH_COLUMNS);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Several signed deliveries in one transaction (the shim's group commit).
 * A refused delivery gets its SQLSTATE and message in its row and writes
 * nothing; the others are applied.
 */
Datum
presence_ingest_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Delivery   *deliveries;
	int			n;

	presence_require_writable("presence_ingest_batch()");
	deliveries = batch_deliveries(fcinfo, &n);
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n; i++)
	{
		if (deliveries[i].body != (Datum) 0)
			continue;
		deliveries[i].rejected = true;
		deliveries[i].why.sqlerrcode = ERRCODE_NULL_VALUE_NOT_ALLOWED;
		deliveries[i].why.message = "delivery body must not be null";
	}
	SPI_connect();
	ingest_deliveries(deliveries, n, applier());
	for (int i = 0; i < n; i++)
		put_batch_row(rsinfo, &deliveries[i], i + 1);
	SPI_finish();
	return (Datum) 0;
}

/*
 * presence.require_writable(entry): 25006 unless the transaction may write,
 * for the SQL entry points that write (presence_reconcile), by the same C as
 * the others.
 */
Datum
presence_require_writable_sql(PG_FUNCTION_ARGS)
{
	presence_require_writable(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

/*
 * presence.item_key(status_time, status): the order of items as one bigint,
 * session_item_key() in SQL, so that the key of presence.check() and the one
 * ingest keeps are the same C.
 */
Datum
presence_item_key(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ItemStatus	status;

	if (!item_status_from_text(name, &status))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid item status \"%s\"", name),
				 errdetail("A status is \"0\", \"1\" or \"2\".")));
	PG_RETURN_INT64(session_item_key(PG_GETARG_TIMESTAMPTZ(0), status));
}
