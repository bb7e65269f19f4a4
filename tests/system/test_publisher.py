"""test_publisher.py - gridns-zonesync publisher from the outside.

The central database is filled with `gridns-zonesync import --db`, the
publisher serves it on loopback, and stock tools read it: kdig (AXFR/IXFR
with TSIG, compared with `gridns-zonesync dump`), dnspython (raw requests
for the refusal paths), a UDP socket of the test (NOTIFY), and Knot DNS as
a secondary (TSIG, ZONEMD verification, NOTIFY-driven IXFR).
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.zone
import pytest

from conftest import (KDIG, PROMTOOL, ROOT, Daemon, binpath, free_port, run, udp_raw,
                      zonesync)

SAMPLE = ROOT / "tests" / "data" / "sample"
SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="
WRONG = "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXItMTI="
KEY = "hmac-sha256:xfr:" + SECRET
KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"


def kdig(port, *args, key=KEY, timeout=20):
    argv = [KDIG, "@127.0.0.1", "-p", str(port), "+tcp", "+time=3", "+retry=0"]
    if key:
        argv += ["-y", key]
    return run(argv + list(args), timeout=timeout)


def records(text):
    """Master-file lines -> set of normalized (name, ttl, type, rdata) tuples."""
    out = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(";") or line.startswith("$"):
            continue
        f = line.split(None, 4)
        if len(f) < 5 or f[2] != "IN":
            continue
        rdtype = dns.rdatatype.from_text(f[3])
        rd = dns.rdata.from_text("IN", rdtype, f[4], origin=dns.name.root)
        out.add((f[0].lower(), int(f[1]), rdtype, rd.to_text()))
    return out


def soa_serial(port, zone, key=KEY):
    cp = kdig(port, zone, "SOA", "+short", key=key)
    f = cp.stdout.split()
    return int(f[2]) if len(f) >= 7 else None


def write_conf(path, db, port, mport, zones, extra=""):
    text = """db = "%s";
listen = [ "127.0.0.1:%d" ];
metrics = "127.0.0.1:%d";
keys = ( { name = "xfr"; algorithm = "hmac-sha256"; secret = "%s"; },
         "other:hmac-sha256:%s" );
