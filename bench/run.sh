#!/usr/bin/env bash
# bench/run.sh: the presence benchmark, in one run of under 10 minutes.
#
# Starts its own throwaway PostgreSQL server, of the major scripts/lib.sh picks (initdb in a temporary
# directory, its own socket directory and port, shared_preload_libraries =
# 'presence'; as the 'postgres' account when run as root; never a system
# cluster), runs every figure of BENCHMARKS.md against that one server,
# alternating contender and baseline (BENCH_ROUNDS rounds, medians), prints the
# machine, the settings and ONE table, and checks correctness at the end:
# presence.check() must be empty.  Exit status: 0 when the runs completed and
# check() is empty (goals not met are reported in the table, not as failure),
# 1 otherwise.
#
# Environment (all optional):
#   BENCH_PORT (55440)        PostgreSQL port;   BENCH_HTTP_PORT (55450) presence-http port
#   BENCH_SECONDS (10)        length of each timed pgbench/wrk run
#   BENCH_ROUNDS (3)          alternating rounds per figure
#   BENCH_WARMUP_SECONDS (5)  unmeasured pgbench run of each side before figure 1
#   BENCH_MEM_INGEST_CALLS (20000)  ingest calls of figure 7 (plus 1,000,000 parse calls)
#   BENCH_STORM_DELIVERIES (4000)   figure 6 deliveries of 100 items (smaller: smoke tests only)
#   BENCH_NO_INSTALL=1        do not build and install the extension first
#   BENCH_HISTORY_USERS (100000), BENCH_HISTORY_SESSIONS (1000000)  figure 10's size
#   BENCH_SKIP_HTTP=1         skip figures 4, 5, 7a (e.g. presence-http not built)
#   BENCH_SKIP_CLUSTER=1      skip figure 12 (a router and 4 partitions, ports BENCH_PORT+20..+24)
#   BENCH_REPORT=FILE         also write the report (markdown) to FILE
#   BENCH_KEEP=1              keep the temporary directory (logs, raw outputs)
#   BENCH_SETTINGS="a = 1; b = 2"  extra server settings (experiments; printed in the report)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench

. "$ROOT/scripts/lib.sh"		# say, ensure_packages, as_cluster_user, install_extension, start_cluster
PG_CONFIG=$PG_BIN/pg_config
PORT=${BENCH_PORT:-55440}
HTTP_PORT=${BENCH_HTTP_PORT:-55450}
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
WARM=${BENCH_WARMUP_SECONDS:-5}
MEM_INGEST_CALLS=${BENCH_MEM_INGEST_CALLS:-20000}
CLIENTS=4                   # figures 1, 2, 6
HTTP_CONNS=32               # figure 4
HTTP_FLAGS=(--workers 2 --batch-max 64 --batch-wait-us 200 --max-connections 2000)
SIGN_TS=1700000000000       # signTimestamp of every pooled triple (age check off)
SECRET=bench-secret-not-used-elsewhere

die() { say "ERROR: $*"; exit 1; }
started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed() { echo $(($(date +%s) - started)); }


# --- tools -----------------------------------------------------------------
for t in pgbench psql python3 curl; do
	command -v "$t" >/dev/null || die "$t is required"
done
# time: the load generators' CPU (figure 4); wrk: the HTTP load.
PACKAGES="time wrk" ensure_packages
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# --- build ------------------------------------------------------------------
if [ -z "${BENCH_NO_INSTALL:-}" ]; then
	say "building and installing the extension"
	install_extension
fi
HTTP_BIN=$ROOT/src/http/presence-http
if [ -z "${BENCH_SKIP_HTTP:-}" ]; then
	say "building presence-http"
	make -s -C "$ROOT" PG_CONFIG="$PG_CONFIG" http >/dev/null ||
		die "presence-http does not build (BENCH_SKIP_HTTP=1 skips figures 4, 5, 7a)"
	"$HTTP_BIN" --help >/dev/null || die "presence-http --help fails"
fi

code="commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$ROOT" status --porcelain -- src presence--*.sql 2>/dev/null)" ]; then
	code="$code with uncommitted changes in src/ or the install script"
fi

