#!/bin/sh
# scripts/mkdeb.sh - build build/deb/gridns_VERSION_ARCH.deb with dpkg-deb
# (make deb runs this).  One package with both daemons and the tools; the
# dependencies are the Debian packages that own the shared libraries the
# binaries link (dpkg -S on ldd's output).
#
#   [DEBOUT=DIR] sh scripts/mkdeb.sh BUILD      (DIR defaults to BUILD/deb)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=${1:-build}
version=$("$build/bin/gridns-resolver" --version 2>/dev/null | awk '{print $NF; exit}')
version=${version:-0.1.0}
arch=$(dpkg --print-architecture)
out_dir=${DEBOUT:-$build/deb}
stage="$out_dir/root"
rm -rf "$stage"
mkdir -p "$stage"
DESTDIR="$stage" PREFIX=/usr UNITDIR=/usr/lib/systemd/system sh scripts/install.sh "$build" >/dev/null

# Dependencies: the packages owning the libraries the binaries name directly
# (DT_NEEDED), located through ldd.
deps=$(for b in gridns-resolver gridns-zonesync gridns; do
		ldd "$build/bin/$b" >"$out_dir/ldd.txt"
		readelf -d "$build/bin/$b" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' |
			while read -r so; do
				awk -v so="$so" '$1 == so && $3 ~ /^\// { print $3 }' "$out_dir/ldd.txt"
			done
	done | sort -u |
	while read -r lib; do
		dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null || true
	done | cut -d: -f1 | sort -u | grep -v '^libc6$' | tr '\n' ',' | sed 's/,$//; s/,/, /g')
rm -f "$out_dir/ldd.txt"

mkdir -p "$stage/DEBIAN"
cat >"$stage/DEBIAN/control" <<CTL
Package: gridns
Version: $version
Architecture: $arch
Maintainer: gridns developers <gridns@localhost>
Depends: libc6, adduser, $deps
Recommends: dns-root-data, knot-dnsutils
Section: net
Priority: optional
Description: caching DNSBL resolver and RBL distribution server
 gridns-resolver answers DNSBL/RHSBL and routing lookups from a local LMDB
 snapshot with rbldnsd-compatible answers and tiered fallback; gridns-zonesync
 distributes the zones over AXFR/IXFR with TSIG (publisher, relay, follower).
CTL
for c in resolver publisher relay follower; do echo "/etc/gridns/$c.conf"; done \
	>"$stage/DEBIAN/conffiles"
cat >"$stage/DEBIAN/postinst" <<'POST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
	getent group gridns >/dev/null || addgroup --system gridns
	getent passwd gridns >/dev/null || adduser --system --ingroup gridns \
		--home /var/lib/gridns --no-create-home --shell /usr/sbin/nologin gridns
	install -d -m 0750 -o gridns -g gridns /var/lib/gridns
	for c in resolver publisher relay follower; do
		[ -e /etc/gridns/$c.conf ] && chgrp gridns /etc/gridns/$c.conf || true
	done
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
		sysctl -q -p /usr/lib/sysctl.d/60-gridns.conf || true
	fi
fi
POST
cat >"$stage/DEBIAN/postrm" <<'POST'
#!/bin/sh
set -e
[ -d /run/systemd/system ] && systemctl daemon-reload || true
POST
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/postrm"
out="$out_dir/gridns_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$out" >/dev/null
echo "$out"
