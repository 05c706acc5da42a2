-- History and views: presence.platforms, user_history, online_at, online_time,
-- online_counts and presence.daily.  Times are ms after 2024-10-29 09:00 UTC
-- (t.ms), h = 3600000.
TRUNCATE presence.events, presence.sessions, presence.users, presence.daily,
	presence.folded_sessions, presence.folded_users, presence.retention_state;

GRANT USAGE ON SCHEMA t TO PUBLIC;
-- CALL presence.maintain() without showing what it removed (signature triples of
-- the earlier files, depending on how long they took).
CREATE PROCEDURE t.quiet_maintain() LANGUAGE plpgsql AS $$
DECLARE
	items bigint;
	sessions bigint;
	signatures bigint;
	horizon timestamptz;
BEGIN
	CALL presence.maintain(items, sessions, signatures, horizon);
END
$$;

CREATE FUNCTION t.at(ms bigint) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT to_timestamp((1730192400000 + ms) / 1000.0)
$$;
CREATE FUNCTION t.history(u text, since_ms bigint DEFAULT 0, until_ms bigint DEFAULT 100000000)
RETURNS TABLE (session_id text, os text, online_from bigint, online_until bigint, end_state text)
LANGUAGE sql AS $$
	SELECT h.session_id, h.os, t.ms(h.online_from), t.ms(h.online_until), h.end_state
	  FROM presence.user_history(u, t.at(since_ms), t.at(until_ms)) h
$$;

-- An anonymous session that goes online three times; a disconnect while offline
-- opens nothing, a connect while online does not start a new interval.
SELECT t.ingest(t.envelope('a1', concat_ws(',',
	t.item('0', 'h_anon', 0, NULL, 'iOS'),
	t.item('1', 'h_anon', 3600000),
	t.item('0', 'h_anon', 7200000, NULL, 'Android'),
	t.item('0', 'h_anon', 9000000),
	t.item('2', 'h_anon', 10800000),
	t.item('1', 'h_anon', 12600000),
	t.item('0', 'h_anon', 14400000),
	t.item('1', 'h_anon', 18000000))));
-- The third interval carries no os of its own: the session's (Android) stands in.
SELECT * FROM t.history('h_anon');
-- Only the intervals overlapping [since, until): [1h, 2h] meets none; 2.5h..4.5h two.
SELECT * FROM t.history('h_anon', 3600000, 7200000);
SELECT * FROM t.history('h_anon', 9000000, 16200000);

-- An identified session whose connect arrives after its disconnect.  With only
-- the disconnect known, the session was never online by its items: no interval.
SELECT t.ingest(t.envelope('l1', t.item('1', 'h_late', 7200000, 'L')));
SELECT * FROM t.history('h_late');
SELECT t.ingest(t.envelope('l2', t.item('0', 'h_late', 3600000, 'L', 'Web')));
SELECT * FROM t.history('h_late');
-- A connect later than its own disconnect (a clock gone wrong) gives no interval either.
SELECT t.ingest(t.envelope('l3', concat_ws(',',
	t.item('1', 'h_late', 3600000, 'M'), t.item('0', 'h_late', 7200000, 'M'))));
SELECT * FROM t.history('h_late');

-- Two devices that overlap: 3 h online, not 4.
SELECT t.ingest(t.envelope('d1', concat_ws(',',
	t.item('0', 'h_two', 0, 'a', 'iOS'), t.item('1', 'h_two', 7200000, 'a'),
	t.item('0', 'h_two', 3600000, 'b', 'PC'), t.item('1', 'h_two', 10800000, 'b'))));
SELECT * FROM t.history('h_two');
SELECT presence.online_time('h_two', t.at(0), t.at(36000000));
SELECT presence.online_time('h_two', t.at(1800000), t.at(9000000));
SELECT presence.online_time('h_two', t.at(20000000), t.at(36000000));
SELECT presence.online_time('nobody', t.at(0), t.at(36000000));

