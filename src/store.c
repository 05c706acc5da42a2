/*-------------------------------------------------------------------------
 *
 * store.c
 *	  The statements ingest runs against the presence tables.
 *
 * Every statement is schema-qualified, parameterized and prepared once per
 * backend (plans.c).  Callers hold the user's row lock (store_lock_user)
 * before reading or writing anything of that user, and lock users in one
 * fixed order, which is what keeps concurrent deliveries from deadlocking.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "plans.h"
#include "store.h"

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

static char *
column_text(int col, bool *isnull)
{
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);

	return *isnull ? NULL : TextDatumGetCString(d);
}

static TimestampTz
column_time(int col, bool *isnull)
{
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);

	return *isnull ? 0 : DatumGetTimestampTz(d);
}

/*
 * Lock the user's row, creating it when it is new; returns true for a new
 * user, who has no sessions or items yet.  If another transaction creates the
 * row first, the insert waits for it and we lock the row it made.
 */
bool
store_lock_user(const char *user_id)
{
	static SPIPlanPtr lock_plan;
	static SPIPlanPtr insert_plan;
	static const Oid types[] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(user_id)};

	for (;;)
	{
		plan_execute(PLAN(&lock_plan,
						  "SELECT 1 FROM presence.users WHERE user_id = $1 FOR UPDATE",
						  types),
					 values, NULL, 1);
		if (SPI_processed > 0)
			return false;
		plan_execute(PLAN(&insert_plan,
						  "INSERT INTO presence.users (user_id) VALUES ($1) "
						  "ON CONFLICT (user_id) DO NOTHING", types),
					 values, NULL, 0);
		if (SPI_processed > 0)
			return true;
	}
}

void
store_read_session(const char *user_id, const char *session_id, SessionRow *row)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(user_id), CStringGetTextDatum(session_id)};
	bool		isnull;
	char	   *state;

	memset(row, 0, sizeof(SessionRow));
	plan_execute(PLAN(&plan,
					  "SELECT state, os, client_ip, started_at, ended_at, last_event_at "
					  "FROM presence.sessions WHERE user_id = $1 AND session_id = $2",
					  types),
				 values, NULL, 1);
	if (SPI_processed == 0)
		return;
	row->exists = true;
	state = column_text(1, &isnull);
	if (isnull || !session_state_from_name(state, &row->state))
		elog(ERROR, "presence: session has an unknown state");
	row->os = column_text(2, &isnull);
	row->client_ip = column_text(3, &isnull);
	row->started_at = column_time(4, &isnull);
	row->has_started = !isnull;
	row->ended_at = column_time(5, &isnull);
	row->has_ended = !isnull;
	row->last_event_at = column_time(6, &isnull);
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Has a greater item of this session already carried os (asked when *os is
 * true on entry), or client_ip (when *ip is)?  Each answer stops at the
 * first such item.
 */
void
store_find_superseding(const char *user_id, const char *session_id,
					   TimestampTz time, char status, bool *os, bool *ip)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, BOOLOID, BOOLOID};
	char		status_text[2] = {status, '\0'};
	Datum		values[6] = {CStringGetTextDatum(user_id), CStringGetTextDatum(session_id),
		TimestampTzGetDatum(time), CStringGetTextDatum(status_text),
	BoolGetDatum(*os), BoolGetDatum(*ip)};
	bool		isnull;

#define LATER_ITEM_WITH(field) \
	"EXISTS (SELECT 1 FROM presence.events WHERE user_id = $1 AND session_id = $2 " \
	"AND (status_time, status) > ($3, $4::text COLLATE \"C\") AND " field " IS NOT NULL)"

	plan_execute(PLAN(&plan,
					  "SELECT $5 AND " LATER_ITEM_WITH("os") ", "
					  "$6 AND " LATER_ITEM_WITH("client_ip"),
					  types),
				 values, NULL, 1);
	*os = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*ip = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_freetuptable(SPI_tuptable);
}

/* Log a distinct item; false when it was received before (a duplicate). */
bool
store_insert_event(const EventRow *ev)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID,
	TIMESTAMPTZOID, INT4OID, TEXTOID, TEXTOID, TEXTOID};
	char		status_text[2] = {ev->status, '\0'};
	Datum		values[10];
	bool		isnull[10] = {false};

	values[0] = CStringGetTextDatum(ev->user_id);
	values[1] = CStringGetTextDatum(ev->session_id);
	values[2] = TimestampTzGetDatum(ev->status_time);
	values[3] = CStringGetTextDatum(status_text);
	values[4] = text_or_null(ev->event_id, &isnull[4]);
	values[5] = TimestampTzGetDatum(ev->event_time);
	isnull[5] = !ev->has_event_time;
	values[6] = Int32GetDatum(ev->item_no);
	values[7] = text_or_null(ev->os, &isnull[7]);
	values[8] = text_or_null(ev->client_ip, &isnull[8]);
	values[9] = CStringGetTextDatum(ev->stale ? "stale" : "applied");
	plan_execute(PLAN(&plan,
					  "INSERT INTO presence.events (user_id, session_id, status_time, status, "
					  "event_id, event_time, item_no, os, client_ip, outcome) "
					  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
					  "ON CONFLICT DO NOTHING", types),
				 values, isnull, 0);
	return SPI_processed == 1;
}

