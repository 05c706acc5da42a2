-- pgbench script for contention.sh: one transaction = one batched delivery of 1 to 20 status
-- items naming hot users in random order (mixed statuses, several sessions per user, some
-- anonymous items, repeats across deliveries), applied with presence_ingest_unsigned.  The
-- result of every delivery is kept in contention_tally so the totals can be checked afterwards
-- (SELECT * FROM f(...), not (f(...)).*, which would call the function once per column).
-- Variables from contention.sh (pgbench -D): users, sessions, span (ms of the time window).
\set n random(1, 20)
\set r random(0, 2147483647)
INSERT INTO contention_tally
SELECT * FROM presence_ingest_unsigned((
	SELECT json_build_object(
		'type', 'user:connection_status',
		'id', 'pgbench-' || :client_id::int || '-' || :r::bigint,
		'time', 1730192400000 + :r::bigint % :span::bigint,
		'data', json_agg(json_strip_nulls(json_build_object(
			'status', CASE WHEN x < 0.45 THEN '0' WHEN x < 0.85 THEN '1' ELSE '2' END,
			'userId', 'hot-' || u,
			'sessionId', CASE WHEN k = 0 THEN NULL ELSE 'sess-' || u || '-' || k END,
			'time', 1730192400000 + t,
			'os', CASE WHEN x < 0.45 THEN (ARRAY['iOS', 'Android', 'Websocket', 'PC'])[1 + k % 4] END,
			'clientIp', CASE WHEN y < 0.7 THEN '10.0.' || u || '.' || k || ':' || (1024 + t) END
		)) ORDER BY y))::text
	FROM (SELECT floor(random() * :users::int)::int AS u,
				 floor(random() * (:sessions::int + 1))::int AS k,
				 random() AS x, random() AS y,
				 floor(random() * :span::bigint)::bigint AS t
			FROM generate_series(1, :n::int)) AS item));
