#!/bin/bash
# test/cluster/02_http.sh: presence-http pointed at a router with four partitions.
#
# Group commit: deliveries that arrive together share one presence_ingest_batch() call on
# the router, each with its own outcome.  One partition stopped: every delivery with an
# item on it is answered 503 (never 2xx), in a batch or alone, and the deliveries that do
# not touch it are applied; once the partition is back, the provider's re-deliveries (same
# signature values, same bodies) are accepted and the cluster converges.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 19
start_shim --workers 1 --batch-wait-us 1000000 --batch-max 64

# ---- group commit ----
holder=$(users_on 0 1 holder)
deliver "$(envelope ev-0 "$holder" 0 s0)"
is "$CODE" 200 "a delivery through the router is 200"
is "$(part_sql 0 "SELECT online FROM presence.users WHERE user_id = '$holder'")" t \
	"and its user is online on its partition"

# Hold the holder's row on its partition, so the next delivery waits there and the burst
# queues up behind it in the shim.
psql -X -q -h "$CLUSTER_DIR/p0" -p $((CLUSTER_PORT + 1)) -d presence \
	-c "BEGIN; SELECT 1 FROM presence.users WHERE user_id = '$holder' FOR UPDATE; SELECT pg_sleep(3); COMMIT;" \
	>/dev/null 2>&1 &
locker=$!
sleep 0.5
sign
curl -s -o "$WORK/held.body" -w '%{http_code}' --max-time 30 \
	--data-binary "$(envelope ev-held "$holder" 1 s0)" \
	"$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" >"$WORK/held.code" &
held=$!
sleep 0.5
N=20
pids=()
for i in $(seq 1 $N); do
	sign
	body=$(envelope "ev-$i" "gc$i" 0 "s$i")
	sig=$SIG
	[ "$i" = 7 ] && sig=0000000000000000000000000000000000000000
	[ "$i" = 13 ] && body='{"type":"user:connection_status","id":'
	curl -s -o "$WORK/$i.body" -w '%{http_code}' --max-time 30 --data-binary "$body" \
		"$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$sig" >"$WORK/$i.code" &
	pids+=($!)
done
wait "${pids[@]}" "$held" "$locker"
is "$(cat "$WORK/held.code")" 200 "the held-up delivery succeeded once the lock was gone"
good=$(for i in $(seq 1 $N); do [ "$i" = 7 ] || [ "$i" = 13 ] || cat "$WORK/$i.code"; echo; done | grep -c '^200$')
is "$good" $((N - 2)) "every good delivery of the burst is 200"
is "$(cat "$WORK/7.code")/$(cat "$WORK/13.code")" 401/400 "the badly signed one is 401, the malformed one 400"
online=0
for ((p = 0; p < NPARTS; p++)); do
	online=$((online + $(part_sql $p "SELECT count(*) FROM presence.users WHERE user_id LIKE 'gc%' AND online")))
done
is "$online" $((N - 2)) "the good deliveries were applied on their partitions"
get "$BASE/metrics"
count=$(printf '%s\n' "$BODY" | sed -n 's/^presence_http_batch_size_count \([0-9]*\)$/\1/p')
ones=$(printf '%s\n' "$BODY" | sed -n 's/^presence_http_batch_size_bucket{le="1"} \([0-9]*\)$/\1/p')
diag "batches: $count, of one delivery: $ones"
check "some batch through the router held more than one delivery" [ "$((count - ones))" -ge 1 ]

