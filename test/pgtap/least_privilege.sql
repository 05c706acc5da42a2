-- pgTAP: least privilege and the attacks of the 0.2.0 security review (issue 17).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
SELECT plan(27);

CREATE ROLE t_admin LOGIN IN ROLE presence_admin;
CREATE ROLE t_lp_writer LOGIN IN ROLE presence_writer;
SELECT presence.set_secret('lp-secret');
SET presence.signature_max_age = 0;
CREATE FUNCTION pg_temp.sig(nonce text, ts text) RETURNS text LANGUAGE sql
	AS $$ SELECT encode(digest('lp-secret' || nonce || ts, 'sha1'), 'hex') $$;

-- The owner role: no superuser, no login, owns the tables and the definer functions.
SELECT ok(NOT rolsuper AND NOT rolcanlogin, 'presence_owner is neither a superuser nor a login role')
  FROM pg_roles WHERE rolname = 'presence_owner';
SELECT is(count(*)::int, 0, 'presence_owner owns every table of schema presence')
  FROM pg_tables WHERE schemaname = 'presence' AND tableowner <> 'presence_owner';
SELECT is(count(*)::int, 0, 'presence_owner owns every SECURITY DEFINER function')
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'presence'
 WHERE p.prosecdef AND p.proowner <> 'presence_owner'::regrole;
SELECT is(count(*)::int, 0, 'no presence role holds TRIGGER, REFERENCES or TRUNCATE')
  FROM pg_tables t, unnest(ARRAY['presence_admin', 'presence_writer', 'presence_reader']) r,
	   unnest(ARRAY['TRIGGER', 'REFERENCES', 'TRUNCATE']) p
 WHERE t.schemaname = 'presence' AND has_table_privilege(r, t.schemaname || '.' || t.tablename, p);

-- HIGH: a presence_admin member adds a trigger that would run as the superuser.
CREATE SCHEMA lp_admin AUTHORIZATION t_admin;
SET ROLE t_admin;
CREATE FUNCTION pg_temp.pwn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN EXECUTE 'ALTER ROLE t_admin SUPERUSER'; RETURN NULL; END $$;
SELECT throws_ok('CREATE TRIGGER pwn AFTER INSERT ON presence.events FOR EACH ROW EXECUTE FUNCTION pg_temp.pwn()',
	'42501', NULL, 'presence_admin may not add a trigger to presence.events');
SELECT throws_ok('CREATE TRIGGER pwn BEFORE UPDATE ON presence.users FOR EACH ROW EXECUTE FUNCTION pg_temp.pwn()',
	'42501', NULL, 'presence_admin may not add a trigger to presence.users');
SELECT throws_ok('TRUNCATE presence.events', '42501', NULL, 'presence_admin may not truncate');
SELECT throws_ok('CREATE TABLE lp_admin.ref (u text REFERENCES presence.users)', '42501', NULL,
	'presence_admin may not reference the tables');
SELECT lives_ok($$SELECT presence_ingest_unsigned('{"status":"0","userId":"lp_x","time":1730192400000}')$$,
	'presence_admin still ingests');
RESET ROLE;
SELECT ok(NOT rolsuper, 'the presence_admin member is still no superuser')
  FROM pg_roles WHERE rolname = 't_admin';

-- The writer of presence-http, with a schema of its own, cannot add one either.
CREATE SCHEMA lp_writer_schema AUTHORIZATION t_lp_writer;
SET ROLE t_lp_writer;
CREATE FUNCTION lp_writer_schema.pwn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN EXECUTE 'ALTER ROLE t_lp_writer SUPERUSER'; RETURN NULL; END $$;
SELECT throws_ok('CREATE TRIGGER pwn AFTER INSERT ON presence.sessions FOR EACH ROW EXECUTE FUNCTION lp_writer_schema.pwn()',
	'42501', NULL, 'a writer may not add a trigger to presence.sessions');
RESET ROLE;

-- A trigger a superuser adds runs, inside ingest, as presence_owner: never as a superuser.
CREATE TABLE public.lp_seen (who text, super boolean);
GRANT INSERT ON public.lp_seen TO presence_owner;
CREATE FUNCTION public.lp_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.lp_seen SELECT current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user;
	RETURN NULL;
END $$;
CREATE TRIGGER lp_note AFTER INSERT ON presence.events FOR EACH ROW EXECUTE FUNCTION public.lp_note();
SET ROLE t_admin;
SELECT presence_ingest_unsigned('{"status":"0","userId":"lp_y","time":1730192400000}');
RESET ROLE;
SELECT results_eq('SELECT who, super FROM public.lp_seen', $$VALUES ('presence_owner'::text, false)$$,
	'a trigger fired by ingest runs as presence_owner');
