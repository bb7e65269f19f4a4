"""tests/system/test_abuse.py - access control and abuse (issue 6): each abuse
is tried against the real daemons on loopback and the refusal asserted.
docs/reliability.md lists them with what was observed."""
import re
import socket
import struct
import subprocess
import threading
import time
import urllib.request
from unittest import mock

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import pytest

from conftest import Resolver, binpath, free_port, load_zones, run, tcp, udp, udp_raw, wait_dns
from drills_util import (KEYRING, MARKER, ZONE, metric, metrics, marker_source, stack, wait_for)

PROBE = "2.0.0.127." + ZONE


@pytest.fixture
def snap(workdir):
    src = workdir / "bl.ip4set"
    # many TXT entries under one name would not fit: ip4set answers one A+TXT;
    # the big answer for the size cap comes from a generic zone below
    src.write_text(marker_source(1))
    gen = workdir / "big.generic"
    gen.write_text("$SOA 60 ns.big.test hm.big.test 1 60 60 600 60\n" +
                   "".join("many TXT \"%s-%03d\"\n" % ("x" * 60, i) for i in range(60)) +
                   "one A 192.0.2.1\none AAAA 2001:db8::1\none TXT \"t\"\none MX 10 mx.big.test.\n")
    s = workdir / "snap"
    load_zones(s, ["%s:ip4set:%s" % (ZONE, src), "big.test:generic:%s" % gen])
    return s


def node(workdir, snap, text, daemons):
    port, mport = free_port(), free_port()
    conf = workdir / ("r-%d.conf" % port)
    conf.write_text('snapshot = "%s";\nlisten = [ "127.0.0.1:%d" ];\nmetrics = "127.0.0.1:%d";\n'
                    'workers = 1;\n%s\n' % (snap, port, mport, text))
    r = Resolver(workdir, conf=conf)
    r.port, r.metrics_port = port, mport
    daemons.append(r)
    wait_dns(r, port, PROBE)
    return r


# ---- who may ask what -----------------------------------------------------------

def test_recursion_acl_refuses_other_networks(workdir, snap, daemons):
    # a tier exists (a dead port: never reached, the ACL refuses first); the
    # client 127.0.0.1 is not in recursion.allow
    r = node(workdir, snap, 'recursion = { allow = [ "127.0.0.2/32" ]; };\n'
             'tiers = ( { name = "grid"; servers = [ "127.0.0.1@%d" ]; } );' % free_port(),
             daemons)
    m = udp(r.port, "www.example.org", "A", edns=True)
    assert m is not None and m.rcode() == dns.rcode.REFUSED
    assert any(o.otype == 15 and o.code == 18 for o in m.options), m  # EDE Prohibited
    # local zones are still answered (authoritative data)
    m = udp(r.port, PROBE, "A")
    assert m.rcode() == dns.rcode.NOERROR and m.answer
    text = metrics(r.metrics_port)
    assert metric(text, "gridns_recursion_refused_total", reason="acl") >= 1


def test_no_tiers_means_no_recursion(workdir, snap, daemons):
    r = node(workdir, snap, "", daemons)
    m = udp(r.port, "www.example.org", "A")
    assert m is not None and m.rcode() == dns.rcode.REFUSED


# ---- amplification ---------------------------------------------------------------

def test_any_is_minimal(workdir, snap, daemons):
    r = node(workdir, snap, "", daemons)
    m = udp(r.port, "one.big.test", "ANY", edns=True)
    assert m is not None and m.rcode() == dns.rcode.NOERROR
    assert len(m.answer) <= 1, m  # RFC 8482: one RRset, not all four
    m = udp(r.port, PROBE, "ANY", edns=True)
    assert {rr.rdtype for rr in m.answer} <= {1, 16}  # a DNSBL entry: A and TXT only