-- An interval crossing midnight UTC (23:00 to 01:00).
SELECT t.ingest(t.envelope('n1', concat_ws(',',
	t.item('0', 'h_night', 50400000, 'n', 'Android'), t.item('1', 'h_night', 57600000, 'n'))));
SELECT * FROM t.history('h_night');

-- Intervals still open, and one without os.
SELECT t.ingest(t.envelope('o1', concat_ws(',',
	t.item('0', 'h_open', 21600000, 'o', 'PC'), t.item('0', 'h_open', 25200000, 'p', 'PC'),
	t.item('0', 'h_plat', 25200000, 'x'))));
SELECT * FROM t.history('h_open');
-- Open intervals count until `until` (here before now()).
SELECT presence.online_time('h_open', t.at(0), t.at(28800000));

-- platforms: now.
SELECT * FROM presence.platforms ORDER BY os NULLS FIRST;

-- online_at: [from, until) holds its start, not its end.
SELECT user_id, session_id, os, t.ms(online_since) FROM presence.online_at(t.at(1800000))
 ORDER BY 1, 2;
SELECT user_id, session_id, os, t.ms(online_since) FROM presence.online_at(t.at(3600000))
 ORDER BY 1, 2;
SELECT user_id, session_id, os, t.ms(online_since) FROM presence.online_at(t.at(54000000))
 ORDER BY 1, 2;
SELECT user_id, session_id, os, t.ms(online_since) FROM presence.online_at(t.at(90000000))
 ORDER BY 1, 2;

-- online_counts: every half hour from 09:00 to 12:00, then 22:00 to 02:00 hourly.
SELECT t.ms(at), users, sessions
  FROM presence.online_counts(t.at(0), t.at(10800000), '30 minutes');
SELECT t.ms(at), users, sessions
  FROM presence.online_counts(t.at(46800000), t.at(61200000), '1 hour');
SELECT count(*) FROM presence.online_counts(t.at(0), t.at(0), '1 hour');
SELECT t.try($$SELECT * FROM presence.online_counts(now(), now() + '1 day', '0')$$);

-- Every story agrees with the sessions table, and check() is empty.
SELECT * FROM presence.check();

-- presence.daily, filled by maintain() for the days that have ended (retention 0
-- prunes nothing; daily_retention 0 keeps every day).
SELECT t.try($$SET presence.daily_retention = 'a year or so'$$);
SET presence.retention = 0;
SET presence.daily_retention = 0;
CALL t.quiet_maintain();
SELECT user_id, day, online_time, sessions, first_online_at AT TIME ZONE 'UTC' AS first_online,
	   last_seen_at AT TIME ZONE 'UTC' AS last_seen
  FROM presence.daily WHERE day <= '2024-10-31' ORDER BY 1, 2;
-- Still online: every ended day since counts as a whole day.
SELECT count(*) = ((now() AT TIME ZONE 'UTC')::date - '2024-10-30'::date) AS whole_days,
	   bool_and(online_time = '1 day') AS all_day
  FROM presence.daily WHERE user_id = 'h_open' AND day > '2024-10-29';
-- Idempotent: a second run adds nothing.
SELECT count(*) AS rows_before FROM presence.daily \gset
CALL t.quiet_maintain();
SELECT count(*) = :rows_before AS unchanged FROM presence.daily;
-- presence_reader may read it all; only presence_admin may fill it.
SET ROLE presence_reader;
SELECT count(*) > 0 FROM presence.daily;
SELECT count(*) FROM presence.user_history('h_anon', '-infinity', 'infinity');
SELECT count(*) FROM presence.platforms;
SELECT t.try($$SELECT presence.fill_daily()$$);
RESET ROLE;
-- daily_retention prunes old days.
SET presence.daily_retention = '1 day';
CALL t.quiet_maintain();
SELECT count(*) FROM presence.daily WHERE day < (now() AT TIME ZONE 'UTC')::date - 2;
RESET presence.daily_retention;
RESET presence.retention;
SHOW presence.daily_retention;
