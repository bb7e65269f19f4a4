"""Tiered resolution (issue 4): node -> grid -> NOC fallback, hedging, the
circuit breaker, expired local zones, DNSBL error codes, the recursion ACL.

The grid and NOC tiers are scriptable fake upstreams on loopback (a thread
answering with dnspython), so each fault can be injected precisely: drop
every packet, SERVFAIL, answer late, answer a Spamhaus error code.  Every
test asserts the answer the client gets, how long it took, and the metrics.
"""
import socket
import threading
import time
import urllib.request

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from conftest import (Resolver, free_port, load_zones, make_query, udp_raw, wait_dns)


class FakeUpstream:
    """A UDP DNS server whose behaviour a test switches at will.

    mode: "answer" (A 192.0.2.1, or self.a for every name), "nxdomain",
    "drop", "servfail", "refused"; self.delay adds latency (seconds)."""

    def __init__(self):
        self.port = free_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.05)
        self.mode = "answer"
        self.a = "192.0.2.1"
        self.delay = 0.0
        self.ttl = 60
        self.queries = 0
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _reply(self, q):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        if self.mode == "servfail":
            r.set_rcode(dns.rcode.SERVFAIL)
        elif self.mode == "refused":
            r.set_rcode(dns.rcode.REFUSED)
        elif self.mode == "nxdomain":
            r.set_rcode(dns.rcode.NXDOMAIN)
        elif q.question[0].rdtype == dns.rdatatype.A:
            r.answer.append(dns.rrset.from_text(q.question[0].name, self.ttl, "IN", "A", self.a))
        return r.to_wire()

    def _run(self):
        pending = []  # (due, wire, addr)
        while not self._stop:
            now = time.monotonic()
            for item in [p for p in pending if p[0] <= now]:
                pending.remove(item)
                self.sock.sendto(item[1], item[2])
            try:
                data, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            self.queries += 1
            try:
                q = dns.message.from_wire(data)
            except Exception:
                continue
            if self.mode == "drop":
                continue
            pending.append((time.monotonic() + self.delay, self._reply(q), addr))

    def close(self):
        self._stop = True
        self._t.join(2)
        self.sock.close()


@pytest.fixture
def grid():
    u = FakeUpstream()
    yield u
    u.close()


@pytest.fixture
def noc():
    u = FakeUpstream()
    u.a = "192.0.2.2"
    yield u
    u.close()


def node(workdir, grid, noc, snapshot, grid_opts="", noc_opts="", allow=None, cache=""):
    conf = workdir / "node.conf"
    port, mport = free_port(), free_port()
    conf.write_text("""
snapshot = "%s";
listen = [ "127.0.0.1:%d" ];
metrics = "127.0.0.1:%d";
workers = 1;
recursion = { dnsbl-zones = [ "dnsbl.test" ]; %s };
cache = { %s };
tiers = (
  { name = "grid"; servers = [ "127.0.0.1@%d" ]; %s },
  { name = "noc"; servers = [ "127.0.0.1@%d" ]; %s }
);
""" % (snapshot, port, mport, 'allow = [ "%s" ];' % allow if allow else "", cache,
       grid.port, grid_opts, noc.port, noc_opts))
    r = Resolver(workdir, conf=conf)
    r.port, r.metrics_port = port, mport
    wait_dns(r, port, "2.0.0.127.bl.test")
    return r


@pytest.fixture
def snapshot(workdir):
    src = workdir / "bl.txt"
    src.write_text("$SOA 60 ns.bl.test hm.bl.test 1 60 60 600 60\n:127.0.0.2:listed $\n127.0.0.2\n")
    snap = workdir / "snap"
    load_zones(snap, ["bl.test:ip4set:%s" % src])
    return snap


_n = [0]


def fresh(suffix="example.org"):
    """A name nobody asked before: no cache anywhere can answer it."""
    _n[0] += 1
    return "q%d-%d.%s" % (_n[0], time.monotonic_ns() % 1000000, suffix)


def ask(port, qname, qtype="A", timeout=5.0):
    q = make_query(qname, qtype, edns=True, rd=True)
    t0 = time.monotonic()
    wire = udp_raw(port, q.to_wire(), timeout=timeout)
    took = time.monotonic() - t0
    assert wire is not None, "no answer for %s within %ss" % (qname, timeout)
    return dns.message.from_wire(wire), took


