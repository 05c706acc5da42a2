-- Backfill in one statement: several ingest calls within one SQL statement
-- (SELECT over an archive, (f(body)).*, several batches, a FOR loop over a
-- query, a PL/pgSQL loop, INSERT ... SELECT, a CTE, REPEATABLE READ) end in
-- the same rows and give the same per-call results as the same calls made
-- one statement each.  Every form runs one history under its own user-id
-- prefix; t.bf_rows strips the prefix so the forms can be compared.  The
-- one-statement-per-call references are generated with \gexec and not echoed.

-- A history: several bodies touch the same users and sessions, with
-- connects, disconnects, a logout, duplicates within a body and across
-- bodies, a whole body sent again, stale items, a foreign event, all three
-- body shapes, a user known before the statement (a) and new ones (b, c).
-- Often a body's first user (in byte order) is the one the body before
-- wrote last.  Body 0 runs in a statement of its own before each form.
CREATE TABLE t.bf_archive (n int PRIMARY KEY, tmpl text NOT NULL);
INSERT INTO t.bf_archive VALUES
	(0, t.envelope('h0', t.item('0', '%P%a', 100, 's1', 'Web'))),
	(1, t.envelope('h1', t.item('0', '%P%a', 200, 's2', 'iOS') || ',' || t.item('0', '%P%b', 150))),
	(2, t.item('1', '%P%b', 250)),
	(3, '[' || t.item('0', '%P%c', 100, 's9') || ',' || t.item('2', '%P%c', 400, 's9') || ','
		|| t.item('0', '%P%b', 500, NULL, 'Android') || ']'),
	(4, t.envelope('h4', t.item('0', '%P%c', 50, 's10', 'Android') || ',' || t.item('1', '%P%c', 60, 's10'))),
	(5, t.envelope('h4', t.item('0', '%P%c', 50, 's10', 'Android') || ',' || t.item('1', '%P%c', 60, 's10'))),
	(6, replace(t.envelope('h6', t.item('1', '%P%a', 900, 's2')), 'user:connection_status', 'user:other')),
	(7, t.envelope('h7', t.item('0', '%P%c', 50, 's9'))),
	(8, t.envelope('h8', t.item('1', '%P%a', 300, 's1') || ',' || t.item('0', '%P%a', 200, 's2', 'iOS')
		|| ',' || t.item('0', '%P%a', 50, 's1'))),
	(9, t.envelope('h9', '{"status":"2","userId":"%P%a","time":1730192400600,"sessionId":"s2","clientIp":"10.0.0.1:1"},'
		|| t.item('0', '%P%a', 700) || ',' || t.item('0', '%P%a', 700))),
	(10, t.envelope('h10', t.item('1', '%P%a', 650) || ',' || t.item('1', '%P%b', 450)));

-- The bodies of each form, in a table: a volatile SQL helper evaluated
-- between two ingest calls would start a new command and hide what this
-- file is about.
CREATE TABLE t.bf_bodies (p text, n int, body text, PRIMARY KEY (p, n));
INSERT INTO t.bf_bodies
SELECT p, n, replace(tmpl, '%P%', p)
FROM t.bf_archive,
	unnest(ARRAY['ra:', 'r5:', 'rc:', 'xa:', 'fa:', 'fb:', 'fc:', 'fd:', 'fe:', 'ff:', 'fg:', 'fh:', 'fi:']) p
ORDER BY p, n;

-- Per-call results: k counts the calls of one body (the reference for
-- (f(body)).* makes five).
CREATE TABLE t.bf_result (p text, n int, k int, r presence.ingest_result);

-- The rows of one prefix's users, the prefix cut off, times in ms after
-- 1730192400000; updated_at and received_at left out.
CREATE FUNCTION t.bf_rows(p text) RETURNS text[] LANGUAGE sql STABLE AS $$
	SELECT array_agg(x ORDER BY x COLLATE "C") FROM (
		SELECT format('session %s/%s %s os=%s ip=%s started=%s ended=%s last=%s',
			substr(user_id, length(p) + 1), session_id, state, os, client_ip,
			t.ms(started_at), t.ms(ended_at), t.ms(last_event_at))
		FROM presence.sessions WHERE starts_with(user_id, p)
		UNION ALL
		SELECT format('user %s sessions=%s online=%s last_online=%s last_offline=%s last_seen=%s logged_out=%s',
			substr(user_id, length(p) + 1), online_sessions, online, t.ms(last_online_at),
			t.ms(last_offline_at), t.ms(last_seen_at), logged_out)
		FROM presence.users WHERE starts_with(user_id, p)
		UNION ALL
		SELECT format('event %s/%s %s@%s %s envelope=%s@%s item=%s os=%s ip=%s',
			substr(user_id, length(p) + 1), session_id, status, t.ms(status_time), outcome,
			event_id, t.ms(event_time), item_no, os, client_ip)
		FROM presence.events WHERE starts_with(user_id, p)
	) r(x)
