#!/usr/bin/env bash
# bench/scale.sh (make bench-scale): the scale figure of BENCHMARKS.md, ten times
# the size of make bench's tables, against the 100,000-user size, in one run.
#
# One throwaway PostgreSQL server (as bench/run.sh: its own initdb, socket
# directory and port, never a system cluster) with two databases loaded through
# presence_ingest_unsigned in deliveries of 100 items (bench/sql/scale.sql):
#   small: 100,000 users,   300,000 sessions,  1,000,000 kept items
#   large: 1,000,000 users, 3,000,000 sessions, 10,000,000 kept items
# Then BENCH_ROUNDS rounds alternate the two databases (odd rounds small first):
# figure 1's single-item ingest (4 clients, synchronous_commit=off, BENCH_SECONDS)
# and figure 11's three readers while a write load of BENCH_SCALE_WRITE_RATE/s
# (figure 2's ingest, synchronous_commit=on) runs.  Medians; ratio = large / small.
# presence.check() must be empty in both databases (exit 1 otherwise).
# Not in CI: about 25 minutes on the 2-core machine of BENCHMARKS.md, and 8 GB of disk.
#
# Environment: BENCH_PORT (55470), BENCH_SECONDS (10), BENCH_ROUNDS (3),
# BENCH_SCALE_USERS (1000000; the small database has a tenth), BENCH_SCALE_WRITE_RATE
# (2000), BENCH_NO_INSTALL=1, BENCH_REPORT=FILE, BENCH_KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench
. "$ROOT/scripts/lib.sh"
PORT=${BENCH_PORT:-55470}
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
LARGE=${BENCH_SCALE_USERS:-1000000}
SMALL=$((LARGE / 10))
WRATE=${BENCH_SCALE_WRITE_RATE:-2000}
LOADERS=2
die() { say "ERROR: $*"; exit 1; }
started=$(date +%s)
elapsed() { echo $(($(date +%s) - started)); }
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
[ $((SMALL % (10 * LOADERS))) -eq 0 ] || die "BENCH_SCALE_USERS must be a multiple of $((100 * LOADERS))"

if [ -z "${BENCH_NO_INSTALL:-}" ]; then
	say "building and installing the extension"
	install_extension
