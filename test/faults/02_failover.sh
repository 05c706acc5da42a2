#!/bin/bash
# test/faults/02_failover.sh: a hot standby, a failover and a fence.
#   - A hot standby made with pg_basebackup -R: every ingest entry point
#     refuses with 25006 there (not XX000), presence-http pointed at it
#     answers deliveries 503 with Retry-After and /healthz 503; reads, check()
#     and the history functions work on it while it replays the primary's load.
#   - The standby is synchronous; four senders deliver through presence-http
#     with a multi-host conninfo and target_session_attrs=read-write; the
#     primary's postmaster is killed with SIGKILL mid-load and the standby
#     promoted: presence-http follows by itself, and every delivery
#     acknowledged before or after is on the new primary, check() empty.
#   - The new primary fenced (ALTER SYSTEM SET default_transaction_read_only
#     = on, reload): nothing is acknowledged (503), nothing is written;
#     unfenced, deliveries are acknowledged again.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 28
node p 1
setup_db
standby p s 2
q p "ALTER SYSTEM SET synchronous_standby_names = 's'" >/dev/null
q p "SELECT pg_reload_conf()" >/dev/null
sync_standby() { [ "$(q p "SELECT sync_state FROM pg_stat_replication WHERE application_name = 's'")" = sync ]; }
wait_until 30 sync_standby
ok $? "the standby streams, synchronous"
is "$(q s "SELECT pg_is_in_recovery()")" t "(the standby is in recovery)"

# ---------- on the hot standby ----------

sign
body=$(envelope sb-1 alice 0 s1)
is "$(sqlstate s "SELECT presence_ingest('$body', '$NONCE', '$TS', '$SIG')")" 25006 "presence_ingest on a standby: 25006"
is "$(sqlstate s "SELECT * FROM presence_ingest_batch(ARRAY['$body'], ARRAY['$NONCE'], ARRAY['$TS'], ARRAY['$SIG'])")" 25006 \
	"presence_ingest_batch on a standby: 25006"
is "$(sqlstate s "SELECT presence_ingest_unsigned('$body')")" 25006 "presence_ingest_unsigned on a standby: 25006"

start_shim --db "host=$WORK/s port=$(port_of s) dbname=$DB"
deliver "$body"
is "$CODE" 503 "presence-http pointed at the standby answers a delivery 503"
like "$(header Retry-After)" '^[0-9]+$' "with Retry-After"
get "$BASE/healthz"
is "$CODE" 503 "and /healthz 503"
stop_shim

# ---------- a multi-host conninfo, load, reads on the standby ----------

start_shim --workers 4 --db-timeout 8 \
	--db "host=$WORK/p,$WORK/s port=$(port_of p),$(port_of s) dbname=$DB target_session_attrs=read-write connect_timeout=2"
senders "deliveries through the multi-host conninfo are acknowledged (the primary)"

reads_ok=0 checks=0 grew=0 last=0
for _ in 1 2 3 4 5; do
	n=$(q s "SELECT count(*) FROM presence.events") || reads_ok=1
	[ "${n:-0}" -gt "$last" ] && grew=$((grew + 1))
	last=${n:-0}
	u=$(q s "SELECT user_id FROM presence.users ORDER BY last_seen_at DESC LIMIT 1") || reads_ok=1
	q s "SELECT count(*) FROM presence.user_history('$u', now() - interval '1 hour', now())" >/dev/null || reads_ok=1
	q s "SELECT presence.online_time('$u', now() - interval '1 hour', now())" >/dev/null || reads_ok=1
	q s "SELECT count(*) FROM presence.online_at(now())" >/dev/null || reads_ok=1
	q s "SELECT count(*) FROM presence.online_counts(now() - interval '1 minute', now(), interval '10 seconds')" >/dev/null || reads_ok=1
	q s "SELECT count(*) FROM presence.intervals(now() - interval '1 hour', now())" >/dev/null || reads_ok=1
	c=$(q s "SELECT count(*) FROM presence.check()") || reads_ok=1
	[ "$c" = 0 ] || checks=$((checks + 1))
	sleep 0.5