# --- throwaway server ---------------------------------------------------------
dir=$(mktemp -d /tmp/presence-bench.XXXXXX)
chmod 755 "$dir"
http_pid=""
idle_pid=""
cleanup() {
	local rc=$?
	[ -n "$idle_pid" ] && kill "$idle_pid" 2>/dev/null
	if [ -n "$http_pid" ]; then kill "$http_pid" 2>/dev/null; wait "$http_pid" 2>/dev/null; fi
	stop_router_cluster "$dir/cluster"
	stop_cluster "$dir"
	if [ -n "${BENCH_KEEP:-}" ]; then say "kept $dir"; else rm -rf "$dir"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "cluster in $dir, port $PORT"
extra_settings=()
IFS=';' read -r -a extra_settings <<<"${BENCH_SETTINGS:-}"
start_cluster "$dir" "$PORT" "max_connections = 100" "shared_buffers = 512MB" \
	"max_wal_size = 8GB" "checkpoint_timeout = 30min" "log_min_messages = warning" \
	${extra_settings[@]+"${extra_settings[@]}"}
export PGDATABASE=bench
unset PGOPTIONS PGSERVICE
postmaster_pid=$(head -1 "$dir/data/postmaster.pid")
psql -qX -d postgres -c 'CREATE DATABASE bench' >/dev/null
say "setting up the bench schema (bodies, storm deliveries)"
psql -qX -v ON_ERROR_STOP=1 -f "$BENCH/sql/setup.sql" >/dev/null
psql -qX -c 'VACUUM ANALYZE' -c 'CHECKPOINT' >/dev/null

out=$dir/out
mkdir -p "$out"
results=$dir/results.tsv
: >"$results"
put() { printf '%s\t%s\n' "$1" "$2" >>"$results"; }
get() { awk -F'\t' -v k="$1" '$1 == k {print $2}' "$results"; }
# Counters kept in files: the figure functions run in $(...) subshells.
counter() { cat "$dir/$1" 2>/dev/null || echo 0; }
count_up() { echo $(($(counter "$1") + $2)) >"$dir/$1"; }
sql() { psql -qXAt -v ON_ERROR_STOP=1 -c "$1"; }

# CPU accounting (figure 4): clock ticks from /proc.  The server's are the
# postmaster's own, its exited children's (added to it when reaped) and its
# live children's; the load generator's come from /usr/bin/time.
TICK=$(getconf CLK_TCK)
stat_fields() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null; }   # fields from 3 on
server_ticks() {
	local t p
	t=$(stat_fields "$postmaster_pid" | awk '{print $12 + $13 + $14 + $15}')
	for p in $(pgrep -P "$postmaster_pid"); do
		t=$((t + $(stat_fields "$p" | awk '{print $12 + $13} END {if (NR == 0) print 0}')))
	done
	echo "$t"
}
process_ticks() { stat_fields "$1" | awk '{print $12 + $13}'; }
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat; }   # busy idle
# cpu_begin; ...run...; cpu_end KEY TIME_FILE: add the run's ticks to KEY.*
cpu_begin() { echo "$(server_ticks) $(process_ticks "${http_pid:-$$}") $(machine_ticks)" >"$dir/cpu.begin"; }
cpu_end() {
	local key=$1 tf=$2 s0 h0 b0 i0 b1 i1 u s
	read -r s0 h0 b0 i0 <"$dir/cpu.begin"
	read -r b1 i1 <<<"$(machine_ticks)"
	count_up "cpu.$key.server" $(($(server_ticks) - s0))
	[ -n "$http_pid" ] && count_up "cpu.$key.http" $(($(process_ticks "$http_pid") - h0))
	read -r u s <"$tf"
	count_up "cpu.$key.load" "$(python3 -c "print(round(($u + $s) * $TICK))")"
	count_up "cpu.$key.busy" $((b1 - b0))
	count_up "cpu.$key.all" $((b1 - b0 + i1 - i0))
}

# Every pgbench run gets its own counter range, so items are never repeated.
# pgbench_tps NAME SCRIPT ARGS...: run pgbench, print its tps (no failed
# transaction allowed).  A run killed by a signal from outside (this machine is
# shared) is retried once, with a fresh counter range; the retry is logged.
pgbench_tps() {
	local name=$1 script=$2; shift 2
	local log=$out/$name.log try rc
	for try in 1 2; do
		count_up runs 1
		rc=0
		/usr/bin/time -f '%U %S' -o "$log.time" \
			pgbench -n -M prepared -D n=$(($(counter runs) * 10000000)) -D nusers=100000 -f "$BENCH/pgbench/$script" "$@" \
			>"$log" 2>&1 || rc=$?
		[ "$rc" -eq 0 ] && break
		# Stopped from outside: no result and no SQL error in its log.
		if [ "$try" -eq 1 ] && ! grep -q -e '^tps = ' -e 'ERROR' "$log"; then
			say "pgbench $name stopped (status $rc) without a result; retrying once"
			echo "$name" >>"$dir/retries"
			continue
		fi
		break
	done
	if [ "$rc" -ne 0 ]; then
		cat "$log" >&2
		die "pgbench $name failed"
	fi
	grep -q 'number of failed transactions: 0 ' "$log" || { cat "$log" >&2; die "pgbench $name had failures"; }
	sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$log"
}

# alternate FIG C_FUNC B_FUNC: ROUNDS rounds, contender first in odd rounds.
alternate() {
	local fig=$1 c=$2 b=$3 r v
	for r in $(seq 1 "$ROUNDS"); do
		if [ $((r % 2)) -eq 1 ]; then
			v=$($c "$r"); put "$fig.c.$r" "$v"
			v=$($b "$r"); put "$fig.b.$r" "$v"
		else
			v=$($b "$r"); put "$fig.b.$r" "$v"
			v=$($c "$r"); put "$fig.c.$r" "$v"
		fi
		say "  $fig round $r: contender $(get "$fig.c.$r"), baseline $(get "$fig.b.$r")"
	done
}

