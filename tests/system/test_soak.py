"""tests/system/test_soak.py - load and live sync at once (issue 6).

Pinning (on a machine with more CPUs: the first CPU this process may use vs
the others): the resolver (one worker) has CPU 0 to itself; everything else -
load generators, publisher, follower, the per-second import, the consistency
checker and pytest - runs on CPU 1.  On loopback a client spends about as
much CPU per query as the server (it pays the kernel's receive path of the
server's socket), so at 70% the generator needs most of CPU 1 and the sync
work has to be cheap: the zone carries 10,000 bulk entries (each version
still rewrites real pages) and the checker is paced.  The maximum is measured under that same
pinning (closed loop, the best of two short runs; the follower idles), then
the resolver is held at 70% of it for the whole run: gridns-loadgen offers
most of it on a fixed schedule, paced in 0.5 ms steps, and dnsperf (the tool
the issue names) a fixed share beside it as an independent client (dnsperf
alone cannot: it saturates its own core near 100-120k q/s, docs/performance.md,
below this resolver's maximum, and at a fixed rate it spends several times
loadgen's CPU per query).  Meanwhile the publisher imports a changed zone every second (the
follower applies it by IXFR after our NOTIFY) and, every 15 s, two versions
with a one-deep journal, so the follower's IXFR can only be answered with the
whole zone (a full transfer, kind="ixfr_full" at the publisher).

Asserted over the run:
- the load was really offered: gridns-loadgen sent at least 90% of its rate
  and dnsperf at least 95% of its own (a generator that falls behind skips
  the sends it missed, so a starved generator shows here, not as a pass).
  90%, not more: on a quiet host the resolver's maximum is highest and the
  generators share CPU 1 with the whole sync, which then limits them to
  about 96% of 70% (67-68% of the maximum, docs/reliability.md);
- zero lost queries and zero SERVFAIL, for both generators (every query
  names the local zone);
- never an answer from a half-applied zone: each version lists check(N) and
  names marker TXT "gen-N" together (and drops check(N-1)); a client thread
  reads marker, check(marker), marker, a few hundred times a second, and
  whenever both marker reads agree check(N) must have been listed; most
  versions must have been checked, each many times;
- resident memory of the resolver and the snapshot's data.mdb stable: after
  a warm-up of a quarter of the run, RSS grows by at most 10% + 8 MiB and
  data.mdb by at most 25% + 1 MiB (LMDB reuses its free pages; a reader that
  pinned an old version would make the file grow with every import).

GRIDNS_SOAK_SECONDS sets the length (default 60, what CI runs); the figures
are written to build/soak/results.json for docs/reliability.md.
"""
import collections
import json
import os
import re
import resource
import shutil
import socket
import struct
import subprocess
import threading
import time

import dns.rcode

from conftest import BUILD, binpath, make_query, run, start_resolver
from drills_util import (MARKER, ZONE, check_name, deadline_loop, file_size, import_text,
                         marker_gen, marker_source, metric, metrics, notify, rss_kib,
                         snapshot_serial, stack, wait_for)

SOAK = float(os.environ.get("GRIDNS_SOAK_SECONDS", "60"))
LOAD = 0.70        # of the measured maximum
DNSPERF_QPS = 1000  # dnsperf's fixed share of it (costs it ~5% of a core)
TICK_US = 500      # loadgen paces in 0.5 ms steps: batches, not a syscall per query
CATCH_UP_MS = 20   # ... and sends up to 20 ms of missed queries late after a gap
DNSPERF = shutil.which("dnsperf") or "/usr/bin/dnsperf"
HZ = os.sysconf("SC_CLK_TCK")


def cpu_split():
    """({resolver CPU}, {every other CPU}) of those this process may use, or
    (None, None) on a one-CPU machine (then nothing is pinned)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


def pin(pid, cpus):
    """Pin every thread of a running process (a thread started later
    inherits the mask of the one that starts it)."""
    if cpus is None:
        return
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:  # a thread that just ended
            pass


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def loadgen(port, qfile, *args, timeout=600):
    cp = run([binpath("gridns-loadgen"), "-s", "127.0.0.1", "-p", port, "-d", qfile] +
             [str(a) for a in args], timeout=timeout, check=True)
    return json.loads(cp.stdout.strip().splitlines()[-1])


def dnsperf_figures(text):
    """sent, completed, lost and rcodes from dnsperf's summary."""
    def num(label):
        m = re.search(r"^\s*%s:\s+(\d+)" % label, text, re.M)
        return int(m.group(1)) if m else None
    rc = {}
    m = re.search(r"^\s*Response codes:\s+(.*)$", text, re.M)
    if m:
        rc = {k: int(v) for k, v in re.findall(r"([A-Z]+) (\d+) \(", m.group(1))}
    lat = re.search(r"Average Latency \(s\):\s+([\d.]+) \(min [\d.]+, max ([\d.]+)\)", text)
    return {"sent": num("Queries sent"), "completed": num("Queries completed"),
            "lost": num("Queries lost"), "rcodes": rc,
            "latency_avg_us": round(float(lat.group(1)) * 1e6) if lat else None,
            "latency_max_us": round(float(lat.group(2)) * 1e6) if lat else None}


