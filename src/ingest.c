/*-------------------------------------------------------------------------
 *
 * ingest.c
 *	  Check deliveries and hand the accepted ones to an applier.
 *
 * A call handles one or more deliveries in three phases:
 *
 *   1. check each on its own, writing nothing: signature values present,
 *	    size, signature and age, then the body's shape;
 *   2. bind each accepted signature triple to its body's digest, in one
 *	    fixed order (the replay binding);
 *   3. hand the accepted deliveries, verified and parsed, to the applier the
 *	    caller chose (DeliveryApplier): the local one (apply.c) or a router's
 *	    (router.c).
 *
 * A delivery refused in phase 1 or 2 has written nothing; the single-delivery
 * entry points raise its error, the batch entry point reports it per row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "ingest.h"
#include "presence.h"
#include "presence_compat.h"
#include "store.h"

/*
 * The longest nonce, signTimestamp or appKey accepted: the provider's nonce
 * has at most 18 characters, and these values are kept in an index.
 */
#define MAX_NONCE_BYTES 64

static bool
reject(Rejection *why, int sqlerrcode, char *message, char *detail, char *hint)
{
	why->sqlerrcode = sqlerrcode;
	why->message = message;
	why->detail = detail;
	why->hint = hint;
	return false;
}

/* Raise the error a refused delivery gets. */
void
ingest_raise(const Rejection *why)
{
	ereport(ERROR,
			(errcode(why->sqlerrcode),
			 errmsg_internal("%s", why->message),
			 why->detail ? errdetail_internal("%s", why->detail) : 0,
			 why->hint ? errhint("%s", why->hint) : 0));
	pg_unreachable();
}

/* Phase 1: checks that write nothing */

static bool
present(const char *s)
{
	return s != NULL && *s != '\0';
}

static bool
check_size(const Delivery *d, Rejection *why)
{
	Size		size = toast_raw_datum_size(d->body) - VARHDRSZ;

	if (size <= (Size) presence_max_payload_bytes)
		return true;
	return reject(why, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
				  pstrdup("delivery body is too large"),
				  psprintf("The body has %zu bytes; presence.max_payload_bytes allows %d.",
						   size, presence_max_payload_bytes),
				  NULL);
}

static int64
now_unix_ms(void)
{
	return presence_timestamptz_to_ms(GetCurrentTimestamp());
}

/* The secrets that serve this app key; 55000 when none is configured at all. */
static char **
serving_secrets(const SecretSet *set, const char *app_key, int *nsecrets, Rejection *why)
{
	if (set->n > 0)
		return store_secrets_serving(set, app_key, nsecrets);
	reject(why, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
		   pstrdup("no signing secret is configured"),
		   pstrdup("Signed deliveries cannot be checked without a secret."),
		   pstrdup("Add one with presence.set_secret()."));
	return NULL;
}

/*
 * The age check refuses the signature; *rejected, when given, is set.  It is
 * made again once the triple is bound (bind_signatures): a triple that
 * forget_signatures() removed was already too old at that later time, so a
 * binding made anew after it can never serve a second body.
 */
static bool
reject_stale_signature(Rejection *why, bool *rejected)
{
	if (rejected)
		*rejected = true;
	return reject(why, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
				  pstrdup("delivery signature is too old"),
				  psprintf("signTimestamp is more than %d seconds away from the server clock.",
						   presence_signature_max_age),
				  pstrdup("Check the clocks, or presence.signature_max_age."));
}

static bool
reject_signature(Rejection *why, char *message, char *detail)
{
	return reject(why, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, message, detail, NULL);
}

