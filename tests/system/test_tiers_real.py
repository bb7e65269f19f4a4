"""Tiers with real upstream servers (issue 4): the grid is another
gridns-resolver serving the zone, the NOC is Debian's unbound.  Kill the
grid, watch the NOC take over; bring the grid back, watch it return within
one probe interval.  No fakes: these are the programs an operator runs."""
import shutil
import signal
import time
import urllib.request

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from conftest import (Daemon, Resolver, free_port, load_zones, make_query, udp_raw, wait_dns)


def ask(port, qname, timeout=5.0):
    q = make_query(qname, "A", edns=True, rd=True)
    t0 = time.monotonic()
    wire = udp_raw(port, q.to_wire(), timeout=timeout)
    took = time.monotonic() - t0
    assert wire is not None, "no answer for %s" % qname
    return dns.message.from_wire(wire), took


def a_of(m):
    return sorted(rd.address for rrs in m.answer if rrs.rdtype == dns.rdatatype.A for rd in rrs)


def metric(r, key):
    text = urllib.request.urlopen(r.metrics_url(), timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(key + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def start_unbound(workdir, port):
    unbound = shutil.which("unbound") or "/usr/sbin/unbound"
    conf = workdir / "unbound.conf"
    conf.write_text("""server:
  interface: 127.0.0.1
  port: %d
  do-ip6: no
  do-not-query-localhost: no
  username: ""
  chroot: ""
  directory: "%s"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  access-control: 127.0.0.0/8 allow
  local-zone: "example.org." redirect
  local-data: "example.org. 60 IN A 192.0.2.2"
""" % (port, workdir))
    d = Daemon("unbound", [unbound, "-d", "-c", conf], workdir)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        wire = udp_raw(port, make_query("probe.example.org", "A", rd=True).to_wire(), timeout=0.3)
        if wire:
            return d
        if not d.alive():
            pytest.fail("unbound exited: " + d.describe(), pytrace=False)
    d.stop()
    pytest.fail("unbound did not answer: " + d.describe(), pytrace=False)


@pytest.fixture
def topology(workdir):
    if not shutil.which("unbound") and not shutil.which("/usr/sbin/unbound"):
        pytest.fail("Debian's unbound is required (make deps installs it)", pytrace=False)
    zone = workdir / "example.org.zone"
    zone.write_text("$ORIGIN example.org.\n$TTL 60\n"
                    "@ SOA ns hm 1 60 60 600 60\n@ NS ns\nns A 192.0.2.53\n"
                    "* A 192.0.2.1\n")
    load_zones(workdir / "grid", ["example.org:zone:%s" % zone])
    bl = workdir / "bl.txt"
    bl.write_text("$SOA 60 ns.bl.test hm.bl.test 1 60 60 600 60\n127.0.0.2\n")
    load_zones(workdir / "node", ["bl.test:ip4set:%s" % bl])
    noc_port = free_port()
    noc = start_unbound(workdir, noc_port)
    grid = Resolver(workdir, workdir / "grid")
    wait_dns(grid, grid.port, "www.example.org")
    conf = workdir / "node.conf"
    port, mport = free_port(), free_port()
    conf.write_text("""snapshot = "%s";
listen = [ "127.0.0.1:%d" ];
metrics = "127.0.0.1:%d";
workers = 1;
tiers = (
  { name = "grid"; servers = [ "127.0.0.1@%d" ]; timeout-ms = 200; fall = 2; rise = 1;
    backoff-ms = 300; backoff-max-ms = 300; },
  { name = "noc"; servers = [ "127.0.0.1@%d" ]; timeout-ms = 1000; }
);
""" % (workdir / "node", port, mport, grid.port, noc_port))
    node = Resolver(workdir, conf=conf)
    node.port, node.metrics_port = port, mport
    wait_dns(node, port, "2.0.0.127.bl.test")
    state = {"grid": grid, "noc": noc, "node": node, "workdir": workdir}
    yield state
    for k in ("node", "grid", "noc"):
        if state[k].alive():
            state[k].stop()


def test_grid_killed_noc_takes_over_grid_returns(topology):
    node = topology["node"]
    n = [0]

    def fresh():
        n[0] += 1
        return "h%d-%d.example.org" % (n[0], time.monotonic_ns() % 100000)

    m, _ = ask(node.port, fresh())
    assert a_of(m) == ["192.0.2.1"], "the grid (gridns) answers first"

    grid = topology["grid"]
    grid_port, grid_snap = grid.port, topology["workdir"] / "grid"
    grid.stop(sig=signal.SIGKILL)
    m, took = ask(node.port, fresh())
    assert a_of(m) == ["192.0.2.2"], "with the grid dead, the NOC (unbound) answers"
    assert took < 0.2 + 0.5, took
    for _ in range(3):
        ask(node.port, fresh())
    assert metric(node, 'gridns_tier_up{tier="grid"}') == 0

    # The grid comes back on the same port.
    back = Daemon("gridns-resolver", [grid.argv[0], "--snapshot", grid_snap, "--listen",
                                      "127.0.0.1:%d" % grid_port, "--metrics", ""],
                  topology["workdir"])
    topology["grid"] = back
    wait_dns(back, grid_port, "www.example.org")
    deadline, got = time.monotonic() + 3.0, None
    while time.monotonic() < deadline:
        m, _ = ask(node.port, fresh())
        got = a_of(m)
        if got == ["192.0.2.1"]:
            break
        time.sleep(0.05)
    assert got == ["192.0.2.1"], "the grid is used again within one probe interval"
    assert metric(node, 'gridns_tier_up{tier="grid"}') == 1
    assert metric(node, 'gridns_lookup_duration_seconds_count{source="noc"}') >= 1


def test_everything_down_is_servfail_never_nxdomain(topology):
    node = topology["node"]
    topology["grid"].stop(sig=signal.SIGKILL)
    topology["noc"].stop(sig=signal.SIGKILL)
    m, took = ask(node.port, "gone.example.org")
    assert m.rcode() == dns.rcode.SERVFAIL and not m.answer
    assert took < 0.2 + 1.0 + 0.5, took
    local, _ = ask(node.port, "2.0.0.127.bl.test")
    assert local.rcode() == dns.rcode.NOERROR and local.flags & dns.flags.AA, \
        "local zones keep answering whatever the tiers do"
