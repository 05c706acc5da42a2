-- bench/sql/setup.sql: the bench schema (run once in the throwaway database).
CREATE EXTENSION presence;
CREATE SCHEMA bench;

-- One single-item envelope of figures 1, 2 and 7: 100,000 users x 3 identified
-- sessions, status 0/1/2, os and clientIp present.  STABLE so that it is inlined.
CREATE FUNCTION bench.item_body(cid int, n bigint, t bigint, st int, u int, s int) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT pg_catalog.format('{"type":"user:connection_status","id":"e%s-%s","time":%s,"data":[{"status":"%s","userId":"user%s","os":"iOS","time":%s,"clientIp":"10.%s.%s.1:40000","sessionId":"user%s-s%s"}]}',
                           cid, n, t, st, u, t, u % 200, s, u, s)
$$;

-- Baselines: one text column, no index.
CREATE TABLE bench.raw (body text);
CREATE TABLE bench.raw_items (item text);

-- Figure 3: 100,000 distinct bodies (same shape as figure 1).
CREATE TABLE bench.bodies AS
SELECT g AS n, bench.item_body(99, g, 1780000000000 + g, g % 3, (g * 7919) % 100000 + 1, g % 3 + 1) AS body
  FROM generate_series(1, 100000) g;
ALTER TABLE bench.bodies ADD PRIMARY KEY (n);

-- Figure 6: the reconnect storm.  200,000 users storm0..storm199999; delivery d
-- (0..3999) holds users 50d..50d+49, each with a disconnect ("1") of its old
-- session and then a connect ("0") of a new one, 1 ms later: 100 items.
CREATE TABLE bench.storm (d int PRIMARY KEY, body text NOT NULL, items text[] NOT NULL);
INSERT INTO bench.storm
SELECT d,
       pg_catalog.format('{"type":"user:connection_status","id":"storm-%s","time":%s,"data":[%s]}',
                         d, 1760000000000 + d * 10 + 9, array_to_string(items, ',')),
       items
  FROM (SELECT d, array_agg(item ORDER BY i, k) AS items
          FROM generate_series(0, 3999) d,
               generate_series(d * 50, d * 50 + 49) i,
               LATERAL (VALUES
                 (0, pg_catalog.format('{"status":"1","userId":"storm%s","os":"iOS","time":%s,"clientIp":"10.1.%s.%s:40000","sessionId":"storm%s-a"}',
                                       i, 1760000000000 + d * 10, i % 250, i % 199, i)),
                 (1, pg_catalog.format('{"status":"0","userId":"storm%s","os":"iOS","time":%s,"clientIp":"10.2.%s.%s:40000","sessionId":"storm%s-b"}',
                                       i, 1760000000000 + d * 10 + 1, i % 250, i % 199, i))) v(k, item)
         GROUP BY d) x;

-- Wall time of one statement, in ms (figure 3).
CREATE FUNCTION bench.elapsed_ms(q text) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz := clock_timestamp();
BEGIN
  EXECUTE q;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END
$$;

-- This backend's memory (figure 7): memory contexts and /proc/self/status.
CREATE FUNCTION bench.backend_memory(OUT contexts_bytes bigint, OUT rss_anon_kb bigint, OUT vm_rss_kb bigint)
LANGUAGE sql AS $$
  SELECT (SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts),
         substring(s FROM 'RssAnon:\s+(\d+)')::bigint,
         substring(s FROM 'VmRSS:\s+(\d+)')::bigint
    FROM pg_read_file('/proc/self/status') s
$$;

-- Figure 9: a delivery of n items of one session, at base + step * k ms, each carrying os
-- and clientIp when with_os.
CREATE FUNCTION bench.session_body(u text, n int, base bigint, step int, with_os boolean) RETURNS text
LANGUAGE sql AS $$
  SELECT '{"type":"user:connection_status","id":"f9","time":1780000000000,"data":['
         || string_agg(format('{"status":"0","userId":"%s","sessionId":"s","time":%s%s}', u,
                              base + step::bigint * k,
                              CASE WHEN with_os THEN format(',"os":"os-%s","clientIp":"10.9.0.%s"', k, k % 250)
                                   ELSE '' END), ',')
         || ']}'
    FROM generate_series(1, n) k
