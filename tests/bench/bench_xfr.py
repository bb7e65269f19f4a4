#!/usr/bin/python3
"""Distribution benchmark (issue 3): gridns-zonesync's transfers side by side
with Debian's Knot DNS and NSD receiving the same zone from our publisher.

`make bench` runs it after bench_cache.py:
    /usr/bin/python3 tests/bench/bench_xfr.py --build build [--quick] [--no-nsd] [--no-knot]

Everything on loopback, TSIG (hmac-sha256) on every transfer:
  axfr         an ip4set of --entries random /32s, each answering A + TXT
               (2 records per entry), imported into a central database and
               served by `gridns-zonesync publisher`.  Each receiver is
               started alone, empty, and timed from its process start until
               the zone's serial is there (gridns: the follower's "by AXFR"
               log line; Knot and NSD: their SOA answer, polled every 20 ms).
               Peak RSS = VmHWM of /proc/PID/status (NSD: its largest
               process; it forks xfrd and server children).  The publisher
               has packed the zone once before (a warm-up AXFR), so every
               receiver gets the same pre-built stream.
  ixfr         --changes entries changed (half deleted, half added: 2 x that
               many records), imported at the publisher; then each receiver
               in turn gets a signed NOTIFY from the harness (the publisher
               sends none here, so receivers never compete for the cores) and
               is timed until its serial is the new one.  gridns also reports
               its own breakdown (transfer, parse, checks, write), Knot its
               "finished, N seconds" log figure.
  propagation  a second publisher with the sample zone -> gridns relay ->
               gridns follower -> gridns-resolver, NOTIFY all the way (the
               default notify.jitter-ms 100 and poll-ms 200 of the daemons).
               --updates times: append one address to the source, import it,
               and time until the resolver answers A for it (polled every
               2 ms, at most 5 s).  Timed from the end of the import (the
               commit) and from its start.
  fanout       tests/bench/pub_fanout.py: one publisher, --clients raw TCP
               clients asking for the AXFR of --entries addresses at once.
Writes BUILD/bench/xfr_results.md (date, exact commands, table) and prints
the table.  Full mode takes 2-4 minutes; --quick uses 100k entries.
"""
import argparse
import base64
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
NSD = shutil.which("nsd") or "/usr/sbin/nsd"
ZONE = "big.bench"
SMALL = "bl.example.test"
SECRET = base64.b64encode(b"gridns-bench-xfr-secret-32-bytes").decode()
KEYRING = dns.tsigkeyring.from_text({"k1.": ("hmac-sha256", SECRET)})
KEYS_CONF = 'keys = ( { name = "k1"; algorithm = "hmac-sha256"; secret = "%s"; } );' % SECRET
CLK_TCK = os.sysconf("SC_CLK_TCK")
_procs, _commands = [], []


def log(msg):
    print("bench_xfr: " + msg, flush=True)


def cmdline(cmd):
    return " ".join(str(c) for c in cmd)


def run(cmd, **kw):
    _commands.append(cmdline(cmd))
    t0 = time.monotonic()
    cp = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                        timeout=kw.pop("timeout", 600), **kw)
    if cp.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (cmdline(cmd), cp.returncode, cp.stderr[-2000:]))
    return cp, time.monotonic() - t0


