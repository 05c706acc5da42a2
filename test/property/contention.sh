#!/bin/bash
# contention.sh: doc/rules.md section 3.4 invariants 1 and 4 under load.
#
# CONTENTION_CLIENTS (8) pgbench connections send CONTENTION_DELIVERIES (200000) batched
# deliveries in total (contention.sql: 1 to 20 items each, naming CONTENTION_USERS (100) hot
# users in random order, mixed statuses, CONTENTION_SESSIONS (4) identified sessions per user
# plus the anonymous one, times in a CONTENTION_SPAN_MS (1000) ms window so that items repeat).
# Asserts: pgbench exits 0 with every transaction processed and 0 failed; no deadlock counted
# by the server; presence.check() empty; the ingest results add up against presence.events;
# and (with python3-psycopg2) sessions and users equal presence_model.py's recomputation from
# presence.events.  Output is TAP:  prove -e bash test/property/contention.sh
# Needs PGHOST, PGPORT, PGUSER (a superuser); creates and drops its own database.
# 200000 is the full count; it takes far longer than CI can wait (on 2 cores the rate starts
# near 450 deliveries/s and falls as presence.events grows), so CI sets CONTENTION_DELIVERIES
# (20000: about 70 s on an idle 2-core machine).
set -u

here=$(cd "$(dirname "$0")" && pwd)
deliveries=${CONTENTION_DELIVERIES:-200000}
clients=${CONTENTION_CLIENTS:-8}
users=${CONTENTION_USERS:-100}
sessions=${CONTENTION_SESSIONS:-4}
span=${CONTENTION_SPAN_MS:-1000}
threads=${CONTENTION_THREADS:-$(nproc 2>/dev/null || echo 2)}
seed=${CONTENTION_SEED:-20261125}
db=presence_contention_$$
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
diagf() { sed 's/^/# /' "$1"; }
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At -d "$db" "$@"; }

echo "1..8"
per_client=$(( (deliveries + clients - 1) / clients ))
total=$((per_client * clients))
echo "# $total deliveries ($clients clients x $per_client), $users users, $sessions sessions +" \
	"anonymous each, ${span} ms window, pgbench --random-seed=$seed"

# 1. database
if createdb "$db" >"$tmp/err" 2>&1 &&
	psql_q -c "CREATE EXTENSION presence" \
		-c "CREATE TABLE contention_tally (items int, applied int, duplicates int, stale int, ignored int)" \
		>>"$tmp/err" 2>&1; then
	ok "database $db created with CREATE EXTENSION presence"
else
	notok "database $db created with CREATE EXTENSION presence"
	diagf "$tmp/err"
	for k in 2 3 4 5 6 7 8; do notok "skipped: no database"; done
	dropdb --if-exists "$db" >/dev/null 2>&1
	exit 1
fi
deadlocks_before=$(psql_q -c "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")

# 2, 3. pgbench
start=$(date +%s%N)
pgbench -n -M simple -c "$clients" -j "$threads" -t "$per_client" \
	--random-seed="$seed" --max-tries=1 --failures-detailed -P 30 \
	-D users="$users" -D sessions="$sessions" -D span="$span" \
	-f "$here/contention.sql" "$db" >"$tmp/out" 2>"$tmp/err"
rc=$?
end=$(date +%s%N)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
rate=$(awk -v s="$secs" -v t="$total" 'BEGIN { printf "%d", (s > 0 ? t / s : 0) }')
echo "# pgbench: $total deliveries in ${secs}s, $rate deliveries/s"
grep -E '^(tps|latency average|number of)' "$tmp/out" | sed 's/^/# /'
grep '^progress' "$tmp/err" | sed 's/^/# /'
if [ "$rc" -eq 0 ]; then
	ok "pgbench exited 0 (${secs}s, $rate deliveries/s)"
else
	notok "pgbench exited 0 (exit status $rc)"
	grep -v '^pgbench: error: client .* aborted' "$tmp/err" | head -8 | sed 's/^/# /'
fi
processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$tmp/out")
nfailed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$tmp/out")
if [ "${processed:-x}" = "$total" ] && [ "${nfailed:-x}" = 0 ] &&
	! grep -q -i -E 'aborted|error' "$tmp/err"; then
	ok "pgbench processed $processed/$total transactions, 0 failed, no client aborted"
