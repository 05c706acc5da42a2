/* presence--0.1.0--0.2.0.sql: upgrade a 0.1.0 installation to 0.2.0 */

\echo Use "ALTER EXTENSION presence UPDATE TO '0.2.0'" to load this file. \quit

-- Backups: pg_dump carries every table that holds data.
SELECT pg_catalog.pg_extension_config_dump('presence.users', '');
SELECT pg_catalog.pg_extension_config_dump('presence.sessions', '');
SELECT pg_catalog.pg_extension_config_dump('presence.events', '');
SELECT pg_catalog.pg_extension_config_dump('presence.secrets', '');
SELECT pg_catalog.pg_extension_config_dump('presence.seen_signatures', '');

-- Bounded apply: whether a newer item of a session carried os or client_ip, and
-- whether a user's last end was a logout, are each one index probe away, however
-- long the history behind them.
CREATE INDEX events_os_key ON presence.events (user_id, session_id, status_time, status)
	WHERE os IS NOT NULL;
CREATE INDEX events_client_ip_key ON presence.events (user_id, session_id, status_time, status)
	WHERE client_ip IS NOT NULL;
CREATE INDEX sessions_logged_out ON presence.sessions (user_id, ended_at)
	WHERE state = 'logged_out';
COMMENT ON INDEX presence.events_os_key IS 'The items that carry os, for the rule that os comes from the greatest one.';
COMMENT ON INDEX presence.events_client_ip_key IS 'The items that carry client_ip, for the rule that client_ip comes from the greatest one.';
COMMENT ON INDEX presence.sessions_logged_out IS 'Logged-out sessions by end, for the rule that decides presence.users.logged_out.';

-- Retention: the horizon, and a fold of what presence.maintain() prunes.

