#!/bin/bash
# test/http/18_forward.sh: presence-http --forward-url and --forward-all
# (contract section 15) against test/http/tools/upstream.py, the app's own
# handler: a signed delivery of another type reaches the app unchanged (raw
# query string, signature headers, Content-Type, body byte for byte) and the
# app's status, Content-Type and body come back; an unsigned or badly signed
# one is refused and never passed on; a slow or dead app gets the provider a
# 503 within --db-timeout; with --forward-all presence's own deliveries are
# committed (group commit still batches them) and then passed on; SIGTERM
# with forwards in flight answers them and exits 0; /metrics counts each
# result; the secret is never logged.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 45
setup_db
# As the README says to run it: a role that is only in presence_writer.
TEST_ROLE=presence_http_t_$$
psql -X -q -c "CREATE ROLE $TEST_ROLE LOGIN IN ROLE presence_writer" || bail "cannot create role $TEST_ROLE"

UPLOG=$WORK/upstream.log
: >"$UPLOG"
python3 "$REPO_ROOT/test/http/tools/upstream.py" --log "$UPLOG" --slow-seconds 8 >"$WORK/up.port" &
UP_PID=$!
wait_until 10 test -s "$WORK/up.port" || bail "the upstream did not start"
UP="http://127.0.0.1:$(head -1 "$WORK/up.port")"

hex() { od -An -tx1 -v | tr -d ' \n'; }
forwarded() { wc -l <"$UPLOG"; }
# upfield <record no> <python expression on r>: a field of an upstream record
upfield() { sed -n "$1p" "$UPLOG" | python3 -c "import json,sys; r = json.load(sys.stdin); print($2)"; }
metric() { curl -s "$BASE/metrics" | sed -n "s/^presence_http_forward_total{result=\"$1\"} \([0-9]*\)$/\1/p"; }
# foreign <type> <id>: an envelope of another type, spaced and escaped oddly
foreign() {
	printf '{ "type" : "%s", "id":"%s", "time": %s,\n "data": {"fromUserId":"u1","content":"h\\u00e9 \\"x\\" \xc3\xa9"} }' \
		"$1" "$2" "$(now_ms)"
}
# fwd <body> [extra query]: signed in the query string, with a Content-Type
fwd() {
	sign
	post "$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG${2:-}" "$1" \
		-H 'Content-Type: application/json; charset=utf-8'
}

# ---------- refused settings ----------
"$PRESENCE_HTTP_BIN" --db "dbname=$DB" --forward-all 2>"$WORK/refused.log"
is "$?" 2 "--forward-all without --forward-url is refused"
"$PRESENCE_HTTP_BIN" --db "dbname=$DB" --forward-url "ftp://127.0.0.1/" 2>>"$WORK/refused.log"
is "$?" 2 "a --forward-url that is not http(s) is refused"

# ---------- another type: passed on unchanged, the app's reply relayed ----------
start_shim --db "dbname=$DB user=$TEST_ROLE" --forward-url "$UP/app/hook?src=presence" --db-timeout 2
body=$(foreign message:pre_messaging m1)
fwd "$body" '&extra=a%20b&x=1'
is "$CODE" 200 "a signed pre_messaging delivery gets the app's status"
is "$BODY" '{"pass":true}' "and the app's body"
is "$(header Content-Type)" application/json "and the app's Content-Type"
is "$(forwarded)" 1 "the app got it once"
is "$(upfield 1 'r["method"]')" POST "as a POST"
is "$(upfield 1 'r["uri"]')" "/app/hook?src=presence&nonce=$NONCE&signTimestamp=$TS&signature=$SIG&extra=a%20b&x=1" \
	"on the forward URL's path, with the delivery's raw query string after its own"
is "$(upfield 1 'r["body_hex"]')" "$(printf %s "$body" | hex)" "with the body byte for byte"
is "$(upfield 1 'r["headers"].get("Content-Type")')" "application/json; charset=utf-8" "with the delivery's Content-Type"
is "$(sql "SELECT count(*) FROM presence.events")" 0 "and presence applied nothing"

# signature values in headers (with the RC- prefix) are passed on as they came
sign
body=$(foreign group:create g1)
post "$BASE/webhook" "$body" -H "RC-Nonce: $NONCE" -H "RC-Timestamp: $TS" -H "RC-Signature: $SIG" \
	-H 'Content-Type: application/json'
is "$CODE" 200 "signed in RC- headers: passed on"
is "$(upfield 2 '"%s %s %s %s" % (r["uri"], r["headers"].get("RC-Nonce"), r["headers"].get("RC-Timestamp"), r["headers"].get("RC-Signature"))')" \
	"/app/hook?src=presence $NONCE $TS $SIG" "with its signature headers and no query string of its own"

fwd "$(foreign test:teapot t1)"
is "$CODE" 418 "the app's 418 is relayed"
is "$BODY" "short and stout" "with its body"
is "$(header Content-Type)" text/plain "and its Content-Type"
fwd "$(foreign test:boom b1)"
is "$CODE" 500 "the app's 500 is relayed"
is "$BODY" '{"error":"boom"}' "with its body"

# ---------- nothing unsigned is passed on ----------
before=$(forwarded)
post "$BASE/webhook" "$(foreign message:pre_messaging m2)"
is "$CODE" 401 "an unsigned delivery of another type gets 401"
sign
post "$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=0000$SIG" "$(foreign message:pre_messaging m3)"
is "$CODE" 401 "a badly signed one gets 401"
sign $(($(now_ms) - 86400000))
post "$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" "$(foreign message:pre_messaging m4)"
is "$CODE" 401 "one signed a day ago gets 401"
is "$(forwarded)" "$before" "none of them reached the app"