else
	notok "pgbench processed ${processed:-?}/$total transactions, ${nfailed:-?} failed"
	grep -E 'failed|aborted|deadlock|serializ' "$tmp/out" | sed 's/^/# /'
	grep -i -E 'error|aborted|deadlock' "$tmp/err" | sort | uniq -c | sort -rn | head -10 | sed 's/^/# /'
fi

# 4. deadlocks counted by the server in this database
psql_q -c "SELECT pg_stat_force_next_flush()" >/dev/null 2>&1
sleep 1
deadlocks_after=$(psql_q -c "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
if [ -n "$deadlocks_after" ] && [ "$deadlocks_after" = "${deadlocks_before:-x}" ]; then
	ok "server counted 0 deadlocks in $db"
else
	notok "server counted 0 deadlocks in $db (before ${deadlocks_before:-?}, after ${deadlocks_after:-?})"
fi

# 5. the ingest results add up
psql_q -F ' ' -c "
	SELECT (SELECT count(*) FROM contention_tally),
		   (SELECT coalesce(sum(items), 0) FROM contention_tally),
		   (SELECT coalesce(sum(applied + stale), 0) FROM contention_tally),
		   (SELECT coalesce(sum(duplicates), 0) FROM contention_tally),
		   (SELECT coalesce(sum(ignored), 0) FROM contention_tally),
		   (SELECT count(*) FROM contention_tally
			 WHERE items <> applied + duplicates + stale + ignored OR items < 1 OR items > 20
				OR least(applied, duplicates, stale, ignored) < 0),
		   (SELECT count(*) FROM presence.events),
		   (SELECT count(*) FROM presence.sessions),
		   (SELECT count(*) FROM presence.users)" >"$tmp/sums" 2>&1
read -r t_rows t_items t_new t_dups t_ign t_bad n_events n_sessions n_users <"$tmp/sums"
if [ "${t_rows:-x}" = "$total" ] && [ "${t_bad:-x}" = 0 ] && [ "${t_ign:-x}" = 0 ] &&
	[ "${t_new:-x}" = "${n_events:-y}" ] && [ "$((t_new + t_dups))" = "${t_items:-y}" ]; then
	ok "ingest results add up: $t_items items = $t_new applied+stale (= rows in presence.events) + $t_dups duplicates"
else
	notok "ingest results add up"
	echo "# results $t_rows (want $total), items $t_items, applied+stale $t_new, duplicates $t_dups," \
		"ignored $t_ign, bad rows $t_bad, presence.events $n_events"
	diagf "$tmp/sums"
fi

# 6. presence.check() (over a non-empty presence.events)
if psql_q -F ' | ' -c "SELECT * FROM presence.check()" >"$tmp/check" 2>&1 && [ ! -s "$tmp/check" ] &&
	[ "${n_events:-0}" -gt 0 ]; then
	ok "presence.check() returns no rows ($n_events events, $n_sessions sessions, $n_users users)"
else
	notok "presence.check() returns no rows ($(wc -l <"$tmp/check") lines)"
	head -20 "$tmp/check" | sed 's/^/# /'
fi

# 7. independent recomputation of sessions and users from presence.events
py=
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import psycopg2' >/dev/null 2>&1; then py=$p; break; fi
done
if [ -z "$py" ]; then
	ok "sessions and users equal presence_model.py recomputed from presence.events # SKIP python3-psycopg2 missing"
elif python_out=$(PGDATABASE="$db" "$py" "$here/verify_db.py" 2>&1); then
	ok "sessions and users equal presence_model.py recomputed from presence.events"
	echo "$python_out" | sed 's/^/# /'
else
	notok "sessions and users equal presence_model.py recomputed from presence.events"
	echo "$python_out" | head -30 | sed 's/^/# /'
fi

# 8. cleanup
if [ -n "${CONTENTION_KEEP_DB:-}" ]; then
	ok "kept database $db (CONTENTION_KEEP_DB)"
elif dropdb "$db" >"$tmp/err" 2>&1; then
	ok "database dropped"
else
	notok "database dropped"
	diagf "$tmp/err"
fi
exit $failed
