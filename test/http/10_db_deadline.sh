#!/bin/bash
# test/http/10_db_deadline.sh: every reply leaves within --db-timeout of the
# delivery's arrival, even when the database does not answer (doc/rules.md
# section 6).  With LOCK TABLE presence.users IN EXCLUSIVE MODE held for 8 s,
# a signed delivery gets 503 with Retry-After within --db-timeout (plus a
# margin), its backend is cancelled instead of being left waiting, /healthz
# says 503 while calls time out and 200 again once one succeeds, and both the
# timeout and a request that ended without a reply are counted in /metrics.
#
# The new settings come from the environment, so that a binary without them
# still starts (and fails the assertions, not the start-up).

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

DBT=2						# --db-timeout, seconds
BOUND_MS=$((DBT * 1000 + 1500))	# a reply within the deadline, with a margin

plan 17
setup_db
PRESENCE_HTTP_DB_TIMEOUT=$DBT start_shim --workers 2 --timeout 1

OUT=$("$PRESENCE_HTTP_BIN" --help 2>&1)
like "$OUT" '--db-timeout=SECONDS.*PRESENCE_HTTP_DB_TIMEOUT, default 4\)' \
	"--help names --db-timeout, its variable and its default of 4 s"

deliver "$(envelope ev-0 alice 0 s0)"
is "$CODE" 200 "a delivery while nothing blocks"

psql -X -q -d "$DB" -c "BEGIN; LOCK TABLE presence.users IN EXCLUSIVE MODE; SELECT pg_sleep(8); COMMIT;" \
	>/dev/null 2>&1 &
locker=$!
wait_until 10 locked || diag "the lock holder did not start"

t0=$(now_ms)
deliver "$(envelope ev-1 bob 0 s1)"
ms=$(ms_since "$t0")
is "$CODE" 503 "a delivery the database does not finish in time gets 503"
like "$(header Retry-After)" '^[0-9]+$' "with Retry-After"
check "within --db-timeout + 1.5 s (took $ms ms)" [ "$ms" -le $BOUND_MS ]
check "and not before it (took $ms ms)" [ "$ms" -ge $((DBT * 1000 - 200)) ]
like "$(grep 'path=/webhook status=503' "$SHIM_LOG" | tail -n 1)" 'sqlstate=57014' \
	"the log line says 57014 (too slow)"

waiting() { [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'presence-http' AND wait_event_type = 'Lock'")" = 0 ]; }
wait_until 5 waiting
ok $? "the shim's call was cancelled: no backend of it still waits for the lock"

t0=$(now_ms)
get "$BASE/healthz"
ms=$(ms_since "$t0")
is "$CODE" 503 "/healthz is 503 while deliveries time out"
check "/healthz answers within --db-timeout + 1.5 s (took $ms ms)" [ "$ms" -le $BOUND_MS ]

get "$BASE/metrics"
like "$BODY" 'presence_http_db_timeouts_total [1-9]' "calls abandoned at the deadline are counted"

wait "$locker"
deliver "$(envelope ev-2 carol 0 s2)"
is "$CODE" 200 "after the lock is gone deliveries get 200 again"
get "$BASE/healthz"
is "$CODE" 200 "and /healthz is 200 again"

# A request that ends without any reply (here a stalled body, --timeout 1).
(
	exec 3<>"/dev/tcp/127.0.0.1/$SHIM_PORT"
	printf 'POST /webhook HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{"type"' >&3
	timeout 10 cat <&3 >/dev/null
)
wait_until 5 grep -q 'note=timeout' "$SHIM_LOG"
get "$BASE/metrics"
like "$BODY" 'presence_http_requests_unanswered_total\{reason="timeout"\} [1-9]' \
	"a request that ended without a reply is counted, by reason"
like "$BODY" '# TYPE presence_http_requests_unanswered_total counter' "as a counter"

# The default deadline is 4 s: a shim started without the setting.
stop_shim
start_shim --workers 1
psql -X -q -d "$DB" -c "BEGIN; LOCK TABLE presence.users IN EXCLUSIVE MODE; SELECT pg_sleep(7); COMMIT;" \
	>/dev/null 2>&1 &
locker=$!
wait_until 10 locked || diag "the lock holder did not start"
t0=$(now_ms)
deliver "$(envelope ev-3 dave 0 s3)"
ms=$(ms_since "$t0")
is "$CODE" 503 "default --db-timeout: 503"
check "after about 4 s (took $ms ms)" test "$ms" -ge 3800 -a "$ms" -le 5500
wait "$locker"
