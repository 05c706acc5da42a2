#!/bin/bash
# test/http/16_reconcile.sh: presence-http's reconcile loop (doc/rules.md section
# 11) against test/http/tools/fake_provider.py: a lost offline is reconciled,
# an online answer keeps the sessions, a connect after the check wins, every
# provider error changes nothing and is counted, the rate limit holds, every
# request is signed, the secret is never logged, both API shapes work, and
# without --provider-url nothing is asked.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 38
setup_db
TEST_ROLE=presence_http_t_$$
psql -X -q -c "CREATE ROLE $TEST_ROLE LOGIN IN ROLE presence_writer" || bail "cannot create role $TEST_ROLE"

APP_KEY=test-app-key
APP_SECRET='app-s3cret-never-logged'
printf '%s\n' "$APP_SECRET" >"$WORK/app.secret"
CALLS=$WORK/calls.log
ANSWERS=$WORK/answers
: >"$CALLS"
: >"$ANSWERS"

python3 "$REPO_ROOT/test/http/tools/fake_provider.py" --app-key "$APP_KEY" --secret "$APP_SECRET" \
	--log "$CALLS" --answers "$ANSWERS" --slow-seconds 6 --late-seconds 2.5 --gate "$WORK/gate" >"$WORK/fake.port" &
FAKE_PID=$!
wait_until 10 test -s "$WORK/fake.port" || bail "the fake provider did not start"
PROVIDER="http://127.0.0.1:$(head -1 "$WORK/fake.port")"

answer() { printf '%s %s\n' "$1" "$2" >>"$ANSWERS"; }
# connect_past <user> <session> <seconds ago>: a signed connect, long ago
connect_past() {
	local t=$(($(now_ms) - $3 * 1000))
	deliver "$(envelope "ev-$1-$2-$t" "$1" 0 "$2" "$t")"
	[ "$CODE" = 200 ] || diag "connect of $1 got $CODE: $BODY"
}
online() { sql "SELECT online FROM presence.users WHERE user_id = '$1'"; }
metric() { curl -s "$BASE/metrics" | sed -n "s/^presence_http_reconcile_total{result=\"$1\"} \([0-9]*\)$/\1/p"; }
metric_at_least() { [ "$(metric "$1")" -ge "$2" ] 2>/dev/null; }
calls_for() { awk -v u="$1" '$3 == u' "$CALLS" | wc -l; }
reconciled() { [ "$(online "$1")" = f ]; }
start_reconciling() {
	start_shim --db "dbname=$DB user=$TEST_ROLE" --provider-url "$PROVIDER" --app-key "$APP_KEY" \
		--reconcile-idle 1s --reconcile-every 1s "$@"
}

# ---------- refused settings ----------
"$PRESENCE_HTTP_BIN" --db "dbname=$DB" --provider-url "$PROVIDER" --app-key k \
	--app-secret-file "$WORK/app.secret" --reconcile-rate 101 2>"$WORK/refused.log"
is "$?" 2 "--reconcile-rate above 100 is refused at start-up"
"$PRESENCE_HTTP_BIN" --db "dbname=$DB" --provider-url "$PROVIDER" --app-secret-file "$WORK/app.secret" \
	2>>"$WORK/refused.log"
is "$?" 2 "--provider-url without --app-key is refused"
"$PRESENCE_HTTP_BIN" --db "dbname=$DB" --provider-url "$PROVIDER" --app-key k 2>>"$WORK/refused.log"
is "$?" 2 "--provider-url without a secret is refused"
"$PRESENCE_HTTP_BIN" --db "dbname=$DB" --provider-url "ftp://127.0.0.1/" --app-key k \
	--app-secret-file "$WORK/app.secret" 2>>"$WORK/refused.log"
is "$?" 2 "a --provider-url that is not http(s) is refused"
PRESENCE_HTTP_RECONCILE_RATE=500 "$PRESENCE_HTTP_BIN" --db "dbname=$DB" 2>>"$WORK/refused.log"
is "$?" 2 "PRESENCE_HTTP_RECONCILE_RATE above 100 is refused too"

# ---------- without --provider-url: no request ----------
start_shim --db "dbname=$DB user=$TEST_ROLE"
connect_past idle0 s1 120
sleep 3
is "$(wc -l <"$CALLS")" 0 "without --provider-url the provider is never asked"
get "$BASE/metrics"
check "and /metrics has no reconcile family" test "$(printf '%s\n' "$BODY" | grep -c presence_http_reconcile_total)" = 0
stop_shim

# ---------- v4: offline, online, a connect after the check, errors ----------
answer idle0 online
answer ghost offline
answer alive online
answer late offline-slow
answer e500 error500
answer ejson bad-json
answer ecode bad-code
answer estatus bad-status
answer eslow slow
start_reconciling --app-secret-file "$WORK/app.secret"
for u in ghost alive late e500 ejson ecode estatus eslow; do connect_past "$u" s1 60; done
check "the lost offline is reconciled: ghost is offline" wait_until 40 reconciled ghost
is "$(sql "SELECT count(*) FROM presence.events WHERE user_id = 'ghost' AND event_id = 'reconcile' AND status = '1'")" 1 \
	"with a disconnect event 'reconcile' in presence.events"
is "$(sql "SELECT state FROM presence.sessions WHERE user_id = 'ghost' AND session_id = 's1'")" offline \
	"and its session is offline"
