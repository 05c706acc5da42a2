#!/bin/bash
# test/http/13_connection_limit.sh: when some workers cannot connect (the
# role's CONNECTION LIMIT 3, --workers 4), deliveries go only to the workers
# that are connected: every one of 58 sequential deliveries gets 200 and
# /healthz is 200, since the database is up and can serve them.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 5
setup_db
TEST_ROLE=presence_http_t_$$
psql -X -q -c "CREATE ROLE $TEST_ROLE LOGIN CONNECTION LIMIT 3 IN ROLE presence_writer" ||
	bail "cannot create role $TEST_ROLE"
start_shim --workers 4 --db "dbname=$DB user=$TEST_ROLE"
connected() { [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE usename = '$TEST_ROLE'")" -ge 3 ]; }
wait_until 10 connected
ok $? "the role's three connections are in use"

codes=""
for i in $(seq 1 58); do
	deliver "$(envelope "ev-$i" "user$i" 0 s1)"
	codes="$codes$CODE
"
done
is "$(printf '%s' "$codes" | grep -c '^200$')" 58 \
	"all 58 sequential deliveries get 200 ($(printf '%s' "$codes" | sort | uniq -c | tr -s ' \n' ' '))"
is "$(sql "SELECT count(*) FROM presence.users WHERE user_id LIKE 'user%'")" 58 "and are applied"
get "$BASE/healthz"
is "$CODE" 200 "/healthz is 200 while a connected worker can serve"
like "$(cat "$SHIM_LOG")" 'cannot connect to the database' "the worker that cannot connect says so"
