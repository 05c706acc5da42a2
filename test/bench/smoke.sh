#!/bin/bash
# test/bench/smoke.sh: make bench, cut down to seconds.  Every figure runs
# against its own throwaway server (bench/run.sh), the report has a row for
# each of them, and the bench's own correctness check holds: presence.check()
# is empty after all its load.  The numbers are not judged here; BENCHMARKS.md
# has the full-size runs.  Needs the extension installed and presence-http
# built (scripts/test does both).

cd "$(dirname "$0")/../.." || exit 1
out=$(mktemp -d /tmp/presence-bench-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT

echo "1..7"
BENCH_NO_INSTALL=1 BENCH_SECONDS=1 BENCH_ROUNDS=1 BENCH_WARMUP_SECONDS=1 \
	BENCH_STORM_DELIVERIES=40 BENCH_MEM_INGEST_CALLS=100 \
	BENCH_HISTORY_USERS=1000 BENCH_HISTORY_SESSIONS=10000 BENCH_REPORT="$out/report.md" \
	bench/run.sh >"$out/log" 2>&1
rc=$?
report=$(cat "$out/report.md" 2>/dev/null)
t=0
ok() {
	t=$((t + 1))
	if eval "$1"; then echo "ok $t - $2"; else echo "not ok $t - $2"; fi
}
ok '[ "$rc" -eq 0 ]' "bench/run.sh exits 0 (it exits 1 when presence.check() is not empty)"
ok '[ "$(grep -cE "^\| (1|1n|1l|1g|2|2g|3|4|5|6|7a|7b|8|9|10|11a|11b|11c|11d|12|12s|13|13d|S1|S6) \|" <<<"$report")" -eq 25 ]' "the table has a row for each figure"
ok '! grep -q "not run" <<<"$report"' "every figure ran"
ok 'grep -qE "presence.check\(\) over [0-9]+ events and the folds of [1-9][0-9]* pruned items returned 0 rows" <<<"$report"' \
	"presence.check() is empty after the bench's load and maintain()"
ok 'grep -qE "non-2xx or socket errors: 0;" <<<"$report"' "every signed request through presence-http got a 2xx"
ok 'grep -qE "Figure 4, CPU per delivery .*server [0-9]+ µs" <<<"$report"' \
	"figure 4's CPU per process is reported"
ok 'grep -qE "Figure 12: .*cluster_check\(\) returned 0 rows, check\(\) of the single-node side 0" <<<"$report"' \
	"figure 12: the router's cluster_check() and the single node's check() are empty"
[ "$rc" -eq 0 ] || tail -30 "$out/log" | sed 's/^/# /'
