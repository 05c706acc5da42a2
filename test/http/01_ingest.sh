#!/bin/bash
# test/http/01_ingest.sh: signed deliveries through presence-http end up in
# presence.sessions and presence.users; signature values from the query
# string or from headers; bad signatures, stale timestamps, replays and bad
# bodies get the status doc/rules.md section 5 maps their SQLSTATE to.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 33
setup_db
start_shim

# A signed delivery through the query string.
body=$(envelope ev-1 alice 0 sess-a1)
deliver "$body"
is "$CODE" 200 "signed delivery is accepted"
is "$BODY" '{"items":1,"applied":1,"duplicates":0,"stale":0,"ignored":0}' "reply carries the ingest_result counts"
like "$(header Content-Type)" '^application/json' "reply is JSON"
is "$(sql "SELECT state || ' ' || os FROM presence.sessions WHERE user_id = 'alice' AND session_id = 'sess-a1'")" \
	"online iOS" "the session row is in presence.sessions"
is "$(sql "SELECT online_sessions || ' ' || online FROM presence.users WHERE user_id = 'alice'")" \
	"1 true" "the user row is in presence.users"

# The same values as headers, plain and with the RC- prefix (any case).
sign
post "$BASE/webhook" "$(envelope ev-2 bob 0 sess-b1)" \
	-H "Nonce: $NONCE" -H "Timestamp: $TS" -H "Signature: $SIG"
is "$CODE" 200 "signature values from Nonce/Timestamp/Signature headers"
sign
post "$BASE/webhook" "$(envelope ev-3 carol 0)" \
	-H "rc-nonce: $NONCE" -H "RC-TIMESTAMP: $TS" -H "Rc-Signature: $SIG" -H "RC-App-Key: app1"
is "$CODE" 200 "signature values from RC- prefixed headers, case-insensitive"
is "$(sql "SELECT count(*) FROM presence.users WHERE user_id IN ('bob', 'carol') AND online")" 2 \
	"header-signed deliveries were applied"

# Older senders say timestamp instead of signTimestamp.
sign
post "$BASE/webhook?nonce=$NONCE&timestamp=$TS&signature=$SIG&appKey=app1" "$(envelope ev-4 dave 0)"
is "$CODE" 200 "timestamp= is accepted for signTimestamp, with appKey"

# Upper-case hex is fine too.
sign
post "$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=${SIG^^}" "$(envelope ev-4b dave 1)"
is "$CODE" 200 "upper-case hex signature is accepted"

# Wrong signature.
sign
post "$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=0123456789abcdef0123456789abcdef01234567" \
	"$(envelope ev-5 eve 0)"
is "$CODE" 401 "wrong signature is 401"
check "401 reply is a JSON error" is_json "$BODY"
like "$BODY" '^\{"error":"' "401 reply has an error message"
is "$(sql "SELECT count(*) FROM presence.users WHERE user_id = 'eve'")" 0 "rejected delivery changed nothing"

# Missing signature values: the database answers 28000.
post "$BASE/webhook" "$(envelope ev-6 eve 0)"
is "$CODE" 401 "unsigned delivery is 401"

# Stale timestamp: older than presence.signature_max_age (300 s).
sign $(($(now_ms) - 400000))
post "$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" "$(envelope ev-7 eve 0)"
is "$CODE" 401 "signature older than signature_max_age is 401"

# Replay binding: same triple with another body is refused, with the same body it is a retry.
sign
first=$(envelope ev-8 frank 0 sess-f1)
post "$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" "$first"
is "$CODE" 200 "first use of a triple is accepted"
post "$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" "$(envelope ev-9 mallory 1 sess-x)"
is "$CODE" 401 "same triple with a different body is 401"
is "$(sql "SELECT count(*) FROM presence.users WHERE user_id = 'mallory'")" 0 "replayed body was not applied"
post "$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" "$first"
is "$CODE" 200 "same triple with the same body (a retry) is 200"
is "$BODY" '{"items":1,"applied":0,"duplicates":1,"stale":0,"ignored":0}' "the retry is counted as a duplicate"

# Bad bodies.
deliver '{"type":"user:connection_status","id":"ev-10","time":1,"data":[{"status":"0"'
is "$CODE" 400 "truncated JSON is 400"
check "400 reply is a JSON error" is_json "$BODY"
deliver '{"type":"user:connection_status","id":"ev-11","time":1730192400000,"data":[{"status":"7","userId":"gina","time":1730192400000}]}'
is "$CODE" 400 "wrong status value is 400"
like "$BODY" 'data\[0\]\.status' "the error names the field path data[0].status"
check "error message with quotes is still valid JSON" is_json "$BODY"

# Invalid UTF-8 never reaches the server as text.
sign
CODE=$(printf '{"type":"user:connection_status","id":"\xff\xfe","time":1,"data":[]}' |
	curl -s -o "$WORK/body" -w '%{http_code}' --data-binary @- \
		"$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG")
is "$CODE" 400 "invalid UTF-8 body is 400"

# As an ordinary login role that is only a member of presence_writer.
TEST_ROLE="http_t_writer_$$"
psql -X -q -c "CREATE ROLE $TEST_ROLE LOGIN IN ROLE presence_writer" >/dev/null
stop_shim
start_shim --db "dbname=$DB user=$TEST_ROLE"
deliver "$(envelope ev-19 hank 0 s1)"
is "$CODE" 200 "a presence_writer member can deliver"
get "$BASE/healthz"
is "$CODE" 200 "and /healthz works for it"

# Body over presence.max_payload_bytes: the database says 54000, that is 413.
sql "ALTER DATABASE $DB SET presence.max_payload_bytes = 200" >/dev/null
stop_shim
start_shim
body=$(envelope ev-20 hank 0 "sess-$(printf '%0200d' 0)")
deliver "$body"
is "$CODE" 413 "body over presence.max_payload_bytes is 413 (54000)"
check "413 reply is a JSON error" is_json "$BODY"

# No active secret: the database says 55000, that is 500.
sql "SELECT presence.drop_secret('$SECRET')" >/dev/null
deliver "$(envelope ev-21 ivan 0)"
is "$CODE" 500 "no secret configured is 500 (55000)"
like "$BODY" '^\{"error":"' "500 reply has the server's message"
