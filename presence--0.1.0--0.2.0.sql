/* presence--0.1.0--0.2.0.sql: upgrade a 0.1.0 installation to 0.2.0 */

\echo Use "ALTER EXTENSION presence UPDATE TO '0.2.0'" to load this file. \quit

-- Backups: pg_dump carries every table that holds data.
SELECT pg_catalog.pg_extension_config_dump('presence.users', '');
SELECT pg_catalog.pg_extension_config_dump('presence.sessions', '');
SELECT pg_catalog.pg_extension_config_dump('presence.events', '');
SELECT pg_catalog.pg_extension_config_dump('presence.secrets', '');
SELECT pg_catalog.pg_extension_config_dump('presence.seen_signatures', '');

-- Bounded apply: which item os and client_ip came from, and whether a user's
-- last end was a logout, are kept in the rows themselves (filled in below,
-- once presence.item_key exists), so applying an item never reads history.
ALTER TABLE presence.users ADD COLUMN last_offline_logout boolean NOT NULL DEFAULT false;
ALTER TABLE presence.sessions ADD COLUMN os_key bigint, ADD COLUMN client_ip_key bigint;

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

-- check() and the functions it compares with return more columns in 0.2.0.
DROP FUNCTION presence.check();
DROP FUNCTION presence.expected_users();
DROP FUNCTION presence.expected_sessions();

-- The (status_time, status) order of items as one bigint, as ingest keeps it
-- in presence.sessions.os_key and client_ip_key (session_rules.c).
CREATE FUNCTION presence.item_key(status_time timestamptz, status text)
	RETURNS bigint
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT (least(greatest((extract(epoch FROM item_key.status_time) - 946684800) * 1000000,
						   -1152921504606846976), 1152921504606846976)::bigint * 4
			+ (ascii(item_key.status) - 48))
$$;
COMMENT ON FUNCTION presence.item_key(timestamptz, text) IS
	'The order of items as one bigint: microseconds since 2000-01-01 (clamped to +-2^60) times 4, plus the status; what presence.sessions.os_key and client_ip_key hold.';

-- The expected state, recomputed by the rules from presence.events and the folds of pruned items.
CREATE FUNCTION presence.expected_sessions()
	RETURNS TABLE (user_id text, session_id text, state text, os text, client_ip text,
				   started_at timestamptz, ended_at timestamptz, last_event_at timestamptz,
				   os_key bigint, client_ip_key bigint)
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
		   greatest(g.last_event_at, f.started_at),
		   g.os_key, g.client_ip_key
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
			   max(presence.item_key(x.status_time, x.status))
					FILTER (WHERE x.os IS NOT NULL) AS os_key,
			   max(presence.item_key(x.status_time, x.status))
					FILTER (WHERE x.client_ip IS NOT NULL) AS client_ip_key,
			   (array_agg(x.status ORDER BY x.status_time DESC, x.status DESC))[1] AS top_status,
			   (array_agg(x.status ORDER BY x.status_time DESC, x.status DESC)
					FILTER (WHERE x.status <> '0'))[1] AS end_status,
			   (array_agg(x.status_time ORDER BY x.status_time DESC, x.status DESC)
					FILTER (WHERE x.status <> '0'))[1] AS end_time
		  FROM presence.events x
		 WHERE x.user_id = k.user_id AND x.session_id = k.session_id) g
$$;
COMMENT ON FUNCTION presence.expected_sessions() IS
	'The presence.sessions rows the state rules give for presence.events and presence.folded_sessions; a key is NULL when no kept item carries its field.';

CREATE FUNCTION presence.expected_users()
	RETURNS TABLE (user_id text, online_sessions integer, online boolean,
				   last_online_at timestamptz, last_offline_at timestamptz,
				   last_seen_at timestamptz, logged_out boolean, last_offline_logout boolean)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT e.user_id, coalesce(s.n, 0)::integer, coalesce(s.n, 0) > 0,
		   e.last_online_at, e.last_offline_at,
		   greatest(e.last_online_at, e.last_offline_at),
		   coalesce(s.n, 0) = 0 AND e.last_end_status IS NOT DISTINCT FROM '2',
		   e.last_end_status IS NOT DISTINCT FROM '2'
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
 * presence.check(): every stored user and session field that differs from what
 * presence.events and presence.sessions say it must be.  No rows means all is well.
 * A key whose field only a fold of pruned items carries is taken as stored: the
 * item it names is no longer kept.  client_ip_key is stored NULL where it would
 * repeat os_key (session_rules.c).
 */
