"""tests/system/ops_stack.py - a small three-role gridns topology on loopback
for the operating tests (test_monitoring.py, test_prometheus.py):

    central db --import--> publisher --AXFR/IXFR+TSIG--> follower --> node snapshot
                                                                         |
    grid resolver (all sample zones) <--tier "grid"-- node resolver ----+
                                       tier "noc" --> (a port nobody answers, or the grid)

Every daemon is appended to the caller's `daemons` list, so the conftest
fixture stops it in teardown whatever the test did.  Every wait is bounded.
"""
import time
import urllib.request

import dns.rcode

from conftest import (ROOT, Daemon, Resolver, binpath, free_port, load_zones, udp, wait_dns,
                      zonesync)
import pytest

SAMPLE = ROOT / "tests" / "data" / "sample"
ZONE = "bl.example.test"
SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
KEYS_CONF = 'keys = ( { name = "k1"; algorithm = "hmac-sha256"; secret = "%s"; } );' % SECRET


def scrape(port, path="/metrics", timeout=5):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=timeout) as r:
            return r.read().decode()
    except OSError:
        return ""


def families(text):
    """Metric family names announced by '# TYPE' lines of an exposition."""
    out = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            out.add(line.split()[2])
    return out


def wait_for(pred, timeout, what, daemon=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        if daemon is not None and not daemon.alive():
            pytest.fail("%s exited while waiting for %s:\n%s" % (
                daemon.name, what, daemon.describe()), pytrace=False)
        time.sleep(0.1)
    pytest.fail("timed out (%ss) waiting for %s%s" % (
        timeout, what, ("\n" + daemon.describe()) if daemon else ""), pytrace=False)


def dead_port():
    """A loopback port with nothing listening (a tier that never answers)."""
    return free_port()


class Stack:
    """publisher + follower + grid resolver + node resolver.

    grid_port: where the node's "grid" tier points (None: the grid resolver);
    expire: the follower's expire override for ZONE (seconds), so a stopped
    publisher makes the zone expire quickly."""

    def __init__(self, workdir, daemons, grid_dead=False, expire=0, refresh=0,
                 health_interval_ms=1000):
        self.workdir = workdir
        self.daemons = daemons
        # central database and publisher
        self.db = workdir / "central"
        zonesync("import", "--db", self.db, "%s:ip4set:%s" % (ZONE, SAMPLE / (ZONE + ".ip4set")),
                 check=True)
        self.fol_notify = free_port()
        self.pub_port, self.pub_mport = free_port(), free_port()
        pconf = workdir / "publisher.conf"
        pconf.write_text(
            'db = "%s";\nlisten = [ "127.0.0.1:%d" ];\nmetrics = "127.0.0.1:%d";\n%s\n'
            'zones = ( { name = "%s"; allow = [ "127.0.0.0/8" ]; keys = [ "k1" ]; '
            'notify = [ "127.0.0.1:%d" ]; notify-key = "k1"; } );\n' % (
                self.db, self.pub_port, self.pub_mport, KEYS_CONF, ZONE, self.fol_notify))
        self.publisher = Daemon("publisher", [binpath("gridns-zonesync"), "publisher", "-c",
                                              pconf], workdir)
        daemons.append(self.publisher)
        wait_for(lambda: "gridns_publisher_zone_serial" in scrape(self.pub_mport), 15,
                 "the publisher's /metrics", self.publisher)
        # follower (node side)
        self.snap = workdir / "node-snap"
        self.snap.mkdir()
        self.fol_mport = free_port()
        zextra = ""
        if expire:
            zextra += "expire = %d; " % expire
        if refresh:
            zextra += "refresh = %d; retry = %d; " % (refresh, refresh)
        fconf = workdir / "follower.conf"
        fconf.write_text(
            'snapshot = "%s";\nlisten = "127.0.0.1:%d";\nmetrics = "127.0.0.1:%d";\n'
            'refresh-min = 1;\nretry-min = 1;\n%s\n'
            'zones = ( { name = "%s"; primaries = [ "127.0.0.1@%d key k1" ]; %s} );\n' % (
                self.snap, self.fol_notify, self.fol_mport, KEYS_CONF, ZONE, self.pub_port,
                zextra))
        self.follower = Daemon("follower", [binpath("gridns-zonesync"), "follower", "-c",
                                            fconf], workdir)
        daemons.append(self.follower)
        wait_for(lambda: 'gridns_zone_serial{zone="%s"}' % ZONE in scrape(self.fol_mport), 20,
                 "the follower's first transfer", self.follower)
        # the grid: a resolver serving every sample zone from its own snapshot
        gsnap = workdir / "grid-snap"
        specs = []
        for f in sorted(SAMPLE.iterdir()):
            zone, typ = f.name.rsplit(".", 1)
            specs.append("%s:%s:%s" % (zone, typ, f))
        load_zones(gsnap, specs)
        self.grid = Resolver(workdir, gsnap, workers=1)
        daemons.append(self.grid)
        wait_dns(self.grid, self.grid.port, "test.dbl.example.test")
        # the node: the follower's snapshot, tiers grid -> noc
        self.dead = dead_port()
        grid_port = self.dead if grid_dead else self.grid.port
        noc_port = self.grid.port if grid_dead else self.dead
        self.node_port, self.node_mport = free_port(), free_port()
        nconf = workdir / "node.conf"
        nconf.write_text("""
snapshot = "%s";
listen = [ "127.0.0.1:%d" ];
metrics = "127.0.0.1:%d";
workers = 1;
recursion = { dnsbl-zones = [ "dbl.example.test" ]; };
health = { interval-ms = %d; timeout-ms = 900; tier-canary = "route.example.test"; };
tiers = (
  { name = "grid"; servers = [ "127.0.0.1@%d" ]; timeout-ms = 200; fall = 2;
    backoff-ms = 1000; backoff-max-ms = 2000; },
  { name = "noc"; servers = [ "127.0.0.1@%d" ]; timeout-ms = 300; }
);
""" % (self.snap, self.node_port, self.node_mport, health_interval_ms, grid_port, noc_port))
        self.node = Resolver(workdir, conf=nconf)
        self.node.port, self.node.metrics_port = self.node_port, self.node_mport
        daemons.append(self.node)
        wait_dns(self.node, self.node_port, "2.0.0.127." + ZONE)

    def traffic(self, n=20):
        """Local, cached and tiered lookups, so every family has samples."""
        for i in range(n):
            udp(self.node_port, "2.0.0.127." + ZONE, "A", timeout=1, tries=1)
            udp(self.node_port, "1.0.0.127." + ZONE, "A", timeout=1, tries=1)
            udp(self.node_port, "test.dbl.example.test", "A", timeout=1, tries=1)
            udp(self.node_port, "n%d-%d.route.example.test" % (i, time.monotonic_ns()), "A",
                timeout=1, tries=1)

    def node_metrics(self):
        return scrape(self.node_mport)

    def follower_metrics(self):
        return scrape(self.fol_mport)

    def publisher_metrics(self):
        return scrape(self.pub_mport)


def answers_listed(port, qname):
    r = udp(port, qname, "A", timeout=1, tries=1)
    return r is not None and r.rcode() == dns.rcode.NOERROR and len(r.answer) > 0
