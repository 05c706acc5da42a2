/* presence--0.2.0--0.3.0.sql: upgrade a 0.2.0 installation to 0.3.0 */
--
-- There is no full script for 0.3.0: CREATE EXTENSION presence runs the
-- released presence--0.1.0.sql and the upgrade scripts after it, as
-- contrib/pg_stat_statements ships, so every SQL change is written once.
-- Each part of 0.3.0 adds its own section below, in the order of the topics
-- of doc/rules.md.

\echo Use "ALTER EXTENSION presence UPDATE TO '0.3.0'" to load this file. \quit

-- Each rule once, in C (doc/rules.md, "Contributing"): the order key of
-- items and the placement of users are the library's own functions, which
-- ingest and a router call, instead of second copies in SQL.  The same
-- names, arguments, results and volatility; a status other than "0", "1" or
-- "2" is now refused (22023) instead of giving a meaningless key.
CREATE OR REPLACE FUNCTION presence.item_key(status_time timestamptz, status text)
	RETURNS bigint
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'presence_item_key';
COMMENT ON FUNCTION presence.item_key(timestamptz, text) IS
	'The order of items as one bigint: microseconds since 2000-01-01 (clamped to +-2^60) times 4, plus the status; what presence.sessions.os_key and client_ip_key hold (session_item_key() in C).';

CREATE OR REPLACE FUNCTION presence.user_hash(user_id text) RETURNS integer
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'presence_user_hash';
COMMENT ON FUNCTION presence.user_hash(text) IS
	'The first 32 bits of md5(user_id) as a signed integer: the hash PL/Proxy masks to find a user''s partition (user_hash() in router.c).';

CREATE OR REPLACE FUNCTION presence.partition_of(user_id text, partitions integer) RETURNS integer
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'presence_partition_of';
COMMENT ON FUNCTION presence.partition_of(text, integer) IS
	'The partition (0 to partitions - 1, a power of two) that holds a user''s rows: user_hash(user_id) & (partitions - 1) (partition_of() in router.c).';