-- The horizon: items older than it are no longer kept.  No row means none
-- has been pruned yet (the horizon is -infinity).
CREATE TABLE presence.retention_state (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	horizon timestamptz NOT NULL,
	maintained_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE presence.retention_state IS
	'The retention horizon: items older than it are no longer kept (one row once presence.maintain() has pruned).';

-- A session still online at the horizon keeps what its pruned items said.
CREATE TABLE presence.folded_sessions (
	user_id text COLLATE "C" NOT NULL,
	session_id text COLLATE "C" NOT NULL,
	started_at timestamptz NOT NULL,
	os text,
	client_ip text,
	PRIMARY KEY (user_id, session_id)
);
COMMENT ON TABLE presence.folded_sessions IS
	'For each session online at the horizon, what its pruned items decided: presence.check() folds it in.';

-- A user keeps the greatest times and the last end of its pruned items.
CREATE TABLE presence.folded_users (
	user_id text COLLATE "C" PRIMARY KEY,
	last_online_at timestamptz,
	last_offline_at timestamptz,
	last_end_status text COLLATE "C" CHECK (last_end_status IN ('1', '2'))
);
COMMENT ON TABLE presence.folded_users IS
	'For each user with pruned items, their greatest "0" time and greatest "1"/"2" item: presence.check() folds it in.';

SELECT pg_catalog.pg_extension_config_dump('presence.retention_state', '');
SELECT pg_catalog.pg_extension_config_dump('presence.folded_sessions', '');
SELECT pg_catalog.pg_extension_config_dump('presence.folded_users', '');
REVOKE ALL ON presence.retention_state, presence.folded_sessions, presence.folded_users FROM PUBLIC;
GRANT SELECT ON presence.retention_state, presence.folded_sessions, presence.folded_users
	TO presence_reader;
GRANT SELECT ON presence.retention_state TO presence_writer;
GRANT SELECT, INSERT, UPDATE, DELETE
	ON presence.retention_state, presence.folded_sessions, presence.folded_users TO presence_admin;

CREATE FUNCTION presence.horizon()
	RETURNS timestamptz
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce((SELECT r.horizon FROM presence.retention_state r), '-infinity')
$$;
COMMENT ON FUNCTION presence.horizon() IS
	'The time before which items are no longer kept; -infinity until presence.maintain() first prunes.';
GRANT EXECUTE ON FUNCTION presence.horizon() TO presence_reader, presence_writer, presence_admin;

-- Move the horizon to now() - presence.retention, never back; NULL when the retention is 0.
CREATE FUNCTION presence.advance_horizon()
	RETURNS timestamptz
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
	INSERT INTO presence.retention_state AS r (horizon)
		SELECT pg_catalog.now() - k.keep
		  FROM (SELECT pg_catalog.current_setting('presence.retention')::interval AS keep) k
		 WHERE k.keep > '0'::interval
	ON CONFLICT (singleton) DO UPDATE
		SET horizon = greatest(r.horizon, excluded.horizon), maintained_at = excluded.maintained_at
	RETURNING r.horizon
$$;
COMMENT ON FUNCTION presence.advance_horizon() IS
	'Move the horizon forward to now() - presence.retention; NULL when presence.retention is 0 (keep everything).';

CREATE FUNCTION presence.prune_users(horizon timestamptz, after_user text, max_items integer,
									 OUT last_user text, OUT items bigint, OUT sessions bigint)
	RETURNS record
	LANGUAGE C VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS 'MODULE_PATHNAME', 'presence_prune_users';
COMMENT ON FUNCTION presence.prune_users(timestamptz, text, integer) IS
	'Prune the items older than horizon of the users after after_user until max_items have gone, folding what they decided.';

-- Forget the triples the age check refuses anyway: never one it would still
-- accept, compared at its millisecond precision, and none while it is off.
CREATE OR REPLACE FUNCTION presence.forget_signatures(older_than interval)
	RETURNS bigint
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH gone AS (
		DELETE FROM presence.seen_signatures s
		 USING (SELECT pg_catalog.current_setting('presence.signature_max_age')::interval
					AS max_age) a
		 WHERE a.max_age > '0'::interval
		   AND s.signed_at < pg_catalog.date_trunc('milliseconds', pg_catalog.now())
				- greatest(forget_signatures.older_than, a.max_age)
		RETURNING 1)
	SELECT pg_catalog.count(*) FROM gone
$$;
COMMENT ON FUNCTION presence.forget_signatures(interval) IS
	'Forget remembered signature triples older than older_than and than presence.signature_max_age; none while the age check is off.';

-- The expected state, recomputed by the rules from presence.events and the folds of pruned items.
CREATE OR REPLACE FUNCTION presence.expected_sessions()
	RETURNS TABLE (user_id text, session_id text, state text, os text, client_ip text,
				   started_at timestamptz, ended_at timestamptz, last_event_at timestamptz)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT k.user_id, k.session_id,
		   CASE (CASE WHEN k.session_id = '' THEN coalesce(g.top_status, '0') ELSE g.end_status END)
				WHEN '1' THEN 'offline' WHEN '2' THEN 'logged_out' ELSE 'online' END,
		   coalesce(g.os, f.os), coalesce(g.client_ip, f.client_ip),
		   greatest(g.started_at, f.started_at),
		   CASE WHEN k.session_id = '' AND coalesce(g.top_status, '0') = '0' THEN NULL
				ELSE g.end_time END,
		   greatest(g.last_event_at, f.started_at)
	  FROM (SELECT ev.user_id, ev.session_id FROM presence.events ev
			UNION
			SELECT fs.user_id, fs.session_id FROM presence.folded_sessions fs) k
	  LEFT JOIN presence.folded_sessions f
		ON f.user_id = k.user_id AND f.session_id = k.session_id
	  CROSS JOIN LATERAL (
		SELECT max(x.status_time) FILTER (WHERE x.status = '0') AS started_at,
			   max(x.status_time) AS last_event_at,
			   (array_agg(x.os ORDER BY x.status_time DESC, x.status DESC)
					FILTER (WHERE x.os IS NOT NULL))[1] AS os,
			   (array_agg(x.client_ip ORDER BY x.status_time DESC, x.status DESC)
					FILTER (WHERE x.client_ip IS NOT NULL))[1] AS client_ip,
			   (array_agg(x.status ORDER BY x.status_time DESC, x.status DESC))[1] AS top_status,
			   (array_agg(x.status ORDER BY x.status_time DESC, x.status DESC)
					FILTER (WHERE x.status <> '0'))[1] AS end_status,
			   (array_agg(x.status_time ORDER BY x.status_time DESC, x.status DESC)
					FILTER (WHERE x.status <> '0'))[1] AS end_time
		  FROM presence.events x
		 WHERE x.user_id = k.user_id AND x.session_id = k.session_id) g
$$;
COMMENT ON FUNCTION presence.expected_sessions() IS
	'The presence.sessions rows the state rules give for presence.events and presence.folded_sessions.';

CREATE OR REPLACE FUNCTION presence.expected_users()
	RETURNS TABLE (user_id text, online_sessions integer, online boolean,
				   last_online_at timestamptz, last_offline_at timestamptz,
				   last_seen_at timestamptz, logged_out boolean)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT e.user_id, coalesce(s.n, 0)::integer, coalesce(s.n, 0) > 0,
		   e.last_online_at, e.last_offline_at,
		   greatest(e.last_online_at, e.last_offline_at),
		   coalesce(s.n, 0) = 0 AND e.last_end_status IS NOT DISTINCT FROM '2'
	  FROM (SELECT a.user_id,
				   max(a.status_time) FILTER (WHERE a.status = '0') AS last_online_at,
				   max(a.status_time) FILTER (WHERE a.status <> '0') AS last_offline_at,
				   (array_agg(a.status ORDER BY a.status_time DESC, a.status DESC)
						FILTER (WHERE a.status <> '0'))[1] AS last_end_status
			  FROM (SELECT ev.user_id, ev.status_time, ev.status::text AS status
					  FROM presence.events ev
					UNION ALL
					SELECT fu.user_id, fu.last_online_at, '0'
					  FROM presence.folded_users fu WHERE fu.last_online_at IS NOT NULL
					UNION ALL
					SELECT fu.user_id, fu.last_offline_at, fu.last_end_status
					  FROM presence.folded_users fu WHERE fu.last_offline_at IS NOT NULL) a
			 GROUP BY a.user_id) e
	  LEFT JOIN (SELECT ss.user_id, count(*) AS n FROM presence.sessions ss
				  WHERE ss.state = 'online' GROUP BY ss.user_id) s USING (user_id)
$$;
COMMENT ON FUNCTION presence.expected_users() IS
	'The presence.users rows the rules give for presence.sessions, presence.events and presence.folded_users.';

/*
 * presence.maintain(): move the horizon to now() - presence.retention and
 * prune what is older, about 2,000 items a transaction, then forget the signature
 * triples past the age window.  A procedure, so that it can commit as it
 * goes: call it on its own, not inside a transaction block.  Every name is
 * qualified, since a procedure that commits cannot pin its search_path.
 */
CREATE PROCEDURE presence.maintain(INOUT removed_items bigint DEFAULT NULL,
								   INOUT removed_sessions bigint DEFAULT NULL,
								   INOUT removed_signatures bigint DEFAULT NULL,
								   INOUT horizon timestamptz DEFAULT NULL)
	LANGUAGE plpgsql
	AS $$
DECLARE
	after_user text := '';
	batch record;
BEGIN
	removed_items := 0;
	removed_sessions := 0;
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
	removed_signatures := presence.forget_signatures('0');
	COMMIT;
	horizon := presence.horizon();
	RAISE LOG 'presence.maintain: removed % items, % sessions and % signature triples; horizon %',
		removed_items, removed_sessions, removed_signatures, horizon;
END
$$;
COMMENT ON PROCEDURE presence.maintain(bigint, bigint, bigint, timestamptz) IS
	'Prune what is older than presence.retention (items, ended sessions, signature triples past the age window); returns what it removed.';

REVOKE ALL ON FUNCTION presence.advance_horizon(),
	presence.prune_users(timestamptz, text, integer) FROM PUBLIC;
REVOKE ALL ON PROCEDURE presence.maintain(bigint, bigint, bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.advance_horizon(),
	presence.prune_users(timestamptz, text, integer) TO presence_admin;
GRANT EXECUTE ON PROCEDURE presence.maintain(bigint, bigint, bigint, timestamptz) TO presence_admin;

/*
 * Least privilege.  The tables and the functions that run with more rights
 * than their caller (SECURITY DEFINER) belong to presence_owner, a role that
 * is neither a superuser nor able to log in, so nothing reached through them
 * (a trigger, an operator) can act as the superuser who ran CREATE EXTENSION.
 * presence_admin reads and writes the tables but may not add triggers,
 * references or truncate them.  Grant presence_owner to no one.
 */
DO $owner$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'presence_owner') THEN
		CREATE ROLE presence_owner NOLOGIN;
	ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_roles
				   WHERE rolname = 'presence_owner' AND (rolsuper OR rolcanlogin)) THEN
		RAISE EXCEPTION 'role presence_owner must be neither a superuser nor able to log in'
			USING ERRCODE = '55000',
				  HINT = 'ALTER ROLE presence_owner NOSUPERUSER NOLOGIN, then try again.';
	END IF;
