#!/usr/bin/env bash
# fuzz/make_corpus.sh: (re)write the seed corpus of both fuzzers (make -C fuzz corpus).
#
# corpus/payload/: real bodies of every shape the provider sends, plus a few
# invalid ones, each a file named after what it shows.  corpus/signature/:
# secret NUL nonce NUL signTimestamp NUL signature.  The files are committed;
# the fuzzers never write here (they grow build/work/<fuzzer> instead).
set -euo pipefail
cd "$(dirname "$0")"
P=corpus/payload
S=corpus/signature
mkdir -p "$P" "$S"

seed() { printf '%s' "$2" > "$P/$1.json"; }

# The provider's documented example, as it is printed (pretty) and compact.
cat > "$P/provider_example.json" <<'EOF'
{
"type": "user:connection_status",
"id": "550e8400-e29b-41d4-a716-446655440001",
"time": 1730192400000,
"data": [
{
"status": "0",
"userId": "user_001",
"os": "iOS",
"time": 1730192400000,
"clientIp": "192.168.1.100:12345",
"sessionId": "sess_abc123"
}
]
}
EOF
seed provider_example_compact '{"type":"user:connection_status","id":"550e8400-e29b-41d4-a716-446655440001","time":1730192400000,"data":[{"status":"0","userId":"user_001","os":"iOS","time":1730192400000,"clientIp":"192.168.1.100:12345","sessionId":"sess_abc123"}]}'
seed envelope_offline '{"type":"user:connection_status","id":"e-2","time":1730192460000,"data":[{"status":"1","userId":"user_001","time":1730192460000,"sessionId":"sess_abc123"}]}'
seed envelope_logout_android '{"type":"user:connection_status","id":"e-3","time":1730192470000,"data":[{"status":"2","userId":"user_002","os":"Android","time":1730192470000,"clientIp":"[2001:db8::1]:443"}]}'
seed envelope_batched '{"type":"user:connection_status","id":"b-1","time":1730192400009,"data":[{"status":"0","userId":"a","time":1730192400001,"sessionId":"s1","os":"Websocket"},{"status":"1","userId":"a","time":1730192400005,"sessionId":"s1"},{"status":"0","userId":"b","time":1730192400006,"os":"HarmonyOS","clientIp":"10.0.0.2:5000"},{"status":"2","userId":"c","time":1730192400007,"sessionId":""}]}'
seed envelope_int_status_string_time '{"type":"user:connection_status","id":"b-2","time":1730192400000,"data":[{"status":0,"userId":"x","time":"1730192400000"},{"status":2,"userId":"y","time":1730192400001,"os":null,"clientIp":"","sessionId":null}]}'
seed envelope_unknown_fields '{"type":"user:connection_status","id":"u-1","time":1730192400000,"extra":{"nested":[1,2.5,-3e10,{"deep":[[[[]]]],"k":null}],"flag":true},"data":[{"status":"0","userId":"u","time":1730192400000,"meta":{"a":[{"b":{"c":"d"}}],"e":false},"tags":["x","y"]}],"trailer":"z"}'
seed envelope_unicode '{"type":"user:connection_status","id":"\u00e9v\u00e9nement","time":1730192400000,"data":[{"status":"0","userId":"\u7528\u6237_\ud83d\ude00","os":"MiniProgram","time":1730192400000,"sessionId":"s\"e\\s\/s\b\f\n\r\t"}]}'
seed envelope_utf8_raw '{"type":"user:connection_status","id":"évé","time":1730192400000,"data":[{"status":"1","userId":"用户😀","time":1730192400000}]}'
seed envelope_max_time '{"type":"user:connection_status","id":"m","time":253402300799999,"data":[{"status":"0","userId":"u","time":253402300799999}]}'
seed envelope_zero_time '{"type":"user:connection_status","id":"z","time":0,"data":[{"status":"0","userId":"u","time":0}]}'
seed envelope_long_ids "{\"type\":\"user:connection_status\",\"id\":\"l\",\"time\":1730192400000,\"data\":[{\"status\":\"0\",\"userId\":\"$(printf 'u%.0s' {1..256})\",\"sessionId\":\"$(printf 's%.0s' {1..256})\",\"time\":1730192400000}]}"
seed bad_long_userId "{\"status\":\"0\",\"userId\":\"$(printf 'u%.0s' {1..257})\",\"time\":1730192400000}"
seed bad_long_sessionId "{\"status\":\"0\",\"userId\":\"u\",\"sessionId\":\"$(printf 's%.0s' {1..257})\",\"time\":1730192400000}"
seed foreign_message '{"type":"message:sent","id":"m1","time":1730192400000,"data":[{"anything":true},3,"x",null,[{}]]}'
seed room_join '{"type":"open_channel:operation","id":"550e8400-e29b-41d4-a716-446655440011","time":1730192400000,"data":[{"channelId":"chatroom_001","userIds":["user_001","user_002"],"status":0,"operationType":1,"time":1730192400000}]}'
seed room_mixed '{"type":"open_channel:operation","id":"r2","time":1730192400000,"data":[{"channelId":"c","operationType":0,"status":0,"time":1},{"channelId":"c","userIds":["a"],"operationType":2,"status":"2","time":"2"},{"channelId":"c","operationType":3,"status":3,"time":3,"userIds":[]}]}'
seed bad_room_users '{"type":"open_channel:operation","id":"r3","time":1,"data":[{"channelId":"c","userIds":["a",{"b":1}],"operationType":1,"status":0,"time":1}]}'
seed foreign_group '{"type":"group:member_change","id":"g1","time":1730192400000,"data":[{"groupId":"g","userIds":["a","b"]}]}'
seed legacy_object_userid '{"userid":"legacy_1","status":"0","os":"PC","time":1730192400000}'
seed legacy_object_userId '{"userId":"legacy_2","status":"1","time":"1730192400001","clientIp":"1.2.3.4:5"}'
seed legacy_array '[{"userid":"l1","status":"0","os":"MiniProgram","time":1730192400000},{"userId":"l2","status":"1","time":1730192400001},{"userid":"l3","status":"2","time":1730192400002,"sessionId":"x"}]'
seed legacy_array_one '[{"userid":"l1","status":"0","time":1730192400000}]'
seed legacy_whitespace $' \t\r\n[ {"userid" : "w" ,\n "status" : "0" , "time" : 1 } ]\n'
# Invalid ones: the error paths.
seed bad_trailing '{"status":"0","userId":"u","time":1} {}'
seed bad_truncated '{"type":"user:connection_status","id":"e","time":1730192400000,"data":[{"status":"0","userId":"u'
seed bad_duplicate_key '{"status":"0","userId":"u","time":1,"status":"1"}'
seed bad_userid_and_userId '{"status":"0","userId":"u","userid":"v","time":1}'
seed bad_nul '{"status":"0","userId":"u\u0000","time":1}'
seed bad_status '{"type":"user:connection_status","id":"e","time":1,"data":[{"status":"3","userId":"u","time":1}]}'
seed bad_time_float '{"status":"0","userId":"u","time":1.5}'
seed bad_time_huge '{"status":"0","userId":"u","time":99999999999999999999999}'
seed bad_time_negative '{"status":"0","userId":"u","time":-1}'
seed bad_empty_data '{"type":"user:connection_status","id":"e","time":1,"data":[]}'
seed bad_empty_array '[]'
seed bad_scalar '"just a string"'
seed bad_item_not_object '[{"status":"0","userId":"u","time":1}, 7]'
seed bad_deep '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['
seed bad_lone_surrogate '{"status":"0","userId":"\ud800","time":1}'
printf '{"status":"0","userId":"\xff\xfe","time":1}' > "$P/bad_utf8.json"
printf '{"status":"0","userId":"u","time":1}\x00' > "$P/bad_nul_byte.json"

sig() { printf '%s\0%s\0%s\0%s' "$2" "$3" "$4" "$5" > "$S/$1"; }
sig provider_vector Y1W2MeFwwwRxa0 14314 1408710653000 30be0bbca9c9b2e27578701e9fda2358a814c88f
sig upper_case Y1W2MeFwwwRxa0 14314 1408710653000 30BE0BBCA9C9B2E27578701E9FDA2358A814C88F
sig short_sig s n 1730192400000 abc
sig bad_hex s n 1730192400000 30be0bbca9c9b2e27578701e9fda2358a814c88g
sig bad_ts s n 17301924000001234 30be0bbca9c9b2e27578701e9fda2358a814c88f
sig empty '' '' '' ''
echo "seed corpus: $(ls "$P" | wc -l) payload bodies, $(ls "$S" | wc -l) signature inputs"