%s
zones = ( %s );
""" % (db, port, mport, SECRET, WRONG, extra, ",\n".join(zones))
    path.write_text(text)
    return str(path)


def start_publisher(logdir, conf, port, zone, daemons, timeout=15.0):
    d = Daemon("publisher", [binpath("gridns-zonesync"), "publisher", "-c", conf], logdir)
    daemons.append(d)
    deadline = time.monotonic() + timeout
    q = dns.message.make_query(zone, "SOA").to_wire()
    while time.monotonic() < deadline:
        if not d.alive():
            pytest.fail("publisher exited: " + d.describe(), pytrace=False)
        r = udp_raw(port, q, timeout=0.3)
        if r is not None:
            return d
        time.sleep(0.05)
    pytest.fail("publisher did not answer in %ss: %s" % (timeout, d.describe()), pytrace=False)


def metrics(mport):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5) as r:
        return r.read().decode()


def metric(text, name, **labels):
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)(?:\{([^}]*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = ",".join(sorted((m.group(2) or "").split(","))) if m.group(2) else ""
        if got == want:
            return float(m.group(3))
    return None


@pytest.fixture
def central(workdir):
    """A central database with the sample zones; bl is a copy we can edit."""
    bl = workdir / "bl.ip4set"
    shutil.copy(SAMPLE / "bl.example.test.ip4set", bl)
    db = workdir / "db"
    zonesync("import", "--db", db, "bl.example.test:ip4set:%s" % bl,
             "dbl.example.test:dnset:%s" % (SAMPLE / "dbl.example.test.dnset"), check=True)
    return {"db": str(db), "bl": bl, "dir": workdir}


def reimport(c, extra_lines):
    with open(c["bl"], "a") as f:
        f.write("".join(l + "\n" for l in extra_lines))
    zonesync("import", "--db", c["db"], "bl.example.test:ip4set:%s" % c["bl"], check=True)


ZONES = [
    '{ name = "bl.example.test"; allow = [ "127.0.0.0/8" ]; keys = [ "xfr" ]; zonemd = true; }',
    '{ name = "dbl.example.test"; allow = [ "127.0.0.1" ]; }',
    '{ name = "far.example.test"; allow = [ "10.0.0.0/8" ]; }',
]


def test_axfr_ixfr_match_dump(central, daemons):
    port, mport = free_port(), free_port()
    conf = write_conf(central["dir"] / "pub.conf", central["db"], port, mport, ZONES,
                      "transfers = { msg-size = 1024; };")
    start_publisher(central["dir"], conf, port, "bl.example.test", daemons)
    dump = zonesync("dump", "--snapshot", central["db"], "bl.example.test", check=True).stdout

    # AXFR with TSIG on every message (msg-size 1024 makes several), SOA
    # first and last, ZONEMD added, and otherwise exactly the dump.
    cp = kdig(port, "bl.example.test", "AXFR", "+noall", "+answer", "+stats")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    m = re.search(r"Received \d+ B \((\d+) messages", cp.stdout)
    assert m and int(m.group(1)) > 3, cp.stdout
    lines = [l for l in cp.stdout.splitlines() if l and not l.startswith(";")]
    assert "\tSOA\t" in lines[0] and "\tSOA\t" in lines[-1]
    got = records(cp.stdout)
    zonemd = {r for r in got if r[2] == dns.rdatatype.ZONEMD}
    assert len(zonemd) == 1 and list(zonemd)[0][3].startswith("2026112401 1 1 ")
    assert got - zonemd == records(dump)
    # dnspython checks the TSIG chain of every message too
    msgs = list(dns.query.xfr("127.0.0.1", "bl.example.test", port=port,
                              keyring=dns.tsigkeyring.from_text({"xfr.": SECRET}),
                              keyname="xfr.", keyalgorithm="hmac-sha256", lifetime=20))
    assert len(msgs) > 3 and all(m.had_tsig for m in msgs)

    # IXFR after an import: only the change, SOA-framed
    old = soa_serial(port, "bl.example.test")
    reimport(central, ["203.0.113.77", "100.64.7.0/24"])
    deadline = time.monotonic() + 5
    while soa_serial(port, "bl.example.test") == old and time.monotonic() < deadline:
        time.sleep(0.1)
    new = soa_serial(port, "bl.example.test")
    assert new == old + 1
    cp = kdig(port, "bl.example.test", "IXFR=%d" % old, "+noall", "+answer")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    text = cp.stdout
    assert "77.113.0.203.bl.example.test." in text and "*.7.64.100.bl.example.test." in text
    assert len(re.findall(r"\tSOA\t", text)) == 4, text  # new, old, new, new
    assert len(records(text)) < 20
    # from a serial the journal does not reach: the full zone
    cp = kdig(port, "bl.example.test", "IXFR=%d" % (old - 5), "+noall", "+answer")
    assert cp.returncode == 0
    full = records(cp.stdout)
    dump = zonesync("dump", "--snapshot", central["db"], "bl.example.test", check=True).stdout
    assert {r for r in full if r[2] != dns.rdatatype.ZONEMD} == records(dump)
    # up to date: the SOA alone
    cp = kdig(port, "bl.example.test", "IXFR=%d" % new, "+noall", "+answer")
    assert len(records(cp.stdout)) == 1
    # two imports of dbl: an IXFR from before both carries two changesets
    dbl = central["dir"] / "dbl.dnset"
    shutil.copy(SAMPLE / "dbl.example.test.dnset", dbl)
    d0 = soa_serial(port, "dbl.example.test")
    for name in ("one.example", "two.example"):
        with open(dbl, "a") as f:
            f.write(name + "\n")
        zonesync("import", "--db", central["db"], "dbl.example.test:dnset:%s" % dbl, check=True)
    cp = kdig(port, "dbl.example.test", "IXFR=%d" % d0, "+noall", "+answer", key=None)
    assert cp.returncode == 0
    serials = [int(l.split()[6]) for l in cp.stdout.splitlines() if "\tSOA\t" in l]
    assert serials == [d0 + 2, d0, d0 + 1, d0 + 1, d0 + 2, d0 + 2], cp.stdout
    assert "one.example.dbl.example.test." in cp.stdout
    assert "two.example.dbl.example.test." in cp.stdout
    # IXFR over UDP: the SOA only (RFC 1995)
    q = dns.message.make_query("bl.example.test", "IXFR")
    q.authority.append(dns.rrset.from_text("bl.example.test.", 0, "IN", "SOA",
                                           ". . %d 0 0 0 0" % old))
    q.use_tsig(dns.tsigkeyring.from_text({"xfr.": SECRET}), "xfr.",
               algorithm="hmac-sha256")
    r = dns.message.from_wire(udp_raw(port, q.to_wire()), keyring=q.keyring,
                              request_mac=q.mac)
    assert [rr.rdtype for rr in r.answer] == [dns.rdatatype.SOA]

    # the poller (poll-ms, 200 ms) publishes the serial to /metrics
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        text = metrics(mport)
        if metric(text, "gridns_publisher_zone_serial", zone="bl.example.test") == new:
            break
        time.sleep(0.05)
    assert metric(text, "gridns_publisher_zone_serial", zone="bl.example.test") == new
    assert metric(text, "gridns_publisher_requests_total", zone="bl.example.test",
                  kind="axfr", result="ok") == 2  # kdig and dnspython
    assert metric(text, "gridns_publisher_requests_total", zone="bl.example.test",
                  kind="ixfr_full", result="ok") == 1
    assert metric(text, "gridns_publisher_sent_bytes_total", zone="bl.example.test",
                  kind="axfr") > 5000
    cp = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                        text=True, timeout=30)
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_refusals(central, daemons):
    port, mport = free_port(), free_port()
    conf = write_conf(central["dir"] / "pub.conf", central["db"], port, mport, ZONES)
    d = start_publisher(central["dir"], conf, port, "bl.example.test", daemons)

    def tcp_rcode(wire):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            s.sendall(struct.pack("!H", len(wire)) + wire)
            hdr = s.recv(2)
            n = struct.unpack("!H", hdr)[0]
            data = b""
            while len(data) < n:
                chunk = s.recv(n - len(data))
                if not chunk:
                    break
                data += chunk
            return data[3] & 0xF, data
        finally:
            s.close()

    # wrong secret: NOTAUTH with TSIG error BADSIG, logged with the peer
    q = dns.message.make_query("bl.example.test", "AXFR")
    q.use_tsig(dns.tsigkeyring.from_text({"xfr.": WRONG}), "xfr.", algorithm="hmac-sha256")
    rc, _ = tcp_rcode(q.to_wire())
    assert rc == dns.rcode.NOTAUTH
    # kdig sees it too
    cp = kdig(port, "bl.example.test", "AXFR", key="hmac-sha256:xfr:" + WRONG)
    assert "NOTAUTH" in cp.stdout + cp.stderr or cp.returncode != 0
    # unknown key: NOTAUTH (BADKEY)
    q = dns.message.make_query("bl.example.test", "AXFR")
    q.use_tsig(dns.tsigkeyring.from_text({"nokey.": SECRET}), "nokey.",
               algorithm="hmac-sha256")
    assert tcp_rcode(q.to_wire())[0] == dns.rcode.NOTAUTH
    # unsigned request for a zone that requires the key: REFUSED
    cp = kdig(port, "bl.example.test", "AXFR", key=None)
    assert "REFUSED" in cp.stdout + cp.stderr
    # a valid key the zone does not list: REFUSED
    cp = kdig(port, "bl.example.test", "AXFR", key="hmac-sha256:other:" + WRONG)
    assert "REFUSED" in cp.stdout + cp.stderr
    # client network not allowed: REFUSED
    cp = kdig(port, "far.example.test", "SOA", key=None)
    assert "REFUSED" in cp.stdout + cp.stderr
    # a zone we do not serve
    cp = kdig(port, "nope.example.test", "AXFR", key=None)
    assert "REFUSED" in cp.stdout + cp.stderr
    # dbl has no key requirement: unsigned AXFR works
    cp = kdig(port, "dbl.example.test", "AXFR", "+noall", "+answer", key=None)
    assert cp.returncode == 0 and "spam.example.dbl.example.test." in cp.stdout

    time.sleep(0.2)
    log = d.log(100000)
    assert re.search(r"refused 127\.0\.0\.1:\d+ for zone bl\.example\.test \(key xfr\): "
                     r"TSIG BADSIG", log), log
    assert "TSIG BADKEY: unknown key" in log
    assert "request not signed: this zone requires TSIG" in log
    assert "key is valid but not listed" in log
    assert "client address not in allow" in log
    # far.example.test is configured but not in the database
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/health" % mport, timeout=5)
        assert False, "/health should be 503"
    except urllib.error.HTTPError as e:
        assert e.code == 503 and b"zone far.example.test is not in the database" in e.read()
    text = metrics(mport)
    assert metric(text, "gridns_publisher_tsig_failures_total", reason="badsig") >= 2
    assert metric(text, "gridns_publisher_tsig_failures_total", reason="badkey") == 1
    assert metric(text, "gridns_publisher_denied_total", zone="bl.example.test",
                  reason="unsigned") >= 1
    assert metric(text, "gridns_publisher_denied_total", zone="far.example.test",
                  reason="network") == 1
    assert metric(text, "gridns_publisher_unknown_zone_total") == 1


def test_notify_and_queue(central, daemons):
    port, mport = free_port(), free_port()
    ack = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ack.bind(("127.0.0.1", 0))
    deaf = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deaf.bind(("127.0.0.1", 0))
    zones = ['{ name = "bl.example.test"; allow = [ "127.0.0.0/8" ]; keys = [ "xfr" ]; '
             'notify = [ "127.0.0.1:%d", "127.0.0.1:%d" ]; notify-key = "xfr"; }'
             % (ack.getsockname()[1], deaf.getsockname()[1])]
    conf = write_conf(central["dir"] / "pub.conf", central["db"], port, mport, zones,
                      "transfers = { max = 1; };\n"
                      "notify = { jitter-ms = 50; retries = 2; timeout-ms = 100; };")
    start_publisher(central["dir"], conf, port, "bl.example.test", daemons)
    keyring = dns.tsigkeyring.from_text({"xfr.": SECRET})

    def notified_and_acked():
        ack.settimeout(3)
        data, peer = ack.recvfrom(4096)
        m = dns.message.from_wire(data, keyring=keyring)
        assert m.opcode() == dns.opcode.NOTIFY
        assert str(m.question[0].name) == "bl.example.test."
        assert m.had_tsig
        r = dns.message.make_response(m)
        r.flags |= dns.flags.AA
        ack.sendto(r.to_wire(), peer)

    def deaf_sends():
        deaf.settimeout(2)
        got = 0
        try:
            while got < 4:
                deaf.recvfrom(4096)
                got += 1
        except socket.timeout:
            pass
        return got

    try:
        # at start (notify.on-start): an import may have happened while down
        notified_and_acked()
        assert deaf_sends() == 3  # the first send and 2 retries, then given up
        # an import: NOTIFY well within a second of the new serial
        t0 = time.monotonic()
        reimport(central, ["203.0.113.99"])
        notified_and_acked()
        assert time.monotonic() - t0 < 1.5
        assert deaf_sends() == 3
        time.sleep(0.3)
        text = metrics(mport)
        assert metric(text, "gridns_publisher_notify_acked_total", zone="bl.example.test") == 2
        assert metric(text, "gridns_publisher_notify_failed_total", zone="bl.example.test") == 2
        assert metric(text, "gridns_publisher_notify_sent_total", zone="bl.example.test") == 8
    finally:
        ack.close()
        deaf.close()

    # transfers.max = 1: eight clients at once are all served, in turn
    results = []

    def one():
        results.append(kdig(port, "bl.example.test", "AXFR", "+noall", "+answer").stdout)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 8
    assert all(r.count("\tSOA\t") == 2 for r in results), results
    text = metrics(mport)
    assert metric(text, "gridns_publisher_requests_total", zone="bl.example.test",
                  kind="axfr", result="ok") == 8
    assert metric(text, "gridns_publisher_queue_wait_seconds_count") == 8
    assert metric(text, "gridns_publisher_transfer_duration_seconds_count", kind="axfr") == 8


def test_watched_sources(central, daemons):
    port, mport = free_port(), free_port()
    zones = ['{ name = "bl.example.test"; allow = [ "127.0.0.0/8" ]; '
             'sources = [ "bl.example.test:ip4set:%s" ]; }' % central["bl"]]
    conf = write_conf(central["dir"] / "pub.conf", central["db"], port, mport, zones,
                      "watch-ms = 200;")
    start_publisher(central["dir"], conf, port, "bl.example.test", daemons)
    with urllib.request.urlopen("http://127.0.0.1:%d/health" % mport, timeout=5) as r:
        assert r.status == 200 and r.read() == b"ok\n"
    old = soa_serial(port, "bl.example.test", key=None)
    with open(central["bl"], "a") as f:
        f.write("192.0.2.55\n")
    deadline = time.monotonic() + 10
    while soa_serial(port, "bl.example.test", key=None) == old and time.monotonic() < deadline:
        time.sleep(0.1)
    assert soa_serial(port, "bl.example.test", key=None) == old + 1
    cp = kdig(port, "55.2.0.192.bl.example.test", "A", key=None)
    cp = kdig(port, "bl.example.test", "IXFR=%d" % old, "+noall", "+answer", key=None)
    assert "55.2.0.192.bl.example.test." in cp.stdout


def test_check_config(workdir):
    bad = workdir / "bad.conf"
    bad.write_text('db = "/nonexistent";\nlisten = "127.0.0.1:x";\n'
                   'keys = ( "k:hmac-nope:' + SECRET + '" );\n'
                   'zones = ( { name = "a.test"; keys = [ "missing" ]; },\n'
                   '          { name = "b.test"; } );\nnotify = { rate = 0; };\n')
    cp = zonesync("publisher", "-c", bad, "--check-config")
    assert cp.returncode == 1
    err = cp.stderr
    assert "bad.conf:2: listen: bad address" in err, err
    assert "bad.conf:3: keys: bad key" in err, err
    assert "bad.conf:4: zone a.test: keys: no key named \"missing\"" in err, err
    assert "bad.conf:5: zone b.test: no access rule" in err, err
    assert "bad.conf:6: notify.rate = 0 is out of range" in err, err


def test_knot_secondary(central, daemons):
    """Knot DNS as a secondary: AXFR with TSIG and ZONEMD verification, then
    an import at the publisher is NOTIFYed and pulled by IXFR."""
    if not os.path.exists(KNOTD):
        pytest.fail("knotd not installed (%s)" % KNOTD, pytrace=False)
    port, mport, kport = free_port(), free_port(), free_port()
    zones = ['{ name = "bl.example.test"; allow = [ "127.0.0.0/8" ]; keys = [ "xfr" ]; '
             'zonemd = true; notify = [ "127.0.0.1:%d" ]; notify-key = "xfr"; }' % kport]
    conf = write_conf(central["dir"] / "pub.conf", central["db"], port, mport, zones)
    start_publisher(central["dir"], conf, port, "bl.example.test", daemons)
    kd = central["dir"] / "knot"
    for sub in ("run", "db", "zones"):
        (kd / sub).mkdir(parents=True)
    (kd / "knot.conf").write_text("""server:
    rundir: "%(d)s/run"
    listen: 127.0.0.1@%(kport)d
