/*-------------------------------------------------------------------------
 *
 * store.c
 *	  The reads and writes ingest makes of the presence tables.
 *
 * Rows of users, sessions, events and signature bindings are read and
 * written directly (rows.c) within store_begin .. store_end; the secrets,
 * read once per call, are a schema-qualified saved plan (plans.c).  Callers hold the user's row lock (store_lock_user)
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
#include "rows.h"

/* Column numbers of the rows ingest reads and writes (see find_columns). */
static struct
{
	uint64		u_found_at,
				s_found_at,
				e_found_at,
				g_found_at;		/* relcache generation of each lookup */
	AttrNumber	u_user_id,
				u_online_sessions,
				u_online,
				u_logged_out,
				u_last_online_at,
				u_last_offline_at,
				u_last_seen_at,
				u_updated_at;
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
	AttrNumber	g_nonce,
				g_sign_timestamp,
				g_signature,
				g_body_sha256,
				g_signed_at;
}			col;

static const RowsColumn user_columns[] = {
	{"user_id", &col.u_user_id},
	{"online_sessions", &col.u_online_sessions},
	{"online", &col.u_online},
	{"logged_out", &col.u_logged_out},
	{"last_online_at", &col.u_last_online_at},
	{"last_offline_at", &col.u_last_offline_at},
	{"last_seen_at", &col.u_last_seen_at},
	{"updated_at", &col.u_updated_at},
};

static const RowsColumn session_columns[] = {
	{"user_id", &col.s_user_id},
	{"session_id", &col.s_session_id},
	{"state", &col.s_state},
	{"os", &col.s_os},
	{"client_ip", &col.s_client_ip},
	{"started_at", &col.s_started_at},
	{"ended_at", &col.s_ended_at},
	{"last_event_at", &col.s_last_event_at},
	{"updated_at", &col.s_updated_at},
};

static const RowsColumn event_columns[] = {
	{"user_id", &col.e_user_id},
	{"session_id", &col.e_session_id},
	{"status_time", &col.e_status_time},
	{"status", &col.e_status},
	{"event_id", &col.e_event_id},
	{"event_time", &col.e_event_time},
	{"item_no", &col.e_item_no},
	{"os", &col.e_os},
	{"client_ip", &col.e_client_ip},
	{"received_at", &col.e_received_at},
	{"outcome", &col.e_outcome},
};

static const RowsColumn signature_columns[] = {
	{"nonce", &col.g_nonce},
	{"sign_timestamp", &col.g_sign_timestamp},
	{"signature", &col.g_signature},
	{"body_sha256", &col.g_body_sha256},
	{"signed_at", &col.g_signed_at},
};

/* Look the column numbers up again after any relcache invalidation. */
static void
find_columns(void)
{
	rows_find_columns(ROWS_USERS, user_columns, lengthof(user_columns), &col.u_found_at);
	rows_find_columns(ROWS_SESSIONS, session_columns, lengthof(session_columns),
					   &col.s_found_at);
	rows_find_columns(ROWS_EVENTS, event_columns, lengthof(event_columns), &col.e_found_at);
}

/* Open the tables for the apply phase of one call. */
void
store_begin(void)
{
	rows_open();
	find_columns();
}

void
store_end(void)
{
	rows_close();
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
	RowsTable *u = rows_get(ROWS_USERS);
	Datum		key = CStringGetTextDatum(user_id);

	rows_end_user();
	for (;;)
	{
		if (rows_lock(u, key))
		{
			rows_begin_user(user_id, &u->found->tts_tid, false);
			return false;
		}
		rows_draft_clear(u);
		rows_set_text(u->draft, col.u_user_id, user_id);
		rows_set_int32(u->draft, col.u_online_sessions, 0);
		rows_set_bool(u->draft, col.u_online, false);
		rows_set_bool(u->draft, col.u_logged_out, false);
		rows_set_time(u->draft, col.u_updated_at, true, GetCurrentTransactionStartTimestamp());
		if (rows_insert_draft_if_new(u))
		{
			rows_begin_user(user_id, &u->draft->tts_tid, true);
			return true;
		}
	}
}

