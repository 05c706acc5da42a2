-- Figures 1, 2 and 4, baseline: the same body text into a one-column table.
\set n :n + 1
\set u random(1, :nusers)
\set s random(1, 3)
\set st random(0, 2)
\set t 1730000000000 + :n * 64 + :client_id
INSERT INTO bench.raw (body) VALUES (bench.item_body(:client_id, :n, :t, :st, :u, :s));