database:
    storage: "%(d)s/db"
log:
  - target: stderr
    any: info
key:
  - id: xfr
    algorithm: hmac-sha256
    secret: %(secret)s
remote:
  - id: primary
    address: 127.0.0.1@%(port)d
    key: xfr
acl:
  - id: from_primary
    address: 127.0.0.1
    key: xfr
    action: notify
template:
  - id: default
    storage: "%(d)s/zones"
    zonefile-sync: -1
    zonefile-load: none
zone:
  - domain: bl.example.test
    master: primary
    acl: from_primary
    zonemd-verify: on
""" % {"d": kd, "kport": kport, "port": port, "secret": SECRET})
    knot = Daemon("knotd", [KNOTD, "-c", kd / "knot.conf"], central["dir"])
    daemons.append(knot)
    old = soa_serial(port, "bl.example.test")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and soa_serial(kport, "bl.example.test", key=None) != old:
        time.sleep(0.2)
    assert soa_serial(kport, "bl.example.test", key=None) == old, knot.describe()
    assert "ZONEMD, verification successful" in knot.log(100000), knot.describe()
    # same records as the dump (Knot answers AXFR to us unsigned, no ACL needed
    # for transfers out is configured, so compare through the SOA and a name)
    cp = kdig(kport, "2.0.0.127.bl.example.test", "A", "+short", key=None)
    assert "127.0.0.2" in cp.stdout

    t0 = time.monotonic()
    reimport(central, ["203.0.113.88"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and \
            soa_serial(kport, "bl.example.test", key=None) != old + 1:
        time.sleep(0.05)
    assert soa_serial(kport, "bl.example.test", key=None) == old + 1, knot.describe()
    assert time.monotonic() - t0 < 5
    log = knot.log(100000)
    assert re.search(r"IXFR, incoming, remote 127\.0\.0\.1@%d.*finished" % port, log), log
    assert log.count("ZONEMD, verification successful") >= 2, log
    cp = kdig(kport, "88.113.0.203.bl.example.test", "A", "+short", key=None)
    assert "127.0.0.2" in cp.stdout


NSD = shutil.which("nsd") or "/usr/sbin/nsd"


def test_nsd_secondary(central, daemons):
    """NSD as a secondary: AXFR with TSIG at start, then an import at the
    publisher reaches it by NOTIFY (signed) and a transfer."""
    if not os.path.exists(NSD):
        pytest.fail("nsd not installed (%s)" % NSD, pytrace=False)
    port, mport, nport = free_port(), free_port(), free_port()
    zones = ['{ name = "bl.example.test"; allow = [ "127.0.0.0/8" ]; keys = [ "xfr" ]; '
             'zonemd = true; notify = [ "127.0.0.1:%d" ]; notify-key = "xfr"; }' % nport]
    conf = write_conf(central["dir"] / "pub.conf", central["db"], port, mport, zones)
    pub = start_publisher(central["dir"], conf, port, "bl.example.test", daemons)
    nd = central["dir"] / "nsd"
    nd.mkdir()
    (nd / "nsd.conf").write_text("""server:
    ip-address: 127.0.0.1@%(nport)d
    port: %(nport)d
    username: ""
    chroot: ""
    zonesdir: "%(d)s"
    pidfile: "%(d)s/nsd.pid"
    database: ""
    xfrdfile: "%(d)s/xfrd.state"
    xfrdir: "%(d)s"
    zonelistfile: "%(d)s/zone.list"
    logfile: "%(d)s/nsd.log"
    verbosity: 2