def run_bg(cmd, logpath):
    _commands.append(cmdline(cmd))
    f = open(logpath, "wb")
    p = subprocess.Popen([str(c) for c in cmd], stdout=f, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    p.logpath = logpath
    _procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except OSError:
            pass
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait(5)
    # NSD's children (its process group) go with it
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass


def stop_all():
    for p in reversed(_procs):
        stop(p)


def free_port():
    import random
    rnd = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        port = rnd.randrange(30000, 40000)
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                s.bind(("127.0.0.1", port))
                s.close()
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def group_cpu(pgid):
    """utime+stime of a process group, with its reaped children's (NSD's reloads)."""
    t = 0
    for pid in group_pids(pgid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            t += sum(int(x) for x in fields[11:15])
        except (OSError, IndexError, ValueError):
            pass
    return t / CLK_TCK


def group_pids(pgid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid:
                    out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def logtext(p):
    try:
        with open(p.logpath, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def wait_until(pred, timeout, what, proc=None, every=0.02, tick=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        if tick:
            tick()
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited while waiting for %s:\n%s" % (
                proc.args[0], what, logtext(proc)[-3000:]))
        time.sleep(every)
    raise RuntimeError("timed out (%ss) waiting for %s%s" % (
        timeout, what, ("\n" + logtext(proc)[-3000:]) if proc else ""))


def soa_serial(port, zone, key=False):
    q = dns.message.make_query(zone, "SOA")
    if key:
        q.use_tsig(KEYRING, keyname="k1.")
    try:
        r = dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5)
    except Exception:
        return None
    if r.rcode() != dns.rcode.NOERROR:
        return None
    for rr in r.answer:
        if rr.rdtype == dns.rdatatype.SOA:
            return rr[0].serial
    return None


def notify(port, zone):
    q = dns.message.make_query(zone, "SOA")
    q.set_opcode(dns.opcode.NOTIFY)
    q.flags |= dns.flags.AA
    q.use_tsig(KEYRING, keyname="k1.")
    try:
        dns.query.udp(q, "127.0.0.1", port=port, timeout=2, ignore_unexpected=True)
    except Exception as e:  # an unanswered NOTIFY still counts: the wait says
        log("NOTIFY to %d: %s" % (port, e))


def raw_axfr(port, zone):
    """A signed AXFR read without parsing: (answer records, octets)."""
    q = dns.message.make_query(zone, "AXFR")
    q.use_tsig(KEYRING, keyname="k1.")
    w = q.to_wire()
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    s.sendall(struct.pack("!H", len(w)) + w)
    buf, n_rr, total = b"", 0, 0
    try:
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            total += len(b)
            buf += b
            while len(buf) >= 2:
                ln = struct.unpack("!H", buf[:2])[0]
                if len(buf) < 2 + ln:
                    break
                n_rr += struct.unpack("!H", buf[8:10])[0]
                buf = buf[2 + ln:]
    finally:
        s.close()
    return n_rr, total


def ipstr(v):
    return "%d.%d.%d.%d" % (v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255)


def gen_addresses(n, seed):
    import random
    rnd = random.Random(seed)
    seen = set()
    out = []
    while len(out) < n:
        v = rnd.getrandbits(32)
        if not (0x01000000 <= v < 0x7f000000 or 0x80000000 <= v < 0xe0000000) or v in seen:
            continue
        seen.add(v)
        out.append(v)
    return out


def write_ip4set(path, addrs, serial):
    with open(path, "w") as f:
        f.write("$SOA 3600 ns1.big.bench. hm.big.bench. %d 3600 600 604800 300\n"
                "$NS 3600 ns1.big.bench\n"
                ":127.0.0.2:Listed in the bench list, see https://big.bench/q?ip=$\n"
                "127.0.0.2\n" % serial)
        f.write("\n".join(ipstr(v) for v in addrs))
        f.write("\n")


def write_publisher(path, db, port, mport, zone, notify_ports=()):
    nl = ", ".join('"127.0.0.1:%d"' % p for p in notify_ports)
    with open(path, "w") as f:
        f.write('db = "%s";\nlisten = [ "127.0.0.1:%d" ];\nmetrics = "127.0.0.1:%d";\n%s\n'
                'zones = ( { name = "%s"; allow = [ "127.0.0.0/8" ]; keys = [ "k1" ];%s } );\n'
                % (db, port, mport, KEYS_CONF, zone,
                   (' notify = [ %s ]; notify-key = "k1";' % nl) if notify_ports else ""))


def write_follower(path, snap, listen, mport, zone, primary_port, relay=""):
    with open(path, "w") as f:
        f.write('snapshot = "%s";\nlisten = "127.0.0.1:%d";\nmetrics = "127.0.0.1:%d";\n%s\n'
                'zones = ( { name = "%s"; primaries = [ "127.0.0.1@%d key k1" ]; } );\n%s'
                % (snap, listen, mport, KEYS_CONF, zone, primary_port, relay))


SYNC_RE = r"zone %s: serial (\d+) from \S+ by (AXFR|IXFR) \((\d+) octets; transfer ([\d.]+) s, " \
          r"parse ([\d.]+) s, checks ([\d.]+) s, write ([\d.]+) s\)"


def synced(p, zone, serial, kind):
    for m in re.finditer(SYNC_RE % re.escape(zone), logtext(p)):
        if int(m.group(1)) == serial and m.group(2) == kind:
            return {"bytes": int(m.group(3)), "transfer": float(m.group(4)),
                    "parse": float(m.group(5)), "checks": float(m.group(6)),
                    "write": float(m.group(7))}
    return None


def knot_conf(d, kport, port):
    for sub in ("run", "db", "zones"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    path = os.path.join(d, "knot.conf")
    with open(path, "w") as f:
        f.write("""server:
    rundir: "%(d)s/run"
    listen: 127.0.0.1@%(kport)d
database:
    storage: "%(d)s/db"
log:
  - target: stderr
    any: info
key:
  - id: k1
    algorithm: hmac-sha256
    secret: %(secret)s
remote:
  - id: primary
    address: 127.0.0.1@%(port)d
    key: k1
acl:
  - id: from_primary
    address: 127.0.0.1
    key: k1
    action: notify
template:
  - id: default
    storage: "%(d)s/zones"
    zonefile-sync: -1
    zonefile-load: none
    journal-content: changes
zone:
  - domain: %(zone)s
    master: primary
    acl: from_primary
""" % {"d": d, "kport": kport, "port": port, "secret": SECRET, "zone": ZONE})
    return path


def nsd_conf(d, nport, port):
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "nsd.conf")
    with open(path, "w") as f:
        f.write("""server:
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
    server-count: 1
    verbosity: 2
remote-control:
    control-enable: no
key:
    name: "k1"
    algorithm: hmac-sha256
    secret: "%(secret)s"
zone:
    name: "%(zone)s"
    zonefile: "%(zone)s.zone"
    request-xfr: 127.0.0.1@%(port)d k1
    allow-notify: 127.0.0.1 k1
""" % {"d": d, "nport": nport, "port": port, "secret": SECRET, "zone": ZONE})
    return path


class Receiver:
    """One secondary of the big zone: start it empty, time its AXFR; NOTIFY
    it later and time its IXFR."""

    def __init__(self, name):
        self.name = name
        self.proc = None
        self.hwm = {}  # pid -> max VmHWM kB seen

    def sample(self):
        for pid in group_pids(self.proc.pid):
            kb = status_kb(pid, "VmHWM")
            if kb > self.hwm.get(pid, 0):
                self.hwm[pid] = kb

    def peak_mib(self):
        self.sample()
        return max(self.hwm.values() or [0]) / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", help="100k entries, 1k changes, 20 updates, 50 clients")
    ap.add_argument("--entries", type=int)
    ap.add_argument("--changes", type=int)
    ap.add_argument("--updates", type=int)
    ap.add_argument("--clients", type=int)
    ap.add_argument("--no-knot", action="store_true")
    ap.add_argument("--no-nsd", action="store_true")
    ap.add_argument("--no-fanout", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    entries = a.entries or (100000 if a.quick else 1000000)
    changes = a.changes or (1000 if a.quick else 10000)
    updates = a.updates or (20 if a.quick else 100)
    clients = a.clients or (50 if a.quick else 200)
    build = os.path.abspath(a.build)
    zs = os.path.join(build, "bin", "gridns-zonesync")
    for b in ("gridns-zonesync", "gridns-resolver"):
        if not os.access(os.path.join(build, "bin", b), os.X_OK):
            log("%s/bin/%s is not built; run make" % (build, b))
            return 1
    started = time.time()
    w = tempfile.mkdtemp(prefix="gridns-bench-xfr.")
    rows, notes = [], []
    res = {}
    try:
        # ---- the zone, the central database, the publisher ------------------
        log("generating %d entries (+%d changes)" % (entries, changes))
        addrs = gen_addresses(entries + changes // 2, 3)
        base, extra = addrs[:entries], addrs[entries:]
        src = os.path.join(w, "big.ip4set")
        write_ip4set(src, base, 1)
        _commands.append("# %s: %d random /32s (seed 3) with ':127.0.0.2:Listed ... $' "
                         "(A + TXT each) and 127.0.0.2" % (src, entries))
        db = os.path.join(w, "central")
        _, t_imp = run([zs, "import", "--db", db, "%s:ip4set:%s" % (ZONE, src)])
        log("first import %.2f s" % t_imp)
        res["import"] = t_imp
        port, mport = free_port(), free_port()
        pconf = os.path.join(w, "pub.conf")
        write_publisher(pconf, db, port, mport, ZONE)
        pub = run_bg([zs, "publisher", "-c", pconf], os.path.join(w, "pub.log"))
        serial1 = wait_until(lambda: soa_serial(port, ZONE, key=True), 30, "the publisher", pub)
        # warm-up: the publisher packs the zone once per serial; every
        # receiver below then gets the same pre-built stream
        t0 = time.monotonic()
        _commands.append("kdig @127.0.0.1 -p %d -y hmac-sha256:k1:SECRET %s AXFR  # warm-up "
                         "(done by the harness: a signed AXFR read raw)" % (port, ZONE))
        n_rr, n_bytes = raw_axfr(port, ZONE)
        res["warm"] = time.monotonic() - t0
        res["records"] = n_rr
        log("publisher serial %d, %d records, %.1f MB; warm-up AXFR %.2f s" % (
            serial1, n_rr, n_bytes / 1e6, res["warm"]))

        receivers = [Receiver("gridns")]
        if not a.no_knot:
            if os.path.exists(KNOTD):
                receivers.append(Receiver("knot"))
            else:
                notes.append("knotd not installed: no Knot column")
        if not a.no_nsd:
            if os.path.exists(NSD):
                receivers.append(Receiver("nsd"))
            else:
                notes.append("nsd not installed: no NSD column")

        # ---- AXFR, one receiver at a time ------------------------------------
        for r in receivers:
            try:
                d = os.path.join(w, r.name)
                os.makedirs(d)
                r.port = free_port()
                t0 = time.monotonic()
                if r.name == "gridns":
                    r.mport = free_port()
                    conf = os.path.join(d, "follower.conf")
                    write_follower(conf, os.path.join(d, "snap"), r.port, r.mport, ZONE, port)
                    r.proc = run_bg([zs, "follower", "-c", conf], os.path.join(d, "follower.log"))
                    r.detail = wait_until(lambda: synced(r.proc, ZONE, serial1, "AXFR"), 300,
                                          "the follower's AXFR", r.proc, tick=r.sample)
                elif r.name == "knot":
                    conf = knot_conf(d, r.port, port)
                    r.proc = run_bg([KNOTD, "-c", conf], os.path.join(d, "knot.log"))
                    wait_until(lambda: soa_serial(r.port, ZONE) == serial1, 300, "Knot's AXFR",
                               r.proc, tick=r.sample)
                else:
                    conf = nsd_conf(d, r.port, port)
                    r.proc = run_bg([NSD, "-d", "-c", conf], os.path.join(d, "nsd.stderr"))
                    r.proc.logpath = os.path.join(d, "nsd.log")
                    wait_until(lambda: soa_serial(r.port, ZONE) == serial1, 300, "NSD's AXFR",
                               r.proc, tick=r.sample)
                r.axfr_wall = time.monotonic() - t0
                time.sleep(0.5)  # a receiver may still be finishing (NSD's reload)
                r.axfr_cpu = group_cpu(r.proc.pid)
                r.axfr_hwm = r.peak_mib()
                r.axfr_rss = max(status_kb(pid, "VmRSS") for pid in group_pids(r.proc.pid)) / 1024.0
                if r.name == "knot":
                    r.own = knot_refresh(r.proc, serial1)
                log("%s: AXFR in %.2f s wall, peak RSS %.0f MiB" % (r.name, r.axfr_wall, r.axfr_hwm))
            except RuntimeError as e:  # Knot or NSD failing must not sink the run
                if r.name == "gridns":
                    raise
                notes.append("%s: AXFR failed, column left out: %s" % (r.name, str(e)[:300]))
                log(notes[-1])
                if r.proc:
                    stop(r.proc)
                r.failed = True
        receivers = [r for r in receivers if not getattr(r, "failed", False)]

        # ---- IXFR of `changes` entries ---------------------------------------
        half = changes // 2
        write_ip4set(src, base[half:] + extra[:changes - half], 2)
        _commands.append("# %s rewritten: the first %d addresses deleted, %d new added"
                         % (src, half, changes - half))
        cp, t_imp2 = run([zs, "import", "--db", db, "%s:ip4set:%s" % (ZONE, src)])
        res["import2"] = t_imp2
        res["import2_msg"] = cp.stderr.strip().splitlines()[-1] if cp.stderr.strip() else ""
        log("import of %d changes %.2f s: %s" % (changes, t_imp2, res["import2_msg"]))
        serial2 = wait_until(lambda: (soa_serial(port, ZONE, key=True) or 0) > serial1 and
                             soa_serial(port, ZONE, key=True), 10, "the new serial", pub)
        for r in receivers:
            try:
                c0 = group_cpu(r.proc.pid)
                t0 = time.monotonic()
                _commands.append("# NOTIFY (TSIG k1) for %s to %s on 127.0.0.1:%d" % (ZONE, r.name, r.port))
                notify(r.port, ZONE)
                if r.name == "gridns":
                    r.idetail = wait_until(lambda: synced(r.proc, ZONE, serial2, "IXFR"), 120,
                                           "the follower's IXFR", r.proc)
                else:
                    wait_until(lambda: soa_serial(r.port, ZONE) == serial2, 120,
                               "%s's IXFR" % r.name, r.proc)
                r.ixfr_wall = time.monotonic() - t0
                if r.name == "nsd":
                    time.sleep(0.5)  # its reload child is reaped: its CPU lands in cutime
                r.ixfr_cpu = group_cpu(r.proc.pid) - c0
                # what the publisher served for it: ixfr, or ixfr_full (the whole zone)
                kinds = re.findall(r"publisher: (axfr|ixfr|ixfr_full) of %s to " % re.escape(ZONE),
                                   logtext(pub))
                r.served = kinds[-1] if kinds else "?"
                r.iown = None
                if r.name == "knot":
                    r.iown = knot_refresh(r.proc, serial2)
                r.total_hwm = r.peak_mib()
                log("%s: IXFR in %.3f s wall" % (r.name, r.ixfr_wall))
            except RuntimeError as e:
                if r.name == "gridns":
                    raise
                notes.append("%s: IXFR failed: %s" % (r.name, str(e)[:300]))
                log(notes[-1])
                r.ixfr_wall = r.ixfr_cpu = float("nan")
                r.served, r.iown, r.total_hwm = "failed", None, r.peak_mib()
        for r in receivers:
            stop(r.proc)
        stop(pub)

        # ---- propagation publisher -> relay -> follower -> resolver -----------
        log("propagation: %d updates through publisher -> relay -> follower -> resolver" % updates)
        pw = os.path.join(w, "prop")
        os.makedirs(pw)
        small = os.path.join(pw, SMALL + ".ip4set")
        sample_text = open(os.path.join(ROOT, "tests", "data", "sample", SMALL + ".ip4set")).read()
        with open(small, "w") as f:
            f.write(sample_text)
        pdb = os.path.join(pw, "central")
        run([zs, "import", "--db", pdb, "%s:ip4set:%s" % (SMALL, small)])
        p_port, p_m = free_port(), free_port()
        relay_notify, relay_port, relay_m = free_port(), free_port(), free_port()
        node_notify, node_m = free_port(), free_port()
        write_publisher(os.path.join(pw, "pub.conf"), pdb, p_port, p_m, SMALL, [relay_notify])
        ppub = run_bg([zs, "publisher", "-c", os.path.join(pw, "pub.conf")],
                      os.path.join(pw, "pub.log"))
        wait_until(lambda: soa_serial(p_port, SMALL, key=True), 30, "the publisher", ppub)
        rsnap = os.path.join(pw, "relay-snap")
        relay_pub = ('publisher = { listen = [ "127.0.0.1:%d" ]; metrics = ""; %s\n'
                     'zones = ( { name = "%s"; allow = [ "127.0.0.0/8" ]; keys = [ "k1" ]; '
                     'notify = [ "127.0.0.1:%d" ]; notify-key = "k1"; } ); };\n' % (
                         relay_port, KEYS_CONF, SMALL, node_notify))
        write_follower(os.path.join(pw, "relay.conf"), rsnap, relay_notify, relay_m, SMALL,
                       p_port, relay_pub)
        relay = run_bg([zs, "relay", "-c", os.path.join(pw, "relay.conf")],
                       os.path.join(pw, "relay.log"))
        wait_until(lambda: soa_serial(relay_port, SMALL, key=True), 30, "the relay", relay)
        nsnap = os.path.join(pw, "node-snap")
        write_follower(os.path.join(pw, "node.conf"), nsnap, node_notify, node_m, SMALL,
                       relay_port)
        node = run_bg([zs, "follower", "-c", os.path.join(pw, "node.conf")],
                      os.path.join(pw, "node.log"))
        wait_until(lambda: "by AXFR" in logtext(node), 30, "the node's AXFR", node)
        r_port, r_m = free_port(), free_port()
        resolver = run_bg([os.path.join(build, "bin", "gridns-resolver"), "--snapshot", nsnap,
                           "--listen", "127.0.0.1:%d" % r_port, "--metrics", "127.0.0.1:%d" % r_m],
                          os.path.join(pw, "resolver.log"))
        usock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        usock.settimeout(0.05)

        def listed(ip):
            qn = ".".join(reversed(ip.split("."))) + "." + SMALL
            q = dns.message.make_query(qn, "A")
            try:
                usock.sendto(q.to_wire(), ("127.0.0.1", r_port))
                while True:
                    data = usock.recv(4096)
                    m = dns.message.from_wire(data)
                    if m.id == q.id:
                        return m.rcode() == dns.rcode.NOERROR and len(m.answer) > 0
            except (OSError, dns.exception.DNSException):
                return False

        wait_until(lambda: listed("127.0.0.2"), 30, "the node's resolver", resolver)
        after_commit, with_import, missed = [], [], 0
        text = sample_text
        _commands.append("# then %d times: append 100.64.X.Y to %s, import, poll the resolver "
                         "for Y.X.64.100.%s A every 2 ms (at most 5 s)" % (updates, small, SMALL))
        for i in range(updates):
            ip = "100.64.%d.%d" % (i // 200, i % 200 + 1)
            text += ip + "\n"
            with open(small, "w") as f:
                f.write(text)
            t0 = time.monotonic()
            cp = subprocess.run([zs, "import", "--db", pdb, "%s:ip4set:%s" % (SMALL, small)],
                                capture_output=True, text=True, timeout=60)
            t1 = time.monotonic()
            if cp.returncode != 0:
                raise RuntimeError("import failed: " + cp.stderr)
            deadline = t1 + 5
            ok = False
            while time.monotonic() < deadline:
                if listed(ip):
                    ok = True
                    break
                time.sleep(0.002)
            t2 = time.monotonic()
            if not ok:
                missed += 1
            after_commit.append(t2 - t1)
            with_import.append(t2 - t0)
        usock.close()
        for p in (resolver, node, relay, ppub):
            stop(p)

        def pct(xs, p):
            xs = sorted(xs)
            return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]
        res["prop"] = after_commit
        res["prop_imp"] = with_import
        res["missed"] = missed
        log("propagation after commit: p50 %.3f s, p99 %.3f s, max %.3f s, missed %d" % (
            pct(after_commit, 50), pct(after_commit, 99), max(after_commit), missed))

        # ---- fan-out ------------------------------------------------------------
        fan = None
        if not a.no_fanout:
            log("fan-out: %d clients, %d entries (tests/bench/pub_fanout.py)" % (clients, entries))
            cp, t_fan = run(["/usr/bin/python3", os.path.join(HERE, "pub_fanout.py"),
                             "--build", build, "--entries", entries, "--clients", clients],
                            timeout=400)
            fan = cp.stdout.strip().splitlines()[-1]
            log(fan)

        # ---- table ------------------------------------------------------------
        names = [r.name for r in receivers]
        label = {"gridns": "gridns follower", "knot": "Knot %s" % knot_version(),
                 "nsd": "NSD %s" % nsd_version()}

        def cells(f):
            return [f(r) for r in receivers]
        hdr = "| %s | %s |" % ("figure", " | ".join(label[n] for n in names))
        sep = "|---|" + "---:|" * len(names)
        lines = [hdr, sep]

        def row(title, vals):
            lines.append("| %s | %s |" % (title, " | ".join(vals)))
        row("AXFR of %d entries (%d records): process start to serial served (s)"
            % (entries, n_rr), cells(lambda r: "%.2f" % r.axfr_wall))
        row("&nbsp;&nbsp;the receiver's own figure (s)",
            cells(lambda r: "%.2f (transfer %.2f, parse %.2f, write %.2f)" % (
                r.detail["transfer"] + r.detail["parse"] + r.detail["checks"] + r.detail["write"],
                r.detail["transfer"], r.detail["parse"], r.detail["write"]) if r.name == "gridns"
                else ("%.2f (log)" % r.own if getattr(r, "own", None) else "-")))
        row("&nbsp;&nbsp;receiver CPU, process start to serial served (s)",
            cells(lambda r: "%.2f" % r.axfr_cpu))
        row("AXFR peak RSS, VmHWM (MiB)", cells(lambda r: "%.0f" % r.axfr_hwm +
                                                (" (largest process)" if r.name == "nsd" else "")))
        row("RSS after the AXFR, VmRSS (MiB)", cells(lambda r: "%.0f" % r.axfr_rss))
        row("IXFR of %d changed entries (%d records): NOTIFY to serial served (s)"
            % (changes, 2 * changes), cells(lambda r: "%.3f" % r.ixfr_wall))
        row("&nbsp;&nbsp;the receiver's own figure (s)",
            cells(lambda r: "%.3f (transfer %.3f, parse %.3f, checks %.3f, write %.3f)" % (
                sum(r.idetail[k] for k in ("transfer", "parse", "checks", "write")),
                r.idetail["transfer"], r.idetail["parse"], r.idetail["checks"],
                r.idetail["write"]) if r.name == "gridns"
                else ("%.3f (log)" % r.iown if r.iown is not None else "-")))
        row("&nbsp;&nbsp;receiver CPU for it (s)", cells(lambda r: "%.2f" % r.ixfr_cpu))
        row("&nbsp;&nbsp;served by the publisher as (its log)", cells(lambda r: r.served))
        row("peak RSS over AXFR + IXFR (MiB)", cells(lambda r: "%.0f" % r.total_hwm))
        lines.append("")
        lines.append("| publisher side | |")
        lines.append("|---|---:|")
        lines.append("| first import of the %d entries (s) | %.2f |" % (entries, res["import"]))
        lines.append("| import of the %d changes (s) | %.2f |" % (changes, res["import2"]))
        lines.append("| propagation publisher -> relay -> follower -> resolver, %d updates, "
                     "from the import's commit: p50 / p99 / max (s) | %.3f / %.3f / %.3f |" % (
                         updates, pct(after_commit, 50), pct(after_commit, 99), max(after_commit)))
        lines.append("| &nbsp;&nbsp;the same from the import's start (s) | %.3f / %.3f / %.3f |" % (
            pct(with_import, 50), pct(with_import, 99), max(with_import)))
        lines.append("| &nbsp;&nbsp;updates not answered within 5 s | %d |" % missed)
        lines.append("| &nbsp;&nbsp;target p99 < 1 s | %s |" % (
            "met" if pct(after_commit, 99) < 1.0 and not missed else "NOT met"))
        if fan:
            lines.append("| fan-out: one publisher, %d concurrent AXFR clients | %s |" % (
                clients, fan))
        table = "\n".join(lines)
        print()
        print(table)
        print()
        elapsed = time.time() - started
        outdir = os.path.join(build, "bench")
        os.makedirs(outdir, exist_ok=True)
        out = os.path.join(outdir, "xfr_results.md")
        with open(out, "w") as f:
            f.write("# gridns transfer benchmark (tests/bench/bench_xfr.py)\n\n")
            f.write("Run %s UTC, %.0f s, %s mode, on %s (%d cores), load average at the end %s; "
                    "gridns %s.\n\n" % (
                        time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)), elapsed,
                        "quick" if a.quick else "full", cpu_model(), os.cpu_count(),
                        " ".join(open("/proc/loadavg").read().split()[:3]), git_rev()))
            f.write(table + "\n\n")
            for n in notes:
                f.write("- %s\n" % n)
            f.write("\n## Commands, as run (ports picked at run time; WORK = %s)\n\n```sh\n" % w)
            f.write("/usr/bin/python3 tests/bench/bench_xfr.py --build %s%s\n" % (
                a.build, " --quick" if a.quick else ""))
            for c in _commands:
                f.write(c.replace(w, "WORK").replace(SECRET, "SECRET") + "\n")
            f.write("```\n\nConfigurations: see write_publisher, write_follower, knot_conf and "
                    "nsd_conf in tests/bench/bench_xfr.py.\n")
        log("wrote %s (%.0f s)" % (out, elapsed))
        return 0
    finally:
        stop_all()
        if a.keep:
            log("kept %s" % w)
        else:
            shutil.rmtree(w, ignore_errors=True)


def knot_refresh(p, serial):
    """Knot's own time for a refresh that reached `serial` ("zone updated, N seconds")."""
    m = re.search(r"refresh, remote [^,]+, zone updated, ([\d.]+) seconds, serial \S+ -> %d\b"
                  % serial, logtext(p))
    return float(m.group(1)) if m else None


def knot_version():
    try:
        return subprocess.run([KNOTD, "--version"], capture_output=True, text=True,
                              timeout=10).stdout.split()[-1]
    except (OSError, IndexError, subprocess.SubprocessError):
        return ""


def nsd_version():
    try:
        out = subprocess.run([NSD, "-v"], capture_output=True, text=True, timeout=10)
        return (out.stdout + out.stderr).split("\n")[0].split()[-1]
    except (OSError, IndexError, subprocess.SubprocessError):
        return ""


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no",
                                "--", "common", "zonesync", "resolver"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" with uncommitted changes in common/ zonesync/ resolver/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:
        log("FAILED: %s" % e)
        sys.exit(1)