# --- figures 1 and 2: single-item deliveries, 4 clients ------------------------
f1_c() { PGOPTIONS='-c synchronous_commit=off' pgbench_tps "f1c$1" ingest_one.sql -c $CLIENTS -j 2 -T "$SECS"; }
f1_b() { PGOPTIONS='-c synchronous_commit=off' pgbench_tps "f1b$1" insert_one.sql -c $CLIENTS -j 2 -T "$SECS"; }
f2_c() { PGOPTIONS='-c synchronous_commit=on' pgbench_tps "f2c$1" ingest_one.sql -c $CLIENTS -j 2 -T "$SECS"; }
f2_b() { PGOPTIONS='-c synchronous_commit=on' pgbench_tps "f2b$1" insert_one.sql -c $CLIENTS -j 2 -T "$SECS"; }
# Warm-up, not measured: the first writes after initdb's checkpoint pay for
# full-page images and cold caches; give both sides one short run first.
# Space (figures S1, S6): what the tables hold per row, measured from here.
space() {   # space PREFIX SINCE: bytes and HOT counters since bench.snapshot(SINCE)
	sleep 1     # the exited pgbench backends' statistics reach the shared counters
	psql -qXAt -F $'\t' -v ON_ERROR_STOP=1 -c "SELECT * FROM bench.space('$1', '$2')" >>"$results"
}
sql "SELECT bench.snapshot('start')" >/dev/null
say "warm-up: ${WARM}s of each side, not measured"
PGOPTIONS='-c synchronous_commit=off' pgbench_tps warm_c ingest_one.sql -c $CLIENTS -j 2 -T "$WARM" >/dev/null
PGOPTIONS='-c synchronous_commit=off' pgbench_tps warm_b insert_one.sql -c $CLIENTS -j 2 -T "$WARM" >/dev/null
say "figure 1: synchronous_commit=off ($(elapsed)s)"
alternate f1 f1_c f1_b
space s1 start
# Figure 1 with the live feed (doc/feed.md): the same ingest with
# presence.feed = notify, then logical (start_cluster gives wal_level =
# logical), each alternated against figure 1's run with the feed off.
f1n_c() { PGOPTIONS='-c synchronous_commit=off -c presence.feed=notify' pgbench_tps "f1nc$1" ingest_one.sql -c $CLIENTS -j 2 -T "$SECS"; }
f1l_c() { PGOPTIONS='-c synchronous_commit=off -c presence.feed=logical' pgbench_tps "f1lc$1" ingest_one.sql -c $CLIENTS -j 2 -T "$SECS"; }
f1off_b() { PGOPTIONS='-c synchronous_commit=off' pgbench_tps "f1ob$1" ingest_one.sql -c $CLIENTS -j 2 -T "$SECS"; }
say "figure 1n: presence.feed=notify against off ($(elapsed)s)"
alternate f1n f1n_c f1off_b
say "figure 1l: presence.feed=logical against off ($(elapsed)s)"
alternate f1l f1l_c f1off_b
# The offline grace (doc/feed.md): notify with a 10 s grace against notify alone; a third of
# figure 1's items are disconnects, each then queued for the grace worker.
f1g_c() { PGOPTIONS='-c synchronous_commit=off -c presence.feed=notify -c presence.offline_grace=10s' pgbench_tps "f1gc$1" ingest_one.sql -c $CLIENTS -j 2 -T "$SECS"; }
f1g_b() { PGOPTIONS='-c synchronous_commit=off -c presence.feed=notify' pgbench_tps "f1gb$1" ingest_one.sql -c $CLIENTS -j 2 -T "$SECS"; }
say "figure 1g: presence.offline_grace=10s against notify alone ($(elapsed)s)"
alternate f1g f1g_c f1g_b
say "figure 2: synchronous_commit=on ($(elapsed)s)"
alternate f2 f2_c f2_b
# Figure 2g: how late the grace worker sends the delayed offlines while figure 2's load
# runs with presence.feed=notify and a 2 s grace.  A trigger of the benchmark's own notes,
# for each row the worker deletes, its deadline and the time it is sent (the deleting
# transaction's clock); ingest's cancellations (deleted before their deadline) are left out.
say "figure 2g: lateness of the delayed offlines under figure 2's load ($(elapsed)s)"
sql "CREATE TABLE bench.grace_sent (due_at timestamptz, sent_at timestamptz);
	CREATE FUNCTION bench.note_grace_sent() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS \$f\$
	BEGIN
		IF OLD.due_at <= clock_timestamp() THEN
			INSERT INTO bench.grace_sent VALUES (OLD.due_at, clock_timestamp());
		END IF;
		RETURN NULL;
	END \$f\$;
	CREATE TRIGGER bench_grace_sent AFTER DELETE ON presence.pending_offlines
		FOR EACH ROW EXECUTE FUNCTION bench.note_grace_sent()" >/dev/null
put f2g.tps "$(PGOPTIONS='-c synchronous_commit=on -c presence.feed=notify -c presence.offline_grace=2s' \
	pgbench_tps f2g ingest_one.sql -c $CLIENTS -j 2 -T "$SECS")"
for _ in $(seq 1 60); do
	[ "$(sql "SELECT count(*) FROM presence.pending_offlines")" = 0 ] && break
	sleep 1
done
psql -qXAt -F $'\t' -v ON_ERROR_STOP=1 >>"$results" <<'SQL'
SELECT 'f2g.' || k, v FROM (
	SELECT count(*)::text AS n,
		   round((1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY sent_at - due_at)))::numeric, 1)::text AS p50,
		   round((1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP (ORDER BY sent_at - due_at)))::numeric, 1)::text AS p99,
		   round((1000 * extract(epoch FROM max(sent_at - due_at)))::numeric, 1)::text AS max,
		   (SELECT count(*) FROM presence.pending_offlines)::text AS queued
	  FROM bench.grace_sent) s,
	LATERAL (VALUES ('n', n), ('p50', p50), ('p99', p99), ('max', max), ('left', queued)) AS kv(k, v);
SQL
sql "DROP TRIGGER bench_grace_sent ON presence.pending_offlines" >/dev/null

