#!/bin/bash
# test/http/17_schema.sh: presence-http reaches the extension by its schema.
# The extension lives in a schema of its own that the shim's role does not
# have on its search_path; the shim looks the schema up once per connection
# and calls the entry points qualified, so deliveries, batched and one by
# one, are applied all the same.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 8
createdb "$DB" || bail "cannot create database $DB"
sql "CREATE SCHEMA hooks" >/dev/null || bail "cannot create schema hooks"
sql "CREATE EXTENSION presence SCHEMA hooks" >/dev/null || bail "CREATE EXTENSION presence SCHEMA hooks failed"
sql "SELECT presence.set_secret('$SECRET')" >/dev/null || bail "presence.set_secret() failed"
TEST_ROLE="http_t_schema_$$"
psql -X -q -c "CREATE ROLE $TEST_ROLE LOGIN IN ROLE presence_writer" >/dev/null ||
	bail "cannot create role $TEST_ROLE"
sql "GRANT USAGE ON SCHEMA hooks TO $TEST_ROLE" >/dev/null
psql -X -q -c "ALTER ROLE $TEST_ROLE SET search_path = public" >/dev/null

is "$(sql "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'presence'")" \
	hooks "the extension lives in schema hooks"
# The role cannot reach the entry points unqualified: the test means something.
out=$(psql -X -At -d "$DB" -U "$TEST_ROLE" -c "SELECT presence_parse('{}')" 2>&1)
like "$out" 'function presence_parse\(unknown\) does not exist' \
	"unqualified, the role's search_path does not find the entry points"

start_shim --db "dbname=$DB user=$TEST_ROLE"
deliver "$(envelope sch-1 alice 0 s1)"
is "$CODE" 200 "a delivery is applied through hooks.presence_ingest_batch"
is "$(sql "SELECT state FROM presence.sessions WHERE user_id = 'alice' AND session_id = 's1'")" \
	online "its session is in presence.sessions"

# Several at once: one batch call, qualified too.
pids=()
for n in 1 2 3 4 5 6; do
	deliver "$(envelope "sch-b$n" "user$n" 0 "s$n")" &
	pids+=($!)
done
wait "${pids[@]}"
is "$(sql "SELECT count(*) FROM presence.users WHERE user_id LIKE 'user%' AND online")" 6 \
	"concurrent deliveries are applied"
is "$(sql "SELECT count(*) FROM presence.check()")" 0 "presence.check() is empty"

# One by one: a batch refused as a whole sends each delivery alone with
# hooks.presence_ingest (the batch entry point is gone for this role).
sql "REVOKE EXECUTE ON FUNCTION hooks.presence_ingest_batch(text[], text[], text[], text[], text[]) FROM presence_writer" >/dev/null
stop_shim
start_shim --db "dbname=$DB user=$TEST_ROLE"
deliver "$(envelope sch-2 bob 0 s9)"
is "$CODE" 200 "a delivery is applied one by one through hooks.presence_ingest"
is "$(sql "SELECT state FROM presence.sessions WHERE user_id = 'bob'")" online \
	"its session is in presence.sessions"
