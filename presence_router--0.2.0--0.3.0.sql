/* presence_router--0.2.0--0.3.0.sql: upgrade a 0.2.0 router to 0.3.0 */
--
-- There is no full script for 0.3.0: CREATE EXTENSION presence_router runs the
-- released presence_router--0.2.0.sql and the upgrade scripts after it.

\echo Use "ALTER EXTENSION presence_router UPDATE TO '0.3.0'" to load this file. \quit
