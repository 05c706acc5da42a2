-- pgTAP: the work of applying an item does not depend on the history behind it (issue 17,
-- finding 3).  Rows fetched through indexes are counted with pg_stat_xact_user_tables; the
-- old apply fetched every newer item of a session for each older item carrying os, and
-- every session of a user for each session that ended.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(17);

CREATE FUNCTION pg_temp.fetched(rel text) RETURNS bigint LANGUAGE sql AS $$
	SELECT coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables
	 WHERE schemaname = 'presence' AND relname = rel
$$;
CREATE FUNCTION pg_temp.body(items text) RETURNS text LANGUAGE sql AS $$
	SELECT '{"type":"user:connection_status","id":"ba","time":1730192400000,"data":[' || items || ']}'
$$;

-- 2,000 newer items without os or clientIp, then 2,000 older ones that carry both.
SELECT presence_ingest_unsigned(pg_temp.body(string_agg(
	format('{"status":"0","userId":"ba_u","sessionId":"s","time":%s}', 1730192500000 + g), ',')))
  FROM generate_series(1, 2000) g;
SELECT pg_temp.fetched('events') AS before \gset
SELECT is((presence_ingest_unsigned(pg_temp.body(string_agg(
	format('{"status":"0","userId":"ba_u","sessionId":"s","time":%s,"os":"os-%s","clientIp":"10.0.0.%s"}',
		   1730192400000 + g, g, g % 250), ',')))).applied, 2000,
	'2,000 older items that carry os and clientIp are applied')
  FROM generate_series(1, 2000) g;
SELECT cmp_ok(pg_temp.fetched('events') - :before, '<=', 20000::bigint,
	'applying them fetches a bounded number of items per item, not every newer one');
SELECT is(os, 'os-2000', 'os comes from the greatest item that carries it')
  FROM presence.sessions WHERE user_id = 'ba_u';

-- One delivery of 2,000 sessions of one user, each connected and logged out.
SELECT pg_temp.fetched('sessions') AS before \gset
SELECT is((presence_ingest_unsigned(pg_temp.body(string_agg(
	format('{"status":"0","userId":"ba_v","sessionId":"v%s","time":%s},{"status":"2","userId":"ba_v","sessionId":"v%s","time":%s}',
		   g, 1730192400000 + 2 * g, g, 1730192400001 + 2 * g), ',')))).applied, 4000,
	'4,000 items of 2,000 sessions are applied')
  FROM generate_series(1, 2000) g;
SELECT cmp_ok(pg_temp.fetched('sessions') - :before, '<=', 20000::bigint,
	'deciding logged_out fetches a bounded number of sessions per session, not all of them');
SELECT is(count(*)::int, 0, 'presence.check() is empty') FROM presence.check();

-- The order keys: os comes from the greatest item that carries it, which the session row
-- names (os_key), so an item that only moves the key is stale and still recorded.
SELECT is(presence.item_key('2000-01-01 00:00:00.000001+00', '2'), 6::bigint,
	'item_key is microseconds since 2000 times 4 plus the status');
SELECT is(presence.item_key('infinity', '2'), (1152921504606846976 * 4 + 2)::bigint,
	'item_key clamps a time past +-2^60 microseconds instead of overflowing');
SELECT presence_ingest_unsigned(pg_temp.body(
	'{"status":"0","userId":"ba_k","sessionId":"s","time":1730192401000,"os":"A"},'
	'{"status":"1","userId":"ba_k","sessionId":"s","time":1730192405000}'));
SELECT is((presence_ingest_unsigned(pg_temp.body(
	'{"status":"1","userId":"ba_k","sessionId":"s","time":1730192403000,"os":"A"}'))).stale, 1,
	'an older disconnect carrying the same os changes no field: stale');
SELECT is(os_key, presence.item_key('2024-10-29 09:00:03+00', '1'),
	'but os_key now names it, the greatest item that carried os')
  FROM presence.sessions WHERE user_id = 'ba_k';
SELECT is((presence_ingest_unsigned(pg_temp.body(
	'{"status":"0","userId":"ba_k","sessionId":"s","time":1730192402000,"os":"B"}'))).applied, 1,
	'a connect between the two is applied (it moves started_at)');
SELECT is(os, 'A', 'but it does not take os: a greater item carried os')
  FROM presence.sessions WHERE user_id = 'ba_k';

-- New events and sessions are written 64 at a time (a multi-insert) at the call's end or at
-- the next read of their table: a copy of a new item in the same call must still be found.
SELECT is(ARRAY[r.applied, r.duplicates],  ARRAY[70, 1],
	'70 new items and a copy of one of them in one call: 70 applied, 1 duplicate')
  FROM presence_ingest_unsigned(pg_temp.body(
	(SELECT string_agg(format('{"status":"0","userId":"ba_m","sessionId":"m%s","time":%s,"os":"iOS"}',
							  g, 1730192400000 + g), ',') FROM generate_series(1, 70) g)
	|| ',{"status":"0","userId":"ba_m","sessionId":"m3","time":1730192400003,"os":"PC"}')) r;
SELECT is(ARRAY[(SELECT count(*)::int FROM presence.events WHERE user_id = 'ba_m'),
				(SELECT count(*)::int FROM presence.sessions WHERE user_id = 'ba_m'),
				(SELECT online_sessions FROM presence.users WHERE user_id = 'ba_m')],
	ARRAY[70, 70, 70], 'all 70 events and sessions are written, and the user counts them');

-- A trigger of the user's own on presence.sessions: ingest then fires every trigger of the
-- table, its own users trigger too, instead of applying the users rule itself.
CREATE TEMP TABLE seen_sessions (user_id text, state text);
GRANT INSERT ON seen_sessions TO PUBLIC;
CREATE FUNCTION pg_temp.note_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO pg_temp.seen_sessions VALUES (NEW.user_id, NEW.state);
	RETURN NULL;
END $$;
CREATE TRIGGER note_session AFTER INSERT OR UPDATE ON presence.sessions
	FOR EACH ROW EXECUTE FUNCTION pg_temp.note_session();
SELECT presence_ingest_unsigned(pg_temp.body(
	'{"status":"0","userId":"ba_t","sessionId":"a","time":1730192401000},'
	'{"status":"0","userId":"ba_t","sessionId":"b","time":1730192401000},'
	'{"status":"2","userId":"ba_t","sessionId":"a","time":1730192402000}'));
SELECT is(ARRAY(SELECT state FROM seen_sessions ORDER BY 1), '{logged_out,online}'::text[],
	'a trigger of the user''s own on presence.sessions fires for ingest''s writes');
SELECT is(ARRAY[online_sessions::text, online::text, logged_out::text], '{1,true,false}'::text[],
	'and presence.users still follows the sessions')
  FROM presence.users WHERE user_id = 'ba_t';
DROP TRIGGER note_session ON presence.sessions;
SELECT is(count(*)::int, 0, 'presence.check() is still empty') FROM presence.check();

SELECT * FROM finish();
ROLLBACK;