CREATE FUNCTION presence.check()
	RETURNS TABLE (user_id text, session_id text, field text, stored text, expected text)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH u AS (
		SELECT coalesce(a.user_id, b.user_id) AS user_id,
			   ARRAY[a.online_sessions::text, a.online::text, a.last_online_at::text,
					 a.last_offline_at::text, a.last_seen_at::text, a.logged_out::text,
					 a.last_offline_logout::text] AS got,
			   ARRAY[b.online_sessions::text, b.online::text, b.last_online_at::text,
					 b.last_offline_at::text, b.last_seen_at::text, b.logged_out::text,
					 b.last_offline_logout::text] AS want
		  FROM presence.users a
		  FULL JOIN presence.expected_users() b USING (user_id)),
	s AS (
		SELECT coalesce(a.user_id, b.user_id) AS user_id,
			   coalesce(a.session_id, b.session_id) AS session_id,
			   ARRAY[a.state, a.os, a.client_ip, a.started_at::text, a.ended_at::text,
					 a.last_event_at::text, a.os_key::text, a.client_ip_key::text] AS got,
			   ARRAY[b.state, b.os, b.client_ip, b.started_at::text, b.ended_at::text,
					 b.last_event_at::text,
					 k.os_key::text,
					 CASE WHEN b.client_ip_key IS NULL AND b.client_ip IS NOT NULL
						  THEN a.client_ip_key
						  WHEN b.client_ip_key = k.os_key THEN NULL
						  ELSE b.client_ip_key END::text] AS want
		  FROM presence.sessions a
		  FULL JOIN presence.expected_sessions() b USING (user_id, session_id)
		 CROSS JOIN LATERAL (
			SELECT CASE WHEN b.os_key IS NULL AND b.os IS NOT NULL THEN a.os_key
						ELSE b.os_key END AS os_key) k)
	SELECT u.user_id, NULL::text, f.name, u.got[f.i], u.want[f.i]
	  FROM u,
		   unnest(ARRAY['online_sessions', 'online', 'last_online_at', 'last_offline_at',
						'last_seen_at', 'logged_out', 'last_offline_logout'])
			WITH ORDINALITY AS f(name, i)
	 WHERE u.got[f.i] IS DISTINCT FROM u.want[f.i]
	UNION ALL
	SELECT s.user_id, s.session_id, f.name, s.got[f.i], s.want[f.i]
	  FROM s,
		   unnest(ARRAY['state', 'os', 'client_ip', 'started_at', 'ended_at',
						'last_event_at', 'os_key', 'client_ip_key'])
			WITH ORDINALITY AS f(name, i)
	 WHERE s.got[f.i] IS DISTINCT FROM s.want[f.i]
	ORDER BY 1, 2 NULLS FIRST, 3
$$;

GRANT EXECUTE ON FUNCTION presence.check(), presence.expected_users(), presence.expected_sessions()
	TO presence_reader, presence_admin;

-- Fill in the columns added above from the items, by the rules presence.check()
-- holds them to.  Only the keys and the flag change: the trigger on
-- presence.sessions moves no count for an update that leaves state and ended_at.
UPDATE presence.sessions s
   SET os_key = k.os_key,
	   client_ip_key = CASE WHEN k.client_ip_key = k.os_key THEN NULL ELSE k.client_ip_key END
  FROM (SELECT e.user_id, e.session_id,
			   max(presence.item_key(e.status_time, e.status)) FILTER (WHERE e.os IS NOT NULL) AS os_key,
			   max(presence.item_key(e.status_time, e.status))
					FILTER (WHERE e.client_ip IS NOT NULL) AS client_ip_key
		  FROM presence.events e GROUP BY e.user_id, e.session_id) k
 WHERE k.user_id = s.user_id AND k.session_id = s.session_id
   AND (k.os_key IS NOT NULL OR k.client_ip_key IS NOT NULL);
UPDATE presence.users u
   SET last_offline_logout = true
  FROM (SELECT e.user_id FROM presence.expected_users() e WHERE e.last_offline_logout) x
 WHERE x.user_id = u.user_id;

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
	daily_added bigint;
	daily_removed bigint;
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
	removed_signatures := presence.forget_signatures('0');
	daily_removed := presence.prune_daily();
	COMMIT;
	horizon := presence.horizon();
	RAISE LOG 'presence.maintain: removed % items, % sessions and % signature triples; horizon %; presence.daily: % rows added, % removed',
		removed_items, removed_sessions, removed_signatures, horizon, daily_added, daily_removed;
