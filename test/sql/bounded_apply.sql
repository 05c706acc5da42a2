-- pgTAP: the work of applying an item does not depend on the history behind it (issue 17,
-- finding 3).  Rows fetched through indexes are counted with pg_stat_xact_user_tables; the
-- old apply fetched every newer item of a session for each older item carrying os, and
-- every session of a user for each session that ended.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(6);

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

SELECT * FROM finish();
ROLLBACK;
