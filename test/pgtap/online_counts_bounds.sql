-- pgTAP: presence.online_counts() takes finite bounds and at most 100000 steps (doc/rules.md section 10).
--
-- An infinite bound or a tiny step over a long range made one call build an array of
-- millions of timestamps (or fail deep inside generate_series): a reader could pin a
-- backend and its memory.  Both are 22023 now.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(5);

SELECT throws_ok($$SELECT * FROM presence.online_counts('-infinity', now(), '1 hour')$$, '22023', NULL,
	'an infinite since is refused');
SELECT throws_ok($$SELECT * FROM presence.online_counts(now(), 'infinity', '1 hour')$$, '22023', NULL,
	'an infinite until is refused');
SELECT throws_ok($$SELECT * FROM presence.online_counts('2026-01-01', '2026-01-03', '1 second')$$, '22023', NULL,
	'more than 100000 steps are refused');
SELECT lives_ok($$SELECT * FROM presence.online_counts(now() - interval '100000 seconds', now(), '1 second')$$,
	'exactly 100000 steps are taken');
SELECT throws_ok($$SELECT * FROM presence.online_counts(now() - interval '1 day', now(), '0 seconds')$$, '22023', NULL,
	'a step that is not positive is still refused');

SELECT * FROM finish();
ROLLBACK;
