-- pgTAP: presence_reconcile refuses a checked_at in the future (doc/rules.md section 11).
--
-- A checked_at later than now() plus the age window would end a session at a time no
-- item has reached yet, and every real connect before it would lose.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(4);

SELECT presence_ingest_unsigned('{"status":"0","userId":"rf","sessionId":"s","time":' ||
	(floor(extract(epoch FROM now()) * 1000)::bigint - 60000) || '}');
SELECT throws_ok($$SELECT presence_reconcile('rf', false, now() + interval '1 day')$$, '22023', NULL,
	'a checked_at a day ahead is refused');
SELECT throws_ok($$SELECT presence_reconcile('rf', false, now() + interval '301 seconds')$$, '22023', NULL,
	'a checked_at past now() plus the age window (300 s) is refused');
SELECT is((SELECT state FROM presence.sessions WHERE user_id = 'rf'), 'online', 'and nothing was ended');
SELECT is((presence_reconcile('rf', false, now() + interval '2 seconds')).applied, 1,
	'a checked_at within the window (clock skew) is taken');

SELECT * FROM finish();
ROLLBACK;
