#!/bin/bash
# test/http/15_sighup_metrics.sh: presence_http_batch_size counts only calls
# that reached the database, and SIGHUP is logged and ignored (the shim keeps
# serving; its settings are read at start only).

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 7
setup_db
TEST_ROLE=presence_http_t_$$
psql -X -q -c "CREATE ROLE $TEST_ROLE LOGIN IN ROLE presence_writer" || bail "cannot create role $TEST_ROLE"
start_shim --workers 1 --db "dbname=$DB user=$TEST_ROLE"

batches() { curl -s "$BASE/metrics" | sed -n 's/^presence_http_batch_size_count \([0-9]*\)$/\1/p'; }
deliver "$(envelope ev-1 alice 0 s1)"
before=$(batches)
# The database turns the shim away: its role may no longer log in.
psql -X -q -c "ALTER ROLE $TEST_ROLE NOLOGIN"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '$TEST_ROLE'" >/dev/null
for i in 1 2 3; do deliver "$(envelope "ev-x$i" bob 0 s1)"; done
is "$CODE" 503 "deliveries the database cannot be asked about are 503"
is "$(batches)" "$before" "and are not counted as batches"
psql -X -q -c "ALTER ROLE $TEST_ROLE LOGIN"
delivered() { deliver "$(envelope ev-2 carol 0 s1)"; [ "$CODE" = 200 ]; }
wait_until 10 delivered
is "$CODE" 200 "once it may log in again, deliveries get 200"
is "$(batches)" $((before + 1)) "and that call is counted"

kill -HUP "$SHIM_PID"
sleep 0.5
check "after SIGHUP the shim is still running" kill -0 "$SHIM_PID"
like "$(cat "$SHIM_LOG")" 'received SIGHUP.*ignored' "SIGHUP is logged, and says it is ignored"
deliver "$(envelope ev-3 dave 0 s1)"
is "$CODE" 200 "and deliveries are still served"
