-- pgTAP: roles, privileges and settings (doc/rules.md section 1).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(29);

SELECT has_role('presence_reader');
SELECT has_role('presence_writer');
SELECT has_role('presence_admin');
SELECT is_member_of('presence_writer', 'presence_admin');
SELECT is_member_of('presence_reader', 'presence_admin');

CREATE ROLE t_writer LOGIN IN ROLE presence_writer;
CREATE ROLE t_reader LOGIN IN ROLE presence_reader;
CREATE ROLE t_nobody LOGIN;
SELECT presence.set_secret('s3cret');
SET presence.signature_max_age = 0;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
SELECT encode(digest('s3cret' || 'nw' || '1730192400000', 'sha1'), 'hex') AS sig \gset

-- The secrets table: only the owner and presence_admin may read it.
SELECT ok(NOT has_table_privilege('t_writer', 'presence.secrets', 'SELECT'), 'a writer cannot read secrets');
SELECT ok(NOT has_table_privilege('t_reader', 'presence.secrets', 'SELECT'), 'a reader cannot read secrets');
SELECT ok(NOT has_table_privilege('t_nobody', 'presence.secrets', 'SELECT'), 'PUBLIC cannot read secrets');
SELECT ok(has_table_privilege('presence_admin', 'presence.secrets', 'SELECT'), 'presence_admin can read secrets');

SET ROLE t_writer;
SELECT throws_ok('SELECT * FROM presence.secrets', '42501', NULL, 'a writer is refused the secrets');
SELECT throws_ok($$SELECT presence_ingest_unsigned('{"status":"0","userId":"w","time":1}')$$,
	'42501', NULL, 'a writer cannot call the unsigned path');
SELECT throws_ok($$SELECT presence.set_secret('mine')$$, '42501', NULL, 'a writer cannot add a secret');
SELECT throws_ok($$SET presence.signature_max_age = 0$$, '42501', NULL,
	'a writer cannot switch the age check off');
SELECT throws_ok($$SET presence.max_payload_bytes = 99999999$$, '42501', NULL,
	'a writer cannot lift the size limit');
-- ... but it can ingest signed deliveries, through the SECURITY DEFINER entry point.
SELECT is((presence_ingest('{"status":"0","userId":"w","time":1730192400000}', 'nw', '1730192400000',
	:'sig')).applied, 1, 'a writer ingests a signed delivery');
SELECT throws_ok($$SELECT presence_ingest('{"status":"0","userId":"w","time":1}', 'n', '1', 'abc')$$,
	'28000', NULL, 'a writer with a bad signature gets 28000');
SELECT throws_ok('SELECT * FROM presence.users', '42501', NULL, 'a writer cannot read the tables');
RESET ROLE;

SET ROLE t_reader;
SELECT lives_ok('SELECT * FROM presence.users, presence.sessions, presence.events LIMIT 1',
	'a reader reads the presence tables');
SELECT throws_ok($$SELECT presence_ingest('{}', 'n', '1', 'abc')$$, '42501', NULL,
	'a reader cannot ingest');
SELECT throws_ok('INSERT INTO presence.users (user_id) VALUES (''x'')', '42501', NULL,
	'a reader cannot write');
RESET ROLE;

SET ROLE t_nobody;
SELECT throws_ok($$SELECT presence_ingest('{}', 'n', '1', 'abc')$$, '42501', NULL,
	'PUBLIC cannot ingest');
SELECT throws_ok('SELECT * FROM presence.sessions', '42501', NULL, 'PUBLIC cannot read sessions');
RESET ROLE;

-- SECURITY DEFINER functions pin their search_path.
SELECT is(count(*)::int, 0, 'every SECURITY DEFINER function pins search_path')
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'presence'
WHERE p.prosecdef AND NOT EXISTS (
	SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');

SELECT is(count(*)::int, 9,
	'nine SECURITY DEFINER functions: the entry points, presence.suspects(), presence.partition_apply(), presence.partition_apply_rooms() and presence.bind_outgoing_signature()')
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'presence'
WHERE p.prosecdef;

-- Scale-out: a partition's apply function is the router's alone (contract section 12).
SELECT ok(NOT has_function_privilege(r, 'presence.partition_apply(text[], text[], text[], bigint[], text[], text[], integer[], integer[], text[], bigint[])', 'EXECUTE'),
		  r || ' cannot call presence.partition_apply')
  FROM unnest(ARRAY['presence_writer', 'presence_reader', 'presence_admin']) r;
SELECT ok(has_function_privilege('presence_router', 'presence.partition_apply(text[], text[], text[], bigint[], text[], text[], integer[], integer[], text[], bigint[])', 'EXECUTE'),
		  'presence_router may call presence.partition_apply');
CREATE ROLE presence_test_nobody LOGIN;
SET ROLE presence_test_nobody;
SELECT throws_ok($$SELECT * FROM presence.partition_apply('{u}', '{s}', '{0}', '{1}', '{NULL}', '{NULL}', '{0}', '{1}', '{e}', '{1}')$$,
				 '42501', NULL, 'PUBLIC cannot call presence.partition_apply');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
