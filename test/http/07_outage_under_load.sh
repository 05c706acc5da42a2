#!/bin/bash
# test/http/07_outage_under_load.sh: database outages under a steady load of
# signed deliveries.  A load generator (tools/loadgen.py: 8 concurrent
# keep-alive clients on loopback, every delivery a distinct signed body with
# its own userId, sessionId and time) runs while PostgreSQL is stopped twice
# for a few seconds, once with a fast and once with an immediate stop, and
# started again.  Asserted:
#   - while the database is down the shim answers 503 with Retry-After
#     (deliveries and /healthz), and nothing else: no 500, no dropped
#     connection, and no 2xx for a delivery that could not have committed;
#   - afterwards it serves 200 again by itself, without a restart;
#   - every delivery that got a 2xx is in presence.events (the client's
#     acknowledged log against the table: not one missing), and the derived
#     tables are consistent (presence.check() is empty).
# Needs PRESENCE_PGCTL and python3.  Takes about 20-30 s.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

if [ -z "${PRESENCE_PGCTL:-}" ]; then
	echo "1..0 # SKIP PRESENCE_PGCTL is not set"
	exit 0
fi
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }

TOOLS=$(cd "$(dirname "$0")" && pwd)/tools
OUTAGE_SECS=${OUTAGE_SECS:-3}

plan 35
setup_db
start_shim --workers 4
shim_pid_at_start=$SHIM_PID

db_stopped=0
LOAD_PID=
restart_db() {
	if [ "$db_stopped" = 1 ]; then
		$PRESENCE_PGCTL start >/dev/null 2>&1
		db_stopped=0
	fi
}
stop_load() {
	if [ -n "$LOAD_PID" ]; then
		touch "$WORK/stop"
		wait "$LOAD_PID"
		LOAD_STATUS=$?
		LOAD_PID=
	fi
}
trap 'stop_load; restart_db; cleanup' EXIT

LOG=$WORK/load.log
: >"$LOG"
python3 "$TOOLS/loadgen.py" --port "$SHIM_PORT" --secret "$SECRET" --clients 8 \
	--duration 50 --max 100000 --stop-file "$WORK/stop" --log "$LOG" --prefix "lg$$" \
	2>"$WORK/load.err" &
LOAD_PID=$!

# acked_since <ms>: a delivery started at or after <ms> got a 2xx
acked_since() {
	awk -F'\t' -v t="$1" '$6 ~ /^2/ && $8 >= t { found = 1; exit } END { exit !found }' "$LOG"
}
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE/healthz")" = 200 ]; }

wait_until 10 acked_since 0
ok $? "the load generator gets 200s"
sleep 1.5

# outage <stop|stop-immediate>: stop the database for OUTAGE_SECS seconds
# under load, probe the shim meanwhile, start the database again and wait for
# the load to be acknowledged again.  Appends "mode begin down up started
# recovered settled" (ms) to $WORK/windows: the stop began at begin, the
# database was certainly down from down to up, was started by started, the
# load was acknowledged again at recovered, and a probe delivery at settled.
outage() {
	local mode=$1 begin down up started recovered
	begin=$(now_ms)
	$PRESENCE_PGCTL "$mode" >/dev/null 2>&1 && db_stopped=1
	down=$(now_ms)
	ok $((1 - db_stopped)) "$mode: the database was stopped"

	sleep 1
	deliver "$(envelope "probe-$mode" "probe-$mode" 0 s1)"
	is "$CODE" 503 "$mode: a delivery while the database is down is 503"
	like "$(header Retry-After)" '^[0-9]+$' "$mode: the 503 carries Retry-After"
	get "$BASE/healthz"
	is "$CODE" 503 "$mode: /healthz is 503 while the database is down"
	sleep $((OUTAGE_SECS - 1))

	up=$(now_ms)
	$PRESENCE_PGCTL start >/dev/null 2>&1 && db_stopped=0
	ok "$db_stopped" "$mode: the database was started again"
	started=$(now_ms)

	wait_until 30 healthy
	ok $? "$mode: /healthz turns 200 again without a restart"
	wait_until 30 acked_since "$started"
	ok $? "$mode: the load is acknowledged with 200 again"
	recovered=$(now_ms)
	# Each worker reconnects on its own backoff: a 503 in between is allowed.
	probe_ok() { deliver "$(envelope "probe-$mode" "probe-$mode" 0 s1)"; [ "$CODE" != 503 ]; }
	wait_until 15 probe_ok
	is "$CODE" 200 "$mode: a probe delivery is accepted again"
	echo "$mode $begin $down $up $started $recovered $(now_ms)" >>"$WORK/windows"
}

outage stop
sleep 1.5
outage stop-immediate
sleep 1.5

stop_load
is "$LOAD_STATUS" 0 "the load generator finished"
is "$SHIM_PID" "$shim_pid_at_start" "the same shim process served throughout"
check "and it is still running" kill -0 "$SHIM_PID"

# ---------- the client's log against the table ----------