$$;

CREATE FUNCTION t.bf_results(prefix text) RETURNS text[] LANGUAGE sql STABLE AS $$
	SELECT array_agg(format('%s.%s %s', n, k, r) ORDER BY n, k) FROM t.bf_result WHERE p = prefix
$$;

-- Body 0 for every prefix, one statement each: user a exists before the
-- statement under test.
\set ECHO none
SELECT format('INSERT INTO t.bf_result SELECT p, n, 1, presence_ingest_unsigned(body) '
			  'FROM t.bf_bodies WHERE p = %L AND n = 0', p)
FROM (SELECT DISTINCT p FROM t.bf_bodies) ps ORDER BY p \gexec
\set ECHO all

-- The reference: every other body, one call per statement.
\set ECHO none
SELECT format('INSERT INTO t.bf_result VALUES (%L, %s, 1, presence_ingest_unsigned(%L))', p, n, body)
FROM t.bf_bodies WHERE p = 'ra:' AND n > 0 ORDER BY n \gexec
\set ECHO all
SELECT n, k, (r).* FROM t.bf_result WHERE p = 'ra:' ORDER BY n, k;
SELECT unnest(t.bf_rows('ra:')) AS reference_rows;

-- The control: without body 10 the comparison says so.
\set ECHO none
SELECT format('INSERT INTO t.bf_result VALUES (%L, %s, 1, presence_ingest_unsigned(%L))', p, n, body)
FROM t.bf_bodies WHERE p = 'xa:' AND n BETWEEN 1 AND 9 ORDER BY n \gexec
\set ECHO all
SELECT t.bf_rows('xa:') = t.bf_rows('ra:') AS control_same_rows,
	t.bf_results('xa:') = t.bf_results('ra:') AS control_same_results;

-- 1. The archive replay itself: SELECT presence_ingest_unsigned(body) FROM archive.
SELECT n, presence_ingest_unsigned(body) AS result,
	(SELECT r FROM t.bf_result x WHERE x.p = 'ra:' AND x.n = b.n) AS one_by_one
FROM t.bf_bodies b WHERE p = 'fa:' AND n > 0 ORDER BY n;
SELECT t.bf_rows('fa:') = t.bf_rows('ra:') AS same_rows;

-- 2. (f(body)).* calls the function once per column; the reference sends
-- each body five times, one statement each, and takes column k from call k.
\set ECHO none
SELECT format('INSERT INTO t.bf_result VALUES (%L, %s, %s, presence_ingest_unsigned(%L))', p, n, k, body)
FROM t.bf_bodies, generate_series(1, 5) k WHERE p = 'r5:' AND n > 0 ORDER BY n, k \gexec
\set ECHO all
CREATE TABLE t.bf_columns AS
SELECT n, (presence_ingest_unsigned(body)).* FROM t.bf_bodies WHERE p = 'fb:' AND n > 0 ORDER BY n;
SELECT n, items, applied, duplicates, stale, ignored FROM t.bf_columns ORDER BY n;
SELECT array_agg(c ORDER BY c.n) = (
		SELECT array_agg(ROW(n, (r1).items, (r2).applied, (r3).duplicates, (r4).stale, (r5).ignored)::t.bf_columns
						 ORDER BY n)
		FROM (SELECT n, max(r::text) FILTER (WHERE k = 1)::presence.ingest_result r1,
					 max(r::text) FILTER (WHERE k = 2)::presence.ingest_result r2,
					 max(r::text) FILTER (WHERE k = 3)::presence.ingest_result r3,
					 max(r::text) FILTER (WHERE k = 4)::presence.ingest_result r4,
					 max(r::text) FILTER (WHERE k = 5)::presence.ingest_result r5
			  FROM t.bf_result WHERE p = 'r5:' AND n > 0 GROUP BY n) calls) AS same_results,
	t.bf_rows('fb:') = t.bf_rows('r5:') AS same_rows,
	t.bf_rows('fb:') = t.bf_rows('ra:') AS same_rows_as_once
FROM t.bf_columns c;

-- 3. Several presence_ingest_batch calls in one statement, each batch naming
-- the same users several times, against the same batches one per statement.
SET presence.signature_max_age = 0;
SELECT presence.set_secret('backfill-secret');
-- Batches of bodies 1-5, 6-7 and 8-10.
CREATE FUNCTION t.bf_batch_of(n int) RETURNS int LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN n <= 5 THEN 0 WHEN n <= 7 THEN 1 ELSE 2 END
$$;
CREATE TABLE t.bf_batches (p text, g int, bodies text[], nonces text[], stamps text[], signatures text[]);
INSERT INTO t.bf_batches
SELECT p, t.bf_batch_of(n), array_agg(body ORDER BY n), array_agg(p || n ORDER BY n),
	array_agg('1730192400000'::text ORDER BY n),
	array_agg(t.sign('backfill-secret', p || n, '1730192400000') ORDER BY n)
