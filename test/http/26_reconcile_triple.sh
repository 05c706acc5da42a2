#!/bin/bash
# test/http/26_reconcile_triple.sh: a status API request's headers are no webhook signature.
#
# The provider signs its webhooks and its status API requests with the same secret and
# formula, so the Nonce, Timestamp and Signature of a reconcile request, replayed as a
# delivery's signature with any body, must be refused (contract section 11, amended for
# 0.3.0): Timestamp is in seconds, and each triple is bound in presence.seen_signatures
# before it leaves, so it fails even with the age check off.  A plain-http provider URL
# that is not loopback is refused: its requests would carry the app key in the clear.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 8
setup_db
TEST_ROLE=presence_http_t_$$
psql -X -q -c "CREATE ROLE $TEST_ROLE LOGIN IN ROLE presence_writer" || bail "cannot create role $TEST_ROLE"
printf '%s\n' "$SECRET" >"$WORK/app.secret"	# one secret for webhooks and the status API
CALLS=$WORK/calls.log
: >"$CALLS"
python3 "$REPO_ROOT/test/http/tools/fake_provider.py" --app-key k --secret "$SECRET" \
	--log "$CALLS" --default offline >"$WORK/fake.port" &
wait_until 10 test -s "$WORK/fake.port" || bail "the fake provider did not start"
PROVIDER="http://127.0.0.1:$(head -1 "$WORK/fake.port")"

timeout 5 "$PRESENCE_HTTP_BIN" --db "dbname=$DB" --listen 127.0.0.1:0 --provider-url "http://192.0.2.1:8080/" --app-key k \
	--app-secret-file "$WORK/app.secret" 2>"$WORK/refused.log"
is "$?" 2 "a plain-http --provider-url that is not loopback is refused"
timeout 5 "$PRESENCE_HTTP_BIN" --db "dbname=$DB" --listen 127.0.0.1:0 --provider-url "http://127.0.0.1.example.com/" --app-key k \
	--app-secret-file "$WORK/app.secret" 2>>"$WORK/refused.log"
is "$?" 2 "and so is a name that only starts like a loopback address"

start_shim --db "dbname=$DB user=$TEST_ROLE" --provider-url "$PROVIDER" --app-key k \
	--app-secret-file "$WORK/app.secret" --reconcile-idle 1s --reconcile-every 1s
t=$(($(now_ms) - 120000))
deliver "$(envelope ev-ghost ghost 0 s1 "$t")"
wait_until 20 test -s "$CALLS" || diag "the provider was never asked"
read -r _ _ _ verdict nonce ts sig < <(head -1 "$CALLS")
is "$verdict" sig=ok "the status request is signed as the provider checks it"
like "$ts" '^[0-9]{10}$' "its Timestamp is in Unix seconds"

body=$(envelope ev-replay victim 0 s1)
is "$(sql "SELECT count(*) FROM presence.seen_signatures WHERE nonce = '$nonce' AND sign_timestamp = '$ts'
	AND body_sha256 = decode(repeat('00', 32), 'hex')")" 1 \
	"the request's triple was bound before it left"
out=$(psql -X -q -At -d "$DB" -v VERBOSITY=terse -c "SET presence.signature_max_age = 0" \
	-c "SELECT applied FROM presence_ingest('$body', '$nonce', '$ts', '$sig')" 2>&1)
check "with the age check off the triple is still refused ($out)" test "$out" != 1
post "$BASE/webhook?nonce=$nonce&signTimestamp=$ts&signature=$sig" "$body"
check "its headers replayed as a webhook's signature are refused ($CODE)" test "$CODE" != 200
is "$(sql "SELECT count(*) FROM presence.users WHERE user_id = 'victim'")" 0 "and apply nothing"

exit $((FAILED > 0))
