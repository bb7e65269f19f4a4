"""tests/system/conftest.py - shared fixtures for the gridns system tests.

Everything runs on loopback with ports picked free at run time.  Every
daemon is started by a fixture and killed in its teardown (and, as a last
resort, when the interpreter exits).  Binaries come from $GRIDNS_BUILD/bin
(default: build/bin at the top of the repository).

A missing binary makes the test FAIL, never skip: a suite that skips what
is not built yet would report green for a product that does not exist.
"""
import atexit
import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("GRIDNS_BUILD", "build"))
if not BUILD.is_absolute():
    BUILD = ROOT / BUILD
BIN = BUILD / "bin"
RBLDNSD = shutil.which("rbldnsd") or "/usr/sbin/rbldnsd"
KDIG = shutil.which("kdig") or "/usr/bin/kdig"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

_live = []  # every Daemon still running, killed at exit whatever happens

# Under `make asan` the daemons and tools are sanitizer builds: a report in
# their output is a failure even when the test's own assertions passed.
SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|"
                       r"runtime error:|SUMMARY: \w*Sanitizer")


def sanitizer_report(text):
    m = SANITIZER.search(text or "")
    return text[max(0, m.start() - 200):m.start() + 3000] if m else None


def binpath(name):
    p = BIN / name
    if not p.exists():
        pytest.fail("%s is not built (looked for %s)" % (name, p), pytrace=False)
    return str(p)


# ---- ports and directories ------------------------------------------------

_ports = random.Random(os.getpid() ^ time.monotonic_ns())
_given = set()  # never hand out the same port twice in one run


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1.

    Picked below the kernel's ephemeral range: a port from bind(0) could be
    handed to another program's bind(0) before our daemon binds it, and
    gridns binds with SO_REUSEPORT, so it would silently share the port."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            eph_lo = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        eph_lo = 32768
    lo = 20000 if eph_lo > 21000 else 1024
    for _ in range(500):
        port = _ports.randrange(lo, eph_lo)
        if port in _given:
            continue
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                t.bind(("127.0.0.1", port))
                _given.add(port)
                return port
            except OSError:
                continue
            finally:
                t.close()
        finally:
            u.close()
    raise RuntimeError("no free port")


@pytest.fixture
def workdir():
    """A scratch directory under /tmp, world-readable (rbldnsd runs as nobody)."""
    d = tempfile.mkdtemp(prefix="gridns-st.", dir="/tmp")
    os.chmod(d, 0o755)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemons():
    """A list for daemons a test starts in its body: each is stopped (and
    its log checked) in teardown, whatever the test did."""
    started = []
    yield started
    errors = []
    for d in reversed(started):
        try:
            d.stop()
        except BaseException as e:  # stop them all, then report
            errors.append(e)
    if errors:
        raise errors[0]


@pytest.fixture(scope="module")
def moddir():
    d = tempfile.mkdtemp(prefix="gridns-stm.", dir="/tmp")
    os.chmod(d, 0o755)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


# ---- processes --------------------------------------------------------------

