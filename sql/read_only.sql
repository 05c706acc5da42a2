-- A transaction that may not write refuses every entry point that writes with
-- 25006, as it refuses an INSERT, before the body is read (doc/rules.md
-- section 5): under BEGIN READ ONLY and under default_transaction_read_only,
-- the way a primary is fenced before a switchover.  Nothing is written.
\set VERBOSITY sqlstate
SELECT presence.set_secret('read-only-secret') IS NOT NULL AS secret_set;
SELECT t.ingest(t.envelope('ro0', t.item('0', 'ro_online', 100, 's1')));
SELECT count(*) AS events_before FROM presence.events;

BEGIN READ ONLY;
SELECT t.ingest(t.envelope('ro1', t.item('0', 'ro_user', 100, 's1')));
ROLLBACK;
BEGIN READ ONLY;
-- A missing signature would be 28000: the transaction is refused first.
SELECT * FROM presence_ingest('{"type":"user:connection_status"}', NULL, NULL, NULL);
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM presence_ingest_batch(ARRAY['not even json'], ARRAY['n'], ARRAY['1'], ARRAY['s']);
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM presence_reconcile('ro_online', false, '2024-10-29 10:00+00');
ROLLBACK;
-- A user with nothing to end is refused as well: the check comes first.
BEGIN READ ONLY;
SELECT * FROM presence_reconcile('nobody_at_all', false, '2024-10-29 10:00+00');
ROLLBACK;
BEGIN READ ONLY;
CALL presence.maintain();
ROLLBACK;

-- Fenced: every new transaction of the session is read-only.
SET default_transaction_read_only = on;
SELECT t.ingest(t.envelope('ro2', t.item('0', 'ro_user', 200, 's1')));
SELECT * FROM presence_ingest_unsigned('{"type":"user:connection_status"}');
RESET default_transaction_read_only;

SELECT count(*) AS events_after, count(*) FILTER (WHERE user_id = 'ro_user') AS ro_user_events
  FROM presence.events;
SELECT count(*) AS ro_user_rows FROM presence.users WHERE user_id = 'ro_user';
-- Writable again: the same delivery is applied.
SELECT t.ingest(t.envelope('ro1', t.item('0', 'ro_user', 100, 's1')));
SELECT presence.drop_secret('read-only-secret');
