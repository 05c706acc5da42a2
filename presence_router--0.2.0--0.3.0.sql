/* presence_router--0.2.0--0.3.0.sql: upgrade a 0.2.0 router to 0.3.0 */
--
-- There is no full script for 0.3.0: CREATE EXTENSION presence_router runs the
-- released presence_router--0.2.0.sql and the upgrade scripts after it.

\echo Use "ALTER EXTENSION presence_router UPDATE TO '0.3.0'" to load this file. \quit

-- Each rule once, in C: the partition count and the error of an unreachable
-- partition are the library's (router.c), which ingest uses too, so a read
-- and a delivery that need a lost partition fail with the same 08006 text.
CREATE OR REPLACE FUNCTION presence.cluster_partitions() RETURNS integer
	LANGUAGE C STABLE
	AS '$libdir/presence', 'presence_cluster_partitions';
COMMENT ON FUNCTION presence.cluster_partitions() IS
	'How many partitions this router has; 0 before presence.create_cluster() (router_partitions() in router.c).';

CREATE OR REPLACE FUNCTION presence.unreachable(message text) RETURNS void
	LANGUAGE C VOLATILE
	AS '$libdir/presence', 'presence_unreachable';
COMMENT ON FUNCTION presence.unreachable(text) IS
	'Raise 08006 "a partition of the presence cluster is unreachable" with PL/Proxy''s message as the detail (the router''s reads; partition_unreachable() in router.c, as ingest raises it).';

/*
 * Partition connection strings (doc/rules.md section 12).  create_cluster() runs
 * as presence_owner for presence_admin, and PL/Proxy connects with a string's own
 * user=, options= and hostaddr= as they are and asks no password: an admin could
 * have the router call its partitions as a superuser with a search_path of its
 * own.  A string now names only where a partition is (check_partition_conninfo);
 * the remote role is the user mapping's (presence_partition unless a superuser
 * changes it), and any password too.
 */
CREATE FUNCTION presence.check_partition_conninfo(conninfo text) RETURNS void
	LANGUAGE c STRICT IMMUTABLE
	AS '$libdir/presence', 'presence_check_partition_conninfo';
COMMENT ON FUNCTION presence.check_partition_conninfo(text) IS
	'Raise 22023 unless the libpq string sets only host, port, dbname, sslmode, sslrootcert, connect_timeout and application_name.';
REVOKE ALL ON FUNCTION presence.check_partition_conninfo(text) FROM PUBLIC;
ALTER FUNCTION presence.check_partition_conninfo(text) OWNER TO presence_owner;

CREATE OR REPLACE FUNCTION presence.create_cluster(partitions text[]) RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n integer := COALESCE(pg_catalog.cardinality(create_cluster.partitions), 0);
	-- every partition call is cut at 3 s on the partition, below presence-http's 4 s
	bounded text := ' options=''-c statement_timeout=3000''';
	existing text[];
	wanted text[];
	opts text;
BEGIN
	IF n OPERATOR(pg_catalog.=) 0 OR (n OPERATOR(pg_catalog.&) (n OPERATOR(pg_catalog.-) 1)) OPERATOR(pg_catalog.<>) 0 THEN
		RAISE EXCEPTION 'the number of partitions must be a power of two'
			USING ERRCODE = '22023', DETAIL = pg_catalog.format('%s connection strings were given.', n);
	END IF;
	IF pg_catalog.array_position(create_cluster.partitions, NULL) IS NOT NULL
	   OR '' OPERATOR(pg_catalog.=) ANY (create_cluster.partitions) THEN
		RAISE EXCEPTION 'a partition connection string is null or empty' USING ERRCODE = '22023';
	END IF;
	PERFORM presence.check_partition_conninfo(c) FROM pg_catalog.unnest(create_cluster.partitions) c;
	SELECT pg_catalog.array_agg(c OPERATOR(pg_catalog.||) bounded ORDER BY i) INTO wanted
	  FROM pg_catalog.unnest(create_cluster.partitions) WITH ORDINALITY AS u(c, i);
	SELECT pg_catalog.array_agg(pg_catalog.substr(o, pg_catalog.strpos(o, '=') OPERATOR(pg_catalog.+) 1)
								ORDER BY pg_catalog.substr(o, 2, pg_catalog.strpos(o, '=') OPERATOR(pg_catalog.-) 2)::integer)
	  INTO existing
	  FROM pg_catalog.pg_foreign_server s, pg_catalog.unnest(s.srvoptions) o
	 WHERE s.srvname OPERATOR(pg_catalog.=) 'presence_cluster' AND o OPERATOR(pg_catalog.~) '^p[0-9]+=';
	IF existing IS NOT NULL THEN
		IF existing OPERATOR(pg_catalog.=) wanted THEN
			RETURN n;
		END IF;
		RAISE EXCEPTION 'the presence cluster already exists with other partitions'
			USING ERRCODE = '55000',
				  DETAIL = 'Another list of partitions would move users to other partitions.',
				  HINT = 'Move the rows of each user yourself, then DROP SERVER presence_cluster CASCADE and create the cluster again.';
	END IF;
	SELECT pg_catalog.string_agg(pg_catalog.format('p%s %L', i OPERATOR(pg_catalog.-) 1, wanted[i]), ', '
								 ORDER BY i)
	  INTO opts
	  FROM pg_catalog.generate_subscripts(wanted, 1) i;
	EXECUTE pg_catalog.format('CREATE SERVER presence_cluster FOREIGN DATA WRAPPER plproxy OPTIONS (connection_lifetime %L, query_timeout %L, %s)',
							  '1800', '3', opts);
	CREATE USER MAPPING FOR presence_owner SERVER presence_cluster OPTIONS (user 'presence_partition');
	RETURN n;