# ---- one partition stopped ----
read -r -a down <<<"$(users_on 2 4 down)"
read -r -a up <<<"$(users_on 1 4 up)"
stop_partition 2
t=$(now_ms)
# Alone: one delivery on partition 2, one on partition 1, one with an item on each.
sign; n1=$NONCE; t1=$TS; s1=$SIG; b1=$(envelope ev-d1 "${down[0]}" 0 d1 "$t")
post "$BASE/webhook?nonce=$n1&signTimestamp=$t1&signature=$s1" "$b1"
is "$CODE" 503 "a delivery for a user on the stopped partition is 503"
like "$(header Retry-After)" '^[0-9]+$' "with Retry-After"
deliver "$(envelope ev-u1 "${up[0]}" 0 u1 "$t")"
is "$CODE" 200 "a delivery for a user on a running partition is 200"
sign; n2=$NONCE; t2=$TS; s2=$SIG
b2='{"type":"user:connection_status","id":"ev-mixed","time":'$t',"data":[{"status":"0","userId":"'${up[1]}'","time":'$t',"sessionId":"m1"},{"status":"0","userId":"'${down[1]}'","time":'$t',"sessionId":"m2"}]}'
post "$BASE/webhook?nonce=$n2&signTimestamp=$t2&signature=$s2" "$b2"
is "$CODE" 503 "a delivery with one item on the stopped partition and one elsewhere is 503"

# Together, in batches: the two on partition 2 are 503, the two elsewhere 200.
pids=()
for i in 2 3; do
	for kind in down up; do
		if [ "$kind" = down ]; then user=${down[$i]}; else user=${up[$i]}; fi
		sign
		printf '%s %s %s\n' "$NONCE" "$TS" "$SIG" >"$WORK/b-$kind-$i.sig"
		envelope "ev-b-$kind-$i" "$user" 0 "b$i" "$t" >"$WORK/b-$kind-$i.json"
		curl -s -o /dev/null -w '%{http_code}' --max-time 30 --data-binary "@$WORK/b-$kind-$i.json" \
			"$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" >"$WORK/b-$kind-$i.code" &
		pids+=($!)
	done
done
wait "${pids[@]}"
is "$(cat "$WORK"/b-down-2.code) $(cat "$WORK"/b-down-3.code) $(cat "$WORK"/b-up-2.code) $(cat "$WORK"/b-up-3.code)" \
	"503 503 200 200" "sent together: the deliveries touching the stopped partition 503, the others 200"
is "$(part_sql 1 "SELECT count(*) FROM presence.users WHERE user_id IN ('${up[0]}', '${up[2]}', '${up[3]}') AND online")" 3 \
	"the deliveries that did not touch it are applied"

like "$(psql -X -q -v VERBOSITY=verbose -At -d presence -c 'SELECT presence.cluster_online_count()' 2>&1)" \
	'ERROR: +08006: a partition of the presence cluster is unreachable' \
	"a read that needs the stopped partition is 08006"
is "$(sql "SELECT count(*) FROM presence.cluster_users(ARRAY['${up[0]}'])")" 1 \
	"a read of a user on a running partition still works"

# The partition comes back; the provider re-delivers what got 503, with the same values.
start_partition 2
post "$BASE/webhook?nonce=$n1&signTimestamp=$t1&signature=$s1" "$b1"
c1=$CODE
post "$BASE/webhook?nonce=$n2&signTimestamp=$t2&signature=$s2" "$b2"
c2=$CODE
r2=$BODY
for i in 2 3; do
	read -r n ts sg <"$WORK/b-down-$i.sig"
	post "$BASE/webhook?nonce=$n&signTimestamp=$ts&signature=$sg" "$(cat "$WORK/b-down-$i.json")"
	c1="$c1 $CODE"
done
is "$c1 $c2" "200 200 200 200" "after the partition returns, every re-delivery is 200"
like "$r2" '"items": *2' "the mixed re-delivery counts both its items"
down_online=$(part_sql 2 "SELECT count(*) FROM presence.users WHERE user_id IN ('${down[0]}', '${down[1]}', '${down[2]}', '${down[3]}') AND online")
is "$down_online/$(part_sql 1 "SELECT count(*) FROM presence.users WHERE user_id = '${up[1]}' AND online")" 4/1 \
	"every user of the re-deliveries is online on its partition"
is "$(sql "SELECT count(*) FROM presence.cluster_check()")" 0 "cluster_check() is empty"
exit $((FAILED > 0))