# ---------- presence's own type: applied, not passed on without --forward-all ----------
deliver "$(envelope ev-own-1 own1 0 s1)"
is "$CODE" 200 "a connection_status delivery is applied"
like "$BODY" '"applied":1' "with presence's outcome"
is "$(forwarded)" "$before" "and not passed on without --forward-all"

# ---------- a slow app: 503 within the deadline ----------
start=$(now_ms)
fwd "$(foreign test:slow s1)"
elapsed=$(ms_since "$start")
is "$CODE" 503 "an app slower than --db-timeout gets the provider a 503"
check "within the deadline (${elapsed} ms, --db-timeout 2 s)" test "$elapsed" -lt 2800
is "$(metric ok)/$(metric upstream_4xx)/$(metric upstream_5xx)/$(metric timeout)/$(metric unreachable)" 2/1/1/1/0 \
	"/metrics counts each result"
stop_shim
check "the secret is not in the log" test "$(grep -cF "$SECRET" "$SHIM_LOG")" = 0
check "nor a signature" test "$(grep -cF "$SIG" "$SHIM_LOG")" = 0

# ---------- a dead app: 503 ----------
python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$WORK/dead.port"
start_shim --db "dbname=$DB user=$TEST_ROLE" --forward-url "http://127.0.0.1:$(cat "$WORK/dead.port")/hook" --db-timeout 2
fwd "$(foreign message:pre_messaging d1)"
is "$CODE" 503 "an app that cannot be reached gets the provider a 503"
is "$(metric unreachable)" 1 "counted unreachable"
stop_shim

# ---------- --forward-all with group commit ----------
: >"$UPLOG"
start_shim --db "dbname=$DB user=$TEST_ROLE" --forward-url "$UP/app/hook" --forward-all --workers 1 --batch-wait-us 1000000 --db-timeout 4
deliver "$(envelope ev-0 holder 0 s0)"
is "$CODE" 200 "--forward-all: a connection_status delivery gets 200"
: >"$UPLOG"
# The one worker waits for a row lock, so the next deliveries queue up together.
hold_user holder 1 s0 3
pids=()
for i in $(seq 1 16); do
	sign
	curl -s -o "$WORK/all.$i.body" -w '%{http_code}' --max-time 10 \
		--data-binary "$(envelope "ev-all-$i" "all$i" 0 s1)" \
		"$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" >"$WORK/all.$i.code" &
	pids+=($!)
done
for i in $(seq 1 4); do
	sign
	curl -s -o "$WORK/other.$i.body" -w '%{http_code}' --max-time 10 --data-binary "$(foreign chat:message "o$i")" \
		"$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" >"$WORK/other.$i.code" &
	pids+=($!)
done
wait "$held" "$locker"
wait "${pids[@]}"
is "$(cat "$WORK"/all.*.code "$WORK"/other.*.code | tr -d '\n')" "$(printf '200%.0s' $(seq 1 20))" \
	"--forward-all: 16 connection_status and 4 other deliveries sent together all get 200"
is "$(cat "$WORK"/all.1.body)" '{"pass":true}' "the reply is the app's"
is "$(sql "SELECT count(*) FROM presence.users WHERE user_id LIKE 'all%' AND online")" 16 "the 16 were committed"
is "$(cat "$WORK/held.code")" 200 "and so does the one that waited for the lock"
is "$(forwarded)" 21 "all 21 reached the app"
get "$BASE/metrics"
count=$(printf '%s\n' "$BODY" | sed -n 's/^presence_http_batch_size_count \([0-9]*\)$/\1/p')
ones=$(printf '%s\n' "$BODY" | sed -n 's/^presence_http_batch_size_bucket{le="1"} \([0-9]*\)$/\1/p')
check "group commit still batches them: $count calls, $ones of one delivery" test "$((count - ones))" -ge 1
# The app got each connection_status delivery after its commit.
late=$(python3 - "$UPLOG" "$DB" <<'EOF'
import json, subprocess, sys
at = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    body = json.loads(bytes.fromhex(r["body_hex"]))
    at[body["id"]] = r["at"]
rows = subprocess.run(["psql", "-XAt", "-d", sys.argv[2], "-c",
                       "SELECT event_id, extract(epoch FROM received_at) FROM presence.events WHERE event_id LIKE 'ev-all-%'"],
                      capture_output=True, text=True).stdout.split()
print(sum(1 for row in rows if float(row.split("|")[1]) > at.get(row.split("|")[0], 0)))
EOF
)
is "$late" 0 "each was passed on after presence had it"
sign
post "$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=bad$SIG" "$(envelope ev-all-bad allbad 0 s1)"
is "$CODE" 401 "--forward-all: a badly signed connection_status delivery gets 401"
is "$(forwarded)" 21 "and is not passed on"

# ---------- SIGTERM with forwards in flight ----------
pids=()
for i in 1 2 3; do
	sign
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 --data-binary "$(foreign test:slow "t$i")" \
		"$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" >"$WORK/term.$i.code" &
	pids+=($!)
done
in_flight() { [ "$(forwarded)" -ge 24 ]; }
wait_until 10 in_flight || diag "the slow forwards did not reach the app"
kill -TERM "$SHIM_PID"
wait "${pids[@]}"
is "$(cat "$WORK"/term.*.code | tr -d '\n')" 503503503 "SIGTERM: the forwards in flight each get their 503 at the deadline"
wait "$SHIM_PID"
is "$?" 0 "and presence-http exits 0"
SHIM_PID=
check "no crash or leak report in its log" test "$(grep -ciE 'segfault|abort|sanitizer' "$SHIM_LOG")" = 0

kill "$UP_PID" 2>/dev/null