DROP TRIGGER lp_note ON presence.events;

-- Which of the caller's own triggers fire during ingest (doc/security.md).
CREATE TABLE public.lp_fired (what text);
GRANT INSERT ON public.lp_fired TO presence_owner;
CREATE FUNCTION public.lp_fire() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.lp_fired VALUES (TG_TABLE_NAME || ' ' || TG_WHEN || ' ' || TG_LEVEL || ' ' || TG_OP);
	RETURN CASE WHEN TG_LEVEL = 'ROW' AND TG_OP <> 'DELETE' THEN NEW ELSE NULL END;
END $$;
DO $$
DECLARE
	t text;
	w text;
	l text;
BEGIN
	FOREACH t IN ARRAY ARRAY['users', 'sessions', 'events', 'seen_signatures'] LOOP
		FOREACH w IN ARRAY ARRAY['BEFORE', 'AFTER'] LOOP
			FOREACH l IN ARRAY ARRAY['ROW', 'STATEMENT'] LOOP
				EXECUTE format('CREATE TRIGGER lp_%s_%s AFTER INSERT OR UPDATE ON presence.%I FOR EACH %s EXECUTE FUNCTION public.lp_fire()',
							   lower(w), lower(l), t, l);
				EXECUTE format('DROP TRIGGER lp_%s_%s ON presence.%I', lower(w), lower(l), t);
				EXECUTE format('CREATE TRIGGER lp_%s_%s %s INSERT OR UPDATE ON presence.%I FOR EACH %s EXECUTE FUNCTION public.lp_fire()',
							   lower(w), lower(l), w, t, l);
			END LOOP;
		END LOOP;
	END LOOP;
END $$;
SET ROLE t_lp_writer;
SELECT presence_ingest('{"status":"0","userId":"lp_z","time":1730192400000,"sessionId":"z1"}',
					   'lpn1', '1730192400000', pg_temp.sig('lpn1', '1730192400000'));
SELECT presence_ingest('{"status":"1","userId":"lp_z","time":1730192401000,"sessionId":"z1"}',
					   'lpn2', '1730192401000', pg_temp.sig('lpn2', '1730192401000'));
RESET ROLE;
SELECT set_eq('SELECT DISTINCT what FROM public.lp_fired', $$VALUES
	('events BEFORE ROW INSERT'), ('events AFTER ROW INSERT'),
	('sessions BEFORE ROW INSERT'), ('sessions AFTER ROW INSERT'),
	('sessions BEFORE ROW UPDATE'), ('sessions AFTER ROW UPDATE'),
	('users AFTER ROW INSERT'), ('users AFTER ROW UPDATE'),
	('seen_signatures AFTER ROW INSERT')$$,
	'during ingest: BEFORE and AFTER row triggers on events and sessions, AFTER row triggers on users and seen_signatures, no statement triggers');
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT tgname, tgrelid::regclass AS rel FROM pg_trigger WHERE tgname LIKE 'lp\_%' LOOP
		EXECUTE format('DROP TRIGGER %I ON %s', r.tgname, r.rel);
	END LOOP;
END $$;

-- Trigger statements resolve as if the path were pg_catalog, pg_temp, whatever the caller's.
CREATE TABLE public.lp_called (what text);
GRANT INSERT ON public.lp_called TO PUBLIC;
CREATE SCHEMA mallory;
GRANT USAGE ON SCHEMA mallory TO PUBLIC;
CREATE FUNCTION mallory.text_eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.lp_called VALUES ('='); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR mallory.= (LEFTARG = text, RIGHTARG = text, FUNCTION = mallory.text_eq);
CREATE FUNCTION mallory.int_plus(a integer, b integer) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.lp_called VALUES ('+'); RETURN a OPERATOR(pg_catalog.+) b; END $$;
CREATE OPERATOR mallory.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = mallory.int_plus);
CREATE FUNCTION mallory.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.lp_called VALUES ('now'); RETURN pg_catalog.now(); END $$;
SELECT presence_ingest_unsigned('{"status":"0","userId":"lp_m","time":1730192400000,"sessionId":"m1"}');
SET ROLE t_admin;
SET search_path = mallory, pg_catalog;
UPDATE presence.sessions SET state = 'offline', ended_at = '2024-10-29 09:00:01+00'
 WHERE user_id OPERATOR(pg_catalog.=) 'lp_m';
DELETE FROM presence.sessions WHERE user_id OPERATOR(pg_catalog.=) 'lp_m';
INSERT INTO presence.sessions (user_id, session_id, state, last_event_at)
	VALUES ('lp_m', 'm2', 'online', '2024-10-29 09:00:02+00');
