"""test_health.py - the resolver's self-check (docs/health.md).

Canaries go through the resolver's own sockets; /health answers 200 or 503
with a JSON body naming each failing check; a worker loop that stops
serving is restarted in place (counted in gridns_heal_actions_total); a
node that cannot be healed exits with status 3 for its supervisor; the
systemd watchdog is pinged only while the node is not faulty.
"""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import (PROMTOOL, Daemon, Resolver, binpath, free_port, load_zones, udp,
                      wait_dns, zonesync)

SOA = "$SOA 600 ns1.{z}. hostmaster.{z}. 1 3600 600 86400 300\n"
GOOD = SOA + ":127.0.0.2:Listed $\n127.0.0.2\n10.0.0.0/8\n"
WORLD = SOA + "127.0.0.0/8\n"            # lists 1.0.0.127 too: "listing the world"
NO_TEST = SOA + "10.0.0.0/8\n127.0.0.3\n"  # lacks the 127.0.0.2 test entry
DOMS = SOA + "test\nspam.example\n"
V6 = SOA + "::ffff:7f00:2\n2001:db8::/32\n"

# Fast rounds so that a test takes seconds, not minutes.
FAST = ["-o", "health.interval-ms=300", "-o", "health.timeout-ms=500",
        "-o", "health.fall=2", "-o", "health.rise=2"]


def write_zone(d, name, text, zone):
    p = d / name
    p.write_text(text.format(z=zone))
    os.chmod(p, 0o644)
    return p


def snapshot(d, zones):
    """zones: [(zone, type, text)] -> snapshot dir"""
    snap = d / "snap"
    specs = []
    for zone, typ, text in zones:
        p = write_zone(d, zone + ".txt", text, zone)
        specs.append("%s:%s:%s" % (zone, typ, p))
    load_zones(snap, specs)
    return snap


def health(r):
    """(status, content-type, parsed JSON body) of GET /health."""
    url = "http://127.0.0.1:%d/health" % r.metrics_port
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers.get("Content-Type"), json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), json.loads(e.read())
    except urllib.error.URLError:
        return None, None, {}  # not listening yet


def metrics(r):
    with urllib.request.urlopen(r.metrics_url(), timeout=5) as resp:
        return resp.read().decode()


def metric(text, line_prefix):
    for line in text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.split()[-1])
    return None


def wait_health(r, want_status, timeout=15.0):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        if not r.alive():
            pytest.fail("resolver exited: " + r.describe(), pytrace=False)
        got = health(r)
        # 503 "starting" (no round finished yet) is not a verdict.
        if got[0] == want_status and got[2].get("status") != "starting":
            return got
        time.sleep(0.1)
    pytest.fail("/health never answered %d (last: %r)\n%s" % (want_status, got, r.describe()),
                pytrace=False)


def start(workdir, daemons, snap, extra=(), probe="bl.test", workers=2, env=None,
          listen6=False):
    if env is None:
        r = Resolver(workdir, snap, workers=workers, extra=list(FAST) + list(extra),
                     listen6=listen6)
    else:
        # Resolver() has no env parameter: same argv, our environment.
        r = Resolver.__new__(Resolver)
        r.port, r.metrics_port = free_port(), free_port()
        argv = [binpath("gridns-resolver"), "--snapshot", snap,
                "--listen", "127.0.0.1:%d" % r.port,
                "--metrics", "127.0.0.1:%d" % r.metrics_port,
                "--workers", str(workers)] + list(FAST) + list(extra)
        Daemon.__init__(r, "gridns-resolver", argv, workdir, env=env)
    daemons.append(r)
    wait_dns(r, r.port, probe)
    return r