def query_file(path):
    lines = []
    for i in range(2000):
        k = i % 5
        if k == 0:
            lines.append("%s TXT" % MARKER)
        elif k == 1:
            lines.append("%s A" % check_name(i % 300))
        elif k == 2:
            lines.append("2.0.0.127.%s A" % ZONE)
        elif k == 3:
            lines.append("%d.2.0.192.%s TXT" % (i % 250, ZONE))
        else:
            lines.append("%d.%d.0.10.%s A" % (i % 250, i % 200, ZONE))
    path.write_text("\n".join(lines) + "\n")
    return path


def skip_name(msg, pos):
    """The offset after the (possibly compressed) domain name at pos."""
    while True:
        n = msg[pos]
        if n >= 0xC0:
            return pos + 2
        if n == 0:
            return pos + 1
        pos += 1 + n


class Checker(threading.Thread):
    """marker, check(marker), marker, PAUSE, in a loop, until stopped.

    One connected socket and queries encoded once: a round costs a few
    hundred microseconds of CPU, so the pause, not the CPU, sets the pace
    (a few hundred rounds a second, each version checked a few hundred
    times) and the checker leaves the generators their CPU."""

    def __init__(self, port, pause=0.004):
        super().__init__(daemon=True)
        self.port, self.pause = port, pause
        self.stop_ev = threading.Event()
        self.rounds = self.agreed = self.torn = self.noanswer = 0
        self.per_version = collections.Counter()  # version -> rounds that agreed on it
        self.bad = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(("127.0.0.1", port))
        self.qid = 0
        self.marker_q = make_query(MARKER, "TXT").to_wire()
        self.check_q = {}

    def ask(self, wire, timeout=1.0):
        """The reply to wire (same ID, same question), or None."""
        self.qid = (self.qid + 1) & 0xFFFF
        w = struct.pack("!H", self.qid) + wire[2:]
        self.sock.send(w)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                r = self.sock.recv(4096)
            except (socket.timeout, ConnectionRefusedError):
                return None
            # a late reply to an earlier query has another ID: skipped
            if len(r) >= len(w) and r[:2] == w[:2] and \
                    r[12:len(wire)].lower() == wire[12:].lower():
                return r

    def marker(self):
        """As drills_util.marker_gen: the generation, None if no answer, -1 if
        absent.  The TXT is read from the wire by hand (dnspython's parser
        would be most of the checker's CPU)."""
        r = self.ask(self.marker_q)
        if r is None:
            return None
        if (r[3] & 0x0F) != dns.rcode.NOERROR:
            return -1
        pos = len(self.marker_q)  # the answers follow the question we sent
        for _ in range(struct.unpack("!H", r[6:8])[0]):
            pos = skip_name(r, pos)
            rtype, _, _, rdlen = struct.unpack("!HHIH", r[pos:pos + 10])
            pos += 10
            if rtype == 16:  # TXT: <length><bytes> strings
                txt, i = b"", pos
                while i < pos + rdlen:
                    txt += r[i + 1:i + 1 + r[i]]
                    i += 1 + r[i]
                if txt.startswith(b"gen-"):
                    return int(txt[4:])
            pos += rdlen
        return -1

    def listed(self, n):
        """As drills_util.is_listed for check(n): NOERROR with an answer."""
        q = self.check_q.get(n)
        if q is None:
            q = self.check_q[n] = make_query(check_name(n), "A").to_wire()
        r = self.ask(q)
        if r is None:
            return None
        return (r[3] & 0x0F) == dns.rcode.NOERROR and struct.unpack("!H", r[6:8])[0] > 0

    def run(self):
        try:
            while not self.stop_ev.wait(self.pause):
                a = self.marker()
                ok = self.listed(a) if a and a > 0 else None
                b = self.marker()
                self.rounds += 1
                if a is None or b is None or ok is None:
                    self.noanswer += 1
                    continue
                if a <= 0 or b <= 0:
                    self.bad.append(("marker missing", a, b))
                    continue
                if a == b:
                    self.agreed += 1
                    self.per_version[a] += 1
                    if not ok:
                        self.torn += 1
                        self.bad.append(("check(%d) not listed while marker says %d" % (a, a)))
        finally:
            self.sock.close()