/* Done with the locked user: write its row, once, if the triggers changed it. */
void
store_release_user(void)
{
	rows_end_user();
}

/*
 * The locked user's row as it stands now: as locked, or as the triggers
 * have changed it so far (they change it in memory while the lock is held).
 */
void
store_read_locked_user(UserRow *row)
{
	TupleTableSlot *slot = rows_current_user_row();
	bool		isnull;
	bool		none;

	row->online_sessions = DatumGetInt32(slot_getattr(slot, col.u_online_sessions, &isnull));
	row->online = DatumGetBool(slot_getattr(slot, col.u_online, &isnull));
	row->logged_out = DatumGetBool(slot_getattr(slot, col.u_logged_out, &isnull));
	row->last_online_at = rows_get_time(slot, col.u_last_online_at, &none);
	row->has_online_at = !none;
	row->last_offline_at = rows_get_time(slot, col.u_last_offline_at, &none);
	row->has_offline_at = !none;
	row->last_seen_at = rows_get_time(slot, col.u_last_seen_at, &none);
	row->has_seen_at = !none;
}

/* Read the session into row; its table row stays in the sessions slot. */
void
store_read_session(const char *user_id, const char *session_id, SessionRow *row)
{
	RowsTable *t = rows_get(ROWS_SESSIONS);
	ScanKeyData keys[2];
	bool		isnull;
	char	   *state;

	memset(row, 0, sizeof(SessionRow));
	rows_key_text(&keys[0], 1, user_id);
	rows_key_text(&keys[1], 2, session_id);
	if (!rows_lookup(t, keys, 2))
		return;
	row->exists = true;
	state = rows_get_text(t->found, col.s_state);
	if (state == NULL || !session_state_from_name(state, &row->state))
		elog(ERROR, "presence: session has an unknown state");
	row->os = rows_get_text(t->found, col.s_os);
	row->client_ip = rows_get_text(t->found, col.s_client_ip);
	row->started_at = rows_get_time(t->found, col.s_started_at, &isnull);
	row->has_started = !isnull;
	row->ended_at = rows_get_time(t->found, col.s_ended_at, &isnull);
	row->has_ended = !isnull;
	row->last_event_at = rows_get_time(t->found, col.s_last_event_at, &isnull);
}

/* Is the event in the events slot greater than (time, status)? */
static bool
found_event_after(RowsTable *t, TimestampTz time, ItemStatus status)
{
	bool		isnull;
	TimestampTz found = rows_get_time(t->found, col.e_status_time, &isnull);
	char	   *found_status;

	if (found != time)
		return found > time;
	found_status = rows_get_text(t->found, col.e_status);
	return found_status != NULL && (ItemStatus) found_status[0] > status;
}

/*
 * Has an item of the session greater than (time, status) been logged in the
 * partial index (events_os_key or events_client_ip_key, which hold only the
 * items that carry the field)?  One probe: at most the items at this very
 * time are passed over, however long the session's history.
 */
static bool
logged_after(RowsTable *t, const char *index, const char *user_id,
			 const char *session_id, TimestampTz time, ItemStatus status)
{
	ScanKeyData keys[3];
	IndexScanDesc scan;
	bool		found = false;

	rows_key_text(&keys[0], 1, user_id);
	rows_key_text(&keys[1], 2, session_id);
	rows_key_time(&keys[2], 3, BTGreaterEqualStrategyNumber, time);
	scan = rows_scan_index_begin(t, rows_index(t, index), keys, 3);
	while (!found && rows_scan_next(scan, t->found))
		found = found_event_after(t, time, status);
	rows_scan_end(scan);
	return found;
}

/*
 * Has a greater item of this session already carried os (asked when *os is
 * true on entry), or client_ip (when *ip is)?
 */
void
store_find_superseding(const char *user_id, const char *session_id,
					   TimestampTz time, ItemStatus status, bool *os, bool *ip)
{
	RowsTable *t = rows_get(ROWS_EVENTS);

	*os = *os && logged_after(t, "events_os_key", user_id, session_id, time, status);
	*ip = *ip && logged_after(t, "events_client_ip_key", user_id, session_id, time, status);
}

