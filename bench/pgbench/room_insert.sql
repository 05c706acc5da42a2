-- Figure 13, baseline: the same 1,000 items, one row each, into a one-column table.
\set k :k + 1
\set r (:k + 1) / 2
INSERT INTO bench.raw_items (item)
SELECT 'room_' || :n || '_' || :client_id || '_' || :r || ' member' || g FROM generate_series(1, 1000) g;