class Daemon:
    """A child process with its output in a log file; stop() always kills it."""

    def __init__(self, name, argv, logdir, env=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.logpath = Path(logdir) / ("%s.%d.log" % (name, time.monotonic_ns()))
        self._log = open(self.logpath, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     env=env)
        _live.append(self)

    def alive(self):
        return self.proc.poll() is None

    def log(self, limit=6000):
        try:
            data = self.logpath.read_text(errors="replace")
        except OSError:
            return ""
        return data[-limit:]

    def stop(self, sig=signal.SIGTERM, grace=5.0):
        """Stop and return the exit status (negative: killed by signal)."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self in _live:
            _live.remove(self)
        self._log.close()
        rep = sanitizer_report(self.log(limit=200000))
        if rep:
            pytest.fail("%s printed a sanitizer report:\n%s" % (self.name, rep), pytrace=False)
        return self.proc.returncode

    def describe(self):
        return "%s (%s), exit %s, log:\n%s" % (self.name, " ".join(self.argv),
                                               self.proc.poll(), self.log())


@atexit.register
def _kill_leftovers():
    for d in list(_live):
        try:
            d.proc.kill()
        except OSError:
            pass


def run(argv, timeout=60, check=False, **kw):
    """Run a command to completion (bounded); returns CompletedProcess."""
    argv = [str(a) for a in argv]
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        pytest.fail("timed out after %ss: %s" % (timeout, " ".join(argv)), pytrace=False)
    rep = sanitizer_report(cp.stderr)
    if rep:
        pytest.fail("sanitizer report from %s:\n%s" % (" ".join(argv), rep), pytrace=False)
    if check and cp.returncode != 0:
        pytest.fail("exit %d: %s\nstdout:\n%s\nstderr:\n%s" % (
            cp.returncode, " ".join(argv), cp.stdout[-3000:], cp.stderr[-3000:]), pytrace=False)
    return cp


def zonesync(*args, timeout=120, check=False):
    return run([binpath("gridns-zonesync")] + list(args), timeout=timeout, check=check)


def load_zones(snapshot, specs, strict=False, check=True):
    """zonesync load --snapshot DIR ZONE:TYPE:FILE[,FILE] ..."""
    args = ["load", "--snapshot", str(snapshot)] + (["--strict"] if strict else []) + list(specs)
    return zonesync(*args, check=check)


# ---- DNS helpers ------------------------------------------------------------

def make_query(qname, qtype, edns=False, payload=1232, rd=False, id=None):
    q = dns.message.make_query(qname, qtype, use_edns=0 if edns else False,
                               payload=payload)
    if not rd:
        q.flags &= ~dns.flags.RD
    if id is not None:
        q.id = id
    return q


def udp_raw(port, wire, timeout=2.0, host="127.0.0.1"):
    """Send one datagram, return the reply bytes or None on timeout."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        s.send(wire)
        deadline = time.monotonic() + timeout
        while True:
            try:
                data = s.recv(65535)
            except (socket.timeout, ConnectionRefusedError):
                return None
            if len(data) >= 2 and data[:2] == wire[:2]:
                return data
            if time.monotonic() > deadline:
                return None
    finally:
        s.close()


def udp(port, qname, qtype="A", edns=False, payload=1232, timeout=2.0, tries=2):
    q = make_query(qname, qtype, edns=edns, payload=payload)
    for _ in range(tries):
        data = udp_raw(port, q.to_wire(), timeout)
        if data is not None:
            return dns.message.from_wire(data)
    return None


def tcp_exchange(port, wires, timeout=5.0, host="127.0.0.1"):
    """Send all queries on ONE connection (pipelined), return replies by id order
    of arrival as a dict id -> bytes."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(b"".join(struct.pack("!H", len(w)) + w for w in wires))
        out = {}
        buf = b""
        deadline = time.monotonic() + timeout
        while len(out) < len(wires) and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 2:
                n = struct.unpack("!H", buf[:2])[0]
                if len(buf) < 2 + n:
                    break
                msg, buf = buf[2:2 + n], buf[2 + n:]
                out[struct.unpack("!H", msg[:2])[0]] = msg
        return out
    finally:
        s.close()


def tcp(port, qname, qtype="A", edns=False, timeout=5.0):
    q = make_query(qname, qtype, edns=edns)
    got = tcp_exchange(port, [q.to_wire()], timeout)
    data = got.get(q.id)
    return dns.message.from_wire(data) if data else None


def wait_dns(daemon, port, qname, timeout=15.0):
    """Wait until the daemon answers a SOA query for qname with NOERROR or
    NXDOMAIN: qname is in a zone it serves, so the answer comes from this
    daemon with this data (REFUSED or SERVFAIL could be some other program
    on the port, or a daemon still opening its data)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not daemon.alive():
            pytest.fail("daemon exited: " + daemon.describe(), pytrace=False)
        r = udp(port, qname, "SOA", timeout=0.3, tries=1)
        if r is not None and r.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return r
        if r is not None:
            time.sleep(0.05)
    daemon.stop()
    pytest.fail("no answer within %.0fs: %s" % (timeout, daemon.describe()), pytrace=False)


def pipeline(port, wires, window=64, timeout=1.0, tries=3, deadline=240.0,
             host="127.0.0.1"):
    """Send many UDP queries over one socket with up to `window` outstanding.

    Returns a list of reply bytes (None: no reply after `tries` sends).  IDs
    are rewritten from a free list; an ID whose query was retransmitted is
    never reused, and replies must repeat the question, so a late duplicate
    can never be taken for the answer to another query.
    """
    n = len(wires)
    res = [None] * n
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.connect((host, port))
    s.setblocking(False)
    free = deque(range(65536))
    pend = {}  # id -> [index, last send time, sends, wire]
    nxt = 0
    end = time.monotonic() + deadline

    def qsection(w):
        # Question = bytes after the header up to the end of QTYPE/QCLASS.
        i = 12
        while i < len(w) and w[i] != 0:
            i += w[i] + 1
        return w[12:i + 5].lower()

    try:
        while (nxt < n or pend) and time.monotonic() < end:
            while len(pend) < window and nxt < n and free:
                qid = free.popleft()
                w = struct.pack("!H", qid) + wires[nxt][2:]
                try:
                    s.send(w)
                except (BlockingIOError, ConnectionRefusedError):
                    pass
                pend[qid] = [nxt, time.monotonic(), 1, w]
                nxt += 1
            r, _, _ = select.select([s], [], [], 0.02)
            if r:
                for _ in range(4096):
                    try:
                        data = s.recv(65535)
                    except (BlockingIOError, ConnectionRefusedError):
                        break
                    if len(data) < 12:
                        continue
                    qid = struct.unpack("!H", data[:2])[0]
                    p = pend.get(qid)
                    if p is None:
                        continue
                    qdcount = struct.unpack("!H", data[4:6])[0]
                    if qdcount and qsection(data) != qsection(p[3]):
                        continue
                    del pend[qid]
                    res[p[0]] = data
                    if p[2] == 1:
                        free.append(qid)
            now = time.monotonic()
            for qid, p in list(pend.items()):
                if now - p[1] > timeout:
                    if p[2] >= tries:
                        del pend[qid]  # id retired: a late reply is ignored
                    else:
                        p[1] = now
                        p[2] += 1
                        try:
                            s.send(p[3])
                        except (BlockingIOError, ConnectionRefusedError):
                            pass
    finally:
        s.close()
    return res


def pipeline_many(targets, wires, **kw):
    """Run pipeline() against several ports at once; returns {port: replies}."""
    out = {}
    errs = []

    def one(port):
        try:
            out[port] = pipeline(port, wires, **kw)
        except Exception as e:  # reported by the caller
            errs.append(e)

    ts = [threading.Thread(target=one, args=(p,)) for p in targets]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errs:
        raise errs[0]
    return out


# ---- daemons ------------------------------------------------------------------

class Resolver(Daemon):
    def __init__(self, logdir, snapshot=None, workers=None, conf=None, extra=(), listen6=False):
        self.port = free_port()
        self.metrics_port = free_port()
        if conf is not None:
            argv = [binpath("gridns-resolver"), "-c", conf]
        else:
            argv = [binpath("gridns-resolver"), "--snapshot", snapshot,
                    "--listen", "127.0.0.1:%d" % self.port,
                    "--metrics", "127.0.0.1:%d" % self.metrics_port]
            if workers:
                argv += ["--workers", str(workers)]
            if listen6:  # the same port on ::1 as well
                argv += ["--listen", "[::1]:%d" % self.port]
        super().__init__("gridns-resolver", list(argv) + list(extra), logdir)

    def metrics_url(self):
        return "http://127.0.0.1:%d/metrics" % self.metrics_port


def start_resolver(logdir, snapshot, probe, **kw):
    r = Resolver(logdir, snapshot, **kw)
    wait_dns(r, r.port, probe)
    return r


class Rbldnsd(Daemon):
    def __init__(self, datadir, specs):
        self.port = free_port()
        argv = [RBLDNSD, "-n", "-u", "nobody", "-c", "0", "-b", "127.0.0.1/%d" % self.port,
                "-w", str(datadir)] + list(specs)
        super().__init__("rbldnsd", argv, datadir)


def start_rbldnsd(datadir, specs, probe):
    r = Rbldnsd(datadir, specs)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not r.alive():
            pytest.fail("rbldnsd exited: " + r.describe(), pytrace=False)
        m = udp(r.port, probe, "SOA", timeout=0.3, tries=1)
        if m is not None and m.rcode() == dns.rcode.NOERROR:
            return r
    r.stop()
    pytest.fail("rbldnsd never answered: " + r.describe(), pytrace=False)
