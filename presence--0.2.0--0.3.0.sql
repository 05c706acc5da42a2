/* presence--0.2.0--0.3.0.sql: upgrade a 0.2.0 installation to 0.3.0 */
--
-- There is no full script for 0.3.0: CREATE EXTENSION presence runs the
-- released presence--0.1.0.sql and the upgrade scripts after it, as
-- contrib/pg_stat_statements ships, so every SQL change is written once.
-- Each part of 0.3.0 adds its own section below, in the order of the topics
-- of doc/rules.md.

\echo Use "ALTER EXTENSION presence UPDATE TO '0.3.0'" to load this file. \quit

-- Each rule once, in C (doc/rules.md, "Contributing"): the order key of
-- items and the placement of users are the library's own functions, which
-- ingest and a router call, instead of second copies in SQL.  The same
-- names, arguments, results and volatility; a status other than "0", "1" or
-- "2" is now refused (22023) instead of giving a meaningless key.
CREATE OR REPLACE FUNCTION presence.item_key(status_time timestamptz, status text)
	RETURNS bigint
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'presence_item_key';
COMMENT ON FUNCTION presence.item_key(timestamptz, text) IS
	'The order of items as one bigint: microseconds since 2000-01-01 (clamped to +-2^60) times 4, plus the status; what presence.sessions.os_key and client_ip_key hold (session_item_key() in C).';

CREATE OR REPLACE FUNCTION presence.user_hash(user_id text) RETURNS integer
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'presence_user_hash';
COMMENT ON FUNCTION presence.user_hash(text) IS
	'The first 32 bits of md5(user_id) as a signed integer: the hash PL/Proxy masks to find a user''s partition (user_hash() in router.c).';

CREATE OR REPLACE FUNCTION presence.partition_of(user_id text, partitions integer) RETURNS integer
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'presence_partition_of';
COMMENT ON FUNCTION presence.partition_of(text, integer) IS
	'The partition (0 to partitions - 1, a power of two) that holds a user''s rows: user_hash(user_id) & (partitions - 1) (partition_of() in router.c).';

/*
 * Signatures (doc/rules.md section 4, contract section 11 as amended for 0.3.0).
 * The provider's status API and its webhooks share the secret and the formula
 * sha1(secret + nonce + timestamp), so presence-http binds the triple of each
 * status request it is about to send to a digest no body has (32 zero bytes):
 * replayed as a delivery's signature, with any body, it is a triple already
 * seen with another body and is refused.  The row ages out with the others.
 */
