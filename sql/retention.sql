-- Retention: presence.maintain(), presence.horizon() and items older than the horizon.
-- Times are ms after 2024-10-29 09:00 UTC; the horizon is put at 10:00 UTC.
TRUNCATE presence.events, presence.sessions, presence.users, presence.seen_signatures;
GRANT USAGE ON SCHEMA t TO PUBLIC;

-- CALL presence.maintain(), saying what it removed (the horizon it returns varies).
CREATE PROCEDURE t.maintain() LANGUAGE plpgsql AS $$
DECLARE
	items bigint;
	sessions bigint;
	signatures bigint;
	horizon timestamptz;
BEGIN
	CALL presence.maintain(items, sessions, signatures, horizon);
	RAISE NOTICE 'removed % items, % sessions, % signature triples', items, sessions, signatures;
END
$$;

-- Nothing pruned yet: the horizon is -infinity, and retention 0 keeps everything.
SELECT presence.horizon();
SET presence.retention = 0;
CALL presence.maintain();

-- The setting: an interval, never negative, and only superusers may change it.
SELECT t.try($$SET presence.retention = 'a fortnight'$$);
SELECT t.try($$SET presence.retention = '-1 day'$$);
SET presence.retention = 'P7D';
SHOW presence.retention;
RESET presence.retention;
SHOW presence.retention;
SET ROLE presence_admin;
SELECT t.try($$SET presence.retention = '1 second'$$);
RESET ROLE;

-- Stories, all before the horizon unless said:
SELECT t.ingest(t.envelope('r1', concat_ws(',',
	t.item('0', 'ret_anon', 0, NULL, 'iOS'),			-- anonymous, online at the horizon
	t.item('0', 'ret_gone', 0, 'g1', 'Web'),			-- identified, ended before it
	t.item('1', 'ret_gone', 60000, 'g1'),
	t.item('0', 'ret_out', 0, 'o1'),					-- logged out before it
	t.item('2', 'ret_out', 60000, 'o1'),
	t.item('0', 'ret_cut', 0, NULL, 'PC'),				-- anonymous, ended before, back after
	t.item('1', 'ret_cut', 60000),
	t.item('1', 'ret_cut', 7200000),
	t.item('0', 'ret_live', 0, 'l1', 'Android'),		-- identified, online, ends after it
	t.item('1', 'ret_live', 7200000, 'l1'))));

-- maintain() with the horizon at 10:00 UTC; it cannot run inside a transaction block.
-- (In seconds: days of an interval follow the session's time zone.)
SELECT set_config('presence.retention',
				  extract(epoch FROM now() - '2024-10-29 10:00+00'::timestamptz) || ' seconds',
				  false) IS NOT NULL AS set;
BEGIN;
SELECT t.try('CALL presence.maintain()');
ROLLBACK;
CALL t.maintain();
SELECT presence.horizon() BETWEEN '2024-10-29 10:00+00' AND '2024-10-29 10:00:05+00' AS horizon_at_ten;

SELECT user_id, session_id, state, os, started_at, ended_at, last_event_at
  FROM presence.sessions ORDER BY 1, 2;
SELECT user_id, online_sessions, online, last_online_at, last_offline_at, logged_out
  FROM presence.users ORDER BY 1;
SELECT user_id, session_id, started_at, os FROM presence.folded_sessions ORDER BY 1, 2;
SELECT * FROM presence.folded_users ORDER BY 1;
SELECT count(*) AS items_kept, min(status_time) FROM presence.events;
SELECT * FROM presence.check();

-- An item older than the horizon is stale and changes nothing, even for a new user,
-- and a late connect never brings back a session ended before the horizon.
SELECT t.snapshot() AS before \gset
SELECT t.ingest(t.item('0', 'ret_new', 0));
SELECT t.ingest(t.item('0', 'ret_gone', 30000, 'g1'));
SELECT t.ingest(t.item('1', 'ret_anon', 60000));
SELECT t.snapshot() = :'before' AS unchanged;
-- An item after the horizon is applied as ever.
SELECT t.ingest(t.item('1', 'ret_anon', 3610000));
SELECT state, ended_at FROM presence.sessions WHERE user_id = 'ret_anon';
SELECT * FROM presence.check();

-- maintain() again removes nothing more; the horizon never moves back.
CALL t.maintain();
SET presence.retention = '100 years';
CALL t.maintain();
SELECT presence.horizon() >= '2024-10-29 10:00+00' AS never_back;
RESET presence.retention;

-- Who may: presence_admin runs maintain(); a writer and a reader may not.
SET ROLE presence_writer;
SELECT t.try('CALL presence.maintain()');
SELECT presence.horizon() IS NOT NULL AS writer_reads_horizon;
SET ROLE presence_reader;
SELECT t.try('CALL presence.maintain()');
SELECT count(*) >= 0 AS reader_checks FROM presence.check();
RESET ROLE;

-- Forgetting signatures: never one the age check would still accept, none while it is off.
INSERT INTO presence.seen_signatures VALUES
	('n-fresh', '1', 'a', '\x00', now() - interval '299 seconds'),
	('n-old', '2', 'b', '\x00', now() - interval '301 seconds');
SELECT presence.forget_signatures('0');
SELECT nonce FROM presence.seen_signatures ORDER BY 1;
SET presence.signature_max_age = 0;
INSERT INTO presence.seen_signatures VALUES ('n-ancient', '3', 'c', '\x00', now() - interval '9 days');
SELECT presence.forget_signatures('1 day');
RESET presence.signature_max_age;
SELECT presence.forget_signatures('1 day');

-- Leave no horizon behind for the files that follow.
TRUNCATE presence.events, presence.sessions, presence.users, presence.seen_signatures,
	presence.folded_sessions, presence.folded_users, presence.retention_state;