done
u=$(q s "SELECT user_id FROM presence.users WHERE online LIMIT 1")
is "$(sqlstate s "SELECT presence_reconcile('$u', false)")" 25006 "presence_reconcile of an online user on a standby: 25006"
ok "$reads_ok" "the reads and the history functions work on the standby under replay"
check "the standby replays the load meanwhile (events grew $grew times of 5)" [ "$grew" -ge 2 ]
is "$checks" 0 "presence.check() on the standby is empty every time"

# ---------- failover: the primary dies, the standby is promoted ----------

crash p
t_crash=$(now_ms)
sleep 1
pgctl s -w promote >/dev/null 2>&1
ok $? "the synchronous standby is promoted"
t_promoted=$(now_ms)
wait_until 60 acked_after "$LOG" "$t_promoted"
ok $? "presence-http follows the failover by itself: acknowledged again"
sleep 2
load_stop
is "$LOAD_STATUS" 0 "the senders finished"
acked=$(acked_count "$LOG")
diag "deliveries: $(wc -l <"$LOG") sent, $acked acknowledged ($(acked_count "$LOG" "$t_promoted") after the promotion), others: $(awk -F'\t' '$6 !~ /^2/ { print $6 }' "$LOG" | sort | uniq -c | tr -s ' \n' ' ')"
is "$(awk -F'\t' '$6 ~ /^5/ && $6 != 503' "$LOG" | wc -l)" 0 "no 5xx other than 503"
check "hundreds were acknowledged before the crash" [ "$(awk -F'\t' -v t="$t_crash" '$6 ~ /^2/ && $9 < t' "$LOG" | wc -l)" -ge 100 ]
is "$(missing s "$LOG")" 0 "the new primary has every delivery acknowledged, before the crash and after"
is "$(q s "SELECT count(*) FROM presence.check()")" 0 "presence.check() on the new primary is empty"
is "$(amcheck s)" "" "pg_amcheck finds nothing"
like "$(cat "$SHIM_LOG")" 'lost the database connection|takes no writes' "the shim logged the loss"

# ---------- the new primary fenced ----------

QDB=postgres q s "ALTER SYSTEM SET default_transaction_read_only = on" >/dev/null
QDB=postgres q s "SELECT pg_reload_conf()" >/dev/null
unhealthy() { get "$BASE/healthz"; [ "$CODE" = 503 ]; }
wait_until 30 unhealthy
ok $? "/healthz is 503 once the primary is fenced"
before=$(QDB=$DB q s "SET default_transaction_read_only = off; SELECT count(*) FROM presence.events" | tail -1)
FLOG=$WORK/fenced.log
load_start "$SHIM_PORT" "$FLOG" --prefix "fence$$"
sleep 4
load_stop
diag "fenced: $(wc -l <"$FLOG") deliveries sent: $(awk -F'\t' '{ print $6 }' "$FLOG" | sort | uniq -c | tr -s ' \n' ' ')"
check "deliveries were sent to the fenced primary" [ "$(wc -l <"$FLOG")" -gt 10 ]
is "$(acked_count "$FLOG")" 0 "the fenced primary acknowledges nothing"
is "$(awk -F'\t' '$6 != 503' "$FLOG" | wc -l)" 0 "every reply is 503"
is "$(QDB=$DB q s "SET default_transaction_read_only = off; SELECT count(*) FROM presence.events" | tail -1)" "$before" "nothing was written"

QDB=postgres q s "ALTER SYSTEM RESET default_transaction_read_only" >/dev/null
QDB=postgres q s "SELECT pg_reload_conf()" >/dev/null
probe() { deliver "$(envelope unfenced-1 bob 0 s1)"; [ "$CODE" = 200 ]; }
wait_until 30 probe
ok $? "unfenced, a delivery is acknowledged again"
