#!/bin/bash
# test/faults/03_maintain.sh: presence.maintain() killed mid-run.  A database
# holds 24,000 users whose sessions ended ten days ago, with a retention of
# one day, while four senders deliver through presence-http.  maintain() is
# ended by pg_terminate_backend() after its first batches committed, and
# again by kill -9 of its backend (the postmaster restarts every backend).
# Each time the counts stay exact (presence.check() empty) and no
# acknowledged delivery is lost; run once more, maintain() finishes and
# prunes every ended session older than the horizon.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 18
node m 3
setup_db
sql "ALTER DATABASE $DB SET presence.retention = '1 day'" >/dev/null
old=$(($(now_ms) - 10 * 86400 * 1000))
sql "SELECT count(presence_ingest_unsigned(pg_catalog.format(
  '{\"type\":\"user:connection_status\",\"id\":\"old-%s\",\"time\":%s,\"data\":[{\"status\":\"0\",\"userId\":\"old-%s\",\"os\":\"iOS\",\"time\":%s,\"sessionId\":\"s1\"},{\"status\":\"1\",\"userId\":\"old-%s\",\"os\":\"iOS\",\"time\":%s,\"sessionId\":\"s1\"}]}',
  i, $old + i, i, $old + i, i, $old + i + 1000)))
  FROM generate_series(1, 24000) i" >/dev/null
old_items() { sql "SELECT count(*) FROM presence.events WHERE user_id LIKE 'old-%'"; }
is "$(old_items)" 48000 "48,000 items of ten days ago"

start_shim --workers 4 --db-timeout 8
senders "the senders are acknowledged"

# maintain_pid: the backend running CALL presence.maintain(), once it has
# committed a batch (fewer old items than before)
started_pruning() {
	mpid=$(sql "SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL presence.maintain%' AND state = 'active'")
	[ -n "$mpid" ] && [ "$(old_items)" -lt "$1" ]
}
run_maintain() {
	psql -X -q -d "$DB" -c "CALL presence.maintain()" >"$WORK/maintain.out" 2>&1 &
	maintain_job=$!
}

# 1. pg_terminate_backend
before=$(old_items)
run_maintain
wait_until 60 started_pruning "$before"
ok $? "maintain() is pruning (backend $mpid)"
sql "SELECT pg_terminate_backend($mpid)" >/dev/null
wait "$maintain_job"
check "maintain() was ended before it finished" [ $? -ne 0 ]
left=$(old_items)
diag "pg_terminate_backend: $((before - left)) old items pruned, $left left"
[ "$left" -gt 0 ] && [ "$left" -lt "$before" ]
ok $? "it had pruned some and not all"
is "$(sql "SELECT count(*) FROM presence.check()")" 0 "after pg_terminate_backend presence.check() is empty"

# 2. kill -9 of its backend: the postmaster restarts every backend
before=$left
run_maintain
wait_until 60 started_pruning "$before"
ok $? "maintain() is pruning again (backend $mpid)"
kill -9 "$mpid"
wait "$maintain_job"
check "maintain() was killed before it finished" [ $? -ne 0 ]
up() { sql "SELECT 1" >/dev/null 2>&1; }
wait_until 60 up
ok $? "the server is back after the restart of every backend"
left=$(old_items)
diag "kill -9: $((before - left)) old items pruned, $left left"
[ "$left" -gt 0 ] && [ "$left" -lt "$before" ]
ok $? "it had pruned some and not all"
is "$(sql "SELECT count(*) FROM presence.check()")" 0 "after kill -9 presence.check() is empty"

# 3. run again to the end
sql "CALL presence.maintain()" >/dev/null
ok $? "maintain() run again finishes"
is "$(old_items)" 0 "every ended session older than the horizon is pruned"
is "$(sql "SELECT count(*) FROM presence.users WHERE user_id LIKE 'old-%' AND (online OR online_sessions <> 0)")" 0 \
	"the pruned users are offline, with no session online"

wait_until 60 acked_after "$LOG" "$(now_ms)"
ok $? "the load is acknowledged after it all"
load_stop
acked=$(acked_count "$LOG")
diag "deliveries: $(wc -l <"$LOG") sent, $acked acknowledged"
is "$(missing m "$LOG")" 0 "every acknowledged delivery is in presence.events"
is "$(sql "SELECT count(*) FROM presence.check()")" 0 "presence.check() is empty at the end"
is "$(amcheck m)" "" "pg_amcheck finds nothing"