def metrics(r):
    text = urllib.request.urlopen(r.metrics_url(), timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return text, out


def a_of(m):
    return sorted(rd.address for rrs in m.answer if rrs.rdtype == dns.rdatatype.A for rd in rrs)


def ede_of(m):
    return [o for o in (m.options or []) if o.otype == 15]


def test_grid_answers_and_is_measured(workdir, grid, noc, snapshot):
    r = node(workdir, grid, noc, snapshot)
    m, _ = ask(r.port, fresh())
    assert m.rcode() == dns.rcode.NOERROR and a_of(m) == ["192.0.2.1"]
    assert not (m.flags & dns.flags.AA)
    name = fresh()
    ask(r.port, name)
    m, _ = ask(r.port, name)  # second time: from the cache
    assert a_of(m) == ["192.0.2.1"]
    local, _ = ask(r.port, "2.0.0.127.bl.test")  # local zone: never upstream
    assert local.flags & dns.flags.AA and a_of(local) == ["127.0.0.2"]
    text, mt = metrics(r)
    assert mt['gridns_lookup_duration_seconds_count{source="grid"}'] >= 2
    assert mt['gridns_lookup_duration_seconds_count{source="cache"}'] >= 1
    assert mt['gridns_lookup_duration_seconds_count{source="local"}'] >= 1
    assert mt['gridns_cache_hits_total'] >= 1
    assert noc.queries == 0, "the NOC must not be asked while the grid answers"
    r.stop()


def test_grid_drops_noc_answers_after_grid_timeout(workdir, grid, noc, snapshot):
    grid.mode = "drop"
    r = node(workdir, grid, noc, snapshot, grid_opts="timeout-ms = 200;")
    m, took = ask(r.port, fresh())
    assert a_of(m) == ["192.0.2.2"], m
    # grid timeout + NOC RTT + scheduling slack on a shared 2-core box
    assert 0.18 <= took < 0.2 + 0.25, took
    _, mt = metrics(r)
    assert mt['gridns_tier_skips_total{from="grid",to="noc",reason="timeout"}'] >= 1
    assert mt['gridns_lookup_duration_seconds_count{source="noc"}'] >= 1
    r.stop()


def test_grid_servfail_falls_through_at_once(workdir, grid, noc, snapshot):
    grid.mode = "servfail"
    r = node(workdir, grid, noc, snapshot, grid_opts="timeout-ms = 2000;")
    m, took = ask(r.port, fresh())
    assert a_of(m) == ["192.0.2.2"]
    assert took < 1.0, "a SERVFAIL must not wait for the grid timeout (%.3fs)" % took
    _, mt = metrics(r)
    assert mt['gridns_tier_skips_total{from="grid",to="noc",reason="servfail"}'] >= 1
    r.stop()


def test_slow_grid_is_hedged(workdir, grid, noc, snapshot):
    grid.delay = 1.0
    r = node(workdir, grid, noc, snapshot, grid_opts="timeout-ms = 3000; hedge-after-ms = 100;")
    m, took = ask(r.port, fresh())
    assert a_of(m) == ["192.0.2.2"]
    assert took < 0.6, "hedging after 100 ms should answer from the NOC long before the grid (%.3fs)" % took
    _, mt = metrics(r)
    assert mt['gridns_tier_skips_total{from="grid",to="noc",reason="hedge"}'] >= 1
    r.stop()


def test_noc_down_does_not_matter_while_grid_answers(workdir, grid, noc, snapshot):
    noc.mode = "drop"
    r = node(workdir, grid, noc, snapshot)
    m, _ = ask(r.port, fresh())
    assert a_of(m) == ["192.0.2.1"]
    r.stop()


def test_both_down_servfail_with_ede_within_sum_of_timeouts(workdir, grid, noc, snapshot):
    grid.mode = noc.mode = "drop"
    r = node(workdir, grid, noc, snapshot, grid_opts="timeout-ms = 150;", noc_opts="timeout-ms = 250;")
    m, took = ask(r.port, fresh())
    assert m.rcode() == dns.rcode.SERVFAIL, "unknown must never be NXDOMAIN or empty"
    assert not m.answer
    assert ede_of(m), "SERVFAIL carries an Extended DNS Error"
    assert took < 0.15 + 0.25 + 0.3, took
    _, mt = metrics(r)
    assert mt['gridns_lookup_duration_seconds_count{source="failed"}'] >= 1
    r.stop()


def test_grid_back_in_use_within_one_probe_interval(workdir, grid, noc, snapshot):
    grid.mode = "drop"
    r = node(workdir, grid, noc, snapshot,
             grid_opts="timeout-ms = 100; fall = 2; rise = 1; backoff-ms = 300; backoff-max-ms = 300;")
    for _ in range(3):
        m, _ = ask(r.port, fresh())
        assert a_of(m) == ["192.0.2.2"]
    _, mt = metrics(r)
    assert mt['gridns_tier_up{tier="grid"}'] == 0, "after `fall` failures the grid is down"
    m, took = ask(r.port, fresh())  # down: skipped at once, no timeout paid
    assert a_of(m) == ["192.0.2.2"] and took < 0.09, took
    grid.mode = "answer"
    deadline = time.monotonic() + 2.0  # one probe interval (0.3 s) plus slack
    got = None
    while time.monotonic() < deadline:
        m, _ = ask(r.port, fresh())
        got = a_of(m)
        if got == ["192.0.2.1"]:
            break
        time.sleep(0.05)
    assert got == ["192.0.2.1"], "the grid must be used again within one probe interval"
    _, mt = metrics(r)
    assert mt['gridns_tier_up{tier="grid"}'] == 1
    r.stop()


def test_expired_local_zone_goes_to_the_grid(workdir, grid, noc):
    src = workdir / "old.txt"
    # generated 2020-01-01, expired 2020-01-02: loaded, but never served
    src.write_text("$TIMESTAMP 2020:01:01 2020:01:02\n:127.0.0.9:local $\n127.0.0.2\n")
    good = workdir / "bl.txt"
    good.write_text(":127.0.0.2:listed $\n127.0.0.2\n")
    snap = workdir / "snap"
    load_zones(snap, ["dnsbl.test:ip4set:%s" % src, "bl.test:ip4set:%s" % good])
    grid.a = "127.0.0.4"
    r = node(workdir, grid, noc, snap)
    m, _ = ask(r.port, "2.0.0.127.dnsbl.test")
    assert a_of(m) == ["127.0.0.4"], "expired local data is absent: the grid answers"
    assert not (m.flags & dns.flags.AA)
    r.stop()


def test_dnsbl_error_code_is_an_error_not_a_listing(workdir, grid, noc, snapshot):
    grid.a = "127.255.255.254"  # Spamhaus: query via a public resolver
    noc.a = "127.0.0.2"
    r = node(workdir, grid, noc, snapshot)
    m, _ = ask(r.port, "2.0.0.127." + fresh("dnsbl.test"))
    assert a_of(m) == ["127.0.0.2"], "the error code is never passed on; the NOC answers"
    text, mt = metrics(r)
    errs = [v for k, v in mt.items() if k.startswith("gridns_dnsbl_error_answers_total") and 'tier="grid"' in k]
    assert errs and sum(errs) >= 1, text
    noc.a = "10.1.2.3"  # outside 127/8: a rewritten answer, also an error
    m, _ = ask(r.port, "2.0.0.127." + fresh("dnsbl.test"))
    assert m.rcode() == dns.rcode.SERVFAIL and not m.answer, "unknown, never listed"
    # Names outside configured DNSBL zones are ordinary data.
    m, _ = ask(r.port, fresh("example.org"))
    assert a_of(m) == ["127.255.255.254"]
    r.stop()


def test_recursion_acl_refuses_others_but_serves_local(workdir, grid, noc, snapshot):
    r = node(workdir, grid, noc, snapshot, allow="10.0.0.0/8")
    m, _ = ask(r.port, fresh())
    assert m.rcode() == dns.rcode.REFUSED, "never an open resolver"
    assert grid.queries == 0
    local, _ = ask(r.port, "2.0.0.127.bl.test")
    assert a_of(local) == ["127.0.0.2"], "local zones are answered to everyone"
    _, mt = metrics(r)
    assert mt['gridns_recursion_refused_total{reason="acl"}'] >= 1
    r.stop()


def test_serve_stale_only_when_enabled_and_marked(workdir, grid, noc, snapshot):
    for enabled in (False, True):
        grid.mode = noc.mode = "answer"
        grid.ttl = 1
        r = node(workdir, grid, noc, snapshot, grid_opts="timeout-ms = 150;",
                 noc_opts="timeout-ms = 150;",
                 cache="serve-stale = %s; stale-refresh-interval = 1;" % ("true" if enabled else "false"))
        name = fresh()
        m, _ = ask(r.port, name)
        assert a_of(m) == ["192.0.2.1"]
        # The answer expires here and in libunbound (whole seconds there).
        time.sleep(2.2)
        grid.mode = noc.mode = "drop"
        m, _ = ask(r.port, name)
        if enabled:
            assert a_of(m) == ["192.0.2.1"], "expired data answers when every tier fails"
            assert any(o.code == 3 for o in ede_of(m)), "stale answers carry EDE 3"
            assert m.answer[0].ttl <= 30
        else:
            assert m.rcode() == dns.rcode.SERVFAIL and not m.answer, "stale is off by default"
        r.stop()
    grid.ttl = 60


def test_dnsbl_answers_are_never_served_stale(workdir, grid, noc, snapshot):
    """A listing is only as good as its freshness: with serve-stale on,
    expired DNSBL data still ends in SERVFAIL when every tier fails."""
    grid.ttl = 1
    grid.a = "127.0.0.2"
    r = node(workdir, grid, noc, snapshot, grid_opts="timeout-ms = 150;",
             noc_opts="timeout-ms = 150;", cache="serve-stale = true; stale-refresh-interval = 1;")
    name = "2.0.0.127." + fresh("dnsbl.test")
    m, _ = ask(r.port, name)
    assert a_of(m) == ["127.0.0.2"]
    time.sleep(2.2)
    grid.mode = noc.mode = "drop"
    m, _ = ask(r.port, name)
    assert m.rcode() == dns.rcode.SERVFAIL and not m.answer, "stale blocklist data is unknown"
    grid.ttl = 60
    r.stop()


def test_promtool_accepts_the_exposition(workdir, grid, noc, snapshot):
    import shutil
    import subprocess
    r = node(workdir, grid, noc, snapshot)
    ask(r.port, fresh())
    text, _ = metrics(r)
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian prometheus) is required"
    cp = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                        text=True, timeout=30)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    r.stop()
