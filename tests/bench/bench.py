#!/usr/bin/python3
"""Side-by-side benchmark: gridns-resolver vs rbldnsd vs a bare UDP echo.

`make bench` runs:  /usr/bin/python3 tests/bench/bench.py --build build

Every server is pinned to core 0 and every load generator to core 1
(taskset).  Servers are started one by one (each alone on the machine) and
stay up; the saturation, latency and dnsperf runs then take turns (round 1
for every server, round 2, ...) so that drifts in the shared machine's
background load hit all servers alike; only one server is ever under load.
--sequential measures each server start to stop before the next instead.

  start     time from process start to the first CORRECT answer to a probe
            (a listed address stored as the last line of the source file, with
            its own A value), polled every 1 ms; for gridns also the time of
            `gridns-zonesync load` that builds the snapshot from the same files.
  sweep     every query of the query file once (closed loop); afterwards
            resident memory (VmRSS, split into anonymous and file-backed) and
            the number of listed answers, which must be equal for all DNSBL
            servers (same data, same queries).
  qps       saturation throughput with gridns-loadgen (closed loop, 256 in
            flight), median of --runs runs; lost queries summed over the runs;
            server CPU time per answered query from /proc/PID/stat.
  latency   avg/p50/p99 at a fixed offered load of 50% of rbldnsd's median
            saturation qps (the same rate for every server).
  reload    the same fixed load with a full reload of all data 30% of the way
            in (rbldnsd: touch + SIGHUP; gridns: zonesync load into the live
            snapshot on the server's core): loss, skipped sends, p99/max, and a
            correct answer afterwards.
  dnsperf   dnsperf's own qps with the same outstanding window, for reference
            (it is CPU-bound itself on a small machine, see docs/performance.md).
  two cores (after the servers above stop; --no-two-cores skips it) gridns
            --workers 2, gridns --workers 1 and rbldnsd, nothing pinned, each
            against an unpinned closed-loop loadgen with 16 source sockets:
            --runs runs taken in turns; qps, server CPU per answer over all
            threads, the cores the server and the generator used.
  start-up at 10M (--no-start-big skips it) a seeded 10M-entry ip4set
            (BUILD/bench/start-10000000, kept and reused with --keep):
            rbldnsd's first correct answer from process start; gridns's
            snapshot load (wall, CPU, peak RSS) and the resolver's first
            correct answer from process start.

Prints a side-by-side table with ratios against gridns and writes
BUILD/bench/results.md (date, host, commit, exact commands, table) and
BUILD/bench/results.json.  --quick: 100k entries (1M at start-up), 3 s runs.
"""
import argparse
import json
import os
import platform
import random
import re
import resource
import select
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SERVER_CORE = "0"
GEN_CORE = "1"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Processes we started and must stop, whatever happens.
_procs = []
# Every external command, as run, for the report.
_commands = []


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def record(cmd, note=None):
    line = " ".join(shlex.quote(c) for c in cmd)
    _commands.append((note, line))
    return line


def stop_all():
    for p in _procs:
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=3)
            except ProcessLookupError:
                pass
    _procs.clear()


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM if this script dies without cleaning
    up (SIGKILL).  Kept across exec (taskset -> server); a server that
    changes its uid itself (rbldnsd -u) loses it, the kernel's rule."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def on_signal(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- tiny DNS codec for the probe ---------------------------------------

def dns_query(name, qid, qtype=1):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", qtype, 1)


def skip_name(p, i):
    for _ in range(128):
        n = p[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += 1 + n
    raise ValueError("name too long")


def dns_parse(p):
    """(id, rcode, [A addresses in the answer section])."""
    qid, flags, qd, an = struct.unpack(">HHHH", p[:8])
    i = 12
    for _ in range(qd):
        i = skip_name(p, i) + 4
    addrs = []
    for _ in range(an):
        i = skip_name(p, i)
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", p[i:i + 10])
        i += 10
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(p[i:i + 4]))
        i += rdlen
    return qid, flags & 0xF, addrs


