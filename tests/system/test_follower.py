"""tests/system/test_follower.py - gridns-zonesync follower and relay on
loopback: publisher -> (relay ->) follower -> gridns-resolver, a follower
pulling from Debian's Knot, and every failure path of issue 3 against a
small Python primary that can misbehave on purpose (half an AXFR, a serial
going backwards, IXFR refused, a wrong ZONEMD, a shrunken zone).

The rule each failure test checks: nothing is written, the old zone keeps
serving, and the failure is counted with its reason in /metrics.
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsigkeyring
import dns.zone
import pytest

from conftest import (PROMTOOL, ROOT, Daemon, binpath, free_port, start_resolver, udp, wait_dns,
                      zonesync)

SAMPLE = ROOT / "tests" / "data" / "sample"
ZONE = "bl.example.test"
SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
KEYRING = dns.tsigkeyring.from_text({"k1.": ("hmac-sha256", SECRET)})
KEYS_CONF = 'keys = ( { name = "k1"; algorithm = "hmac-sha256"; secret = "%s"; } );' % SECRET
KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KNOTC = shutil.which("knotc") or "/usr/sbin/knotc"


# ---- helpers ----------------------------------------------------------------

def metrics(port):
    """The exposition, or "" while the daemon is still starting."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            return r.read().decode()
    except OSError:
        return ""


def metric(text, name, **labels):
    """Value of one series, or None."""
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        series, _, value = line.rpartition(" ")
        inside = series[len(name) + 1:-1] if "{" in series else ""
        got = ",".join(sorted(p for p in inside.split(",") if p))
        if got == want:
            return float(value)
    return None


def check_promtool(text):
    if not os.path.exists(PROMTOOL):
        pytest.fail("promtool is not installed (%s)" % PROMTOOL, pytrace=False)
    cp = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                        text=True, timeout=30)
    assert cp.returncode == 0, cp.stdout + cp.stderr


def wait_for(pred, timeout, what, daemon=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        if daemon is not None and not daemon.alive():
            pytest.fail("%s exited while waiting for %s:\n%s" % (daemon.name, what,
                                                                 daemon.describe()),
                        pytrace=False)
        time.sleep(0.02)
    pytest.fail("timed out (%ss) waiting for %s%s" % (
        timeout, what, ("\n" + daemon.describe()) if daemon else ""), pytrace=False)


def snapshot_serial(snapshot, zone=ZONE):
    cp = zonesync("list", "--snapshot", snapshot)
    for line in cp.stdout.splitlines():
        f = line.split()
        if f and f[0] == zone:
            return int(f[2])
    return None


def notify(port, zone=ZONE, key=True):
    q = dns.message.make_query(zone, "SOA")
    q.set_opcode(dns.opcode.NOTIFY)
    q.flags |= dns.flags.AA
    if key:
        q.use_tsig(KEYRING, keyname="k1.")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        s.sendto(q.to_wire(), ("127.0.0.1", port))
        data, _ = s.recvfrom(4096)
        if key:
            return dns.message.from_wire(data, keyring=KEYRING, request_mac=q.mac)
        return dns.message.from_wire(data)
    finally:
        s.close()


class Follower(Daemon):
    def __init__(self, workdir, primaries, zone=ZONE, extra="", zone_extra="", relay=None,
                 name="follower", snapshot=None, port=None, secret=SECRET):
        self.workdir = workdir
        self.snapshot = Path(snapshot or (workdir / ("%s-snap" % name)))
        self.snapshot.mkdir(exist_ok=True)
        self.port = port or free_port()
        self.metrics_port = free_port()
        self.conf = workdir / ("%s.conf" % name)
        prims = ", ".join('"%s"' % p for p in primaries)
        text = ('snapshot = "%s";\nlisten = "127.0.0.1:%d";\nmetrics = "127.0.0.1:%d";\n'
                'log-level = "debug";\n%s\n%s\n'
                'zones = ( { name = "%s"; primaries = [ %s ]; %s } );\n' % (
                    self.snapshot, self.port, self.metrics_port, KEYS_CONF.replace(SECRET, secret),
                    extra, zone,
                    prims, zone_extra))
        if relay:
            text += relay
        self.conf.write_text(text)
        self.argv0 = [binpath("gridns-zonesync"), "relay" if relay else "follower", "-c",
                      self.conf]
        super().__init__(name, self.argv0, workdir)

    def restart(self):
        """The same follower again (same config, snapshot and state)."""
        new = Follower.__new__(Follower)
        new.__dict__.update({k: v for k, v in self.__dict__.items()
                             if k in ("workdir", "snapshot", "port", "metrics_port", "conf",
                                      "argv0")})
        Daemon.__init__(new, self.name + "+", new.argv0, self.workdir)
        return new

    def metrics(self):
        return metrics(self.metrics_port)

    def failures(self, reason, zone=ZONE):
        return metric(self.metrics(), "gridns_sync_failures_total", zone=zone, reason=reason) or 0

    def serial(self, zone=ZONE):
        return metric(self.metrics(), "gridns_zone_serial", zone=zone)


class Publisher(Daemon):
    def __init__(self, workdir, db, notify_ports=(), zonemd=True, name="publisher"):
        self.port = free_port()
        self.metrics_port = free_port()
        self.conf = workdir / ("%s.conf" % name)
        notify_list = ", ".join('"127.0.0.1:%d"' % p for p in notify_ports)
        self.conf.write_text(
            'db = "%s";\nlisten = [ "127.0.0.1:%d" ];\nmetrics = "127.0.0.1:%d";\n%s\n'
            'zones = ( { name = "%s"; allow = [ "127.0.0.0/8" ]; keys = [ "k1" ]; '
            'notify = [ %s ]; notify-key = "k1"; zonemd = %s; } );\n' % (
                db, self.port, self.metrics_port, KEYS_CONF, ZONE, notify_list,
                "true" if zonemd else "false"))
        super().__init__(name, [binpath("gridns-zonesync"), "publisher", "-c", self.conf],
                         workdir)


def import_zone(db, path):
    zonesync("import", "--db", db, "%s:ip4set:%s" % (ZONE, path), check=True)


def listed(port, ip, zone=ZONE):
    q = ".".join(reversed(ip.split("."))) + "." + zone
    r = udp(port, q, "A", timeout=0.5, tries=1)
    return r is not None and r.rcode() == dns.rcode.NOERROR and len(r.answer) > 0


# ---- the Python primary that misbehaves on purpose --------------------------

def zone_records(text, origin):
    """(name, ttl, rdata) of a master file, SOA first."""
    z = dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)
    recs = [(n, ttl, rd) for n, ttl, rd in z.iterate_rdatas()]
    recs.sort(key=lambda r: r[2].rdtype != dns.rdatatype.SOA)
    return recs


