#!/usr/bin/env bash
# fuzz/run_short.sh: the CI fuzz run, as TAP (prove -e bash fuzz/run_short.sh).
#
# Builds both libFuzzer targets (ASan + UBSan) with fuzz/Makefile, then runs
# each for FUZZ_SECONDS (default 45) from its seed corpus.  A crash, a
# sanitizer report, a leak, a timeout or a broken invariant fails the test;
# the reproducer is left in fuzz/build/artifacts/ and named in the diagnostics
# (replay it with: make -C fuzz repro FUZZER=payload INPUT=<file>).
# Needs only Debian packages: clang, libclang-rt-14-dev, postgresql-server-dev-15.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
seconds=${FUZZ_SECONDS:-45}
fuzzers=(payload signature)

echo "1..${#fuzzers[@]}"

if ! buildlog=$(make -s build 2>&1); then
	echo "Bail out! could not build the fuzzers:"
	printf '%s\n' "$buildlog" | tail -30 | sed 's/^/# /'
	exit 1
fi
[ -f corpus/payload/provider_example.json ] || bash make_corpus.sh >/dev/null

failed=0
n=0
for f in "${fuzzers[@]}"; do
	n=$((n + 1))
	work=build/short-work/$f
	log=build/short-$f.log
	rm -rf "$work"
	mkdir -p "$work" build/artifacts
	case $f in
		payload) opts=(-dict=payload.dict -max_len=8192) ;;
		signature) opts=(-dict=signature.dict -max_len=512) ;;
	esac
	start=$(date +%s)
	build/fuzz_$f -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-detect_leaks=1 -print_final_stats=1 "${opts[@]}" \
		-artifact_prefix=build/artifacts/"$f"- "$work" corpus/"$f" >"$log" 2>&1
	rc=$?
	elapsed=$(($(date +%s) - start))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	execs=${execs:-0}
	if [ "$rc" -eq 0 ] && grep -q '^Done [0-9]* runs' "$log"; then
		echo "ok $n - $f fuzzer ran $execs execs without a crash (${elapsed}s, $(ls "$work" | wc -l) corpus units)"
	else
		failed=$((failed + 1))
		echo "not ok $n - $f fuzzer failed (exit $rc after $execs execs, ${elapsed}s)"
		artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
		[ -n "$artifact" ] && echo "# reproducer: fuzz/$artifact (make -C fuzz repro FUZZER=$f INPUT=$here/$artifact)" \
			&& echo "# reproducer bytes (base64): $(head -c 600 "$artifact" | base64 -w0)"
		grep -E 'ERROR|SUMMARY|invariant failed|runtime error|==[0-9]+==' "$log" | head -20 | sed 's/^/# /'
		tail -25 "$log" | sed 's/^/# /'
	fi
done
exit "$failed"