END
$$;
COMMENT ON FUNCTION presence.create_cluster(text[]) IS
	'Make this database a presence router over the partitions (libpq strings of host, port, dbname, sslmode, sslrootcert, connect_timeout and application_name only; a power of two of them, partition 0 first); it connects as the user mapping''s role, presence_partition, with statement_timeout 3 s on each partition.';

-- The SQL run on a partition names every operator by its schema.
CREATE OR REPLACE FUNCTION presence.partition_users(user_ids text[]) RETURNS SETOF presence.users
	LANGUAGE plproxy VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	CLUSTER 'presence_cluster';
	SPLIT user_ids;
	RUN ON presence.user_hash(user_ids);
	SELECT u.user_id, u.online_sessions, u.online, u.last_online_at, u.last_offline_at,
		   u.last_seen_at, u.logged_out, u.updated_at, u.last_offline_logout
	  FROM presence.users u WHERE u.user_id OPERATOR(pg_catalog.=) ANY (user_ids);
$$;

CREATE OR REPLACE FUNCTION presence.partition_sessions(user_id text) RETURNS SETOF presence.sessions
	LANGUAGE plproxy VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	CLUSTER 'presence_cluster';
	RUN ON presence.user_hash(user_id);
	SELECT s.user_id, s.session_id, s.state, s.os, s.client_ip, s.started_at, s.ended_at,
		   s.last_event_at, s.updated_at, s.os_key, s.client_ip_key
	  FROM presence.sessions s WHERE s.user_id OPERATOR(pg_catalog.=) $1;
$$;

CREATE OR REPLACE FUNCTION presence.partition_check(part integer, partitions integer)
	RETURNS TABLE (user_id text, session_id text, field text, stored text, expected text)
	LANGUAGE plproxy VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	CLUSTER 'presence_cluster';
	RUN ON part;
	SELECT c.user_id, c.session_id, c.field, c.stored, c.expected FROM presence.check() c
	UNION ALL
	SELECT u.user_id, NULL, 'partition', $1::pg_catalog.text, presence.partition_of(u.user_id, $2)::pg_catalog.text
	  FROM presence.users u WHERE presence.partition_of(u.user_id, $2) OPERATOR(pg_catalog.<>) $1
	UNION ALL
	SELECT NULL, NULL, pg_catalog.format('rooms[%s].partition', r.room_id), $1::pg_catalog.text,
		   presence.partition_of(r.room_id, $2)::pg_catalog.text
	  FROM presence.rooms r WHERE presence.partition_of(r.room_id, $2) OPERATOR(pg_catalog.<>) $1;
$$;

/*
 * A stalled partition (a lock, a slow disk) held a call, and with it a whole
 * batch of presence-http, as long as it stalled.  create_cluster() now adds
 * options='-c statement_timeout=3000' to each partition string it stores, so
 * every partition call is cut at 3 seconds, below presence-http's --db-timeout
 * (4 s by default), and fails with 57014 (503 through presence-http); PL/Proxy's
 * query_timeout (3 s) is set as well, for a partition that stops answering
 * mid-result.  A router made by 0.2.0 gets query_timeout here; for the statement
 * timeout set it on each partition (ALTER ROLE presence_partition SET
 * statement_timeout = '3s') or make the cluster again.
 */
