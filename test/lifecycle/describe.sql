-- test/lifecycle/describe.sql: the presence extension's objects as sorted text,
-- one line (or one multi-line definition) per fact, for diffing two databases.
-- Nothing here names an object: it lists whatever the extension holds and
-- whatever lives in schema presence, so new objects are compared too.
-- Output: section <tab> object <tab> detail, ordered by all three.

\pset footer off

WITH ext AS (
	SELECT e.oid, e.extname, e.extversion, e.extrelocatable, e.extnamespace,
		   e.extconfig, e.extcondition
	  FROM pg_catalog.pg_extension e WHERE e.extname = 'presence'),
-- every object of the extension
member AS (
	SELECT d.classid, d.objid, d.objsubid
	  FROM pg_catalog.pg_depend d, ext
	 WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid
	   AND d.deptype = 'e'),
-- relations of schema presence (members or not) and of the extension
rel AS (
	SELECT c.* FROM pg_catalog.pg_class c
	 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
	   AND (c.relnamespace = 'presence'::regnamespace
			OR c.oid IN (SELECT objid FROM member WHERE classid = 'pg_catalog.pg_class'::regclass))),
func AS (
	SELECT p.* FROM pg_catalog.pg_proc p
	 WHERE p.pronamespace = 'presence'::regnamespace
		OR p.oid IN (SELECT objid FROM member WHERE classid = 'pg_catalog.pg_proc'::regclass)),