def test_healthy_node(workdir, daemons):
    snap = snapshot(workdir, [("bl.test", "ip4set", GOOD), ("dbl.test", "dnset", DOMS),
                              ("v6.test", "ip6trie", V6)])
    r = start(workdir, daemons, snap, listen6=True)
    status, ctype, body = wait_health(r, 200)
    assert ctype == "application/json"
    assert body["healthy"] is True and body["failing"] == []
    assert body["checks"] == 6  # 3 zones, 2 workers, the snapshot
    text = metrics(r)
    for check in ("zone/bl.test", "zone/dbl.test", "zone/v6.test", "worker/0", "worker/1",
                  "snapshot"):
        assert metric(text, 'gridns_health_check_up{check="%s"}' % check) == 1, text
    assert metric(text, "gridns_healthy") == 1
    assert metric(text, 'gridns_heal_actions_total{action="restart_worker"}') == 0
    # The canaries really went through the sockets: the engine counted them.
    assert metric(text, "gridns_tcp_queries_total") > 0
    cp = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                        text=True, timeout=30)
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_listing_the_world_is_unhealthy(workdir, daemons):
    snap = snapshot(workdir, [("bl.test", "ip4set", GOOD), ("world.test", "ip4set", WORLD)])
    r = start(workdir, daemons, snap)
    status, ctype, body = wait_health(r, 503)
    assert ctype == "application/json"
    assert body["healthy"] is False
    failing = {f["check"]: f for f in body["failing"]}
    assert "zone/world.test" in failing, body
    assert "listing the world" in failing["zone/world.test"]["error"]
    assert failing["zone/world.test"]["class"] == "data"
    assert "zone/bl.test" not in failing
    assert metric(metrics(r), 'gridns_health_check_up{check="zone/world.test"}') == 0
    # Data problems are not healed by exiting: one snapshot reopen (a stale
    # handle would be ours to fix), then the node keeps serving as it is.
    time.sleep(3)
    assert r.alive()
    text = metrics(r)
    assert metric(text, 'gridns_heal_actions_total{action="exit"}') == 0
    assert metric(text, 'gridns_heal_actions_total{action="reopen_snapshot"}') == 1
    assert metric(text, 'gridns_snapshot_open') == 1
    m = udp(r.port, "2.0.0.127.bl.test", "A")
    assert m is not None and len(m.answer) == 1


@pytest.mark.parametrize("typ,text,point", [("ip4set", NO_TEST, "2.0.0.127"),
                                            ("ip6trie", SOA + "2001:db8::/32\n", "::ffff:7f00:2"),
                                            ("dnset", SOA + "spam.example\n", "test")])
def test_missing_test_entry_is_unhealthy(workdir, daemons, typ, text, point):
    snap = snapshot(workdir, [("bl.test", "ip4set", GOOD), ("x.test", typ, text)])
    r = start(workdir, daemons, snap)
    _, _, body = wait_health(r, 503)
    failing = {f["check"]: f for f in body["failing"]}
    assert "zone/x.test" in failing, body
    assert "%s is not listed" % point in failing["zone/x.test"]["error"]


def test_zone_removed_under_a_running_node(workdir, daemons):
    snap = snapshot(workdir, [("bl.test", "ip4set", GOOD), ("gone.test", "ip4set", GOOD)])
    r = start(workdir, daemons, snap, extra=["-o", "health.interval-ms=500",
                                            "-o", "health.fall=3"])
    wait_health(r, 200)
    zonesync("drop", "--snapshot", snap, "gone.test", check=True)
    t0 = time.monotonic()
    _, _, body = wait_health(r, 503, timeout=10)
    # Within two intervals: a zone gone from the snapshot is not a flaky
    # probe, so it does not wait `fall` rounds.
    assert time.monotonic() - t0 < 2 * 0.5 + 0.3
    failing = {f["check"]: f for f in body["failing"]}
    assert "no longer in the snapshot" in failing["zone/gone.test"]["error"]
    # SIGHUP: the operator says the removal was on purpose.
    os.kill(r.proc.pid, 1)
    wait_health(r, 200, timeout=10)


def test_stalled_worker_is_restarted_in_place(workdir, daemons):
    snap = snapshot(workdir, [("bl.test", "ip4set", GOOD)])
    r = start(workdir, daemons, snap, extra=["--fault", "worker-stall:2"])
    wait_health(r, 200)
    pid = r.proc.pid
    deadline = time.monotonic() + 20
    healed = False
    while time.monotonic() < deadline:
        text = metrics(r)
        if (metric(text, 'gridns_heal_actions_total{action="restart_worker"}') or 0) >= 1:
            healed = True
            break
        time.sleep(0.2)
    assert healed, r.describe()
    wait_health(r, 200, timeout=15)
    assert r.alive() and r.proc.pid == pid  # no process restart
    log = r.log(limit=200000)
    assert "TEST FAULT worker-stall" in log
    assert "worker 0 restarted" in log
    # Every worker answers again: fresh sockets spread over all of them.
    for _ in range(20):
        m = udp(r.port, "2.0.0.127.bl.test", "A", timeout=1.0, tries=1)
        assert m is not None and len(m.answer) == 1