# late: the provider holds its offline answer until the gate file exists (at
# most 2.5 s, under the 3 s timeout); the device reconnects meanwhile (a new
# session id, as a real reconnect gets).  presence_reconcile must use the time
# the request was sent, so whatever it ends is older than the reconnect, and
# the reconnect stays online.  (On a loaded machine the hold can end before the
# reconnect is in; the assertions hold either way.)
wait_until 40 test "$(calls_for late)" -ge 1
# The call in flight has taken its answer (offline-slow).  The device is back,
# so from now on the provider says online: set before the reconnect, since the
# loop asks about late again once s2 is idle for 1 s, and an offline answer
# checked after the reconnect would rightly end s2.
answer late online
late_at=$(now_ms)
deliver "$(envelope ev-late-again late 0 s2 "$late_at")"
touch "$WORK/gate"
is "$CODE" 200 "a connect for late arrives while its check is in flight"
errors_counted() { metric_at_least error 1 && metric_at_least timeout 1 && metric_at_least bad_answer 3; }
check "every error kind was counted" wait_until 60 errors_counted
sleep 3		# the late answer's presence_reconcile has run by now
is "$(online late)" t "the connect after checked_at wins: late is online"
is "$(sql "SELECT state FROM presence.sessions WHERE user_id = 'late' AND session_id = 's2'")" online \
	"and its new session is online"
is "$(sql "SELECT count(*) FROM presence.events WHERE user_id = 'late' AND event_id = 'reconcile'
		   AND (session_id <> 's1' OR status_time >= to_timestamp($late_at / 1000.0))")" 0 \
	"a reconcile disconnect, if any, ended only the old session, at a time before the reconnect"
is "$(online alive)" t "a user the provider says is online stays online"
is "$(sql "SELECT online_sessions FROM presence.users WHERE user_id = 'alive'")" 1 "and keeps its session"
for u in e500 ejson ecode estatus eslow; do
	is "$(online $u)" t "provider answer $(awk -v u=$u '$1 == u {print $2}' "$ANSWERS") changes nothing ($u online)"
done
is "$(sql "SELECT count(*) FROM presence.events WHERE event_id = 'reconcile' AND user_id NOT IN ('ghost', 'late')")" 0 \
	"no other user got a reconcile event"
check "offline answers were counted" metric_at_least offline 2
check "online answers were counted" metric_at_least online 1
like "$(cat "$SHIM_LOG")" 'reconcile: round suspects=[0-9]+ offline=[0-9]+ online=[0-9]+ error=[0-9]+ timeout=[0-9]+ bad_answer=[0-9]+' \
	"one log line per round with its results"
check "every call used the v4 API" test "$(awk '$2 != "v4"' "$CALLS" | wc -l)" = 0
# SIGTERM stops the loop promptly, even with a slow request in flight.
wait_until 30 test "$(awk '$3 == "eslow"' "$CALLS" | wc -l)" -ge 2
start=$(now_ms)
stop_shim
elapsed=$(ms_since "$start")
check "SIGTERM stops presence-http within 5 s while reconciling (${elapsed} ms)" test "$elapsed" -lt 5000
V4_LOG=$(cat "$SHIM_LOG")

# ---------- legacy API, secret from the environment ----------
: >"$CALLS"
answer ghost2 offline
answer alive2 online
PRESENCE_HTTP_APP_SECRET=$APP_SECRET start_reconciling --provider-api legacy
connect_past ghost2 s1 60
connect_past alive2 s1 60
check "legacy API: ghost2 is reconciled offline" wait_until 40 reconciled ghost2
asked() { [ "$(calls_for "$1")" -ge 1 ]; }
check "legacy API: alive2 was asked about" wait_until 40 asked alive2
sleep 1
is "$(online alive2)" t "legacy API: alive2 stays online"
check "every call used the legacy API" test "$(awk '$2 != "legacy"' "$CALLS" | wc -l)" = 0
stop_shim
LEGACY_LOG=$(cat "$SHIM_LOG")

# ---------- the rate limit ----------
: >"$CALLS"
for i in $(seq -w 1 20); do answer "rate$i" offline; done
for u in alive e500 ejson ecode estatus eslow late idle0 alive2; do answer "$u" online; done
start_reconciling --app-secret-file "$WORK/app.secret" --reconcile-rate 5
for i in $(seq -w 1 20); do connect_past "rate$i" s1 60; done
all_rate_done() { [ "$(sql "SELECT count(*) FROM presence.users WHERE user_id LIKE 'rate%' AND NOT online")" = 20 ]; }
check "all 20 suspects were reconciled at --reconcile-rate 5" wait_until 90 all_rate_done
stop_shim
max_window=$(awk '{ t[NR] = $1 } END { m = 0; for (i = 1; i <= NR; i++) { n = 0; for (j = i; j <= NR && t[j] < t[i] + 1; j++) n++; if (n > m) m = n } print m }' "$CALLS")
check "no 1-second window has more than 5 (+1) calls (max $max_window)" test "$max_window" -le 6
first=$(awk '$3 ~ /^rate/ {print $1; exit}' "$CALLS")
last=$(awk '$3 ~ /^rate/ {t = $1} END {print t}' "$CALLS")
check "20 calls at 5/s take at least 3.5 s ($first .. $last)" \
	awk -v a="$first" -v b="$last" 'BEGIN { exit !(b - a >= 3.5) }'

# ---------- signatures and the secret ----------
check "the fake saw calls" test -s "$CALLS"
check "every request the fake saw was correctly signed" test "$(grep -c 'sig=bad' "$CALLS")" = 0
check "the secret is never in presence-http's log" \
	test "$(printf '%s\n%s\n' "$V4_LOG" "$LEGACY_LOG" | grep -cF "$APP_SECRET")" = 0

kill "$FAKE_PID" 2>/dev/null
