#!/bin/sh
# tests/run.sh - run the gridns test suite and print one summary line.
#
#   sh tests/run.sh MODE BUILD
#     MODE  unit | system | all
#     BUILD build directory (build, build-asan): unit binaries come from
#           BUILD/tests/, system tests drive BUILD/bin/ (GRIDNS_BUILD=BUILD).
#
# The VERY LAST line printed is exactly "N passed, N failed".  Exit status is
# non-zero when anything failed, when a unit binary crashed or printed a
# sanitizer report, or when no test ran at all (an empty run proves nothing).
set -u

mode=${1:-all}
build=${2:-build}
case "$mode" in
unit | system | all) ;;
*)
	echo "usage: sh tests/run.sh unit|system|all BUILD" >&2
	exit 2
	;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
case "$build" in
/*) ;;
*) build="$top/$build" ;;
esac

passed=0
failed=0
broken=0 # crashes, sanitizer reports, harness errors: never "passed"
tmp=$(mktemp -d /tmp/gridns-run.XXXXXX) || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# Sum the numbers cmocka prints in its group summaries ("[  PASSED  ] 3
# test(s)." and "[  FAILED  ] 1 test(s), listed below:"); a binary may run
# several groups.  Per-test "[  FAILED  ] name" lines carry no count.
cmocka_sum() { # $1 = PASSED|FAILED, $2 = file
	sed -n "s/^\[  $1  \] \([0-9][0-9]*\) test(s).*/\1/p" "$2" |
		awk '{ s += $1 } END { print s + 0 }'
}

run_unit() {
	dir="$build/tests"
	found=0
	for bin in "$dir"/test_*; do
		[ -f "$bin" ] && [ -x "$bin" ] || continue
		found=1
		name=$(basename "$bin")
		out="$tmp/$name.out"
		# cmocka prints part of its summary on stderr whatever
		# CMOCKA_MESSAGE_OUTPUT says, and sanitizers report there: read both.
		# Bounded: a hung unit test is a failure, not a stuck build.
		CMOCKA_MESSAGE_OUTPUT=stdout timeout -k 5 300 "$bin" >"$out" 2>&1
		rc=$?
		p=$(cmocka_sum PASSED "$out")
		f=$(cmocka_sum FAILED "$out")
		note=""
		if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|runtime error:|SUMMARY: [A-Za-z]*Sanitizer' "$out"; then
			note="sanitizer report"
		elif [ "$rc" -ge 124 ]; then
			note="crashed or timed out (exit $rc)"
		elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			note="exit $rc without a failure count"
		elif [ $((p + f)) -eq 0 ]; then
			note="ran no test"
		fi
		passed=$((passed + p))
		failed=$((failed + f))
		if [ -n "$note" ]; then
			broken=$((broken + 1))
			failed=$((failed + 1))
			echo "unit: $name: $note"
		fi
		if [ -n "$note" ] || [ "$f" -ne 0 ]; then
			sed -n '1,300p' "$out"
		else
			echo "unit: $name: $p passed"
		fi
	done
	[ "$found" -eq 1 ] || echo "unit: no test binary in $dir"
}

run_system() {
	py=/usr/bin/python3
	out="$tmp/pytest.out"
	if ! ls tests/system/test_*.py >/dev/null 2>&1; then
		echo "system: no test file in tests/system"
		return
	fi
	# The whole system suite is bounded; each test also bounds itself.
	GRIDNS_BUILD="$build" PYTHONDONTWRITEBYTECODE=1 timeout -k 10 1800 \
		"$py" -m pytest -q -p no:cacheprovider -rfEs tests/system 2>&1 | tee "$out"
	# pytest's exit status is lost in the pipe; the summary line tells all.
	summary=$(grep -E '^=*[ ]*[0-9]+ (passed|failed|error|errors|skipped|deselected|xfailed|xpassed)|no tests ran' "$out" | tail -n 1)
	num() { # $1 = word
		printf '%s\n' "$summary" | tr ',' '\n' | sed -n "s/^[ =]*\([0-9][0-9]*\) $1\b.*/\1/p" | head -n 1
	}
	p=$(num passed)
	f=$(num failed)
	e=$(num 'errors*')
	xp=$(num xpassed)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${e:-0} + ${xp:-0}))
	if [ -z "$summary" ]; then
		echo "system: pytest printed no summary (crashed or timed out)"
		broken=$((broken + 1))
		failed=$((failed + 1))
	fi
}

case "$mode" in
unit) run_unit ;;
system) run_system ;;
all)
	run_unit
	run_system
	;;
esac

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$broken" -eq 0 ] && [ "$passed" -gt 0 ] || exit 1
exit 0
