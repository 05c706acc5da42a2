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
 * Rooms (doc/rules.md section 14): who is in each chat room, from the
 * provider's open_channel:operation items.  ingest (room_apply.c) hands each
 * room's items of a call to presence.apply_room_items() at once, after the
 * call's status items, rooms in byte order of room_id: the room's row is
 * locked first, and it guards every membership of the room, so concurrent
 * calls neither deadlock nor lose a count.  Ids compare byte-wise (COLLATE
 * "C"), as the users' do and as ingest sorts them.
 */
CREATE TABLE presence.rooms (
	room_id text COLLATE "C" PRIMARY KEY,
	members integer NOT NULL DEFAULT 0 CHECK (members >= 0),
	created_at timestamptz,
	destroyed_at timestamptz,
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE presence.rooms IS
	'One row per room any room item named: members (exactly the room_members rows in state in), the greatest create, and the greatest destroy unless a create or join is later.';

CREATE TABLE presence.room_members (
	room_id text COLLATE "C" NOT NULL,
	user_id text COLLATE "C" NOT NULL,
	state text NOT NULL CHECK (state IN ('in', 'out')),
	joined_at timestamptz,
	left_at timestamptz,
	left_reason text CHECK (left_reason IN ('left', 'auto_exited', 'banned', 'destroyed')),
	last_event_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user_id ON presence.room_members (user_id);
COMMENT ON INDEX presence.room_members_user_id IS 'presence.user_rooms(): a user''s memberships.';
COMMENT ON TABLE presence.room_members IS
	'One row per (room, user) a join, a leave or a destroy named: in or out by the greatest item (at one time a leave beats a join), the greatest join, and the greatest leave with its reason.';

CREATE TABLE presence.room_events (
	room_id text COLLATE "C" NOT NULL,
	user_id text COLLATE "C" NOT NULL,
	operation_type smallint NOT NULL CHECK (operation_type BETWEEN 0 AND 3),
	item_time timestamptz NOT NULL,
	status smallint NOT NULL CHECK (status BETWEEN 0 AND 3),
	event_id text,
	event_time timestamptz,
	item_no integer NOT NULL,
	received_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	outcome text NOT NULL CHECK (outcome IN ('applied', 'stale')),
	PRIMARY KEY (room_id, user_id, operation_type, item_time)
);
CREATE INDEX room_events_room_operation ON presence.room_events (room_id, operation_type, item_time);
CREATE INDEX room_events_item_time ON presence.room_events (item_time);
COMMENT ON INDEX presence.room_events_room_operation IS
	'A room''s greatest join and destroy (apply_room_items(), check_rooms()).';
COMMENT ON INDEX presence.room_events_item_time IS 'Retention: the room items older than the horizon.';
COMMENT ON TABLE presence.room_events IS
	'The log of every distinct room item (one row per user an item names; user_id '''' for a create or destroy), keyed (room, user, operation, time), with its outcome.';

SELECT pg_catalog.pg_extension_config_dump('presence.rooms', '');
SELECT pg_catalog.pg_extension_config_dump('presence.room_members', '');
SELECT pg_catalog.pg_extension_config_dump('presence.room_events', '');
ALTER TABLE presence.rooms OWNER TO presence_owner;
ALTER TABLE presence.room_members OWNER TO presence_owner;
ALTER TABLE presence.room_events OWNER TO presence_owner;
GRANT SELECT ON presence.rooms, presence.room_members, presence.room_events TO presence_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON presence.rooms, presence.room_members, presence.room_events
	TO presence_admin;

-- The ISO 8601 UTC text with milliseconds the feed uses for a time, as JSON; null when unknown.
CREATE FUNCTION presence.feed_time(t timestamptz) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce(pg_catalog.to_json(pg_catalog.to_char(t AT TIME ZONE 'UTC',
								'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))::text, 'null')
$$;
COMMENT ON FUNCTION presence.feed_time(timestamptz) IS
	'A time as the feed writes it: JSON text of ISO 8601 in UTC with milliseconds, or null.';

-- Which of two leaves wins at the same time: destroyed > banned > auto_exited > left.
CREATE FUNCTION presence.leave_rank(reason text) RETURNS integer
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE reason WHEN 'left' THEN 1 WHEN 'auto_exited' THEN 2 WHEN 'banned' THEN 3
					   WHEN 'destroyed' THEN 4 END
$$;
COMMENT ON FUNCTION presence.leave_rank(text) IS
	'The order of leave reasons at one time (destroyed > banned > auto_exited > left), so the reason kept never depends on the order items arrive in.';

/*
 * Apply one call's items of one room (doc/rules.md section 14), given one
 * element per user an item names (user '' for a create or a destroy).
 * Returns one outcome character per element (a applied, d duplicate, s
 * stale) and, with feed, the feed messages of the memberships whose state
 * the call changed.  Called by ingest only (room_apply.c).
 */
CREATE FUNCTION presence.apply_room_items(p_room text, p_users text[], p_operations smallint[],
										  p_statuses smallint[], p_times timestamptz[],
										  p_event_ids text[], p_event_times timestamptz[],
										  p_item_nos integer[], p_feed boolean,
										  OUT outcomes text, OUT feed text[])
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r presence.rooms;
	m presence.room_members;
	n presence.room_members;
	u text;
	t timestamptz;
	op smallint;
	reason text;
	d timestamptz;
	g timestamptz;
	room_changed boolean := false;
	changed boolean;
	delta integer := 0;
	dropped integer;
	touched text[] := '{}';
	touched_before text[] := '{}';
	hit_users text[];
	hit_states text[];
BEGIN
	outcomes := '';
	INSERT INTO presence.rooms (room_id) VALUES (p_room) ON CONFLICT (room_id) DO NOTHING;
	SELECT * INTO STRICT r FROM presence.rooms WHERE room_id OPERATOR(pg_catalog.=) p_room FOR UPDATE;
	FOR i IN 1 .. pg_catalog.cardinality(p_operations) LOOP
		u := p_users[i];
		op := p_operations[i];
		t := p_times[i];
		-- Copies of an item agree on its key; the one with the greater status decides.
		INSERT INTO presence.room_events AS e (room_id, user_id, operation_type, item_time, status,
											   event_id, event_time, item_no, outcome)
		VALUES (p_room, u, op, t, p_statuses[i], p_event_ids[i], p_event_times[i], p_item_nos[i], 'applied')
		ON CONFLICT (room_id, user_id, operation_type, item_time) DO NOTHING;
		IF NOT FOUND THEN
			UPDATE presence.room_events e SET status = p_statuses[i]
			 WHERE e.room_id OPERATOR(pg_catalog.=) p_room AND e.user_id OPERATOR(pg_catalog.=) u
			   AND e.operation_type OPERATOR(pg_catalog.=) op AND e.item_time OPERATOR(pg_catalog.=) t
			   AND e.status OPERATOR(pg_catalog.<) p_statuses[i];
			outcomes := outcomes || 'd';
			IF NOT FOUND OR op <> 2 THEN
				CONTINUE;
			END IF;
		END IF;
		changed := false;
		IF op IN (0, 1) THEN
			-- A create or a join later than the greatest destroy opens the room again.
			IF r.destroyed_at IS NOT NULL AND t > r.destroyed_at THEN
				r.destroyed_at := NULL;
				changed := true;
			END IF;
			IF op = 0 AND (r.created_at IS NULL OR t > r.created_at) THEN
				r.created_at := t;
				changed := true;
			END IF;
		END IF;
		IF op = 3 AND (r.destroyed_at IS NULL OR t > r.destroyed_at) THEN
			SELECT max(e.item_time) INTO g FROM presence.room_events e
			 WHERE e.room_id OPERATOR(pg_catalog.=) p_room AND e.operation_type OPERATOR(pg_catalog.=) 1;
			SELECT max(e.item_time) INTO d FROM presence.room_events e
			 WHERE e.room_id OPERATOR(pg_catalog.=) p_room AND e.operation_type OPERATOR(pg_catalog.=) 3;
			g := greatest(g, r.created_at);
			IF g IS NULL OR d >= g THEN
				r.destroyed_at := d;
				changed := true;
			END IF;
		END IF;
		IF op IN (1, 2) THEN
			SELECT * INTO m FROM presence.room_members x
			 WHERE x.room_id OPERATOR(pg_catalog.=) p_room AND x.user_id OPERATOR(pg_catalog.=) u;
			n := m;
			IF NOT FOUND THEN
				n := ROW(p_room, u, 'out', NULL, NULL, NULL, t, pg_catalog.now());
			END IF;
			n.last_event_at := greatest(n.last_event_at, t);
			IF op = 1 THEN
				n.joined_at := greatest(n.joined_at, t);
				-- The greatest destroy at or after the join acts as a leave.
				SELECT max(e.item_time) INTO d FROM presence.room_events e
				 WHERE e.room_id OPERATOR(pg_catalog.=) p_room AND e.user_id OPERATOR(pg_catalog.=) ''
				   AND e.operation_type OPERATOR(pg_catalog.=) 3 AND e.item_time OPERATOR(pg_catalog.>=) t;
				reason := 'destroyed';
			ELSE
				d := t;
				SELECT CASE e.status WHEN 0 THEN 'left' WHEN 1 THEN 'auto_exited' WHEN 2 THEN 'banned'
						ELSE 'destroyed' END INTO reason
				  FROM presence.room_events e
				 WHERE e.room_id OPERATOR(pg_catalog.=) p_room AND e.user_id OPERATOR(pg_catalog.=) u
				   AND e.operation_type OPERATOR(pg_catalog.=) 2 AND e.item_time OPERATOR(pg_catalog.=) t;
			END IF;
			IF d IS NOT NULL THEN
				n.last_event_at := greatest(n.last_event_at, d);
				IF n.left_at IS NULL OR d > n.left_at OR
				   (d = n.left_at AND presence.leave_rank(reason) > presence.leave_rank(n.left_reason)) THEN
					n.left_at := d;
					n.left_reason := reason;
				END IF;
			END IF;
			n.state := CASE WHEN n.joined_at IS NOT NULL AND (n.left_at IS NULL OR n.joined_at > n.left_at)
							THEN 'in' ELSE 'out' END;
			IF m.room_id IS NULL THEN
				INSERT INTO presence.room_members VALUES (n.*);
				changed := true;
			ELSIF (n.state, n.joined_at, n.left_at, n.left_reason, n.last_event_at) IS DISTINCT FROM
				  (m.state, m.joined_at, m.left_at, m.left_reason, m.last_event_at) THEN
				UPDATE presence.room_members x
				   SET state = n.state, joined_at = n.joined_at, left_at = n.left_at,
					   left_reason = n.left_reason, last_event_at = n.last_event_at,
					   updated_at = pg_catalog.now()
				 WHERE x.room_id OPERATOR(pg_catalog.=) p_room AND x.user_id OPERATOR(pg_catalog.=) u;
				changed := true;
			END IF;
			delta := delta + (n.state = 'in')::integer - (coalesce(m.state, 'out') = 'in')::integer;
			IF p_feed THEN
				touched := touched || u;
				touched_before := touched_before || coalesce(m.state, 'out');
			END IF;
		ELSIF op = 3 THEN
			-- Every membership with a join at or before the destroy leaves at it:
			-- one pass over the room's members, one index probe each.
			WITH hit AS (
				SELECT x.user_id, x.state AS before
				  FROM presence.room_members x
				 WHERE x.room_id OPERATOR(pg_catalog.=) p_room
				   AND (x.left_at IS NULL OR x.left_at < t OR
						(x.left_at = t AND x.left_reason <> 'destroyed') OR x.last_event_at < t)
				   AND (x.joined_at <= t OR EXISTS (
						SELECT 1 FROM presence.room_events e
						 WHERE e.room_id OPERATOR(pg_catalog.=) p_room
						   AND e.user_id OPERATOR(pg_catalog.=) x.user_id
						   AND e.operation_type OPERATOR(pg_catalog.=) 1
						   AND e.item_time OPERATOR(pg_catalog.<=) t))
				   FOR UPDATE),
			upd AS (
				UPDATE presence.room_members x
				   SET left_at = greatest(x.left_at, t),
					   left_reason = CASE WHEN x.left_at IS NULL OR t >= x.left_at THEN 'destroyed'
										  ELSE x.left_reason END,
					   last_event_at = greatest(x.last_event_at, t),
					   state = CASE WHEN x.joined_at > greatest(x.left_at, t) THEN 'in' ELSE 'out' END,
					   updated_at = pg_catalog.now()
				  FROM hit
				 WHERE x.room_id OPERATOR(pg_catalog.=) p_room AND x.user_id OPERATOR(pg_catalog.=) hit.user_id
				RETURNING x.user_id, hit.before, x.state)
			SELECT pg_catalog.array_agg(upd.user_id), pg_catalog.array_agg(upd.before),
				   pg_catalog.count(*) FILTER (WHERE upd.before = 'in' AND upd.state = 'out')
			  INTO hit_users, hit_states, dropped
			  FROM upd;
			IF hit_users IS NOT NULL THEN
				changed := true;
				delta := delta - dropped;
				IF p_feed THEN
					touched := touched || hit_users;
					touched_before := touched_before || hit_states;
				END IF;
			END IF;
		END IF;
		room_changed := room_changed OR changed;
		IF substr(outcomes, i, 1) = 'd' THEN
			CONTINUE;
		ELSIF changed THEN
			outcomes := outcomes || 'a';
		ELSE
			outcomes := outcomes || 's';
			UPDATE presence.room_events e SET outcome = 'stale'
			 WHERE e.room_id OPERATOR(pg_catalog.=) p_room AND e.user_id OPERATOR(pg_catalog.=) u
			   AND e.operation_type OPERATOR(pg_catalog.=) op AND e.item_time OPERATOR(pg_catalog.=) t;
		END IF;
	END LOOP;
	IF room_changed THEN
		UPDATE presence.rooms x
		   SET members = x.members + delta, created_at = r.created_at, destroyed_at = r.destroyed_at,
			   updated_at = pg_catalog.now()
		 WHERE x.room_id OPERATOR(pg_catalog.=) p_room
		RETURNING x.* INTO r;
	END IF;
	IF p_feed THEN
		SELECT pg_catalog.array_agg(pg_catalog.format(
				'{"room_id": %s, "user_id": %s, "state": "%s", "members": %s, "joined_at": %s, "left_at": %s, "left_reason": %s}',
				pg_catalog.to_json(p_room), pg_catalog.to_json(x.user_id), x.state, r.members,
				presence.feed_time(x.joined_at), presence.feed_time(x.left_at),
				coalesce(pg_catalog.to_json(x.left_reason)::text, 'null')) ORDER BY x.user_id)
		  INTO feed
		  FROM (SELECT DISTINCT ON (b.u) b.u, b.s FROM unnest(touched, touched_before) WITH ORDINALITY b(u, s, k)
				 ORDER BY b.u, b.k) b
		  JOIN presence.room_members x ON x.room_id OPERATOR(pg_catalog.=) p_room
									  AND x.user_id OPERATOR(pg_catalog.=) b.u
		 WHERE x.state <> b.s;
	END IF;
END
$$;
COMMENT ON FUNCTION presence.apply_room_items(text, text[], smallint[], smallint[], timestamptz[],
											  text[], timestamptz[], integer[], boolean) IS
	'Apply one call''s items of one room under the room''s row lock (ingest only): one outcome character per element (a, d, s) and the feed messages of the memberships whose state changed.';
REVOKE ALL ON FUNCTION presence.apply_room_items(text, text[], smallint[], smallint[], timestamptz[],
												 text[], timestamptz[], integer[], boolean) FROM PUBLIC;
ALTER FUNCTION presence.apply_room_items(text, text[], smallint[], smallint[], timestamptz[],
										 text[], timestamptz[], integer[], boolean) OWNER TO presence_owner;

/*
 * Rooms' part of presence.check(): every room and membership field that
 * differs from what the kept room items say it must be.  A field whose
 * items are all pruned (older than the horizon) is taken as stored; members
 * is always exactly the number of memberships in state in.
 */
CREATE FUNCTION presence.check_rooms()
	RETURNS TABLE (user_id text, session_id text, field text, stored text, expected text)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH destroys AS (
		SELECT e.room_id, e.item_time FROM presence.room_events e WHERE e.operation_type = 3),
	-- Each membership's kept joins and leaves, and the kept destroys that act on it.
	acts AS (
		SELECT e.room_id, e.user_id, e.operation_type AS op, e.item_time AS t,
			   CASE e.status WHEN 0 THEN 'left' WHEN 1 THEN 'auto_exited' WHEN 2 THEN 'banned'
							 ELSE 'destroyed' END AS reason
		  FROM presence.room_events e WHERE e.operation_type IN (1, 2)
		UNION ALL
		SELECT m.room_id, m.user_id, 2, d.item_time, 'destroyed'
		  FROM presence.room_members m
		  JOIN destroys d ON d.room_id = m.room_id
		 WHERE m.joined_at <= d.item_time
			OR EXISTS (SELECT 1 FROM presence.room_events j
						WHERE j.room_id = m.room_id AND j.user_id = m.user_id
						  AND j.operation_type = 1 AND j.item_time <= d.item_time)),
	folded AS (
		SELECT a.room_id, a.user_id,
			   max(a.t) FILTER (WHERE a.op = 1) AS joined_at,
			   (array_agg(a.t ORDER BY a.t DESC, presence.leave_rank(a.reason) DESC)
					FILTER (WHERE a.op = 2))[1] AS left_at,
			   (array_agg(a.reason ORDER BY a.t DESC, presence.leave_rank(a.reason) DESC)
					FILTER (WHERE a.op = 2))[1] AS left_reason,
			   max(a.t) AS last_event_at
		  FROM acts a GROUP BY a.room_id, a.user_id),
	m AS (
		SELECT coalesce(s.room_id, f.room_id) AS room_id, coalesce(s.user_id, f.user_id) AS user_id,
			   s.state, s.joined_at, s.left_at, s.left_reason, s.last_event_at,
			   coalesce(f.joined_at, s.joined_at) AS want_joined_at,
			   coalesce(f.left_at, s.left_at) AS want_left_at,
			   CASE WHEN f.left_at IS NOT NULL THEN f.left_reason ELSE s.left_reason END AS want_left_reason,
			   greatest(f.last_event_at, s.last_event_at) AS want_last_event_at
		  FROM presence.room_members s
		  FULL JOIN folded f ON f.room_id = s.room_id AND f.user_id = s.user_id),
	mf AS (
		SELECT m.room_id, m.user_id,
			   ARRAY[m.state, m.joined_at::text, m.left_at::text, m.left_reason, m.last_event_at::text] AS got,
			   ARRAY[CASE WHEN m.want_joined_at IS NOT NULL
						   AND (m.want_left_at IS NULL OR m.want_joined_at > m.want_left_at)
						  THEN 'in' ELSE 'out' END,
					 m.want_joined_at::text, m.want_left_at::text, m.want_left_reason,
					 m.want_last_event_at::text] AS want
		  FROM m),
	r AS (
		SELECT coalesce(x.room_id, c.room_id) AS room_id,
			   ARRAY[x.members::text, x.created_at::text, x.destroyed_at::text] AS got,
			   ARRAY[coalesce(c.members, 0)::text,
					 coalesce(k.created_at, x.created_at)::text,
					 CASE WHEN k.destroyed_at IS NULL THEN x.destroyed_at
						  WHEN k.destroyed_at >= greatest(k.created_at, x.created_at, k.joined_at)
							   OR greatest(k.created_at, x.created_at, k.joined_at) IS NULL
						  THEN k.destroyed_at END::text] AS want
		  FROM presence.rooms x
		  FULL JOIN (SELECT s.room_id, count(*) FILTER (WHERE s.state = 'in') AS members
					   FROM presence.room_members s GROUP BY s.room_id) c ON c.room_id = x.room_id
		  LEFT JOIN (SELECT e.room_id,
							max(e.item_time) FILTER (WHERE e.operation_type = 0) AS created_at,
							max(e.item_time) FILTER (WHERE e.operation_type = 1) AS joined_at,
							max(e.item_time) FILTER (WHERE e.operation_type = 3) AS destroyed_at
					   FROM presence.room_events e GROUP BY e.room_id) k
			ON k.room_id = coalesce(x.room_id, c.room_id))
	SELECT NULL::text, NULL::text, pg_catalog.format('rooms[%s].%s', r.room_id, f.name), r.got[f.i], r.want[f.i]
	  FROM r, unnest(ARRAY['members', 'created_at', 'destroyed_at']) WITH ORDINALITY AS f(name, i)
	 WHERE r.got[f.i] IS DISTINCT FROM r.want[f.i]
	UNION ALL
	SELECT mf.user_id, NULL::text, pg_catalog.format('room_members[%s].%s', mf.room_id, f.name),
		   mf.got[f.i], mf.want[f.i]
	  FROM mf, unnest(ARRAY['state', 'joined_at', 'left_at', 'left_reason', 'last_event_at'])
				WITH ORDINALITY AS f(name, i)
	 WHERE mf.got[f.i] IS DISTINCT FROM mf.want[f.i]
$$;
COMMENT ON FUNCTION presence.check_rooms() IS
	'The rooms part of presence.check(): room and membership fields that differ from what the kept room items say; no rows means all is well.';
GRANT EXECUTE ON FUNCTION presence.check_rooms() TO presence_reader, presence_admin;
ALTER FUNCTION presence.check_rooms() OWNER TO presence_owner;

ALTER FUNCTION presence.check() RENAME TO check_users;
COMMENT ON FUNCTION presence.check_users() IS
	'The users part of presence.check(): stored user and session fields that differ from what presence.events and presence.sessions say; no rows means all is well.';
CREATE FUNCTION presence.check()
	RETURNS TABLE (user_id text, session_id text, field text, stored text, expected text)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT c.* FROM (SELECT * FROM presence.check_users() UNION ALL SELECT * FROM presence.check_rooms()) c
	 ORDER BY 1, 2 NULLS FIRST, 3
$$;
COMMENT ON FUNCTION presence.check() IS
	'Every stored field of users, sessions, rooms and memberships that differs from what the items say it must be; no rows means all is well.';
GRANT EXECUTE ON FUNCTION presence.check() TO presence_reader, presence_admin;

/* Rooms' reads (doc/rules.md section 14), for presence_reader. */
CREATE FUNCTION presence.room_online(room_id text)
	RETURNS TABLE (user_id text, online_sessions integer, joined_at timestamptz, last_seen_at timestamptz)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	-- On a router (presence_router) the room's members and their users live on
	-- partitions: presence.cluster_room_online() gathers them.
	IF EXISTS (SELECT FROM pg_catalog.pg_foreign_server s
				WHERE s.srvname OPERATOR(pg_catalog.=) 'presence_cluster') THEN
		RETURN QUERY EXECUTE 'SELECT * FROM presence.cluster_room_online($1)' USING room_online.room_id;
		RETURN;
	END IF;
	RETURN QUERY
	SELECT m.user_id, u.online_sessions, m.joined_at, u.last_seen_at
	  FROM presence.room_members m
	  JOIN presence.users u ON u.user_id OPERATOR(pg_catalog.=) m.user_id
	 WHERE m.room_id OPERATOR(pg_catalog.=) room_online.room_id AND m.state OPERATOR(pg_catalog.=) 'in'
	   AND u.online
	 ORDER BY m.user_id;
END
$$;
COMMENT ON FUNCTION presence.room_online(text) IS
	'The members in the room who are online now, with their online session count.';

CREATE FUNCTION presence.user_rooms(user_id text)
	RETURNS TABLE (room_id text, joined_at timestamptz, members integer)
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT m.room_id, m.joined_at, r.members
	  FROM presence.room_members m
	  JOIN presence.rooms r ON r.room_id OPERATOR(pg_catalog.=) m.room_id
	 WHERE m.user_id OPERATOR(pg_catalog.=) user_rooms.user_id AND m.state OPERATOR(pg_catalog.=) 'in'
	 ORDER BY m.room_id
$$;
COMMENT ON FUNCTION presence.user_rooms(text) IS
	'The rooms the user is in now, with when the user joined and the room''s member count.';

CREATE FUNCTION presence.room_history(room_id text, since timestamptz, until timestamptz)
	RETURNS TABLE (user_id text, joined_at timestamptz, left_at timestamptz, left_reason text)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF NOT isfinite(room_history.since) OR NOT isfinite(room_history.until) THEN
		RAISE EXCEPTION 'since and until must be finite' USING ERRCODE = '22023';
	END IF;
	-- A membership's kept items in (time, kind) order, a leave after a join at one
	-- time; a destroy is a leave of each membership with a join at or before it.
	RETURN QUERY
	WITH acts AS (
		SELECT e.user_id, e.item_time AS t, e.operation_type AS op,
			   CASE e.status WHEN 0 THEN 'left' WHEN 1 THEN 'auto_exited' WHEN 2 THEN 'banned'
							 ELSE 'destroyed' END AS reason
		  FROM presence.room_events e
		 WHERE e.room_id = room_history.room_id AND e.operation_type IN (1, 2)
		UNION ALL
		SELECT m.user_id, d.item_time, 2, 'destroyed'
		  FROM presence.room_members m
		  JOIN presence.room_events d ON d.room_id = m.room_id AND d.user_id = ''
									 AND d.operation_type = 3
		 WHERE m.room_id = room_history.room_id
		   AND EXISTS (SELECT 1 FROM presence.room_events j
						WHERE j.room_id = m.room_id AND j.user_id = m.user_id
						  AND j.operation_type = 1 AND j.item_time <= d.item_time)),
	walked AS (
		SELECT a.*, count(*) FILTER (WHERE a.op = 2)
					 OVER (PARTITION BY a.user_id ORDER BY a.t, a.op, presence.leave_rank(a.reason)
						   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS run
		  FROM acts a),
	runs AS (
		SELECT w.user_id, w.run,
			   min(w.t) FILTER (WHERE w.op = 1) AS joined_at
		  FROM walked w GROUP BY w.user_id, w.run),
	ends AS (
		-- The leave that ends run r is the first leave counted after it.
		SELECT DISTINCT ON (w.user_id, w.run) w.user_id, w.run, w.t, w.reason
		  FROM walked w WHERE w.op = 2
		 ORDER BY w.user_id, w.run, w.t DESC, presence.leave_rank(w.reason) DESC)
	SELECT r.user_id, r.joined_at, e.t, e.reason
	  FROM runs r
	  LEFT JOIN ends e ON e.user_id = r.user_id AND e.run = r.run
	 WHERE r.joined_at IS NOT NULL
	   AND r.joined_at < room_history.until
	   AND (e.t IS NULL OR e.t > room_history.since)
	 ORDER BY 2, 1;
END
$$;
COMMENT ON FUNCTION presence.room_history(text, timestamptz, timestamptz) IS
	'The room''s membership intervals overlapping [since, until) (finite bounds), one row per interval; left_at and left_reason NULL while the member is in.';
GRANT EXECUTE ON FUNCTION presence.room_online(text), presence.user_rooms(text),
	presence.room_history(text, timestamptz, timestamptz) TO presence_reader, presence_admin;
ALTER FUNCTION presence.room_online(text) OWNER TO presence_owner;
ALTER FUNCTION presence.user_rooms(text) OWNER TO presence_owner;
ALTER FUNCTION presence.room_history(text, timestamptz, timestamptz) OWNER TO presence_owner;
ALTER FUNCTION presence.feed_time(timestamptz) OWNER TO presence_owner;
ALTER FUNCTION presence.leave_rank(text) OWNER TO presence_owner;

/*
 * Retention of rooms (doc/rules.md sections 8 and 14): presence.prune_rooms()
 * takes rooms after after_room in byte order, each under its row lock (the
 * lock ingest takes), until about max_items items are gone, and removes
 * their items older than the horizon, their memberships ended (out) before
 * it, and a room left with neither; members never moves (only out rows go).
 */
CREATE FUNCTION presence.prune_rooms(horizon timestamptz, after_room text, max_items integer,
									 OUT last_room text, OUT items bigint, OUT memberships bigint,
									 OUT rooms bigint)
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	room text;
	n bigint;
BEGIN
	items := 0;
	memberships := 0;
	rooms := 0;
	FOR room IN
		SELECT x.room_id FROM presence.rooms x
		 WHERE (x.room_id COLLATE "C") OPERATOR(pg_catalog.>) prune_rooms.after_room
		 ORDER BY x.room_id COLLATE "C"
	LOOP
		PERFORM 1 FROM presence.rooms x WHERE x.room_id OPERATOR(pg_catalog.=) room FOR UPDATE;
		DELETE FROM presence.room_events e
		 WHERE e.room_id OPERATOR(pg_catalog.=) room AND e.item_time OPERATOR(pg_catalog.<) prune_rooms.horizon;
		GET DIAGNOSTICS n = ROW_COUNT;
		items := items + n;
		DELETE FROM presence.room_members m
		 WHERE m.room_id OPERATOR(pg_catalog.=) room AND m.state OPERATOR(pg_catalog.=) 'out'
		   AND m.last_event_at OPERATOR(pg_catalog.<) prune_rooms.horizon;
		GET DIAGNOSTICS n = ROW_COUNT;
		memberships := memberships + n;
		DELETE FROM presence.rooms x
		 WHERE x.room_id OPERATOR(pg_catalog.=) room
		   AND NOT EXISTS (SELECT 1 FROM presence.room_members m WHERE m.room_id OPERATOR(pg_catalog.=) room)
		   AND NOT EXISTS (SELECT 1 FROM presence.room_events e WHERE e.room_id OPERATOR(pg_catalog.=) room);
		GET DIAGNOSTICS n = ROW_COUNT;
		rooms := rooms + n;
		last_room := room;
		EXIT WHEN items + memberships >= prune_rooms.max_items;
	END LOOP;
END
$$;
COMMENT ON FUNCTION presence.prune_rooms(timestamptz, text, integer) IS
	'Prune the room items older than horizon, the memberships ended before it and rooms left with neither, for rooms after after_room until about max_items rows are gone; last_room is where to go on (NULL when done).';
REVOKE ALL ON FUNCTION presence.prune_rooms(timestamptz, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.prune_rooms(timestamptz, text, integer) TO presence_admin;
ALTER FUNCTION presence.prune_rooms(timestamptz, text, integer) OWNER TO presence_owner;

-- maintain() prunes rooms after users; the room counts go to the log line.
CREATE OR REPLACE PROCEDURE presence.maintain(INOUT removed_items bigint DEFAULT NULL,
											  INOUT removed_sessions bigint DEFAULT NULL,
											  INOUT removed_signatures bigint DEFAULT NULL,
											  INOUT horizon timestamptz DEFAULT NULL)
	LANGUAGE plpgsql
	AS $$
DECLARE
	after_user text := '';
	after_room text := '';
	batch record;
	daily_added bigint;
	daily_removed bigint;
	room_items bigint := 0;
	room_memberships bigint := 0;
	room_rows bigint := 0;
BEGIN
	removed_items := 0;
	removed_sessions := 0;
	-- Summarise the days that have ended before their items are pruned.
	daily_added := presence.fill_daily();
	COMMIT;
	horizon := presence.advance_horizon();
	COMMIT;
	WHILE horizon IS NOT NULL LOOP
		SELECT p.last_user, p.items, p.sessions INTO batch
		  FROM presence.prune_users(horizon, after_user, 2000) p;
		EXIT WHEN batch.last_user IS NULL;
		removed_items := removed_items OPERATOR(pg_catalog.+) batch.items;
		removed_sessions := removed_sessions OPERATOR(pg_catalog.+) batch.sessions;
		after_user := batch.last_user;
		COMMIT;
	END LOOP;
	WHILE horizon IS NOT NULL LOOP
		SELECT p.last_room, p.items, p.memberships, p.rooms INTO batch
		  FROM presence.prune_rooms(horizon, after_room, 2000) p;
		EXIT WHEN batch.last_room IS NULL;
		room_items := room_items OPERATOR(pg_catalog.+) batch.items;
		room_memberships := room_memberships OPERATOR(pg_catalog.+) batch.memberships;
		room_rows := room_rows OPERATOR(pg_catalog.+) batch.rooms;
		after_room := batch.last_room;
		COMMIT;
	END LOOP;
	removed_signatures := presence.forget_signatures('0');
	daily_removed := presence.prune_daily();
	COMMIT;
	horizon := presence.horizon();
	RAISE LOG 'presence.maintain: removed % items, % sessions and % signature triples; horizon %; presence.daily: % rows added, % removed; rooms: % items, % memberships, % rooms removed',
		removed_items, removed_sessions, removed_signatures, horizon, daily_added, daily_removed,
		room_items, room_memberships, room_rows;
END
$$;
COMMENT ON PROCEDURE presence.maintain(bigint, bigint, bigint, timestamptz) IS
	'Fill presence.daily for the days that have ended, then prune what is older than presence.retention (items, ended sessions, room items, ended memberships, signature triples past the age window) and presence.daily rows older than presence.daily_retention; returns (rooms: logs) what it removed.';

/*
 * Scale-out of rooms (doc/rules.md sections 12 and 14): a room's rows live on
 * the partition its room_id hashes to (the users' hash); a router sends each
 * partition its share of a call's room items (router_rooms.c).
 */
CREATE FUNCTION presence.partition_apply_rooms(room_ids text[], user_ids text[], operations smallint[],
											   statuses smallint[], times bigint[], item_nos integer[],
											   deliveries integer[], event_ids text[], event_times bigint[])
	RETURNS TABLE (delivery integer, applied integer, duplicates integer, stale integer)
	AS 'MODULE_PATHNAME', 'presence_partition_apply_rooms'
	LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION presence.partition_apply_rooms(text[], text[], smallint[], smallint[], bigint[],
												   integer[], integer[], text[], bigint[]) IS
	'A router''s share of one ingest call''s room items, applied on this partition: one unit per user (user '''' for a create or a destroy), times in ms, deliveries indexing the envelope arrays from 1; one row of counts per delivery with room items here.';
REVOKE ALL ON FUNCTION presence.partition_apply_rooms(text[], text[], smallint[], smallint[], bigint[],
													  integer[], integer[], text[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.partition_apply_rooms(text[], text[], smallint[], smallint[], bigint[],
														 integer[], integer[], text[], bigint[]) TO presence_router;
ALTER FUNCTION presence.partition_apply_rooms(text[], text[], smallint[], smallint[], bigint[],
											  integer[], integer[], text[], bigint[]) OWNER TO presence_owner;

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
