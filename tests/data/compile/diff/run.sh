#!/bin/sh
# tests/data/compile/diff/run.sh - randomized differential test of the
# compilers against the real rbldnsd (Debian rbldnsd 1.0 + kdig needed).
# Not part of `make test` (it needs rbldnsd and ~1 min); run it after any
# change to zonesync/compile*.c:
#
#   make && sh tests/data/compile/diff/run.sh [BUILD] [SEEDS]
#
# Each generator writes random source files (overlapping CIDRs, ranges,
# exclusions, per-entry values, $n, $=, defaults across two files) and prints
# the addresses/names worth asking (every range boundary +-1).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../../.." && pwd)
build=${1:-build}
seeds=${2:-8}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
work=$(mktemp -d /tmp/gridns-diff-XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cc -std=c11 -D_GNU_SOURCE -O1 -g -I"$top" "$here/imgq.c" "$build/lib/libzonesync.a" \
	"$build/lib/libcommon.a" -lldns -lcrypto -o "$work/imgq"
fail=0
run() { # gen type zone files...
	gen=$1 spec=$2 zone=$3
	for s in $(seq 1 "$seeds"); do
		q=$(cd "$work" && python3 "$here/$gen" "$s" "$4" "${5:-100}")
		if ! out=$(python3 "$here/cmp.py" "$work" "$work/imgq" "$spec" "$zone" $q); then
			echo "$out" | tail -20
			fail=1
		fi
		echo "$gen seed $s: $(echo "$out" | tail -1)"
	done
}
run gen4.py bl.ex:ip4set:r4 bl.ex ip4set 150
run gen4.py bl.ex:ip4trie:r4 bl.ex ip4trie 150
run genmix.py bl.ex:ip4set:m1f,m2f bl.ex -
run gendn.py rhs.ex:dnset:rd rhs.ex -
run gen6.py bl.ex:ip6trie:r6 bl.ex -
# End to end through the snapshot and the resolver, same data:
q=$(cd "$work" && python3 "$here/gen4.py" 1 ip4set 150)
python3 "$here/e2e.py" "$build" "$work" bl.ex:ip4set:r4 bl.ex $q || fail=1
[ "$fail" = 0 ] && echo "differential: no differences" || echo "differential: DIFFERENCES"
exit "$fail"
