-- bench/sql/scale.sql: the scale figure's extra setup (after setup.sql), for a
-- database of :users users (psql -v users=N).  bench.scale_body(d) is the d-th
-- loading delivery: users 10d+1 .. 10d+10, ten items each over three identified
-- sessions (s1, s2 and s3 connect; s2 disconnects, s3 logs out; five more connects
-- of s1; the last item disconnects s1 for even users), dated July 2024, before
-- every item of figures 1 and 2.  Each user: 10 kept items, 3 sessions.
CREATE FUNCTION bench.scale_body(d bigint) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT '{"type":"user:connection_status","id":"L' || d || '","time":1720000000000,"data":['
         || string_agg(pg_catalog.format(
              '{"status":"%s","userId":"user%s","os":"%s","time":%s,"clientIp":"10.%s.%s.1:40000","sessionId":"user%s-s%s"}',
              CASE k WHEN 3 THEN 1 WHEN 4 THEN 2 WHEN 9 THEN 1 - u % 2 ELSE 0 END, u,
              (ARRAY['iOS', 'Android', 'Websocket'])[s], 1720000000000 + k * 1000, u % 200, s, u, s),
            ',' ORDER BY u, k)
         || ']}'
    FROM generate_series(d * 10 + 1, d * 10 + 10) u, generate_series(0, 9) k,
         LATERAL (SELECT CASE k WHEN 0 THEN 1 WHEN 1 THEN 2 WHEN 2 THEN 3 WHEN 3 THEN 2 WHEN 4 THEN 3 ELSE 1 END AS s) x
$$;
-- Friend lists over this database's users (figure 11a's query).
TRUNCATE bench.friends;
INSERT INTO bench.friends
SELECT k, array_agg('user' || ((k::bigint * 7919 + g * (:users / 200 - 1)) % :users + 1) ORDER BY g)
  FROM generate_series(1, 1000) k, generate_series(1, 200) g
 GROUP BY k;
CREATE EXTENSION pageinspect;
-- Bytes per row (table + indexes + TOAST) and B-tree levels of the primary keys.
CREATE FUNCTION bench.scale_sizes() RETURNS TABLE (k text, v text) LANGUAGE sql AS $$
  SELECT c.t || '.' || y.f, y.x
    FROM (VALUES ('events', (SELECT count(*) FROM presence.events)),
                 ('sessions', (SELECT count(*) FROM presence.sessions)),
                 ('users', (SELECT count(*) FROM presence.users))) c(t, n),
         LATERAL (VALUES ('rows', c.n::text),
                         ('bytes', pg_total_relation_size(('presence.' || c.t)::regclass)::text),
                         ('pkey_level', (SELECT level FROM bt_metap('presence.' || c.t || '_pkey'))::text)) y(f, x)
$$;
