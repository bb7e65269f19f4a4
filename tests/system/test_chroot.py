"""tests/system/test_chroot.py - `chroot` (issue 6): after binding and opening
the snapshot the resolver chroots to a directory holding the snapshot, keeps
answering, serves /health, and the self-check's reopen finds the snapshot by
its path inside the new root.  Needs root (chroot(2))."""
import os
import socket
import time

import dns.rcode
import pytest

from conftest import Daemon, Resolver, binpath, free_port, load_zones, run, udp, wait_dns
from drills_util import ZONE, marker_source
from test_health import FAST, wait_health

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")

PROBE = "2.0.0.127." + ZONE


def jail(workdir):
    root = workdir / "jail"
    root.mkdir()
    src = workdir / "bl.ip4set"
    src.write_text(marker_source(1))
    load_zones(root / "snap", ["%s:ip4set:%s" % (ZONE, src)])
    return root


def start(workdir, daemons, root, extra=()):
    r = Resolver(workdir, root / "snap", workers=1,
                 extra=["-o", "chroot=%s" % root] + list(FAST) + list(extra))
    daemons.append(r)
    wait_dns(r, r.port, PROBE)
    return r


@pytest.mark.parametrize("user", ["", "nobody"])
def test_chroot_serves_and_health(workdir, daemons, user):
    root = jail(workdir)
    r = start(workdir, daemons, root, ["-o", "user=%s" % user])
    m = udp(r.port, PROBE)
    assert m is not None and m.rcode() == dns.rcode.NOERROR and m.answer
    wait_health(r, 200)
    # really inside: the process's root is the jail
    assert os.readlink("/proc/%d/root" % r.proc.pid) == str(root)
    assert "chrooted to %s" % root in r.log()
    if user:
        assert os.stat("/proc/%d" % r.proc.pid).st_uid != 0


def test_chroot_snapshot_reopen_by_inner_path(workdir, daemons):
    # a canary that fails (not listed) is a "data" failure: the self-check
    # heals it by reopening the snapshot, which must work from inside
    root = jail(workdir)
    r = start(workdir, daemons, root, ["-o", "health.canary-names=nothere." + ZONE])
    deadline = time.monotonic() + 20
    while "snapshot /snap open" not in r.log() and time.monotonic() < deadline:
        assert r.alive(), r.describe()
        time.sleep(0.2)
    assert "snapshot /snap open" in r.log(), r.describe()
    m = udp(r.port, PROBE)
    assert m is not None and m.rcode() == dns.rcode.NOERROR and m.answer
    assert r.alive()


def test_chroot_snapshot_outside_is_a_config_error(workdir):
    root = workdir / "jail"
    root.mkdir()
    conf = workdir / "r.conf"
    conf.write_text('snapshot = "%s/snap";\nlisten = [ "127.0.0.1:%d" ];\n'
                    'chroot = "%s";\n' % (workdir, free_port(), root))
    cp = run([binpath("gridns-resolver"), "--check-config", "-c", conf], timeout=30)
    assert cp.returncode != 0
    assert "%s:3: snapshot" % conf in cp.stderr and "is not inside chroot" in cp.stderr, cp.stderr


def test_chroot_systemd_notify_still_reaches_the_socket(workdir, daemons):
    # NOTIFY_SOCKET is a path outside the jail, as /run/systemd/notify is:
    # READY=1 and the self-check's STATUS= (sent every round, after the
    # chroot) must still arrive
    root = jail(workdir)
    sock_path = str(workdir / "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(sock_path)
    ns.settimeout(1.0)
    try:
        r = Resolver.__new__(Resolver)
        r.port, r.metrics_port = free_port(), free_port()
        argv = [binpath("gridns-resolver"), "--snapshot", root / "snap",
                "--listen", "127.0.0.1:%d" % r.port, "--metrics", "127.0.0.1:%d" % r.metrics_port,
                "--workers", "1", "-o", "chroot=%s" % root] + list(FAST)
        Daemon.__init__(r, "gridns-resolver", argv, workdir,
                        env=dict(os.environ, NOTIFY_SOCKET=sock_path))
        daemons.append(r)
        wait_dns(r, r.port, PROBE)
        got = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
                any("READY=1" in m for m in got) and
                sum(m.startswith("STATUS=") for m in got) >= 3):
            try:
                got.append(ns.recv(4096).decode())
            except socket.timeout:
                pass
        assert any("READY=1" in m for m in got), got
        assert sum(m.startswith("STATUS=") for m in got) >= 3, got
    finally:
        ns.close()