fi
dir=$(mktemp -d /tmp/presence-scale.XXXXXX)
chmod 755 "$dir"
cleanup() {
	local rc=$?
	stop_cluster "$dir"
	if [ -n "${BENCH_KEEP:-}" ]; then say "kept $dir"; else rm -rf "$dir"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say "cluster in $dir, port $PORT"
start_cluster "$dir" "$PORT" "max_connections = 100" "shared_buffers = 512MB" \
	"max_wal_size = 8GB" "checkpoint_timeout = 30min" "log_min_messages = warning"
unset PGOPTIONS PGSERVICE
out=$dir/out
mkdir -p "$out"
results=$dir/results.tsv
: >"$results"
put() { printf '%s\t%s\n' "$1" "$2" >>"$results"; }
get() { awk -F'\t' -v k="$1" '$1 == k {print $2}' "$results"; }
runs=0

# --- load ------------------------------------------------------------------------
declare -A NUSERS=([small]=$SMALL [large]=$LARGE)
for db in small large; do
	n=${NUSERS[$db]}
	say "$db: setting up and loading $n users through presence_ingest_unsigned ($(elapsed)s)"
	psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null
	psql -qX -d "$db" -v ON_ERROR_STOP=1 -f "$BENCH/sql/setup.sql" >/dev/null
	psql -qX -d "$db" -v ON_ERROR_STOP=1 -v users="$n" -f "$BENCH/sql/scale.sql" >/dev/null
	t0=$(date +%s%N)
	pgbench -n -M prepared -d "$db" -f "$BENCH/pgbench/scale_load.sql" -c $LOADERS -j $LOADERS \
		-t $((n / 10 / LOADERS)) -D k=0 -D nclients=$LOADERS >"$out/load.$db.log" 2>&1 ||
		{ cat "$out/load.$db.log" >&2; die "loading $db failed"; }
	grep -q 'number of failed transactions: 0 ' "$out/load.$db.log" || die "loading $db had failures"
	put "$db.load_s" "$(python3 -c "print(round(($(date +%s%N) - $t0) / 1e9, 1))")"
	psql -qX -d "$db" -c 'VACUUM ANALYZE' >/dev/null
	psql -qXAt -F $'\t' -d "$db" -c 'SELECT * FROM bench.scale_sizes()' | sed "s/^/$db./" >>"$results"
done
psql -qX -d postgres -c CHECKPOINT >/dev/null

# --- alternating rounds -------------------------------------------------------------
ingest() {   # ingest DB ROUND
	local db=$1 r=$2 log=$out/ingest.$1.$2.log
	runs=$((runs + 1))
	PGOPTIONS='-c synchronous_commit=off' pgbench -n -M prepared -d "$db" -f "$BENCH/pgbench/ingest_one.sql" \
		-D n=$((runs * 10000000)) -D nusers="${NUSERS[$db]}" -c 4 -j 2 -T "$SECS" >"$log" 2>&1 ||
		{ cat "$log" >&2; die "ingest $db failed"; }
	grep -q 'number of failed transactions: 0 ' "$log" || die "ingest $db had failures"
	put "$db.ingest.$r" "$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$log")"
}
READ_RATES=(200 200 5)
READ_CLIENTS=(2 2 1)
READ_NAMES=(friends sessions platforms)
reads() {   # reads DB ROUND: the three readers under the write load
	local db=$1 r=$2 i wpid pids=() letters=(a b c)
	runs=$((runs + 1))
	PGOPTIONS='-c synchronous_commit=on' pgbench -n -M prepared -d "$db" -f "$BENCH/pgbench/ingest_one.sql" \
		-D n=$((runs * 10000000)) -D nusers="${NUSERS[$db]}" -c 4 -j 2 -R "$WRATE" -T $((SECS + 2)) \
		>"$out/write.$db.$r.log" 2>&1 &
	wpid=$!
	sleep 1
	for i in 0 1 2; do
		pgbench -n -M prepared -d "$db" -f "$BENCH/pgbench/read_${READ_NAMES[$i]}.sql" -D nusers="${NUSERS[$db]}" \
			-c "${READ_CLIENTS[$i]}" -j 1 -R "${READ_RATES[$i]}" -T "$SECS" -l \
			--log-prefix="$out/lat.$db.$r.${READ_NAMES[$i]}" >"$out/read.$db.$r.${READ_NAMES[$i]}.log" 2>&1 &
		pids+=($!)
	done
	for i in 0 1 2; do wait "${pids[$i]}" || die "reader $db ${READ_NAMES[$i]} failed"; done
	wait "$wpid" || { cat "$out/write.$db.$r.log" >&2; die "write load on $db failed"; }
	put "$db.wrate.$r" "$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out/write.$db.$r.log")"
	for i in 0 1 2; do
		python3 "$BENCH/latency.py" "$db.read${letters[$i]}.$r" "$out/lat.$db.$r.${READ_NAMES[$i]}".* >>"$results"
	done
}
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then order="small large"; else order="large small"; fi
	for db in $order; do
		say "round $r: $db ($(elapsed)s)"
		ingest "$db" "$r"
		reads "$db" "$r"
	done
	say "  round $r: ingest small $(get "small.ingest.$r")/s, large $(get "large.ingest.$r")/s; p99 a $(get "small.reada.$r.p99") / $(get "large.reada.$r.p99") ms"
done

# --- correctness and report ------------------------------------------------------------
for db in small large; do
	say "$db: presence.check() ($(elapsed)s)"
	put "$db.check" "$(psql -qXAt -d "$db" -c 'SELECT count(*) FROM presence.check()')"
	put "$db.events" "$(psql -qXAt -d "$db" -c 'SELECT count(*) FROM presence.events')"
