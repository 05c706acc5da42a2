-- Figures 1 and 2, contender: one fresh single-item delivery.
-- n counts this client's transactions (run.sh gives each run its own start, -D n=...),
-- so (client, n) and the item time are unique across the whole benchmark.
\set n :n + 1
\set u random(1, :nusers)
\set s random(1, 3)
\set st random(0, 2)
\set t 1730000000000 + :n * 64 + :client_id
SELECT presence_ingest_unsigned(bench.item_body(:client_id, :n, :t, :st, :u, :s));