DO $$
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_foreign_server s
				WHERE s.srvname OPERATOR(pg_catalog.=) 'presence_cluster'
				  AND NOT EXISTS (SELECT FROM pg_catalog.unnest(s.srvoptions) o
								   WHERE o OPERATOR(pg_catalog.~~) 'query_timeout=%')) THEN
		ALTER SERVER presence_cluster OPTIONS (ADD query_timeout '3');
	END IF;
END
$$;

/*
 * Rooms (doc/rules.md sections 12 and 14): a room's rows live on the partition
 * its room_id hashes to, with the hash that places users.  Ingest sends each
 * partition its share of a call's room items (router_rooms.c); room_online()
 * reads the room's members on the room's partition and their users on theirs.
 */
CREATE FUNCTION presence.cluster_apply_rooms(part integer, room_ids text[], user_ids text[],
											 operations smallint[], statuses smallint[], times bigint[],
											 item_nos integer[], deliveries integer[],
											 event_ids text[], event_times bigint[])
	RETURNS TABLE (delivery integer, applied integer, duplicates integer, stale integer)
	LANGUAGE plproxy VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	CLUSTER 'presence_cluster';
	RUN ON part;
	SELECT r.delivery, r.applied, r.duplicates, r.stale
	  FROM presence.partition_apply_rooms(room_ids, user_ids, operations, statuses, times, item_nos,
										  deliveries, event_ids, event_times) r;
$$;
COMMENT ON FUNCTION presence.cluster_apply_rooms(integer, text[], text[], smallint[], smallint[], bigint[],
												 integer[], integer[], text[], bigint[]) IS
	'Run presence.partition_apply_rooms on partition part (called by ingest on a router).';
REVOKE ALL ON FUNCTION presence.cluster_apply_rooms(integer, text[], text[], smallint[], smallint[], bigint[],
													integer[], integer[], text[], bigint[]) FROM PUBLIC;
ALTER FUNCTION presence.cluster_apply_rooms(integer, text[], text[], smallint[], smallint[], bigint[],
											integer[], integer[], text[], bigint[]) OWNER TO presence_owner;

CREATE FUNCTION presence.partition_room_members(room_id text)
	RETURNS TABLE (user_id text, joined_at timestamptz)
	LANGUAGE plproxy VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	CLUSTER 'presence_cluster';
	RUN ON presence.user_hash(room_id);
	SELECT m.user_id, m.joined_at FROM presence.room_members m
	 WHERE m.room_id OPERATOR(pg_catalog.=) $1 AND m.state OPERATOR(pg_catalog.=) 'in';
$$;
COMMENT ON FUNCTION presence.partition_room_members(text) IS
	'The members in a room, read from the room''s partition (behind cluster_room_online).';
REVOKE ALL ON FUNCTION presence.partition_room_members(text) FROM PUBLIC;
ALTER FUNCTION presence.partition_room_members(text) OWNER TO presence_owner;

CREATE FUNCTION presence.cluster_room_online(room_id text)
	RETURNS TABLE (user_id text, online_sessions integer, joined_at timestamptz, last_seen_at timestamptz)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids text[];
	joined timestamptz[];
BEGIN
	SELECT pg_catalog.array_agg(m.user_id), pg_catalog.array_agg(m.joined_at) INTO ids, joined
	  FROM presence.partition_room_members(cluster_room_online.room_id) m;
	IF ids IS NULL THEN
		RETURN;
	END IF;
	RETURN QUERY
	SELECT u.user_id, u.online_sessions, j.joined_at, u.last_seen_at
	  FROM presence.partition_users(ids) u
	  JOIN ROWS FROM (pg_catalog.unnest(ids), pg_catalog.unnest(joined)) j(user_id, joined_at) ON j.user_id OPERATOR(pg_catalog.=) u.user_id
	 WHERE u.online
	 ORDER BY u.user_id;
EXCEPTION WHEN internal_error THEN
	IF SQLERRM LIKE 'PL/Proxy function %' THEN
		PERFORM presence.unreachable(SQLERRM);
	END IF;
	RAISE;
END
$$;
COMMENT ON FUNCTION presence.cluster_room_online(text) IS
	'presence.room_online() on a router: the room''s members from its partition, their online state from the users'' partitions.';
REVOKE ALL ON FUNCTION presence.cluster_room_online(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.cluster_room_online(text) TO presence_reader, presence_admin;
ALTER FUNCTION presence.cluster_room_online(text) OWNER TO presence_owner;