END
$owner$;
GRANT USAGE ON SCHEMA presence TO presence_owner;
ALTER TABLE presence.users OWNER TO presence_owner;
ALTER TABLE presence.sessions OWNER TO presence_owner;
ALTER TABLE presence.events OWNER TO presence_owner;
ALTER TABLE presence.secrets OWNER TO presence_owner;
ALTER TABLE presence.seen_signatures OWNER TO presence_owner;
ALTER TABLE presence.retention_state OWNER TO presence_owner;
ALTER TABLE presence.folded_sessions OWNER TO presence_owner;
ALTER TABLE presence.folded_users OWNER TO presence_owner;
ALTER FUNCTION @extschema@.presence_verify(text, text, text, text) OWNER TO presence_owner;
ALTER FUNCTION @extschema@.presence_ingest(text, text, text, text, text) OWNER TO presence_owner;
ALTER FUNCTION @extschema@.presence_ingest_unsigned(text) OWNER TO presence_owner;
ALTER FUNCTION @extschema@.presence_ingest_batch(text[], text[], text[], text[], text[])
	OWNER TO presence_owner;
REVOKE ALL ON ALL TABLES IN SCHEMA presence FROM presence_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA presence TO presence_admin;

-- Ghost sessions: users that look online but have said nothing for a while, and the
-- disconnect the provider's status API lets us apply for them (contract section 11).
CREATE FUNCTION presence.suspects(idle interval DEFAULT '1 hour', max integer DEFAULT 100)
	RETURNS TABLE (user_id text, online_sessions integer, last_event_at timestamptz)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT u.user_id, u.online_sessions, u.last_seen_at
	  FROM presence.users u
	 WHERE u.online AND u.last_seen_at < pg_catalog.now() - suspects.idle
	 ORDER BY u.last_seen_at, u.user_id
	 LIMIT suspects.max
