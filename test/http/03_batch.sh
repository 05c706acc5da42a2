#!/bin/bash
# test/http/03_batch.sh: group commit.  Deliveries that arrive while a call
# is in flight go to the database together in one presence_ingest_batch()
# call, and each still gets its own outcome: the bad ones fail alone.  A call
# that fails as a whole for a transient reason (here: cancelled) answers its
# deliveries 503 at once, and a full queue answers 503.
#
# To make "arrive together" certain, the first delivery is held up by a row
# lock taken in another session; the others queue behind it meanwhile.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

N=20
plan 17
setup_db
start_shim --workers 2 --batch-wait-us 1000000 --batch-max 64

# The lock holder's user must exist first.
deliver "$(envelope ev-0 holder 0 s0)"
is "$CODE" 200 "first delivery for the lock holder's user"

hold_user holder 1 s0 3

# N deliveries at once; number 7 has a bad signature and number 13 bad JSON.
pids=()
for i in $(seq 1 $N); do
	sign
	body=$(envelope "ev-$i" "user$i" 0 "s$i")
	sig=$SIG
	[ "$i" = 7 ] && sig=0000000000000000000000000000000000000000
	[ "$i" = 13 ] && body='{"type":"user:connection_status","id":'
	curl -s -o "$WORK/$i.body" -w '%{http_code}' --max-time 30 --data-binary "$body" \
		"$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$sig" >"$WORK/$i.code" &
	pids+=($!)
done
wait "${pids[@]}" "$held"
wait "$locker"

is "$(cat "$WORK/held.code")" 200 "the held-up delivery succeeded once the lock was gone"
codes=""
for i in $(seq 1 $N); do codes="$codes $(cat "$WORK/$i.code")"; done
good=$(for i in $(seq 1 $N); do [ "$i" = 7 ] || [ "$i" = 13 ] || cat "$WORK/$i.code"; echo; done | grep -c '^200$')
is "$good" $((N - 2)) "every good delivery of the burst is 200 (codes:$codes)"
is "$(cat "$WORK/7.code")" 401 "the badly signed one alone is 401"
is "$(cat "$WORK/13.code")" 400 "the malformed one alone is 400"
is "$(sql "SELECT count(*) FROM presence.users WHERE user_id LIKE 'user%' AND online")" $((N - 2)) \
	"the good deliveries were all applied"

get "$BASE/metrics"
count=$(printf '%s\n' "$BODY" | sed -n 's/^presence_http_batch_size_count \([0-9]*\)$/\1/p')
ones=$(printf '%s\n' "$BODY" | sed -n 's/^presence_http_batch_size_bucket{le="1"} \([0-9]*\)$/\1/p')
diag "batches: $count, of one delivery: $ones"
check "some batch held more than one delivery" [ "$((count - ones))" -ge 1 ]
check "fewer database calls than deliveries" [ "$count" -lt $((N + 2)) ]
like "$(grep -E 'batch=([2-9]|[1-9][0-9])' "$SHIM_LOG" | head -n 1)" 'status=200' \
	"the log shows the batch size of batched requests"

# A call that fails as a whole for a transient reason (here: cancelled, 57014)
# answers 503 at once: trying again one by one would make each delivery wait
# again (11_transient.sh has more).
hold_user holder 1 s1 2
cancelled=$(sql "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'presence-http' AND wait_event_type = 'Lock'")
is "$cancelled" t "the call waiting for the lock was cancelled"
wait "$held" "$locker"
is "$(cat "$WORK/held.code")" 503 "the cancelled delivery got 503, to be retried by the provider"
is "$(grep -c 'applying one by one' "$SHIM_LOG")" 0 "and was not tried again one by one"

# A full queue answers 503 at once: one worker, room for one waiting delivery.
stop_shim
start_shim --workers 1 --queue-max 1
hold_user holder 0 s9 2
sign
curl -s -o /dev/null -w '%{http_code}' --max-time 30 --data-binary "$(envelope ev-q1 queued 0)" \
	"$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" >"$WORK/queued.code" &
queued=$!
queue_full() { curl -s "$BASE/metrics" | grep -q '^presence_http_queue_depth 1$'; }
wait_until 10 queue_full || diag "the second delivery did not queue"
deliver "$(envelope ev-q2 overflow 0)"
is "$CODE" 503 "a delivery beyond --queue-max is 503"
like "$(header Retry-After)" '^[0-9]+$' "with Retry-After"
wait "$queued" "$held"
wait "$locker"
is "$(cat "$WORK/held.code")" 200 "the delivery in the worker completed"
is "$(cat "$WORK/queued.code")" 200 "the queued delivery completed"
is "$(sql "SELECT count(*) FROM presence.users WHERE user_id = 'overflow'")" 0 \
	"the refused delivery was not applied"
