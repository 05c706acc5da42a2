#!/bin/bash
# test/http/08_bad_clients.sh: presence-http under misbehaving clients
# (tools/badclient.py, loopback only, each attack bounded in time and count):
#   slowloris   64 connections sending headers a byte at a time
#   bigbody     bodies of 1 MB (--max-body is 64 KB), with Content-Length and chunked
#   truncated   a Content-Length, half the body, then close; and half the body, then stall
#   bigheader   requests with 64 KB of headers
#   flood       300 idle connections at once, beyond --max-connections 128
# While each attack runs a good client's signed delivery still gets 200, the
# shim stays up, and its memory (VmRSS, sampled every 0.1 s) stays under
# 64 MB and returns near the baseline afterwards.
#
# Takes about 40 s.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }

TOOLS=$(cd "$(dirname "$0")" && pwd)/tools
TIMEOUT=3
LIMIT=128
RSS_CAP_KB=$((64 * 1024))

plan 30
setup_db
start_shim --workers 2 --timeout $TIMEOUT --max-connections $LIMIT --max-body 65536

# The value of a key of the JSON object in a file, "" when absent.
jget() {
	python3 -c 'import json,sys; v = json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"
}

rss_now() { awk '/^VmRSS:/ { print $2 }' "/proc/$SHIM_PID/status"; }

