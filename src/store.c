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
#include "presence_compat.h"
#include "store.h"
#include "columns.h"
#include "rows.h"

/* The users triggers' functions (store_set_user_triggers). */
static PGFunction follow_events_fn = NULL;
static PGFunction follow_sessions_fn = NULL;

/* The column maps (columns.c), set by store_begin. */
static const UsersColumns *ucol;
static const SessionsColumns *scol;
static const EventsColumns *ecol;

/*
 * The user whose row the running call holds locked (the call's owner state
 * in rows.c, so an abort forgets it with the call).  While it is held, the
 * triggers change the row in memory (change_user) and store_release_user
 * writes it once.
 */
typedef struct LockedUser
{
	const char *user_id;		/* NULL when none is locked */
	ItemPointerData tid;		/* where its row is */
	bool		drafted;		/* users' draft holds the row */
	bool		pending;		/* the triggers changed the draft */
	bool		events_direct;	/* the call applies users_follow_events itself */
	bool		sessions_direct;	/* and users_follow_sessions */
} LockedUser;

static LockedUser *
locked_user(void)
{
	return (LockedUser *) rows_call_owner();
}

/* Known before any call: set once by _PG_init. */
void
store_set_user_triggers(PGFunction follow_events, PGFunction follow_sessions)
{
	follow_events_fn = follow_events;
	follow_sessions_fn = follow_sessions;
}

/*
 * Open the tables for the apply phase of one call.  Where the users triggers
 * are their tables' only ones, the call's own writes apply the users rule at
 * once, as the trigger would, instead of queuing an event per row.
 */
void
store_begin(void)
{
	LockedUser *lu;

	rows_open();
	lu = rows_call_set_owner(sizeof(LockedUser));
	ucol = columns_users(rows_get(ROWS_USERS)->rel);
	scol = columns_sessions(rows_get(ROWS_SESSIONS)->rel);
	ecol = columns_events(rows_get(ROWS_EVENTS)->rel);
	lu->events_direct = follow_events_fn != NULL &&
		rows_take_over_trigger(rows_get(ROWS_EVENTS), follow_events_fn);
	lu->sessions_direct = follow_sessions_fn != NULL &&
		rows_take_over_trigger(rows_get(ROWS_SESSIONS), follow_sessions_fn);
}

/* Write the locked user's row, if the triggers changed it, and close the tables. */
void
store_end(void)
{
	store_release_user();
	rows_close();
}

/* Is a call (store_begin .. store_end) running in this backend? */
bool
store_call_running(void)
{
	return rows_call_owner() != NULL;
}

/* The user's row is locked at tid: read with a snapshot taken now. */
static void
hold_user(const char *user_id, ItemPointer tid, bool drafted)
{
	LockedUser *lu = locked_user();

	Assert(lu->user_id == NULL);
	lu->tid = *tid;
	lu->drafted = drafted;
	lu->pending = false;
	lu->user_id = user_id;
	rows_begin_reading();
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

	store_release_user();
	rows_draft_clear(u);
	rows_set_text(u->draft, ucol->user_id, user_id);
	rows_set_int32(u->draft, ucol->online_sessions, 0);
	rows_set_bool(u->draft, ucol->online, false);
	rows_set_bool(u->draft, ucol->logged_out, false);
	rows_set_bool(u->draft, ucol->last_offline_logout, false);
	rows_set_time(u->draft, ucol->updated_at, true, GetCurrentTransactionStartTimestamp());
	if (rows_insert_draft_or_lock(u))
	{
		hold_user(user_id, &u->draft->tts_tid, true);
		return true;
	}
	hold_user(user_id, &u->found->tts_tid, false);
	return false;
}

/* Done with the locked user: write its row, once, if the triggers changed it. */
void
store_release_user(void)
{
	LockedUser *lu = locked_user();

	if (lu->user_id == NULL)
		return;
	if (lu->pending)
	{
		lu->pending = false;
		rows_update_at(rows_get(ROWS_USERS), &lu->tid);
	}
	rows_end_reading();
	lu->user_id = NULL;
}