def wait_first_answer(proc, port, probe, expect_a, t0, limit=120.0):
    """Poll `probe` every 1 ms from t0 (process start).  Returns
    (seconds to first response of any kind, seconds to first correct answer);
    None for what did not happen within `limit`."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    first_any = first_ok = None
    qid = random.randrange(65536)
    sent_ids = set()
    try:
        while time.monotonic() - t0 < limit:
            if proc.poll() is not None:
                raise RuntimeError("server exited with status %s before answering" % proc.returncode)
            qid = (qid + 1) & 0xFFFF
            sent_ids.add(qid)
            try:
                s.sendto(dns_query(probe, qid), ("127.0.0.1", port))
            except OSError:
                pass
            deadline = time.monotonic() + 0.001
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select([s], [], [], left)
                if not r:
                    break
                try:
                    pkt = s.recv(4096)
                except OSError:
                    continue  # ICMP port unreachable before the server binds
                now = time.monotonic() - t0
                try:
                    rid, rcode, addrs = dns_parse(pkt)
                except (ValueError, struct.error, IndexError):
                    continue
                if rid not in sent_ids:
                    continue
                if first_any is None:
                    first_any = now
                if expect_a is None or (rcode == 0 and expect_a in addrs):
                    first_ok = now
                    return first_any, first_ok
    finally:
        s.close()
    return first_any, first_ok


# ---- /proc readings ---------------------------------------------------------

def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_busy(sample=0.5):
    """Fraction of each CPU that was busy over `sample` seconds."""
    def read():
        out = {}
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("cpu") and line[3].isdigit():
                    v = [int(x) for x in line.split()[1:]]
                    out[line.split()[0]] = (sum(v), v[3] + v[4])  # total, idle+iowait
        return out
    a = read()
    time.sleep(sample)
    b = read()
    return {k: 1.0 - (b[k][1] - a[k][1]) / max(1, b[k][0] - a[k][0]) for k in b if k in a}


class Quiet:
    """Waits, within a total budget, until the machine's other jobs leave the
    two cores alone (< 10% busy each), before a measurement."""

    def __init__(self, budget):
        self.left = budget
        self.waited = 0.0
        self.gave_up = False

    def wait(self):
        t0 = time.monotonic()
        busy = cpu_busy()
        while self.left > 0 and max(busy.values(), default=0) > 0.10:
            busy = cpu_busy()
            self.left -= time.monotonic() - t0
            self.waited += time.monotonic() - t0
            t0 = time.monotonic()
        worst = max(busy.values(), default=0)
        if worst > 0.10 and self.waited > 0:
            self.gave_up = True
        return worst


def memory_kb(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


# ---- load generators -------------------------------------------------------

def loadgen(args, port, qfile, duration=None, queries=None, rate=None, note=None, inflight=None,
            cores=GEN_CORE, extra=()):
    """One gridns-loadgen run (pinned to `cores`, unpinned if None); its JSON
    result, plus "gen_cpu_s": the generator's own CPU time (RUSAGE_CHILDREN:
    taskset execs it, so it is the child we wait for)."""
    cmd = ["taskset", "-c", cores] if cores else []
    cmd += [os.path.join(args.bin, "gridns-loadgen"),
            "-s", "127.0.0.1", "-p", str(port), "-d", qfile, "-W", str(inflight or args.inflight)]
    cmd += list(extra)
    if duration:
        cmd += ["-l", str(duration)]
    if queries:
        cmd += ["-n", str(queries), "-l", "0"]
    if rate:
        cmd += ["-r", "%.0f" % rate]
    record(cmd, note)
    limit = (duration or 0) + (queries or 0) / 10000.0 + 30
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError("loadgen failed: %s" % out.stderr.strip())
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["gen_cpu_s"] = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    return r


def dnsperf(args, port, qfile, duration, note=None):
    cmd = ["taskset", "-c", GEN_CORE, "dnsperf", "-s", "127.0.0.1", "-p", str(port),
           "-d", qfile, "-l", str(duration), "-c", "1", "-T", "1", "-q", str(args.inflight),
           "-t", "1"]
    record(cmd, note)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    res = {}
    for key, pat in (("qps", r"Queries per second:\s+([\d.]+)"),
                     ("lost", r"Queries lost:\s+(\d+)"),
                     ("sent", r"Queries sent:\s+(\d+)"),
                     ("avg_latency_us", r"Average Latency \(s\):\s+([\d.]+)")):
        m = re.search(pat, out.stdout)
        if m:
            res[key] = float(m.group(1))
    if "avg_latency_us" in res:
        res["avg_latency_us"] *= 1e6
    if "qps" not in res:
        raise RuntimeError("dnsperf gave no result: %s" % (out.stderr or out.stdout)[-300:])
    return res


# ---- servers ----------------------------------------------------------------

class Server:
    """One server under test: started once, measured in phases, stopped."""

    def __init__(self, args, name, cmd, port, meta, qfile, correct=True, pre=None):
        self.args, self.name, self.cmd, self.port = args, name, cmd, port
        self.meta, self.qfile, self.correct, self.pre = meta, qfile, correct, pre
        self.proc = None
        self.errlog = None
        self.res = {"name": name}
        self.failed = None
        self.reload_how = None   # "sighup", or a command list
        self.reload_files = []

    def start(self):
        """Build (pre), start, wait for the first correct answer, sweep, memory."""
        res, name = self.res, self.name
        with open("/proc/loadavg") as f:
            res["loadavg_before"] = float(f.read().split()[0])
        if self.pre:
            res.update(self.pre())
        full = ["taskset", "-c", SERVER_CORE] + self.cmd
        record(full, "%s: start (server on core %s)" % (name, SERVER_CORE))
        log("%s: starting" % name)
        self.errlog = open(os.path.join(self.args.work, name + ".log"), "w")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(full, stdout=self.errlog, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        _procs.append(self.proc)
        probe = self.meta["probe"]
        try:
            first_any, first_ok = wait_first_answer(self.proc, self.port, probe,
                                                    self.meta["probe_a"] if self.correct else None, t0)
        except RuntimeError as e:
            raise RuntimeError("%s; its log ends: %s" % (e, self.log_tail()))
        if first_ok is None:
            raise RuntimeError("no correct answer to %s within the limit" % probe)
        res["first_response_s"] = first_any
        res["first_answer_s"] = first_ok
        res["rss_start_kb"] = memory_kb(self.proc.pid)
        log("%s: first correct answer after %.1f ms" % (name, first_ok * 1e3))
        # Every query name once, then memory.  A smaller window than at
        # saturation: the sweep also cross-checks the listed answers between
        # servers and must not lose queries.
        sw = loadgen(self.args, self.port, self.qfile, queries=self.meta["queries"], inflight=32,
                     note="%s: sweep of every query name" % name)
        res["sweep"] = sw
        res["rss_sweep_kb"] = memory_kb(self.proc.pid)
        log("%s: sweep %d/%d answered, %d listed, RSS %d kB" % (
            name, sw["received"], sw["sent"], sw["with_answer"], res["rss_sweep_kb"]["VmRSS"]))

    def log_tail(self, n=400):
        try:
            with open(os.path.join(self.args.work, self.name + ".log"), errors="replace") as f:
                return f.read()[-n:].strip().replace("\n", " | ")
        except OSError:
            return "(no log)"

    def alive(self):
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError("exited (status %s); its log ends: %s" % (
                self.proc.returncode if self.proc else "?", self.log_tail()))

    def saturation(self, i, quiet=None):
        self.alive()
        busy = quiet.wait() if quiet else None
        c0 = cpu_seconds(self.proc.pid)
        r = loadgen(self.args, self.port, self.qfile, duration=self.args.duration,
                    note="%s: saturation run %d" % (self.name, i + 1))
        r["server_cpu_s"] = cpu_seconds(self.proc.pid) - c0
        r["busy_before"] = busy
        # A closed loop keeps a single-threaded server busy all the time:
        # a share well below 1 means other jobs took the core from it.
        r["core_share"] = r["server_cpu_s"] / r["duration_s"] if r["duration_s"] else None
        runs = self.res.setdefault("runs", [])
        runs.append(r)
        log("%s: run %d: %.0f qps, %d lost, p99 %d us, server CPU %.2f s (%.0f%% of its core)" % (
            self.name, i + 1, r["qps"], r["lost"], r["latency_us"]["p99"], r["server_cpu_s"],
            100 * (r["core_share"] or 0)))
        res = self.res
        res["qps_median"] = statistics.median(x["qps"] for x in runs)
        res["lost_total"] = sum(x["lost"] for x in runs)
        res["sent_total"] = sum(x["sent"] for x in runs)
        recv = sum(x["received"] for x in runs)
        res["cpu_us_per_query_sat"] = sum(x["server_cpu_s"] for x in runs) / recv * 1e6 if recv else None

    def latency(self, rate, quiet=None):
        self.alive()
        if quiet:
            quiet.wait()
        c0 = cpu_seconds(self.proc.pid)
        lat = loadgen(self.args, self.port, self.qfile, duration=self.args.duration, rate=rate,
                      note="%s: latency at fixed offered load" % self.name)
        lat["server_cpu_s"] = cpu_seconds(self.proc.pid) - c0
        # Several runs, taking turns with the other servers: one run's p99
        # moves by 2-3x on this machine (docs/performance-profile.md, "p99
        # at 50% load"), so the table shows each figure's median over the
        # runs and the loss summed.
        runs = self.res.setdefault("latency_runs", [])
        runs.append(lat)
        agg = dict(lat)
        agg["latency_us"] = {k: statistics.median(r["latency_us"][k] for r in runs)
                             for k in lat["latency_us"]}
        for k in ("lost", "sent", "received", "server_cpu_s"):
            agg[k] = sum(r[k] for r in runs)
        agg["runs"] = len(runs)
        self.res["latency"] = agg
        self.res["cpu_us_per_query_fixed"] = (agg["server_cpu_s"] / agg["received"] * 1e6
                                              if agg["received"] else None)
        log("%s: at %.0f qps offered: avg %.0f us, p99 %d us, %d lost" % (
            self.name, rate, lat["latency_us"]["avg"], lat["latency_us"]["p99"], lat["lost"]))

    def reload(self, rate):
        """A fixed-rate run (50% load) with a full data reload triggered 30%
        of the way in: how much does serving suffer while new data goes in?
        rbldnsd: touch the files + SIGHUP (it re-reads them in its serving
        process).  gridns: gridns-zonesync load of the same files into the live
        snapshot, on the server's core (rbldnsd's reload uses that core too)."""
        if not self.reload_how:
            return
        self.alive()
        args = self.args
        cmd = ["taskset", "-c", GEN_CORE, os.path.join(args.bin, "gridns-loadgen"),
               "-s", "127.0.0.1", "-p", str(self.port), "-d", self.qfile, "-W", str(args.inflight),
               "-l", str(args.duration), "-r", "%.0f" % rate]
        record(cmd, "%s: fixed load with a reload %.1f s in" % (self.name, args.duration * 0.3))
        gen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_die_with_parent)
        _procs.append(gen)
        info = {}
        try:
            time.sleep(args.duration * 0.3)
            t0 = time.monotonic()
            if self.reload_how == "sighup":
                logpath = os.path.join(args.work, self.name + ".log")
                with open(logpath) as f:
                    before = f.read().count("zones reloaded")
                for path in self.reload_files:
                    os.utime(path, None)
                record(["touch"] + self.reload_files + ["&&", "kill", "-HUP", "PID"],
                       "%s: reload" % self.name)
                os.kill(self.proc.pid, signal.SIGHUP)
                while time.monotonic() - t0 < args.duration:
                    with open(logpath) as f:
                        if f.read().count("zones reloaded") > before:
                            info["reload_s"] = time.monotonic() - t0
                            break
                    time.sleep(0.002)
            else:
                wall, cpu, _rss, status, out = timed_run(
                    ["taskset", "-c", SERVER_CORE] + self.reload_how,
                    "%s: reload (same files, into the live snapshot)" % self.name,
                    os.path.join(args.work, self.name + "-reload.log"))
                if status != 0:
                    raise RuntimeError("reload failed (%d): %s" % (status, out[-300:]))
                info["reload_s"] = wall
                info["reload_cpu_s"] = cpu
            out, err = gen.communicate(timeout=args.duration + 30)
        finally:
            if gen.poll() is None:
                gen.kill()
                gen.wait()
            _procs.remove(gen)
        if gen.returncode != 0:
            raise RuntimeError("loadgen failed: %s" % err.strip())
        r = json.loads(out.strip().splitlines()[-1])
        r.update(info)
        first_any, first_ok = wait_first_answer(self.proc, self.port, self.meta["probe"],
                                                self.meta["probe_a"], time.monotonic(), limit=10)
        r["correct_after"] = first_ok is not None
        self.res["reload"] = r
        log("%s: reload %.2f s; during the run: %d lost, %d sends skipped, p99 %d us, max %d us; "
            "correct afterwards: %s" % (self.name, r.get("reload_s", -1), r["lost"], r["behind"],
                                        r["latency_us"]["p99"], r["latency_us"]["max"], r["correct_after"]))

    def dnsperf(self):
        self.alive()
        self.res["dnsperf"] = dnsperf(self.args, self.port, self.qfile, self.args.duration,
                                      note="%s: dnsperf for reference" % self.name)
        log("%s: dnsperf %.0f qps" % (self.name, self.res["dnsperf"]["qps"]))

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.res["rss_end_kb"] = memory_kb(self.proc.pid)
                except OSError:
                    pass
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
            if self.proc in _procs:
                _procs.remove(self.proc)
            self.proc = None
        if self.errlog:
            self.errlog.close()
            self.errlog = None


def help_text(binary, *sub):
    try:
        out = subprocess.run([binary, *sub, "--help"], capture_output=True, text=True, timeout=10)
        return out.stdout + out.stderr
    except (OSError, subprocess.TimeoutExpired):
        return ""


def zone_specs(files):
    """The zone specs, the same for rbldnsd and gridns-zonesync load."""
    specs = ["bl.bench:ip4set:" + files["ip4set"]]
    if files.get("dnset"):
        specs.append("dbl.bench:dnset:" + files["dnset"])
    if files.get("ip6"):
        specs.append("bl6.bench:ip6trie:" + files["ip6"])
    return specs


def gridns_commands(args, snap, port, files, workers=1):
    """The commands for gridns: from --gridns-load/--gridns-serve templates when
    given, else the CLI documented in the resolver/zonesync --help."""
    zs = os.path.join(args.bin, "gridns-zonesync")
    rs = os.path.join(args.bin, "gridns-resolver")
    subst = {"zonesync": zs, "resolver": rs, "snap": snap, "port": port,
             "ip4set": files["ip4set"], "dnset": files.get("dnset") or "",
             "ip6": files.get("ip6") or "", "workers": workers}
    if args.gridns_load:
        load = shlex.split(args.gridns_load.format(**subst))
    else:
        load = [zs, "load", "--snapshot", snap] + zone_specs(files)
    if args.gridns_serve:
        serve = shlex.split(args.gridns_serve.format(**subst))
    else:
        serve = [rs, "--snapshot", snap, "--listen", "127.0.0.1:%d" % port, "--workers", str(workers)]
        h = help_text(rs)
        if "--metrics" in h:
            serve += ["--metrics", ""]
    return load, serve


def timed_run(cmd, note, logpath, timeout=600):
    """Run cmd; return (wall s, CPU s, max RSS kB, exit status, output tail)."""
    record(cmd, note)
    with open(logpath, "w") as out:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        _procs.append(p)
        try:
            deadline = t0 + timeout
            while True:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    p.kill()
                    pid, status, ru = os.wait4(p.pid, 0)
                    break
                time.sleep(0.005)
            p.returncode = os.waitstatus_to_exitcode(status)
        finally:
            _procs.remove(p)
        wall = time.monotonic() - t0
    with open(logpath, errors="replace") as f:
        tail = f.read()[-800:]
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, p.returncode, tail


# ---- start-up at a large data set, and two workers on two cores ------------

BIG_SEED = 20261124


def start_plain(args, name, cmd, port, meta, note, limit=300.0):
    """Start cmd; return (process, s to first response, s to first correct
    answer to meta's probe), both from process start."""
    record(cmd, note)
    with open(os.path.join(args.work, name + ".log"), "w") as errlog:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=errlog, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    _procs.append(p)
    try:
        first_any, first_ok = wait_first_answer(p, port, meta["probe"], meta["probe_a"], t0, limit)
    except RuntimeError:
        stop_proc(p)
        raise
    if first_ok is None:
        stop_proc(p)
        raise RuntimeError("%s: no correct answer to %s within %.0f s" % (name, meta["probe"], limit))
    return p, first_any, first_ok


def stop_proc(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
    if p in _procs:
        _procs.remove(p)


def mem_available_kb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def big_dir(args):
    return os.path.join(args.build, "bench", "start-%d" % args.big_entries)


def start_big(args, results, order, notes):
    """Start-to-first-answer on an ip4set of --big-entries entries (10M):
    rbldnsd from process start; gridns the snapshot load (wall, CPU, peak
    RSS), then the resolver from process start on that snapshot.  The data
    is kept in BUILD/bench/start-N and reused while its seed and size match;
    removed at the end unless --keep (bench.py's finally)."""
    n = args.big_entries
    d = big_dir(args)
    free_disk = shutil.disk_usage(os.path.dirname(d)).free
    # ~20 bytes a line of source, the snapshot a few times that; the load
    # builds its index in memory.
    if free_disk < n * 400 or mem_available_kb() < n * 0.6:
        notes.append("start-up at %d entries skipped: %.1f GiB disk free, %.1f GiB memory available" % (
            n, free_disk / 2 ** 30, mem_available_kb() / 2 ** 20))
        return
    src = os.path.join(d, "bl.ip4set")
    meta = None
    try:
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
        if (meta.get("entries"), meta.get("seed"), meta.get("ip4_only")) != (n, BIG_SEED, True) \
                or not os.path.exists(src):
            meta = None
    except (OSError, ValueError):
        meta = None
    cmd = [sys.executable, os.path.join(HERE, "gen_bench_data.py"), d, "--ip4-only",
           "--entries", str(n), "--seed", str(BIG_SEED)]
    if meta is None:
        shutil.rmtree(d, ignore_errors=True)
        record(cmd, "start-up at %d entries: generate the ip4set (seeded, bl.ip4set only)" % n)
        t = time.monotonic()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=900)
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
        log("start-up: generated %d entries in %.1f s (%s)" % (n, time.monotonic() - t, d))
    else:
        record(cmd, "start-up at %d entries: data reused from an earlier run (same seed and size)" % n)
        log("start-up: reusing %s" % src)
    os.chmod(d, 0o755)
    size = os.path.getsize(src)
    files = {"ip4set": src}
    for name in order:
        if name not in ("rbldnsd", "gridns") or name not in results:
            continue
        res = {"entries": n, "source_bytes": size}
        results[name]["start_big"] = res
        port = free_port()
        try:
            if name == "rbldnsd":
                cmd = ["taskset", "-c", SERVER_CORE, "rbldnsd", "-n", "-u", "nobody", "-b",
                       "127.0.0.1/%d" % port] + zone_specs(files)
            else:
                snap = os.path.join(args.work, "snapshot-big")
                os.makedirs(snap, exist_ok=True)
                load, serve = gridns_commands(args, snap, port, files)
                wall, cpu, maxrss, status, out = timed_run(
                    load, "gridns: snapshot of the %d-entry ip4set" % n,
                    os.path.join(args.work, "gridns-load-big.log"), timeout=900)
                if status != 0:
                    raise RuntimeError("gridns-zonesync load failed (%d): %s" % (status, out[-500:]))
                res.update({"load_s": wall, "load_cpu_s": cpu, "load_maxrss_kb": maxrss,
                            "snapshot_bytes": sum(os.stat(os.path.join(snap, f)).st_blocks * 512
                                                  for f in os.listdir(snap))})
                log("start-up: gridns snapshot load of %d entries %.2f s (CPU %.2f s, peak RSS %d MiB)" % (
                    n, wall, cpu, maxrss // 1024))
                cmd = ["taskset", "-c", SERVER_CORE] + serve
            with open("/proc/loadavg") as f:
                res["loadavg_before"] = float(f.read().split()[0])
            p, first_any, first_ok = start_plain(
                args, name + "-big", cmd, port, meta,
                "%s: start on the %d-entry ip4set (server on core %s)" % (name, n, SERVER_CORE))
            res.update({"first_response_s": first_any, "first_answer_s": first_ok,
                        "rss_start_kb": memory_kb(p.pid)})
            stop_proc(p)
            log("start-up: %s first correct answer at %d entries after %.1f ms, RSS %d MiB" % (
                name, n, first_ok * 1e3, res["rss_start_kb"]["VmRSS"] // 1024))
        except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
            res["failed"] = str(e)
            log("start-up: %s FAILED at %d entries: %s" % (name, n, e))
            notes.append("%s: start-up at %d entries not measured: %s" % (name, n, e))
        finally:
            shutil.rmtree(os.path.join(args.work, "snapshot-big"), ignore_errors=True)


def task_cpu(pid):
    """{thread name: CPU seconds} over the process's threads."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                head, _, rest = f.read().rpartition(")")
            fields = rest.split()
            name = "%s[%s]" % (head.split("(", 1)[1], tid)
            out[name] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            continue
    return out


def cpu_totals():
    """(all-CPU jiffies, busy jiffies) from /proc/stat's first line."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), sum(v) - v[3] - v[4]


def two_cores(args, meta, qfile, snap, order, notes):
    """Two worker threads on two cores with the generator sharing them:
    gridns --workers 2, gridns --workers 1 and rbldnsd, all unpinned, and an
    unpinned closed-loop loadgen with --two-cores-sockets source sockets (the
    kernel spreads a SO_REUSEPORT group's load by source address and port, so
    one socket would feed one worker).  Runs taken in turns, median of
    --runs; server CPU per answer over all its threads."""
    configs = []
    if "rbldnsd" in order:
        configs.append(("rbldnsd", None))
    if "gridns" in order and snap:
        configs.append(("gridns --workers 1", 1))
        configs.append(("gridns --workers 2", 2))
    out = {"sockets": args.two_cores_sockets, "inflight": args.inflight,
           "duration_s": args.duration, "configs": {}}
    procs = {}
    try:
        for label, workers in configs:
            port = free_port()
            if workers is None:
                cmd = ["rbldnsd", "-n", "-u", "nobody", "-b", "127.0.0.1/%d" % port] + zone_specs(
                    {"ip4set": os.path.join(os.path.dirname(qfile), "bl.ip4set"),
                     "dnset": os.path.join(os.path.dirname(qfile), "dbl.dnset"),
                     "ip6": os.path.join(os.path.dirname(qfile), "bl6.ip6trie") if meta.get("ip6") else None})
            else:
                _load, cmd = gridns_commands(args, snap, port, {"ip4set": ""}, workers=workers)
            p, _a, first_ok = start_plain(args, "two-cores-%s" % (workers or "rbldnsd"), cmd, port, meta,
                                          "two cores: %s, unpinned" % label)
            procs[label] = (p, port)
            out["configs"][label] = {"first_answer_s": first_ok, "runs": []}
            log("two cores: %s up after %.1f ms" % (label, first_ok * 1e3))
        quiet = Quiet(args.wait_quiet)
        for i in range(args.runs):
            for label, _w in configs:
                p, port = procs[label]
                if p.poll() is not None:
                    raise RuntimeError("%s exited (status %s)" % (label, p.returncode))
                busy = quiet.wait()
                c0, t0 = cpu_seconds(p.pid), task_cpu(p.pid)
                m0 = cpu_totals()
                r = loadgen(args, port, qfile, duration=args.duration, cores=None,
                            extra=["-S", str(args.two_cores_sockets)],
                            note="two cores: %s, run %d (generator unpinned)" % (label, i + 1))
                m1 = cpu_totals()
                r["server_cpu_s"] = cpu_seconds(p.pid) - c0
                t1 = task_cpu(p.pid)
                r["threads_cpu_s"] = {k: round(v - t0.get(k, 0.0), 2) for k, v in t1.items()
                                      if v - t0.get(k, 0.0) > 0.005}
                r["machine_busy"] = (m1[1] - m0[1]) / max(1, m1[0] - m0[0]) * os.cpu_count()
                r["busy_before"] = busy
                out["configs"][label]["runs"].append(r)
                log("two cores: %s run %d: %.0f qps, %d lost, server %.2f cores, generator %.2f cores, "
                    "machine %.2f of %d cores busy" % (
                        label, i + 1, r["qps"], r["lost"], r["server_cpu_s"] / r["duration_s"],
                        r["gen_cpu_s"] / r["duration_s"], r["machine_busy"], os.cpu_count()))
    finally:
        for p, _port in procs.values():
            stop_proc(p)
    for label, c in out["configs"].items():
        runs = c["runs"]
        if not runs:
            continue
        recv = sum(r["received"] for r in runs)
        dur = sum(r["duration_s"] for r in runs)
        c["qps_median"] = statistics.median(r["qps"] for r in runs)
        c["qps_min"] = min(r["qps"] for r in runs)
        c["qps_max"] = max(r["qps"] for r in runs)
        c["lost_total"] = sum(r["lost"] for r in runs)
        c["cpu_us_per_query"] = sum(r["server_cpu_s"] for r in runs) / recv * 1e6 if recv else None
        c["server_cores"] = sum(r["server_cpu_s"] for r in runs) / dur if dur else None
        c["gen_cores"] = sum(r["gen_cpu_s"] for r in runs) / dur if dur else None
        c["gen_cpu_us_per_query"] = sum(r["gen_cpu_s"] for r in runs) / recv * 1e6 if recv else None
        c["machine_busy"] = statistics.median(r["machine_busy"] for r in runs)
    c1 = out["configs"].get("gridns --workers 1", {})
    c2 = out["configs"].get("gridns --workers 2", {})
    rb = out["configs"].get("rbldnsd", {})
    if c1.get("qps_median") and c2.get("qps_median"):
        note = ("two cores shared with the generator (nothing pinned): gridns --workers 2 answered "
                "%.0f q/s, %.2fx --workers 1 (%.0f q/s)" % (
                    c2["qps_median"], c2["qps_median"] / c1["qps_median"], c1["qps_median"]))
        if rb.get("qps_median"):
            note += " and %.2fx rbldnsd (%.0f q/s)" % (c2["qps_median"] / rb["qps_median"], rb["qps_median"])
        note += ("; the server used %.2f cores and the generator %.2f with 2 workers (%.2f and %.2f with "
                 "1), %.2f vs %.2f us of server CPU per answer" % (
                     c2["server_cores"], c2["gen_cores"], c1["server_cores"], c1["gen_cores"],
                     c2["cpu_us_per_query"], c1["cpu_us_per_query"]))
        if min(c1["machine_busy"], c2["machine_busy"]) >= 0.9 * os.cpu_count():
            note += (".  Both cores were busy in both layouts, so the second worker could only take "
                     "CPU time from the generator (or the machine's other jobs): this shows how %d "
                     "cores split between server and generator, not what a second core adds to a "
                     "server; that needs a generator on cores of its own, and per-core speed is the "
                     "pinned table" % os.cpu_count())
        else:
            note += (".  The machine had idle time left (%.2f and %.2f of %d cores busy): the "
                     "closed loop, not the CPU, limited these runs" % (
                         c1["machine_busy"], c2["machine_busy"], os.cpu_count()))
        out["note"] = note
        notes.append(note)
    return out


def render_two_cores(tc, md=False):
    hdr = ["server (unpinned)", "queries/s (median)", "min..max", "lost", "server CPU/answer (us)",
           "server cores", "generator cores", "cores busy", "qps / gridns -w2"]
    base = tc["configs"].get("gridns --workers 2", {}).get("qps_median")
    body = []
    for label, c in tc["configs"].items():
        if "qps_median" not in c:
            continue
        body.append([label, "%.0f" % c["qps_median"], "%.0f..%.0f" % (c["qps_min"], c["qps_max"]),
                     "%d" % c["lost_total"], fmt(c["cpu_us_per_query"], "us2"),
                     "%.2f" % c["server_cores"], "%.2f" % c["gen_cores"], "%.2f" % c["machine_busy"],
                     "%.2f" % (c["qps_median"] / base) if base else "-"])
    if not body:
        return ""
    return render_md(hdr, body) if md else render_text(hdr, body)


# ---- report -----------------------------------------------------------------

def fmt(v, kind):
    if v is None:
        return "-"
    if kind == "ms":
        return "%.1f" % (v * 1e3)
    if kind == "int":
        return "%d" % round(v)
    if kind == "us":
        return "%.0f" % v
    if kind == "us2":
        return "%.2f" % v
    if kind == "mb":
        return "%.1f" % (v / 1024.0)
    if kind == "pct":
        return "%.3f%%" % v
    return str(v)


def rows_for(results):
    def g(r, *path):
        for p in path:
            if r is None or p not in r:
                return None
            r = r[p]
        return r

    def lostpct(r):
        return 100.0 * r["lost_total"] / r["sent_total"] if r.get("sent_total") else None

    big = [r["start_big"]["entries"] for r in results.values() if "start_big" in r]
    big = ("%gM" % (big[0] / 1e6) if big[0] >= 1000000 else "%d" % big[0]) if big else "N"
    return [
        ("first correct answer after process start (ms)", "ms", lambda r: g(r, "first_answer_s"), "lower"),
        ("snapshot load from source files (ms)", "ms", lambda r: g(r, "load_s"), "lower"),
        ("  of which CPU (ms) / peak RSS of the load (MiB)", "str",
         lambda r: "%s / %s" % (fmt(r["load_cpu_s"], "ms"), fmt(r["load_maxrss_kb"], "mb"))
         if "load_cpu_s" in r else None, None),
        ("%s-entry ip4set: first correct answer (ms)" % big, "ms",
         lambda r: g(r, "start_big", "first_answer_s"), "lower"),
        ("  snapshot load of it (ms)", "ms", lambda r: g(r, "start_big", "load_s"), "lower"),
        ("  of which CPU (ms) / peak RSS of the load (MiB)", "str",
         lambda r: "%s / %s" % (fmt(r["start_big"]["load_cpu_s"], "ms"), fmt(r["start_big"]["load_maxrss_kb"], "mb"))
         if "load_cpu_s" in r.get("start_big", {}) else None, None),
        ("  server RSS at first answer (MiB)", "mb", lambda r: g(r, "start_big", "rss_start_kb", "VmRSS"), "lower"),
        ("  snapshot on disk (MiB)", "mb",
         lambda r: r["start_big"]["snapshot_bytes"] / 1024.0 if "snapshot_bytes" in r.get("start_big", {}) else None,
         None),
        ("queries/s at saturation, loadgen (median)", "int", lambda r: g(r, "qps_median"), "higher"),
        ("  min..max of the runs", "str", lambda r: ("%d..%d" % (min(x["qps"] for x in r["runs"]),
                                                              max(x["qps"] for x in r["runs"])))
                                                     if r.get("runs") else None, None),
        ("  server's share of its core during the runs (median)", "str",
         lambda r: "%.0f%%" % (100 * statistics.median(x["core_share"] for x in r["runs"]))
         if r.get("runs") else None, None),
        ("lost at saturation (all runs)", "str", lambda r: ("%d (%s)" % (r["lost_total"], fmt(lostpct(r), "pct")))
                                                            if "lost_total" in r else None, None),
        ("p99 latency at saturation (us, median run)", "us",
         lambda r: statistics.median(x["latency_us"]["p99"] for x in r["runs"]) if r.get("runs") else None, "lower"),
        ("offered load for latency (qps)", "int", lambda r: g(r, "latency", "offered_qps"), None),
        ("avg latency at fixed load (us, median of the runs)", "us", lambda r: g(r, "latency", "latency_us", "avg"), "lower"),
        ("p50 latency at fixed load (us, median of the runs)", "us", lambda r: g(r, "latency", "latency_us", "p50"), "lower"),
        ("p99 latency at fixed load (us, median of the runs)", "us", lambda r: g(r, "latency", "latency_us", "p99"), "lower"),
        ("lost at fixed load (all runs)", "int", lambda r: g(r, "latency", "lost"), None),
        ("server CPU per query at saturation (us)", "us2", lambda r: g(r, "cpu_us_per_query_sat"), "lower"),
        ("  = answers per server CPU-second (noise-robust)", "int",
         lambda r: 1e6 / r["cpu_us_per_query_sat"] if r.get("cpu_us_per_query_sat") else None, "higher"),
        ("server CPU per query at fixed load (us)", "us2", lambda r: g(r, "cpu_us_per_query_fixed"), "lower"),
        ("reload of all data during the fixed load (ms)", "ms", lambda r: g(r, "reload", "reload_s"), "lower"),
        ("  lost during the reload run", "int", lambda r: g(r, "reload", "lost"), "lower"),
        ("  sends skipped (all slots waiting) in that run", "int", lambda r: g(r, "reload", "behind"), "lower"),
        ("  p99 / max latency in that run (us)", "str",
         lambda r: "%d / %d" % (r["reload"]["latency_us"]["p99"], r["reload"]["latency_us"]["max"])
         if "reload" in r else None, None),
        ("  correct answer after the reload", "str",
         lambda r: ("yes" if r["reload"]["correct_after"] else "NO") if "reload" in r else None, None),
        ("RSS after sweep (MiB)", "mb", lambda r: g(r, "rss_sweep_kb", "VmRSS"), "lower"),
        ("  of which anonymous / file-backed (MiB)", "str",
         lambda r: ("%s / %s" % (fmt(g(r, "rss_sweep_kb", "RssAnon"), "mb"), fmt(g(r, "rss_sweep_kb", "RssFile"), "mb")))
         if g(r, "rss_sweep_kb", "RssAnon") is not None else None, None),
        ("listed answers in sweep", "int", lambda r: g(r, "sweep", "with_answer"), None),
        ("dnsperf queries/s (same window)", "int", lambda r: g(r, "dnsperf", "qps"), "higher"),
        ("snapshot on disk (MiB)", "mb", lambda r: g(r, "snapshot_bytes") / 1024.0 if "snapshot_bytes" in r else None, None),
        ("1-min load average before the server started", "str", lambda r: g(r, "loadavg_before"), None),
    ]


def table(results, order):
    cols = [n for n in order if n in results]
    base = "gridns" if "gridns" in results else None
    header = ["metric"]
    for n in cols:
        header.append(n)
        if base and n != base:
            header.append("%s/gridns" % n)
    body = []
    for label, kind, fn, _better in rows_for(results):
        row = [label]
        vals = {}
        for n in cols:
            try:
                v = fn(results[n])
            except (KeyError, TypeError, ValueError, statistics.StatisticsError):
                v = None
            vals[n] = v
        if all(v is None for v in vals.values()):
            continue
        for n in cols:
            row.append(fmt(vals[n], kind))
            if base and n != base:
                b, v = vals.get(base), vals[n]
                if isinstance(v, (int, float)) and isinstance(b, (int, float)) and b:
                    row.append("%.2f" % (v / b))
                else:
                    row.append("")
        body.append(row)
    return header, body


def render_text(header, body):
    w = [max(len(str(r[i])) for r in [header] + body) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w[i]) if i == 0 else str(c).rjust(w[i]) for i, c in enumerate(r))
             for r in [header] + body]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def render_md(header, body):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for r in body:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def host_info():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    rbl = subprocess.run(["rbldnsd", "-h"], capture_output=True, text=True)
    rblv = (rbl.stdout + rbl.stderr).splitlines()[0] if (rbl.stdout + rbl.stderr) else "rbldnsd"
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "commit": commit, "rbldnsd": rblv}


def write_report(args, results, order, meta, info, started, notes, two=None):
    header, body = table(results, order)
    print()
    print(render_text(header, body))
    two_text = render_two_cores(two) if two else ""
    if two_text:
        print()
        print("Two cores shared by server and generator (nothing pinned; loadgen -S %d, closed loop, "
              "%d runs of %ss, median):" % (two["sockets"], args.runs, args.duration))
        print(two_text)
    for n in notes:
        print("note: " + n)
    md = ["# gridns benchmark results", "",
          "Generated by `make bench` (tests/bench/bench.py%s) on %s UTC." % (
              " --quick" if args.quick else "", time.strftime("%Y-%m-%d %H:%M", time.gmtime(started))),
          "",
          "- host: %s, %s cores, Linux %s; gridns commit %s; %s" % (
              info["cpu"], info["cores"], info["kernel"], info["commit"], info["rbldnsd"]),
          "- data: %d ip4set entries (%d merged ranges) in bl.bench, %d ip6trie entries in bl6.bench, "
          "%d dnset names in dbl.bench, %d queries (%s; %.0f%% of each zone's listed), seed %d" % (
              meta["entries"], meta["merged_ranges"], meta.get("ip6", 0), meta["domains"], meta["queries"],
              ", ".join("%.0f%% %s" % (100.0 * n / meta["queries"], z)
                        for z, n in meta.get("queries_by_zone", {}).items() if n),
              meta["listed_fraction"] * 100, meta["seed"]),
          "- servers pinned to core %s, generators to core %s; %d saturation runs of %ss, "
          "%d queries in flight; ratios are server/gridns" % (
              SERVER_CORE, GEN_CORE, args.runs, args.duration, args.inflight),
          "", render_md(header, body), ""]
    if two_text:
        md += ["## Two cores shared by server and generator", "",
               "Nothing pinned: the server (gridns with 1 or 2 workers, rbldnsd) and the generator "
               "(loadgen, closed loop, %d in flight, %d source sockets) share both cores; %d runs of %ss "
               "taken in turns, median; server CPU over all its threads (/proc/PID/stat), generator "
               "CPU from its rusage; \"cores busy\" is the whole machine (of %d)." % (
                   args.inflight, two["sockets"], args.runs, args.duration, os.cpu_count()),
               "", render_two_cores(two, md=True), ""]
        if two.get("note"):
            md += ["What it shows: " + two["note"] + ".", ""]
    for n in notes:
        md.append("- note: " + n)
    md += ["", "## Every saturation run", "",
           "| server | run | qps | lost | p99 (us) | server CPU (s) | core share | cores busy before |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for n in order:
        for i, r in enumerate(results.get(n, {}).get("runs", [])):
            md.append("| %s | %d | %.0f | %d | %d | %.2f | %.0f%% | %s |" % (
                n, i + 1, r["qps"], r["lost"], r["latency_us"]["p99"], r["server_cpu_s"],
                100 * (r.get("core_share") or 0),
                "-" if r.get("busy_before") is None else "%.0f%%" % (100 * r["busy_before"])))
    md += ["", "## Commands", "", "```"]
    for note, line in _commands:
        if note:
            md.append("# " + note)
        md.append(line)
    md += ["```", ""]
    os.makedirs(args.build, exist_ok=True)
    outdir = os.path.join(args.build, "bench")
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "results.md")
    with open(path, "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(outdir, "results.json"), "w") as f:
        doc = {"info": info, "meta": meta, "results": results,
               "commands": [c for _, c in _commands]}
        if two:
            doc["two_cores"] = two
        json.dump(doc, f, indent=1)
    log("wrote %s and results.json" % path)


# ---- main -------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description="gridns vs rbldnsd vs udpecho benchmark")
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", help="100k entries, 3 s runs")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--latency-runs", type=int, default=5,
                    help="fixed-load latency runs per server, in turns (median shown; 5: one "
                         "run's p99 moves 2-3x on a shared VM)")
    ap.add_argument("--duration", type=float, default=None, help="seconds per run (10; quick 3)")
    ap.add_argument("--inflight", type=int, default=256)
    ap.add_argument("--entries", type=int, default=None)
    ap.add_argument("--domains", type=int, default=None)
    ap.add_argument("--ip6", type=int, default=None, help="IPv6 (ip6trie) entries (100000; quick 10000)")
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--only", default="rbldnsd,gridns,udpecho",
                    help="comma-separated subset of rbldnsd,gridns,udpecho (run in that order)")
    ap.add_argument("--no-dnsperf", dest="dnsperf", action="store_false")
    ap.add_argument("--no-reload", dest="reload", action="store_false",
                    help="skip the fixed-load run with a data reload in the middle")
    ap.add_argument("--gridns-load", default=None,
                    help="load command template; {zonesync} {snap} {ip4set} {dnset} {ip6}")
    ap.add_argument("--gridns-serve", default=None,
                    help="resolver command template; {resolver} {snap} {port} {workers}")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory and the start-up phase's large data set")
    ap.add_argument("--no-start-big", dest="start_big", action="store_false",
                    help="skip start-to-first-answer on the large ip4set")
    ap.add_argument("--big-entries", type=int, default=None,
                    help="entries of that ip4set (10000000; quick 1000000); kept in BUILD/bench/start-N "
                         "with --keep and reused while seed and size match")
    ap.add_argument("--no-two-cores", dest="two_cores", action="store_false",
                    help="skip the unpinned two-core runs (gridns --workers 2 and 1, rbldnsd)")
    ap.add_argument("--two-cores-sockets", type=int, default=16,
                    help="loadgen source sockets in the two-core runs (spread over the workers' "
                         "SO_REUSEPORT sockets by the kernel)")
    ap.add_argument("--wait-quiet", type=float, default=None,
                    help="seconds, in all, to wait for both cores to be idle before runs (30; quick 10)")
    ap.add_argument("--sequential", action="store_true",
                    help="measure each server start to stop before the next (default: all "
                         "started one by one, then saturation runs taken in turns)")
    args = ap.parse_args()
    args.build = os.path.abspath(os.path.join(ROOT, args.build)) if not os.path.isabs(args.build) else args.build
    args.bin = os.path.join(args.build, "bin")
    if args.wait_quiet is None:
        args.wait_quiet = 10 if args.quick else 30
    if args.duration is None:
        args.duration = 3 if args.quick else 10
    if args.entries is None:
        args.entries = 100000 if args.quick else 1000000
    if args.domains is None:
        args.domains = 20000 if args.quick else 200000
    if args.ip6 is None:
        args.ip6 = 10000 if args.quick else 100000
    if args.big_entries is None:
        args.big_entries = 1000000 if args.quick else 10000000
    if args.queries is None:
        args.queries = 100000 if args.quick else 1000000
    order = [s.strip() for s in args.only.split(",") if s.strip()]

    for tool in ("taskset", "rbldnsd", "dnsperf" if args.dnsperf else "taskset"):
        if not shutil.which(tool):
            sys.exit("bench: %s not found (run `make deps`)" % tool)
    for b in ("gridns-loadgen", "gridns-udpecho"):
        if not os.access(os.path.join(args.bin, b), os.X_OK):
            sys.exit("bench: %s/%s missing (run `make all`)" % (args.bin, b))

    signal.signal(signal.SIGTERM, on_signal)
    record(["/usr/bin/python3"] + sys.argv, "this run (`make bench` = `--build build`)")
    started = time.time()
    args.work = tempfile.mkdtemp(prefix="gridns-bench-", dir="/tmp")
    os.chmod(args.work, 0o755)  # rbldnsd drops to nobody and must read the data
    results, notes = {}, []
    meta = None
    rc = 0
    try:
        data = os.path.join(args.work, "data")
        cmd = [sys.executable, os.path.join(HERE, "gen_bench_data.py"), data,
               "--entries", str(args.entries), "--domains", str(args.domains),
               "--ip6", str(args.ip6), "--queries", str(args.queries)]
        record(cmd, "generate the data (seeded)")
        t = time.monotonic()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=300)
        os.chmod(data, 0o755)
        with open(os.path.join(data, "meta.json")) as f:
            meta = json.load(f)
        log("data: %d IPv4 entries, %d IPv6, %d domains, %d queries in %.1f s (%s)" % (
            meta["entries"], meta.get("ip6", 0), meta["domains"], meta["queries"],
            time.monotonic() - t, data))
        files = {"ip4set": os.path.join(data, "bl.ip4set"), "dnset": os.path.join(data, "dbl.dnset"),
                 "ip6": os.path.join(data, "bl6.ip6trie") if meta.get("ip6") else None}
        qfile = os.path.join(data, "queries.txt")

        def make(name):
            port = free_port()
            if name == "udpecho":
                return Server(args, name, [os.path.join(args.bin, "gridns-udpecho"), "127.0.0.1", str(port)],
                              port, meta, qfile, correct=False)
            if name == "rbldnsd":
                srv = Server(args, name, ["rbldnsd", "-n", "-u", "nobody", "-b", "127.0.0.1/%d" % port]
                             + zone_specs(files), port, meta, qfile)
                srv.reload_how = "sighup"
                srv.reload_files = [f for f in (files["ip4set"], files["dnset"], files["ip6"]) if f]
                return srv
            if name == "gridns":
                snap = os.path.join(args.work, "snapshot")
                os.makedirs(snap, exist_ok=True)
                load, serve = gridns_commands(args, snap, port, files)
                if not os.access(serve[0], os.X_OK) or not os.access(load[0], os.X_OK):
                    raise RuntimeError("gridns binaries not built (%s, %s)" % (load[0], serve[0]))

                def pre():
                    wall, cpu, maxrss, status, out = timed_run(
                        load, "gridns: build the snapshot from the same source files",
                        os.path.join(args.work, "gridns-load.log"))
                    if status != 0:
                        raise RuntimeError("gridns-zonesync load failed (%d): %s" % (status, out[-500:]))
                    log("gridns: snapshot load %.2f s (CPU %.2f s, max RSS %d kB)" % (wall, cpu, maxrss))
                    return {"load_s": wall, "load_cpu_s": cpu, "load_maxrss_kb": maxrss,
                            "snapshot_bytes": sum(os.stat(os.path.join(snap, f)).st_blocks * 512
                                                  for f in os.listdir(snap))}
                srv = Server(args, name, serve, port, meta, qfile, pre=pre)
                srv.reload_how = load
                return srv
            raise RuntimeError("unknown server %r" % name)

        servers = []
        quiet = Quiet(args.wait_quiet)

        def phase(srv, fn, *a):
            """Run one phase; a failure takes that server out, not the bench."""
            if srv.failed:
                return
            try:
                fn(*a)
            except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
                srv.failed = str(e)
                log("%s: FAILED: %s" % (srv.name, e))
                notes.append("%s: not (fully) measured: %s" % (srv.name, e))
                srv.stop()

        for name in order:
            try:
                servers.append(make(name))
            except RuntimeError as e:
                log("%s: FAILED: %s" % (name, e))
                notes.append("%s: not measured: %s" % (name, e))
        for srv in servers:
            results[srv.name] = srv.res

        def fixed_rate():
            ref = [x for x in servers if x.name == "rbldnsd" and "qps_median" in x.res]
            if not ref:
                ref = [x for x in servers if "qps_median" in x.res]
                notes.append("rbldnsd not measured: the fixed load is 50%% of %s's qps" %
                             (ref[0].name if ref else "?"))
            return ref[0].res["qps_median"] * 0.5 if ref else None

        if args.sequential:
            # One server at a time, start to stop (the rate needs rbldnsd
            # first, which is the default order).
            rate = None
            for srv in servers:
                phase(srv, srv.start)
                for i in range(args.runs):
                    phase(srv, srv.saturation, i, quiet)
                if rate is None:
                    rate = fixed_rate()
                for i in range(args.latency_runs if rate else 0):
                    phase(srv, srv.latency, rate, quiet)
                if rate and args.reload:
                    phase(srv, srv.reload, rate)
                if args.dnsperf:
                    phase(srv, srv.dnsperf)
                srv.stop()
        else:
            # Start each server alone (the others are not running yet), then
            # take turns: round 1 for every server, round 2, ... so that slow
            # drifts in the machine's background load hit every server alike.
            # Only one server is ever under load; idle ones sleep in recv.
            for srv in servers:
                phase(srv, srv.start)
            for i in range(args.runs):
                for srv in servers:
                    phase(srv, srv.saturation, i, quiet)
            rate = fixed_rate()
            for i in range(args.latency_runs if rate else 0):
                for srv in servers:
                    phase(srv, srv.latency, rate, quiet)
            if rate and args.reload:
                for srv in servers:
                    phase(srv, srv.reload, rate)
            if args.dnsperf:
                for srv in servers:
                    phase(srv, srv.dnsperf)
            for srv in servers:
                srv.stop()
        two = None
        if args.two_cores:
            snap = os.path.join(args.work, "snapshot")
            ok = [x.name for x in servers if not x.failed]
            try:
                two = two_cores(args, meta, qfile, snap if "gridns" in ok else None,
                                [n for n in order if n in ok], notes)
            except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
                log("two cores: FAILED: %s" % e)
                notes.append("two-core runs not (fully) measured: %s" % e)
        if args.start_big and args.big_entries > 0:
            start_big(args, results, [x.name for x in servers if not x.failed], notes)
        if any(x.failed for x in servers):
            rc = 1
        if quiet.waited > 1:
            notes.append("waited %.0f s in all for other jobs to leave the cores idle" % quiet.waited)
        if quiet.gave_up:
            notes.append("the machine never became quiet within --wait-quiet: figures are noisy")
        # Cross-check: every DNSBL server must list the same answers.
        sweeps = {n: r["sweep"] for n, r in results.items() if n != "udpecho" and "sweep" in r}
        if any(s["lost"] for s in sweeps.values()):
            notes.append("queries were lost in the sweep, so the listed counts cannot be compared: " +
                         ", ".join("%s lost %d" % (n, s["lost"]) for n, s in sweeps.items()))
        elif len({(s["with_answer"], s["received"]) for s in sweeps.values()}) > 1:
            notes.append("listed answers differ between servers in the sweep: " +
                         ", ".join("%s %d/%d" % (n, s["with_answer"], s["received"]) for n, s in sweeps.items()))
        info = host_info()
        write_report(args, results, order, meta, info, started, notes, two)
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    finally:
        stop_all()
        if not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)
            shutil.rmtree(big_dir(args), ignore_errors=True)
        else:
            log("kept %s and %s" % (args.work, big_dir(args)))
    log("done in %.0f s" % (time.time() - started))
    return rc


if __name__ == "__main__":
    sys.exit(main())