CREATE FUNCTION presence.bind_outgoing_signature(nonce text, sign_timestamp text, signature text)
	RETURNS void
	LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	INSERT INTO presence.seen_signatures (nonce, sign_timestamp, signature, body_sha256, signed_at)
	VALUES ($1, $2, $3, pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex'), pg_catalog.now());
$$;
COMMENT ON FUNCTION presence.bind_outgoing_signature(text, text, text) IS
	'Bind the triple of an outgoing status API request (presence-http) to a digest no body has, so that it never passes as a delivery''s signature.';
REVOKE ALL ON FUNCTION presence.bind_outgoing_signature(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.bind_outgoing_signature(text, text, text) TO presence_writer, presence_admin;
ALTER FUNCTION presence.bind_outgoing_signature(text, text, text) OWNER TO presence_owner;

/*
 * Read-only transactions (doc/rules.md section 5): every entry point that
 * writes refuses one with 25006 before it reads anything, as SQL's own
 * writes do (on a fenced primary or a hot standby); presence_reconcile() asks
 * the library's own check first, even for a user it would leave alone.
 */
CREATE FUNCTION presence.require_writable(entry text) RETURNS void
	LANGUAGE C VOLATILE STRICT
	AS 'MODULE_PATHNAME', 'presence_require_writable_sql';
COMMENT ON FUNCTION presence.require_writable(text) IS
	'Raise 25006 (cannot execute entry in a read-only transaction) unless the transaction may write: the check of every writing entry point (presence_require_writable() in C).';
REVOKE ALL ON FUNCTION presence.require_writable(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.require_writable(text) TO presence_owner;

/*
 * Ghost sessions (doc/rules.md section 11): a checked_at later than now() plus
 * the age window (presence.signature_max_age, 300 seconds when it is 0) is
 * refused with 22023; it would end sessions at a time no item has reached yet.
 * The window leaves room for the clocks of presence-http and the database.
 */
CREATE OR REPLACE FUNCTION @extschema@.presence_reconcile(user_id text, provider_online boolean,
														  checked_at timestamptz DEFAULT pg_catalog.now())
	RETURNS presence.ingest_result
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	age_window interval := pg_catalog.current_setting('presence.signature_max_age')::interval;
	r presence.ingest_result;
BEGIN
	PERFORM presence.require_writable('presence_reconcile()');
	IF age_window OPERATOR(pg_catalog.<=) '0'::interval THEN
		age_window := '300 seconds';
	END IF;
	IF presence_reconcile.checked_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.+) age_window) THEN
		RAISE EXCEPTION 'checked_at is in the future'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('checked_at %s is more than %s after now().', presence_reconcile.checked_at, age_window);
	END IF;
	WITH at AS (
		SELECT pg_catalog.floor(extract(epoch FROM presence_reconcile.checked_at) OPERATOR(pg_catalog.*) 1000)::bigint AS ms,
			   pg_catalog.date_trunc('milliseconds', presence_reconcile.checked_at) AS t),
	ghosts AS (
		SELECT pg_catalog.json_build_object('status', '1', 'userId', s.user_id,
											'sessionId', s.session_id, 'time', at.ms) AS item
		  FROM presence.sessions s, at
		 WHERE NOT presence_reconcile.provider_online
		   AND s.user_id OPERATOR(pg_catalog.=) presence_reconcile.user_id
		   AND s.state OPERATOR(pg_catalog.=) 'online'
		   AND s.last_event_at OPERATOR(pg_catalog.<) at.t),
	body AS (
		SELECT pg_catalog.json_build_object('type', 'user:connection_status', 'id', 'reconcile',
											'time', at.ms, 'data', pg_catalog.json_agg(g.item))::text AS b
		  FROM ghosts g, at
		 GROUP BY at.ms
		HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0)
	SELECT i.* INTO r FROM body, @extschema@.presence_ingest_unsigned(body.b) i;
	IF NOT FOUND THEN
		r := ROW(0, 0, 0, 0, 0);
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION @extschema@.presence_reconcile(text, boolean, timestamptz) IS
	'Apply the provider''s answer for a suspect: not online ends its sessions idle since before checked_at with a logged disconnect; a checked_at past now() plus the age window is 22023.';

/*
 * History (doc/rules.md section 10): online_counts() takes finite bounds and at
 * most 100000 steps per call (22023 otherwise); an infinite bound or a tiny step
 * over a long range had one call build an unbounded array of timestamps.
 */
CREATE OR REPLACE FUNCTION presence.online_counts(since timestamptz, until timestamptz, step interval)
	RETURNS TABLE (at timestamptz, users bigint, sessions bigint)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	SET work_mem = '64MB'
	AS $$
DECLARE
	steps timestamptz[];
BEGIN
	IF step <= '0'::interval THEN
		RAISE EXCEPTION 'step must be a positive interval' USING ERRCODE = '22023';
	END IF;
	IF NOT isfinite(online_counts.since) OR NOT isfinite(online_counts.until) THEN
		RAISE EXCEPTION 'since and until must be finite' USING ERRCODE = '22023';
	END IF;
	IF online_counts.since + online_counts.step * 100000 < online_counts.until THEN
		RAISE EXCEPTION 'too many steps'
			USING ERRCODE = '22023',
				  DETAIL = 'online_counts() answers at most 100000 steps in one call.',
				  HINT = 'Use a longer step or a shorter range.';
	END IF;
	SELECT array_agg(g ORDER BY g) INTO steps
	  FROM generate_series(online_counts.since, online_counts.until, online_counts.step) g
	 WHERE g < online_counts.until;
	IF steps IS NULL THEN
		RETURN;
	END IF;
	-- An interval [from, until) is online at the steps lo+1 .. hi: lo steps come
	-- before from, hi before until.
	RETURN QUERY
	WITH ranges AS (
		SELECT i.user_id,
			   width_bucket(i.online_from - '1 microsecond'::interval, steps) AS lo,
			   coalesce(width_bucket(i.online_until - '1 microsecond'::interval, steps),
						cardinality(steps)) AS hi
		  FROM presence.intervals(steps[1], online_counts.until) i),
	live AS (SELECT r.* FROM ranges r WHERE r.hi > r.lo),
	-- A user's devices count once: each range adds only the steps after those of
	-- the user's ranges that start before it.
	merged AS (
		SELECT greatest(m.lo, coalesce(m.before, m.lo)) AS lo, m.hi
		  FROM (SELECT l.lo, l.hi,
					   max(l.hi) OVER (PARTITION BY l.user_id ORDER BY l.lo, l.hi
									   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
				  FROM live l) m
		 WHERE m.before IS NULL OR m.hi > m.before),
	deltas AS (
		SELECT d.k, sum(d.u) AS u, sum(d.s) AS s
		  FROM (SELECT l.lo + 1 AS k, 0 AS u, 1 AS s FROM live l
				UNION ALL SELECT l.hi + 1, 0, -1 FROM live l
				UNION ALL SELECT m.lo + 1, 1, 0 FROM merged m
				UNION ALL SELECT m.hi + 1, -1, 0 FROM merged m) d
		 GROUP BY d.k)
	SELECT steps[n.k],
		   (sum(coalesce(d.u, 0)) OVER w)::bigint,
		   (sum(coalesce(d.s, 0)) OVER w)::bigint
	  FROM generate_series(1, cardinality(steps)) n(k)
	  LEFT JOIN deltas d ON d.k = n.k
	WINDOW w AS (ORDER BY n.k)
	 ORDER BY n.k;
END
$$;
COMMENT ON FUNCTION presence.online_counts(timestamptz, timestamptz, interval) IS
	'How many users and sessions were online at since, since + step, ... before until: the series a dashboard plots; finite bounds, at most 100000 steps.';

/*
 * Ghost sessions (doc/rules.md section 11): suspects() refuses a negative idle
 * (22023), which listed every online user, just connected or not.
 */
CREATE OR REPLACE FUNCTION presence.suspects(idle interval DEFAULT '1 hour', max integer DEFAULT 100)
	RETURNS TABLE (user_id text, online_sessions integer, last_event_at timestamptz)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF suspects.idle OPERATOR(pg_catalog.<) '0'::interval THEN
		RAISE EXCEPTION 'idle must not be negative' USING ERRCODE = '22023';
	END IF;
	RETURN QUERY
	SELECT u.user_id, u.online_sessions, u.last_seen_at
	  FROM presence.users u
	 WHERE u.online AND u.last_seen_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) suspects.idle)
	 ORDER BY u.last_seen_at, u.user_id
	 LIMIT suspects.max;
