/* presence--0.2.0--0.3.0.sql: upgrade a 0.2.0 installation to 0.3.0 */
--
-- There is no full script for 0.3.0: CREATE EXTENSION presence runs the
-- released presence--0.1.0.sql and the upgrade scripts after it, as
-- contrib/pg_stat_statements ships, so every SQL change is written once.
-- Each part of 0.3.0 adds its own section below, in the order of the topics
-- of doc/rules.md.

\echo Use "ALTER EXTENSION presence UPDATE TO '0.3.0'" to load this file. \quit