/* The locked user's row as it stands now: as the triggers changed it, else as locked. */
static TupleTableSlot *
current_user_row(void)
{
	RowsTable  *u = rows_get(ROWS_USERS);

	Assert(locked_user()->user_id != NULL);
	return locked_user()->drafted ? u->draft : u->found;
}

/* The fields of the user's row in slot. */
static void
read_user(TupleTableSlot *slot, UserRow *row)
{
	bool		isnull;
	bool		none;

	row->online_sessions = DatumGetInt32(slot_getattr(slot, ucol->online_sessions, &isnull));
	row->online = DatumGetBool(slot_getattr(slot, ucol->online, &isnull));
	row->logged_out = DatumGetBool(slot_getattr(slot, ucol->logged_out, &isnull));
	row->last_offline_logout = DatumGetBool(slot_getattr(slot, ucol->last_offline_logout,
														 &isnull));
	row->last_online_at = rows_get_time(slot, ucol->last_online_at, &none);
	row->has_online_at = !none;
	row->last_offline_at = rows_get_time(slot, ucol->last_offline_at, &none);
	row->has_offline_at = !none;
	row->last_seen_at = rows_get_time(slot, ucol->last_seen_at, &none);
	row->has_seen_at = !none;
}

/*
 * The locked user's row as it stands now: as locked, or as the triggers
 * have changed it so far (they change it in memory while the lock is held).
 */
void
store_read_locked_user(UserRow *row)
{
	read_user(current_user_row(), row);
}

/* Set the fields of row in the user's row in slot, and its updated_at. */
static void
write_user(TupleTableSlot *slot, const UserRow *row)
{
	rows_set_int32(slot, ucol->online_sessions, row->online_sessions);
	rows_set_bool(slot, ucol->online, row->online);
	rows_set_bool(slot, ucol->logged_out, row->logged_out);
	rows_set_bool(slot, ucol->last_offline_logout, row->last_offline_logout);
	rows_set_time(slot, ucol->last_online_at, row->has_online_at, row->last_online_at);
	rows_set_time(slot, ucol->last_offline_at, row->has_offline_at, row->last_offline_at);
	rows_set_time(slot, ucol->last_seen_at, row->has_seen_at, row->last_seen_at);
	rows_set_time(slot, ucol->updated_at, true, GetCurrentTransactionStartTimestamp());
}

/* A change of a user's row, made by the users rule (session_rules.c). */
typedef void (*UserChange) (const char *user_id, UserRow *row, void *arg);

/*
 * Change the user's row by change.  When the running call holds this user's
 * lock (ingest, whose writes fired the trigger), the row in memory, which
 * store_release_user writes once; else in a call of its own, under the
 * user's row lock, as ingest takes it: every writer of presence.sessions and
 * presence.events goes through the same C rule.
 */
static void
change_user(const char *user_id, UserChange change, void *arg)
{
	LockedUser *lu = locked_user();
	bool		own = lu == NULL || lu->user_id == NULL || strcmp(lu->user_id, user_id) != 0;
	RowsTable  *u;
	UserRow		row;

	if (own)
	{
		store_begin();
		(void) store_lock_user(user_id);
		lu = locked_user();
	}
	u = rows_get(ROWS_USERS);
	if (!lu->drafted)
		rows_draft_from_found(u);
	lu->drafted = true;
	lu->pending = true;
	read_user(u->draft, &row);
	change(user_id, &row, arg);
	write_user(u->draft, &row);
	if (own)
		store_end();
}

/* Args of note_item. */
typedef struct NotedItem
{
	ItemStatus	status;
	TimestampTz time;
} NotedItem;

static void
note_item(const char *user_id, UserRow *row, void *arg)
{
	const NotedItem *item = arg;

	users_note_item(row, item->status, item->time);
}

/* A newly logged item of the user: raise the user's greatest times. */
void
store_user_note_item(const char *user_id, ItemStatus status, TimestampTz time)
{
	NotedItem	item = {.status = status, .time = time};

	change_user(user_id, note_item, &item);
}

