#!/bin/sh
# tests/fuzz/run.sh - run every libFuzzer target built in BUILD/fuzz/.
#
#   sh tests/fuzz/run.sh BUILD SECONDS [SEED]
#     SECONDS > 0: fuzz each target for SECONDS (-max_total_time) from its
#                  seed corpus, with a fixed -seed so a CI run is repeatable;
#                  new inputs go to BUILD/fuzz-corpus/<target>, never into
#                  the seed corpus in the tree.
#     SECONDS = 0: replay only: run each target once over every seed file.
#
# One line per target ("fuzz answer: ok, 123456 runs in 30 s"), crash inputs
# kept in BUILD/fuzz-artifacts/<target>/, full logs in BUILD/fuzz-logs/.
# Exit status is non-zero when any target crashed, leaked, timed out or
# could not run.  docs/fuzzing.md tells how to reproduce a crash.
set -u

build=${1:?usage: sh tests/fuzz/run.sh BUILD SECONDS [SEED]}
secs=${2:?usage: sh tests/fuzz/run.sh BUILD SECONDS [SEED]}
seed=${3:-1}

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2

# Leaks inside third-party libraries we cannot fix here (each explained in
# the file); ours are never suppressed.
LSAN_OPTIONS="suppressions=$top/tests/fuzz/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS

failed=0
ran=0
mkdir -p "$build/fuzz-logs" || exit 2
for bin in "$build"/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	t=${bin##*/fuzz_}
	seeds="tests/fuzz/corpus/$t"
	log="$build/fuzz-logs/$t.log"
	art="$build/fuzz-artifacts/$t"
	mkdir -p "$art" "$seeds" || exit 2
	ran=$((ran + 1))
	# -timeout: one input taking 10 s is a hang, reported as a failure.
	# -rss_limit_mb: a leak that grows without bound fails too.
	common="-timeout=10 -rss_limit_mb=2048 -artifact_prefix=$art/ -print_final_stats=1"
	if [ "$secs" -gt 0 ]; then
		work="$build/fuzz-corpus/$t"
		mkdir -p "$work" || exit 2
		# shellcheck disable=SC2086
		"$bin" $common -seed="$seed" -max_total_time="$secs" "$work" "$seeds" >"$log" 2>&1
	else
		# shellcheck disable=SC2086
		"$bin" $common -runs=0 "$seeds" >"$log" 2>&1
	fi
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(sed -n 's/^#[0-9]*.*DONE *cov: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
	if [ $rc -eq 0 ] && ! grep -q 'ERROR: \(AddressSanitizer\|LeakSanitizer\|libFuzzer\)\|runtime error:' "$log"; then
		echo "fuzz $t: ok, ${runs:-?} runs, cov ${cov:-?}, ${secs} s"
	else
		failed=$((failed + 1))
		echo "fuzz $t: FAILED (exit $rc), log $log, inputs in $art/"
		grep -m 3 'ERROR:\|runtime error:\|fuzz harness:' "$log" | sed 's/^/    /'
	fi
done
if [ $ran -eq 0 ]; then
	echo "fuzz: no target in $build/fuzz (build them with make fuzz)"
	exit 1
fi
[ $failed -eq 0 ]