done
runtime=$(elapsed)
{
	echo "## Scale run of $(date -u '+%Y-%m-%d %H:%M UTC'), $runtime s"
	echo
	echo "Machine: $(nproc) CPUs, $(uname -sr), load average at start: $load_start. Code: commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)."
	echo "PostgreSQL: $(psql -qXAt -d postgres -c 'SELECT version()'). Write load under the reads: $WRATE/s."
	echo
	python3 - "$results" "$SECS" <<'PY'
import statistics, sys
v = dict(l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1]) if "\t" in l)
def rounds(key):
    out, i = [], 1
    while key.replace("{r}", str(i)) in v:
        out.append(float(v[key.replace("{r}", str(i))])); i += 1
    return out
m = statistics.median
print("| figure | small: %s users (rounds) | large: %s users (rounds) | medians small / large | ratio large / small |"
      % ("{:,}".format(int(v["small.users.rows"])), "{:,}".format(int(v["large.users.rows"]))))
print("|---|---|---|---|---|")
def row(title, key, unit, fmt="%.0f"):
    s, l = rounds("small." + key), rounds("large." + key)
    if not s or not l:
        print("| %s | not run | not run | | |" % title); return
    print("| %s | %s %s | %s %s | %s / %s | %.2f |" % (title, " / ".join(fmt % x for x in s), unit,
          " / ".join(fmt % x for x in l), unit, fmt % m(s), fmt % m(l), m(l) / m(s)))
def one(title, key, fmt):
    s, l = float(v["small." + key]), float(v["large." + key])
    print("| %s | %s | %s | | %.2f |" % (title, fmt % s, fmt % l, l / s if s else float("nan")))
for t in ("events", "sessions", "users"):
    one("%s kept" % t, "%s.rows" % t, "%d")
s_items, l_items = float(v["small.events.rows"]), float(v["large.events.rows"])
print("| load: items/s in 100-item deliveries, %s clients | %.0f | %.0f | | %.2f |" % (
    2, s_items / float(v["small.load_s"]), l_items / float(v["large.load_s"]),
    (l_items / float(v["large.load_s"])) / (s_items / float(v["small.load_s"]))))
for t in ("events", "sessions", "users"):
    sb = float(v["small.%s.bytes" % t]) / float(v["small.%s.rows" % t])
    lb = float(v["large.%s.bytes" % t]) / float(v["large.%s.rows" % t])
    print("| bytes per %s row (table + indexes + TOAST) | %.0f | %.0f | | %.2f |" % (t.rstrip("s"), sb, lb, lb / sb))
    one("%s_pkey B-tree level (root above leaves)" % t, "%s.pkey_level" % t, "%d")
row("single-item deliveries/s, 4 clients, synchronous_commit=off (figure 1)", "ingest.{r}", "/s")
row("write load achieved under the reads (/s)", "wrate.{r}", "/s")
for q, name in (("a", "200 friends online"), ("b", "one user's online sessions"), ("c", "online count per platform")):
    row("11%s %s: p99 ms" % (q, name), "read%s.{r}.p99" % q, "ms", "%.2f")
    row("11%s %s: p50 ms" % (q, name), "read%s.{r}.p50" % q, "ms", "%.2f")
print()
print("presence.check(): %s rows over %s events (small), %s rows over %s events (large)." % (
    v["small.check"], v["small.events"], v["large.check"], v["large.events"]))
PY
} >"$out/report.md"
cat "$out/report.md"
[ -n "${BENCH_REPORT:-}" ] && cp "$out/report.md" "$BENCH_REPORT"
[ "$(get small.check)" = 0 ] && [ "$(get large.check)" = 0 ] || die "presence.check() is not empty"
say "done in $runtime s; presence.check() is empty in both databases"
