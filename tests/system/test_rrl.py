"""tests/system/test_rrl.py - response-rate limiting (issue 6): with rrl on at
a low rate, a UDP burst from one source gets drops and truncated (TC) slips,
while another source and TCP from the same source are answered in full."""
import socket
import struct
import time

import dns.flags
import dns.message
import dns.rcode

from conftest import load_zones, make_query
from drills_util import ZONE, marker_source, metric, metrics
from test_abuse import PROBE, node

RRL = 'rrl = { responses-per-second = 5; window = 2; slip = 2; ipv4-prefix = 32; };'


def udp_burst(port, src, n):
    """Send n queries from src as fast as possible; return the replies."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(0.3)
    wires = []
    for i in range(n):
        q = make_query(PROBE, "A", edns=True, id=1000 + i)
        wires.append(q.to_wire())
    try:
        for w in wires:
            s.sendto(w, ("127.0.0.1", port))
        out = []
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                out.append(dns.message.from_wire(s.recv(65535)))
            except socket.timeout:
                break
        return out
    finally:
        s.close()


def tcp_from(port, src, n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(src, 0))
    try:
        wires = [make_query(PROBE, "A", id=2000 + i).to_wire() for i in range(n)]
        s.sendall(b"".join(struct.pack("!H", len(w)) + w for w in wires))
        got, buf = [], b""
        deadline = time.monotonic() + 5
        while len(got) < n and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                ln = struct.unpack("!H", buf[:2])[0]
                got.append(dns.message.from_wire(buf[2:2 + ln]))
                buf = buf[2 + ln:]
        return got
    finally:
        s.close()


def test_rrl_limits_one_source_only(workdir, daemons):
    src = workdir / "bl.ip4set"
    src.write_text(marker_source(1))
    snap = workdir / "snap"
    load_zones(snap, ["%s:ip4set:%s" % (ZONE, src)])
    r = node(workdir, snap, RRL, daemons)

    replies = udp_burst(r.port, "127.0.0.3", 60)
    full = [m for m in replies if not m.flags & dns.flags.TC]
    slipped = [m for m in replies if m.flags & dns.flags.TC]
    # the burst allowance (one second's worth, plus what refills meanwhile)
    assert 1 <= len(full) <= 12, len(full)
    assert slipped, "no truncated slip answers"
    for m in slipped:
        assert not m.answer and m.rcode() == dns.rcode.NOERROR
    assert len(replies) < 60, "nothing was dropped"

    # another source is a separate account: answered in full
    other = udp_burst(r.port, "127.0.0.2", 4)
    assert len(other) == 4 and all(m.answer and not m.flags & dns.flags.TC for m in other)

    # TCP from the limited source is never limited
    got = tcp_from(r.port, "127.0.0.3", 20)
    assert len(got) == 20 and all(m.answer for m in got)

    text = metrics(r.metrics_port)
    assert metric(text, "gridns_rrl_dropped_total") > 0
    assert metric(text, "gridns_rrl_slipped_total") == len(slipped)


def test_rrl_off_by_default(workdir, daemons):
    src = workdir / "bl.ip4set"
    src.write_text(marker_source(1))
    snap = workdir / "snap"
    load_zones(snap, ["%s:ip4set:%s" % (ZONE, src)])
    r = node(workdir, snap, "", daemons)
    replies = udp_burst(r.port, "127.0.0.3", 60)
    assert len(replies) == 60 and not any(m.flags & dns.flags.TC for m in replies)
    assert metric(metrics(r.metrics_port), "gridns_rrl_dropped_total") == 0
