#!/bin/sh
# tests/fuzz/valgrind_smoke.sh - one leak check of a daemon's life: load the
# sample zones (gridns-zonesync load under valgrind), start gridns-resolver
# under valgrind on that snapshot, ask it a few queries over UDP and TCP with
# kdig, stop it with SIGTERM, and require that valgrind saw no memory error
# and no definite or indirect leak in either program.
#
#   sh tests/fuzz/valgrind_smoke.sh [VGBUILD]
#
# VGBUILD (default build-fuzz/vg) is built here with gcc and WITHOUT jemalloc
# (JEMALLOC= on the make line): valgrind cannot see allocations that jemalloc
# makes from its own mmap'd arenas, so a leak there would be invisible.
# Not part of make test (valgrind makes the resolver ~30x slower); run by
# hand, results in docs/fuzzing.md.
set -eu

vg=${1:-build-fuzz/vg}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
port=${VG_PORT:-15353}
mport=$((port + 1))

make --no-print-directory -s BUILD="$vg" JEMALLOC= "$vg/bin/gridns-resolver" "$vg/bin/gridns-zonesync"

work=$(mktemp -d /tmp/gridns-vg.XXXXXX)
pid=""
cleanup() {
	# shellcheck disable=SC2086 # one pid, or two
	[ -n "$pid" ] && kill -TERM $pid 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

VG="valgrind --leak-check=full --show-leak-kinds=definite,indirect
--errors-for-leak-kinds=definite,indirect --error-exitcode=99 --num-callers=30"

# valgrind's own verdict: no error, and the leak summary (when there was
# anything to summarise) shows nothing definitely or indirectly lost.
clean() {
	grep -q 'ERROR SUMMARY: 0 errors' "$1" &&
		! grep -q 'definitely lost: [1-9]\|indirectly lost: [1-9]' "$1"
}
summary() {
	sed -n 's/.*\(total heap usage: .*\)/\1/p; s/.*\(in use at exit: .*\)/\1/p; s/.*\(definitely lost: .*\)/\1/p; s/.*\(ERROR SUMMARY: [0-9]* errors\).*/\1/p' "$1" | tr '\n' ';'
}

specs=""
for f in tests/data/sample/*; do
	name=$(basename "$f")
	specs="$specs ${name%.*}:${name##*.}:$top/$f"
done
mkdir -p "$work/snap"
# shellcheck disable=SC2086 # one word per option and per zone spec
if ! $VG --log-file="$work/zonesync.vg" "$vg/bin/gridns-zonesync" load --snapshot "$work/snap" \
	$specs >"$work/zonesync.out" 2>&1 || ! clean "$work/zonesync.vg"; then
	cat "$work/zonesync.out" "$work/zonesync.vg"
	echo "valgrind: gridns-zonesync load FAILED"
	exit 1
fi
echo "valgrind: gridns-zonesync load: clean ($(summary "$work/zonesync.vg"))"

# shellcheck disable=SC2086
$VG --log-file="$work/resolver.vg" "$vg/bin/gridns-resolver" --snapshot "$work/snap" \
	--listen "127.0.0.1:$port" --metrics "127.0.0.1:$mport" --workers 2 \
	>"$work/resolver.out" 2>&1 &
pid=$!

# Ready when it answers the RFC 5782 test point (valgrind is slow: 60 s).
i=0
until kdig @127.0.0.1 -p "$port" +short +timeout=1 +retry=0 2.0.0.127.bl.example.test A 2>/dev/null |
	grep -q '^127\.0\.0\.2$'; do
	i=$((i + 1))
	if ! kill -0 "$pid" 2>/dev/null || [ "$i" -ge 60 ]; then
		cat "$work/resolver.out" "$work/resolver.vg"
		echo "valgrind: gridns-resolver did not start"
		exit 1
	fi
	sleep 1
done

fail=0
ask() {
	out=$(kdig @127.0.0.1 -p "$port" +timeout=5 +retry=1 "$@" 2>&1) || true
	if ! printf '%s\n' "$out" | grep -q 'status: '; then
		echo "valgrind: query $* got no answer"
		fail=1
	fi
}
ask 2.0.0.127.bl.example.test TXT
ask 25.100.51.198.bl.example.test A
ask 2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl6.example.test ANY
ask x.bad.example.dbl.example.test TXT +tcp
ask route.example.test MX +dnssec
ask www.route.example.test A +tcp
ask nothing.example A +norecurse
curl -sf "http://127.0.0.1:$mport/metrics" >/dev/null 2>&1 || true

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
if [ "$rc" -ne 0 ] || [ "$fail" -ne 0 ] || ! clean "$work/resolver.vg"; then
	cat "$work/resolver.out" "$work/resolver.vg"
	echo "valgrind: gridns-resolver FAILED (exit $rc)"
	exit 1
fi
echo "valgrind: gridns-resolver start, 7 queries, SIGTERM: clean ($(summary "$work/resolver.vg"))"

# The distribution daemons: import into a central database, a publisher
# serving it, a follower taking the zone by AXFR, a second import that the
# publisher NOTIFYs and the follower takes by IXFR, then SIGTERM to both.
# Every program here runs under valgrind, the two imports included.
zone=bl.example.test
secret=c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0
keys="keys = ( { name = \"k1\"; algorithm = \"hmac-sha256\"; secret = \"$secret\"; } );"
pport=$((port + 2))
fport=$((port + 3))
fmport=$((port + 4))
cp "tests/data/sample/$zone.ip4set" "$work/src.ip4set"
vg_import() {
	if ! $VG --log-file="$work/import$1.vg" "$vg/bin/gridns-zonesync" import --db "$work/db" \
		"$zone:ip4set:$work/src.ip4set" >"$work/import$1.out" 2>&1 ||
		! clean "$work/import$1.vg"; then
		cat "$work/import$1.out" "$work/import$1.vg"
		echo "valgrind: gridns-zonesync import ($1) FAILED"
		exit 1
	fi
}
vg_import 1
printf '%s\n' "db = \"$work/db\";" "listen = [ \"127.0.0.1:$pport\" ];" 'metrics = "";' "$keys" \
	"zones = ( { name = \"$zone\"; allow = [ \"127.0.0.0/8\" ]; keys = [ \"k1\" ];" \
	"            notify = [ \"127.0.0.1:$fport\" ]; notify-key = \"k1\"; } );" >"$work/pub.conf"
mkdir -p "$work/fsnap"
printf '%s\n' "snapshot = \"$work/fsnap\";" "listen = \"127.0.0.1:$fport\";" \
	"metrics = \"127.0.0.1:$fmport\";" "$keys" \
	"zones = ( { name = \"$zone\"; primaries = [ \"127.0.0.1@$pport key k1\" ]; } );" \
	>"$work/fol.conf"
$VG --log-file="$work/pub.vg" "$vg/bin/gridns-zonesync" publisher -c "$work/pub.conf" \
	>"$work/pub.out" 2>&1 &
ppid=$!
$VG --log-file="$work/fol.vg" "$vg/bin/gridns-zonesync" follower -c "$work/fol.conf" \
	>"$work/fol.out" 2>&1 &
fpid=$!
pid="$ppid $fpid" # for cleanup()

# One figure of the follower's /metrics ("" while it has none).
fmetric() {
	curl -sf "http://127.0.0.1:$fmport/metrics" 2>/dev/null |
		sed -n "s/^$1 \\([0-9]*\\)\$/\\1/p"
}
# Wait (60 s: valgrind is slow) until the zone has a serial other than $1.
wait_serial() {
	i=0
	while s=$(fmetric "gridns_zone_serial{zone=\"$zone\"}"); [ -z "$s" ] || [ "$s" = "$1" ]; do
		i=$((i + 1))
		if ! kill -0 "$ppid" 2>/dev/null || ! kill -0 "$fpid" 2>/dev/null || [ "$i" -ge 60 ]; then
			cat "$work/pub.out" "$work/fol.out" "$work/pub.vg" "$work/fol.vg"
			echo "valgrind: the follower did not reach a serial after '${1}'"
			return 1
		fi
		sleep 1
	done
	echo "$s"
}
s1=$(wait_serial "") || exit 1
printf '198.51.100.77 :127.0.0.4:added by the valgrind smoke\n' >>"$work/src.ip4set"
vg_import 2
s2=$(wait_serial "$s1") || exit 1
ixfr=$(fmetric "gridns_sync_transfers_total{zone=\"$zone\",kind=\"ixfr\",result=\"ok\"}")

kill -TERM "$ppid" "$fpid"
prc=0
frc=0
wait "$ppid" || prc=$?
wait "$fpid" || frc=$?
pid=""
for d in pub:$prc fol:$frc; do
	n=${d%%:*}
	rc=${d#*:}
	if [ "$rc" -ne 0 ] || ! clean "$work/$n.vg"; then
		cat "$work/$n.out" "$work/$n.vg"
		echo "valgrind: gridns-zonesync ($n) FAILED (exit $rc)"
		exit 1
	fi
done
if [ "${ixfr:-0}" -lt 1 ]; then
	cat "$work/fol.out"
	echo "valgrind: the second version did not arrive by IXFR (serial $s1 -> $s2)"
	exit 1
fi
echo "valgrind: gridns-zonesync import x2: clean ($(summary "$work/import2.vg"))"
echo "valgrind: gridns-zonesync publisher, AXFR + NOTIFY + IXFR, SIGTERM: clean ($(summary "$work/pub.vg"))"
echo "valgrind: gridns-zonesync follower, serial $s1 -> $s2 by IXFR, SIGTERM: clean ($(summary "$work/fol.vg"))"