static void
count_online(const char *user_id, UserRow *row, void *arg)
{
	if (!users_count_online(row, *(const int *) arg))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("presence.users count of online sessions would go negative"),
				 errdetail("A session row was changed outside the presence entry points."),
				 errhint("Run presence.check() to see which rows differ.")));
}

/* The user's online sessions moved by delta (0: only a session's end changed). */
void
store_user_count_online(const char *user_id, int delta)
{
	change_user(user_id, count_online, &delta);
}

/* Read the session into row; its table row stays in the sessions slot. */
void
store_read_session(const char *user_id, const char *session_id, SessionRow *row)
{
	RowsTable *t = rows_get(ROWS_SESSIONS);
	ScanKeyData keys[2];
	bool		isnull;
	char	   *state;
	int64		key;

	memset(row, 0, sizeof(SessionRow));
	rows_key_text(&keys[0], 1, user_id);
	rows_key_text(&keys[1], 2, session_id);
	if (!rows_lookup(t, keys, 2))
		return;
	row->exists = true;
	state = rows_get_text(t->found, scol->state);
	if (state == NULL || !session_state_from_name(state, &row->state))
		elog(ERROR, "presence: session has an unknown state");
	row->os = rows_get_text(t->found, scol->os);
	row->client_ip = rows_get_text(t->found, scol->client_ip);
	row->started_at = rows_get_time(t->found, scol->started_at, &isnull);
	row->has_started = !isnull;
	row->ended_at = rows_get_time(t->found, scol->ended_at, &isnull);
	row->has_ended = !isnull;
	row->last_event_at = rows_get_time(t->found, scol->last_event_at, &isnull);
	row->os_key = rows_get_int64(t->found, scol->os_key, &isnull);
	row->has_os_key = !isnull;
	key = rows_get_int64(t->found, scol->client_ip_key, &isnull);
	session_load_client_ip_key(row, !isnull, key);
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
 * row, for store_widen_event.  Only an item that may_be_logged is looked up:
 * for the others the caller knows it is new (an equal one would fail the
 * primary key).
 */
bool
store_insert_event(const EventRow *ev, bool may_be_logged, LoggedFields *known)
{
	RowsTable *t = rows_get(ROWS_EVENTS);
	TupleTableSlot *slot = t->draft;
	char		status_text[2] = {(char) ev->status, '\0'};

	if (may_be_logged && event_is_logged(ev, status_text))
	{
		known->os = rows_get_text(t->found, ecol->os);
		known->client_ip = rows_get_text(t->found, ecol->client_ip);
		return false;
	}
	rows_draft_clear(t);
	rows_set_text(slot, ecol->user_id, ev->user_id);
	rows_set_text(slot, ecol->session_id, ev->session_id);
	rows_set_time(slot, ecol->status_time, true, ev->status_time);
	rows_set_text(slot, ecol->status, status_text);
	rows_set_text(slot, ecol->event_id, ev->event_id);
	rows_set_time(slot, ecol->event_time, ev->has_event_time, ev->event_time);
	rows_set_int32(slot, ecol->item_no, ev->item_no);
	rows_set_text(slot, ecol->os, ev->os);
	rows_set_text(slot, ecol->client_ip, ev->client_ip);
	rows_set_time(slot, ecol->received_at, true, GetCurrentTransactionStartTimestamp());
	rows_set_text(slot, ecol->outcome, ev->stale ? "stale" : "applied");
	rows_insert_draft_later(t);
	if (locked_user()->events_direct)
		store_user_note_item(ev->user_id, ev->status, ev->status_time);
	return true;
}

/*
 * Give the item that store_insert_event found logged these os and client_ip
 * (a copy of it brought greater values, doc/rules.md section 3.3); call before any other
 * read of presence.events.
 */
void
store_widen_event(const LoggedFields *fields)
{
	RowsTable *t = rows_get(ROWS_EVENTS);

	rows_draft_from_found(t);
	rows_set_text(t->draft, ecol->os, fields->os);
	rows_set_text(t->draft, ecol->client_ip, fields->client_ip);
	rows_update_found(t);
}

/*
 * Write the session: insert it when it is new, else update the row that
 * store_read_session left in the sessions slot.  was_online: its state as
 * read was online.
 */
void
store_write_session(const char *user_id, const char *session_id,
					const SessionRow *row, bool is_new, bool was_online)
{
	RowsTable *t = rows_get(ROWS_SESSIONS);
	TupleTableSlot *slot = t->draft;
	int64_t		key;
	bool		stored;

	if (is_new)
	{
		rows_draft_clear(t);
		rows_set_text(slot, scol->user_id, user_id);
		rows_set_text(slot, scol->session_id, session_id);
	}
	else
		rows_draft_from_found(t);
	rows_set_text(slot, scol->state, session_state_name(row->state));
	rows_set_text(slot, scol->os, row->os);
	rows_set_text(slot, scol->client_ip, row->client_ip);
	rows_set_time(slot, scol->started_at, row->has_started, row->started_at);
	rows_set_time(slot, scol->ended_at, row->has_ended, row->ended_at);
	rows_set_time(slot, scol->last_event_at, true, row->last_event_at);
	rows_set_int64(slot, scol->os_key, row->has_os_key, row->os_key);
	stored = session_stored_client_ip_key(row, &key);
	rows_set_int64(slot, scol->client_ip_key, stored, key);
	rows_set_time(slot, scol->updated_at, true, GetCurrentTransactionStartTimestamp());
	if (is_new)
		rows_insert_draft_later(t);
	else
		rows_update_found(t);
	if (locked_user()->sessions_direct && (row->state == SESSION_ONLINE) != was_online)
		store_user_count_online(user_id, row->state == SESSION_ONLINE ? 1 : -1);
}

/* The retention horizon, read once for a call: -infinity until maintain() prunes. */
TimestampTz
store_load_horizon(void)
{
	static AttrNumber horizon_column;
	static const RowsColumn column = {"horizon", &horizon_column};
	static uint64 found_at;
	Datum		horizon;

	if (!rows_read_single(ROWS_RETENTION_STATE, &column, &found_at, &horizon))
		return DT_NOBEGIN;
	return DatumGetTimestampTz(horizon);
}

/* Every configured secret, read once for a call. */
SecretSet *
store_load_secrets(void)
{
	static SPIPlanPtr plan;
	SecretSet  *set = palloc(sizeof(SecretSet));

	plan_execute(plan_cached(&plan, "SELECT app_key, secret FROM presence.secrets", 0, NULL),
				 NULL, 0, NULL, 0);
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
draft_binding(RowsTable *t, const SignaturesColumns *gcol, const SignatureBinding *b)
{
	bytea	   *d = palloc(VARHDRSZ + BODY_DIGEST_LEN);

	SET_VARSIZE(d, VARHDRSZ + BODY_DIGEST_LEN);
	memcpy(VARDATA(d), b->digest, BODY_DIGEST_LEN);
	rows_draft_clear(t);
	rows_set_text(t->draft, gcol->nonce, b->nonce);
	rows_set_text(t->draft, gcol->sign_timestamp, b->sign_timestamp);
	rows_set_text(t->draft, gcol->signature, b->signature);
	t->draft->tts_values[gcol->body_sha256 - 1] = PointerGetDatum(d);
	t->draft->tts_isnull[gcol->body_sha256 - 1] = false;
	rows_set_time(t->draft, gcol->signed_at, true, b->signed_at);
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
	RowsTable  *t;
	const SignaturesColumns *gcol;

	if (n == 0)
		return;
	t = rows_get(ROWS_SIGNATURES);
	gcol = columns_signatures(t->rel);
	for (int i = 0; i < n; i++)
	{
		for (;;)
		{
			ScanKeyData keys[3];
			bool		isnull;
			bytea	   *stored;

			draft_binding(t, gcol, &b[i]);
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
			stored = DatumGetByteaPP(slot_getattr(t->found, gcol->body_sha256, &isnull));
			if (isnull || VARSIZE_ANY_EXHDR(stored) != BODY_DIGEST_LEN)
				elog(ERROR, "presence: a remembered signature has no body digest");
			memcpy(b[i].stored, VARDATA_ANY(stored), BODY_DIGEST_LEN);
			break;
		}
	}
}
