#!/bin/bash
# test/http/12_pgbouncer.sh: presence-http behind a real pgbouncer (started
# here as the cluster's owner, on 127.0.0.1, with its own configuration).
#   - transaction pooling: deliveries from several clients at once all get
#     200, and PostgreSQL logs no error about the prepared batch statement
#     (each transaction may run on another server connection);
#   - session pooling with the statement prepared (--prepare on): the same;
#   - PostgreSQL stopped behind either pooler: every delivery and /healthz
#     still gets its 503 within --db-timeout (pgbouncer would hold the query
#     for query_wait_timeout, 120 s; a connection attempt hangs in its
#     login), and once PostgreSQL is back both serve 200 without a restart.
# Needs pgbouncer and PRESENCE_PGCTL.  The new settings come from the
# environment, so that a binary without them still starts.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

if [ -z "${PRESENCE_PGCTL:-}" ]; then
	echo "1..0 # SKIP PRESENCE_PGCTL is not set"
	exit 0
fi
command -v pgbouncer >/dev/null || { echo "1..0 # SKIP pgbouncer is not installed"; exit 0; }

DBT=2
BOUND_MS=$((DBT * 1000 + 1500))

plan 20
setup_db
export PRESENCE_HTTP_DB_TIMEOUT=$DBT

db_stopped=0
TX_PID=
restart_db() {
	if [ "$db_stopped" = 1 ]; then
		$PRESENCE_PGCTL start >/dev/null 2>&1
		db_stopped=0
	fi
}
stop_tx() {
	if [ -n "$TX_PID" ]; then kill -TERM "$TX_PID" 2>/dev/null; wait "$TX_PID" 2>/dev/null; fi
	TX_PID=
}
trap 'stop_tx; restart_db; cleanup' EXIT

start_pgbouncer tx transaction
TX_PGB=$PGB_PORT
start_pgbouncer sess session
SESS_PGB=$PGB_PORT
diag "pgbouncer: transaction pooling on $TX_PGB, session pooling on $SESS_PGB"

# burst <base url> <label>: 4 clients, 12 deliveries each, at once; sets GOOD
burst() {
	local base=$1 label=$2 c i pids=()
	for c in 1 2 3 4; do
		(
			for i in $(seq 1 12); do
				sign
				curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 \
					--data-binary "$(envelope "ev-$label-$c-$i" "$label-u$c-$i" 0 s1)" \
					"$base/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG"
			done
		) >"$WORK/$label.$c.codes" &
		pids+=($!)
	done
	wait "${pids[@]}"
	GOOD=$(cat "$WORK/$label".*.codes | grep -c '^200$')
}

# ---------- transaction pooling, default --prepare (auto) ----------
mark=$(server_log_mark)
start_shim --workers 3 --db "host=127.0.0.1 port=$TX_PGB dbname=$DB user=postgres"
TX_PID=$SHIM_PID TX_BASE=$BASE TX_LOG=$SHIM_LOG
SHIM_PID=
burst "$TX_BASE" tx
is "$GOOD" 48 "transaction pooling: all 48 deliveries from 4 clients at once get 200"
is "$(sql "SELECT count(*) FROM presence.users WHERE user_id LIKE 'tx-u%'")" 48 "and are applied"
errors=$(server_log_since "$mark" | grep -c 'prepared statement')
is "$errors" 0 "transaction pooling: no error about a prepared statement in the server log"
server_log_since "$mark" | grep 'prepared statement' | head -n 3 | sed 's/^/#   /'
is "$(grep -c 'failed' "$TX_LOG")" 0 "and no failed call in the shim's log"

# ---------- session pooling, --prepare on ----------
mark=$(server_log_mark)
PRESENCE_HTTP_PREPARE=on start_shim --workers 3 --db "host=127.0.0.1 port=$SESS_PGB dbname=$DB user=postgres"
burst "$BASE" sess
is "$GOOD" 48 "session pooling: all 48 deliveries get 200"
is "$(server_log_since "$mark" | grep -c 'ERROR')" 0 "session pooling: no error in the server log"

# ---------- PostgreSQL stopped behind the poolers ----------
$PRESENCE_PGCTL stop >/dev/null 2>&1 && db_stopped=1
ok $((1 - db_stopped)) "the database was stopped"

# tx: the workers keep their client connections to pgbouncer; the call waits
# there for a server.  sess: the pooler drops the client with its server; the
# next connection attempt waits in its login.
for which in tx sess; do
	if [ "$which" = tx ]; then url=$TX_BASE; else url=$BASE; fi
	t0=$(now_ms)
	sign
	post "$url/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" "$(envelope "ev-down-$which" "down-$which" 0 s1)"
	ms=$(ms_since "$t0")
	is "$CODE" 503 "$which: a delivery while PostgreSQL is down behind the pooler is 503"
	check "$which: within --db-timeout + 1.5 s (took $ms ms)" [ "$ms" -le $BOUND_MS ]
	t0=$(now_ms)
	get "$url/healthz"
	ms=$(ms_since "$t0")
	is "$CODE" 503 "$which: /healthz is 503"
	check "$which: within --db-timeout + 1.5 s (took $ms ms)" [ "$ms" -le $BOUND_MS ]
done

$PRESENCE_PGCTL start >/dev/null 2>&1 && db_stopped=0
ok "$db_stopped" "the database was started again"
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$1/healthz")" = 200 ]; }
wait_until 20 healthy "$TX_BASE"
ok $? "tx: /healthz turns 200 again without a restart"
wait_until 20 healthy "$BASE"
ok $? "sess: /healthz turns 200 again without a restart"
delivered() { sign; post "$1/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" "$(envelope "ev-up-$2" "up-$2" 0 s1)"; [ "$CODE" = 200 ]; }
wait_until 10 delivered "$TX_BASE" tx
is "$CODE" 200 "tx: deliveries get 200 again"
wait_until 10 delivered "$BASE" sess
is "$CODE" 200 "sess: deliveries get 200 again"
