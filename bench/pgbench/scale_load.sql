-- Scale figure (bench/scale.sh): loading delivery d of bench.scale_body, 100 items of
-- 10 users; client c takes d = c, c + nclients, ... (-D k=0 -D nclients=...).
\set k :k + 1
\set d (:k - 1) * :nclients + :client_id
SELECT presence_ingest_unsigned(bench.scale_body(:d));