FROM t.bf_bodies WHERE p IN ('rc:', 'fc:') AND n > 0 GROUP BY p, t.bf_batch_of(n) ORDER BY p, 2;
CREATE TABLE t.bf_batch_result (p text, g int, ord int, items int, applied int, duplicates int,
	stale int, ignored int, sqlstate text, message text);
\set ECHO none
SELECT format('INSERT INTO t.bf_batch_result SELECT %L, %s, b.* FROM t.bf_batches x, '
			  'presence_ingest_batch(x.bodies, x.nonces, x.stamps, x.signatures) b '
			  'WHERE x.p = %L AND x.g = %s', p, g, p, g)
FROM t.bf_batches WHERE p = 'rc:' ORDER BY g \gexec
\set ECHO all
INSERT INTO t.bf_batch_result
SELECT x.p, x.g, b.* FROM t.bf_batches x,
	LATERAL presence_ingest_batch(x.bodies, x.nonces, x.stamps, x.signatures) b
WHERE x.p = 'fc:';
SELECT g, ord, items, applied, duplicates, stale, ignored, sqlstate
FROM t.bf_batch_result WHERE p = 'fc:' ORDER BY g, ord;
SELECT (SELECT array_agg(ROW(g, ord, items, applied, duplicates, stale, ignored, sqlstate, message)::text
						 ORDER BY g, ord) FROM t.bf_batch_result WHERE p = 'fc:') =
	   (SELECT array_agg(ROW(g, ord, items, applied, duplicates, stale, ignored, sqlstate, message)::text
						 ORDER BY g, ord) FROM t.bf_batch_result WHERE p = 'rc:') AS same_results,
	t.bf_rows('fc:') = t.bf_rows('rc:') AS same_rows;
RESET presence.signature_max_age;

-- 4. A DO block looping over a query that ingests; the loop body runs no
-- statement of its own between two calls.
DO $$
DECLARE
	r record;
	kept t.bf_result[] := '{}';
BEGIN
	FOR r IN SELECT n, presence_ingest_unsigned(body) AS res
			 FROM t.bf_bodies WHERE p = 'fd:' AND n > 0 ORDER BY n LOOP
		kept := kept || ROW('fd:', r.n, 1, r.res)::t.bf_result;
	END LOOP;
	INSERT INTO t.bf_result SELECT * FROM unnest(kept);
END
$$;

-- 5. PL/pgSQL functions looping over rows: over a query that ingests, and
-- over the bodies with one call each.
CREATE FUNCTION t.bf_replay_query(prefix text) RETURNS SETOF t.bf_result LANGUAGE plpgsql AS $$
DECLARE
	a t.bf_result;
BEGIN
	FOR a IN SELECT prefix, n, 1, presence_ingest_unsigned(body)
			 FROM t.bf_bodies WHERE p = prefix AND n > 0 ORDER BY n LOOP
		RETURN NEXT a;
	END LOOP;
END
$$;
INSERT INTO t.bf_result SELECT * FROM t.bf_replay_query('fe:');
CREATE FUNCTION t.bf_replay_rows(prefix text) RETURNS SETOF t.bf_result LANGUAGE plpgsql AS $$
DECLARE
	a record;
BEGIN
	FOR a IN SELECT n, body FROM t.bf_bodies WHERE p = prefix AND n > 0 ORDER BY n LOOP
		RETURN NEXT ROW(prefix, a.n, 1, presence_ingest_unsigned(a.body))::t.bf_result;
	END LOOP;
END
$$;
INSERT INTO t.bf_result SELECT * FROM t.bf_replay_rows('fi:');

-- 6. INSERT ... SELECT.
INSERT INTO t.bf_result
SELECT p, n, 1, presence_ingest_unsigned(body) FROM t.bf_bodies WHERE p = 'ff:' AND n > 0 ORDER BY n;

-- 7. A CTE whose rows a data-modifying outer statement keeps.
WITH replayed AS (
	SELECT p, n, presence_ingest_unsigned(body) AS r
	FROM t.bf_bodies WHERE p = 'fg:' AND n > 0 ORDER BY n
)
INSERT INTO t.bf_result SELECT p, n, 1, r FROM replayed;

-- 8. INSERT ... SELECT under REPEATABLE READ.
BEGIN ISOLATION LEVEL REPEATABLE READ;
INSERT INTO t.bf_result
SELECT p, n, 1, presence_ingest_unsigned(body) FROM t.bf_bodies WHERE p = 'fh:' AND n > 0 ORDER BY n;
COMMIT;

SELECT p AS form, t.bf_rows(p) = t.bf_rows('ra:') AS same_rows,
	t.bf_results(p) = t.bf_results('ra:') AS same_results
FROM unnest(ARRAY['fd:', 'fe:', 'fi:', 'ff:', 'fg:', 'fh:']) p;
SELECT count(*) AS differences FROM presence.check();