static bool
event_is_logged(const EventRow *ev, const char *status_text)
{
	ScanKeyData keys[4];

	rows_key_text(&keys[0], 1, ev->user_id);
	rows_key_text(&keys[1], 2, ev->session_id);
	rows_key_time(&keys[2], 3, BTEqualStrategyNumber, ev->status_time);
	rows_key_text(&keys[3], 4, status_text);
	return rows_lookup(rows_get(ROWS_EVENTS), keys, 4);
}

/*
 * Log a distinct item; false when it was received before (a duplicate), and
 * then known holds the fields it was logged with, and the events slot its
 * row, for store_widen_event.
 */
bool
store_insert_event(const EventRow *ev, LoggedFields *known)
{
	RowsTable *t = rows_get(ROWS_EVENTS);
	TupleTableSlot *slot = t->draft;
	char		status_text[2] = {(char) ev->status, '\0'};

	if (event_is_logged(ev, status_text))
	{
		known->os = rows_get_text(t->found, col.e_os);
		known->client_ip = rows_get_text(t->found, col.e_client_ip);
		return false;
	}
	rows_draft_clear(t);
	rows_set_text(slot, col.e_user_id, ev->user_id);
	rows_set_text(slot, col.e_session_id, ev->session_id);
	rows_set_time(slot, col.e_status_time, true, ev->status_time);
	rows_set_text(slot, col.e_status, status_text);
	rows_set_text(slot, col.e_event_id, ev->event_id);
	rows_set_time(slot, col.e_event_time, ev->has_event_time, ev->event_time);
	rows_set_int32(slot, col.e_item_no, ev->item_no);
	rows_set_text(slot, col.e_os, ev->os);
	rows_set_text(slot, col.e_client_ip, ev->client_ip);
	rows_set_time(slot, col.e_received_at, true, GetCurrentTransactionStartTimestamp());
	rows_set_text(slot, col.e_outcome, ev->stale ? "stale" : "applied");
	rows_insert_draft(t);
	return true;
}

/*
 * Give the item that store_insert_event found logged these os and client_ip
 * (a copy of it brought greater values, contract 3.3); call before any other
 * read of presence.events.
 */
void
store_widen_event(const LoggedFields *fields)
{
	RowsTable *t = rows_get(ROWS_EVENTS);

	rows_draft_from_found(t);
	rows_set_text(t->draft, col.e_os, fields->os);
	rows_set_text(t->draft, col.e_client_ip, fields->client_ip);
	rows_update_found(t);
}

/*
 * Write the session: insert it when it is new, else update the row that
 * store_read_session left in the sessions slot.
 */
void
store_write_session(const char *user_id, const char *session_id,
					const SessionRow *row, bool is_new)
{
	RowsTable *t = rows_get(ROWS_SESSIONS);
	TupleTableSlot *slot = t->draft;

	if (is_new)
	{
		rows_draft_clear(t);
		rows_set_text(slot, col.s_user_id, user_id);
		rows_set_text(slot, col.s_session_id, session_id);
	}
	else
		rows_draft_from_found(t);
	rows_set_text(slot, col.s_state, session_state_name(row->state));
	rows_set_text(slot, col.s_os, row->os);
	rows_set_text(slot, col.s_client_ip, row->client_ip);
	rows_set_time(slot, col.s_started_at, row->has_started, row->started_at);
	rows_set_time(slot, col.s_ended_at, row->has_ended, row->ended_at);
	rows_set_time(slot, col.s_last_event_at, true, row->last_event_at);
	rows_set_time(slot, col.s_updated_at, true, GetCurrentTransactionStartTimestamp());
	if (is_new)
		rows_insert_draft(t);
	else
		rows_update_found(t);
}

/* The retention horizon, read once for a call: -infinity until maintain() prunes. */
TimestampTz
store_load_horizon(void)
{
	static SPIPlanPtr plan;
	TimestampTz horizon = DT_NOBEGIN;
	bool		isnull;

	if (plan == NULL)
		plan = plan_prepare("SELECT horizon FROM presence.retention_state", 0, NULL);
	plan_execute(plan, NULL, NULL, 1);
	if (SPI_processed > 0)
		horizon = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return horizon;
}