# --- figure 11: reads under write load ---------------------------------------------
# Three readers at once, each its own pgbench at a fixed rate (-R, latency from the
# scheduled start, per-transaction log): (a) 200 friends' presence, (b) one user's
# online sessions, (c) the online count per platform.  Contender: while figure 2's
# write load runs at half its peak (median of figure 2's contender); baseline: the
# same reads with no writes.  Percentiles from the logs; ratio = p99 loaded / idle.
READ_RATES=(200 200 5 50)       # per second: friends, sessions, platforms, room
READ_CLIENTS=(2 2 1 1)
READ_NAMES=(friends sessions platforms room)
f11_reads() {   # f11_reads f11.SIDE.ROUND: run the readers for SECS, put f11{a,b,c}.SIDE.{p50,p99,n}.ROUND
	local tag=$1 i q fig side r pids=() letters=(a b c d)
	for i in "${!READ_NAMES[@]}"; do
		q=${READ_NAMES[$i]}
		pgbench -n -M prepared -f "$BENCH/pgbench/read_$q.sql" -D nusers=100000 -c "${READ_CLIENTS[$i]}" -j 1 \
			-R "${READ_RATES[$i]}" -T "$SECS" -l --log-prefix="$out/lat.$tag.$q" \
			>"$out/$tag.$q.log" 2>&1 &
		pids+=($!)
	done
	for i in "${!READ_NAMES[@]}"; do wait "${pids[$i]}" || { cat "$out/$tag.${READ_NAMES[$i]}.log" >&2; die "reader $tag ${READ_NAMES[$i]} failed"; }; done
	for i in "${!READ_NAMES[@]}"; do
		q=${READ_NAMES[$i]}
		grep -q 'number of failed transactions: 0 ' "$out/$tag.$q.log" || die "reader $tag $q had failures"
		read -r fig side r <<<"${tag//./ }"
		python3 "$BENCH/latency.py" "$fig${letters[$i]}.$side.$r" "$out"/lat."$tag.$q".* |
			sed -E 's/^([^.]*)\.([^.]*)\.([^.]*)\.(p50|p99|n)\t/\1.\2.\4.\3\t/' >>"$results"
	done
}
f11_c() {
	local wpid
	PGOPTIONS='-c synchronous_commit=on' pgbench_tps "f11w$1" ingest_one.sql -c $CLIENTS -j 2 \
		-R "$f11_rate" -T $((SECS + 2)) >"$out/f11w$1.tps" &
	wpid=$!
	sleep 1
	f11_reads "f11.c.$1"
	wait "$wpid" || die "figure 11's write load failed"
	put "f11.wrate.$1" "$(cat "$out/f11w$1.tps")"
}
f11_b() { f11_reads "f11.b.$1"; }
f11_rate=$(python3 -c "import statistics,sys; print(round(statistics.median(float(x) for x in sys.argv[1:]) / 2))" \
	$(grep '^f2\.c\.' "$results" | cut -f2))
put f11.target "$f11_rate"
put f11.users "$(sql "SELECT count(*) FROM presence.users")"
put f11.sessions "$(sql "SELECT count(*) FROM presence.sessions")"
put f11.online "$(sql "SELECT count(*) FROM presence.sessions WHERE state = 'online'")"
# Figure 11d's room: 1,000 of the users above, in one room.
sql "SELECT presence_ingest_unsigned(replace(bench.room_body('bench-online', 'bench_room_online', 1, 1800000000000, 1, 1000), '\"member', '\"user'))" >/dev/null
put f11.room_online "$(sql "SELECT count(*) FROM presence.room_online('bench_room_online')")"
say "figure 11: reads while figure 2's load runs at $f11_rate/s ($(elapsed)s)"
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then f11_c "$r"; f11_b "$r"; else f11_b "$r"; f11_c "$r"; fi
	say "  f11 round $r: p99 loaded / idle: a $(get "f11a.c.p99.$r") / $(get "f11a.b.p99.$r") ms, b $(get "f11b.c.p99.$r") / $(get "f11b.b.p99.$r") ms, c $(get "f11c.c.p99.$r") / $(get "f11c.b.p99.$r") ms, d $(get "f11d.c.p99.$r") / $(get "f11d.b.p99.$r") ms"
done

# --- figure 13: rooms ---------------------------------------------------------------------
# (13) one item naming 1,000 users: joins of a new room, then their leaves, 4 clients,
# against INSERT of the same 1,000 items; (13d) the destroy of a 10,000-member room (made
# before the timed run) against INSERT of 10,000 rows.  Items (memberships) per second.
f13_run() { local tps; tps=$(pgbench_tps "f13$1$2" "$3" -c $CLIENTS -j 2 -T "$SECS" -D k=0); python3 -c "print(round($tps * 1000, 1))"; }
f13_c() { f13_run c "$1" room_ingest.sql; }
f13_b() { f13_run b "$1" room_insert.sql; }
say "figure 13: rooms, joins and leaves of 1,000 users per item ($(elapsed)s)"
alternate f13 f13_c f13_b
f13d_c() {
	local g
	for g in $(seq 0 9); do
		sql "SELECT presence_ingest_unsigned(bench.room_body('big$1-$g', 'big_$1', 1, 1800000000000, $g * 1000 + 1, 1000))" >/dev/null
	done
	local tps; tps=$(pgbench_tps "f13dc$1" room_destroy.sql -c 1 -t 1 -D room="$1")
	python3 -c "print(round($tps * 10000, 1))"
}
f13d_b() { local tps; tps=$(pgbench_tps "f13db$1" room_destroy_insert.sql -c 1 -t 1 -D room="$1"); python3 -c "print(round($tps * 10000, 1))"; }
say "figure 13d: the destroy of a 10,000-member room ($(elapsed)s)"
alternate f13d f13d_c f13d_b
put f13d.closed "$(sql "SELECT count(*) FROM presence.room_members WHERE room_id LIKE 'big\_%' AND left_reason = 'destroyed'")"

# --- figure 3: parse 100,000 distinct bodies -----------------------------------
# One backend for all rounds, after one unmeasured run of each query: a fresh
# backend's first big query pays for growing its heap (page faults), which is
# not parsing.
say "figure 3: parse ($(elapsed)s)"
f3_c='SELECT count(*) FROM bench.bodies b, presence_parse(b.body) p'
f3_b='SELECT count(b.body::jsonb) FROM bench.bodies b'
{
	echo 'SET max_parallel_workers_per_gather = 0;'
	echo "SELECT 'warm', bench.elapsed_ms(\$q\$$f3_c\$q\$), bench.elapsed_ms(\$q\$$f3_b\$q\$);"
	echo "SELECT 'f3.scan', round(bench.elapsed_ms(\$q\$SELECT count(length(b.body)) FROM bench.bodies b\$q\$)::numeric, 1);"
	for r in $(seq 1 "$ROUNDS"); do
		c="SELECT 'f3.c.$r', round(bench.elapsed_ms(\$q\$$f3_c\$q\$)::numeric, 1);"
		b="SELECT 'f3.b.$r', round(bench.elapsed_ms(\$q\$$f3_b\$q\$)::numeric, 1);"
		if [ $((r % 2)) -eq 1 ]; then echo "$c"; echo "$b"; else echo "$b"; echo "$c"; fi
	done
} >"$out/f3.sql"
psql -qXAt -F $'\t' -v ON_ERROR_STOP=1 -f "$out/f3.sql" | grep '^f3\.' >>"$results"
for r in $(seq 1 "$ROUNDS"); do say "  f3 round $r: contender $(get "f3.c.$r") ms, baseline $(get "f3.b.$r") ms"; done

