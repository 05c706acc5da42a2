-- presence_parse: the three body shapes, and every rejection with its SQLSTATE.

-- The envelope from the provider's documentation.
SELECT * FROM presence_parse('{"type":"user:connection_status","id":"550e8400-e29b-41d4-a716-446655440001","time":1730192400000,"data":[{"status":"0","userId":"user_001","os":"iOS","time":1730192400000,"clientIp":"192.168.1.100:12345","sessionId":"sess_abc123"}]}');

-- A batched envelope; unknown fields are ignored, at any depth.
SELECT item_no, status, user_id, session_id, os, client_ip, t.ms(status_time)
FROM presence_parse(t.envelope('b1',
	'{"status":"1","userId":"a","time":1730192400005,"sessionId":"s1","extra":{"x":[1,2,{"y":null}]}},'
	|| '{"status":2,"userId":"b","time":"1730192400006","os":"HarmonyOS"},'
	|| '{"status":"0","userId":"c","time":1730192400007,"sessionId":"","clientIp":"","os":null}'));

-- Legacy: one item object, with "userid".
SELECT event_id, event_time, item_no, status, user_id, session_id, t.ms(status_time)
FROM presence_parse('{"userid":"legacy_1","status":"0","os":"PC","time":1730192400000}');

-- Legacy: an array of items.
SELECT item_no, status, user_id, os FROM presence_parse(
	'[{"userid":"l1","status":"0","os":"MiniProgram","time":1730192400000},{"userId":"l2","status":"1","time":1730192400001}]');

-- A foreign event type: acknowledged, nothing to parse out of it.
SELECT count(*) FROM presence_parse('{"type":"message:sent","id":"m1","time":1730192400000,"data":[{"anything":true},3]}');

-- Not valid JSON: 22P02.
SELECT t.try($$SELECT * FROM presence_parse('')$$);
SELECT t.try($$SELECT * FROM presence_parse('{')$$);
SELECT t.try($$SELECT * FROM presence_parse('{"status":"0",}')$$);
SELECT t.try($$SELECT * FROM presence_parse('nope')$$);
SELECT t.try($$SELECT * FROM presence_parse('{"status":"0","userId":"u","time":1} {}')$$);
SELECT t.try($$SELECT * FROM presence_parse('[{"status":"0","userId":"u","time":1}] x')$$);
SELECT t.try($$SELECT * FROM presence_parse(repeat('[', 50000))$$);

-- \u0000: 22P05.
SELECT t.try($$SELECT * FROM presence_parse('{"status":"0","userId":"u\u0000","time":1}')$$);

-- Valid JSON of the wrong shape: 22023, naming the field path.
SELECT t.try($$SELECT * FROM presence_parse('"just a string"')$$);
SELECT t.try($$SELECT * FROM presence_parse('[]')$$);
SELECT t.try($$SELECT * FROM presence_parse('[{"status":"0","userId":"u","time":1}, 7]')$$);
SELECT t.try($$SELECT * FROM presence_parse('{"id":"e","time":1,"data":[]}')$$);
SELECT t.try($$SELECT * FROM presence_parse('{"type":7,"id":"e","time":1,"data":[{}]}')$$);
SELECT t.try($$SELECT * FROM presence_parse('{"type":"user:connection_status","time":1,"data":[{}]}')$$);
SELECT t.try($$SELECT * FROM presence_parse('{"type":"user:connection_status","id":"","time":1,"data":[{}]}')$$);
SELECT t.try($$SELECT * FROM presence_parse('{"type":"user:connection_status","id":"e","time":"1","data":[{}]}')$$);
SELECT t.try($$SELECT * FROM presence_parse('{"type":"user:connection_status","id":"e","time":1}')$$);
SELECT t.try($$SELECT * FROM presence_parse('{"type":"user:connection_status","id":"e","time":1,"data":{}}')$$);
SELECT t.try($$SELECT * FROM presence_parse('{"type":"user:connection_status","id":"e","time":1,"data":[]}')$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":"u","time":1},{"status":"3","userId":"u","time":1}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":"u","time":1},{"status":true,"userId":"u","time":1}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"userId":"u","time":1}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","time":1}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":"","time":1}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":42,"time":1}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":"' || repeat('x', 257) || '","time":1}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":"u","userid":"u","time":1}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":"u"}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":"u","time":1.5}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":"u","time":"soon"}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":"u","time":1,"os":["iOS"]}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":"u","time":1,"clientIp":1}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":"u","time":1,"sessionId":false}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '"item"'))$$);

-- The same key twice, anywhere: 22023.
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","status":"1","userId":"u","time":1}'))$$);
SELECT t.try($$SELECT * FROM presence_parse('{"type":"user:connection_status","type":"x","id":"e","time":1,"data":[{}]}')$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":"u","time":1,"x":{"k":1,"k":2}}'))$$);
-- ... but text that is not one JSON value is a syntax error first.
SELECT t.try($$SELECT * FROM presence_parse('{"a":1,"a":2} x')$$);

-- Numbers out of range: 22003.
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":"u","time":-1}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":"u","time":99999999999999999999999}'))$$);
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', '{"status":"0","userId":"u","time":253402300800000}'))$$);

-- Too large for presence.max_payload_bytes: 54000.
SET presence.max_payload_bytes = 100;
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', t.item('0', 'u', 1)))$$);
RESET presence.max_payload_bytes;

-- Items of a foreign event are not ours to judge, but its envelope is.
SELECT count(*) FROM presence_parse('{"type":"other","id":"e","time":1,"data":[{"status":"9"}]}');
SELECT t.try($$SELECT * FROM presence_parse('{"type":"other","id":"e","time":1,"data":[]}')$$);

-- A session id is a key too: at most 256 bytes.
SELECT t.try($$SELECT * FROM presence_parse(t.envelope('e', t.item('0', 'u', 1, repeat('s', 257))))$$);

-- Errors as a client sees them, with their detail.
\set VERBOSITY default
SELECT * FROM presence_parse('{"status":"0","userId":"u","time":1');
SELECT * FROM presence_parse('{"status":"0" "userId":"u"}');
SELECT * FROM presence_parse('{"status":"0","userId":"u\u0000","time":1}');
SELECT * FROM presence_parse(t.envelope('e', t.item('0', 'u', 1) || ',{"status":"1","userId":"u","time":-5}'));
SET presence.max_payload_bytes = 100;
SELECT * FROM presence_parse(t.envelope('e', t.item('0', 'u', 1)));
RESET presence.max_payload_bytes;
