-- pgTAP: presence.partition_apply() holds a share to the parser's field caps (doc/rules.md sections 2 and 12).
--
-- A partition trusts nothing but the router's role: a member of presence_router calling
-- partition_apply directly got past the caps the parser keeps (ids at most 256 bytes, os
-- and clientIp at most 64), and stored what no delivery could carry.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(6);

CREATE FUNCTION pg_temp.share(u text, s text, os text, ip text, ev text) RETURNS SETOF integer
	LANGUAGE sql AS $$
	SELECT r.applied FROM presence.partition_apply(ARRAY[u], ARRAY[s], ARRAY['0'], ARRAY[1000::bigint], ARRAY[os],
										   ARRAY[ip], ARRAY[1], ARRAY[1], ARRAY[ev], ARRAY[1000::bigint]) r
$$;

SELECT throws_ok($$SELECT * FROM pg_temp.share(repeat('u', 257), 's', NULL, NULL, 'e')$$, '22023', NULL,
	'a user id over 256 bytes is refused');
SELECT throws_ok($$SELECT * FROM pg_temp.share('u', repeat('s', 257), NULL, NULL, 'e')$$, '22023', NULL,
	'a session id over 256 bytes is refused');
SELECT throws_ok($$SELECT * FROM pg_temp.share('u', 's', repeat('o', 65), NULL, 'e')$$, '22023', NULL,
	'an os over 64 bytes is refused');
SELECT throws_ok($$SELECT * FROM pg_temp.share('u', 's', NULL, repeat('1', 65), 'e')$$, '22023', NULL,
	'a client ip over 64 bytes is refused');
SELECT throws_ok($$SELECT * FROM pg_temp.share('u', 's', NULL, NULL, repeat('e', 257))$$, '22023', NULL,
	'an event id over 256 bytes is refused');
SELECT lives_ok($$SELECT * FROM pg_temp.share(repeat('u', 256), repeat('s', 256), repeat('o', 64), repeat('1', 64), repeat('e', 256))$$,
	'fields at their caps are applied');

SELECT * FROM finish();
ROLLBACK;
