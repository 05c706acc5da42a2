-- pgTAP: invariant 2 on a fixed history: any order, any number of times,
-- one item per delivery or all in one batch, ends in the same rows.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(9);

CREATE TEMP TABLE history (n int, item text);
INSERT INTO history VALUES
	(1, '{"status":"0","userId":"u1","time":1000,"sessionId":"a","os":"iOS","clientIp":"1.1.1.1:1"}'),
	(2, '{"status":"1","userId":"u1","time":5000,"sessionId":"a"}'),
	(3, '{"status":"0","userId":"u1","time":5000,"sessionId":"a","os":"Android"}'),
	(4, '{"status":"0","userId":"u1","time":2000,"sessionId":"b","os":"PC"}'),
	(5, '{"status":"2","userId":"u1","time":9000,"sessionId":"b"}'),
	(6, '{"status":"1","userId":"u1","time":9000,"sessionId":"b"}'),
	(7, '{"status":"0","userId":"u2","time":1000}'),
	(8, '{"status":"1","userId":"u2","time":3000}'),
	(9, '{"status":"0","userId":"u2","time":4000,"os":"Websocket"}'),
	(10, '{"status":"2","userId":"u2","time":4000}'),
	(11, '{"status":"0","userId":"u3","time":7000,"sessionId":"c"}'),
	(12, '{"status":"1","userId":"u3","time":6000,"sessionId":"d"}'),
	(13, '{"status":"0","userId":"u3","time":6500,"sessionId":""}'),
	(14, '{"status":"1","userId":"u1","time":3000,"sessionId":"a","clientIp":"2.2.2.2:2"}');

CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
	SELECT (SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s', user_id, session_id, state, os,
				client_ip, started_at, ended_at, last_event_at), E'\n' ORDER BY user_id, session_id)
			FROM presence.sessions)
		|| E'\n--\n' ||
		(SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s', user_id, online_sessions, online,
				last_online_at, last_offline_at, last_seen_at, logged_out), E'\n' ORDER BY user_id)
			FROM presence.users)
$$;

CREATE FUNCTION pg_temp.reset() RETURNS void LANGUAGE sql AS $$
	TRUNCATE presence.events, presence.sessions, presence.users
$$;

-- Apply each item as its own delivery, in the given order.
CREATE FUNCTION pg_temp.apply_each(ord text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	PERFORM pg_temp.reset();
	FOR r IN EXECUTE 'SELECT item FROM history ORDER BY ' || ord LOOP
		PERFORM presence_ingest_unsigned(r.item);
	END LOOP;
	RETURN pg_temp.state();
END
$$;

SELECT pg_temp.apply_each('n') AS forward \gset
SELECT is(pg_temp.apply_each('n DESC'), :'forward', 'reverse order ends in the same rows');
SELECT setseed(0.42);
SELECT is(pg_temp.apply_each('random()'), :'forward', 'a random order ends in the same rows');
SELECT is(pg_temp.apply_each('n % 3, n DESC'), :'forward', 'an interleaved order ends in the same rows');

-- Everything again, twice over, in another order: duplicates change nothing.
SELECT pg_temp.apply_each('n') IS NOT NULL;
SELECT is(sum((presence_ingest_unsigned(item)).duplicates)::int, 14, 'a second pass is all duplicates')
FROM (SELECT item FROM history ORDER BY n DESC) h;
SELECT is(pg_temp.state(), :'forward', 're-delivery changes nothing');

-- All in one batched envelope, and as one legacy array.
SELECT pg_temp.reset();
SELECT is((presence_ingest_unsigned('{"type":"user:connection_status","id":"all","time":1,"data":['
	|| string_agg(item, ',' ORDER BY n DESC) || ']}')).items, 14, 'one batch of 14 items')
FROM history;
SELECT is(pg_temp.state(), :'forward', 'one batched delivery ends in the same rows');
SELECT pg_temp.reset();
SELECT presence_ingest_unsigned('[' || string_agg(item, ',' ORDER BY random()) || ']') FROM history;
SELECT is(pg_temp.state(), :'forward', 'one legacy array ends in the same rows');

SELECT is_empty('SELECT * FROM presence.check()', 'check() is empty');

SELECT * FROM finish();
ROLLBACK;
