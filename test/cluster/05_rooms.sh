#!/bin/bash
# test/cluster/05_rooms.sh: rooms on a router with four partitions (doc/rules.md sections 12
# and 14).  A room's rows live on the partition its room_id hashes to (the users' hash);
# one call's room items on two partitions are each applied there; room_online() on the
# router reads the members on the room's partition and their online state on the users'
# partitions; a stopped partition fails the deliveries with room items on it (08006) and
# no other; cluster_check() is empty.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 10
room0=$(users_on 0 1 room)
room2=$(users_on 2 1 room)
read -r -a members <<<"$(sql "SELECT string_agg(u, ' ') FROM (SELECT 'member' || g AS u FROM generate_series(1, 40) g) s")"
room_body() {	# room_body <id> <room> <op> <time> [users...]
	local id=$1 room=$2 op=$3 t=$4 users=
	shift 4
	[ $# -gt 0 ] && users=$(printf ',"%s"' "$@")
	printf '{"type":"open_channel:operation","id":"%s","time":%s,"data":[{"channelId":"%s","operationType":%s,"status":0,"time":%s%s}]}' \
		"$id" "$t" "$room" "$op" "$t" "${users:+,\"userIds\":[${users#,}]}"
}
for u in "${members[@]:0:10}"; do
	sql "SELECT presence_ingest_unsigned('{\"status\":\"0\",\"userId\":\"$u\",\"sessionId\":\"s\",\"time\":1000}')" >/dev/null
done

both="{\"type\":\"open_channel:operation\",\"id\":\"j1\",\"time\":2000,\"data\":[$(room_body x "$room0" 1 2000 "${members[@]}" | sed 's/.*"data":\[\(.*\)\]}$/\1/'),$(room_body x "$room2" 1 2000 "${members[@]:0:5}" | sed 's/.*"data":\[\(.*\)\]}$/\1/')]}"
is "$(sql "SELECT row(r.*)::text FROM presence_ingest_unsigned('$both') r")" "(45,45,0,0,0)" \
	"one call's joins of two rooms on two partitions: 45 items applied"
is "$(part_sql 0 "SELECT members FROM presence.rooms WHERE room_id = '$room0'")/$(part_sql 2 "SELECT members FROM presence.rooms WHERE room_id = '$room2'")" \
	"40/5" "each room's rows are on its own partition"
is "$(for p in 1 3; do part_sql "$p" "SELECT count(*) FROM presence.room_members"; done | tr '\n' ' ')" "0 0 " \
	"and on no other"
is "$(sql "SELECT count(*) || ' ' || sum(online_sessions) FROM presence.room_online('$room0')")" "10 10" \
	"room_online on the router: the 10 members online, their state gathered from their partitions"
is "$(sql "SELECT row(r.*)::text FROM presence_ingest_unsigned('$(room_body j1-again "$room0" 1 2000 "${members[@]}")') r")" \
	"(40,0,40,0,0)" "a re-delivery is duplicates"
is "$(sql "SELECT row(r.*)::text FROM presence_ingest_unsigned('$(room_body d1 "$room0" 3 3000)') r")" "(1,1,0,0,0)" \
	"a destroy through the router"
is "$(sql "SELECT count(*) FROM presence.room_online('$room0')")/$(part_sql 0 "SELECT members FROM presence.rooms WHERE room_id = '$room0'")" \
	"0/0" "closes every membership of the room"

stop_partition 2
out=$(psql -X -q -At -v VERBOSITY=verbose -d presence -c "SELECT presence_ingest_unsigned('$(room_body j2 "$room2" 2 4000 "${members[0]}")')" 2>&1)
like "$out" "08006" "a room delivery for a stopped partition fails with 08006"
is "$(sql "SELECT row(r.*)::text FROM presence_ingest_unsigned('$(room_body j3 "$room0" 1 4000 "${members[0]}")') r")" "(1,1,0,0,0)" \
	"a room delivery for another partition is applied"
start_partition 2
is "$(sql "SELECT count(*) FROM presence.cluster_check()")" 0 "cluster_check() is empty"
exit $((FAILED > 0))