/* Check a signature against the secrets in set. */
bool
ingest_signature_valid(const char *nonce, const char *sign_timestamp,
					   const char *signature, const char *app_key,
					   const SecretSet *set, Rejection *why)
{
	uint8_t		given[SIGNATURE_LEN];
	int64		sign_ms;
	int			nsecrets;
	char	  **secrets = serving_secrets(set, app_key, &nsecrets, why);
	bool		match = false;

	if (secrets == NULL)
		return false;
	if (!signature_timestamp_ms(sign_timestamp, &sign_ms))
		return reject_signature(why, pstrdup("delivery signTimestamp is not valid"),
								pstrdup("signTimestamp must be Unix time in milliseconds, as decimal digits."));
	if (!signature_from_hex(signature, given))
		return reject_signature(why, pstrdup("delivery signature does not match"),
								pstrdup("A signature is 40 hexadecimal digits."));
	for (int i = 0; i < nsecrets; i++)
	{
		uint8_t		expected[SIGNATURE_LEN];

		if (!signature_compute(secrets[i], nonce, sign_timestamp, expected))
			elog(ERROR, "presence: could not compute SHA1");
		match |= signature_equal(expected, given, SIGNATURE_LEN);
	}
	if (!match)
		return reject_signature(why, pstrdup("delivery signature does not match"), NULL);
	if (!signature_is_fresh(sign_ms, now_unix_ms(), presence_signature_max_age))
		return reject_stale_signature(why, NULL);
	return true;
}

static bool
check_signature(Delivery *d, SecretSet **secrets, Rejection *why)
{
	if (!present(d->nonce) || !present(d->sign_timestamp) || !present(d->signature))
		return reject(why, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
					  pstrdup("delivery is not signed"),
					  pstrdup("The nonce, signTimestamp and signature values are all required."),
					  NULL);
	if (strlen(d->nonce) > MAX_NONCE_BYTES || strlen(d->sign_timestamp) > MAX_NONCE_BYTES ||
		(d->app_key != NULL && strlen(d->app_key) > MAX_NONCE_BYTES))
		return reject(why, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
					  pstrdup("delivery signature values are too long"),
					  psprintf("The nonce, signTimestamp and appKey values may have at most %d bytes each.",
							   MAX_NONCE_BYTES),
					  NULL);
	if (*secrets == NULL)
		*secrets = store_load_secrets();
	if (!ingest_signature_valid(d->nonce, d->sign_timestamp, d->signature, d->app_key,
								*secrets, why))
		return false;
	(void) signature_timestamp_ms(d->sign_timestamp, &d->sign_ms);
	for (int i = 0; i < SIGNATURE_LEN * 2; i++)
		d->signature_hex[i] = pg_ascii_tolower((unsigned char) d->signature[i]);
	d->signature_hex[SIGNATURE_LEN * 2] = '\0';
	return true;
}

static int
sqlstate_of(PayloadErrorKind kind)
{
	switch (kind)
	{
		case PAYLOAD_SYNTAX:
			return ERRCODE_INVALID_TEXT_REPRESENTATION;
		case PAYLOAD_NUL_CHARACTER:
			return ERRCODE_UNTRANSLATABLE_CHARACTER;
		case PAYLOAD_OUT_OF_RANGE:
			return ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
		default:
			return ERRCODE_INVALID_PARAMETER_VALUE;
	}
}

/*
 * The lexer converts a \u escape to the server encoding itself, and where no
 * conversion exists (SQL_ASCII) it raises 0A000.  That is bad input, not a
 * missing feature: raise it again as 22P05, as PostgreSQL's json does for a
 * character the encoding cannot hold.
 */
static bool
lex_payload(text *body, Payload *payload, PayloadError *err)
{
	MemoryContext mcxt = CurrentMemoryContext;
	bool		ok = false;

	PG_TRY();
	{
		ok = payload_parse(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body),
						   GetDatabaseEncoding(), payload, err);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(mcxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_FEATURE_NOT_SUPPORTED)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
				 errmsg("invalid input syntax for type json"),
				 errdetail("A \\u escape names a character the database encoding cannot hold.")));
	}
	PG_END_TRY();
	return ok;
}

static bool
parse_body(Delivery *d, Rejection *why)
{
	PayloadError err;

	d->body_text = DatumGetTextPP(d->body);
	if (lex_payload(d->body_text, &d->payload, &err))
		return true;
	return reject(why, sqlstate_of(err.kind), err.message, err.detail, NULL);
}

/* Check the body's size and parse it, raising the refusal as an error. */
void
ingest_parse_or_raise(Datum body, Payload *payload)
{
	Delivery	d = {.body = body};

	if (!check_size(&d, &d.why) || !parse_body(&d, &d.why))
		ingest_raise(&d.why);
	*payload = d.payload;
}