class NotifySocket:
    """A unix datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.msgs = []  # (monotonic time, text)
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.msgs.append((time.monotonic(), data.decode(errors="replace")))

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()

    def times(self, needle):
        return [t for t, m in self.msgs if needle in m]


def test_wedged_worker_exits_3_and_watchdog_stops(workdir, daemons):
    """Healing impossible (the thread cannot even be joined): WATCHDOG=1
    stops while faulty and the process exits with status 3; a supervisor
    loop then starts it again and it is healthy."""
    snap = snapshot(workdir, [("bl.test", "ip4set", GOOD)])
    ns = NotifySocket(workdir / "notify.sock")
    env = dict(os.environ, NOTIFY_SOCKET=ns.path, WATCHDOG_USEC="600000")
    try:
        r = start(workdir, daemons, snap, env=env,
                  extra=["--fault", "worker-wedge:3", "-o", "health.max-heal-attempts=2"])
        wait_health(r, 200)
        t_start = time.monotonic()
        try:
            rc = r.proc.wait(40)
        except subprocess.TimeoutExpired:
            pytest.fail("did not exit within 40 s: " + r.describe(), pytrace=False)
        elapsed = time.monotonic() - t_start
        assert rc == 3, r.describe()
        assert elapsed < 35
        log = r.log(limit=200000)
        assert "exiting with status 3" in log
        ready = ns.times("READY=1")
        pings = ns.times("WATCHDOG=1")
        assert ready, ns.msgs
        assert len([t for t in pings if t > ready[0]]) >= 3, ns.msgs
        # The fault is injected 3 s after start: pings flow before it, and
        # once worker/0 is down they stop: the last ping comes well before
        # the exit (fall 2 rounds + 2 heal steps + waits).
        assert any("unhealthy" in m for _, m in ns.msgs if m.startswith("STATUS=")), ns.msgs
        down_at = min(t for t, m in ns.msgs if "STATUS=unhealthy" in m and "worker/0" in m)
        late = [t for t in pings if t > down_at + 0.1]
        assert not late, "WATCHDOG=1 while faulty: %r" % ns.msgs
    finally:
        ns.close()
    # The supervisor's part: start it again, without the fault.
    r2 = start(workdir, daemons, snap)
    wait_health(r2, 200)


def test_no_snapshot_is_unhealthy_but_not_faulty(workdir, daemons):
    """Before zonesync made the snapshot every local query is SERVFAIL:
    503, but nothing a restart could fix, so the node stays up."""
    r = Resolver(workdir, workdir / "not-yet", workers=1, extra=FAST)
    daemons.append(r)
    _, _, body = wait_health(r, 503)
    failing = {f["check"]: f for f in body["failing"]}
    assert "snapshot not open" in failing["snapshot"]["error"], body
    time.sleep(2)
    assert r.alive()
    assert metric(metrics(r), 'gridns_heal_actions_total{action="exit"}') == 0
    # The snapshot appears: the resolver opens it and turns healthy.
    snapshot_dir = workdir / "not-yet"
    p = write_zone(workdir, "bl.txt", GOOD, "bl.test")
    load_zones(snapshot_dir, ["bl.test:ip4set:%s" % p])
    wait_health(r, 200, timeout=40)


def test_tier_canary(workdir, daemons):
    """One fresh name per round through the tiers: it reaches the upstream
    every round (no cache answers it); a failing upstream is an 'upstream'
    failure: 503, one restart of the tier contexts, never an exit."""
    from test_tiers import FakeUpstream
    up = FakeUpstream()
    try:
        snap = snapshot(workdir, [("bl.test", "ip4set", GOOD)])
        conf = workdir / "node.conf"
        port, mport = free_port(), free_port()
        conf.write_text("""