RESET search_path;
RESET ROLE;
SELECT is((SELECT count(*)::int FROM public.lp_called), 0,
	'a hand UPDATE, DELETE and INSERT under a hostile search_path run none of its operators or functions');

-- The replay binding cannot be reopened by forgetting.
SET presence.signature_max_age = 300;
SELECT (extract(epoch FROM now()) * 1000)::bigint::text AS lp_now \gset
SELECT is((presence_ingest('{"status":"0","userId":"lp_r","time":1730192400000}', 'lpr', :'lp_now',
	pg_temp.sig('lpr', :'lp_now'))).applied, 1, 'a fresh signed delivery is applied');
SELECT presence.forget_signatures('0');
SELECT is((SELECT count(*)::int FROM presence.seen_signatures WHERE nonce = 'lpr'), 1,
	'forget_signatures(''0'') keeps a triple the age check accepts');
SELECT throws_ok(format($$SELECT presence_ingest('{"status":"1","userId":"lp_r","time":1730192400001}', 'lpr', %L, %L)$$,
	:'lp_now', pg_temp.sig('lpr', :'lp_now')), '28000', NULL, 'so the triple still refuses another body');
SET presence.signature_max_age = 0;
SELECT is(presence.forget_signatures('0'), 0::bigint, 'with the age check off, nothing is forgotten');
SELECT throws_ok(format($$SELECT presence_ingest('{"status":"1","userId":"lp_r","time":1730192400001}', 'lpr', %L, %L)$$,
	:'lp_now', pg_temp.sig('lpr', :'lp_now')), '28000', NULL, 'and the triple still refuses another body');

-- A long nonce fails its own delivery only.
SELECT results_eq($$SELECT ord, applied, sqlstate FROM presence_ingest_batch(
		ARRAY['{"status":"0","userId":"lp_n1","time":1730192400000}', '{"status":"0","userId":"lp_n2","time":1730192400000}'],
		ARRAY['lpn-good', repeat('n', 10000)], ARRAY['1730192400000', '1730192400000'],
		ARRAY[pg_temp.sig('lpn-good', '1730192400000'), pg_temp.sig(repeat('n', 10000), '1730192400000')])$$,
	$$VALUES (1, 1, NULL::text), (2, NULL, '28000')$$,
	'a 10 kB nonce is 28000 for its delivery; the other is applied');
SELECT throws_ok(format($$SELECT presence_ingest('{"status":"0","userId":"lp_n3","time":1}', %L, '1', %L)$$,
	repeat('n', 65), pg_temp.sig(repeat('n', 65), '1')), '28000', 'delivery signature values are too long',
	'a nonce over 64 bytes is 28000');
SELECT lives_ok(format($$SELECT presence_ingest('{"status":"0","userId":"lp_n3","time":1}', %L, '1', %L)$$,
	repeat('n', 64), pg_temp.sig(repeat('n', 64), '1')), 'a nonce of 64 bytes is fine');

-- Caps on every field: the envelope id, os and clientIp.
SELECT throws_ok(format($$SELECT * FROM presence_parse('{"type":"user:connection_status","id":"%s","time":1,"data":[{"status":"0","userId":"u","time":1}]}')$$,
	repeat('i', 257)), '22023', 'field "id" is longer than 256 bytes', 'an envelope id over 256 bytes is refused');
SELECT lives_ok(format($$SELECT * FROM presence_parse('{"type":"user:connection_status","id":"%s","time":1,"data":[{"status":"0","userId":"u","time":1}]}')$$,
	repeat('i', 256)), 'an envelope id of 256 bytes is fine');
SELECT throws_ok(format($$SELECT * FROM presence_parse('[{"status":"0","userId":"u","time":1},{"status":"0","userId":"u","time":1,"os":"%s"}]')$$,
	repeat('o', 65)), '22023', 'field "[1].os" is longer than 64 bytes', 'an os over 64 bytes is refused, with its path');
SELECT throws_ok(format($$SELECT * FROM presence_parse('{"status":"0","userId":"u","time":1,"clientIp":"%s"}')$$,
	repeat('1', 65)), '22023', 'field "clientIp" is longer than 64 bytes', 'a clientIp over 64 bytes is refused');
SELECT lives_ok(format($$SELECT * FROM presence_parse('{"status":"0","userId":"u","time":1,"os":"%s","clientIp":"%s"}')$$,
	repeat('o', 64), repeat('1', 64)), 'an os and a clientIp of 64 bytes are fine');

SELECT * FROM finish();
ROLLBACK;
