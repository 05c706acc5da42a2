-- Figure 6, baseline: the same 100 items, one row each, into a one-column table.
\set k :k + 1
\set d :first + (:k - 1) * :nclients + :client_id
INSERT INTO bench.raw_items (item) SELECT unnest(items) FROM bench.storm WHERE d = :d;