snapshot = "%s";
listen = [ "127.0.0.1:%d" ];
metrics = "127.0.0.1:%d";
workers = 1;
health = { interval-ms = 300; timeout-ms = 1500; fall = 2; rise = 2; tier-canary = "example.org"; };
tiers = ( { name = "grid"; servers = [ "127.0.0.1@%d" ]; timeout-ms = 300; } );
""" % (snap, port, mport, up.port))
        r = Resolver(workdir, conf=conf)
        r.port, r.metrics_port = port, mport
        daemons.append(r)
        wait_dns(r, port, "bl.test")
        wait_health(r, 200)
        n0 = up.queries
        time.sleep(1.5)
        assert up.queries - n0 >= 3, "tier canary did not reach the upstream each round"
        assert metric(metrics(r), 'gridns_health_check_up{check="tiers"}') == 1
        up.mode = "servfail"
        _, _, body = wait_health(r, 503)
        failing = {f["check"]: f for f in body["failing"]}
        assert failing["tiers"]["class"] == "upstream", body
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if metric(metrics(r), 'gridns_heal_actions_total{action="restart_tiers"}') == 1:
                break
            time.sleep(0.2)
        assert metric(metrics(r), 'gridns_heal_actions_total{action="restart_tiers"}') == 1
        time.sleep(2)
        text = metrics(r)
        assert metric(text, 'gridns_heal_actions_total{action="restart_tiers"}') == 1  # once
        assert metric(text, 'gridns_heal_actions_total{action="exit"}') == 0
        up.mode = "answer"
        wait_health(r, 200, timeout=20)
    finally:
        up.close()


def test_each_tier_is_a_check_of_its_own(workdir, daemons):
    """One check per tier ("tier/<name>"): it fails while a worker's circuit
    breaker holds the tier down, names it in /health, and comes back when
    the breaker's probe finds the tier answering again."""
    from test_tiers import FakeUpstream
    grid, noc = FakeUpstream(), FakeUpstream()
    try:
        snap = snapshot(workdir, [("bl.test", "ip4set", GOOD)])
        conf = workdir / "node.conf"
        port, mport = free_port(), free_port()
        conf.write_text("""
snapshot = "%s";
listen = [ "127.0.0.1:%d" ];
metrics = "127.0.0.1:%d";
workers = 1;
health = { interval-ms = 300; timeout-ms = 1500; fall = 1; rise = 1; };
tiers = ( { name = "grid"; servers = [ "127.0.0.1@%d" ]; timeout-ms = 100; fall = 2; rise = 1;
            backoff-ms = 300; backoff-max-ms = 300; },
          { name = "noc"; servers = [ "127.0.0.1@%d" ]; timeout-ms = 500; } );
""" % (snap, port, mport, grid.port, noc.port))
        r = Resolver(workdir, conf=conf)
        r.port, r.metrics_port = port, mport
        daemons.append(r)
        wait_dns(r, port, "bl.test")
        wait_health(r, 200)
        assert metric(metrics(r), 'gridns_health_check_up{check="tier/grid"}') == 1
        assert metric(metrics(r), 'gridns_health_check_up{check="tier/noc"}') == 1
        grid.mode = "drop"
        for i in range(4):  # real client queries trip the grid's breaker
            udp(port, "down%d.example.org" % i, "A", timeout=2.0)
        _, _, body = wait_health(r, 503)
        failing = {f["check"]: f for f in body["failing"]}
        assert "tier/grid" in failing and "tier/noc" not in failing, body
        assert "circuit breaker open" in failing["tier/grid"]["error"], body
        grid.mode = "answer"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # queries carry the breaker's probes
            udp(port, "up%d.example.org" % int(time.monotonic() * 1000), "A", timeout=2.0)
            if metric(metrics(r), 'gridns_health_check_up{check="tier/grid"}') == 1:
                break
            time.sleep(0.1)
        assert metric(metrics(r), 'gridns_health_check_up{check="tier/grid"}') == 1
    finally:
        grid.close()
        noc.close()