/* secrets: the call's secrets, read at the first signed delivery. */
static void
check_delivery(Delivery *d, SecretSet **secrets)
{
	d->rejected = !((!d->verify || check_signature(d, secrets, &d->why)) &&
					check_size(d, &d->why) &&
					parse_body(d, &d->why));
}

/* Phase 2: the replay binding */

/* Byte order of (nonce, signTimestamp, signature). */
static int
triple_cmp(const Delivery *x, const Delivery *y)
{
	int			c = strcmp(x->nonce, y->nonce);

	if (c == 0)
		c = strcmp(x->sign_timestamp, y->sign_timestamp);
	if (c == 0)
		c = strcmp(x->signature_hex, y->signature_hex);
	return c;
}

/* qsort: by triple, and a triple the call brings twice in delivery order. */
static int
compare_triples(const void *a, const void *b)
{
	const Delivery *x = *(Delivery *const *) a;
	const Delivery *y = *(Delivery *const *) b;
	int			c = triple_cmp(x, y);

	/* The earlier delivery of a call binds a triple the call brings twice. */
	if (c == 0 && x != y)
		c = x < y ? -1 : 1;
	return c;
}

static void
reject_rebound(Delivery *d)
{
	d->rejected = true;
	reject(&d->why, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
		   pstrdup("delivery signature was already used with another body"),
		   pstrdup("A nonce, signTimestamp and signature triple is accepted with one body only."),
		   NULL);
}

/*
 * Bind every distinct triple of the call to the digest of the first body it
 * came with (store_bind_signatures), then refuse each delivery whose body is
 * not the one its triple is bound to.
 */
static void
bind_signatures(Delivery *deliveries, int n)
{
	Delivery  **order = palloc(sizeof(Delivery *) * Max(n, 1));
	uint8_t   (*digests)[BODY_DIGEST_LEN] = palloc(BODY_DIGEST_LEN * Max(n, 1));
	SignatureBinding *bindings = palloc(sizeof(SignatureBinding) * Max(n, 1));
	int		   *binding_of = palloc(sizeof(int) * Max(n, 1));
	int			m = 0;
	int			nb = 0;

	for (int i = 0; i < n; i++)
		if (deliveries[i].verify && !deliveries[i].rejected)
			order[m++] = &deliveries[i];
	qsort(order, m, sizeof(Delivery *), compare_triples);
	for (int i = 0; i < m; i++)
	{
		Delivery   *d = order[i];

		if (!body_digest(VARDATA_ANY(d->body_text), VARSIZE_ANY_EXHDR(d->body_text), digests[i]))
			elog(ERROR, "presence: could not compute SHA256");
		if (i == 0 || triple_cmp(order[i - 1], order[i]) != 0)
		{
			SignatureBinding *b = &bindings[nb++];

			b->nonce = d->nonce;
			b->sign_timestamp = d->sign_timestamp;
			b->signature = d->signature_hex;
			memcpy(b->digest, digests[i], BODY_DIGEST_LEN);
			b->signed_at = presence_ms_to_timestamptz(d->sign_ms);
		}
		binding_of[i] = nb - 1;
	}
	store_bind_signatures(bindings, nb);
	for (int i = 0; i < m; i++)
	{
		if (memcmp(bindings[binding_of[i]].stored, digests[i], BODY_DIGEST_LEN) != 0)
			reject_rebound(order[i]);
		else if (!signature_is_fresh(order[i]->sign_ms, now_unix_ms(), presence_signature_max_age))
			reject_stale_signature(&order[i]->why, &order[i]->rejected);
	}
}

/*
 * Check and bind deliveries (phases 1 and 2), then hand the accepted ones,
 * verified and parsed, to apply (phase 3): the local applier (apply.c) or a
 * router's (router.c), chosen by the caller.
 */
void
ingest_deliveries(Delivery *deliveries, int n, DeliveryApplier apply)
{
	SecretSet  *secrets = NULL;
	TimestampTz horizon = store_load_horizon();

	for (int i = 0; i < n; i++)
		if (!deliveries[i].rejected && !deliveries[i].parsed)
			check_delivery(&deliveries[i], &secrets);
	store_begin();
	bind_signatures(deliveries, n);
	apply(deliveries, n, horizon);
}