$$;

-- Figure 9: µs per item of a delivery of n older items that carry os, after a history of
-- newer items without it (the shape that made apply quadratic in 0.1.0).
CREATE FUNCTION bench.older_items_us(u text, n int, history int) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
  b text := bench.session_body(u, n, 1780000000000, 1, true);
BEGIN
  FOR c IN 0 .. (history - 1) / 10000 LOOP
    PERFORM presence_ingest_unsigned(bench.session_body(u, least(10000, history - c * 10000),
                                                        1781000000000 + c * 10000, 1, false));
  END LOOP;
  RETURN bench.elapsed_ms(format('SELECT presence_ingest_unsigned(%L)', b)) * 1000 / n;
END
$$;

-- Space (figures S1, S6): per-table counters at the start of a phase, so a
-- phase's bytes and HOT share are its own.
CREATE TABLE bench.snap (phase text, rel text, n bigint, bytes bigint, upd bigint, hot bigint,
						 PRIMARY KEY (phase, rel));
CREATE FUNCTION bench.rel_counts(OUT rel text, OUT n bigint, OUT bytes bigint, OUT upd bigint, OUT hot bigint)
RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE
  r text;
BEGIN
  PERFORM pg_stat_clear_snapshot();
  FOREACH r IN ARRAY ARRAY['presence.events', 'presence.sessions', 'presence.users', 'bench.raw', 'bench.raw_items'] LOOP
    rel := r;
    EXECUTE format('SELECT count(*) FROM %s', r) INTO n;
    bytes := pg_total_relation_size(r);
    SELECT s.n_tup_upd, s.n_tup_hot_upd INTO upd, hot FROM pg_stat_user_tables s WHERE s.relid = r::regclass;
    RETURN NEXT;
  END LOOP;
END
$$;
CREATE FUNCTION bench.snapshot(p text) RETURNS void LANGUAGE sql AS $$
  DELETE FROM bench.snap WHERE phase = p;
  INSERT INTO bench.snap SELECT p, c.* FROM bench.rel_counts() c;
$$;
-- bench.space(PREFIX, SINCE): key/value lines for run.sh's results: bytes per row
-- added since the snapshot SINCE (table + indexes + TOAST), rows added, updates and
-- HOT updates, for the presence tables and the raw baselines; and the mean raw
-- body (item) length of what the baselines stored.
CREATE FUNCTION bench.space(prefix text, since text) RETURNS TABLE (k text, v text)
LANGUAGE sql AS $$
  SELECT prefix || '.' || split_part(c.rel, '.', 2) || '.' || x.f, x.v
    FROM bench.rel_counts() c JOIN bench.snap s ON s.rel = c.rel AND s.phase = since,
         LATERAL (VALUES ('rows', (c.n - s.n)::text),
                         ('bytes', (c.bytes - s.bytes)::text),
                         ('upd', (c.upd - s.upd)::text),
                         ('hot', (c.hot - s.hot)::text)) x(f, v)
  UNION ALL
  SELECT prefix || '.body_len', round(avg(octet_length(body)), 1)::text FROM bench.raw
  UNION ALL
  SELECT prefix || '.item_len', round(avg(octet_length(item)), 1)::text FROM bench.raw_items
$$;

-- Figure 11a: 1,000 friend lists of 200 distinct users of figures 1 and 2.
CREATE TABLE bench.friends (k int PRIMARY KEY, ids text[] NOT NULL);
INSERT INTO bench.friends
SELECT k, array_agg('user' || ((k * 7919 + g * 499) % 100000 + 1) ORDER BY g)
  FROM generate_series(1, 1000) k, generate_series(1, 200) g
 GROUP BY k;

-- Figure 13: a room item naming users first .. first + count - 1 (member1, ...), or a
-- create or destroy (count 0).
CREATE FUNCTION bench.room_body(id text, room text, op int, t bigint, first int, count int) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT json_build_object('type', 'open_channel:operation', 'id', id, 'time', t,
    'data', json_build_array(json_strip_nulls(json_build_object('channelId', room,
      'userIds', (SELECT array_agg('member' || g) FROM generate_series(first, first + count - 1) g),
      'operationType', op, 'status', 0, 'time', t))))::text
$$;