typ AS (
	SELECT t.* FROM pg_catalog.pg_type t
	 WHERE t.oid IN (SELECT objid FROM member WHERE classid = 'pg_catalog.pg_type'::regclass)
		OR (t.typnamespace = 'presence'::regnamespace AND t.typtype IN ('c', 'd', 'e', 'r', 'm')
			AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c'))),
facts(section, object, detail) AS (
	SELECT 'extension', ext.extname::text,
		   pg_catalog.concat_ws(' ', 'version', ext.extversion, 'relocatable', ext.extrelocatable,
								'schema', ext.extnamespace::regnamespace)
	  FROM ext
	UNION ALL
	SELECT 'member', pg_catalog.pg_describe_object(m.classid, m.objid, m.objsubid), ''
	  FROM member m
	UNION ALL
	-- pg_extension.extconfig, as table names, with their dump conditions
	SELECT 'extconfig', c.cfg::regclass::text, coalesce(ext.extcondition[c.n], '')
	  FROM ext, unnest(ext.extconfig) WITH ORDINALITY AS c(cfg, n)
	UNION ALL
	SELECT 'schema', n.nspname::text,
		   pg_catalog.concat_ws(' ', 'owner', pg_catalog.pg_get_userbyid(n.nspowner), 'acl',
				(SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text) FROM unnest(n.nspacl) a))
	  FROM pg_catalog.pg_namespace n WHERE n.nspname = 'presence'
	UNION ALL
	SELECT 'relation', r.oid::regclass::text,
		   pg_catalog.concat_ws(' ', 'kind', r.relkind::text, 'persistence', r.relpersistence::text,
				'options', r.reloptions::text, 'rls', r.relrowsecurity, r.relforcerowsecurity,
				'owner', pg_catalog.pg_get_userbyid(r.relowner), 'acl',
				(SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text) FROM unnest(r.relacl) a))
	  FROM rel r
	UNION ALL
	-- columns, with their place among the live columns (SELECT * and row types see it)
	SELECT 'column', r.oid::regclass::text || '.' || pg_catalog.quote_ident(a.attname),
		   pg_catalog.concat_ws(' ', '#' || pg_catalog.row_number() OVER (PARTITION BY r.oid ORDER BY a.attnum),
				pg_catalog.format_type(a.atttypid, a.atttypmod),
				'collate ' || (SELECT co.collname FROM pg_catalog.pg_collation co
								WHERE co.oid = a.attcollation AND a.attcollation <> 0),
				CASE WHEN a.attnotnull THEN 'not null' END,
				'default ' || pg_catalog.pg_get_expr(d.adbin, d.adrelid),
				'identity ' || nullif(a.attidentity::text, ''), 'generated ' || nullif(a.attgenerated::text, ''),
				'acl ' || (SELECT pg_catalog.string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x))
	  FROM rel r
	  JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	UNION ALL
	SELECT 'index', i.indrelid::regclass::text, pg_catalog.pg_get_indexdef(i.indexrelid)
	  FROM pg_catalog.pg_index i WHERE i.indrelid IN (SELECT oid FROM rel)
	UNION ALL
	SELECT 'constraint', co.conrelid::regclass::text,
		   co.conname || ' ' || pg_catalog.pg_get_constraintdef(co.oid)
	  FROM pg_catalog.pg_constraint co WHERE co.conrelid IN (SELECT oid FROM rel)
	UNION ALL
	SELECT 'trigger', t.tgrelid::regclass::text,
		   pg_catalog.pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
	  FROM pg_catalog.pg_trigger t WHERE t.tgrelid IN (SELECT oid FROM rel) AND NOT t.tgisinternal
	UNION ALL
	SELECT 'policy', po.polrelid::regclass::text,
		   pg_catalog.concat_ws(' ', po.polname, po.polcmd::text, po.polpermissive, po.polroles::regrole[]::text,
				pg_catalog.pg_get_expr(po.polqual, po.polrelid),
				pg_catalog.pg_get_expr(po.polwithcheck, po.polrelid))
	  FROM pg_catalog.pg_policy po WHERE po.polrelid IN (SELECT oid FROM rel)
	UNION ALL
	SELECT 'view', r.oid::regclass::text, pg_catalog.pg_get_viewdef(r.oid)
	  FROM rel r WHERE r.relkind IN ('v', 'm')
	UNION ALL
	SELECT 'sequence', s.seqrelid::regclass::text,
		   pg_catalog.concat_ws(' ', pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
								s.seqmax, s.seqmin, s.seqcache, s.seqcycle)
	  FROM pg_catalog.pg_sequence s WHERE s.seqrelid IN (SELECT oid FROM rel)
	UNION ALL
	SELECT 'function', f.oid::regprocedure::text,
		   pg_catalog.concat_ws(' ', 'owner', pg_catalog.pg_get_userbyid(f.proowner), 'acl',
				(SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text) FROM unnest(f.proacl) a))
	  FROM func f
	UNION ALL
	SELECT 'function definition', f.oid::regprocedure::text,
		   CASE WHEN f.prokind = 'a' THEN 'aggregate' ELSE pg_catalog.pg_get_functiondef(f.oid) END
	  FROM func f
	UNION ALL
	SELECT 'type', t.oid::regtype::text,
		   pg_catalog.concat_ws(' ', 'kind', t.typtype::text, 'owner', pg_catalog.pg_get_userbyid(t.typowner),
				'base', nullif(t.typbasetype, 0)::regtype::text, 'not null', t.typnotnull,
				'default', t.typdefault,
				'labels', (SELECT pg_catalog.string_agg(el.enumlabel, ',' ORDER BY el.enumsortorder)
							 FROM pg_catalog.pg_enum el WHERE el.enumtypid = t.oid),
				'attributes', (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname) || ' ' ||
								   pg_catalog.format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
								 FROM pg_catalog.pg_attribute a
								WHERE a.attrelid = t.typrelid AND t.typrelid <> 0
								  AND a.attnum > 0 AND NOT a.attisdropped),
				'acl', (SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text) FROM unnest(t.typacl) a))
	  FROM typ t
	UNION ALL
	SELECT 'type constraint', t.oid::regtype::text, co.conname || ' ' || pg_catalog.pg_get_constraintdef(co.oid)
	  FROM typ t JOIN pg_catalog.pg_constraint co ON co.contypid = t.oid
	UNION ALL
	-- the privileges pg_dump takes as the extension's own (it dumps only changes to them)
	SELECT 'initial privileges', pg_catalog.pg_describe_object(ip.classoid, ip.objoid, ip.objsubid),
		   ip.privtype::text || ' ' ||
		   (SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text) FROM unnest(ip.initprivs) a)
	  FROM pg_catalog.pg_init_privs ip
	  JOIN member m ON m.classid = ip.classoid AND m.objid = ip.objoid
	UNION ALL
	-- COMMENT ON: every member's comment ('(none)' when it has none), and those of the
	-- relations of schema presence, their columns and indexes
	SELECT 'comment', pg_catalog.pg_describe_object(m.classid, m.objid, m.objsubid),
		   coalesce((SELECT c.description FROM pg_catalog.pg_description c
					  WHERE c.classoid = m.classid AND c.objoid = m.objid AND c.objsubid = 0), '(none)')
	  FROM member m
	UNION ALL
	SELECT 'comment', pg_catalog.pg_describe_object(c.classoid, c.objoid, c.objsubid), c.description
	  FROM pg_catalog.pg_description c
	 WHERE c.classoid = 'pg_catalog.pg_class'::regclass
	   AND (c.objsubid <> 0 OR c.objoid NOT IN (SELECT objid FROM member))
	   AND (c.objoid IN (SELECT oid FROM rel)
			OR c.objoid IN (SELECT i.indexrelid FROM pg_catalog.pg_index i WHERE i.indrelid IN (SELECT oid FROM rel)))
	UNION ALL
	SELECT 'role comment', r.rolname::text, coalesce(pg_catalog.shobj_description(r.oid, 'pg_authid'), '(none)')
	  FROM pg_catalog.pg_roles r
	 WHERE r.rolname IN ('presence_reader', 'presence_writer', 'presence_admin', 'presence_owner')
)
SELECT section, object, detail FROM facts ORDER BY 1, 2, 3;
