#!/usr/bin/env bash
# bench/profile.sh: where the CPU goes on the ingest path (figure 1), the
# parser (figure 3) and the reconnect storm (figure 6), with callgrind.
#
# `perf stat -e instructions` is not supported on this VM (no hardware
# counters), so this uses valgrind --tool=callgrind on one single-user backend
# (`postgres --single`) of its own throwaway cluster.  Collection is switched on
# only inside PortalRun and CommitTransactionCommand: statement execution and
# commit, without the per-statement parse/plan of the single-user protocol (a
# prepared-statement client like pgbench -M prepared or presence-http skips
# those too).  Instruction counts are exact and do not depend on the load of
# the machine, so the per-call counts are also a noise-free contender/baseline
# comparison.
#
# Environment: PROFILE_CALLS (2000) single-item deliveries; PROFILE_BATCH (5)
# deliveries per presence_ingest_batch call; PROFILE_KEEP=1 keeps the temporary
# directory with the callgrind.out.* files; PROFILE_NO_INSTALL=1 profiles the
# installed extension instead of building and installing this tree's.
# Needs valgrind (apt-get install valgrind).  About 3 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench
. "$ROOT/scripts/lib.sh"		# say, as_cluster_user, install_extension, start_cluster
PORT=${PROFILE_PORT:-55460}
CALLS=${PROFILE_CALLS:-2000}
PARSE_BODIES=20000
STORM_DELIVERIES=20
BATCH=${PROFILE_BATCH:-5}
TOP=${PROFILE_TOP:-25}

command -v valgrind >/dev/null || { say "valgrind is required"; exit 1; }

if [ -z "${PROFILE_NO_INSTALL:-}" ]; then
	say "building and installing the extension (as bench/run.sh does)"
	install_extension
fi
echo "Code: commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$([ -n "$(git -C "$ROOT" status --porcelain -- src presence--*.sql 2>/dev/null)" ] && echo ' with uncommitted changes in src/')."
echo

dir=$(mktemp -d /tmp/presence-profile.XXXXXX)
chmod 755 "$dir"
cleanup() {
	stop_cluster "$dir"
	if [ -n "${PROFILE_KEEP:-}" ]; then say "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

say "cluster in $dir"
start_cluster "$dir" "$PORT" "shared_buffers = 512MB" "max_wal_size = 8GB" \
	"synchronous_commit = off"
export PGDATABASE=bench
psql -qX -d postgres -c 'CREATE DATABASE bench' >/dev/null
psql -qX -v ON_ERROR_STOP=1 -f "$BENCH/sql/setup.sql" >/dev/null
say "warming the tables: 30,000 deliveries of figure 1's kind"
psql -qXAt -c "SELECT count(presence_ingest_unsigned(bench.item_body(1, g, 1730000000000 + g * 64, (g * 31) % 3, (g * 7919) % 100000 + 1, g % 3 + 1))) FROM generate_series(1, 30000) g" >/dev/null
psql -qX -c 'VACUUM ANALYZE' >/dev/null

# The statements, with the bodies as literals (fresh items, figure 1's shape).
gen() { psql -qXAt -c "$1" >"$dir/$2.sql"; }
gen "SELECT format('SELECT presence_ingest_unsigned(%L);', bench.item_body(2, g, 1731000000000 + g * 64, (g * 17) % 3, (g * 104729) % 100000 + 1, g % 3 + 1)) FROM generate_series(1, $CALLS) g" ingest
gen "SELECT format('INSERT INTO bench.raw (body) VALUES (%L);', bench.item_body(2, g, 1731000000000 + g * 64, (g * 17) % 3, (g * 104729) % 100000 + 1, g % 3 + 1)) FROM generate_series(1, $CALLS) g" insert
echo "SELECT count(*) FROM bench.bodies b, presence_parse(b.body) p WHERE b.n <= $PARSE_BODIES;" >"$dir/parse.sql"
echo "SELECT count(b.body::jsonb) FROM bench.bodies b WHERE b.n <= $PARSE_BODIES;" >"$dir/cast.sql"
echo "SELECT count(length(b.body)) FROM bench.bodies b WHERE b.n <= $PARSE_BODIES;" >"$dir/scan.sql"
gen "SELECT format('SELECT presence_ingest_unsigned(body) FROM bench.storm WHERE d = %s;', d) FROM generate_series(0, $((STORM_DELIVERIES - 1))) d" storm
gen "SELECT format('INSERT INTO bench.raw_items (item) SELECT unnest(items) FROM bench.storm WHERE d = %s;', d) FROM generate_series(0, $((STORM_DELIVERIES - 1))) d" storm_insert
# presence-http's call: presence_ingest_batch of BATCH signed deliveries (the
# mean batch of figure 4 is about 5); signature age check off, as in run.sh.
psql -qX -c "SELECT presence.set_secret('profile-secret')" -c 'ALTER SYSTEM SET presence.signature_max_age = 0' >/dev/null
psql -qXAt -c "SELECT bench.item_body(3, g, 1732000000000 + g * 64, (g * 13) % 3, ((g::bigint * 15485863) % 100000 + 1)::int, g % 3 + 1) FROM generate_series(1, $CALLS) g" |
	python3 -c '
import hashlib, sys
batch = int(sys.argv[1])
bodies = sys.stdin.read().split("\n")[:-1]
ts = "1700000000000"
def arr(xs):
    return "ARRAY[" + ",".join("$b$%s$b$" % x for x in xs) + "]"
for i in range(0, len(bodies), batch):
    chunk = bodies[i:i + batch]
    nonces = ["p%d" % (i + j) for j in range(len(chunk))]
    sigs = [hashlib.sha1(("profile-secret" + n + ts).encode()).hexdigest() for n in nonces]
    print("SELECT count(*) FROM presence_ingest_batch(%s, %s, %s, %s);"
          % (arr(chunk), arr(nonces), arr([ts] * len(chunk)), arr(sigs)))
' "$BATCH" >"$dir/batch.sql"
as_cluster_user "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null

# profile NAME: run NAME.sql in a single-user backend under callgrind; print its total Ir.
profile() {
	local name=$1
	as_cluster_user valgrind --tool=callgrind --collect-atstart=no \
		--toggle-collect=PortalRun --toggle-collect=CommitTransactionCommand \
		--callgrind-out-file="$dir/callgrind.out.$name" \
		"$PG_BIN/postgres" --single -D "$dir/data" bench <"$dir/$name.sql" >"$dir/$name.stdout" 2>"$dir/$name.valgrind"
	if grep -q 'ERROR' "$dir/$name.stdout"; then
		grep -m3 ERROR "$dir/$name.stdout" >&2
		say "$name: statements failed"
		exit 1
	fi
	callgrind_annotate --auto=no "$dir/callgrind.out.$name" 2>/dev/null |
		awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}'
}

