#!/bin/bash
# test/faults/01_crash.sh: kill -9 under load.  Four senders deliver signed
# deliveries through presence-http while a backend that serves presence-http
# is killed with SIGKILL (the postmaster then restarts every backend), and
# later the postmaster itself (the cluster is started again, with crash
# recovery).  Asserted afterwards: every delivery acknowledged with 200 is in
# presence.events, presence.check() is empty, pg_amcheck is clean, and the
# rows of the acknowledged users equal a fresh database fed each acknowledged
# delivery once.  No reply is a 5xx other than 503.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 14
node a 0
setup_db
start_shim --workers 4 --db-timeout 8
senders "the senders are acknowledged"
sleep 2

# A backend of presence-http, killed with SIGKILL mid-load.
victim=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'presence-http' AND state = 'active' LIMIT 1")
[ -n "$victim" ] || victim=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'presence-http' LIMIT 1")
check "a backend serving presence-http to kill ($victim)" [ -n "$victim" ]
t=$(now_ms)
kill -9 "$victim"
sleep 3
wait_until 60 acked_after "$LOG" "$(now_ms)"
ok $? "after kill -9 of a backend the load is acknowledged again, without a restart of presence-http"
diag "kill -9 backend: $(acked_count "$LOG" "$t") acknowledged since"
sleep 2

# The postmaster, killed with SIGKILL mid-load, then started again.
t=$(now_ms)
crash a
check "the postmaster and its children are gone" [ ! -e "/proc/$(head -1 "$WORK/a/data/postmaster.pid")" ]
sleep 2
get "$BASE/healthz"
is "$CODE" 503 "/healthz is 503 while the server is down"
pgctl a -w start >/dev/null 2>&1
ok $? "the cluster starts again (crash recovery)"
wait_until 60 acked_after "$LOG" "$(now_ms)"
ok $? "after kill -9 of the postmaster the load is acknowledged again"
sleep 2
load_stop
is "$LOAD_STATUS" 0 "the senders finished"

total=$(wc -l <"$LOG")
acked=$(acked_count "$LOG")
diag "deliveries: $total sent, $acked acknowledged, others: $(awk -F'\t' '$6 !~ /^2/ { print $6 }' "$LOG" | sort | uniq -c | tr -s ' \n' ' ')"
check "hundreds were acknowledged" [ "$acked" -ge 200 ]
is "$(awk -F'\t' '$6 ~ /^5/ && $6 != 503' "$LOG" | wc -l)" 0 "no 5xx other than 503"
is "$(missing a "$LOG")" 0 "every acknowledged delivery is in presence.events"
is "$(sql "SELECT count(*) FROM presence.check()")" 0 "presence.check() is empty"
is "$(amcheck a)" "" "pg_amcheck finds nothing"
is "$(replay_equal a "$LOG")" "" "the acknowledged users' rows equal a fresh database fed each acknowledged delivery once"
