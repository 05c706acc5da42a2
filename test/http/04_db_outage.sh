#!/bin/bash
# test/http/04_db_outage.sh: with the database stopped presence-http keeps
# serving, answers deliveries and /healthz with 503 (Retry-After), and once
# the database is back it reconnects by itself: the same delivery is then
# accepted without restarting the shim.  Needs PRESENCE_PGCTL.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

if [ -z "${PRESENCE_PGCTL:-}" ]; then
	echo "1..0 # SKIP PRESENCE_PGCTL is not set"
	exit 0
fi

plan 17
setup_db
start_shim --workers 2

db_stopped=0
restart_db() {
	if [ "$db_stopped" = 1 ]; then
		$PRESENCE_PGCTL start >/dev/null 2>&1
		db_stopped=0
	fi
}
trap 'restart_db; cleanup' EXIT

deliver "$(envelope ev-1 alice 0 s1)"
is "$CODE" 200 "delivery is accepted while the database is up"

# A connection killed in the middle of a call: the delivery is applied again
# on its own (presence_ingest) on a fresh connection and still gets its 200.
hold_user alice 0 s2 2
killed=$(sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'presence-http' AND wait_event_type = 'Lock'")
is "$killed" t "the shim's backend waiting in the call was terminated"
wait "$held" "$locker"
is "$(cat "$WORK/held.code")" 200 "the delivery still got 200"
is "$(sql "SELECT state FROM presence.sessions WHERE user_id = 'alice' AND session_id = 's2'")" online \
	"and was applied"
like "$(cat "$SHIM_LOG")" 'lost the database connection' "the loss is logged"

$PRESENCE_PGCTL stop >/dev/null 2>&1 && db_stopped=1
ok $((1 - db_stopped)) "the database was stopped"

sign
url="$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG"
body=$(envelope ev-2 alice 1 s1)
post "$url" "$body"
is "$CODE" 503 "delivery is 503 while the database is down"
like "$(header Retry-After)" '^[0-9]+$' "503 carries Retry-After"
check "503 reply is a JSON error" is_json "$BODY"
get "$BASE/healthz"
is "$CODE" 503 "/healthz is 503 while the database is down"
get "$BASE/metrics"
is "$CODE" 200 "/metrics is still served"

$PRESENCE_PGCTL start >/dev/null 2>&1 && db_stopped=0
ok "$db_stopped" "the database was started again"

healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz")" = 200 ]; }
wait_until 30 healthy
ok $? "/healthz turns 200 again without a restart"

# The workers reconnect on their own backoff; a 503 in between is allowed.
delivered() { post "$url" "$body"; [ "$CODE" != 503 ]; }
wait_until 15 delivered
is "$CODE" 200 "the same delivery is now accepted"
is "$BODY" '{"items":1,"applied":1,"duplicates":0,"stale":0,"ignored":0}' \
	"and applied (the 503 one was not)"
is "$(sql "SELECT state FROM presence.sessions WHERE user_id = 'alice' AND session_id = 's1'")" \
	offline "the session reflects it"
get "$BASE/metrics"
like "$BODY" 'presence_http_db_reconnects_total [1-9]' "reconnects are counted"
