-- pgTAP: rooms (doc/rules.md section 14), one test per rule.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(43);

-- One delivery with one room item; users NULL for a create or a destroy.
CREATE FUNCTION pg_temp.room(op integer, room text, users text[], t bigint, st integer DEFAULT 0)
	RETURNS presence.ingest_result LANGUAGE sql AS $$
	SELECT * FROM presence_ingest_unsigned(json_build_object(
		'type', 'open_channel:operation', 'id', 'env-' || t, 'time', t,
		'data', json_build_array(json_strip_nulls(json_build_object(
			'channelId', room, 'userIds', users, 'operationType', op, 'status', st, 'time', t))))::text)
$$;
CREATE FUNCTION pg_temp.member(room text, usr text)
	RETURNS text LANGUAGE sql AS $$
	SELECT concat_ws(' ', m.state, extract(epoch FROM m.joined_at)::bigint,
					 extract(epoch FROM m.left_at)::bigint, m.left_reason)
	  FROM presence.room_members m WHERE m.room_id = room AND m.user_id = usr
$$;
CREATE FUNCTION pg_temp.members(room text)
	RETURNS integer LANGUAGE sql AS $$ SELECT members FROM presence.rooms WHERE room_id = room $$;

-- The provider's example (signing.md).
SELECT is((SELECT row(r.*)::text FROM presence_ingest_unsigned(
	'{"type": "open_channel:operation", "id": "550e8400-e29b-41d4-a716-446655440011",
	  "time": 1730192400000,
	  "data": [{"channelId": "chatroom_001", "userIds": ["user_001", "user_002"],
				"status": 0, "operationType": 1, "time": 1730192400000}]}') r),
	'(2,2,0,0,0)', 'the example: one item naming two users counts as two items, both applied');
SELECT is(pg_temp.members('chatroom_001'), 2, 'members counts both');
SELECT is(pg_temp.member('chatroom_001', 'user_001'), 'in 1730192400', 'a join puts the user in the room');
SELECT is((SELECT row(r.*)::text FROM pg_temp.room(1, 'chatroom_001', '{user_001,user_002}', 1730192400000) r),
	'(2,0,2,0,0)', 'a re-delivery (another envelope id) is two duplicates');
SELECT is((SELECT count(*) FROM presence.room_events WHERE room_id = 'chatroom_001'), 2::bigint,
	'a duplicate is logged once');

-- Leave beats join at the same time, in either order.
SELECT pg_temp.room(1, 'tie1', '{a}', 1000000);
SELECT pg_temp.room(2, 'tie1', '{a}', 1000000);
SELECT pg_temp.room(2, 'tie2', '{a}', 1000000);
SELECT pg_temp.room(1, 'tie2', '{a}', 1000000);
SELECT is(pg_temp.member('tie1', 'a'), 'out 1000 1000 left', 'join then leave at one time: out');
SELECT is(pg_temp.member('tie2', 'a'), 'out 1000 1000 left', 'leave then join at one time: out');
SELECT is(pg_temp.members('tie2'), 0, 'and not counted');

-- The greatest item decides; joined_at and left_at are the greatest of their kind.
SELECT pg_temp.room(1, 'r1', '{a}', 1000000);
SELECT pg_temp.room(2, 'r1', '{a}', 2000000, 2);
SELECT pg_temp.room(1, 'r1', '{a}', 3000000);
SELECT is(pg_temp.member('r1', 'a'), 'in 3000 2000 banned', 'a later join reopens; left_at and left_reason stay');
SELECT is((SELECT row(r.*)::text FROM pg_temp.room(2, 'r1', '{a}', 1500000) r), '(1,0,0,1,0)',
	'an older leave is stale');
SELECT is((SELECT outcome FROM presence.room_events WHERE room_id = 'r1' AND item_time = to_timestamp(1500)),
	'stale', 'and logged as stale');
SELECT pg_temp.room(2, 'r1', '{a}', 4000000, 1);
SELECT is(pg_temp.member('r1', 'a'), 'out 3000 4000 auto_exited', 'status 1 is auto_exited');

-- Copies of one leave that disagree on status: the greater status, in either order.
SELECT pg_temp.room(2, 'dup1', '{a}', 1000000, 0);
SELECT pg_temp.room(2, 'dup1', '{a}', 1000000, 2);
SELECT pg_temp.room(2, 'dup2', '{a}', 1000000, 2);
SELECT pg_temp.room(2, 'dup2', '{a}', 1000000, 0);
SELECT is(pg_temp.member('dup1', 'a'), 'out 1000 banned', 'left, then banned at one time: banned');
SELECT is(pg_temp.member('dup2', 'a'), 'out 1000 banned', 'banned, then left at one time: banned');

-- A destroy acts as a leave for every membership with a join at or before it.
SELECT pg_temp.room(0, 'd1', NULL, 500000);
SELECT pg_temp.room(1, 'd1', '{a,b}', 1000000);
SELECT pg_temp.room(2, 'd1', '{b}', 1500000);
SELECT pg_temp.room(1, 'd1', '{c}', 3000000);
SELECT is((SELECT row(r.*)::text FROM pg_temp.room(3, 'd1', NULL, 2000000, 3) r), '(1,1,0,0,0)',
	'a destroy is one item');
SELECT is(pg_temp.member('d1', 'a'), 'out 1000 2000 destroyed', 'a member in at the destroy leaves');
SELECT is(pg_temp.member('d1', 'b'), 'out 1000 2000 destroyed', 'one who had left since gets the later leave too');
SELECT is(pg_temp.member('d1', 'c'), 'in 3000', 'one who joined after the destroy stays in');
SELECT is(pg_temp.members('d1'), 1, 'members follows');
SELECT is((SELECT destroyed_at FROM presence.rooms WHERE room_id = 'd1'), NULL,
	'a join later than the destroy opens the room again');

-- The same items in another order.
SELECT pg_temp.room(3, 'd2', NULL, 2000000, 3);
SELECT pg_temp.room(1, 'd2', '{c}', 3000000);
SELECT pg_temp.room(2, 'd2', '{b}', 1500000);
SELECT pg_temp.room(1, 'd2', '{a,b}', 1000000);
SELECT pg_temp.room(0, 'd2', NULL, 500000);
SELECT is((SELECT array_agg(pg_temp.member('d2', u) ORDER BY u) FROM unnest('{a,b,c}'::text[]) u),
		  (SELECT array_agg(pg_temp.member('d1', u) ORDER BY u) FROM unnest('{a,b,c}'::text[]) u),
	'a destroy that arrives before the joins it closes: the same memberships');
SELECT is((SELECT row(members, created_at, destroyed_at)::text FROM presence.rooms WHERE room_id = 'd2'),
		  (SELECT row(members, created_at, destroyed_at)::text FROM presence.rooms WHERE room_id = 'd1'),
	'and the same room');

-- At one time a destroy ranks above a join and a create.
SELECT pg_temp.room(1, 'd3', '{a}', 2000000);
SELECT pg_temp.room(0, 'd3', NULL, 2000000);
SELECT pg_temp.room(3, 'd3', NULL, 2000000);
SELECT is(pg_temp.member('d3', 'a'), 'out 2000 2000 destroyed', 'a join at the destroy''s time is closed');
SELECT is((SELECT extract(epoch FROM destroyed_at)::bigint FROM presence.rooms WHERE room_id = 'd3'), 2000::bigint,
	'the room stays destroyed');
SELECT pg_temp.room(0, 'd3', NULL, 2500000);
SELECT is((SELECT row(extract(epoch FROM created_at)::bigint, destroyed_at)::text FROM presence.rooms WHERE room_id = 'd3'),
	'(2500,)', 'a later create opens it again');
SELECT pg_temp.room(3, 'd3', NULL, 2200000);
SELECT is((SELECT destroyed_at FROM presence.rooms WHERE room_id = 'd3'), NULL,
	'a destroy older than the create does not close it');

-- Input.
SELECT throws_ok($$SELECT pg_temp.room(1, 'big', (SELECT array_agg('u' || g) FROM generate_series(1, 1001) g), 1000)$$,
	'22023', 'field "data[0].userIds" has more than 1000 entries', '1,001 users in one item are refused');
SELECT is((SELECT items FROM pg_temp.room(1, 'big', (SELECT array_agg('u' || g) FROM generate_series(1, 1000) g), 1000)),
	1000, '1,000 are taken');
SELECT throws_ok($$SELECT pg_temp.room(1, 'x', NULL, 1000)$$, '22023', 'field "data[0].userIds" is missing',
	'a join names its users');
SELECT throws_ok($$SELECT pg_temp.room(4, 'x', '{a}', 1000)$$, '22023',
	'field "data[0].operationType" must be an integer from 0 to 3', 'an unknown operation is refused');
SELECT throws_ok($$SELECT pg_temp.room(1, 'x', ARRAY[repeat('u', 257)], 1000)$$, '22023',
	'field "data[0].userIds[0]" is longer than 256 bytes', 'each user id is capped');
SELECT throws_ok($$SELECT * FROM presence_ingest_unsigned('{"type": "open_channel:operation", "id": "e", "time": 1,
	"data": [{"channelId": "x", "userIds": ["a", 7], "operationType": 1, "status": 0, "time": 1}]}')$$,
	'22023', 'field "data[0].userIds[1]" must be a non-empty string', 'the path names the entry');
SELECT throws_ok($$SELECT * FROM presence_ingest_unsigned('{"type": "open_channel:operation", "id": "e", "time": 1,
	"data": [{"channelId": "x", "userIds": ["a"], "operationType": 1, "status": 0, "time": 1}, 5]}')$$,
	'22023', 'field "data[1]" must be an object', 'an element that is not an object');
SELECT is((SELECT row(r.*)::text FROM presence_ingest_unsigned('{"type": "group:operation", "id": "e", "time": 1,
	"data": [{"channelId": "x", "userIds": ["a"], "operationType": 1, "status": 0, "time": 1}]}') r),
	'(1,0,0,0,1)', 'other events are still ignored');
SELECT is((SELECT count(*) FROM presence.rooms WHERE room_id = 'x'), 0::bigint, 'a refused delivery changes nothing');

-- Reads.
SELECT presence_ingest_unsigned('{"status": "0", "userId": "a", "sessionId": "s1", "time": 1}');
SELECT presence_ingest_unsigned('{"status": "0", "userId": "a", "sessionId": "s2", "time": 1}');
SELECT presence_ingest_unsigned('{"status": "0", "userId": "b", "sessionId": "s1", "time": 1}');
SELECT presence_ingest_unsigned('{"status": "1", "userId": "b", "sessionId": "s1", "time": 2}');
SELECT pg_temp.room(1, 'reads', '{a,b,z}', 1000000);
SELECT results_eq($$SELECT user_id, online_sessions FROM presence.room_online('reads')$$,
	$$VALUES ('a', 2)$$, 'room_online: the members online, with their online sessions');
SELECT results_eq($$SELECT room_id FROM presence.user_rooms('c')$$, $$VALUES ('d1'), ('d2')$$,
	'user_rooms: the rooms the user is in');
SELECT results_eq($$SELECT user_id, extract(epoch FROM joined_at)::bigint, extract(epoch FROM left_at)::bigint, left_reason
					  FROM presence.room_history('d1', '1970-01-01', '1970-02-01')$$,
	$$VALUES ('a', 1000::bigint, 2000::bigint, 'destroyed'), ('b', 1000, 1500, 'left'), ('c', 3000, NULL, NULL)$$,
	'room_history: one row per membership interval');
SELECT throws_ok($$SELECT * FROM presence.room_history('d1', '-infinity', 'infinity')$$, '22023', NULL,
	'room_history takes finite bounds');

-- Privileges and proofs.
SELECT ok(has_function_privilege('presence_reader', 'presence.room_online(text)', 'EXECUTE'),
	'presence_reader may call room_online');
SELECT ok(NOT has_function_privilege('presence_reader',
	'presence.apply_room_items(text, text[], smallint[], smallint[], timestamptz[], text[], timestamptz[], integer[], boolean)',
	'EXECUTE'), 'but not apply_room_items');
SELECT is_empty('SELECT * FROM presence.check()', 'check() is empty');
UPDATE presence.rooms SET members = members + 1 WHERE room_id = 'd1';
SELECT results_eq($$SELECT field, stored, expected FROM presence.check()$$,
	$$VALUES ('rooms[d1].members', '2', '1')$$, 'check() sees a room''s count drift');

SELECT * FROM finish();
ROLLBACK;
