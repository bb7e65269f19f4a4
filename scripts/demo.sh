#!/bin/sh
# scripts/demo.sh - the distribution topology on loopback, with the bundled
# sample zones:
#
#   sources (BUILD/demo/src, copies of tests/data/sample)
#     -> gridns-zonesync import --db BUILD/demo/central    (central database)
#     -> gridns-zonesync publisher   127.0.0.1:5310  (metrics 127.0.0.1:9154)
#     == AXFR/IXFR + NOTIFY, TSIG hmac-sha256 ==>
#     -> gridns-zonesync follower    NOTIFY on 127.0.0.1:5311 (metrics :9155)
#        -> BUILD/demo/snap                         (node snapshot, LMDB)
#     -> gridns-resolver             127.0.0.1:5300  (metrics 127.0.0.1:9153)
#
#   sh scripts/demo.sh [BUILD]      (make run does this after building)
#
# At start it makes one update itself (an address appended to the source,
# imported at the publisher) and shows the resolver's answer before and
# after.  Sample files are named ZONE.TYPE (TYPE "zone" is an RFC 1035
# master file).  Ctrl-C stops the three daemons and exits 0.
set -eu

build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bin=$build/bin
demo=$top/$build/demo
db=$demo/central
snap=$demo/snap
src=$demo/src
listen=127.0.0.1:5300
metrics=127.0.0.1:9153
pub_port=5310
fol_port=5311

for b in gridns-zonesync gridns-resolver; do
	if [ ! -x "$bin/$b" ]; then
		echo "demo: $bin/$b is not built; run 'make' first" >&2
		exit 1
	fi
done
if ! command -v kdig >/dev/null 2>&1; then
	echo "demo: kdig is missing (apt-get install knot-dnsutils)" >&2
	exit 1
fi

