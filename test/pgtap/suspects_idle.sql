-- pgTAP: presence.suspects() refuses a negative idle (doc/rules.md section 11).
--
-- A negative idle made every online user a suspect, so the reconcile loop would ask
-- the provider about (and could end) users who had just connected.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(2);

SELECT presence_ingest_unsigned('{"status":"0","userId":"idle2h","sessionId":"s","time":' ||
	(floor(extract(epoch FROM now()) * 1000)::bigint - 7200000) || '}');
SELECT throws_ok($$SELECT * FROM presence.suspects('-1 hour')$$, '22023', NULL, 'a negative idle is refused');
SELECT is((SELECT pg_catalog.array_agg(user_id) FROM presence.suspects('1 hour')), ARRAY['idle2h'],
	'a positive idle lists the users idle that long');

SELECT * FROM finish();
ROLLBACK;