$$;
COMMENT ON FUNCTION presence.suspects(interval, integer) IS
	'Users online whose newest item is older than idle, oldest first: the ones to ask the provider about.';
REVOKE ALL ON FUNCTION presence.suspects(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.suspects(interval, integer) TO presence_writer, presence_admin;
ALTER FUNCTION presence.suspects(interval, integer) OWNER TO presence_owner;

/*
 * presence_reconcile(): when the provider says the user is not online, each of the
 * user's online sessions whose newest item is older than checked_at gets a disconnect
 * ("1") at checked_at, applied and logged as an ordinary delivery with envelope id
 * 'reconcile', so every state rule holds: a real connect after checked_at still wins,
 * and a re-delivered connect never revives an identified session it ended.  Times are
 * compared at the items' millisecond precision.
 */
CREATE FUNCTION @extschema@.presence_reconcile(user_id text, provider_online boolean,
											   checked_at timestamptz DEFAULT pg_catalog.now())
	RETURNS presence.ingest_result
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH at AS (
		SELECT pg_catalog.floor(extract(epoch FROM presence_reconcile.checked_at) * 1000)::bigint AS ms,
			   pg_catalog.date_trunc('milliseconds', presence_reconcile.checked_at) AS t),
	ghosts AS (
		SELECT pg_catalog.json_build_object('status', '1', 'userId', s.user_id,
											'sessionId', s.session_id, 'time', at.ms) AS item
		  FROM presence.sessions s, at
		 WHERE NOT presence_reconcile.provider_online
		   AND s.user_id = presence_reconcile.user_id AND s.state = 'online'
		   AND s.last_event_at < at.t),
	body AS (
		SELECT pg_catalog.json_build_object('type', 'user:connection_status', 'id', 'reconcile',
											'time', at.ms, 'data', pg_catalog.json_agg(g.item))::text AS b
		  FROM ghosts g, at
		 GROUP BY at.ms
		HAVING pg_catalog.count(*) > 0)
	SELECT r.* FROM body, @extschema@.presence_ingest_unsigned(body.b) r
	UNION ALL
	SELECT 0, 0, 0, 0, 0 WHERE NOT EXISTS (SELECT 1 FROM ghosts)
$$;
COMMENT ON FUNCTION @extschema@.presence_reconcile(text, boolean, timestamptz) IS
	'Apply the provider''s answer for a suspect: not online ends its sessions idle since before checked_at with a logged disconnect.';
REVOKE ALL ON FUNCTION @extschema@.presence_reconcile(text, boolean, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.presence_reconcile(text, boolean, timestamptz) TO presence_writer;
ALTER FUNCTION @extschema@.presence_reconcile(text, boolean, timestamptz) OWNER TO presence_owner;

-- Entry points in a schema every role may create objects in can be shadowed by an overload.
DO $schema$
BEGIN
	IF pg_catalog.has_schema_privilege('public', '@extschema@', 'CREATE') THEN
		RAISE WARNING 'schema @extschema@ lets every role create objects in it'
			USING DETAIL = 'Another role can then create an overload of presence_ingest that captures deliveries.',
				  HINT = 'REVOKE CREATE ON SCHEMA @extschema@ FROM PUBLIC, or create the extension in a schema only its owner can write to.';
	END IF;
END
$schema$;