total=$(wc -l <"$LOG")
acked=$(awk -F'\t' '$6 ~ /^2/' "$LOG" | wc -l)
n503=$(awk -F'\t' '$6 == 503' "$LOG" | wc -l)
others=$(awk -F'\t' '$6 !~ /^2/ && $6 != 503 { print $6 }' "$LOG" | sort | uniq -c | tr -s ' \n' ' ')
diag "deliveries: $total sent, $acked acknowledged (2xx), $n503 answered 503, other: ${others:-none}"

like "$acked" '^[1-9][0-9]{2,}$' "hundreds of deliveries were acknowledged"
check "some deliveries got 503 during the outages" [ "$n503" -gt 0 ]
is "$(awk -F'\t' '$6 ~ /^5/ && $6 != 503' "$LOG" | wc -l)" 0 "no 5xx other than 503"
is "$(awk -F'\t' '$6 ~ /^ERR/' "$LOG" | wc -l)" 0 "no delivery lost its connection or timed out"
is "$(awk -F'\t' '$6 !~ /^2/ && $6 != 503' "$LOG" | wc -l)" 0 "every reply is a 2xx or a 503"
is "$(awk -F'\t' '$6 == 503 && $7 !~ /^[0-9]+$/' "$LOG" | wc -l)" 0 "every 503 carries Retry-After"

# Per outage: the deliveries sent and answered entirely while the database
# was down got 503, none a 2xx; how many 503s each outage caused.
while read -r mode begin down up started recovered settled; do
	inside=$(awk -F'\t' -v d="$down" -v u="$up" '$8 >= d && $9 <= u' "$LOG" | wc -l)
	inside_ok=$(awk -F'\t' -v d="$down" -v u="$up" '$8 >= d && $9 <= u && $6 ~ /^2/' "$LOG" | wc -l)
	around=$(awk -F'\t' -v b="$begin" -v r="$recovered" '$6 == 503 && $9 >= b && $8 <= r' "$LOG" | wc -l)
	diag "$mode: $inside deliveries wholly inside the outage; $around 503s from the stop until the load was acknowledged again ($((recovered - started)) ms after it was up)"
	late=$(awk -F'\t' -v u="$started" -v s="$settled" '$6 == 503 && $8 >= u + 1000 && $8 <= s { n++; if ($9 - u > m) m = $9 - u } END { printf "%d (the last %d ms after it was up)", n, m }' "$LOG")
	diag "$mode: 503s sent a second or more after the database was up: $late"
	check "$mode: deliveries were sent while the database was down" [ "$inside" -gt 0 ]
	is "$inside_ok" 0 "$mode: none of them got a 2xx"
done <"$WORK/windows"

# Every acknowledged delivery is in presence.events (user ids are unique per
# delivery, so user, session, status and time identify it).
awk -F'\t' -v OFS='\t' '$6 ~ /^2/ { print $3, $4, $5 }' "$LOG" >"$WORK/acked.tsv"
awk -F'\t' -v OFS='\t' '$6 !~ /^2/ { print $3, $4, $5 }' "$LOG" >"$WORK/refused.tsv"
psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" >"$WORK/compare" 2>&1 <<EOF
CREATE TEMP TABLE acked (user_id text, session_id text, t bigint);
CREATE TEMP TABLE refused (user_id text, session_id text, t bigint);
\copy acked FROM '$WORK/acked.tsv'
\copy refused FROM '$WORK/refused.tsv'
SELECT 'loaded', count(*) FROM acked;
SELECT 'missing', count(*) FROM acked a
 WHERE NOT EXISTS (SELECT 1 FROM presence.events e
                    WHERE e.user_id = a.user_id AND e.session_id = a.session_id
                      AND e.status = '0'
                      AND (extract(epoch FROM e.status_time) * 1000)::bigint = a.t);
SELECT 'committed_but_refused', count(*) FROM refused r
 WHERE EXISTS (SELECT 1 FROM presence.events e WHERE e.user_id = r.user_id);
SELECT 'missing_example', a.user_id FROM acked a
 WHERE NOT EXISTS (SELECT 1 FROM presence.events e WHERE e.user_id = a.user_id)
 ORDER BY 2 LIMIT 5;
SELECT 'check_rows', count(*) FROM presence.check();
EOF
val() { awk -F'|' -v k="$1" '$1 == k { print $2 }' "$WORK/compare"; }
is "$(val loaded)" "$acked" "the acknowledged log was loaded"
is "$(val missing)" 0 "every acknowledged delivery is in presence.events (missing: $(val missing))"
grep '^missing_example' "$WORK/compare" | sed 's/^/# /'
diag "refused (non-2xx) deliveries that were committed anyway: $(val committed_but_refused)"
is "$(val check_rows)" 0 "presence.check() finds nothing inconsistent"
is "$(sql "SELECT count(*) FROM presence.users WHERE user_id LIKE 'lg$$-%' AND online_sessions <> 1")" 0 \
	"every loaded user has exactly its one session online"

get "$BASE/metrics"
like "$BODY" 'presence_http_db_reconnects_total [1-9]' "reconnects are counted"
