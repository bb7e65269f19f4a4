#!/bin/sh
# tests/fuzz/campaign.sh - a long fuzzing campaign on otherwise idle CPU.
#
#   sh tests/fuzz/campaign.sh BUILD SECONDS JOBS [TARGET[:SECONDS] ...]
#
# Runs every target in BUILD/fuzz/ (or only the ones named) for SECONDS of
# wall time each (TARGET:SECONDS overrides it per target), JOBS targets at a
# time, in the order given: name the slow ones first so the queue ends even.
# Example (the campaign recorded in docs/fuzzing.md):
#
#   sh tests/fuzz/campaign.sh build-fuzz 840 2 dataset:1440 zone:1440 \
#       conf:1320 xfr_client:1320 answer:1080 cache:900 \
#       upstream wire_parse tprom xfr_server
#
# Unlike run.sh (CI: fixed seed, short, fails fast), a campaign:
#   - runs under the idle scheduling class and nice 19 (CAMPAIGN_NICE= to
#     turn that off), so builds, tests and benchmarks on the same machine
#     keep their CPU; the fuzzers get only what is left;
#   - keeps a working corpus per target in BUILD/campaign/<target>/corpus,
#     seeded once from tests/fuzz/corpus/<target> and BUILD/fuzz-corpus/<target>,
#     so a second campaign continues from the first one's coverage;
#   - takes a random seed (printed in the log) so repeated campaigns differ;
#   - a timeout that does not reproduce when its input is replayed alone
#     (the fuzzer was stopped or starved) is set aside as spurious-*;
#   - after a finding, starts the target again for the rest of its time (at
#     most CAMPAIGN_RESTARTS times, default 3), so one bug does not end the
#     target's share; every finding stays in BUILD/campaign/<target>/artifacts/.
#
# One summary line per target, also appended to BUILD/campaign/summary.txt:
#   campaign dataset: ok, 1347187 execs, wall 1442 s, cpu 557 s, cov 1380, ft 7601, corpus 1895, runs 1
# "cpu" is user+system time of the fuzzer processes, which is less than the
# wall time when the machine was busy (idle class) or the fuzzer was stopped
# with SIGSTOP.  Logs: BUILD/campaign/<target>/log.<start time>.<n>.
# Exit status is non-zero when any target had a finding or could not run.
set -u

