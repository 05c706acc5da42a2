#!/bin/bash
# test/http/24_rooms.sh: rooms through presence-http (doc/rules.md section 14).
# The provider's example open_channel:operation, signed, joins two users to
# chatroom_001; presence.room_online() then lists the one who is online; a
# re-delivery is two duplicates; a refused room body is 400 naming the field;
# a room delivery and a status delivery that arrive together (one group
# commit batch) each get their own counts.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 11
setup_db
start_shim --workers 2 --batch-wait-us 300000 --batch-max 64

example='{"type": "open_channel:operation", "id": "550e8400-e29b-41d4-a716-446655440011",
 "time": 1730192400000,
 "data": [{"channelId": "chatroom_001", "userIds": ["user_001", "user_002"],
           "status": 0, "operationType": 1, "time": 1730192400000}]}'

deliver "$(envelope ev-1 user_001 0 s1)"
is "$CODE" 200 "user_001 connects"
deliver "$example"
is "$CODE" 200 "the provider's example, signed, is accepted"
is "$BODY" '{"items":2,"applied":2,"duplicates":0,"stale":0,"ignored":0}' \
	"one item naming two users: two items, both applied"
is "$(sql "SELECT members FROM presence.rooms WHERE room_id = 'chatroom_001'")" 2 "the room has two members"
is "$(sql "SELECT string_agg(user_id || ':' || online_sessions, ',') FROM presence.room_online('chatroom_001')")" \
	"user_001:1" "room_online lists the member who is online, with its session count"
deliver "$example"
is "$BODY" '{"items":2,"applied":0,"duplicates":2,"stale":0,"ignored":0}' "a re-delivery is two duplicates"

users=$(printf '"u%d",' $(seq 1 1001))
deliver "{\"type\":\"open_channel:operation\",\"id\":\"big\",\"time\":1,\"data\":[{\"channelId\":\"big\",\"userIds\":[${users%,}],\"operationType\":1,\"status\":0,\"time\":1}]}"
is "$CODE" 400 "1,001 users in one item: 400"
like "$BODY" 'data\[0\]\.userIds' "the error names the field"

# A room delivery and a status delivery at once: one batch, each its own counts.
sign
curl -s -o "$WORK/room.out" --max-time 30 --data-binary \
	'{"type":"open_channel:operation","id":"mix","time":1730192500000,"data":[{"channelId":"chatroom_001","userIds":["user_002"],"operationType":2,"status":1,"time":1730192500000}]}' \
	"$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" &
room_pid=$!
sign
curl -s -o "$WORK/status.out" --max-time 30 --data-binary "$(envelope ev-2 user_002 0 s1)" \
	"$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" &
wait "$room_pid" $!
is "$(cat "$WORK/room.out")" '{"items":1,"applied":1,"duplicates":0,"stale":0,"ignored":0}' "the room delivery's counts"
is "$(cat "$WORK/status.out")" '{"items":1,"applied":1,"duplicates":0,"stale":0,"ignored":0}' "the status delivery's counts"
is "$(sql "SELECT count(*) FROM presence.check()")" 0 "presence.check() is empty"