# RSS sampler: "ms kB" lines, every 0.1 s, while the shim runs.
(
	while kill -0 "$SHIM_PID" 2>/dev/null; do
		echo "$(now_ms) $(awk '/^VmRSS:/ { print $2 }' "/proc/$SHIM_PID/status" 2>/dev/null)"
		sleep 0.1
	done
) >"$WORK/rss.log" 2>/dev/null &
# rss_max <from ms> <to ms>: the largest sample in the interval
rss_max() { awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b && $2 > m { m = $2 } END { print m + 0 }' "$WORK/rss.log"; }

GOOD=0
good() {
	# good <label>: a good signed delivery; sets CODE and GOOD_MS
	local t0
	GOOD=$((GOOD + 1))
	t0=$(now_ms)
	deliver "$(envelope "good-$GOOD" "good-$GOOD" 0 s1)"
	GOOD_MS=$(($(now_ms) - t0))
	is "$CODE" 200 "$1: a good delivery gets 200 (in $GOOD_MS ms)"
}

# attack <name> <badclient args...>: start an attack in the background
attack() {
	local name=$1; shift
	PHASE_START=$(now_ms)
	python3 "$TOOLS/badclient.py" "$@" --port "$SHIM_PORT" >"$WORK/$name.json" 2>"$WORK/$name.err" &
	ATTACK_PID=$!
}
# finish <name>: wait for the attack, report its counts and the RSS
finish() {
	wait "$ATTACK_PID"
	PHASE_END=$(now_ms)
	PEAK=$(rss_max "$PHASE_START" "$PHASE_END")
	diag "$1: $(cat "$WORK/$1.json") rss peak ${PEAK} kB"
	check "$1: the shim is still running" kill -0 "$SHIM_PID"
}

# Warm up (workers connected, a few requests served), then the baseline.
for _ in 1 2 3; do deliver "$(envelope warm warm 0 s0)"; done
sleep 0.5
BASELINE=$(rss_now)
diag "baseline VmRSS ${BASELINE} kB"

# ---------- slowloris ----------
attack slowloris slowloris --conns 64 --interval 0.25 --duration 7
sleep 1.5
good "slowloris"
finish slowloris
# doc/rules.md section 6 says slow clients time out; libmicrohttpd's timeout is one of
# inactivity, so a byte every 0.25 s would keep a connection forever: the shim
# gives every request's headers a deadline of --timeout.
is "$(jget "$WORK/slowloris.json" still-open)" 0 \
	"slowloris: connections that never finish their headers are closed within --timeout"

# ---------- bodies over --max-body ----------
attack bigbody bigbody --conns 4 --duration 3 --size 1048576
sleep 1
good "bigbody"
finish bigbody
is "$(python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print(sum(v for k, v in d.items() if k not in ("length:413", "chunked:413", "chunked:closed")))' "$WORK/bigbody.json")" 0 \
	"bigbody: every oversized body got 413 (or, chunked, was cut off)"
check "bigbody: with Content-Length the answer is 413" [ "$(jget "$WORK/bigbody.json" length:413)" -gt 0 ]

# ---------- truncated bodies ----------
before_abort=$(grep -c 'note=client-abort' "$SHIM_LOG")
before_timeout=$(grep -c 'note=timeout' "$SHIM_LOG")
attack truncated truncated --conns 4 --count 100 --size 60000
good "truncated then closed"
finish truncated
is "$(jget "$WORK/truncated.json" sent-half)" 100 "truncated: 100 requests sent half their body and closed"
sleep 1
aborted=$(($(grep -c 'note=client-abort' "$SHIM_LOG") - before_abort))
# A client that sends its request and closes at once must free its slot at
# once: libmicrohttpd's epoll loop missed a close that came with the data (the
# shim uses poll), and a burst of such clients then filled --max-connections.
check "truncated: each is seen as a client abort within a second (seen: $aborted)" \
	[ "$aborted" -ge 100 ]
sleep $((TIMEOUT + 1))
timed_out=$(($(grep -c 'note=timeout' "$SHIM_LOG") - before_timeout))
is "$timed_out" 0 "truncated: none holds its connection until the timeout"

attack stalled truncated --hold --conns 60 --duration $((TIMEOUT + 4)) --size 60000
sleep 1
good "truncated and stalled"
finish stalled
is "$(jget "$WORK/stalled.json" still-open)" 0 "stalled: every stalled body was timed out"
check "stalled: within --timeout plus 2 s ($(jget "$WORK/stalled.json" max_seconds_to_close) s)" \
	python3 -c "import sys; sys.exit(not float('$(jget "$WORK/stalled.json" max_seconds_to_close)' or 99) <= $TIMEOUT + 2)"

# ---------- 64 KB of headers ----------
attack bigheader bigheader --conns 4 --duration 3 --size 65536
sleep 1
good "bigheader"
finish bigheader
is "$(python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print(sum(v for k, v in d.items() if k not in ("431", "413", "400", "closed")))' "$WORK/bigheader.json")" 0 \
	"bigheader: every request with 64 KB of headers is refused (431) or closed, none left hanging"

# ---------- a flood of connections beyond --max-connections ----------
attack flood flood --conns 300 --duration $((3 * TIMEOUT))
sleep 1
# Idle connections hold their slots until --timeout; the good client waits in
# the accept backlog meanwhile, so it may take a few timeouts, not forever.
good "flood of 300 idle connections (limit $LIMIT)"
check "flood: the good delivery was served within 3 x --timeout + 3 s" [ "$GOOD_MS" -le $((3000 * TIMEOUT + 3000)) ]
finish flood
check "flood: the idle connections were timed out, not kept ($(jget "$WORK/flood.json" closed-later) closed)" \
	[ "$(jget "$WORK/flood.json" closed-later)" -ge $LIMIT ]
good "after the flood"

# ---------- the shim afterwards ----------
get "$BASE/healthz"
is "$CODE" 200 "/healthz is 200 after all attacks"
get "$BASE/metrics"
is "$CODE" 200 "/metrics is 200 after all attacks"
like "$BODY" 'presence_http_requests_total\{code="413"\} [1-9]' "the 413s are counted"

sleep 1
AFTER=$(rss_now)
PEAK=$(rss_max 0 "$(now_ms)")
diag "VmRSS: baseline ${BASELINE} kB, peak ${PEAK} kB, after ${AFTER} kB"
check "memory stayed under 64 MB (peak ${PEAK} kB)" test "$PEAK" -gt 0 -a "$PEAK" -lt $RSS_CAP_KB
check "memory returned near the baseline (after ${AFTER} kB, baseline ${BASELINE} kB: within 16 MB)" \
	[ "$AFTER" -lt $((BASELINE + 16 * 1024)) ]
is "$(grep -c 'presence-http: stopped' "$SHIM_LOG")" 0 "the shim never stopped"
