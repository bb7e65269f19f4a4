"""tests/system/drills_util.py - helpers shared by test_soak, test_drills and
test_abuse (issue 6): a publisher -> follower -> resolver stack on loopback,
process memory, and the marker zone whose two names must always agree.

The daemon classes are the ones of test_follower.py (imported by name, so
that pytest does not collect that module's tests a second time here)."""
import os
import time
from pathlib import Path

import dns.rcode

from conftest import udp, zonesync
from test_follower import (KEYRING, KEYS_CONF, SAMPLE, SECRET, ZONE, Follower,  # noqa: F401
                           Publisher, metric, metrics, notify, snapshot_serial, wait_for)

BASE = (SAMPLE / "bl.example.test.ip4set").read_text()
MARKER_IP = "10.255.255.1"
MARKER = "1.255.255.10." + ZONE


def check_ip(n):
    return "10.254.%d.%d" % (n >> 8 & 255, n & 255)


def check_name(n):
    return ".".join(reversed(check_ip(n).split("."))) + "." + ZONE


def marker_source(n, extra=""):
    """Version n of the zone: marker TXT "gen-n" and check(n) listed, and
    check(n-1) gone; both change in the same import."""
    return (BASE + "%s :127.0.0.5:gen-%d\n%s :127.0.0.6:check\n" % (MARKER_IP, n, check_ip(n)) +
            extra)


def import_text(db, workdir, text, *args):
    src = Path(workdir) / "src.ip4set"
    src.write_text(text)
    return zonesync("import", "--db", db, *args, "%s:ip4set:%s" % (ZONE, src), check=True)


def marker_gen(port, timeout=1.0):
    """The generation the marker TXT names, None if no answer, -1 if absent."""
    r = udp(port, MARKER, "TXT", timeout=timeout, tries=1)
    if r is None:
        return None
    if r.rcode() != dns.rcode.NOERROR or not r.answer:
        return -1
    for rr in r.answer:
        for rd in rr:
            t = b"".join(rd.strings).decode()
            if t.startswith("gen-"):
                return int(t[4:])
    return -1


def is_listed(port, name, timeout=1.0):
    r = udp(port, name, "A", timeout=timeout, tries=1)
    if r is None:
        return None
    return r.rcode() == dns.rcode.NOERROR and len(r.answer) > 0


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def file_size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def stack(workdir, daemons, text=None, follower_extra="", zone_extra="", snapshot=None,
          resolver=True):
    """Publisher (no NOTIFY of its own: the test sends them) -> follower ->
    resolver.  Returns (db, pub, fol, res)."""
    from conftest import start_resolver
    db = Path(workdir) / "db"
    import_text(db, workdir, text if text is not None else marker_source(1))
    pub = Publisher(workdir, db, zonemd=False)
    daemons.append(pub)
    fol = Follower(workdir, ["127.0.0.1@%d key k1" % pub.port], extra=follower_extra,
                   zone_extra=zone_extra, snapshot=snapshot)
    daemons.append(fol)
    wait_for(lambda: snapshot_serial(fol.snapshot), 30, "the first AXFR", fol)
    res = None
    if resolver:
        res = start_resolver(workdir, fol.snapshot, "2.0.0.127." + ZONE)
        daemons.append(res)
    return db, pub, fol, res


def deadline_loop(seconds, step):
    """Yield elapsed times every `step` seconds for `seconds` (bounded)."""
    t0 = time.monotonic()
    n = 0
    while True:
        now = time.monotonic() - t0
        if now >= seconds:
            return
        yield n, now
        n += 1
        nxt = t0 + n * step
        time.sleep(max(0.0, nxt - time.monotonic()))
