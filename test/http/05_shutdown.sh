#!/bin/bash
# test/http/05_shutdown.sh: SIGTERM (and SIGINT) stop presence-http
# gracefully: no new connections, the request in flight still gets its
# database outcome and its reply, then exit status 0.
#
# The request is kept in flight by a row lock held in another session.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 9
setup_db
start_shim

deliver "$(envelope ev-0 slow 0 s0)"
is "$CODE" 200 "first delivery creates the user row"

hold_user slow 1 s0 2
blocked
ok $? "the delivery is in flight, waiting for the lock"

kill -TERM "$SHIM_PID"
refused() { curl -s -o /dev/null --max-time 1 "$BASE/healthz"; [ $? = 7 ]; }
wait_until 5 refused
ok $? "after SIGTERM new connections are refused"
check "the shim is still running while the request is in flight" kill -0 "$SHIM_PID"

wait "$held"
wait "$locker"
is "$(cat "$WORK/held.code")" 200 "the in-flight delivery got its 200"
is "$(cat "$WORK/held.body")" '{"items":1,"applied":1,"duplicates":0,"stale":0,"ignored":0}' \
	"with its outcome"
wait "$SHIM_PID"
is "$?" 0 "the shim exited with status 0"
SHIM_PID=
is "$(sql "SELECT state FROM presence.sessions WHERE user_id = 'slow' AND session_id = 's0'")" offline \
	"the delivery was committed"

# SIGINT too, idle this time.
start_shim
kill -INT "$SHIM_PID"
wait "$SHIM_PID"
is "$?" 0 "SIGINT: exit status 0"
SHIM_PID=