# --- figure 6: reconnect storm ----------------------------------------------------
# 4,000 deliveries of 100 items (200,000 users x 2), run once in ROUNDS slices;
# the baseline inserts the same slice's items, one row each.
ndeliv=${BENCH_STORM_DELIVERIES:-4000}   # smaller only for smoke tests
storm_slice() {   # storm_slice ROUND -> "first per_client"
	local r=$1 per=$((ndeliv / ROUNDS / CLIENTS)) first
	first=$(((r - 1) * per * CLIENTS))
	if [ "$r" -eq "$ROUNDS" ]; then per=$(((ndeliv - first) / CLIENTS)); fi
	echo "$first $per"
}
f6_run() {
	local side=$1 r=$2 script=$3 first per tps
	read -r first per <<<"$(storm_slice "$r")"
	tps=$(pgbench_tps "f6$side$r" "$script" -c $CLIENTS -j 2 -t "$per" -D k=0 -D first="$first" -D nclients=$CLIENTS)
	python3 -c "print(round($tps * 100, 1))"
}
f6_c() { f6_run c "$1" storm_ingest.sql; }
f6_b() { f6_run b "$1" storm_insert.sql; }
[ $((ndeliv % CLIENTS)) -eq 0 ] || die "storm deliveries must divide among clients"
say "figure 6: reconnect storm ($(elapsed)s)"
sql "SELECT bench.snapshot('storm')" >/dev/null
alternate f6 f6_c f6_b
space s6 storm
storm_done=$(sql "SELECT count(DISTINCT user_id) FROM presence.events WHERE user_id LIKE 'storm%'")
put f6.users "$storm_done"

# --- figure 7b: backend memory over many calls --------------------------------------
say "figure 7b: backend memory, $MEM_INGEST_CALLS ingest + 1,000,000 parse calls ($(elapsed)s)"
{
	echo '\set ON_ERROR_STOP 1'
	echo 'SET max_parallel_workers_per_gather = 0;'
	ingest_batch() {   # ingest_batch FROM TO: one statement, one transaction
		echo "SELECT count(presence_ingest_unsigned(bench.item_body(7, g, 1790000000000 + g, g % 3, (g * 7919) % 100000 + 1, g % 3 + 1))) FROM generate_series($1, $2) g;"
	}
	ingest_batch 1 5000                 # warm-up: plans, caches
	echo 'SELECT count(*) FROM bench.bodies b, presence_parse(b.body) p;'
	echo "SELECT 'BEFORE', * FROM bench.backend_memory();"
	step=50
	for ((g = 5001; g <= 5000 + MEM_INGEST_CALLS; g += step)); do ingest_batch "$g" $((g + step - 1)); done
	echo "SELECT 'AFTER_INGEST', * FROM bench.backend_memory();"
	for _ in $(seq 10); do          # 10 x 100,000 bodies, 10,000 calls per statement
		for ((n = 1; n <= 100000; n += 10000)); do
			echo "SELECT count(*) FROM bench.bodies b, presence_parse(b.body) p WHERE b.n BETWEEN $n AND $((n + 9999));"
		done
	done
	echo "SELECT 'AFTER', * FROM bench.backend_memory();"
} >"$out/f7b.sql"
psql -qXAt -F $'\t' -f "$out/f7b.sql" >"$out/f7b.out"
read -r _ ctx0 anon0 rss0 <<<"$(grep '^BEFORE' "$out/f7b.out")"
read -r _ ctx1 anon1 rss1 <<<"$(grep '^AFTER_INGEST' "$out/f7b.out")"
read -r _ ctx2 anon2 rss2 <<<"$(grep $'^AFTER\t' "$out/f7b.out")"
put f7b.calls "$((MEM_INGEST_CALLS + 1000000))"
put f7b.what "$MEM_INGEST_CALLS presence_ingest_unsigned, 50 per statement, then 1,000,000 presence_parse, 10,000 per statement"
put f7b.ctx.before "$ctx0"; put f7b.ctx.mid "$ctx1"; put f7b.ctx.after "$ctx2"
put f7b.anon.before "$anon0"; put f7b.anon.mid "$anon1"; put f7b.anon.after "$anon2"
put f7b.rss.before "$rss0"; put f7b.rss.after "$rss2"
put f7b.ctx_limit 65536
put f7b.anon_limit_kb 1024

