#!/bin/sh
# scripts/demo.sh - load the bundled sample zones and run gridns-resolver in
# the foreground on 127.0.0.1:5300 (metrics on 127.0.0.1:9153).
#
#   sh scripts/demo.sh [BUILD]      (make run does this after building)
#
# Sample files are named ZONE.TYPE (tests/data/sample/bl.example.test.ip4set
# is zone bl.example.test, rbldnsd type ip4set; TYPE "zone" is an RFC 1035
# master file).  Ctrl-C stops the resolver and exits 0.
set -eu

build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bin=$build/bin
demo=$build/demo
snap=$demo/snap
listen=127.0.0.1:5300
metrics=127.0.0.1:9153

for b in gridns-zonesync gridns-resolver; do
	if [ ! -x "$bin/$b" ]; then
		echo "demo: $bin/$b is not built; run 'make' first" >&2
		exit 1
	fi
done

specs=""
for f in tests/data/sample/*; do
	name=$(basename "$f")
	zone=${name%.*}
	type=${name##*.}
	specs="$specs $zone:$type:$top/$f"
done

rm -rf "$snap"
mkdir -p "$snap"
echo "demo: loading the sample zones into $snap"
# shellcheck disable=SC2086 # one word per zone spec
"$bin/gridns-zonesync" load --snapshot "$snap" $specs
"$bin/gridns-zonesync" list --snapshot "$snap"

"$bin/gridns-resolver" --snapshot "$snap" --listen "$listen" --metrics "$metrics" &
pid=$!
stop() {
	trap - INT TERM
	echo
	echo "demo: stopping the resolver (pid $pid)"
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	exit 0
}
trap stop INT TERM

# Ready when it answers the RFC 5782 test point (bounded: 10 s).
i=0
until kdig @127.0.0.1 -p 5300 +short +timeout=1 +retry=0 2.0.0.127.bl.example.test A 2>/dev/null |
	grep -q '^127\.0\.0\.2$'; do
	i=$((i + 1))
	if ! kill -0 "$pid" 2>/dev/null || [ "$i" -ge 50 ]; then
		echo "demo: gridns-resolver did not come up on $listen (port busy?)" >&2
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		exit 1
	fi
	sleep 0.2
done

cat <<EOF

gridns demo is answering on $listen (metrics on http://$metrics/metrics).
Try, in another terminal:

  kdig @127.0.0.1 -p 5300 2.0.0.127.bl.example.test TXT +short     # a listed IP (RFC 5782 test point)
  kdig @127.0.0.1 -p 5300 test.dbl.example.test A +short           # a listed domain
  kdig @127.0.0.1 -p 5300 route.example.test MX +short             # routing data
  curl -s http://$metrics/metrics | grep '^gridns_'

Not listed: 1.0.0.127.bl.example.test (NXDOMAIN).  Press Ctrl-C to stop.
EOF

# In the foreground until the resolver exits or Ctrl-C.
set +e
wait "$pid"
rc=$?
trap - INT TERM
echo "demo: gridns-resolver exited with status $rc" >&2
exit "$rc"
