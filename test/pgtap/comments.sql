-- pgTAP: every object the extension makes has a COMMENT (doc/rules.md, "Contributing"):
-- \dd, \d+ and \df+ then say what each is for.  A new object without one fails here,
-- and test/lifecycle/upgrade.sh holds an upgraded database to the same comments.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(4);

SELECT is(ARRAY(
	SELECT pg_describe_object(d.classid, d.objid, 0)
	  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
	 WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'presence' AND d.deptype = 'e'
	   AND obj_description(d.objid, d.classid::regclass::name) IS NULL
	   -- 17 records the types made with a table or a type (its row type, an array
	   -- type) as members too; they are described by what made them.
	   AND NOT EXISTS (SELECT FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
					    WHERE d.classid = 'pg_type'::regclass AND t.oid = d.objid
					      AND (t.typelem <> 0 AND t.typsubscript = 'array_subscript_handler'::regproc
					           OR c.relkind IS NOT NULL AND c.relkind <> 'c'))
	 ORDER BY 1), '{}'::text[],
	'every function, procedure, table, view, type and schema of the extension has a comment');

SELECT cmp_ok((SELECT count(*)::int FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
				WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'presence'
				  AND d.deptype = 'e'), '>=', 30,
	'(the extension has the objects that check looks at)');

SELECT is(ARRAY(
	SELECT i.indexrelid::regclass::text
	  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
	 WHERE c.relnamespace = 'presence'::regnamespace AND NOT i.indisprimary
	   AND obj_description(i.indexrelid, 'pg_class') IS NULL
	 ORDER BY 1), '{}'::text[],
	'every index of schema presence beyond a primary key has a comment');

SELECT is(ARRAY(
	SELECT r FROM unnest(ARRAY['presence_reader', 'presence_writer', 'presence_admin',
							   'presence_owner', 'presence_router']) r
	 WHERE shobj_description(r::regrole, 'pg_authid') IS NULL
	 ORDER BY 1), '{}'::text[],
	'every role the extension creates has a comment');

SELECT * FROM finish();
ROLLBACK;