def test_udp_response_size_cap(workdir, snap, daemons):
    r = node(workdir, snap, "udp = { edns-payload = 1232; };", daemons)
    for payload in (4096, 65000):
        q = dns.message.make_query("many.big.test", "TXT", use_edns=0, payload=payload)
        data = udp_raw(r.port, q.to_wire())
        assert data is not None and len(data) <= 1232, len(data or b"")
        assert dns.message.from_wire(data).flags & dns.flags.TC
    q = dns.message.make_query("many.big.test", "TXT")  # no EDNS: 512
    data = udp_raw(r.port, q.to_wire())
    assert len(data) <= 512 and dns.message.from_wire(data).flags & dns.flags.TC
    # the whole answer only over TCP, which cannot be spoofed
    m = tcp(r.port, "many.big.test", "TXT")
    assert m is not None and sum(len(rr) for rr in m.answer) == 60


def test_oversized_query_dropped(workdir, snap, daemons):
    r = node(workdir, snap, "", daemons)
    q = dns.message.make_query(PROBE, "A").to_wire()
    assert udp_raw(r.port, q + b"\0" * 5000, timeout=0.5) is None
    assert udp(r.port, PROBE, "A") is not None


# ---- slowloris -------------------------------------------------------------------

def test_tcp_slowloris_does_not_starve_the_worker(workdir, snap, daemons):
    r = node(workdir, snap, "tcp = { max-connections = 64; idle-timeout-ms = 1000; };", daemons)
    socks = []
    stop = threading.Event()
    try:
        for _ in range(100):  # more than max-connections
            try:
                s = socket.create_connection(("127.0.0.1", r.port), timeout=2)
                s.setblocking(False)
                s.send(b"\x00")  # half a length prefix
                socks.append(s)
            except OSError:
                pass

        def dribble():
            for _ in range(40):
                if stop.is_set():
                    return
                for s in socks:
                    try:
                        s.send(b"\x20")
                    except OSError:
                        pass
                time.sleep(0.1)
        t = threading.Thread(target=dribble, daemon=True)
        t.start()
        # the single worker keeps answering UDP and new TCP clients
        t0 = time.monotonic()
        ok_udp = ok_tcp = 0
        time.sleep(1.1)  # the dribblers are older than a second
        while time.monotonic() - t0 < 3.0:
            m = udp(r.port, PROBE, "A", timeout=0.5, tries=1)
            ok_udp += m is not None and m.rcode() == dns.rcode.NOERROR
            m = tcp(r.port, PROBE, "A", timeout=3)
            ok_tcp += m is not None and m.rcode() == dns.rcode.NOERROR
        assert ok_udp >= 5 and ok_tcp >= 5, (ok_udp, ok_tcp)
        stop.set()
        t.join(10)
        # the dribblers were cut: each socket reads EOF or a reset
        time.sleep(1.5)
        cut = 0
        for s in socks:
            try:
                s.setblocking(True)
                s.settimeout(0.2)
                cut += s.recv(1) == b""
            except (ConnectionResetError, BrokenPipeError):
                cut += 1
            except OSError:
                pass
        assert cut >= len(socks) * 0.9, (cut, len(socks))
    finally:
        stop.set()
        for s in socks:
            s.close()
    assert r.alive()