void
store_write_session(const char *user_id, const char *session_id,
					const SessionRow *row, bool is_new)
{
	static SPIPlanPtr insert_plan;
	static SPIPlanPtr update_plan;
	static const Oid types[] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[8];
	bool		isnull[8] = {false};

	values[0] = CStringGetTextDatum(user_id);
	values[1] = CStringGetTextDatum(session_id);
	values[2] = CStringGetTextDatum(session_state_name(row->state));
	values[3] = text_or_null(row->os, &isnull[3]);
	values[4] = text_or_null(row->client_ip, &isnull[4]);
	values[5] = TimestampTzGetDatum(row->started_at);
	isnull[5] = !row->has_started;
	values[6] = TimestampTzGetDatum(row->ended_at);
	isnull[6] = !row->has_ended;
	values[7] = TimestampTzGetDatum(row->last_event_at);
	if (is_new)
		plan_execute(PLAN(&insert_plan,
						  "INSERT INTO presence.sessions (user_id, session_id, state, os, "
						  "client_ip, started_at, ended_at, last_event_at) "
						  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", types),
					 values, isnull, 0);
	else
		plan_execute(PLAN(&update_plan,
						  "UPDATE presence.sessions SET state = $3, os = $4, client_ip = $5, "
						  "started_at = $6, ended_at = $7, last_event_at = $8, "
						  "updated_at = now() "
						  "WHERE user_id = $1 AND session_id = $2", types),
					 values, isnull, 0);
}

/*
 * The secrets that serve a delivery with this app key (NULL: none given).
 * *any_secret tells whether any secret is configured at all.
 */
char	  **
store_secrets_for(const char *app_key, int *nsecrets, bool *any_secret)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID};
	Datum		values[1];
	bool		isnull[1];
	char	  **secrets;

	values[0] = text_or_null(app_key, &isnull[0]);
	plan_execute(PLAN(&plan,
					  "SELECT secret, app_key = '' OR app_key = $1 FROM presence.secrets",
					  types),
				 values, isnull, 0);
	*any_secret = SPI_processed > 0;
	*nsecrets = 0;
	secrets = palloc(sizeof(char *) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		serves_null;
		bool		serves = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2,
														&serves_null));

		if (serves && !serves_null)
			secrets[(*nsecrets)++] = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
	}
	SPI_freetuptable(SPI_tuptable);
	return secrets;
}

/*
 * Remember that this triple came with this body.  True when the triple is
 * new or came with the same body before (a retry); false when it came with
 * another body.  Concurrent twins wait on the unique index.
 */
bool
store_bind_signature(const char *nonce, const char *sign_timestamp,
					 const char *signature, const uint8_t *digest,
					 TimestampTz signed_at)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TEXTOID, TEXTOID, BYTEAOID, TIMESTAMPTZOID};
	bytea	   *d = palloc(VARHDRSZ + BODY_DIGEST_LEN);
	Datum		values[5];
	bool		isnull;
	bool		same;

	SET_VARSIZE(d, VARHDRSZ + BODY_DIGEST_LEN);
	memcpy(VARDATA(d), digest, BODY_DIGEST_LEN);
	values[0] = CStringGetTextDatum(nonce);
	values[1] = CStringGetTextDatum(sign_timestamp);
	values[2] = CStringGetTextDatum(signature);
	values[3] = PointerGetDatum(d);
	values[4] = TimestampTzGetDatum(signed_at);
	plan_execute(PLAN(&plan,
					  "INSERT INTO presence.seen_signatures AS s "
					  "(nonce, sign_timestamp, signature, body_sha256, signed_at) "
					  "VALUES ($1, $2, $3, $4, $5) "
					  "ON CONFLICT (nonce, sign_timestamp, signature) "
					  "DO UPDATE SET signed_at = s.signed_at "
					  "RETURNING s.body_sha256 = $4", types),
				 values, NULL, 1);
	same = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									  &isnull));
	SPI_freetuptable(SPI_tuptable);
	return same;
}
