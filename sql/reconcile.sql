-- Ghost sessions: presence.suspects() and presence_reconcile() (doc/rules.md section 11).
-- Times are ms after 2024-10-29 09:00 UTC, as in the other files.

GRANT USAGE ON SCHEMA t TO PUBLIC;

-- A user with an identified and an anonymous session online, one with a fresh session.
SELECT t.ingest(t.envelope('g1', concat_ws(',',
	t.item('0', 'rc_ghost', 0, 'a', 'iOS'),
	t.item('0', 'rc_ghost', 1000),
	t.item('0', 'rc_fresh', 0, 'f'),
	t.item('0', 'rc_fresh', 7200000, 'f2'))));

-- Suspects: online, newest item older than idle, oldest first; none when idle is long.
SELECT user_id, online_sessions, last_event_at FROM presence.suspects('1 hour', 100000)
 WHERE user_id LIKE 'rc\_%';
SELECT count(*) FROM presence.suspects(now() - '2024-10-29 09:00+00', 100000) WHERE user_id LIKE 'rc\_%';
SELECT count(*) FROM presence.suspects('1 hour', 1);

-- The provider says online: nothing changes.
SELECT * FROM presence_reconcile('rc_ghost', true, '2024-10-29 10:00+00');
-- Not online: each online session idle since before checked_at gets a logged disconnect.
SELECT * FROM presence_reconcile('rc_ghost', false, '2024-10-29 10:00+00');
SELECT session_id, state, ended_at FROM presence.sessions WHERE user_id = 'rc_ghost' ORDER BY 1;
SELECT session_id, status, status_time, event_id, outcome FROM presence.events
 WHERE user_id = 'rc_ghost' AND event_id = 'reconcile' ORDER BY 1;
SELECT online, online_sessions, last_offline_at FROM presence.users WHERE user_id = 'rc_ghost';
-- Again: nothing is online any more.
SELECT * FROM presence_reconcile('rc_ghost', false, '2024-10-29 10:00+00');

-- A session whose newest item is not older than checked_at is left alone.
SELECT * FROM presence_reconcile('rc_fresh', false, '2024-10-29 11:00+00');
SELECT session_id, state FROM presence.sessions WHERE user_id = 'rc_fresh' ORDER BY 1;

-- A re-delivered connect never revives the identified session; a real connect after
-- checked_at brings the anonymous one back.
SELECT t.ingest(t.item('0', 'rc_ghost', 0, 'a', 'iOS'));
SELECT t.ingest(t.item('0', 'rc_ghost', 3600001));
SELECT session_id, state FROM presence.sessions WHERE user_id = 'rc_ghost' ORDER BY 1;
SELECT * FROM presence.check();

-- Who may: a writer reconciles and lists suspects; a reader may do neither.
SET ROLE presence_writer;
SELECT items FROM presence_reconcile('rc_nobody', false);
SELECT count(*) >= 0 AS writer_lists FROM presence.suspects();
SET ROLE presence_reader;
SELECT t.try($$SELECT presence_reconcile('rc_ghost', false)$$);
SELECT t.try($$SELECT presence.suspects()$$);
RESET ROLE;