def test_http_slowloris_does_not_touch_dns(workdir, snap, daemons):
    r = node(workdir, snap, "", daemons)
    socks = []
    try:
        for _ in range(40):  # beyond the 32 connections of the endpoint
            try:
                s = socket.create_connection(("127.0.0.1", r.metrics_port), timeout=2)
                s.send(b"GET /metr")
                socks.append(s)
            except OSError:
                pass
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.0:
            m = udp(r.port, PROBE, "A", timeout=0.5, tries=1)
            assert m is not None and m.rcode() == dns.rcode.NOERROR
        # the half-open requests are dropped after the 10 s idle timeout and
        # the endpoint answers again
        for s in socks:
            s.close()
        socks = []
        wait_for(lambda: metrics(r.metrics_port), 15, "/metrics back", r)
        # an oversized request line is refused, not buffered
        s = socket.create_connection(("127.0.0.1", r.metrics_port), timeout=5)
        s.sendall(b"GET /" + b"a" * 200000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        head = s.recv(200)
        s.close()
        assert re.match(rb"HTTP/1\.[01] (414|400|431)", head), head
    except ConnectionResetError:
        pass  # closed on us while sending the oversized line: also a refusal
    finally:
        for s in socks:
            s.close()
    assert r.alive()


HTTP_DEADLINE = 10   # common/httpd.c: a request must arrive and be answered in 10 s
HTTP_SLOTS = 32      # the endpoint's connection limit
HTTP_PER_IP = 16     # at most half of the slots for one client address
HTTP_GIVE_WAY = 1.0  # over the limit, a connection with no request for 1 s gives way


def http_get(port, path, source="127.0.0.1", timeout=1.0):
    """(status, whole answer) of GET path over HTTP/1.0, or (None, what came)
    when not answered in time (held in the listen queue, refused, cut).
    `timeout` bounds the whole exchange, not each read."""
    end = time.monotonic() + timeout
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                     source_address=(source, 0))
    except OSError:
        return None, b""
    data = b""
    try:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.0\r\n\r\n")
        while time.monotonic() < end:
            s.settimeout(max(0.01, end - time.monotonic()))
            chunk = s.recv(65536)
            if not chunk:
                break  # HTTP/1.0: the server closes after the answer
            data += chunk
        else:
            return None, data
    except OSError:
        return None, data
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return (int(m.group(1)) if m else None), data


def http_status(port, path, source="127.0.0.1", timeout=1.0):
    """The status code of GET path, or None when not answered in time."""
    return http_get(port, path, source, timeout)[0]


class Dribblers:
    """HTTP slowloris that the inactivity timeout never sees: `per_source`
    clients from each address, each sending one more byte of a request line
    every `every` s (the line would take a minute), and opening a new
    connection as soon as one is cut.  One thread; every socket non-blocking."""
    LINE = b"GET /metrics?" + b"x" * 80 + b" HTTP/1.1\r\nHost: gridns\r\n\r\n"

    def __init__(self, port, sources, per_source, every=1.0):
        self.port, self.every = port, every
        self.conns = []          # [socket, source, opened at, next byte at, bytes sent]
        self.lives = []          # (opened at, cut at) of every connection cut
        self.opened = 0
        self.stop = threading.Event()
        for src in sources:
            for _ in range(per_source):
                self.conns.append(self.connect(src))
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def connect(self, src):
        # the kernel completes the handshake even while the daemon does not
        # accept, so this does not block on a full endpoint
        s = socket.create_connection(("127.0.0.1", self.port), timeout=2,
                                     source_address=(src, 0))
        s.setblocking(False)
        s.send(self.LINE[:1])
        self.opened += 1
        now = time.monotonic()
        return [s, src, now, now + self.every, 1]

    def run(self):
        while not self.stop.is_set():
            now = time.monotonic()
            for i, c in enumerate(self.conns):
                s, src, opened, due, sent = c
                try:
                    cut = s.recv(512) is not None  # EOF or an error page: cut
                except BlockingIOError:
                    cut = False
                except OSError:
                    cut = True
                if not cut and now >= due:
                    try:
                        s.send(self.LINE[sent % len(self.LINE):][:1])
                        c[3], c[4] = due + self.every, sent + 1
                    except BlockingIOError:
                        pass
                    except OSError:
                        cut = True
                if cut:
                    self.lives.append((opened, now))
                    s.close()
                    try:
                        self.conns[i] = self.connect(src)
                    except OSError:
                        c[3] = now + self.every  # listen queue full: retry later
            time.sleep(0.05)

    def close(self):
        self.stop.set()
        self.thread.join(10)
        for c in self.conns:
            c[0].close()


