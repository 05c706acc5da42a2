/* presence_router--0.2.0.sql: a presence router on PL/Proxy (doc/rules.md section 12) */

\echo Use "CREATE EXTENSION presence_router" to load this file. \quit

/*
 * Why an extension of its own: functions in LANGUAGE plproxy (an untrusted language)
 * can only be made by a superuser, so they are made here, at CREATE EXTENSION, and
 * handed to presence_owner; a single node needs neither plproxy nor this file.
 * presence.create_cluster() then needs no superuser: presence_owner may use the
 * plproxy foreign data wrapper, so it can create the cluster's server and user
 * mapping itself.
 */
GRANT USAGE ON FOREIGN DATA WRAPPER plproxy TO presence_owner;

-- The partitions of this router, counted from the options of the server presence_cluster.
CREATE FUNCTION presence.cluster_partitions() RETURNS integer
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.count(*)::integer
	  FROM pg_catalog.pg_foreign_server s, pg_catalog.unnest(s.srvoptions) o
	 WHERE s.srvname = 'presence_cluster' AND o ~ '^p[0-9]+='
$$;
COMMENT ON FUNCTION presence.cluster_partitions() IS
	'How many partitions this router has; 0 before presence.create_cluster().';

/*
 * presence.create_cluster(partitions): make this database a router over the given
 * libpq connection strings (partition 0 first; a power of two of them).  Each string
 * names a database with the extension and a role in presence_router (user=...).
 * Calling it again with the same list changes nothing; another list is refused, since
 * it would move users to other partitions.
 */
CREATE FUNCTION presence.create_cluster(partitions text[]) RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n integer := COALESCE(pg_catalog.cardinality(create_cluster.partitions), 0);
	existing text[];
	opts text;
BEGIN
	IF n = 0 OR (n & (n - 1)) <> 0 THEN
		RAISE EXCEPTION 'the number of partitions must be a power of two'
			USING ERRCODE = '22023', DETAIL = pg_catalog.format('%s connection strings were given.', n);
	END IF;
	IF pg_catalog.array_position(create_cluster.partitions, NULL) IS NOT NULL
	   OR '' = ANY (create_cluster.partitions) THEN
		RAISE EXCEPTION 'a partition connection string is null or empty' USING ERRCODE = '22023';
	END IF;
	SELECT pg_catalog.array_agg(pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1)
								ORDER BY pg_catalog.substr(o, 2, pg_catalog.strpos(o, '=') - 2)::integer)
	  INTO existing
	  FROM pg_catalog.pg_foreign_server s, pg_catalog.unnest(s.srvoptions) o
	 WHERE s.srvname = 'presence_cluster' AND o ~ '^p[0-9]+=';
	IF existing IS NOT NULL THEN
		IF existing = create_cluster.partitions THEN
			RETURN n;
		END IF;
		RAISE EXCEPTION 'the presence cluster already exists with other partitions'
			USING ERRCODE = '55000',
				  DETAIL = 'Another list of partitions would move users to other partitions.',
				  HINT = 'Move the rows of each user yourself, then DROP SERVER presence_cluster CASCADE and create the cluster again.';
	END IF;
	SELECT pg_catalog.string_agg(pg_catalog.format('p%s %L', i - 1, create_cluster.partitions[i]), ', '
								 ORDER BY i)
	  INTO opts
	  FROM pg_catalog.generate_subscripts(create_cluster.partitions, 1) i;
	EXECUTE pg_catalog.format('CREATE SERVER presence_cluster FOREIGN DATA WRAPPER plproxy OPTIONS (connection_lifetime %L, %s)',
							  '1800', opts);
	CREATE USER MAPPING FOR presence_owner SERVER presence_cluster;
	RETURN n;
END
$$;
COMMENT ON FUNCTION presence.create_cluster(text[]) IS
	'Make this database a presence router over the partitions (libpq connection strings, a power of two of them, partition 0 first).';
