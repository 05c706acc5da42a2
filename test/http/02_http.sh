#!/bin/bash
# test/http/02_http.sh: the HTTP surface of presence-http: routing (404,
# 405 with Allow), body limits (413 by Content-Length, while streaming a
# chunked body, and for an overstated Content-Length without waiting for the
# body), /healthz, /metrics, stalled clients timing out, and the
# environment-variable fallback of the flags.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 30
setup_db
PRESENCE_HTTP_PATH=/hooks/rc PRESENCE_HTTP_MAX_BODY=4096 PRESENCE_HTTP_TIMEOUT=1 start_shim
HOOK=$BASE/hooks/rc

# Flags from the environment.
sign
post "$HOOK?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" "$(envelope ev-1 alice 0)"
is "$CODE" 200 "PRESENCE_HTTP_PATH sets the webhook path"
post "$BASE/webhook" "$(envelope ev-2 alice 1)"
is "$CODE" 404 "the default path is not served when another is set"

# Routing.
get "$BASE/nothing-here"
is "$CODE" 404 "unknown path is 404"
check "404 reply is JSON" is_json "$BODY"
get "$HOOK"
is "$CODE" 405 "GET on the webhook path is 405"
is "$(header Allow)" "POST" "405 on the webhook names POST in Allow"
post "$BASE/healthz" '{}'
is "$CODE" 405 "POST /healthz is 405"
is "$(header Allow)" "GET, HEAD" "405 on /healthz names GET, HEAD in Allow"
CODE=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary x "$HOOK")
is "$CODE" 405 "PUT on the webhook path is 405"

# /healthz
get "$BASE/healthz"
is "$CODE" 200 "/healthz is 200 while the database answers"
CODE=$(curl -s -o /dev/null -w '%{http_code}' -I "$BASE/healthz")
is "$CODE" 200 "HEAD /healthz is 200"

# Body limits (max body 4096 here).
head -c 10000 /dev/zero | tr '\0' ' ' >"$WORK/big"
sign
CODE=$(curl -s -o "$WORK/body" -w '%{http_code}' --data-binary @"$WORK/big" \
	"$HOOK?nonce=$NONCE&signTimestamp=$TS&signature=$SIG")
is "$CODE" 413 "body over --max-body with Content-Length is 413"
like "$(cat "$WORK/body")" 'exceeds 4096 bytes' "413 says what the limit is"
CODE=$(curl -s -o "$WORK/body" -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
	--data-binary @"$WORK/big" "$HOOK?nonce=$NONCE&signTimestamp=$TS&signature=$SIG")
is "$CODE" 413 "chunked body over --max-body (no Content-Length) is 413"
head -c 4096 /dev/zero | tr '\0' ' ' >"$WORK/exact"
CODE=$(curl -s -o "$WORK/body" -w '%{http_code}' --data-binary @"$WORK/exact" \
	"$HOOK?nonce=$NONCE&signTimestamp=$TS&signature=$SIG")
is "$CODE" 400 "a body of exactly --max-body bytes is read (and is bad JSON: 400)"

# An overstated Content-Length is refused before any body is sent.
status_line=$(
	exec 3<>"/dev/tcp/127.0.0.1/$SHIM_PORT"
	printf 'POST /hooks/rc HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n{' >&3
	timeout 10 head -n 1 <&3 | tr -d '\r'
)
like "$status_line" '^HTTP/1\.[01] 413 ' \
	"lying Content-Length: 413 without waiting for the body"

# A chunked body far over the limit is cut off, not read to the end.
(
	trap '' PIPE
	exec 3<>"/dev/tcp/127.0.0.1/$SHIM_PORT"
	printf 'POST /hooks/rc HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n' >&3
	for _ in $(seq 1 256); do
		{ printf '1000\r\n' && head -c 4096 /dev/zero && printf '\r\n'; } >&3 2>/dev/null ||
			exit 0				# the server closed the connection
	done
	exit 1
) 2>/dev/null
ok $? "a chunked body far over the limit is cut off before its end"
like "$(grep 'body-too-large-closed' "$SHIM_LOG")" 'status=0' "the cut-off request is logged"

# A stalled client is timed out (--timeout 1 via PRESENCE_HTTP_TIMEOUT).
(
	exec 3<>"/dev/tcp/127.0.0.1/$SHIM_PORT"
	printf 'POST /hooks/rc HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{"type"' >&3
	timeout 15 cat <&3 >/dev/null
)
ok $? "a stalled client is disconnected after the timeout"
like "$(grep 'note=timeout' "$SHIM_LOG")" 'path=/hooks/rc' "the timed-out request is logged"
get "$BASE/healthz"
is "$CODE" 200 "still serving after the stalled client"

# The server still works after all that.
sign
post "$HOOK?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" "$(envelope ev-3 alice 1)"
is "$CODE" 200 "a good delivery after the oversized ones is 200"

# /metrics
get "$BASE/metrics"
is "$CODE" 200 "/metrics is 200"
like "$(header Content-Type)" '^text/plain; version=0.0.4' "/metrics uses the Prometheus text format"
like "$BODY" 'presence_http_requests_total\{code="413"\} [1-9]' "requests are counted by status"
like "$BODY" 'presence_http_ingest_duration_seconds_bucket\{le="\+Inf"\} [1-9]' "ingest latency histogram"
like "$BODY" 'presence_http_batch_size_count [1-9]' "batch size histogram"
like "$BODY" '# TYPE presence_http_db_reconnects_total counter' "database reconnects counter"

# The log has one line per request and no secrets.
like "$(grep -c 'request method=' "$SHIM_LOG")" '^[1-9][0-9]+$' "one log line per request"
if grep -q -e "$SIG" -e "$SECRET" -e 'signature=' -e 'ev-3' "$SHIM_LOG"; then leak=1; else leak=0; fi
ok $leak "the log holds no signature, secret or body"