def http_attack_dns(r, dns_counts):
    """One UDP and one TCP probe: DNS is another thread and answers all the
    way through an HTTP attack.  Adds to dns_counts = [answered, sent]."""
    m = udp(r.port, PROBE, "A", timeout=1.0, tries=1)
    dns_counts[0] += m is not None and m.rcode() == dns.rcode.NOERROR
    m = tcp(r.port, PROBE, "A", timeout=2)
    dns_counts[0] += m is not None and m.rcode() == dns.rcode.NOERROR
    dns_counts[1] += 2


def test_http_dribblers_are_cut_at_the_request_deadline(workdir, snap, daemons):
    r = node(workdir, snap, "", daemons)
    # exactly as many dribblers as HTTP slots, from four addresses so that the
    # per-address limit does not stop them: the endpoint is full, and with no
    # newcomer none of them ever has to give way, so only the deadline frees
    # the slots (the next test adds newcomers)
    srcs = ["127.0.0.%d" % i for i in (11, 12, 13, 14)]
    t0 = time.monotonic()
    d = Dribblers(r.metrics_port, srcs, HTTP_SLOTS // len(srcs))
    dns_counts = [0, 0]
    try:
        while time.monotonic() - t0 < HTTP_DEADLINE - 2:
            http_attack_dns(r, dns_counts)
            time.sleep(0.1)
        # every dribbler still holds its slot: each sent a byte every second,
        # so the idle timeout never fired, and nobody had to give way
        assert not d.lives and d.opened == HTTP_SLOTS, (d.lives, d.opened)
        while time.monotonic() - t0 < HTTP_DEADLINE + 4:
            http_attack_dns(r, dns_counts)
            time.sleep(0.1)
        assert dns_counts[1] >= 10 and dns_counts[0] == dns_counts[1], dns_counts
        # the dribblers holding the slots were cut at the deadline (the check
        # runs at least once a second; the test machine is loaded) and came
        # back, still dribbling
        cuts = sorted(round(cut - t0, 1) for _, cut in d.lives)
        assert len(cuts) >= HTTP_SLOTS and cuts[HTTP_SLOTS - 1] <= HTTP_DEADLINE + 3, cuts
        assert cuts[0] >= HTTP_DEADLINE - 1, cuts
        assert d.thread.is_alive() and d.opened >= 2 * HTTP_SLOTS, d.opened
        # and counted (this scrape may make one dribbler give way, no more)
        status, page = http_get(r.metrics_port, "/metrics", timeout=2.0)
        assert status == 200, page[:200]
        text = page.decode(errors="replace")
        assert metric(text, "gridns_http_connections_cut_total",
                      reason="deadline") >= HTTP_SLOTS, text[-500:]
        assert metric(text, "gridns_http_connections_cut_total",
                      reason="evicted") <= 1, text[-500:]
    finally:
        d.close()
    assert r.alive()


def test_http_dribblers_give_way_to_new_clients(workdir, snap, daemons):
    r = node(workdir, snap, "", daemons)
    # more dribblers than slots from four addresses (under the per-address
    # limit), reconnecting as soon as they are cut: the attack the deadline
    # alone only blunts, as each deadline hands the slots back to them
    srcs = ["127.0.0.%d" % i for i in (31, 32, 33, 34)]
    t0 = time.monotonic()
    d = Dribblers(r.metrics_port, srcs, 10)
    dns_counts = [0, 0]
    answers = []   # (path, status, seconds taken, at)
    evicted = []
    try:
        time.sleep(HTTP_GIVE_WAY + 0.5)
        # three rounds, before and after the first deadline: a scrape and a
        # health check, each from a new connection, are answered at once
        # (the oldest dribbler gives way), not after the ~10 s deadline
        for at in (2.0, 6.0, 11.0):
            while time.monotonic() - t0 < at:
                http_attack_dns(r, dns_counts)
                time.sleep(0.1)
            assert len(d.conns) == 40 and d.thread.is_alive(), "the attack stopped"
            for path in ("/metrics", "/health"):
                t = time.monotonic()
                status, page = http_get(r.metrics_port, path, timeout=5.0)
                answers.append((path, status, round(time.monotonic() - t, 2),
                                round(t - t0, 1)))
                if path == "/metrics" and status == 200:
                    evicted.append(metric(page.decode(errors="replace"),
                                          "gridns_http_connections_cut_total",
                                          reason="evicted"))
        assert all(st == 200 and took <= 2.0 for _, st, took, _ in answers), answers
        assert dns_counts[1] >= 10 and dns_counts[0] == dns_counts[1], dns_counts
        # the dribblers did hold the endpoint: they were cut long before the
        # deadline, each after about the second it may wait once others need
        # its slot, came back at once, and the endpoint counted each eviction
        lives = sorted(round(cut - opened, 1) for opened, cut in d.lives)
        assert len(lives) >= 40, lives
        assert lives[len(lives) // 2] < HTTP_DEADLINE / 2, lives
        assert lives[0] >= HTTP_GIVE_WAY - 0.1, lives
        assert evicted[0] > 0 and evicted == sorted(evicted) and evicted[-1] > evicted[0], \
            evicted
    finally:
        d.close()
    assert r.alive()


def test_http_one_address_cannot_take_every_slot(workdir, snap, daemons):
    r = node(workdir, snap, "", daemons)
    socks = []
    try:
        for _ in range(HTTP_PER_IP + 8):
            s = socket.create_connection(("127.0.0.1", r.metrics_port), timeout=2,
                                         source_address=("127.0.0.21", 0))
            s.send(b"GET /met")
            socks.append(s)
        time.sleep(0.5)
        # the connections beyond the per-address limit are closed at once
        refused = 0
        for s in socks:
            s.settimeout(0.2)
            try:
                refused += s.recv(1) == b""
            except (ConnectionResetError, BrokenPipeError):
                refused += 1
            except OSError:
                pass  # held, waiting for the rest of the request
        assert refused == 8, refused
        # another address (here loopback, where Prometheus scrapes from) is
        # answered at once while the first one holds its share
        assert http_status(r.metrics_port, "/metrics") == 200
        assert http_status(r.metrics_port, "/health") == 200
    finally:
        for s in socks:
            s.close()
    assert r.alive()


# ---- HTTP only on loopback by default ----------------------------------------------

def test_http_endpoints_default_to_localhost(workdir, snap):
    conf = workdir / "r.conf"
    conf.write_text('snapshot = "%s";\n' % snap)
    cp = run([binpath("gridns-resolver"), "-c", conf, "--dump-config"])
    out = cp.stdout + cp.stderr
    if "metrics" not in out:
        cp = run([binpath("gridns-resolver"), "--help"])
        out = cp.stdout + cp.stderr
    assert re.search(r"127\.0\.0\.1:9153", out), out[-2000:]
    # (the follower's metrics default to off, the publisher's to
    # 127.0.0.1:9154: docs/configuration.md)


# ---- TSIG on transfers and NOTIFY, clock drift alarm ---------------------------------

def test_transfers_and_notify_require_tsig(workdir, daemons):
    db, pub, fol, res = stack(workdir, daemons)
    # unsigned AXFR: refused
    q = dns.message.make_query(ZONE, "AXFR")
    with pytest.raises(Exception):
        for m in dns.query.xfr("127.0.0.1", ZONE, port=pub.port, timeout=5, lifetime=10):
            assert m.rcode() != dns.rcode.NOERROR or not m.answer
            raise dns.exception.FormError("refused")
    # a wrong key: NOTAUTH
    bad = dns.tsigkeyring.from_text({"k1.": ("hmac-sha256", "YmFkYmFkYmFkYmFkYmFkYmFkYmFkYmFkYmFkYmFk")})
    q = dns.message.make_query(ZONE, "SOA")
    q.use_tsig(bad, keyname="k1.")
    s = socket.create_connection(("127.0.0.1", pub.port), timeout=5)
    w = dns.message.make_query(ZONE, "AXFR")
    w.use_tsig(bad, keyname="k1.")
    wire = w.to_wire()
    s.sendall(struct.pack("!H", len(wire)) + wire)
    n = struct.unpack("!H", s.recv(2))[0]
    data = b""
    while len(data) < n:
        data += s.recv(n - len(data))
    s.close()
    assert (data[3] & 0xF) in (dns.rcode.NOTAUTH, dns.rcode.REFUSED), data[:4]
    pm = metrics(pub.metrics_port)
    assert (metric(pm, "gridns_publisher_tsig_failures_total", reason="badsig") or 0) + \
        sum(float(l.rsplit(" ", 1)[1]) for l in pm.splitlines()
            if l.startswith("gridns_publisher_tsig_failures_total")) >= 1
    # NOTIFY to the follower: unsigned REFUSED, bad signature NOTAUTH
    n = dns.message.make_query(ZONE, "SOA")
    n.set_opcode(dns.opcode.NOTIFY)
    data = udp_raw(fol.port, n.to_wire())
    assert data is not None and (data[3] & 0xF) == dns.rcode.REFUSED
    n.use_tsig(bad, keyname="k1.")
    data = udp_raw(fol.port, n.to_wire())
    assert data is not None and (data[3] & 0xF) == dns.rcode.NOTAUTH


def test_clock_drift_alarm(workdir, daemons):
    db, pub, fol, res = stack(workdir, daemons)
    q = dns.message.make_query(ZONE, "SOA")
    q.use_tsig(KEYRING, keyname="k1.")
    real = time.time
    with mock.patch("time.time", lambda: real() - 120):  # our clock 2 min late
        wire = q.to_wire()
    data = udp_raw(pub.port, wire)
    assert data is not None and (data[3] & 0xF) == dns.rcode.NOERROR  # within the fudge
    pm = metrics(pub.metrics_port)
    assert metric(pm, "gridns_publisher_tsig_clock_skew_max_seconds") >= 119
    assert metric(pm, "gridns_publisher_tsig_clock_skew_warnings_total") >= 1
    assert re.search(r"clock of \S+ is [+-]1[12]\d s off ours", pub.log()), pub.log()
    # beyond the fudge (300 s): refused, counted
    q = dns.message.make_query(ZONE, "SOA")
    q.use_tsig(KEYRING, keyname="k1.")
    with mock.patch("time.time", lambda: real() - 900):
        wire = q.to_wire()
    data = udp_raw(pub.port, wire)
    assert data is not None and (data[3] & 0xF) == dns.rcode.NOTAUTH


def test_query_acl_refuses_everything_elsewhere(workdir, snap, daemons):
    # listen on two loopback addresses; only 127.0.0.1 may query
    r = node(workdir, snap, 'acl = [ "127.0.0.1/32", "::1" ];', daemons)
    assert udp(r.port, PROBE, "A").rcode() == dns.rcode.NOERROR
    q = dns.message.make_query(PROBE, "A", use_edns=0)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.9", 0))
    s.settimeout(2)
    try:
        s.sendto(q.to_wire(), ("127.0.0.1", r.port))
        m = dns.message.from_wire(s.recvfrom(4096)[0])
    finally:
        s.close()
    assert m.rcode() == dns.rcode.REFUSED and not m.answer
    assert any(o.otype == 15 and o.code == 18 for o in m.options), m
    # over TCP as well
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.9", 0))
    t.settimeout(5)
    t.connect(("127.0.0.1", r.port))
    w = q.to_wire()
    t.sendall(struct.pack("!H", len(w)) + w)
    n = struct.unpack("!H", t.recv(2))[0]
    data = t.recv(n)
    t.close()
    assert (data[3] & 0xF) == dns.rcode.REFUSED
    assert metric(metrics(r.metrics_port), "gridns_acl_refused_total") >= 2