REVOKE ALL ON FUNCTION presence.create_cluster(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.create_cluster(text[]) TO presence_admin;
ALTER FUNCTION presence.create_cluster(text[]) OWNER TO presence_owner;

-- Ingest's call: one partition's share of an ingest call, from router.c (RUN ON the partition).
CREATE FUNCTION presence.cluster_apply(part integer, user_ids text[], session_ids text[],
									   statuses text[], times bigint[], oses text[],
									   client_ips text[], item_nos integer[], deliveries integer[],
									   event_ids text[], event_times bigint[])
	RETURNS TABLE (delivery integer, applied integer, duplicates integer, stale integer)
	LANGUAGE plproxy VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	CLUSTER 'presence_cluster';
	RUN ON part;
	SELECT r.delivery, r.applied, r.duplicates, r.stale
	  FROM presence.partition_apply(user_ids, session_ids, statuses, times, oses, client_ips,
									item_nos, deliveries, event_ids, event_times) r;
$$;
COMMENT ON FUNCTION presence.cluster_apply(integer, text[], text[], text[], bigint[], text[], text[],
										   integer[], integer[], text[], bigint[]) IS
	'Run presence.partition_apply on partition part (called by ingest on a router).';
REVOKE ALL ON FUNCTION presence.cluster_apply(integer, text[], text[], text[], bigint[], text[], text[],
											  integer[], integer[], text[], bigint[]) FROM PUBLIC;
ALTER FUNCTION presence.cluster_apply(integer, text[], text[], text[], bigint[], text[], text[],
									  integer[], integer[], text[], bigint[]) OWNER TO presence_owner;

/*
 * Reads: each user's rows live on its partition only.  The PL/Proxy functions
 * (partition_*) are wrapped by cluster_* in PL/pgSQL, which turn PL/Proxy's own
 * failures (XX000 "PL/Proxy function ...": a partition it cannot reach) into 08006,
 * as ingest does.
 */
CREATE FUNCTION presence.unreachable(message text) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION 'a partition of the presence cluster is unreachable'
		USING ERRCODE = '08006', DETAIL = unreachable.message;
END
$$;
COMMENT ON FUNCTION presence.unreachable(text) IS
	'Raise 08006 with PL/Proxy''s message as the detail (the router''s reads).';

CREATE FUNCTION presence.partition_users(user_ids text[]) RETURNS SETOF presence.users
	LANGUAGE plproxy VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	CLUSTER 'presence_cluster';
	SPLIT user_ids;
	RUN ON presence.user_hash(user_ids);
	SELECT u.user_id, u.online_sessions, u.online, u.last_online_at, u.last_offline_at,
		   u.last_seen_at, u.logged_out, u.updated_at, u.last_offline_logout
	  FROM presence.users u WHERE u.user_id = ANY (user_ids);
$$;
COMMENT ON FUNCTION presence.partition_users(text[]) IS
	'The presence.users rows of these users, each read from its partition (behind cluster_users).';
REVOKE ALL ON FUNCTION presence.partition_users(text[]) FROM PUBLIC;
ALTER FUNCTION presence.partition_users(text[]) OWNER TO presence_owner;

CREATE FUNCTION presence.cluster_users(user_ids text[]) RETURNS SETOF presence.users
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT * FROM presence.partition_users(cluster_users.user_ids);
EXCEPTION WHEN internal_error THEN
	IF SQLERRM LIKE 'PL/Proxy function %' THEN
		PERFORM presence.unreachable(SQLERRM);
	END IF;
	RAISE;
END
$$;
COMMENT ON FUNCTION presence.cluster_users(text[]) IS
	'The presence.users rows of these users, each read from its partition.';
REVOKE ALL ON FUNCTION presence.cluster_users(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.cluster_users(text[]) TO presence_reader, presence_admin;
ALTER FUNCTION presence.cluster_users(text[]) OWNER TO presence_owner;

CREATE FUNCTION presence.partition_sessions(user_id text) RETURNS SETOF presence.sessions
	LANGUAGE plproxy VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	CLUSTER 'presence_cluster';
	RUN ON presence.user_hash(user_id);
	SELECT s.user_id, s.session_id, s.state, s.os, s.client_ip, s.started_at, s.ended_at,
		   s.last_event_at, s.updated_at, s.os_key, s.client_ip_key
	  FROM presence.sessions s WHERE s.user_id = $1;
$$;
COMMENT ON FUNCTION presence.partition_sessions(text) IS
	'The presence.sessions rows of one user, read from its partition (behind cluster_sessions).';
REVOKE ALL ON FUNCTION presence.partition_sessions(text) FROM PUBLIC;
ALTER FUNCTION presence.partition_sessions(text) OWNER TO presence_owner;

CREATE FUNCTION presence.cluster_sessions(user_id text) RETURNS SETOF presence.sessions
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT * FROM presence.partition_sessions(cluster_sessions.user_id);
EXCEPTION WHEN internal_error THEN
	IF SQLERRM LIKE 'PL/Proxy function %' THEN
		PERFORM presence.unreachable(SQLERRM);
	END IF;
	RAISE;
END
$$;
COMMENT ON FUNCTION presence.cluster_sessions(text) IS
	'The presence.sessions rows of one user, read from its partition.';
REVOKE ALL ON FUNCTION presence.cluster_sessions(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.cluster_sessions(text) TO presence_reader, presence_admin;
ALTER FUNCTION presence.cluster_sessions(text) OWNER TO presence_owner;

CREATE FUNCTION presence.partition_online_counts() RETURNS SETOF bigint
	LANGUAGE plproxy VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	CLUSTER 'presence_cluster';
	RUN ON ALL;
	SELECT pg_catalog.count(*) AS partition_online_counts FROM presence.users u WHERE u.online;
$$;
COMMENT ON FUNCTION presence.partition_online_counts() IS
	'The number of users online on each partition (behind cluster_online_count).';
REVOKE ALL ON FUNCTION presence.partition_online_counts() FROM PUBLIC;
ALTER FUNCTION presence.partition_online_counts() OWNER TO presence_owner;

CREATE FUNCTION presence.cluster_online_count() RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN (SELECT COALESCE(pg_catalog.sum(c), 0)::bigint FROM presence.partition_online_counts() c);
EXCEPTION WHEN internal_error THEN
	IF SQLERRM LIKE 'PL/Proxy function %' THEN
		PERFORM presence.unreachable(SQLERRM);
	END IF;
	RAISE;
END
$$;
COMMENT ON FUNCTION presence.cluster_online_count() IS
	'The number of users online on the whole cluster.';
REVOKE ALL ON FUNCTION presence.cluster_online_count() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.cluster_online_count() TO presence_reader, presence_admin;
ALTER FUNCTION presence.cluster_online_count() OWNER TO presence_owner;

/*
 * One partition's check() rows, plus a row for each user whose rows are on this
 * partition although presence.partition_of() places it elsewhere (field 'partition',
 * stored: this partition, expected: the user's).
 */
CREATE FUNCTION presence.partition_check(part integer, partitions integer)
	RETURNS TABLE (user_id text, session_id text, field text, stored text, expected text)
	LANGUAGE plproxy VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	CLUSTER 'presence_cluster';
	RUN ON part;
	SELECT c.user_id, c.session_id, c.field, c.stored, c.expected FROM presence.check() c
	UNION ALL
	SELECT u.user_id, NULL, 'partition', $1::text, presence.partition_of(u.user_id, $2)::text
	  FROM presence.users u WHERE presence.partition_of(u.user_id, $2) <> $1;
$$;
COMMENT ON FUNCTION presence.partition_check(integer, integer) IS
	'presence.check() on one partition, and the users found on it that belong elsewhere (behind cluster_check).';
REVOKE ALL ON FUNCTION presence.partition_check(integer, integer) FROM PUBLIC;
ALTER FUNCTION presence.partition_check(integer, integer) OWNER TO presence_owner;

CREATE FUNCTION presence.cluster_check()
	RETURNS TABLE ("partition" integer, user_id text, session_id text, field text, stored text,
				   expected text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n integer := presence.cluster_partitions();
BEGIN
	IF n = 0 THEN
		RAISE EXCEPTION 'this database is not a presence router'
			USING ERRCODE = '55000', HINT = 'Call presence.create_cluster() first.';
	END IF;
	FOR p IN 0 .. n - 1 LOOP
		RETURN QUERY SELECT p, c.user_id, c.session_id, c.field, c.stored, c.expected
					   FROM presence.partition_check(p, n) c;
	END LOOP;
EXCEPTION WHEN internal_error THEN
	IF SQLERRM LIKE 'PL/Proxy function %' THEN
		PERFORM presence.unreachable(SQLERRM);
	END IF;
	RAISE;
END
$$;
COMMENT ON FUNCTION presence.cluster_check() IS
	'Every partition''s presence.check() rows with the partition number, and users on the wrong partition; no rows means all is well.';
REVOKE ALL ON FUNCTION presence.cluster_check() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.cluster_check() TO presence_reader, presence_admin;
ALTER FUNCTION presence.cluster_check() OWNER TO presence_owner;
