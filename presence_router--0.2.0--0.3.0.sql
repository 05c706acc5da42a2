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