def test_canary_name_type_is_checked_at_load(workdir):
    cp = subprocess.run([binpath("gridns-resolver"), "--check-config", "--snapshot", workdir,
                         "-o", "health.canary-names=mx.route.test/BOGUS"],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 1
    assert 'unknown type "BOGUS"' in cp.stderr + cp.stdout


def test_routing_canary_names(workdir, daemons):
    """Configured routing names must answer NOERROR with data."""
    route = workdir / "route.txt"
    route.write_text("$ORIGIN route.test.\n$TTL 60\n"
                     "@ IN SOA ns.route.test. hm.route.test. 1 60 60 600 60\n"
                     "@ IN NS ns.route.test.\nns IN A 192.0.2.53\n"
                     "cust1 IN MX 10 mx1.route.test.\nmx1 IN A 192.0.2.25\n")
    os.chmod(route, 0o644)
    snap = workdir / "snap"
    load_zones(snap, ["route.test:zone:%s" % route])
    r = start(workdir, daemons, snap, probe="route.test", extra=[
        "-o", "health.canary-names=cust1.route.test/MX,mx1.route.test,cust2.route.test/MX"])
    _, _, body = wait_health(r, 503)
    failing = {f["check"]: f for f in body["failing"]}
    assert list(failing) == ["name/cust2.route.test/MX"], body
    assert "NXDOMAIN" in failing["name/cust2.route.test/MX"]["error"]
    text = metrics(r)
    assert metric(text, 'gridns_health_check_up{check="name/cust1.route.test/MX"}') == 1
    assert metric(text, 'gridns_health_check_up{check="name/mx1.route.test"}') == 1


def test_removed_zone_is_flagged_and_falls_back_to_the_tiers(workdir, daemons):
    """The issue's proof: a zone removed under a running node is flagged by
    the canary, /health is 503 within two intervals, and its queries go to
    the tiers (never 'not listed' from a zone we no longer have)."""
    from test_tiers import FakeUpstream
    up = FakeUpstream()
    up.a = "127.0.0.2"
    try:
        snap = snapshot(workdir, [("bl.test", "ip4set", GOOD), ("keep.test", "ip4set", GOOD)])
        conf = workdir / "node.conf"
        port, mport = free_port(), free_port()
        conf.write_text("""
snapshot = "%s";
listen = [ "127.0.0.1:%d" ];
metrics = "127.0.0.1:%d";
workers = 1;
health = { interval-ms = 500; };
tiers = ( { name = "grid"; servers = [ "127.0.0.1@%d" ]; timeout-ms = 300; } );
""" % (snap, port, mport, up.port))
        r = Resolver(workdir, conf=conf)
        r.port, r.metrics_port = port, mport
        daemons.append(r)
        wait_dns(r, port, "keep.test")
        wait_health(r, 200)
        n0 = up.queries
        zonesync("drop", "--snapshot", snap, "bl.test", check=True)
        t0 = time.monotonic()
        _, _, body = wait_health(r, 503, timeout=10)
        assert time.monotonic() - t0 < 2 * 0.5 + 0.3
        assert [f["check"] for f in body["failing"]] == ["zone/bl.test"], body
        m = udp(r.port, "9.9.9.10.bl.test", "A", timeout=2.0)
        assert m is not None and len(m.answer) == 1, m
        assert up.queries > n0  # answered by the tier, not by us
    finally:
        up.close()


def test_supervisor_loop_restarts_after_exit_3(workdir, daemons):
    """The exit-for-supervisor path under a real supervisor: a shell loop
    that starts gridns-resolver again whenever it exits with status 3 (what
    systemd's Restart=on-failure does).  Only the first run has the fault."""
    snap = snapshot(workdir, [("bl.test", "ip4set", GOOD)])
    port, mport = free_port(), free_port()
    resolver = binpath("gridns-resolver")
    args = "--snapshot %s --listen 127.0.0.1:%d --metrics 127.0.0.1:%d --workers 2 %s" % (
        snap, port, mport, " ".join(FAST + ["-o", "health.max-heal-attempts=1"]))
    script = ('f="--fault worker-wedge:2"; while :; do %s %s $f; rc=$?; '
              'echo "supervisor: exit $rc"; f=""; [ $rc -eq 3 ] || break; done' % (resolver, args))
    sup = Daemon("supervisor", ["/bin/sh", "-c", script], workdir)
    sup.port, sup.metrics_port = port, mport
    daemons.append(sup)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and "supervisor: exit 3" not in sup.log(limit=200000):
            time.sleep(0.2)
        assert "supervisor: exit 3" in sup.log(limit=200000), sup.describe()
        # The second run serves and is healthy.
        r = Resolver.__new__(Resolver)
        r.port, r.metrics_port, r.proc = port, mport, sup.proc
        r.describe = sup.describe
        wait_health(r, 200, timeout=20)
        m = udp(port, "2.0.0.127.bl.test", "A")
        assert m is not None and len(m.answer) == 1
    finally:
        # The shell and the resolver it runs share a session: stop both.
        # A resolver whose worker is still wedged (the test failed before
        # the planned exit 3) cannot join that thread and would hang on
        # SIGTERM: after a grace period the whole group gets SIGKILL.
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0)):
            try:
                os.killpg(sup.proc.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                try:
                    os.killpg(sup.proc.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                continue
            break
