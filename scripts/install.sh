#!/bin/sh
# scripts/install.sh - install gridns (make install runs this).
#
#   [DESTDIR=/stage] [PREFIX=/usr/local] sh scripts/install.sh BUILD
#   sh scripts/install.sh --uninstall
#
# Installs, under $DESTDIR:
#   $PREFIX/bin/            gridns-resolver, gridns-zonesync, gridns
#   $PREFIX/share/man/      gridns-resolver.8, gridns-zonesync.8, gridns.1
#   $UNITDIR                the systemd units (default $PREFIX/lib/systemd/system,
#                           which systemd searches for /usr and /usr/local)
#   $PREFIX/lib/sysctl.d/   60-gridns.conf (UDP receive buffer cap)
#   /etc/gridns/            resolver.conf, publisher.conf, relay.conf,
#                           follower.conf: only those that do not exist yet
#   $PREFIX/share/gridns/examples/   every sample config
#   $PREFIX/share/doc/gridns/        the docs and the monitoring kit
# and, only when DESTDIR is empty and we are root: the `gridns` system user
# and group, /var/lib/gridns (0750 gridns:gridns), group gridns on the
# config files, and `systemctl daemon-reload` when systemd runs.  Nothing is
# enabled or started.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
BINDIR=${BINDIR:-$PREFIX/bin}
MANDIR=${MANDIR:-$PREFIX/share/man}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
SYSCTLDIR=${SYSCTLDIR:-$PREFIX/lib/sysctl.d}
DATADIR=${DATADIR:-$PREFIX/share/gridns}
DOCDIR=${DOCDIR:-$PREFIX/share/doc/gridns}
CONFDIR=${CONFDIR:-/etc/gridns}
STATEDIR=${STATEDIR:-/var/lib/gridns}
PROGS="gridns-resolver gridns-zonesync gridns"
UNITS="gridns-resolver gridns-publisher gridns-relay gridns-follower"
CONFS="resolver publisher relay follower"

say() { printf 'install: %s\n' "$*"; }

if [ "${1:-}" = "--uninstall" ]; then
	for p in $PROGS; do rm -f "$DESTDIR$BINDIR/$p"; done
	rm -f "$DESTDIR$MANDIR/man8/gridns-resolver.8" "$DESTDIR$MANDIR/man8/gridns-zonesync.8" \
		"$DESTDIR$MANDIR/man1/gridns.1" "$DESTDIR$SYSCTLDIR/60-gridns.conf"
	for u in $UNITS; do rm -f "$DESTDIR$UNITDIR/$u.service"; done
	rm -rf "$DESTDIR$DATADIR" "$DESTDIR$DOCDIR"
	say "removed programs, man pages, units and examples; kept $CONFDIR and $STATEDIR"
	exit 0
fi

build=${1:-build}
for p in $PROGS; do
	[ -x "$build/bin/$p" ] || { echo "install: $build/bin/$p is not built (run make)" >&2; exit 1; }
done

install -d "$DESTDIR$BINDIR" "$DESTDIR$MANDIR/man1" "$DESTDIR$MANDIR/man8" "$DESTDIR$UNITDIR" \
	"$DESTDIR$SYSCTLDIR" "$DESTDIR$DATADIR/examples" "$DESTDIR$DOCDIR/monitoring/runbooks" \
	"$DESTDIR$CONFDIR"
for p in $PROGS; do
	install -m 0755 "$build/bin/$p" "$DESTDIR$BINDIR/$p"
done
say "programs in $DESTDIR$BINDIR"
install -m 0644 man/gridns-resolver.8 man/gridns-zonesync.8 "$DESTDIR$MANDIR/man8/"
install -m 0644 man/gridns.1 "$DESTDIR$MANDIR/man1/"
for u in $UNITS; do
	sed "s|@BINDIR@|$BINDIR|g" "dist/systemd/$u.service" >"$DESTDIR$UNITDIR/$u.service"
	chmod 0644 "$DESTDIR$UNITDIR/$u.service"
done
say "systemd units in $DESTDIR$UNITDIR"
install -m 0644 dist/sysctl/60-gridns.conf "$DESTDIR$SYSCTLDIR/"
install -m 0644 dist/conf/*.conf "$DESTDIR$DATADIR/examples/"
install -m 0644 docs/*.md "$DESTDIR$DOCDIR/"
install -m 0644 docs/monitoring/*.md docs/monitoring/*.yml docs/monitoring/*.json \
	"$DESTDIR$DOCDIR/monitoring/"
install -m 0644 docs/monitoring/runbooks/*.md "$DESTDIR$DOCDIR/monitoring/runbooks/"

# Sample configs: never overwrite the operator's.  0640: the zonesync files
# hold TSIG secrets.
for c in $CONFS; do
	dst="$DESTDIR$CONFDIR/$c.conf"
	if [ -e "$dst" ]; then
		say "kept existing $dst (the new sample is $DATADIR/examples/$c.conf)"
	else
		install -m 0640 "dist/conf/$c.conf" "$dst"
		say "sample config $dst"
	fi
done

if [ -n "$DESTDIR" ] || [ "$(id -u)" -ne 0 ]; then
	say "DESTDIR set or not root: no user, state directory or daemon-reload"
	exit 0
fi
if ! getent group gridns >/dev/null; then
	groupadd --system gridns
fi
if ! getent passwd gridns >/dev/null; then
	useradd --system --gid gridns --home-dir "$STATEDIR" --no-create-home \
		--shell /usr/sbin/nologin --comment "gridns daemons" gridns
	say "created system user gridns"
fi
install -d -m 0750 -o gridns -g gridns "$STATEDIR"
for c in $CONFS; do
	chgrp gridns "$CONFDIR/$c.conf"
done
say "state directory $STATEDIR (gridns:gridns 0750)"
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	sysctl -q -p "$SYSCTLDIR/60-gridns.conf" || true
	say "systemd reloaded; enable with: systemctl enable --now gridns-resolver (and gridns-follower, ...)"
fi
