-- Figure 13d, baseline: 10,000 rows, one per membership the destroy closes.
INSERT INTO bench.raw_items (item) SELECT 'big_' || :room || ' member' || g FROM generate_series(1, 10000) g;