END
$$;
COMMENT ON FUNCTION presence.suspects(interval, integer) IS
	'Users online whose newest item is older than idle (not negative), oldest first: the ones to ask the provider about.';

/*
 * The live feed's channel and signature (doc/feed.md; issue 26).  The
 * settings presence.feed_channel and presence.feed_secret are superuser-only
 * and hidden from other roles; a consumer asks feed_channel() which channel
 * to LISTEN on (or which logical prefix to read), and presence_admin may read
 * the key that signs each message with feed_secret().
 */
CREATE FUNCTION presence.feed_channel(stream text DEFAULT 'users') RETURNS text
	LANGUAGE C STABLE STRICT
	AS '$libdir/presence', 'presence_feed_channel_of';
COMMENT ON FUNCTION presence.feed_channel(text) IS
	'The NOTIFY channel and logical decoding prefix of a stream of the live feed: users (presence.feed_channel) or rooms (presence.feed_channel with _rooms appended).';
REVOKE ALL ON FUNCTION presence.feed_channel(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.feed_channel(text) TO presence_reader, presence_admin;

CREATE FUNCTION presence.feed_secret() RETURNS text
	LANGUAGE C STABLE
	AS '$libdir/presence', 'presence_feed_secret_value';
COMMENT ON FUNCTION presence.feed_secret() IS
	'The key of the HMAC-SHA256 signature of every feed message (presence.feed_secret), null when none is set; presence_admin only.';
REVOKE ALL ON FUNCTION presence.feed_secret() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.feed_secret() TO presence_admin;

/*
 * The offline grace (presence.offline_grace, doc/feed.md): with a grace set,
 * ingest queues a user's online: false message here instead of sending it,
 * in the same transaction, and the database's grace worker sends it at
 * due_at, deleting the row in the transaction that sends it; a connect
 * before then deletes the row and sends nothing.  Dumped with the data: a
 * restore without it would leave the offlines queued at the dump never
 * sent (a listener's green dot that never goes out); restored, the worker
 * sends them at once, their deadlines being past.
 */
CREATE TABLE presence.pending_offlines (
	user_id text COLLATE "C" PRIMARY KEY,
	due_at timestamptz NOT NULL,
	feed text NOT NULL CHECK (feed IN ('notify', 'logical')),
	channel text NOT NULL
);
CREATE INDEX pending_offlines_due_at ON presence.pending_offlines (due_at);
COMMENT ON INDEX presence.pending_offlines_due_at IS
	'The grace worker''s next deadline and the offlines due, without reading the whole queue.';
COMMENT ON TABLE presence.pending_offlines IS
	'The online: false feed messages held back by presence.offline_grace, one per user, sent by the grace worker at due_at.';
COMMENT ON COLUMN presence.pending_offlines.due_at IS
	'When the message is sent if the user is still offline: the offline''s ingest time plus the grace.';
COMMENT ON COLUMN presence.pending_offlines.feed IS
	'The presence.feed of the ingest that queued it (notify or logical), which the worker sends it with.';
COMMENT ON COLUMN presence.pending_offlines.channel IS
	'The presence.feed_channel of the ingest that queued it, which the worker sends it on.';
SELECT pg_catalog.pg_extension_config_dump('presence.pending_offlines', '');
REVOKE ALL ON presence.pending_offlines FROM PUBLIC;
GRANT SELECT ON presence.pending_offlines TO presence_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON presence.pending_offlines TO presence_admin;
ALTER TABLE presence.pending_offlines OWNER TO presence_owner;

-- What a UI shows: presence.users, a user offline for less than the grace still online.
CREATE VIEW presence.users_stable AS
	SELECT u.user_id, u.online_sessions,
		   u.online OR EXISTS (SELECT FROM presence.pending_offlines p
								WHERE p.user_id OPERATOR(pg_catalog.=) u.user_id
								  AND p.due_at OPERATOR(pg_catalog.>) pg_catalog.now()) AS online,
		   u.last_online_at, u.last_offline_at, u.last_seen_at, u.logged_out, u.updated_at
	  FROM presence.users u;
COMMENT ON VIEW presence.users_stable IS
	'presence.users as the damped feed tells it: online true also for a user offline for less than presence.offline_grace (a pending offline).';
REVOKE ALL ON presence.users_stable FROM PUBLIC;
GRANT SELECT ON presence.users_stable TO presence_reader, presence_admin;
ALTER VIEW presence.users_stable OWNER TO presence_owner;
