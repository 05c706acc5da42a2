/*-------------------------------------------------------------------------
 *
 * store.c
 *	  The reads and writes ingest makes of the presence tables.
 *
 * Rows of users, sessions and events are read and written directly
 * (tables.c) within store_begin .. store_end; the rare statements (a new
 * user's row, the secrets, the replay binding) are schema-qualified saved
 * plans (plans.c).  Callers hold the user's row lock (store_lock_user)
 * before reading or writing anything of that user, and lock users in one
 * fixed order, which is what keeps concurrent deliveries from deadlocking.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/timestamp.h"

#include "plans.h"
#include "store.h"
#include "tables.h"

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* Column numbers of the rows ingest reads and writes, found once per call. */
static struct
{
	AttrNumber	s_state,
				s_os,
				s_client_ip,
				s_started_at,
				s_ended_at,
				s_last_event_at,
				s_updated_at,
				s_user_id,
				s_session_id;
	AttrNumber	e_user_id,
				e_session_id,
				e_status_time,
				e_status,
				e_event_id,
				e_event_time,
				e_item_no,
				e_os,
				e_client_ip,
				e_received_at,
				e_outcome;
}			col;

static void
find_columns(void)
{
	PresenceTable *s = tables_get(TABLE_SESSIONS);
	PresenceTable *e = tables_get(TABLE_EVENTS);

	col.s_user_id = table_column(s, "user_id");
	col.s_session_id = table_column(s, "session_id");
	col.s_state = table_column(s, "state");
	col.s_os = table_column(s, "os");
	col.s_client_ip = table_column(s, "client_ip");
	col.s_started_at = table_column(s, "started_at");
	col.s_ended_at = table_column(s, "ended_at");
	col.s_last_event_at = table_column(s, "last_event_at");
	col.s_updated_at = table_column(s, "updated_at");
	col.e_user_id = table_column(e, "user_id");
	col.e_session_id = table_column(e, "session_id");
	col.e_status_time = table_column(e, "status_time");
	col.e_status = table_column(e, "status");
	col.e_event_id = table_column(e, "event_id");
	col.e_event_time = table_column(e, "event_time");
	col.e_item_no = table_column(e, "item_no");
	col.e_os = table_column(e, "os");
	col.e_client_ip = table_column(e, "client_ip");
	col.e_received_at = table_column(e, "received_at");
	col.e_outcome = table_column(e, "outcome");
}

/* Open the tables for the apply phase of one call. */
void
store_begin(void)
{
	tables_open();
	find_columns();
}

void
store_end(void)
{
	tables_close();
}

/*
 * Lock the user's row, creating it when it is new; returns true for a new
 * user, who has no sessions or items yet.  If another transaction creates the
 * row first, the insert waits for it and we lock the row it made.  Reads of
 * the user's rows that follow see everything committed before the lock.
 */
bool
store_lock_user(const char *user_id)
{
	static SPIPlanPtr insert_plan;
	static const Oid types[] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(user_id)};

	for (;;)
	{
		if (table_lock_row(tables_get(TABLE_USERS), values[0]))
		{
			tables_begin_user(user_id);
			return false;
		}
		plan_execute(PLAN(&insert_plan,
						  "INSERT INTO presence.users (user_id) VALUES ($1) "
						  "ON CONFLICT (user_id) DO NOTHING", types),
					 values, NULL, 0);
		if (SPI_processed > 0)
		{
			tables_begin_user(user_id);
			return true;
		}
	}
}

/* Read the session into row; its table row stays in the sessions slot. */
void
store_read_session(const char *user_id, const char *session_id, SessionRow *row)
{
	PresenceTable *t = tables_get(TABLE_SESSIONS);
	ScanKeyData keys[2];
	bool		isnull;
	char	   *state;

	memset(row, 0, sizeof(SessionRow));
	scan_key_text(&keys[0], 1, user_id);
	scan_key_text(&keys[1], 2, session_id);
	if (!table_lookup(t, keys, 2))
		return;
	row->exists = true;
	state = slot_text(t->found, col.s_state);
	if (state == NULL || !session_state_from_name(state, &row->state))
		elog(ERROR, "presence: session has an unknown state");
	row->os = slot_text(t->found, col.s_os);
	row->client_ip = slot_text(t->found, col.s_client_ip);
	row->started_at = slot_time(t->found, col.s_started_at, &isnull);
	row->has_started = !isnull;
	row->ended_at = slot_time(t->found, col.s_ended_at, &isnull);
	row->has_ended = !isnull;
	row->last_event_at = slot_time(t->found, col.s_last_event_at, &isnull);
}

