-- The state rules of doc/rules.md section 3, one story at a time.  Times are ms
-- after 1730192400000 (2024-10-29 09:00 UTC); t.sessions and t.user_row show them so.

-- 3.1 A disconnect that arrives before its connect: the session stays ended.
SELECT t.ingest(t.envelope('e1', t.item('1', 'ann', 60000, 'a1')));
SELECT * FROM t.sessions('ann');
SELECT t.ingest(t.envelope('e2', t.item('0', 'ann', 0, 'a1', 'iOS')));
SELECT * FROM t.sessions('ann');
SELECT * FROM t.user_row('ann');

-- 3.1 A connect re-delivered after its disconnect (new envelope id): a duplicate.
SELECT t.ingest(t.envelope('e3', t.item('0', 'ann', 0, 'a1', 'Android')));
-- A later connect on the same, ended session id never reopens it.
SELECT t.ingest(t.envelope('e4', t.item('0', 'ann', 120000, 'a1')));
SELECT * FROM t.sessions('ann');
SELECT * FROM t.user_row('ann');

-- Duplicates: same (user, session, status, time), whatever the envelope and other fields.
SELECT t.ingest(t.envelope('e5', t.item('1', 'ann', 60000, 'a1', 'Websocket')));
SELECT count(*) AS ann_events FROM presence.events WHERE user_id = 'ann';

-- Several devices of one user, in one batched delivery, out of order.
SELECT t.ingest(t.envelope('e6',
	t.item('0', 'bob', 1000, 'phone', 'iOS') || ',' ||
	t.item('0', 'bob', 2000, 'laptop', 'Websocket') || ',' ||
	t.item('1', 'bob', 5000, 'phone') || ',' ||
	t.item('0', 'bob', 3000, 'tablet', 'Android')));
SELECT * FROM t.sessions('bob');
SELECT * FROM t.user_row('bob');
-- "on which devices": the online sessions
SELECT session_id, os FROM presence.sessions WHERE user_id = 'bob' AND state = 'online' ORDER BY 1;

-- Logout: the last device logs out; push is suspended.
SELECT t.ingest(t.envelope('e7', t.item('1', 'bob', 6000, 'laptop') || ',' || t.item('2', 'bob', 7000, 'tablet')));
SELECT * FROM t.user_row('bob');
-- At the same time, "2" beats "1": a tie on the same session ends logged out.
SELECT t.ingest(t.envelope('e8', t.item('1', 'bob', 7000, 'tablet')));
SELECT * FROM t.sessions('bob');
-- A later plain disconnect of another session: no longer logged out.
SELECT t.ingest(t.envelope('e9', t.item('0', 'bob', 7500, 'watch') || ',' || t.item('1', 'bob', 8000, 'watch')));
SELECT * FROM t.user_row('bob');

-- 3.2 Anonymous sessions follow the greatest item and can come back online.
SELECT t.ingest('{"userid":"cat","status":"0","os":"PC","time":1730192400000}');
SELECT t.ingest('[{"userid":"cat","status":"2","time":1730192401000}]');
SELECT * FROM t.sessions('cat');
SELECT * FROM t.user_row('cat');
SELECT t.ingest('{"userId":"cat","status":0,"os":"MiniProgram","time":"1730192402000"}');
SELECT * FROM t.sessions('cat');
SELECT * FROM t.user_row('cat');
-- An older disconnect arrives late: stale, logged, but last_offline_at already covers it.
SELECT t.ingest('{"userId":"cat","status":"1","time":1730192400500}');
SELECT outcome FROM presence.events WHERE user_id = 'cat' AND status = '1';
SELECT * FROM t.sessions('cat');
-- An empty sessionId is the anonymous session too.
SELECT t.ingest(t.envelope('e10', t.item('1', 'cat', 3000, '')));
SELECT * FROM t.sessions('cat');
SELECT * FROM t.user_row('cat');

-- 3.3 os and client_ip come from the greatest item that carries them, in any order.
SELECT t.ingest(t.envelope('e11', '{"status":"0","userId":"dan","time":1730192400000,"sessionId":"d1","os":"iOS","clientIp":"10.0.0.1:1"}'));
SELECT t.ingest(t.envelope('e12', '{"status":"1","userId":"dan","time":1730192409000,"sessionId":"d1"}'));
SELECT t.ingest(t.envelope('e13', '{"status":"0","userId":"dan","time":1730192405000,"sessionId":"d1","clientIp":"10.0.0.2:2"}'));
SELECT t.ingest(t.envelope('e14', '{"status":"0","userId":"dan","time":1730192403000,"sessionId":"d1","os":"Android","clientIp":"10.0.0.3:3"}'));
SELECT session_id, state, os, client_ip, t.ms(started_at), t.ms(ended_at) FROM presence.sessions WHERE user_id = 'dan';
SELECT t.ms(status_time), outcome FROM presence.events WHERE user_id = 'dan' ORDER BY 1;

-- A foreign event type is acknowledged and ignored.
SELECT t.ingest('{"type":"message:sent","id":"m1","time":1730192400000,"data":[{"x":1},{"y":2}]}');