remote-control:
    control-enable: no
key:
    name: "xfr"
    algorithm: hmac-sha256
    secret: "%(secret)s"
zone:
    name: "bl.example.test"
    zonefile: "bl.example.test.zone"
    request-xfr: 127.0.0.1@%(port)d xfr
    allow-notify: 127.0.0.1 xfr
""" % {"d": nd, "nport": nport, "port": port, "secret": SECRET})
    nsd = Daemon("nsd", [NSD, "-d", "-c", nd / "nsd.conf"], central["dir"])
    daemons.append(nsd)

    def nsd_log():
        try:
            return (nd / "nsd.log").read_text(errors="replace")
        except OSError:
            return ""

    old = soa_serial(port, "bl.example.test")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and soa_serial(nport, "bl.example.test", key=None) != old:
        time.sleep(0.2)
    assert soa_serial(nport, "bl.example.test", key=None) == old, nsd.describe() + nsd_log()
    cp = kdig(nport, "2.0.0.127.bl.example.test", "A", "+short", key=None)
    assert "127.0.0.2" in cp.stdout

    reimport(central, ["203.0.113.66"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and \
            soa_serial(nport, "bl.example.test", key=None) != old + 1:
        time.sleep(0.05)
    assert soa_serial(nport, "bl.example.test", key=None) == old + 1, nsd.describe() + nsd_log()
    cp = kdig(nport, "66.113.0.203.bl.example.test", "A", "+short", key=None)
    assert "127.0.0.2" in cp.stdout
    # NSD asked for the change only, and got it (ZONEMD records included)
    assert re.search(r"publisher: ixfr of bl\.example\.test to 127\.0\.0\.1:\d+: .*key xfr",
                     pub.log(100000)), pub.log()


def test_stalled_client_is_cut(workdir, daemons):
    """A client that asks for a big AXFR and stops reading holds a worker
    only for transfers.send-timeout-ms; the next client is served."""
    src = workdir / "big.ip4set"
    with open(src, "w") as f:
        f.write("$SOA 3600 ns1.big.test. hm.big.test. 1 3600 600 604800 300\n"
                "$NS 3600 ns1.big.test\n:127.0.0.2:%s $\n" % ("padding " * 20))
        for i in range(200000):
            v = 2 * i + 1  # never adjacent: 200,000 separate names, no ranges
            f.write("10.%d.%d.%d\n" % (v >> 16, (v >> 8) & 255, v & 255))
    db = workdir / "db"
    zonesync("import", "--db", db, "big.test:ip4set:%s" % src, check=True)
    port, mport = free_port(), free_port()
    conf = write_conf(workdir / "pub.conf", db, port, mport,
                      ['{ name = "big.test"; allow = [ "127.0.0.1" ]; }'],
                      "transfers = { max = 1; send-timeout-ms = 300; };")
    pub = start_publisher(workdir, conf, port, "big.test", daemons)
    q = dns.message.make_query("big.test", "AXFR").to_wire()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        s.sendall(struct.pack("!H", len(q)) + q)
        s.recv(100)  # the transfer started; now stop reading
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if metric(metrics(mport), "gridns_publisher_requests_total", zone="big.test",
                      kind="axfr", result="cut") == 1:
                break
            time.sleep(0.1)
        assert metric(metrics(mport), "gridns_publisher_requests_total", zone="big.test",
                      kind="axfr", result="cut") == 1, pub.log()
        assert "client closed or stopped reading" in pub.log()
    finally:
        s.close()
    # the single worker is free again
    cp = kdig(port, "big.test", "AXFR", "+noall", "+stats", key=None, timeout=60)
    assert "400005 records)" in cp.stdout, cp.stdout[-500:]