/* Is the event in the events slot greater than (time, status)? */
static bool
found_event_after(PresenceTable *t, TimestampTz time, char status)
{
	bool		isnull;
	TimestampTz found = slot_time(t->found, col.e_status_time, &isnull);
	char	   *found_status;

	if (found != time)
		return found > time;
	found_status = slot_text(t->found, col.e_status);
	return found_status != NULL && (unsigned char) found_status[0] > (unsigned char) status;
}

/*
 * Has a greater item of this session already carried os (asked when *os is
 * true on entry), or client_ip (when *ip is)?  The scan stops once every
 * question has its answer.
 */
void
store_find_superseding(const char *user_id, const char *session_id,
					   TimestampTz time, char status, bool *os, bool *ip)
{
	PresenceTable *t = tables_get(TABLE_EVENTS);
	ScanKeyData keys[3];
	IndexScanDesc scan;
	bool		want_os = *os;
	bool		want_ip = *ip;

	*os = *ip = false;
	scan_key_text(&keys[0], 1, user_id);
	scan_key_text(&keys[1], 2, session_id);
	scan_key_time(&keys[2], 3, BTGreaterEqualStrategyNumber, time);
	scan = table_scan_begin(t, keys, 3);
	while ((want_os > *os || want_ip > *ip) &&
		   table_scan_next(scan, t->found))
	{
		if (!found_event_after(t, time, status))
			continue;
		*os |= want_os && !slot_attisnull(t->found, col.e_os);
		*ip |= want_ip && !slot_attisnull(t->found, col.e_client_ip);
	}
	table_scan_end(scan);
}

static bool
event_is_logged(const EventRow *ev, const char *status_text)
{
	ScanKeyData keys[4];

	scan_key_text(&keys[0], 1, ev->user_id);
	scan_key_text(&keys[1], 2, ev->session_id);
	scan_key_time(&keys[2], 3, BTEqualStrategyNumber, ev->status_time);
	scan_key_text(&keys[3], 4, status_text);
	return table_lookup(tables_get(TABLE_EVENTS), keys, 4);
}

/* Log a distinct item; false when it was received before (a duplicate). */
bool
store_insert_event(const EventRow *ev)
{
	PresenceTable *t = tables_get(TABLE_EVENTS);
	TupleTableSlot *slot = t->draft;
	char		status_text[2] = {ev->status, '\0'};

	if (event_is_logged(ev, status_text))
		return false;
	table_draft_clear(t);
	slot_set_text(slot, col.e_user_id, ev->user_id);
	slot_set_text(slot, col.e_session_id, ev->session_id);
	slot_set_time(slot, col.e_status_time, true, ev->status_time);
	slot_set_text(slot, col.e_status, status_text);
	slot_set_text(slot, col.e_event_id, ev->event_id);
	slot_set_time(slot, col.e_event_time, ev->has_event_time, ev->event_time);
	slot->tts_values[col.e_item_no - 1] = Int32GetDatum(ev->item_no);
	slot->tts_isnull[col.e_item_no - 1] = false;
	slot_set_text(slot, col.e_os, ev->os);
	slot_set_text(slot, col.e_client_ip, ev->client_ip);
	slot_set_time(slot, col.e_received_at, true, GetCurrentTransactionStartTimestamp());
	slot_set_text(slot, col.e_outcome, ev->stale ? "stale" : "applied");
	table_insert_draft(t);
	return true;
}

/*
 * Write the session: insert it when it is new, else update the row that
 * store_read_session left in the sessions slot.
 */
void
store_write_session(const char *user_id, const char *session_id,
					const SessionRow *row, bool is_new)
{
	PresenceTable *t = tables_get(TABLE_SESSIONS);
	TupleTableSlot *slot = t->draft;

	if (is_new)
	{
		table_draft_clear(t);
		slot_set_text(slot, col.s_user_id, user_id);
		slot_set_text(slot, col.s_session_id, session_id);
	}
	else
		table_draft_from_found(t);
	slot_set_text(slot, col.s_state, session_state_name(row->state));
	slot_set_text(slot, col.s_os, row->os);
	slot_set_text(slot, col.s_client_ip, row->client_ip);
	slot_set_time(slot, col.s_started_at, row->has_started, row->started_at);
	slot_set_time(slot, col.s_ended_at, row->has_ended, row->ended_at);
	slot_set_time(slot, col.s_last_event_at, true, row->last_event_at);
	slot_set_time(slot, col.s_updated_at, true, GetCurrentTransactionStartTimestamp());
	if (is_new)
		table_insert_draft(t);
	else
		table_update_found(t);
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
