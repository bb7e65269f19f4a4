#!/usr/bin/python3
"""Cache benchmark (issue 4): gridns-resolver's packet cache against Debian's
unbound answering the same names from its cache, and what a cache miss adds
over asking the tier directly.

`make bench` runs it after bench.py:
    /usr/bin/python3 tests/bench/bench_cache.py --build build

Topology, all on loopback:
  upstream  a gridns-resolver authoritative for cache.bench (a wildcard, so
            every name exists): the tier both resolvers forward to.
  gridns    gridns-resolver --workers 1 with one tier (the upstream).
  unbound   unbound, num-threads 1, forward-zone cache.bench -> upstream.
The two resolvers under test are pinned to core 0, generators to core 1
(taskset), the upstream to core 1 as well (it only works during misses).

  hits    every name once (warm-up, checked: every answer NOERROR with the A),
          then closed-loop saturation on the same names: every answer a
          cache hit.  Median of --runs runs, taking turns; server CPU per
          answer from /proc/PID/stat (the figure that survives a noisy box).
  misses  a fixed low rate of names nobody asked before, through each
          resolver and directly to the upstream: the difference between a
          resolver's latency and the direct one is what a miss adds.
Writes BUILD/bench/cache_results.md and prints the table.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLK_TCK = os.sysconf("SC_CLK_TCK")
_procs, _commands = [], []


def log(msg):
    print("bench_cache: " + msg, flush=True)


def run_bg(cmd, core, logpath):
    full = ["taskset", "-c", core] + [str(c) for c in cmd]
    _commands.append(" ".join(full))
    f = open(logpath, "wb")
    p = subprocess.Popen(full, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    _procs.append(p)
    return p


def stop_all():
    for p in _procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except OSError:
                pass
    for p in _procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


def free_port():
    import random
    import socket
    rnd = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        port = rnd.randrange(20000, 30000)
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                s.bind(("127.0.0.1", port))
                s.close()
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def loadgen(build, port, qfile, inflight=256, duration=None, queries=None, rate=None):
    cmd = ["taskset", "-c", "1", os.path.join(build, "bin", "gridns-loadgen"), "-s", "127.0.0.1",
           "-p", str(port), "-d", qfile, "-W", str(inflight), "-t", "2"]
    if duration is not None:
        cmd += ["-l", str(duration)]
    if queries is not None:
        cmd += ["-n", str(queries)]
        if duration is None:
            cmd += ["-l", "0"]
    if rate is not None:
        cmd += ["-r", str(rate)]
    _commands.append(" ".join(cmd))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    line = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if out.returncode != 0 or not line:
        raise RuntimeError("loadgen failed: %s\n%s" % (out.stdout[-2000:], out.stderr[-2000:]))
    return json.loads(line[-1])


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def wait_answer(build, port, name, limit=20.0):
    qfile = os.path.join(tempfile.gettempdir(), "bench-cache-probe-%d.txt" % port)
    with open(qfile, "w") as f:
        f.write("%s A\n" % name)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            r = loadgen(build, port, qfile, inflight=1, queries=1)
            if r["received"] == 1 and r["rcodes"].get("NOERROR"):
                return
        except RuntimeError:
            pass
        time.sleep(0.1)
    raise RuntimeError("nothing answers %s on port %d" % (name, port))


def write_names(path, prefix, n):
    with open(path, "w") as f:
        for i in range(n):
            f.write("%s%d.cache.bench A\n" % (prefix, i))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--names", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=8)
    ap.add_argument("--miss-rate", type=int, default=2000)
    ap.add_argument("--misses", type=int, default=6000)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.names, args.runs, args.duration, args.misses = 20000, 1, 3, 2000
    build = os.path.abspath(args.build)
    unbound = shutil.which("unbound") or "/usr/sbin/unbound"
    tmp = tempfile.mkdtemp(prefix="gridns-bench-cache.")
    os.chmod(tmp, 0o755)
    try:
        return bench(args, build, unbound, tmp)
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


def bench(args, build, unbound, tmp):
    zs = os.path.join(build, "bin", "gridns-zonesync")
    res = os.path.join(build, "bin", "gridns-resolver")
    zone = os.path.join(tmp, "cache.bench.zone")
    with open(zone, "w") as f:
        f.write("$ORIGIN cache.bench.\n$TTL 3600\n@ SOA ns hm 1 3600 600 86400 3600\n"
                "@ NS ns\nns A 192.0.2.53\n* A 192.0.2.1\n")
    subprocess.run([zs, "load", "--snapshot", os.path.join(tmp, "up"), "cache.bench:zone:" + zone],
                   check=True, capture_output=True, timeout=60)
    empty = os.path.join(tmp, "empty.txt")
    with open(empty, "w") as f:
        f.write("$SOA 60 ns.local.test hm.local.test 1 60 60 600 60\n127.0.0.2\n")
    subprocess.run([zs, "load", "--snapshot", os.path.join(tmp, "node"), "local.test:ip4set:" + empty],
                   check=True, capture_output=True, timeout=60)
    up_port, g_port, u_port = free_port(), free_port(), free_port()
    procs = {}
    procs["upstream"] = run_bg([res, "--snapshot", os.path.join(tmp, "up"), "--listen",
                                "127.0.0.1:%d" % up_port, "--workers", "1", "--metrics", ""],
                               "1", os.path.join(tmp, "upstream.log"))
    conf = os.path.join(tmp, "node.conf")
    with open(conf, "w") as f:
        f.write('snapshot = "%s";\nlisten = [ "127.0.0.1:%d" ];\nmetrics = "";\nworkers = 1;\n'
                'cache = { max-bytes = "256M"; };\n'
                'tiers = ( { name = "grid"; servers = [ "127.0.0.1@%d" ]; timeout-ms = 1000; } );\n'
                % (os.path.join(tmp, "node"), g_port, up_port))
    procs["gridns"] = run_bg([res, "-c", conf], "0", os.path.join(tmp, "gridns.log"))
    uconf = os.path.join(tmp, "unbound.conf")
    with open(uconf, "w") as f:
        f.write("server:\n  interface: 127.0.0.1\n  port: %d\n  do-ip6: no\n"
                "  do-not-query-localhost: no\n  username: \"\"\n  chroot: \"\"\n"
                "  directory: \"%s\"\n  pidfile: \"\"\n  use-syslog: no\n  logfile: \"\"\n"
                "  num-threads: 1\n  msg-cache-size: 256m\n  rrset-cache-size: 256m\n"
                "  so-rcvbuf: 8m\n  access-control: 127.0.0.0/8 allow\n  verbosity: 0\n"
                "forward-zone:\n  name: \"cache.bench.\"\n  forward-addr: 127.0.0.1@%d\n"
                % (u_port, tmp, up_port))
    procs["unbound"] = run_bg([unbound, "-d", "-c", uconf], "0", os.path.join(tmp, "unbound.log"))
    wait_answer(build, up_port, "probe.cache.bench")
    wait_answer(build, g_port, "probe.cache.bench")
    wait_answer(build, u_port, "probe.cache.bench")
    hits = os.path.join(tmp, "hits.txt")
    write_names(hits, "h", args.names)
    servers = [("gridns", g_port), ("unbound", u_port)]
    out = {s: {"qps": [], "lost": 0, "cpu": 0.0, "answers": 0} for s, _ in servers}
    for name, port in servers:
        r = loadgen(build, port, hits, inflight=32, queries=args.names)
        if r["received"] != args.names or r["rcodes"].get("NOERROR") != args.names:
            raise RuntimeError("%s warm-up incomplete: %s" % (name, r))
        out[name]["rss_mib"] = rss_mib(procs[name].pid)
        log("%s warmed with %d names" % (name, args.names))
    for rnd in range(args.runs):
        for name, port in servers:
            c0 = cpu_seconds(procs[name].pid)
            r = loadgen(build, port, hits, duration=args.duration)
            c1 = cpu_seconds(procs[name].pid)
            out[name]["qps"].append(r["qps"])
            out[name]["lost"] += r["lost"]
            out[name]["cpu"] += c1 - c0
            out[name]["answers"] += r["received"]
            log("round %d %s: %.0f qps, lost %d" % (rnd + 1, name, r["qps"], r["lost"]))
    lat = {}
    for i, (name, port) in enumerate(servers + [("upstream (direct)", up_port)]):
        miss = os.path.join(tmp, "miss%d.txt" % i)
        write_names(miss, "m%d-" % i, args.misses)
        r = loadgen(build, port, miss, inflight=64, queries=args.misses, rate=args.miss_rate)
        lat[name] = r["latency_us"]
        lat[name]["lost"] = r["lost"]
    rows = []
    g, u = out["gridns"], out["unbound"]
    gq, uq = statistics.median(g["qps"]), statistics.median(u["qps"])
    gcpu = 1e6 * g["cpu"] / max(g["answers"], 1)
    ucpu = 1e6 * u["cpu"] / max(u["answers"], 1)
    rows.append(("cache-hit queries/s (median of %d)" % args.runs, "%.0f" % gq, "%.0f" % uq,
                 "%.2f" % (gq / uq if uq else 0)))
    rows.append(("server CPU per answer (us)", "%.2f" % gcpu, "%.2f" % ucpu,
                 "%.2f" % (ucpu / gcpu if gcpu else 0)))
    rows.append(("= answers per CPU-second", "%.0f" % (1e6 / gcpu if gcpu else 0),
                 "%.0f" % (1e6 / ucpu if ucpu else 0), "%.2f" % (ucpu / gcpu if gcpu else 0)))
    rows.append(("lost at saturation", str(g["lost"]), str(u["lost"]), ""))
    rows.append(("RSS after warm-up (MiB)", "%.1f" % g["rss_mib"], "%.1f" % u["rss_mib"], ""))
    d = lat["upstream (direct)"]
    for k in ("avg", "p50", "p99"):
        rows.append(("miss latency %s (us); direct to the tier: %.0f" % (k, d[k]),
                     "%.0f" % lat["gridns"][k], "%.0f" % lat["unbound"][k], ""))
        rows.append(("  = added over the tier, %s (us)" % k, "%.0f" % (lat["gridns"][k] - d[k]),
                     "%.0f" % (lat["unbound"][k] - d[k]), ""))
    head = ("metric", "gridns", "unbound", "gridns/unbound (higher is better for gridns)")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(4)]
    lines = [" | ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)) for r in [head] + rows]
    print("\n".join(lines))
    md = ["# Cache benchmark, %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "",
          "| " + " | ".join(head) + " |", "|" + "---|" * 4]
    md += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    md += ["", "Commands, as run:", "", "```"] + _commands + ["```", ""]
    os.makedirs(os.path.join(build, "bench"), exist_ok=True)
    with open(os.path.join(build, "bench", "cache_results.md"), "w") as f:
        f.write("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