END
$$;
COMMENT ON PROCEDURE presence.maintain(bigint, bigint, bigint, timestamptz) IS
	'Fill presence.daily for the days that have ended, then prune what is older than presence.retention (items, ended sessions, signature triples past the age window) and presence.daily rows older than presence.daily_retention; returns what it removed.';

REVOKE ALL ON FUNCTION presence.advance_horizon(),
	presence.prune_users(timestamptz, text, integer) FROM PUBLIC;
REVOKE ALL ON PROCEDURE presence.maintain(bigint, bigint, bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.advance_horizon(),
	presence.prune_users(timestamptz, text, integer) TO presence_admin;
GRANT EXECUTE ON PROCEDURE presence.maintain(bigint, bigint, bigint, timestamptz) TO presence_admin;

-- History and views (doc/rules.md section 10): what the kept items say about the past.
-- Everything here reads only what retention keeps: presence.events, presence.sessions
-- (which check() proves equal to the rules over events and folds) and
-- presence.folded_sessions (a session online at the horizon stands for one connect at
-- its folded started_at, carrying its os and client_ip).

CREATE VIEW presence.platforms AS
	SELECT s.os, pg_catalog.count(DISTINCT s.user_id) AS online_users,
		   pg_catalog.count(*) AS online_sessions
	  FROM presence.sessions s
	 WHERE s.state = 'online'
	 GROUP BY s.os;
COMMENT ON VIEW presence.platforms IS
	'Users and sessions online now, per os (a session without os counts under os NULL).';

/*
 * Online intervals.  An identified session has at most one: from its greatest
 * "0" (started_at) to its greatest terminal item (ended_at), none when it has
 * no "0" or its greatest "0" is not before its greatest terminal item; os and
 * client_ip are the session's.  An anonymous session's items (and the connect
 * its fold stands for) are walked in (status_time, status) order: a run is a
 * sequence of "0" items and the terminal item that ends it; its interval opens
 * at the run's first "0" and closes at that terminal item (open while there is
 * none); os and client_ip come from the greatest item of the run carrying them,
 * else the session's.  A terminal item while offline opens nothing.
 */
CREATE FUNCTION presence.intervals(since timestamptz, until timestamptz)
	RETURNS TABLE (user_id text, session_id text, os text, client_ip text,
				   online_from timestamptz, online_until timestamptz, end_state text)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	SET work_mem = '64MB'
	AS $$
BEGIN
	-- One scan of presence.sessions: the identified sessions' intervals, and the
	-- anonymous sessions that may have one (one whose greatest item ended it by
	-- since has none left).
	RETURN QUERY
	WITH cand AS MATERIALIZED (
		SELECT s.user_id, s.session_id, s.state, s.os, s.client_ip, s.started_at, s.ended_at
		  FROM presence.sessions s
		 -- First the test most sessions fail (ended, and quiet, before since),
		 -- which both branches below imply (an online session has no ended_at).
		 WHERE (s.ended_at IS NULL OR s.ended_at > intervals.since
				OR s.last_event_at > intervals.since)
		   AND ((s.session_id <> ''
				AND s.started_at < intervals.until
				AND (s.ended_at IS NULL
					 OR (s.ended_at > intervals.since AND s.ended_at > s.started_at)))
			OR (s.session_id = ''
				AND (s.state = 'online' OR s.last_event_at > intervals.since)))),
	anon AS (
		SELECT c.user_id, c.os, c.client_ip FROM cand c WHERE c.session_id = ''),
	items AS (
		SELECT e.user_id, e.status_time AS t, e.status::text AS status, e.os, e.client_ip
		  FROM anon a JOIN presence.events e ON e.user_id = a.user_id AND e.session_id = ''
		UNION ALL
		SELECT f.user_id, f.started_at, '0', f.os, f.client_ip
		  FROM anon a JOIN presence.folded_sessions f ON f.user_id = a.user_id AND f.session_id = ''),
	walked AS (
		SELECT i.*, count(*) FILTER (WHERE i.status <> '0')
					OVER (PARTITION BY i.user_id ORDER BY i.t, i.status
						  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS run
		  FROM items i),
	runs AS (
		SELECT w.user_id, min(w.t) FILTER (WHERE w.status = '0') AS online_from,
			   max(w.t) FILTER (WHERE w.status <> '0') AS online_until,
			   max(w.status) FILTER (WHERE w.status <> '0') AS end_status,
			   (array_agg(w.os ORDER BY w.t DESC, w.status DESC)
					FILTER (WHERE w.os IS NOT NULL))[1] AS os,
			   (array_agg(w.client_ip ORDER BY w.t DESC, w.status DESC)
					FILTER (WHERE w.client_ip IS NOT NULL))[1] AS client_ip
		  FROM walked w
		 GROUP BY w.user_id, w.run)
	SELECT r.user_id, ''::text, coalesce(r.os, a.os), coalesce(r.client_ip, a.client_ip),
		   r.online_from, r.online_until,
		   CASE r.end_status WHEN '1' THEN 'offline' WHEN '2' THEN 'logged_out' END
	  FROM runs r JOIN anon a ON a.user_id = r.user_id
	 WHERE r.online_from < intervals.until
	   AND (r.online_until IS NULL
			OR (r.online_until > intervals.since AND r.online_until > r.online_from))
	UNION ALL
	SELECT c.user_id, c.session_id, c.os, c.client_ip, c.started_at, c.ended_at,
		   CASE WHEN c.ended_at IS NOT NULL THEN c.state END
	  FROM cand c WHERE c.session_id <> '';
END
$$;
COMMENT ON FUNCTION presence.intervals(timestamptz, timestamptz) IS
	'Every online interval of every user overlapping [since, until): the rows behind online_at(), online_counts() and fill_daily().';

CREATE FUNCTION presence.user_history(user_id text, since timestamptz, until timestamptz)
	RETURNS TABLE (session_id text, os text, client_ip text, online_from timestamptz,
				   online_until timestamptz, end_state text)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	-- The rules of presence.intervals(), for one user.
	RETURN QUERY
	WITH ident AS (
		SELECT s.session_id, s.os, s.client_ip, s.started_at AS online_from,
			   s.ended_at AS online_until, CASE WHEN s.ended_at IS NOT NULL THEN s.state END
		  FROM presence.sessions s
		 WHERE s.user_id = user_history.user_id AND s.session_id <> ''
		   AND s.started_at < user_history.until
		   AND (s.ended_at IS NULL
				OR (s.ended_at > user_history.since AND s.ended_at > s.started_at))),
	items AS (
		SELECT e.status_time AS t, e.status::text AS status, e.os, e.client_ip
		  FROM presence.events e
		 WHERE e.user_id = user_history.user_id AND e.session_id = ''
		UNION ALL
		SELECT f.started_at, '0', f.os, f.client_ip
		  FROM presence.folded_sessions f
		 WHERE f.user_id = user_history.user_id AND f.session_id = ''),
	walked AS (
		SELECT i.*, count(*) FILTER (WHERE i.status <> '0')
					OVER (ORDER BY i.t, i.status ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
					AS run
		  FROM items i),
	runs AS (
		SELECT min(w.t) FILTER (WHERE w.status = '0') AS online_from,
			   max(w.t) FILTER (WHERE w.status <> '0') AS online_until,
			   max(w.status) FILTER (WHERE w.status <> '0') AS end_status,
			   (array_agg(w.os ORDER BY w.t DESC, w.status DESC)
					FILTER (WHERE w.os IS NOT NULL))[1] AS os,
			   (array_agg(w.client_ip ORDER BY w.t DESC, w.status DESC)
					FILTER (WHERE w.client_ip IS NOT NULL))[1] AS client_ip
		  FROM walked w
		 GROUP BY w.run),
	anon AS (
		SELECT ''::text, coalesce(r.os, s.os), coalesce(r.client_ip, s.client_ip),
			   r.online_from, r.online_until,
			   CASE r.end_status WHEN '1' THEN 'offline' WHEN '2' THEN 'logged_out' END
		  FROM runs r
		  LEFT JOIN presence.sessions s
			ON s.user_id = user_history.user_id AND s.session_id = ''
		 WHERE r.online_from < user_history.until
		   AND (r.online_until IS NULL
				OR (r.online_until > user_history.since AND r.online_until > r.online_from)))
	SELECT x.* FROM (SELECT * FROM ident UNION ALL SELECT * FROM anon) x
	 ORDER BY 4, 1;
END
$$;
COMMENT ON FUNCTION presence.user_history(text, timestamptz, timestamptz) IS
	'The user''s online intervals overlapping [since, until), one row per interval; online_until and end_state NULL while still online.';

CREATE FUNCTION presence.online_at(at timestamptz)
	RETURNS TABLE (user_id text, session_id text, os text, online_since timestamptz)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	-- The rules of presence.intervals() at one instant.  An anonymous session is
	-- online at it when its greatest item by then is a "0" (or it has none and its
	-- fold started by then); only those few are walked, for their interval's start.
	RETURN QUERY
	WITH cand AS MATERIALIZED (
		SELECT s.user_id, s.session_id, s.os, s.started_at
		  FROM presence.sessions s
		 -- First the test most sessions fail (ended, and quiet, before at),
		 -- which both branches below imply (an online session has no ended_at).
		 WHERE (s.ended_at IS NULL OR s.ended_at > online_at.at
				OR s.last_event_at > online_at.at)
		   AND ((s.session_id <> ''
				AND s.started_at <= online_at.at
				AND (s.ended_at IS NULL
					 OR (s.ended_at > online_at.at AND s.ended_at > s.started_at)))
			OR (s.session_id = ''
				AND (s.state = 'online' OR s.last_event_at > online_at.at))))
	SELECT c.user_id, c.session_id, c.os, c.started_at FROM cand c WHERE c.session_id <> ''
	UNION ALL
	SELECT c.user_id, ''::text, h.os, h.online_from
	  FROM cand c
	  LEFT JOIN LATERAL (
		SELECT e.status FROM presence.events e
		 WHERE e.user_id = c.user_id AND e.session_id = '' AND e.status_time <= online_at.at
		 ORDER BY e.status_time DESC, e.status DESC LIMIT 1) g ON true
	 CROSS JOIN LATERAL presence.user_history(c.user_id, online_at.at,
											  online_at.at + '1 microsecond'::interval) h
	 WHERE c.session_id = '' AND h.session_id = ''
	   AND (g.status = '0'
			OR (g.status IS NULL
				AND EXISTS (SELECT 1 FROM presence.folded_sessions f
							 WHERE f.user_id = c.user_id AND f.session_id = ''
							   AND f.started_at <= online_at.at)));
END
$$;
COMMENT ON FUNCTION presence.online_at(timestamptz) IS
	'Every session online at that instant, with the start of the interval it is in.';

CREATE FUNCTION presence.online_time(user_id text, since timestamptz, until timestamptz)
	RETURNS interval
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH clipped AS (
		SELECT greatest(i.online_from, online_time.since) AS f,
			   least(coalesce(i.online_until, pg_catalog.now()), online_time.until) AS t
		  FROM presence.user_history(online_time.user_id, online_time.since, online_time.until) i),
	marked AS (
		SELECT c.f, c.t, max(c.t) OVER (ORDER BY c.f, c.t
										 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
		  FROM clipped c WHERE c.f < c.t),
	islands AS (
		SELECT m.f, m.t, count(*) FILTER (WHERE m.before IS NULL OR m.f > m.before)
							 OVER (ORDER BY m.f, m.t ROWS UNBOUNDED PRECEDING) AS island
		  FROM marked m)
	SELECT coalesce(sum(x.t - x.f), '0'::interval)
	  FROM (SELECT min(i.f) AS f, max(i.t) AS t FROM islands i GROUP BY i.island) x
$$;
COMMENT ON FUNCTION presence.online_time(text, timestamptz, timestamptz) IS
	'How long the user was online on any device within [since, until); overlapping devices count once, an open interval runs to least(until, now()).';

CREATE FUNCTION presence.online_counts(since timestamptz, until timestamptz, step interval)
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
	'How many users and sessions were online at since, since + step, ... before until: the series a dashboard plots.';

/*
 * presence.daily: per user and UTC day, what the intervals of that day add up to.
 * Filled by presence.maintain() (presence.fill_daily()) for the days that have
 * ended, after the last day already in the table, before the items are pruned;
 * kept for presence.daily_retention.
 */
CREATE TABLE presence.daily (
	user_id text COLLATE "C" NOT NULL,
	day date NOT NULL,
	online_time interval NOT NULL,
	sessions integer NOT NULL,
	first_online_at timestamptz NOT NULL,
	last_seen_at timestamptz NOT NULL,
	PRIMARY KEY (user_id, day)
);
COMMENT ON TABLE presence.daily IS
	'Per user and UTC day: time online (devices counted once), online intervals, first and last instant online; kept for presence.daily_retention.';
SELECT pg_catalog.pg_extension_config_dump('presence.daily', '');
REVOKE ALL ON presence.daily FROM PUBLIC;
GRANT SELECT ON presence.daily TO presence_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON presence.daily TO presence_admin;

CREATE FUNCTION presence.fill_daily()
	RETURNS bigint
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH bounds AS (
		SELECT b.first_day, (pg_catalog.now() AT TIME ZONE 'UTC')::date - 1 AS last_day
		  FROM (SELECT greatest(
					coalesce((SELECT max(d.day) + 1 FROM presence.daily d),
							 (SELECT (least((SELECT min(e.status_time) FROM presence.events e),
											(SELECT min(f.started_at) FROM presence.folded_sessions f))
									  AT TIME ZONE 'UTC')::date)),
					CASE WHEN k.keep > '0'::interval
						 THEN ((pg_catalog.now() - k.keep) AT TIME ZONE 'UTC')::date END) AS first_day
				  FROM (SELECT pg_catalog.current_setting('presence.daily_retention')::interval
							AS keep) k) b),
	span AS (
		SELECT (b.first_day::timestamp AT TIME ZONE 'UTC') AS t0,
			   ((b.last_day + 1)::timestamp AT TIME ZONE 'UTC') AS t1
		  FROM bounds b WHERE b.first_day <= b.last_day),
	pieces AS (
		SELECT i.user_id, d.day,
			   greatest(i.online_from, d.day::timestamp AT TIME ZONE 'UTC') AS f,
			   least(coalesce(i.online_until, 'infinity'),
					 (d.day + 1)::timestamp AT TIME ZONE 'UTC') AS t
		  FROM span sp
		 CROSS JOIN LATERAL presence.intervals(sp.t0, sp.t1) i
		 CROSS JOIN LATERAL (
			SELECT g::date AS day
			  FROM generate_series(
					(greatest(i.online_from, sp.t0) AT TIME ZONE 'UTC')::date::timestamp,
					(least(coalesce(i.online_until, 'infinity'), sp.t1) - '1 microsecond'::interval)
						AT TIME ZONE 'UTC', '1 day') g) d),
	live AS (SELECT p.* FROM pieces p WHERE p.f < p.t),
	marked AS (
		SELECT l.*, max(l.t) OVER (PARTITION BY l.user_id, l.day ORDER BY l.f, l.t
								   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
		  FROM live l),
	islands AS (
		SELECT m.*, count(*) FILTER (WHERE m.before IS NULL OR m.f > m.before)
						OVER (PARTITION BY m.user_id, m.day ORDER BY m.f, m.t
							  ROWS UNBOUNDED PRECEDING) AS island
		  FROM marked m),
	merged AS (
		SELECT i.user_id, i.day, min(i.f) AS f, max(i.t) AS t, count(*) AS n
		  FROM islands i GROUP BY i.user_id, i.day, i.island),
	ins AS (
		INSERT INTO presence.daily (user_id, day, online_time, sessions, first_online_at, last_seen_at)
		SELECT m.user_id, m.day, sum(m.t - m.f), sum(m.n)::integer, min(m.f), max(m.t)
		  FROM merged m
		 GROUP BY m.user_id, m.day
		ON CONFLICT (user_id, day) DO NOTHING
		RETURNING 1)
	SELECT pg_catalog.count(*) FROM ins
$$;
COMMENT ON FUNCTION presence.fill_daily() IS
	'Add presence.daily rows for the UTC days that have ended after the last day in the table (within presence.daily_retention); returns the rows added.';

CREATE FUNCTION presence.prune_daily()
	RETURNS bigint
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH gone AS (
		DELETE FROM presence.daily d
		 USING (SELECT pg_catalog.current_setting('presence.daily_retention')::interval AS keep) k
		 WHERE k.keep > '0'::interval
		   AND d.day < ((pg_catalog.now() - k.keep) AT TIME ZONE 'UTC')::date
		RETURNING 1)
	SELECT pg_catalog.count(*) FROM gone
$$;
COMMENT ON FUNCTION presence.prune_daily() IS
	'Remove the presence.daily rows older than presence.daily_retention (none when it is 0); returns how many.';

REVOKE ALL ON FUNCTION presence.intervals(timestamptz, timestamptz),
	presence.user_history(text, timestamptz, timestamptz),
	presence.online_at(timestamptz),
	presence.online_time(text, timestamptz, timestamptz),
	presence.online_counts(timestamptz, timestamptz, interval),
	presence.fill_daily(), presence.prune_daily() FROM PUBLIC;
REVOKE ALL ON presence.platforms FROM PUBLIC;
GRANT SELECT ON presence.platforms TO presence_reader, presence_admin;
GRANT EXECUTE ON FUNCTION presence.intervals(timestamptz, timestamptz),
	presence.user_history(text, timestamptz, timestamptz),
	presence.online_at(timestamptz),
	presence.online_time(text, timestamptz, timestamptz),
	presence.online_counts(timestamptz, timestamptz, interval)
	TO presence_reader, presence_admin;
GRANT EXECUTE ON FUNCTION presence.fill_daily(), presence.prune_daily() TO presence_admin;

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
ALTER TABLE presence.daily OWNER TO presence_owner;
ALTER VIEW presence.platforms OWNER TO presence_owner;
ALTER FUNCTION @extschema@.presence_verify(text, text, text, text) OWNER TO presence_owner;
ALTER FUNCTION @extschema@.presence_ingest(text, text, text, text, text) OWNER TO presence_owner;
ALTER FUNCTION @extschema@.presence_ingest_unsigned(text) OWNER TO presence_owner;
ALTER FUNCTION @extschema@.presence_ingest_batch(text[], text[], text[], text[], text[])
	OWNER TO presence_owner;
REVOKE ALL ON ALL TABLES IN SCHEMA presence FROM presence_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA presence TO presence_admin;

-- Ghost sessions: users that look online but have said nothing for a while, and the
-- disconnect the provider's status API lets us apply for them (doc/rules.md section 11).
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

-- Every object the extension makes says what it is for (\dd, \d+, \df+ show it);
-- test/sql/comments.sql fails when one lacks a comment.  The rules the comments
-- name are in doc/rules.md.
COMMENT ON SCHEMA presence IS
	'The presence model (sessions, users, events), its secrets, retention and history; see doc/rules.md.';
COMMENT ON TYPE presence.ingest_result IS
	'What one delivery did: items = applied + duplicates + stale + ignored.';
COMMENT ON TYPE presence.status_item IS
	'One status item of a delivery as presence_parse() reads it; status is ''0'', ''1'' or ''2'', session_id '''' for the anonymous session.';
COMMENT ON TABLE presence.users IS
	'One row per user ever seen, the aggregate of its sessions and items (doc/rules.md section 3.3); kept by triggers, never written by hand.';
COMMENT ON TABLE presence.sessions IS
	'One row per session key (user_id, session_id); session_id '''' is the user''s anonymous session (doc/rules.md section 3).';
COMMENT ON COLUMN presence.users.last_offline_logout IS
	'Whether the item at last_offline_at (the greatest "1" or "2") is a "2": logged_out is this while no session is online.';
COMMENT ON COLUMN presence.sessions.os_key IS
	'presence.item_key() of the greatest item that carried os, NULL when none did: a later item takes os only if it is greater.';
COMMENT ON COLUMN presence.sessions.client_ip_key IS
	'presence.item_key() of the greatest item that carried client_ip; NULL when none did, or when it is the item os_key names.';
COMMENT ON TABLE presence.events IS
	'Every distinct status item received, with its envelope and outcome (applied or stale); the key is the duplicate identity.';
COMMENT ON TABLE presence.secrets IS
	'Active signing secrets; app_key '''' serves deliveries with any or no app key.  Readable only by the owner and presence_admin.';
COMMENT ON TABLE presence.seen_signatures IS
	'Signature triples already accepted, each bound to the SHA-256 of its body (the replay binding, doc/rules.md section 4).';
COMMENT ON INDEX presence.seen_signatures_signed_at IS
	'Remembered triples by signing time, for forgetting those past the age window.';
COMMENT ON FUNCTION presence.users_follow_events() IS
	'Trigger on presence.events: a new item moves its user''s last_online_at, last_offline_at and last_seen_at in presence.users.';
COMMENT ON FUNCTION presence.users_follow_sessions() IS
	'Trigger on presence.sessions: a session''s change of state moves its user''s online_sessions, online and logged_out in presence.users.';
COMMENT ON FUNCTION @extschema@.presence_parse(text) IS
	'Parse and validate a delivery body without applying it: its status items, or the error that ingest would raise.';
COMMENT ON FUNCTION @extschema@.presence_verify(text, text, text, text) IS
	'Check a delivery''s signature (nonce, signTimestamp, signature, appKey) against the active secrets and the age limit; remembers nothing.';
COMMENT ON FUNCTION @extschema@.presence_ingest(text, text, text, text, text) IS
	'Verify the signature, bind the triple to the body, parse and apply one delivery atomically.';
COMMENT ON FUNCTION @extschema@.presence_ingest_unsigned(text) IS
	'Parse and apply one delivery without a signature: replay, backfill and tests (presence_admin only).';
COMMENT ON FUNCTION @extschema@.presence_ingest_batch(text[], text[], text[], text[], text[]) IS
	'Group commit: several signed deliveries in one transaction, one outcome row each; a refused delivery writes nothing.';
COMMENT ON FUNCTION presence.set_secret(text, text) IS
	'Add an active signing secret for app_key ('''' serves every app key); several may be active at once.';
COMMENT ON FUNCTION presence.drop_secret(text, text) IS
	'Remove an active signing secret; true when it was there.';
COMMENT ON FUNCTION presence.check() IS
	'Every stored field of presence.users and presence.sessions that differs from what the kept items say; no rows means all is well.';
COMMENT ON ROLE presence_reader IS 'presence: may read presence.sessions, presence.users, presence.events and the history.';
COMMENT ON ROLE presence_writer IS 'presence: may ingest signed deliveries (what presence-http connects as) and reconcile.';
COMMENT ON ROLE presence_admin IS 'presence: secrets, the unsigned path, maintain(), and every presence table.';
COMMENT ON ROLE presence_owner IS 'presence: owns the tables and SECURITY DEFINER functions; no login, no superuser; grant it to no one.';

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

/*
 * Scale-out (doc/rules.md section 12).  A partition is an ordinary presence database; a
 * router (extension presence_router, on PL/Proxy) sends each item to the partition
 * presence.partition_of(user_id, partitions) and calls presence.partition_apply() there
 * as a role in presence_router.  A user's partition never changes for a given count.
 */
DO $router_role$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'presence_router') THEN
		CREATE ROLE presence_router NOLOGIN;
	END IF;
END
$router_role$;
GRANT presence_reader TO presence_router;
COMMENT ON ROLE presence_router IS 'presence: the role a router logs in to a partition as; may call presence.partition_apply and read as presence_reader.';

CREATE FUNCTION presence.user_hash(user_id text) RETURNS integer
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT ('x' || pg_catalog.substr(pg_catalog.md5(user_hash.user_id), 1, 8))::bit(32)::integer $$;
COMMENT ON FUNCTION presence.user_hash(text) IS
	'The first 32 bits of md5(user_id) as a signed integer: the hash PL/Proxy masks to find a user''s partition.';

CREATE FUNCTION presence.partition_of(user_id text, partitions integer) RETURNS integer
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT presence.user_hash(partition_of.user_id) & (partition_of.partitions - 1) $$;
COMMENT ON FUNCTION presence.partition_of(text, integer) IS
	'The partition (0 to partitions - 1, a power of two) that holds a user''s rows: user_hash(user_id) & (partitions - 1).';

CREATE FUNCTION presence.partition_apply(user_ids text[], session_ids text[], statuses text[],
										 times bigint[], oses text[], client_ips text[],
										 item_nos integer[], deliveries integer[],
										 event_ids text[], event_times bigint[])
	RETURNS TABLE (delivery integer, applied integer, duplicates integer, stale integer)
	AS 'MODULE_PATHNAME', 'presence_partition_apply'
	LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION presence.partition_apply(text[], text[], text[], bigint[], text[], text[],
											 integer[], integer[], text[], bigint[]) IS
	'A router''s share of one ingest call, applied on this partition: the items (times in ms, deliveries indexing the envelope arrays from 1); one row of counts per delivery with items here.';
REVOKE ALL ON FUNCTION presence.partition_apply(text[], text[], text[], bigint[], text[], text[],
												integer[], integer[], text[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.partition_apply(text[], text[], text[], bigint[], text[], text[],
												   integer[], integer[], text[], bigint[])
	TO presence_router;
ALTER FUNCTION presence.partition_apply(text[], text[], text[], bigint[], text[], text[],
										integer[], integer[], text[], bigint[])
	OWNER TO presence_owner;