/* Every configured secret, read once for a call. */
SecretSet *
store_load_secrets(void)
{
	static SPIPlanPtr plan;
	SecretSet  *set = palloc(sizeof(SecretSet));

	if (plan == NULL)
		plan = plan_prepare("SELECT app_key, secret FROM presence.secrets", 0, NULL);
	plan_execute(plan, NULL, NULL, 0);
	set->n = (int) SPI_processed;
	set->app_keys = palloc(sizeof(char *) * (set->n + 1));
	set->secrets = palloc(sizeof(char *) * (set->n + 1));
	for (int i = 0; i < set->n; i++)
	{
		set->app_keys[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		set->secrets[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	SPI_freetuptable(SPI_tuptable);
	return set;
}

/*
 * The secrets that serve a delivery with this app key (NULL: none given):
 * those of app key '' serve every delivery, the others their own app key.
 */
char	  **
store_secrets_serving(const SecretSet *set, const char *app_key, int *nsecrets)
{
	char	  **secrets = palloc(sizeof(char *) * (set->n + 1));

	*nsecrets = 0;
	for (int i = 0; i < set->n; i++)
		if (set->app_keys[i] != NULL && set->secrets[i] != NULL &&
			(set->app_keys[i][0] == '\0' ||
			 (app_key != NULL && strcmp(set->app_keys[i], app_key) == 0)))
			secrets[(*nsecrets)++] = set->secrets[i];
	return secrets;
}

static void
draft_binding(RowsTable *t, const SignatureBinding *b)
{
	bytea	   *d = palloc(VARHDRSZ + BODY_DIGEST_LEN);

	SET_VARSIZE(d, VARHDRSZ + BODY_DIGEST_LEN);
	memcpy(VARDATA(d), b->digest, BODY_DIGEST_LEN);
	rows_draft_clear(t);
	rows_set_text(t->draft, col.g_nonce, b->nonce);
	rows_set_text(t->draft, col.g_sign_timestamp, b->sign_timestamp);
	rows_set_text(t->draft, col.g_signature, b->signature);
	t->draft->tts_values[col.g_body_sha256 - 1] = PointerGetDatum(d);
	t->draft->tts_isnull[col.g_body_sha256 - 1] = false;
	rows_set_time(t->draft, col.g_signed_at, true, b->signed_at);
}

/*
 * Remember that each triple came with its body: b holds distinct triples
 * sorted by byte order, and each is inserted as INSERT ... ON CONFLICT does,
 * in that order, so concurrent calls wait on each other's triples in one
 * order and cannot deadlock.  Sets each binding's stored digest: its own
 * when the triple is new, else the one it came with first.
 */
void
store_bind_signatures(SignatureBinding *b, int n)
{
	RowsTable *t;

	if (n == 0)
		return;
	t = rows_get(ROWS_SIGNATURES);
	rows_find_columns(ROWS_SIGNATURES, signature_columns, lengthof(signature_columns),
					   &col.g_found_at);
	for (int i = 0; i < n; i++)
	{
		for (;;)
		{
			ScanKeyData keys[3];
			bool		isnull;
			bytea	   *stored;

			draft_binding(t, &b[i]);
			if (rows_insert_draft_if_new(t))
			{
				memcpy(b[i].stored, b[i].digest, BODY_DIGEST_LEN);
				break;
			}
			rows_key_text(&keys[0], 1, b[i].nonce);
			rows_key_text(&keys[1], 2, b[i].sign_timestamp);
			rows_key_text(&keys[2], 3, b[i].signature);
			if (!rows_lookup_committed(t, keys, 3))
				continue;		/* forgotten meanwhile: bind it again */
			stored = DatumGetByteaPP(slot_getattr(t->found, col.g_body_sha256, &isnull));
			if (isnull || VARSIZE_ANY_EXHDR(stored) != BODY_DIGEST_LEN)
				elog(ERROR, "presence: a remembered signature has no body digest");
			memcpy(b[i].stored, VARDATA_ANY(stored), BODY_DIGEST_LEN);
			break;
		}
	}
}