class FakePrimary:
    """One TCP listener; each connection gets one answer per `mode`:
    ok (AXFR form, also for IXFR), half (cut after half the records),
    notimp (IXFR answered NOTIMP, AXFR served), badkey (unsigned answers)."""

    def __init__(self, records, origin=ZONE):
        self.origin = dns.name.from_text(origin)
        self.records = records
        self.mode = "ok"
        self.port = free_port()
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stop_ev = threading.Event()
        self.th = threading.Thread(target=self._loop, daemon=True)
        self.th.start()

    def serial(self):
        return self.records[0][2].serial

    def _loop(self):
        while not self.stop_ev.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self._serve(c)
            except Exception:  # a broken client is the follower's problem to report
                pass
            finally:
                c.close()

    def _read(self, c):
        c.settimeout(5)
        hdr = b""
        while len(hdr) < 2:
            b = c.recv(2 - len(hdr))
            if not b:
                return None
            hdr += b
        n = struct.unpack("!H", hdr)[0]
        data = b""
        while len(data) < n:
            b = c.recv(n - len(data))
            if not b:
                return None
            data += b
        return data

    def _serve(self, c):
        data = self._read(c)
        if data is None:
            return
        q = dns.message.from_wire(data, keyring=KEYRING)
        qtype = q.question[0].rdtype
        self.queries.append(dns.rdatatype.to_text(qtype))
        r = dns.message.make_response(q)
        if self.mode == "notimp" and qtype == dns.rdatatype.IXFR:
            r.set_rcode(dns.rcode.NOTIMP)
            self._send(c, r)
            return
        if self.mode == "badkey":  # the same answer, unsigned
            r = dns.message.Message(id=q.id)
            r.flags = dns.flags.QR | dns.flags.AA
            r.question = list(q.question)
        recs = list(self.records)
        soa = recs[0]
        if qtype == dns.rdatatype.IXFR:
            theirs = q.authority[0][0].serial
            if theirs == soa[2].serial or (soa[2].serial - theirs) % (1 << 32) > (1 << 31):
                recs = [soa]  # current (or newer): the SOA alone
            else:
                recs = recs + [soa]
        else:
            recs = recs + [soa]
        if self.mode == "half":
            recs = recs[:max(2, len(recs) // 2)]
        # several messages of at most 300 records, TSIG chained (RFC 8945 5.3.1)
        ctx = None
        for i in range(0, len(recs), 300):
            m = r if i == 0 else dns.message.make_response(q)
            if self.mode == "badkey" and i:
                m = dns.message.Message(id=q.id)
                m.flags = dns.flags.QR | dns.flags.AA
            for name, ttl, rd in recs[i:i + 300]:
                rr = m.find_rrset(m.answer, name, rd.rdclass, rd.rdtype, create=True,
                                  force_unique=True)
                rr.add(rd, ttl)
            w = m.to_wire(max_size=65535, multi=True, tsig_ctx=ctx)
            ctx = getattr(m, "tsig_ctx", None)
            c.sendall(struct.pack("!H", len(w)) + w)

    def _send(self, c, r):
        w = r.to_wire(max_size=65535)
        c.sendall(struct.pack("!H", len(w)) + w)

    def close(self):
        self.stop_ev.set()
        self.sock.close()
        self.th.join(5)


def sample_text(workdir, source=None, serial=None, expire=None, refresh=None, retry=None):
    """The sample ip4set zone in transfer form (what our publisher sends)."""
    snap = workdir / ("dumpsnap-%d" % time.monotonic_ns())
    src = source or (SAMPLE / "bl.example.test.ip4set")
    zonesync("load", "--snapshot", snap, "%s:ip4set:%s" % (ZONE, src), check=True)
    text = zonesync("dump", "--snapshot", snap, ZONE, check=True).stdout
    shutil.rmtree(snap, ignore_errors=True)
    out = []
    for line in text.splitlines():
        f = line.split("\t")
        if len(f) >= 5 and f[3] == "SOA":
            p = f[4].split()
            if serial is not None:
                p[2] = str(serial)
            if refresh is not None:
                p[3] = str(refresh)
            if retry is not None:
                p[4] = str(retry)
            if expire is not None:
                p[5] = str(expire)
            f[4] = " ".join(p)
            line = "\t".join(f)
        out.append(line)
    return "\n".join(out) + "\n"


def fake_from(workdir, **kw):
    return FakePrimary(zone_records(sample_text(workdir, **kw), ZONE))


def set_zone(fake, workdir, **kw):
    fake.records = zone_records(sample_text(workdir, **kw), ZONE)


# ---- publisher -> follower -> resolver ----------------------------------------

def test_import_reaches_resolver_within_a_second(workdir, daemons):
    db = workdir / "db"
    import_zone(db, SAMPLE / "bl.example.test.ip4set")
    fol_port = free_port()
    pub = Publisher(workdir, db, notify_ports=[fol_port])
    daemons.append(pub)
    fol = Follower(workdir, ["127.0.0.1@%d key k1" % pub.port], port=fol_port,
                   zone_extra='zonemd = "require";')
    daemons.append(fol)
    wait_for(lambda: snapshot_serial(fol.snapshot), 10, "the first AXFR", fol)
    res = start_resolver(workdir, fol.snapshot, "2.0.0.127." + ZONE)
    daemons.append(res)
    assert not listed(res.port, "203.0.113.77")
    src = workdir / "bl2.ip4set"
    src.write_text((SAMPLE / "bl.example.test.ip4set").read_text() + "203.0.113.77\n")
    t0 = time.monotonic()
    import_zone(db, src)
    wait_for(lambda: listed(res.port, "203.0.113.77"), 5, "the new entry at the resolver", fol)
    took = time.monotonic() - t0
    assert took < 1.0, "import -> resolver took %.3fs" % took
    m = fol.metrics()
    assert metric(m, "gridns_sync_transfers_total", zone=ZONE, kind="ixfr", result="ok") >= 1
    assert "NOTIFY from" in fol.log()


def test_relay_in_the_middle(workdir, daemons):
    db = workdir / "db"
    import_zone(db, SAMPLE / "bl.example.test.ip4set")
    relay_port, relay_notify, node_notify = free_port(), free_port(), free_port()
    pub = Publisher(workdir, db, notify_ports=[relay_notify])
    daemons.append(pub)
    relay_snap = workdir / "relay-snap"
    relay_snap.mkdir()
    relay_pub = ('publisher = { db = "%s"; listen = [ "127.0.0.1:%d" ]; metrics = ""; %s\n'
                 'zones = ( { name = "%s"; allow = [ "127.0.0.0/8" ]; keys = [ "k1" ]; '
                 'notify = [ "127.0.0.1:%d" ]; notify-key = "k1"; } ); };\n' % (
                     relay_snap, relay_port, KEYS_CONF, ZONE, node_notify))
    relay = Follower(workdir, ["127.0.0.1@%d key k1" % pub.port], relay=relay_pub,
                     name="relay", snapshot=relay_snap, port=relay_notify)
    daemons.append(relay)
    wait_for(lambda: snapshot_serial(relay_snap), 10, "the relay's AXFR", relay)
    node = Follower(workdir, ["127.0.0.1@%d key k1" % relay_port], name="node",
                    port=node_notify)
    daemons.append(node)
    wait_for(lambda: snapshot_serial(node.snapshot), 10, "the node's AXFR from the relay", node)
    res = start_resolver(workdir, node.snapshot, "2.0.0.127." + ZONE)
    daemons.append(res)
    src = workdir / "bl2.ip4set"
    src.write_text((SAMPLE / "bl.example.test.ip4set").read_text() + "203.0.113.77\n")
    t0 = time.monotonic()
    import_zone(db, src)
    wait_for(lambda: listed(res.port, "203.0.113.77"), 5, "the entry through the relay", node)
    assert time.monotonic() - t0 < 2.0
    # a second change crosses the relay by IXFR from the relay's own journal
    src.write_text(src.read_text() + "203.0.113.78\n")
    import_zone(db, src)
    wait_for(lambda: listed(res.port, "203.0.113.78"), 5, "the second entry", node)
    assert "by IXFR" in node.log(200000)
    # the relay's exposition (its own families plus the publisher's) and the
    # node's are promtool-clean
    for d in (relay, node):
        text = d.metrics()
        assert "gridns_zone_serial{" in text
        check_promtool(text)
    assert "gridns_publisher_" in relay.metrics()
    # the node misses two versions: it catches up with one IXFR of two
    # differences from the relay's journal (each also moving the relay's
    # expiry bound, the metadata record the node's copy differs in)
    node.stop()
    for ip in ("203.0.113.80", "203.0.113.81"):
        before = snapshot_serial(relay_snap)
        src.write_text(src.read_text() + ip + "\n")
        import_zone(db, src)
        wait_for(lambda: snapshot_serial(relay_snap) == before + 1, 5, "the relay", relay)
    node = node.restart()
    daemons.append(node)
    wait_for(lambda: listed(res.port, "203.0.113.81"), 10, "the node's catch-up", node)
    assert listed(res.port, "203.0.113.80")
    log = node.log(200000)
    assert "by IXFR" in log and "by AXFR" not in log, log


# ---- Knot as the primary ------------------------------------------------------

def test_follower_pulls_from_knot(workdir, daemons):
    if not os.path.exists(KNOTD):
        pytest.fail("knotd is not installed (%s)" % KNOTD, pytrace=False)
    kdir = workdir / "knot"
    kdir.mkdir()
    route = SAMPLE / "route.example.test.zone"
    zfile = kdir / "route.zone"
    zfile.write_text(route.read_text())
    port = free_port()
    (kdir / "knot.conf").write_text(
        "server:\n    listen: 127.0.0.1@%d\n    rundir: %s\n"
        "database:\n    storage: %s\n"
        "key:\n  - id: k1\n    algorithm: hmac-sha256\n    secret: %s\n"
        "acl:\n  - id: xfr\n    address: 127.0.0.1\n    key: k1\n    action: transfer\n"
        "zone:\n  - domain: route.example.test\n    file: %s\n    acl: xfr\n"
        "    journal-content: changes\n    zonefile-load: difference\n"
        "log:\n  - target: stderr\n    any: info\n" % (port, kdir, kdir, SECRET, zfile))
    knot = Daemon("knotd", [KNOTD, "-c", kdir / "knot.conf"], workdir)
    daemons.append(knot)
    wait_dns(knot, port, "route.example.test")
    fol = Follower(workdir, ["127.0.0.1@%d key k1" % port], zone="route.example.test",
                   extra="retry-min = 1;")
    daemons.append(fol)
    wait_for(lambda: snapshot_serial(fol.snapshot, "route.example.test"), 15,
             "the AXFR from Knot", fol)
    res = start_resolver(workdir, fol.snapshot, "route.example.test")
    daemons.append(res)
    before = udp(res.port, "route.example.test", "SOA")
    serial = before.answer[0][0].serial
    # a change at Knot arrives by IXFR (Knot's journal), not a full transfer
    text = zfile.read_text()
    zfile.write_text(text.replace(str(serial), str(serial + 1), 1) +
                     "\nnewhost.route.example.test. 300 IN A 192.0.2.99\n")
    subprocess.run([KNOTC, "-s", str(kdir / "knot.sock"), "zone-reload",
                    "route.example.test"], capture_output=True, timeout=10)
    time.sleep(0.3)
    notify(fol.port, "route.example.test")
    wait_for(lambda: (udp(res.port, "newhost.route.example.test", "A") or
                      dns.message.Message()).answer, 10, "the record changed at Knot", fol)
    assert "route.example.test: serial %d" % (serial + 1) in fol.log(200000)
    assert "by IXFR" in fol.log(200000)


# ---- failure paths against the Python primary ---------------------------------

def start_fake_follower(workdir, daemons, fake, zone_extra="", extra=""):
    fol = Follower(workdir, ["127.0.0.1@%d key k1" % fake.port], zone_extra=zone_extra,
                   extra=extra)
    daemons.append(fol)
    wait_for(lambda: snapshot_serial(fol.snapshot) == fake.serial(), 10, "the first sync", fol)
    return fol


def test_bad_tsig_key(workdir, daemons):
    """Against our publisher: it answers NOTAUTH (BADSIG); nothing is stored."""
    db = workdir / "db"
    import_zone(db, SAMPLE / "bl.example.test.ip4set")
    pub = Publisher(workdir, db)
    daemons.append(pub)
    fol = Follower(workdir, ["127.0.0.1@%d key k1" % pub.port],
                   secret="d3JvbmdrZXl3cm9uZ2tleXdyb25na2V5")
    daemons.append(fol)
    wait_for(lambda: fol.failures("tsig") >= 1, 10, "the TSIG refusal", fol)
    assert snapshot_serial(fol.snapshot) is None
    log = fol.log()
    assert "primary 127.0.0.1:%d" % pub.port in log and "TSIG" in log, log


def test_unsigned_answers_are_refused(workdir, daemons):
    fake = fake_from(workdir, serial=100)
    try:
        fol = start_fake_follower(workdir, daemons, fake)
        set_zone(fake, workdir, serial=101)
        fake.mode = "badkey"
        notify(fol.port)
        wait_for(lambda: fol.failures("tsig") >= 1, 10, "an unsigned answer refused", fol)
        assert snapshot_serial(fol.snapshot) == 100
    finally:
        fake.close()


def test_transfer_cut_mid_stream(workdir, daemons):
    fake = fake_from(workdir, serial=100)
    try:
        fol = start_fake_follower(workdir, daemons, fake)
        set_zone(fake, workdir, serial=101)
        fake.mode = "half"
        notify(fol.port)
        wait_for(lambda: fol.failures("truncated") >= 1, 10, "the cut transfer", fol)
        assert snapshot_serial(fol.snapshot) == 100
        # the old zone still answers
        res = start_resolver(workdir, fol.snapshot, "2.0.0.127." + ZONE)
        daemons.append(res)
        assert listed(res.port, "127.0.0.2")
        fake.mode = "ok"
        notify(fol.port)
        wait_for(lambda: snapshot_serial(fol.snapshot) == 101, 10, "recovery", fol)
    finally:
        fake.close()


def test_serial_going_backwards(workdir, daemons):
    fake = fake_from(workdir, serial=100)
    try:
        fol = start_fake_follower(workdir, daemons, fake)
        set_zone(fake, workdir, serial=90)
        notify(fol.port)
        wait_for(lambda: fol.failures("serial_backwards") >= 1, 10, "the backwards serial", fol)
        assert snapshot_serial(fol.snapshot) == 100
        assert metric(fol.metrics(), "gridns_zone_primary_serial", zone=ZONE) == 90
    finally:
        fake.close()


def test_ixfr_refused_falls_back_to_axfr(workdir, daemons):
    fake = fake_from(workdir, serial=100)
    try:
        fol = start_fake_follower(workdir, daemons, fake)
        set_zone(fake, workdir, serial=101)
        fake.mode = "notimp"
        fake.queries.clear()
        notify(fol.port)
        wait_for(lambda: snapshot_serial(fol.snapshot) == 101, 10, "the AXFR fallback", fol)
        assert fake.queries[:2] == ["IXFR", "AXFR"], fake.queries
        m = fol.metrics()
        assert metric(m, "gridns_sync_transfers_total", zone=ZONE, kind="ixfr",
                      result="refused") >= 1
        assert metric(m, "gridns_sync_transfers_total", zone=ZONE, kind="axfr", result="ok") >= 2
    finally:
        fake.close()


def test_ixfr_several_differences_in_one_transfer(workdir, daemons):
    db = workdir / "db"
    import_zone(db, SAMPLE / "bl.example.test.ip4set")
    pub = Publisher(workdir, db)
    daemons.append(pub)
    fol = Follower(workdir, ["127.0.0.1@%d key k1" % pub.port])
    daemons.append(fol)
    wait_for(lambda: snapshot_serial(fol.snapshot), 10, "the first AXFR", fol)
    first = snapshot_serial(fol.snapshot)
    fol.stop()
    src = workdir / "bl2.ip4set"
    text = (SAMPLE / "bl.example.test.ip4set").read_text()
    end = 50
    for i in range(3):
        text = text.replace("198.51.100.10-198.51.100.%d" % end,
                            "198.51.100.10-198.51.100.%d" % (40 - i))
        end = 40 - i
        text += "203.0.113.%d\n" % (100 + i)
        src.write_text(text)
        import_zone(db, src)
    fol = fol.restart()
    daemons.append(fol)
    wait_for(lambda: snapshot_serial(fol.snapshot) == first + 3, 10, "the catch-up", fol)
    assert "serial %d from" % (first + 3) in fol.log() and "by IXFR" in fol.log()
    res = start_resolver(workdir, fol.snapshot, "2.0.0.127." + ZONE)
    daemons.append(res)
    assert listed(res.port, "203.0.113.102") and listed(res.port, "198.51.100.38")
    assert not listed(res.port, "198.51.100.39")


def test_ixfr_from_our_publisher_journal_gap_falls_back(workdir, daemons):
    """The publisher's journal no longer reaches our serial: it sends the full
    zone in answer to IXFR, and the follower takes it."""
    db = workdir / "db"
    import_zone(db, SAMPLE / "bl.example.test.ip4set")
    pub = Publisher(workdir, db)
    daemons.append(pub)
    fol = Follower(workdir, ["127.0.0.1@%d key k1" % pub.port])
    daemons.append(fol)
    wait_for(lambda: snapshot_serial(fol.snapshot), 10, "the first AXFR", fol)
    fol.stop()
    daemons.remove(fol)
    src = workdir / "bl2.ip4set"
    for i in range(3):
        src.write_text((SAMPLE / "bl.example.test.ip4set").read_text() + "203.0.113.%d\n" % i)
        zonesync("import", "--db", db, "--journal-max-depth", "1",
                 "%s:ip4set:%s" % (ZONE, src), check=True)
    fol2 = fol.restart()
    daemons.append(fol2)
    wait_for(lambda: "by IXFR" in fol2.log() or "by AXFR" in fol2.log(), 10, "the resync", fol2)
    res = start_resolver(workdir, fol.snapshot, "2.0.0.127." + ZONE)
    daemons.append(res)
    assert listed(res.port, "203.0.113.2")


def test_zonemd_mismatch(workdir, daemons):
    fake = fake_from(workdir, serial=100)
    try:
        fol = start_fake_follower(workdir, daemons, fake)
        set_zone(fake, workdir, serial=101)
        apex = dns.name.from_text(ZONE)
        bad = dns.rdata.from_text("IN", "ZONEMD", "101 1 1 " + "00" * 48)
        fake.records.insert(1, (apex, 3600, bad))
        notify(fol.port)
        wait_for(lambda: fol.failures("zonemd") >= 1, 10, "the ZONEMD refusal", fol)
        assert snapshot_serial(fol.snapshot) == 100
    finally:
        fake.close()


def test_shrink_guard(workdir, daemons):
    big = workdir / "big.ip4set"
    big.write_text((SAMPLE / "bl.example.test.ip4set").read_text() +
                   "".join("198.18.%d.%d\n" % (i // 200, i % 200) for i in range(400)))
    fake = fake_from(workdir, source=big, serial=100)
    try:
        fol = start_fake_follower(workdir, daemons, fake)
        small = workdir / "small.ip4set"
        small.write_text("".join(l + "\n" for l in (SAMPLE / "bl.example.test.ip4set")
                                 .read_text().splitlines() if l.startswith("$")) +
                         ":127.0.0.2:Listed\n127.0.0.2\n")
        set_zone(fake, workdir, source=small, serial=101)
        notify(fol.port)
        wait_for(lambda: fol.failures("guard") >= 1, 10, "the shrink guard", fol)
        assert snapshot_serial(fol.snapshot) == 100
        assert "drop from" in fol.log(100000)
    finally:
        fake.close()


def test_unknown_format_version(workdir, daemons):
    fake = fake_from(workdir, serial=100)
    try:
        fol = start_fake_follower(workdir, daemons, fake)
        text = sample_text(workdir, serial=101).replace('"v=1"', '"v=2"')
        fake.records = zone_records(text, ZONE)
        notify(fol.port)
        wait_for(lambda: fol.failures("format_version") >= 1, 10, "the v=2 refusal", fol)
        assert "v=2 is not supported" in fol.log(100000)
        assert snapshot_serial(fol.snapshot) == 100
    finally:
        fake.close()


def test_primary_down_beyond_expire(workdir, daemons):
    fake = fake_from(workdir, serial=100, expire=3, refresh=1, retry=1)
    try:
        fol = start_fake_follower(workdir, daemons, fake, extra="refresh-min = 1;\nretry-min = 1;")
        res = start_resolver(workdir, fol.snapshot, "2.0.0.127." + ZONE)
        daemons.append(res)
        assert listed(res.port, "127.0.0.2")
        # refreshes without change push the expiry forward without a rewrite
        time.sleep(4)
        assert listed(res.port, "127.0.0.2"), fol.log()
        assert metric(fol.metrics(), "gridns_sync_transfers_total", zone=ZONE, kind="ixfr",
                      result="uptodate") >= 2
        fake.close()
        t_down = time.monotonic()

        def gone():
            r = udp(res.port, "2.0.0.127." + ZONE, "A", timeout=0.5, tries=1)
            return r is not None and r.rcode() != dns.rcode.NOERROR and r

        r = wait_for(gone, 10, "the zone to expire at the resolver", fol)
        assert time.monotonic() - t_down < 6
        assert r.rcode() in (dns.rcode.REFUSED, dns.rcode.SERVFAIL), r
        assert r.rcode() != dns.rcode.NXDOMAIN
        wait_for(lambda: (metric(fol.metrics(), "gridns_zone_expire_seconds", zone=ZONE) or 0) < 0,
                 5, "the expire gauge to go negative", fol)
        assert "EXPIRED" in fol.log(100000)
    finally:
        fake.close()


def test_sigkill_mid_apply_keeps_old_serial_and_resumes_by_ixfr(workdir, daemons):
    """Kill the follower at several points of an IXFR (transfer, parse, write):
    the snapshot holds the old version or the new one whole, never a mix, and
    the restarted follower resumes by IXFR from what it holds."""
    big = workdir / "big.ip4set"
    base = ((SAMPLE / "bl.example.test.ip4set").read_text() +
            "".join("10.%d.%d.%d\n" % (i >> 16 & 255, i >> 8 & 255, i & 255)
                    for i in range(0, 120000 * 2, 2)))
    big.write_text(base)
    db = workdir / "db"
    import_zone(db, big)
    pub = Publisher(workdir, db, zonemd=False)
    daemons.append(pub)
    fol = Follower(workdir, ["127.0.0.1@%d key k1" % pub.port])
    daemons.append(fol)
    wait_for(lambda: snapshot_serial(fol.snapshot), 60, "the first AXFR", fol)
    for n, delay in enumerate((0.05, 0.2, 0.4, 0.7)):
        old = snapshot_serial(fol.snapshot)
        ip = "203.0.113.%d" % (10 + n)
        big.write_text(big.read_text() + ip + "\n")
        import_zone(db, big)
        notify(fol.port)
        time.sleep(delay)
        os.kill(fol.proc.pid, signal.SIGKILL)
        fol.proc.wait(5)
        got = snapshot_serial(fol.snapshot)
        dump = zonesync("dump", "--snapshot", fol.snapshot, ZONE, check=True).stdout
        has_new = ".".join(reversed(ip.split("."))) + "." + ZONE in dump
        # the old version, or the new one whole
        assert got in (old, old + 1), (got, old)
        assert has_new == (got == old + 1), (got, old, has_new)
        fol = fol.restart()
        daemons.append(fol)
        wait_for(lambda: snapshot_serial(fol.snapshot) == old + 1, 60, "the resumed sync", fol)
        assert "by AXFR" not in fol.log(200000), fol.log()


def test_check_config_reports_file_and_line(workdir):
    conf = workdir / "bad.conf"
    conf.write_text('snapshot = "/tmp/x";\nzones = (\n  { name = "a.test"; primaries = [ '
                    '"127.0.0.1@53 key nokey" ]; refresh = -5; }\n);\nbogus = 1;\n')
    cp = zonesync("follower", "-c", conf, "--check-config")
    assert cp.returncode != 0
    assert "bad.conf:3:" in cp.stderr and "nokey" in cp.stderr
    assert "bad.conf:5:" in cp.stderr and "bogus" in cp.stderr


def test_status_for_a_person(workdir, daemons):
    fake = fake_from(workdir, serial=100)
    try:
        fol = start_fake_follower(workdir, daemons, fake)
        wait_for(lambda: (workdir / "follower-snap" / "follower.state").exists(), 5,
                 "the state file", fol)
        cp = zonesync("status", "--snapshot", fol.snapshot, check=True)
        line = [l for l in cp.stdout.splitlines() if l.startswith(ZONE)][0].split()
        assert line[1] == "100" and line[2] == "100"
        assert "in " in cp.stdout
    finally:
        fake.close()


def test_record_limit(workdir, daemons):
    big = workdir / "big.ip4set"
    big.write_text((SAMPLE / "bl.example.test.ip4set").read_text() +
                   "".join("198.18.%d.%d\n" % (i // 200, 2 * (i % 100)) for i in range(1200)))
    fake = fake_from(workdir, source=big, serial=100)
    try:
        fol = Follower(workdir, ["127.0.0.1@%d key k1" % fake.port],
                       extra="xfr-max-records = 1000;")
        daemons.append(fol)
        wait_for(lambda: fol.failures("malformed") >= 1, 10, "the record limit", fol)
        assert "xfr-max-records" in fol.log()
        assert snapshot_serial(fol.snapshot) is None
    finally:
        fake.close()


def test_notify_checks(workdir, daemons):
    """NOTIFY for a zone whose primaries use TSIG must be signed by a known
    key; an unknown zone is refused; a good NOTIFY is answered and acted on."""
    fake = fake_from(workdir, serial=100)
    try:
        fol = start_fake_follower(workdir, daemons, fake)
        r = notify(fol.port, key=False)
        assert r.rcode() == dns.rcode.REFUSED
        assert "unsigned" in fol.log()
        r = notify(fol.port, zone="other.test")
        assert r.rcode() == dns.rcode.REFUSED
        # a key the follower does not know: NOTAUTH (BADKEY)
        q = dns.message.make_query(ZONE, "SOA")
        q.set_opcode(dns.opcode.NOTIFY)
        q.use_tsig(dns.tsigkeyring.from_text({"nokey.": ("hmac-sha256", SECRET)}),
                   keyname="nokey.")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.sendto(q.to_wire(), ("127.0.0.1", fol.port))
        data, _ = s.recvfrom(4096)
        s.close()
        assert data[3] & 15 == dns.rcode.NOTAUTH
        # a good one: answered, and the new serial is fetched at once
        set_zone(fake, workdir, serial=101)
        r = notify(fol.port)
        assert r.rcode() == dns.rcode.NOERROR and r.opcode() == dns.opcode.NOTIFY
        wait_for(lambda: snapshot_serial(fol.snapshot) == 101, 5, "the notified serial", fol)
        assert fol.failures("tsig") == 0
    finally:
        fake.close()


def test_zone_dropped_under_the_follower(workdir, daemons):
    """An operator drops the zone from the snapshot: the next check notices
    and fetches it whole again."""
    fake = fake_from(workdir, serial=100)
    try:
        fol = start_fake_follower(workdir, daemons, fake)
        zonesync("drop", "--snapshot", fol.snapshot, ZONE, check=True)
        notify(fol.port)
        wait_for(lambda: snapshot_serial(fol.snapshot) == 100, 2, "the zone back", fol)
    finally:
        fake.close()
