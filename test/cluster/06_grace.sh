#!/bin/bash
# test/cluster/06_grace.sh: the offline grace through a router (doc/feed.md, Offline grace).
#
# The feed and the grace are the partitions' settings: a partition applies the router's
# share of a call (partition_apply) with its own presence.feed and presence.offline_grace,
# and its grace worker sends its users' delayed offlines.  With both set on a partition's
# database, deliveries through the router: a flap within the grace (disconnect, connect on a
# new session 0.5 s later) sends nothing on the partition's LISTEN, while its offline waits in
# the partition's presence.pending_offlines; an offline beyond the grace sends one message.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 5
user=$(users_on 2 1 grace)
part_sql 2 "ALTER DATABASE presence SET presence.feed = 'notify'"
part_sql 2 "ALTER DATABASE presence SET presence.offline_grace = '2s'"
deliver_item() {
	sql "SELECT applied FROM presence_ingest_unsigned('{\"status\":\"$1\",\"userId\":\"$user\",\"sessionId\":\"$2\",\"time\":$3}')"
}
# The listener: LISTEN on partition 2, then sleep; psql prints what came at the end.
psql -X -q -h "$CLUSTER_DIR/p2" -p $((CLUSTER_PORT + 3)) -d presence \
	-c "LISTEN presence" -c "SELECT pg_sleep(20)" >"$WORK/listen.out" 2>&1 &
listener=$!
sleep 1
deliver_item 0 s1 1000 >/dev/null
deliver_item 1 s1 2000 >/dev/null
is "$(part_sql 2 "SELECT count(*) FROM presence.pending_offlines WHERE user_id = '$user'")" 1 \
	"an offline through the router is queued on its partition, with the partition's grace"
sleep 0.5
deliver_item 0 s2 2500 >/dev/null
is "$(part_sql 2 "SELECT count(*) FROM presence.pending_offlines")" 0 \
	"a connect through the router within the grace cancels it"
sleep 3
deliver_item 1 s2 5000 >/dev/null
is "$(part_sql 2 "SELECT count(*) FROM presence.pending_offlines")" 1 "the next offline is queued"
wait "$listener"
msgs=$(grep -c '^Asynchronous notification "presence"' "$WORK/listen.out")
is "$msgs" 2 "the listener heard two messages: the first connect and the last offline, nothing of the flap"
like "$(grep '^Asynchronous notification "presence"' "$WORK/listen.out" | tail -1)" \
	'"online": false, "online_sessions": 0' "the last is the delayed online false"
exit $((FAILED > 0))