declare -A ir
for name in ingest batch insert parse cast scan storm storm_insert; do
	say "callgrind: $name"
	ir[$name]=$(profile "$name")
done

per() { python3 -c "print('{:,.0f}'.format($1 / $2))"; }
echo "## callgrind: instructions (Ir) per unit of work, PortalRun + commit only"
echo
echo "| work | contender Ir | baseline Ir | contender / baseline |"
echo "|---|---|---|---|"
echo "| one single-item delivery (figure 1) vs INSERT of its body | $(per "${ir[ingest]}" "$CALLS") | $(per "${ir[insert]}" "$CALLS") | $(python3 -c "print('%.1f' % (${ir[ingest]} / ${ir[insert]}))") |"
echo "| one signed delivery through presence_ingest_batch, $BATCH per call (figure 4's database side) vs INSERT | $(per "${ir[batch]}" "$CALLS") | $(per "${ir[insert]}" "$CALLS") | $(python3 -c "print('%.1f' % (${ir[batch]} / ${ir[insert]}))") |"
echo "| parse one body (figure 3; scan of the table subtracted) vs ::jsonb | $(per "$((ir[parse] - ir[scan]))" "$PARSE_BODIES") | $(per "$((ir[cast] - ir[scan]))" "$PARSE_BODIES") | $(python3 -c "print('%.2f' % ((${ir[parse]} - ${ir[scan]}) / (${ir[cast]} - ${ir[scan]})))") |"
echo "| one storm item (figure 6) vs INSERT of one item row | $(per "${ir[storm]}" $((STORM_DELIVERIES * 100))) | $(per "${ir[storm_insert]}" $((STORM_DELIVERIES * 100))) | $(python3 -c "print('%.1f' % (${ir[storm]} / ${ir[storm_insert]}))") |"
echo

top() {   # top NAME: the TOP functions by self Ir
	local name=$1
	echo "### $name: top $TOP functions by self Ir"
	echo
	echo '```'
	callgrind_annotate --auto=no --threshold=99 "$dir/callgrind.out.$name" 2>/dev/null |
		awk '/^-+$/ {n++; next} n >= 6 && NF' | sed -E 's| \[[^]]*/([^]/]*)\]$| [\1]|' | head -n "$TOP" || true
	echo '```'
	echo
}
# breakdown NAME: inclusive Ir of our functions and of the executor's phases.
breakdown() {
	local name=$1
	echo "### $name: inclusive Ir of presence's functions and of executor phases"
	echo
	echo '```'
	callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$dir/callgrind.out.$name" 2>/dev/null |
		awk '/^-+$/ {n++; next} n >= 6 && NF' | sed -E 's| \[[^]]*/([^]/]*)\]$| [\1]|' |
		grep -E "\[presence.so\]|:(ExecutorStart|ExecutorEnd|AfterTriggerEndQuery|GetCachedPlan|ExecInitModifyTable|ExecInitIndexScan|ExecInitResult|ExecInsertIndexTuples|index_getnext_slot|heap_insert|heap_update|XLogInsert|CommitTransactionCommand|CheckExprStillValid|LockRelationOid|SPI_connect|SPI_finish|fmgr_security_definer|tuplestore_putvalues|json_lex) \[" |
		grep -v "'" | head -n 40 || true
	echo '```'
	echo
}
top ingest
breakdown ingest
breakdown batch
top parse
breakdown parse
top storm
breakdown storm