# --- HTTP figures: 4, 5, 7a -------------------------------------------------------------
# wrk_run NAME [RATE_PER_CONN] -> the RESULT line.  Pool triples are handed
# out from the counter file "offset"; non-2xx replies and socket errors are
# added up in "non2xx".
wrk_run() {
	local name=$1 rate=${2:-} log=$out/$1.wrk offset line wraps try rc
	for try in 1 2; do
		offset=$(counter offset)
		rc=0
		/usr/bin/time -f '%U %S' -o "$log.time" \
			wrk -t 2 -c $HTTP_CONNS -d "${SECS}s" -s "$BENCH/signed.lua" "http://127.0.0.1:$HTTP_PORT" \
			-- "$pool" $SIGN_TS "$offset" 2 $rate >"$log" 2>&1 || rc=$?
		line=$(grep '^RESULT ' "$log") && [ "$rc" -eq 0 ] && break
		[ "$try" -eq 1 ] || { cat "$log" >&2; die "wrk $name failed"; }
		say "wrk $name stopped (status $rc) without a result; retrying once"
		echo "$name" >>"$dir/retries"
		count_up offset 100000      # whatever it sent stays unused
	done
	wraps=$(sed -n 's/^RESULT_WRAPS //p' "$log")
	[ "${wraps:-0}" -eq 0 ] || say "warning: $name re-used $wraps pooled triples (retries)"
	count_up offset $(($(field requests "$line") + 1000))
	count_up non2xx $(($(field non2xx "$line") + $(field errors "$line")))
	echo "$line"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

if [ -z "${BENCH_SKIP_HTTP:-}" ]; then
	say "HTTP figures: signing pool, presence.signature_max_age = 0 ($(elapsed)s)"
	pool=$dir/pool.txt
	pool_size=500000
	python3 - "$pool" "$pool_size" "$SECRET" "$SIGN_TS" <<'PY'
import hashlib, sys
path, n, secret, ts = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(path, "w") as f:
    for i in range(n):
        nonce = "b%07d" % i          # fixed-width lines: signed.lua reads entries by position
        f.write("%s %s\n" % (nonce, hashlib.sha1((secret + nonce + ts).encode()).hexdigest()))
PY
	chmod 644 "$pool"
	sql "SELECT presence.set_secret('$SECRET')" >/dev/null
	sql "ALTER SYSTEM SET presence.signature_max_age = 0" >/dev/null
	sql "SELECT pg_reload_conf()" >/dev/null
	"$HTTP_BIN" --listen "127.0.0.1:$HTTP_PORT" \
		--db "host=$dir port=$PORT dbname=bench user=postgres" "${HTTP_FLAGS[@]}" \
		>"$out/presence-http.log" 2>&1 &
	http_pid=$!
	for _ in $(seq 50); do
		curl -fs "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && break
		sleep 0.1
	done
	curl -fs "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null || die "presence-http does not answer"
	# Steady state, as on a server that has been running: a checkpoint after the
	# earlier figures' load recycles their WAL segment files as future ones, so
	# figures 4 and 5 reuse files instead of creating (zero-filling) new ones;
	# then one unmeasured run pays the full-page images after that checkpoint.
	say "HTTP warm-up: checkpoint, then ${WARM}s of presence-http, not measured"
	put wal.files_before_checkpoint "$(sql "SELECT count(*) FROM pg_ls_waldir()")"
	sql CHECKPOINT
	put wal.files_after_checkpoint "$(sql "SELECT count(*) FROM pg_ls_waldir()")"
	put wal.ahead_after_checkpoint "$(sql "SELECT count(*) FROM pg_ls_waldir() WHERE name > pg_walfile_name(pg_current_wal_lsn())")"
	SECS=$WARM wrk_run http_warm >/dev/null
	events_before=$(sql "SELECT count(*) FROM presence.events WHERE event_id LIKE 'h%'")
	f4_c() {
		local line
		cpu_begin
		line=$(wrk_run "f4c$1")
		cpu_end f4c "$out/f4c$1.wrk.time"
		count_up cpu.f4c.n "$(field requests "$line")"
		field rps "$line"
	}
	f4_b() {
		local tps
		cpu_begin
		tps=$(pgbench_tps "f4b$1" insert_one.sql -c $HTTP_CONNS -j 2 -T "$SECS")
		cpu_end f4b "$out/f4b$1.log.time"
		count_up cpu.f4b.n "$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out/f4b$1.log")"
		echo "$tps"
	}
	say "figure 4: presence-http vs INSERT, $HTTP_CONNS connections, synchronous_commit=on ($(elapsed)s)"
	alternate f4 f4_c f4_b
	for side in f4c f4b; do
		for part in server http load busy all n; do put "cpu.$side.$part" "$(counter "cpu.$side.$part")"; done
	done
	peak=$(python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" \
		$(grep '^f4\.c\.' "$results" | cut -f2))

	say "figure 5: latency at half of $peak/s ($(elapsed)s)"
	target=$(python3 -c "print($peak / 2)")
	per_conn=$(python3 -c "print($target / $HTTP_CONNS)")
	wal_files=$(sql "SELECT count(*) FROM pg_ls_waldir()")
	wal_lsn=$(sql "SELECT pg_current_wal_lsn()")
	line=$(wrk_run f5 "$per_conn")
	put f5.wal_files "$(( $(sql "SELECT count(*) FROM pg_ls_waldir()") - wal_files ))"
	put f5.wal_mb "$(sql "SELECT round(pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal_lsn') / 1048576)")"
	put f5.target "$target"; put f5.rate "$(field rps "$line")"
	put f5.p50 "$(field p50_ms "$line")"; put f5.p90 "$(field p90_ms "$line")"
	put f5.p99 "$(field p99_ms "$line")"; put f5.max "$(field max_ms "$line")"
	put http.non2xx "$(counter non2xx)"
	events_after=$(sql "SELECT count(*) FROM presence.events WHERE event_id LIKE 'h%'")
	put http.requests "$(counter offset)"
	put http.events "$((events_after - events_before))"
	curl -fs "http://127.0.0.1:$HTTP_PORT/metrics" >"$out/metrics.txt" || true
	put http.batch_mean "$(awk '/^presence_http_batch_size_sum/ {s=$2} /^presence_http_batch_size_count/ {c=$2} END {if (c) printf "%.1f", s/c}' "$out/metrics.txt")"

	say "figure 7a: presence-http RSS with 1,000 idle keep-alive connections ($(elapsed)s)"
	rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
	put f7a.idle_kb "$(rss_kb "$http_pid")"
	coproc IDLE { python3 "$BENCH/idle_conns.py" 127.0.0.1 "$HTTP_PORT" 1000; }
	idle_pid=$IDLE_PID
	read -r ready opened <&"${IDLE[0]}" || die "idle connections failed"
	sleep 1
	put f7a.kb "$(rss_kb "$http_pid")"
	put f7a.open "$opened"
	eval "exec ${IDLE[1]}>&-"
	wait "$idle_pid" 2>/dev/null || true
	idle_pid=""
	kill "$http_pid"; wait "$http_pid" 2>/dev/null || true
	http_pid=""
fi

# --- figure 9: cost per item against the history behind it --------------------------------
say "figure 9: older items carrying os after a history without it ($(elapsed)s)"
for f9 in "1000 1000" "4000 4000" "16000 16000" "1000 100000"; do
	read -r n history <<<"$f9"
	put "f9.$n.$history" "$(PGOPTIONS='-c presence.max_payload_bytes=4194304' \
		sql "SELECT round(bench.older_items_us('flat_${n}_$history', $n, $history)::numeric, 1)")"
done

# --- figure 10: history over many users and sessions -------------------------------------
# Its own database, loaded straight into the tables (bench/sql/history.sql).
f10_users=${BENCH_HISTORY_USERS:-100000}
f10_sessions=${BENCH_HISTORY_SESSIONS:-1000000}
say "figure 10: history functions, $f10_users users, $f10_sessions sessions ($(elapsed)s)"
psql -qX -d postgres -c 'CREATE DATABASE bench_history' >/dev/null
mapfile -t f10 < <(psql -qXAt -d bench_history -v ON_ERROR_STOP=1 -v users="$f10_users" \
	-v sessions="$f10_sessions" -f "$BENCH/sql/history.sql" | grep -E '^[0-9.]+$')
psql -qX -d postgres -c 'DROP DATABASE bench_history' >/dev/null
if [ "${#f10[@]}" -eq 3 ]; then
	put f10.users "$f10_users"
	put f10.sessions "$f10_sessions"
	put f10.online_at "${f10[0]}"
	put f10.user_history "${f10[1]}"
	put f10.online_counts "${f10[2]}"
fi

# --- figure 8: presence.maintain() ------------------------------------------------------
# Every figure above wrote items dated months ago: with a 30-day retention,
# maintain() prunes them all, and presence.check() below must still be empty.
say "figure 8: presence.maintain() over everything the figures wrote ($(elapsed)s)"
put f8.items_before "$(sql "SELECT count(*) FROM presence.events")"
put f8.sessions_before "$(sql "SELECT count(*) FROM presence.sessions")"
f8_t0=$(date +%s%N)
# presence.daily_retention=7d: the figures leave ~200,000 sessions online for months, and
# a first fill_daily() writes a row per user and day for each (doc/history.md).
read -r f8_items f8_sessions <<<"$(PGOPTIONS='-c presence.retention=30d -c presence.daily_retention=7d' psql -qXAt -F ' ' -v ON_ERROR_STOP=1 \
	-c 'CALL presence.maintain()' | cut -d' ' -f1,2)"
put f8.ms "$((($(date +%s%N) - f8_t0) / 1000000))"
put f8.items "$f8_items"
put f8.sessions "$f8_sessions"
put f8.items_after "$(sql "SELECT count(*) FROM presence.events")"

# --- figure 12: scale-out, a router with 4 partitions against one node -------------------
# Both sides fresh: the router's partitions, and a second database bench1 on the bench
# server.  Every server runs on this one machine, so the router cannot be faster here: the
# figure is its overhead (doc/scaling.md).  The partitions commit with
# synchronous_commit = off, like the sessions of figure 1.
f12_c() { PGHOST=$cdir/router PGPORT=$CPORT PGDATABASE=presence PGOPTIONS='-c synchronous_commit=off' \
	pgbench_tps "f12c$1" ingest_one.sql -c $CLIENTS -j 2 -T "$SECS"; }
f12_b() { PGDATABASE=bench1 PGOPTIONS='-c synchronous_commit=off' \
	pgbench_tps "f12b$1" ingest_one.sql -c $CLIENTS -j 2 -T "$SECS"; }
f12s_run() {
	local side=$1 r=$2 first per tps
	read -r first per <<<"$(storm_slice "$r")"
	tps=$(pgbench_tps "f12s$side$r" storm_ingest.sql -c $CLIENTS -j 2 -t "$per" -D k=0 -D first="$first" -D nclients=$CLIENTS)
	python3 -c "print(round($tps * 100, 1))"
}
f12s_c() { PGHOST=$cdir/router PGPORT=$CPORT PGDATABASE=presence f12s_run c "$1"; }
f12s_b() { PGDATABASE=bench1 f12s_run b "$1"; }
if [ -z "${BENCH_SKIP_CLUSTER:-}" ]; then
	say "figure 12: a router with 4 partitions against one node ($(elapsed)s)"
	cdir=$dir/cluster
	CPORT=$((PORT + 20))
	mkdir -p "$cdir"
	( start_router_cluster "$cdir" "$CPORT" 4 "" "shared_buffers = 128MB" "max_wal_size = 8GB" \
		"checkpoint_timeout = 30min" "log_min_messages = warning" "synchronous_commit = off" ) ||
		die "the router cluster did not start"
	sed "/^CREATE EXTENSION presence;$/d" "$BENCH/sql/setup.sql" | psql -qX -v ON_ERROR_STOP=1 -h "$cdir/router" -p "$CPORT" -d presence >/dev/null
	psql -qX -d postgres -c 'CREATE DATABASE bench1' >/dev/null
	psql -qX -v ON_ERROR_STOP=1 -d bench1 -f "$BENCH/sql/setup.sql" >/dev/null
	alternate f12 f12_c f12_b
	alternate f12s f12s_c f12s_b
	put f12.check "$(psql -qXAt -h "$cdir/router" -p "$CPORT" -d presence -c 'SELECT count(*) FROM presence.cluster_check()')"
	put f12.check1 "$(psql -qXAt -d bench1 -c 'SELECT count(*) FROM presence.check()')"
	put f12.users "$(psql -qXAt -h "$cdir/router" -p "$CPORT" -d presence -c "SELECT count(*) FROM presence.cluster_users(ARRAY(SELECT 'storm' || g FROM generate_series(0, 199999) g))")"
	stop_router_cluster "$cdir"
	psql -qX -d postgres -c 'DROP DATABASE bench1' >/dev/null
fi

# --- correctness ---------------------------------------------------------------------
say "correctness: presence.check() ($(elapsed)s)"
nevents=$(sql "SELECT count(*) FROM presence.events")
nbad=$(sql "SELECT count(*) FROM presence.check()")
put check.events "$nevents"
put check.rows "$nbad"

# cpu_note SIDE HTTP_NAME LOAD_NAME: "server X µs, ... (machine busy B%)"
cpu_note() {
	python3 - "$TICK" "$2" "$3" "$(get "cpu.$1.n")" "$(get "cpu.$1.server")" "$(get "cpu.$1.http")" \
		"$(get "cpu.$1.load")" "$(get "cpu.$1.busy")" "$(get "cpu.$1.all")" <<'PY'
import sys
tick, http_name, load_name = float(sys.argv[1]), sys.argv[2], sys.argv[3]
n, server, http, load, busy, total = (float(x or 0) for x in sys.argv[4:])
us = lambda t: "%.0f µs" % (t / tick * 1e6 / n) if n else "n/a"
print("server %s, %s %s, %s %s; machine busy %s (%.0f%% of its CPUs)"
      % (us(server), http_name, us(http), load_name, us(load), us(busy), 100.0 * busy / total if total else 0))
PY
}

# --- report --------------------------------------------------------------------------
runtime=$(elapsed)
{
	echo "## Run of $(date -u '+%Y-%m-%d %H:%M UTC'), $runtime s"
	echo
	echo "Machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr), load average at start: $load_start."
	echo "Code: $code."
	echo "PostgreSQL: $(sql 'SELECT version()')."
	echo "Settings: $(sql "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('shared_buffers','max_wal_size','checkpoint_timeout','fsync','wal_sync_method','synchronous_commit','full_page_writes','wal_level','max_connections','autovacuum','work_mem','presence.signature_max_age','wal_init_zero','min_wal_size')")."
	echo "Tools: $(pgbench --version | head -1); $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2 || true); presence-http ${HTTP_FLAGS[*]}."
	echo
	python3 "$BENCH/report.py" "$results"
	echo
	echo "Notes:"
	echo "- Figure 3: a scan of the 100,000 bodies alone (count(length(body))) takes $(get f3.scan) ms of each time."
	echo "- Figure 6: the storm ran once, in $ROUNDS slices; $(get f6.users) storm users were applied."
	if [ -z "${BENCH_SKIP_HTTP:-}" ]; then
		echo "- HTTP: $(get http.requests) pooled triples handed out (incl. a margin per run); $(get http.events) new events logged; non-2xx or socket errors: $(get http.non2xx); mean group-commit batch: $(get http.batch_mean) deliveries."
		echo "- Figure 4, CPU per delivery over all rounds: $(cpu_note f4c "presence-http" wrk); INSERT side: $(cpu_note f4b "presence-http (idle)" pgbench)."
		echo "- WAL: the checkpoint before the HTTP figures left $(get wal.files_after_checkpoint) segment files ($(get wal.files_before_checkpoint) before it), $(get wal.ahead_after_checkpoint) of them recycled ahead of the insert position."
		echo "- Figure 5: p90 $(get f5.p90) ms, max $(get f5.max) ms; $(get f5.wal_mb) MB of WAL written, $(get f5.wal_files) new WAL segment files."
		echo "- Figure 7b: after the ingest calls only: contexts $(get f7b.ctx.mid) B, RssAnon $(get f7b.anon.mid) kB."
	fi
	[ -s "$dir/retries" ] && echo "- Runs stopped from outside and retried once: $(tr '\n' ' ' <"$dir/retries")."
	echo "- Figure 11d: room_online() of a room of 1,000 members, $(get f11.room_online) of them online; figure 13d: $(get f13d.closed) memberships closed by the destroys."
	echo "- Figure 8: presence.maintain() with a 30-day retention pruned every item the figures wrote (dated months ago); $(get f8.items_after) items are left."
	if [ -z "${BENCH_SKIP_CLUSTER:-}" ]; then
		echo "- Figure 12: router and 4 partitions, each its own server, on these same $(nproc) CPUs as the single node (shared_buffers 128MB each, synchronous_commit off on the partitions): the ratio is the router's cost (a second hop, a transaction per partition touched), not what partitions on machines of their own would give. $(get f12.users) storm users found through cluster_users; cluster_check() returned $(get f12.check) rows, check() of the single-node side $(get f12.check1)."
	fi
	echo "- Correctness: presence.check() over $nevents events and the folds of $(get f8.items) pruned items returned $nbad rows."
} >"$out/report.md"
cat "$out/report.md"
[ -n "${BENCH_REPORT:-}" ] && cp "$out/report.md" "$BENCH_REPORT"
if [ -z "${BENCH_SKIP_CLUSTER:-}" ] && [ "$(get f12.check)$(get f12.check1)" != 00 ]; then
	say "figure 12: cluster_check() or check() of bench1 is NOT empty"
	exit 1
fi
if [ "$nbad" -ne 0 ]; then
	say "presence.check() is NOT empty:"
	psql -X -c 'SELECT * FROM presence.check() LIMIT 20' >&2
	exit 1
fi
say "done in $runtime s; presence.check() is empty"