# 10,000 more entries, so that each version rewrites real pages (the file
# growth check means something: a reader pinning old versions would leak
# hundreds of KiB per import) while an import stays cheap: it shares CPU 1
# with the generators (about 40 ms of CPU, 130 ms under ASan).
BULK = "".join("10.%d.%d.%d\n" % (i >> 16 & 255, i >> 8 & 255, i & 255)
               for i in range(1 << 16, (1 << 16) + 20000, 2))


def test_soak_live_sync_under_load(workdir, daemons):
    res_cpus, other_cpus = cpu_split()
    own = os.sched_getaffinity(0)
    try:
        if other_cpus:
            # this thread's children (imports, generators) and threads
            # (the checker) inherit it
            os.sched_setaffinity(0, other_cpus)
        soak(workdir, daemons, res_cpus, other_cpus)
    finally:
        os.sched_setaffinity(0, own)


def soak(workdir, daemons, res_cpus, other_cpus):
    db, pub, fol, _ = stack(workdir, daemons, text=marker_source(1, BULK),
                            follower_extra="journal-max-depth = 100;", resolver=False)
    res = start_resolver(workdir, fol.snapshot, "2.0.0.127." + ZONE, workers=1)
    daemons.append(res)
    pin(res.proc.pid, res_cpus)
    pin(fol.proc.pid, other_cpus)
    pin(pub.proc.pid, other_cpus)
    qfile = query_file(workdir / "queries.txt")

    # the maximum under the same pinning: the best of two closed-loop runs
    # (on a shared machine a neighbour can only make a run slower)
    peaks = []
    for _ in range(2):
        c0, t0 = cpu_seconds(res.proc.pid), time.monotonic()
        p = loadgen(res.port, qfile, "-l", 2.5, "-W", 256, "-S", 2)
        p["resolver_cpu"] = (cpu_seconds(res.proc.pid) - c0) / (time.monotonic() - t0)
        peaks.append(p)
    peak = max(peaks, key=lambda p: p["qps"])
    maxqps = peak["qps"]
    total = int(maxqps * LOAD)
    assert total > 1000 and peak["lost"] == 0, peaks
    dp_rate = min(DNSPERF_QPS, total // 10)
    rate = total - dp_rate
    length = int(SOAK) + 2

    c0, t0 = cpu_seconds(res.proc.pid), time.monotonic()
    lg = subprocess.Popen([binpath("gridns-loadgen"), "-s", "127.0.0.1", "-p", str(res.port),
                           "-d", str(qfile), "-l", str(length), "-r", str(rate),
                           "-k", str(TICK_US), "-C", str(CATCH_UP_MS), "-b", "256", "-W", "4096", "-S", "1", "-t", "2"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dp = subprocess.Popen([DNSPERF, "-s", "127.0.0.1", "-p", str(res.port), "-d", str(qfile),
                           "-l", str(length), "-Q", str(dp_rate), "-c", "1", "-T", "1",
                           "-q", "500", "-t", "2", "-b", "4096"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    chk = Checker(res.port)
    chk.start()
    gen = 1
    full_at = []
    rss, mdb = [], []
    data_mdb = fol.snapshot / "data.mdb"
    late = 0
    imp_cpu, imp_wall = [], []

    def imp(*args):
        r0, w0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        import_text(db, workdir, *args)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        imp_cpu.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
        imp_wall.append(time.monotonic() - w0)

    try:
        for n, t in deadline_loop(SOAK, 1.0):
            if n and n % 15 == 0:
                # two versions with a one-deep journal: the follower's serial is
                # no longer in it, so the publisher sends the whole zone
                gen += 1
                imp(marker_source(gen, BULK), "--journal-max-depth", "1")
                gen += 1
                imp(marker_source(gen, BULK), "--journal-max-depth", "1")
                full_at.append(t)
            else:
                gen += 1
                imp(marker_source(gen, BULK))
            try:
                notify(fol.port)
            except OSError:
                late += 1
            rss.append((t, rss_kib(res.proc.pid)))
            mdb.append((t, file_size(data_mdb)))
            assert res.alive() and fol.alive() and pub.alive()
        wait_for(lambda: marker_gen(res.port) == gen, 10, "the last version", fol)
    finally:
        chk.stop_ev.set()
        chk.join(10)
        outs = []
        for proc in (lg, dp):
            try:
                outs.append(proc.communicate(timeout=SOAK + 60))
            except subprocess.TimeoutExpired:
                proc.kill()
                outs.append(proc.communicate())
    res_cpu = (cpu_seconds(res.proc.pid) - c0) / (time.monotonic() - t0)
    (out, err), (dp_out, _) = outs
    assert lg.returncode == 0 and out.strip(), (lg.returncode, err[-2000:])
    load = json.loads(out.strip().splitlines()[-1])
    dpf = dnsperf_figures(dp_out)
    assert dp.returncode == 0 and dpf["sent"] is not None, dp_out[-3000:]
    fm, pm = fol.metrics(), metrics(pub.metrics_port)
    ixfr_ok = metric(fm, "gridns_sync_transfers_total", zone=ZONE, kind="ixfr", result="ok") or 0
    axfr_ok = metric(fm, "gridns_sync_transfers_total", zone=ZONE, kind="axfr", result="ok") or 0
    full = metric(pm, "gridns_publisher_requests_total", zone=ZONE, kind="ixfr_full",
                  result="ok") or 0
    warm = [v for t, v in rss if t >= SOAK / 4]
    warm_m = [v for t, v in mdb if t >= SOAK / 4]
    achieved = load["sent"] / load["duration_s"]
    dp_achieved = dpf["sent"] / length
    checked = sorted(chk.per_version.values())
    fig = {
        "seconds": SOAK, "pinned": {"resolver": sorted(res_cpus or []),
                                    "everything_else": sorted(other_cpus or [])},
        "max_qps": round(maxqps), "max_runs_qps": [round(p["qps"]) for p in peaks],
        "max_resolver_cpu_share": round(peak["resolver_cpu"], 2),
        "offered_qps": total, "achieved_qps": round(achieved + dp_achieved),
        "achieved_share_of_max": round((achieved + dp_achieved) / maxqps, 3),
        "resolver_cpu_share": round(res_cpu, 2),
        "loadgen": {"offered_qps": rate, "achieved_qps": round(achieved),
                    "sent": load["sent"], "received": load["received"], "lost": load["lost"],
                    "late": load.get("late"), "behind": load.get("behind"),
                    "duration_s": load["duration_s"], "rcodes": load.get("rcodes"),
                    "latency_us": load.get("latency_us")},
        "dnsperf": dict(dpf, offered_qps=dp_rate, achieved_qps=round(dp_achieved)),
        "versions": gen, "ixfr_ok": ixfr_ok, "axfr_ok": axfr_ok, "full_zone_answers": full,
        "notify_late": late,
        "import_cpu_s": {"avg": round(sum(imp_cpu) / len(imp_cpu), 3),
                         "max": round(max(imp_cpu), 3)},
        "import_wall_s": {"avg": round(sum(imp_wall) / len(imp_wall), 3),
                          "max": round(max(imp_wall), 3)},
        "checker_rounds": chk.rounds, "checker_agreed": chk.agreed, "torn": chk.torn,
        "checker_noanswer": chk.noanswer, "checker_versions": len(checked),
        "checker_rounds_per_version": {"min": checked[0] if checked else 0,
                                       "median": checked[len(checked) // 2] if checked else 0},
        "rss_kib_first": rss[0][1], "rss_kib_warm": warm[0], "rss_kib_max": max(warm),
        "rss_kib_end": rss[-1][1],
        "mdb_bytes_first": mdb[0][1], "mdb_bytes_warm": warm_m[0], "mdb_bytes_max": max(warm_m),
        "final_serial": snapshot_serial(fol.snapshot),
    }
    out_dir = BUILD / "soak"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(fig, indent=1) + "\n")
    print(json.dumps(fig))
    # the load was offered: a generator that fell behind skipped those sends
    assert achieved >= rate * 0.90, ("loadgen sent less than 90%% of its rate", fig)
    assert dpf["sent"] >= dp_rate * length * 0.95, ("dnsperf sent less than 95%% of its rate",
                                                    fig)
    assert load["lost"] == 0, fig
    assert (load.get("rcodes") or {}).get("SERVFAIL", 0) == 0, fig
    assert load["received"] >= load["sent"] * 0.999, fig
    assert dpf["lost"] == 0 and dpf["rcodes"].get("SERVFAIL", 0) == 0, fig
    assert dpf["completed"] == dpf["sent"], fig
    assert chk.bad == [], (chk.bad[:5], fig)
    assert chk.agreed >= SOAK, fig  # the checker really ran
    # most versions were checked, and each of those many times
    assert len(checked) >= SOAK * 0.75 and checked[len(checked) // 2] >= 20, fig
    # one transfer per version at least most of the time, and a full one per 15 s
    assert ixfr_ok >= SOAK * 0.6, fig
    assert full >= int(SOAK // 15) - 1 and full >= 1, fig
    assert max(warm) <= warm[0] * 1.10 + 8192, fig
    assert max(warm_m) <= warm_m[0] * 1.25 + (1 << 20), fig
