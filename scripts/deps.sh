#!/bin/sh
# Install the Debian packages gridns needs to build, test, benchmark and run
# its demo.  Runs apt-get when root; otherwise prints the exact command.
set -e
PKGS="build-essential pkg-config libldns-dev libunbound-dev liblmdb-dev lmdb-utils
libev-dev libjemalloc-dev libssl-dev libcmocka-dev libconfig-dev libmicrohttpd-dev
libsystemd-dev libevent-2.1-7 python3-pytest python3-dnspython rbldnsd unbound knot nsd dnsperf
knot-dnsutils prometheus clang libclang-rt-14-dev valgrind"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "gridns: missing Debian packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi
echo "gridns: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# The daemons we only use as test peers must not start as system services.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
apt-get install -y -q --no-install-recommends $missing >/dev/null
rm -f /usr/sbin/policy-rc.d