if [ "${1:-}" = "--one" ]; then
	# Internal: one target, run by the queue below in its own process so
	# that `times` counts only this target's fuzzer.
	build=$2 t=$3 secs=$4
	bin="$build/fuzz/fuzz_$t"
	dir="$build/campaign/$t"
	mkdir -p "$dir/corpus" "$dir/artifacts" || exit 2
	if [ -z "$(ls -A "$dir/corpus")" ]; then
		for s in "tests/fuzz/corpus/$t" "$build/fuzz-corpus/$t"; do
			[ -d "$s" ] && cp -p "$s"/* "$dir/corpus/" 2>/dev/null
		done
	fi
	start=$(date +%s)
	end=$((start + secs))
	execs=0 n=0 result=ok cov='?' ft='?'
	while :; do
		left=$((end - $(date +%s)))
		[ $left -ge 5 ] || break
		n=$((n + 1))
		# Named by the start time too, so a later campaign keeps this log.
		log="$dir/log.$start.$n"
		# shellcheck disable=SC2086
		$CAMPAIGN_NICE "$bin" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$dir/artifacts/" -max_total_time=$left \
			"$dir/corpus" >"$log" 2>&1
		rc=$?
		e=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		execs=$((execs + ${e:-0}))
		# The last status line carries the coverage, with or without DONE.
		c=$(sed -n 's/^#[0-9].* cov: \([0-9]*\) ft: \([0-9]*\).*/\1 \2/p' "$log" | tail -n 1)
		[ -n "$c" ] && { cov=${c% *}; ft=${c#* }; }
		# libFuzzer's timeout is wall-clock time, so a fuzzer stopped with
		# SIGSTOP (a benchmark window) or starved by the idle class reports
		# a timeout when it resumes.  Such an input runs in well under the
		# limit on its own; it is set aside, not counted as a finding.
		if grep -q 'ERROR: libFuzzer: timeout' "$log"; then
			a=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
			if [ -f "$a" ] && $CAMPAIGN_NICE "$bin" -timeout=10 "$a" >"$log.replay" 2>&1; then
				mv "$a" "$dir/artifacts/spurious-${a##*/}"
				echo "campaign $t: run $n: timeout not reproduced (stopped or starved), $a set aside"
				rc=0
				sed -i 's/ERROR: libFuzzer: timeout/spurious: libFuzzer: timeout/' "$log"
			fi
		fi
		if [ $rc -ne 0 ] || grep -q 'ERROR: \(AddressSanitizer\|LeakSanitizer\|libFuzzer\)\|runtime error:' "$log"; then
			what=$(grep -m 1 -o 'ERROR: [A-Za-z]*: [a-z-]*\|runtime error: .*\|ERROR: libFuzzer: [a-z-]*\|fuzz harness: .*' "$log" | cut -c1-80)
			result="FINDING"
			echo "campaign $t: finding in run $n: ${what:-exit $rc} (log $log)"
			[ $n -le "${CAMPAIGN_RESTARTS:-3}" ] || break
		fi
	done
	wall=$(($(date +%s) - start))
	# Second line of `times`: children's user and system time, "XmY.Zs".
	# Not in a pipe: a subshell would report its own (zero) times.
	times >"$dir/times"
	cpu=$(sed -n 2p "$dir/times" | awk '{
		s = 0
		for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2] }
		printf "%d", s + 0.5 }')
	files=$(ls "$dir/corpus" | wc -l)
	line="campaign $t: $result, $execs execs, wall $wall s, cpu $cpu s, cov $cov, ft $ft, corpus $files, runs $n"
	echo "$line"
	echo "$(date -u +%Y-%m-%dT%H:%MZ) $line" >>"$build/campaign/summary.txt"
	[ "$result" = ok ]
	exit
fi

build=${1:?usage: sh tests/fuzz/campaign.sh BUILD SECONDS JOBS [TARGET[:SECONDS] ...]}
secs=${2:?usage: sh tests/fuzz/campaign.sh BUILD SECONDS JOBS [TARGET[:SECONDS] ...]}
jobs=${3:?usage: sh tests/fuzz/campaign.sh BUILD SECONDS JOBS [TARGET[:SECONDS] ...]}
shift 3

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
# The answer target reads tests/data relative to the current directory.
GRIDNS_SRC=$top
LSAN_OPTIONS="suppressions=$top/tests/fuzz/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
CAMPAIGN_NICE=${CAMPAIGN_NICE-chrt -i 0 nice -n 19}
export GRIDNS_SRC LSAN_OPTIONS CAMPAIGN_NICE

if [ $# -eq 0 ]; then
	for bin in "$build"/fuzz/fuzz_*; do
		[ -x "$bin" ] && set -- "$@" "${bin##*/fuzz_}"
	done
fi
[ $# -gt 0 ] || { echo "campaign: no target in $build/fuzz (make fuzz-build)"; exit 1; }
for spec in "$@"; do
	t=${spec%%:*}
	[ -x "$build/fuzz/fuzz_$t" ] || { echo "campaign: no $build/fuzz/fuzz_$t"; exit 1; }
done
mkdir -p "$build/campaign" || exit 2
echo "$(date -u +%Y-%m-%dT%H:%MZ) campaign start: $*, ${secs} s default, $jobs jobs" >>"$build/campaign/summary.txt"

# A queue of JOBS workers: xargs starts the next target as soon as one ends.
# shellcheck disable=SC2016
for spec in "$@"; do
	t=${spec%%:*}
	s=$secs
	[ "$t" != "$spec" ] && s=${spec#*:}
	echo "$t $s"
done | xargs -P "$jobs" -L 1 sh -c 'exec sh "$0" --one "$1" "$2" "$3"' "$top/tests/fuzz/campaign.sh" "$build"