-- A delivery that names an item twice counts the second as a duplicate.
SELECT t.ingest(t.envelope('e15', t.item('0', 'eve', 1, 'e1') || ',' || t.item('0', 'eve', 1, 'e1', 'iOS')));

-- A rejected delivery changes nothing, even when its first items are fine.
SELECT t.snapshot() AS before \gset
SELECT t.try($$SELECT presence_ingest_unsigned(t.envelope('bad', t.item('0', 'fay', 1) || ',{"status":"7","userId":"fay","time":1}'))$$);
SELECT t.snapshot() = :'before' AS unchanged;

-- Invariant 1: the users table equals the aggregate of sessions and events.
SELECT * FROM presence.check();
SELECT count(*) AS users, sum(online_sessions) AS online_sessions FROM presence.users;

-- check() finds drift: break a count behind the triggers' back.
UPDATE presence.users SET online_sessions = online_sessions + 1, online = true WHERE user_id = 'ann';
SELECT user_id, session_id, field, stored, expected FROM presence.check();
UPDATE presence.users SET online_sessions = online_sessions - 1, online = false WHERE user_id = 'ann';
SELECT count(*) AS differences FROM presence.check();

-- A count that would go negative is refused, not stored.
BEGIN;
UPDATE presence.users SET online_sessions = 0, online = false WHERE user_id = 'eve';
SELECT t.try($$UPDATE presence.sessions SET state = 'offline', ended_at = now() WHERE user_id = 'eve'$$);
ROLLBACK;

-- 3.3 Copies that disagree on os or clientIp: the byte-wise greatest value is
-- kept (a value beats none), in the events row and in the session it decides,
-- whichever copy came first; a copy that repeats what is known changes nothing.
SELECT os FROM presence.events WHERE user_id = 'eve';
SELECT t.ingest(t.envelope('c1', '{"status":"0","userId":"gus","time":1730192400000,"sessionId":"g1","os":"iOS","clientIp":"10.0.0.2:2"}'));
SELECT t.ingest(t.envelope('c2', '{"status":"0","userId":"gus","time":1730192400000,"sessionId":"g1","os":"Android","clientIp":"10.0.0.9:9"}'));
SELECT t.ingest(t.envelope('c3', '{"status":"0","userId":"hal","time":1730192400000,"sessionId":"h1","os":"Android","clientIp":"10.0.0.9:9"}'));
SELECT t.ingest(t.envelope('c4', '{"status":"0","userId":"hal","time":1730192400000,"sessionId":"h1","os":"iOS","clientIp":"10.0.0.2:2"}'));
SELECT t.ingest(t.envelope('c5', '{"status":"0","userId":"hal","time":1730192400000,"sessionId":"h1"}'));
SELECT user_id, os, client_ip FROM presence.events WHERE user_id IN ('gus', 'hal') ORDER BY 1;
SELECT user_id, os, client_ip FROM presence.sessions WHERE user_id IN ('gus', 'hal') ORDER BY 1;
-- Bytes, not collation: 'iOS' (0x69) beats 'PC' (0x50); a longer value beats its prefix.
SELECT t.ingest(t.envelope('c6', t.item('1', 'ivy', 5, 'i1', 'PC') || ',' || t.item('1', 'ivy', 5, 'i1', 'iOS')));
SELECT t.ingest(t.envelope('c7', t.item('1', 'ivy', 5, 'i1', 'iOSX')));
SELECT os FROM presence.events WHERE user_id = 'ivy';
SELECT os, state FROM presence.sessions WHERE user_id = 'ivy';
-- A copy of an item that a greater item supersedes widens its events row only.
SELECT t.ingest(t.envelope('c8', t.item('0', 'jon', 1, 'j1', 'PC') || ',' || t.item('1', 'jon', 9, 'j1', 'Android')));
SELECT t.ingest(t.envelope('c9', t.item('0', 'jon', 1, 'j1', 'iOS')));
SELECT t.ms(status_time), os FROM presence.events WHERE user_id = 'jon' ORDER BY 1;
SELECT os, state FROM presence.sessions WHERE user_id = 'jon';
SELECT * FROM presence.check();

-- Each rule once, in C (doc/rules.md, "Contributing"): presence.item_key is
-- session_item_key, microseconds since 2000-01-01 clamped to +-2^60, times 4,
-- plus the status; a status that is not "0", "1" or "2" is refused.
SELECT presence.item_key('2000-01-01 00:00:00+00', '0') AS epoch_connect,
	   presence.item_key('2000-01-01 00:00:01+00', '2') AS one_second_logout,
	   presence.item_key('infinity', '1') AS infinity_disconnect,
	   presence.item_key('-infinity', '0') AS minus_infinity_connect;
SELECT t.try($$SELECT presence.item_key(now(), '3')$$);
SELECT t.try($$SELECT presence.item_key(now(), '01')$$);
-- presence.user_hash and partition_of are router.c's: md5's first 32 bits, signed, masked.
SELECT u, presence.user_hash(u), presence.partition_of(u, 4)
  FROM unnest(ARRAY['user_001', 'bob', 'dave']) u ORDER BY u;