pids=""
stop() {
	trap - INT TERM
	echo
	for p in $pids; do # newest first: resolver, follower, publisher
		echo "demo: stopping pid $p"
		kill "$p" 2>/dev/null || true
	done
	for p in $pids; do
		wait "$p" 2>/dev/null || true
	done
	exit "${1:-0}"
}
trap 'stop 0' INT TERM
fail() {
	echo "demo: $*" >&2
	echo "demo: logs in $demo/*.log" >&2
	stop 1
}
# until CMD succeeds, at most $1 tenths of a second
wait_for() {
	n=$1
	shift
	i=0
	until "$@"; do
		i=$((i + 1))
		[ "$i" -lt "$n" ] || return 1
		for p in $pids; do
			kill -0 "$p" 2>/dev/null || return 1
		done
		sleep 0.1
	done
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
answer() { # the resolver's short answer, or its rcode
	a=$(kdig @127.0.0.1 -p 5300 +short +timeout=1 +retry=0 "$1" A 2>/dev/null | head -1)
	if [ -n "$a" ]; then
		echo "$a"
	else
		kdig @127.0.0.1 -p 5300 +timeout=1 +retry=0 "$1" A 2>/dev/null |
			sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -1
	fi
}

rm -rf "$db" "$snap" "$src"
mkdir -p "$db" "$snap" "$src"
secret=$(head -c 32 /dev/urandom | base64)

nz=0
specs=""
zones_pub=""
zones_fol=""
for f in tests/data/sample/*; do
	name=$(basename "$f")
	zone=${name%.*}
	type=${name##*.}
	cp "$f" "$src/$name"
	nz=$((nz + 1))
	specs="$specs $zone:$type:$src/$name"
	zones_pub="$zones_pub${zones_pub:+,
  }{ name = \"$zone\"; allow = [ \"127.0.0.0/8\" ]; keys = [ \"demo\" ]; notify = [ \"127.0.0.1:$fol_port\" ]; notify-key = \"demo\"; }"
	zones_fol="$zones_fol${zones_fol:+,
  }{ name = \"$zone\"; primaries = [ \"127.0.0.1@$pub_port key demo\" ]; }"
done

echo "demo: importing the sample zones into the central database $db"
# shellcheck disable=SC2086 # one word per zone spec
"$bin/gridns-zonesync" import --db "$db" $specs

cat >"$demo/publisher.conf" <<EOF
# written by scripts/demo.sh
db = "$db";
listen = [ "127.0.0.1:$pub_port" ];
metrics = "127.0.0.1:9154";
keys = ( { name = "demo"; algorithm = "hmac-sha256"; secret = "$secret"; } );
zones = (
  $zones_pub
);
EOF
cat >"$demo/follower.conf" <<EOF
# written by scripts/demo.sh
snapshot = "$snap";
listen = "127.0.0.1:$fol_port";
metrics = "127.0.0.1:9155";
keys = ( { name = "demo"; algorithm = "hmac-sha256"; secret = "$secret"; } );
zones = (
  $zones_fol
);
EOF

echo "demo: starting the publisher on 127.0.0.1:$pub_port (log $demo/publisher.log)"
"$bin/gridns-zonesync" publisher -c "$demo/publisher.conf" >"$demo/publisher.log" 2>&1 &
pids="$!"
wait_for 100 sh -c "kdig @127.0.0.1 -p $pub_port +timeout=1 +retry=0 -y hmac-sha256:demo:$secret \
	bl.example.test SOA 2>/dev/null | grep -q 'status: NOERROR'" ||
	fail "the publisher did not come up on 127.0.0.1:$pub_port (port busy?)"

echo "demo: starting the follower (log $demo/follower.log)"
"$bin/gridns-zonesync" follower -c "$demo/follower.conf" >"$demo/follower.log" 2>&1 &
pids="$! $pids"
wait_for 150 sh -c "[ \$(grep -c 'by AXFR' '$demo/follower.log') -ge $nz ]" ||
	fail "the follower did not fetch the $nz sample zones"
"$bin/gridns-zonesync" list --snapshot "$snap"

echo "demo: starting gridns-resolver on $listen (log $demo/resolver.log)"
"$bin/gridns-resolver" --snapshot "$snap" --listen "$listen" --metrics "$metrics" \
	>"$demo/resolver.log" 2>&1 &
pids="$! $pids"
wait_for 100 sh -c "kdig @127.0.0.1 -p 5300 +short +timeout=1 +retry=0 2.0.0.127.bl.example.test A \
	2>/dev/null | grep -q '^127\.0\.0\.2$'" ||
	fail "gridns-resolver did not come up on $listen (port busy?)"

# One update, end to end: append an address to the source, import it at
# the publisher (new serial, journaled), NOTIFY -> follower IXFR -> snapshot.
new=203.0.113.99
q=99.113.0.203.bl.example.test
echo
echo "demo: an update, end to end"
echo "  before: kdig @127.0.0.1 -p 5300 $q A  ->  $(answer $q)"
echo "$new :127.0.0.5:Added by the demo's update" >>"$src/bl.example.test.ip4set"
t0=$(now_ms)
"$bin/gridns-zonesync" import --db "$db" "bl.example.test:ip4set:$src/bl.example.test.ip4set"
t1=$(now_ms)
if wait_for 50 sh -c "kdig @127.0.0.1 -p 5300 +short +timeout=1 +retry=0 $q A 2>/dev/null |
	grep -q '^127\.0\.0\.5$'"; then
	t2=$(now_ms)
	echo "  after:  kdig @127.0.0.1 -p 5300 $q A  ->  $(answer $q)"
	echo "  import took $((t1 - t0)) ms; the resolver answered it $((t2 - t1)) ms after the commit"
	grep 'by IXFR' "$demo/follower.log" | tail -1 | sed 's/^/  follower: /'
else
	echo "  after:  $(answer $q) -- the update did not arrive within 5 s (see $demo/follower.log)"
fi

cat <<EOF

gridns demo: publisher -> follower -> resolver, answering on $listen.
Try, in another terminal:

  kdig @127.0.0.1 -p 5300 2.0.0.127.bl.example.test TXT +short     # a listed IP (RFC 5782 test point)
  kdig @127.0.0.1 -p 5300 test.dbl.example.test A +short           # a listed domain
  kdig @127.0.0.1 -p 5300 route.example.test MX +short             # routing data
  curl -s http://$metrics/metrics | grep '^gridns_'          # resolver: zone serial, age
  curl -s http://127.0.0.1:9155/metrics | grep '^gridns_zone'      # follower: sync state
  $bin/gridns-zonesync status --db $db

Make an update yourself (the node answers it well within a second):

  echo 198.51.100.200 >> $src/bl.example.test.ip4set
  $bin/gridns-zonesync import --db $db bl.example.test:ip4set:$src/bl.example.test.ip4set
  kdig @127.0.0.1 -p 5300 200.100.51.198.bl.example.test A +short

Not listed: 1.0.0.127.bl.example.test (NXDOMAIN).  Press Ctrl-C to stop.
EOF

# Until Ctrl-C, or until a daemon exits.
while :; do
	for p in $pids; do
		if ! kill -0 "$p" 2>/dev/null; then
			echo "demo: pid $p exited; see $demo/*.log" >&2
			stop 1
		fi
	done
	sleep 1
done
