-- Ingest inside the caller's transactions: several calls in one transaction,
-- REPEATABLE READ, savepoints that roll an ingest back half way, and a
-- trigger of the caller's own on presence.events.

-- Several calls for one user in one transaction see each other's writes.
BEGIN;
SELECT t.ingest(t.envelope('x1', t.item('0', 'tx_a', 100, 'p1')));
SELECT t.ingest(t.envelope('x2', t.item('0', 'tx_a', 200, 'p2')));
SELECT t.ingest(t.envelope('x3', t.item('1', 'tx_a', 300, 'p1')));
SELECT * FROM t.user_row('tx_a');
COMMIT;
SELECT * FROM t.sessions('tx_a');

-- The same under REPEATABLE READ, for a new and for a known user.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT t.ingest(t.envelope('x4', t.item('0', 'tx_b', 100, 'q1')));
SELECT t.ingest(t.envelope('x5', t.item('1', 'tx_b', 200, 'q1')));
SELECT t.ingest(t.envelope('x6', t.item('2', 'tx_a', 400, 'p2')));
SELECT t.ingest(t.envelope('x7', t.item('0', 'tx_b', 300, 'q2')));
SELECT * FROM t.user_row('tx_a');
SELECT * FROM t.user_row('tx_b');
COMMIT;
SELECT count(*) AS differences FROM presence.check();

-- An ingest that fails half way inside a savepoint leaves nothing behind,
-- and the next call in the same transaction works.
CREATE FUNCTION t.refuse_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.user_id = 'tx_refused' THEN
		RAISE EXCEPTION 'refused by a trigger of the caller';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER refuse_user AFTER INSERT ON presence.events
	FOR EACH ROW EXECUTE FUNCTION t.refuse_user();
BEGIN;
SELECT t.snapshot() AS before \gset
SAVEPOINT s;
SELECT t.ingest(t.envelope('x8', t.item('0', 'tx_c', 100, 'r1') || ',' || t.item('0', 'tx_refused', 100, 'r1')));
ROLLBACK TO SAVEPOINT s;
SELECT t.snapshot() = :'before' AS unchanged;
SELECT t.ingest(t.envelope('x9', t.item('0', 'tx_c', 100, 'r1')));
COMMIT;
SELECT * FROM t.user_row('tx_c');

-- The same failure caught inside a PL/pgSQL block, between two calls.
DO $$
BEGIN
	PERFORM presence_ingest_unsigned(t.envelope('x10', t.item('0', 'tx_refused', 1, 'r1')));
EXCEPTION WHEN raise_exception THEN
	PERFORM presence_ingest_unsigned(t.envelope('x11', t.item('1', 'tx_c', 200, 'r1')));
END
$$;
SELECT * FROM t.user_row('tx_c');
SELECT count(*) AS refused_rows FROM presence.users WHERE user_id = 'tx_refused';
DROP TRIGGER refuse_user ON presence.events;

-- A trigger of the caller's own that writes sessions of the same user while
-- ingest runs: the counts still follow.
CREATE FUNCTION t.mirror_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.user_id = 'tx_d' AND NEW.session_id = 'm1' AND NEW.status = '0' THEN
		INSERT INTO presence.sessions (user_id, session_id, state, last_event_at)
		VALUES ('tx_d', 'mirror', 'online', NEW.status_time);
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER mirror_session AFTER INSERT ON presence.events
	FOR EACH ROW EXECUTE FUNCTION t.mirror_session();
SELECT t.ingest(t.envelope('x12', t.item('0', 'tx_d', 100, 'm1')));
SELECT * FROM t.user_row('tx_d');
DROP TRIGGER mirror_session ON presence.events;
DELETE FROM presence.sessions WHERE user_id = 'tx_d' AND session_id = 'mirror';
SELECT * FROM t.user_row('tx_d');

-- A trigger of the caller's own that ingests another delivery while ingest
-- runs: the inner call stacks on the outer one.  Fired by ingest, a trigger
-- runs as presence_owner, the tables' owner, so that role needs its schema.
GRANT USAGE ON SCHEMA t TO presence_owner;
CREATE FUNCTION t.forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.user_id = 'tx_e' THEN
		PERFORM public.presence_ingest_unsigned(t.envelope('fwd', t.item(NEW.status, 'tx_f', 100, 'f1')));
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER forward AFTER INSERT ON presence.events
	FOR EACH ROW EXECUTE FUNCTION t.forward();
SELECT t.ingest(t.envelope('x15', t.item('0', 'tx_e', 100, 'e1') || ',' || t.item('0', 'tx_g', 100, 'g1')));
DROP TRIGGER forward ON presence.events;
SELECT user_id, online_sessions, t.ms(last_seen_at) AS last_seen
FROM presence.users WHERE user_id IN ('tx_e', 'tx_f', 'tx_g') ORDER BY user_id;

-- Changing the tables' columns between calls: ingest finds its columns again.
ALTER TABLE presence.events ADD COLUMN note text;
SELECT t.ingest(t.envelope('x13', t.item('1', 'tx_d', 200, 'm1')));
ALTER TABLE presence.events DROP COLUMN note;
SELECT t.ingest(t.envelope('x14', t.item('0', 'tx_d', 300, 'm1')));
SELECT * FROM t.user_row('tx_d');
SELECT count(*) AS differences FROM presence.check();

-- The extension replaced in the middle of a transaction: ingest finds the new
-- tables; after the rollback, the old ones again.
BEGIN;
DROP EXTENSION presence CASCADE;
CREATE EXTENSION presence;
SELECT (public.presence_ingest_unsigned(t.envelope('x16', t.item('0', 'tx_h', 100, 'h1')))).applied;
SELECT user_id, online_sessions FROM presence.users;
ROLLBACK;
SELECT t.ingest(t.envelope('x17', t.item('0', 'tx_h', 100, 'h1')));
SELECT user_id, online_sessions FROM presence.users WHERE user_id = 'tx_h';
SELECT count(*) AS differences FROM presence.check();
