/* presence--0.1.0--0.2.0.sql: upgrade a 0.1.0 installation to 0.2.0 */

\echo Use "ALTER EXTENSION presence UPDATE TO '0.2.0'" to load this file. \quit

-- Backups: pg_dump carries every table that holds data.
SELECT pg_catalog.pg_extension_config_dump('presence.users', '');
SELECT pg_catalog.pg_extension_config_dump('presence.sessions', '');
SELECT pg_catalog.pg_extension_config_dump('presence.events', '');
SELECT pg_catalog.pg_extension_config_dump('presence.secrets', '');
SELECT pg_catalog.pg_extension_config_dump('presence.seen_signatures', '');
