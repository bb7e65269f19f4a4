#!/usr/bin/python3
"""Instructions per query (issue 8), counted by callgrind on a fixed number
of queries, for every server of the harness:

  gridns        gridns-resolver --workers 1 serving the DNSBL data (snapshot
                built with `gridns-zonesync load`, not under valgrind)
  rbldnsd       Debian's rbldnsd on the same data
  udpecho       tests/bench/udpecho.c, fed the same queries: the floor
  gridns-cache  gridns-resolver answering cache hits (one tier upstream)
  unbound       Debian's unbound answering the same names from its cache
                (num-threads 1, forward-zone to the same upstream)

This kind of machine has no hardware counters, so callgrind counts.  Each
server is started under

  valgrind --tool=callgrind --callgrind-out-file=F --dump-instr=no --collect-jumps=no

pinned to core 0 (the generator and the cache's upstream on core 1), polled
until it answers, warmed (DNSBL: --warm queries from the query file; cache:
every name once, all NOERROR), then for each of --runs runs:
`callgrind_control -z PID`, --queries queries with gridns-loadgen (closed
loop, -W --window, 10 s timeout; every one must be answered),
`callgrind_control -d PID`, and the dump's `summary:` Ir / --queries.
User-space instructions only: callgrind does not see the kernel (the
recvmmsg/sendmmsg work is not in the figure), so udpecho's figure is the
floor of user-space work per query, not of the whole cost.

rbldnsd refuses to run as root and vgdb (behind callgrind_control) cannot
reach a process that changed its uid, so when run as root rbldnsd and its
callgrind_control run as nobody from the start (setpriv).

Data: tests/bench/gen_bench_data.py, the harness's generator and shape, at
a smaller size so start-up under valgrind (30-50x slower) stays short:
--entries 200000 --domains 20000 (and --ip6 20000 when the generator has
IPv6), --queries 20000; the measured queries are that file once.

Prints the table and writes BUILD/bench/instr.md and instr.json.  The whole
run holds /tmp/gridns-bench.lock (flock), so wall-clock benchmarks of others
do not run beside it.

    /usr/bin/python3 tests/bench/bench_instr.py --build build
"""
import argparse
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SERVER_CORE, GEN_CORE = "0", "1"
LOCK = "/tmp/gridns-bench.lock"
ALL = ("gridns", "rbldnsd", "udpecho", "gridns-cache", "unbound")
_procs, _commands = [], []


def log(msg):
    print("bench_instr: " + msg, file=sys.stderr, flush=True)


def record(cmd, note=None):
    line = " ".join(shlex.quote(str(c)) for c in cmd)
    _commands.append((note, line))
    return line


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, logpath, note):
    record(cmd, note)
    f = open(logpath, "wb")
    p = subprocess.Popen([str(c) for c in cmd], stdout=f, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    _procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        try:
            p.terminate()
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def stop_all():
    for p in _procs:
        stop(p)


def loadgen(args, port, qfile, n, window, note=None, timeout_s=10):
    cmd = ["taskset", "-c", GEN_CORE, os.path.join(args.bin, "gridns-loadgen"), "-s", "127.0.0.1",
           "-p", str(port), "-d", qfile, "-W", str(window), "-n", str(n), "-l", "0",
           "-t", str(timeout_s)]
    if note:
        record(cmd, note)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    line = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if out.returncode != 0 or not line:
        raise RuntimeError("loadgen failed: %s" % (out.stderr or out.stdout)[-500:])
    return json.loads(line[-1])


def wait_answers(args, proc, port, probe_file, limit=300.0):
    """Until one query is answered (valgrind starts slowly)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if proc.poll() is not None:
            raise RuntimeError("exited with status %s before answering" % proc.returncode)
        try:
            r = loadgen(args, port, probe_file, 1, 1, timeout_s=1)
            if r["received"] == 1:
                return time.monotonic() - t0
        except RuntimeError:
            pass
        time.sleep(0.2)
    raise RuntimeError("no answer within %.0f s" % limit)


def read_ir(path):
    with open(path) as f:
        for line in f:
            if line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError("no summary: line in %s" % path)


def measure(args, name, cmd, port, warm, qfile, nobody=False):
    """Start cmd under callgrind, warm it with `warm()`, then --runs counted runs."""
    out = os.path.join(args.work, "callgrind.%s.out" % name)
    drop = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"] if nobody else []
    vg = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
          "--dump-instr=no", "--collect-jumps=no"]
    proc = start(["taskset", "-c", SERVER_CORE] + drop + vg + cmd,
                 os.path.join(args.work, name + ".log"), "%s: start under callgrind" % name)
    res = {"name": name, "runs": []}
    try:
        res["start_s"] = wait_answers(args, proc, port, args.probe_file)
        log("%s: answers after %.1f s under valgrind" % (name, res["start_s"]))
        res["warm"] = warm(port)
        ctl = drop + ["callgrind_control"]
        for i in range(args.runs):
            record(ctl + ["-z", "PID"], "%s: run %d: zero the counters" % (name, i + 1) if i == 0 else None)
            subprocess.run(ctl + ["-z", str(proc.pid)], check=True, capture_output=True, timeout=120)
            r = loadgen(args, port, qfile, args.queries, args.window,
                        note="%s: the counted queries" % name if i == 0 else None)
            if r["received"] != args.queries or r["lost"]:
                raise RuntimeError("run %d: %d of %d answered, %d lost" % (
                    i + 1, r["received"], args.queries, r["lost"]))
            before = set(os.listdir(args.work))
            if i == 0:
                record(ctl + ["-d", "PID"], "%s: dump; Ir = the dump's summary: line" % name)
            subprocess.run(ctl + ["-d", str(proc.pid)], check=True, capture_output=True, timeout=120)
            dumps = sorted((f for f in set(os.listdir(args.work)) - before
                            if f.startswith(os.path.basename(out) + ".")),
                           key=lambda f: int(f.rsplit(".", 1)[1]))
            if not dumps:
                raise RuntimeError("callgrind_control -d wrote no dump")
            ir = read_ir(os.path.join(args.work, dumps[-1]))
            res["runs"].append({"ir": ir, "queries": args.queries, "ir_per_query": ir / args.queries,
                                "rcodes": r["rcodes"], "with_answer": r["with_answer"]})
            log("%s: run %d: %d Ir / %d queries = %.0f per query" % (
                name, i + 1, ir, args.queries, ir / args.queries))
    finally:
        stop(proc)
    return res


def gen_data(args):
    data = os.path.join(args.work, "data")
    cmd = ["/usr/bin/python3", os.path.join(HERE, "gen_bench_data.py"), data,
           "--entries", str(args.entries), "--domains", str(args.domains)]
    helptext = subprocess.run(cmd[:2] + ["--help"], capture_output=True, text=True).stdout
    if "--ip6" in helptext:
        cmd += ["--ip6", str(args.ip6)]
    cmd += ["--queries", str(args.queries)]
    record(cmd, "generate the data (seeded, the harness's generator)")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=600)
    os.chmod(data, 0o755)
    for f in os.listdir(data):
        os.chmod(os.path.join(data, f), 0o644)
    with open(os.path.join(data, "meta.json")) as f:
        meta = json.load(f)
    specs = ["bl.bench:ip4set:" + os.path.join(data, "bl.ip4set"),
             "dbl.bench:dnset:" + os.path.join(data, "dbl.dnset")]
    if meta.get("ip6"):
        specs.append("%s:ip6trie:%s" % (meta.get("ip6_zone", "bl6.bench"), os.path.join(data, "bl6.ip6trie")))
    return meta, specs, os.path.join(data, "queries.txt")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--entries", type=int, default=200000)
    ap.add_argument("--domains", type=int, default=20000)
    ap.add_argument("--ip6", type=int, default=20000, help="if the generator has IPv6")
    ap.add_argument("--queries", type=int, default=20000, help="counted queries per run")
    ap.add_argument("--warm", type=int, default=2000, help="DNSBL warm-up queries")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--only", default=",".join(ALL))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    args.build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    args.bin = os.path.join(args.build, "bin")
    order = [s for s in args.only.split(",") if s]
    for tool in ("valgrind", "callgrind_control", "taskset", "setpriv", "rbldnsd"):
        if not shutil.which(tool):
            sys.exit("bench_instr: %s not found (run `make deps`)" % tool)
    lockf = open(LOCK, "a")
    log("waiting for %s" % LOCK)
    fcntl.flock(lockf, fcntl.LOCK_EX)
    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))
    started = time.time()
    record(["/usr/bin/python3"] + sys.argv, "this run")
    args.work = tempfile.mkdtemp(prefix="gridns-bench-instr-", dir="/tmp")
    os.chmod(args.work, 0o777)  # rbldnsd runs as nobody and writes its callgrind dumps here
    results, notes = {}, []
    try:
        meta, specs, qfile = gen_data(args)
        args.probe_file = os.path.join(args.work, "probe.txt")
        with open(args.probe_file, "w") as f:
            f.write("%s A\n" % meta["probe"])
        os.chmod(args.probe_file, 0o644)

        def dnsbl_warm(port):
            r = loadgen(args, port, qfile, args.warm, args.window, note="DNSBL warm-up")
            if r["received"] != args.warm:
                raise RuntimeError("warm-up: %d of %d answered" % (r["received"], args.warm))
            return r["received"]

        zs, rs = os.path.join(args.bin, "gridns-zonesync"), os.path.join(args.bin, "gridns-resolver")
        nobody = os.geteuid() == 0
        cache = None
        for name in order:
            try:
                port = free_port()
                if name == "gridns":
                    snap = os.path.join(args.work, "snapshot")
                    cmd = [zs, "load", "--snapshot", snap] + specs
                    record(cmd, "gridns: build the snapshot (not under valgrind)")
                    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
                    results[name] = measure(args, name, [rs, "--snapshot", snap, "--listen",
                                                         "127.0.0.1:%d" % port, "--workers", "1",
                                                         "--metrics", ""], port, dnsbl_warm, qfile)
                elif name == "rbldnsd":
                    results[name] = measure(args, name, ["rbldnsd", "-n", "-b", "127.0.0.1/%d" % port]
                                            + specs, port, dnsbl_warm, qfile,
                                            nobody=nobody)
                elif name == "udpecho":
                    results[name] = measure(args, name, [os.path.join(args.bin, "gridns-udpecho"),
                                                         "127.0.0.1", str(port)], port, dnsbl_warm, qfile)
                elif name in ("gridns-cache", "unbound"):
                    if cache is None:
                        cache = cache_setup(args, zs, rs)
                    results[name] = measure(args, name, cache["cmd"][name](port), port,
                                            cache["warm"], cache["names"])
                else:
                    raise RuntimeError("unknown server")
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                log("%s: FAILED: %s" % (name, e))
                notes.append("%s: not measured: %s" % (name, e))
        write_report(args, results, order, meta, notes, started)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        stop_all()
        if args.keep:
            log("kept %s" % args.work)
        else:
            shutil.rmtree(args.work, ignore_errors=True)
    log("done in %.0f s" % (time.time() - started))
    return 1 if notes else 0


def cache_setup(args, zs, rs):
    """The upstream tier (not under valgrind, core 1), the names, and the
    commands of the two caching resolvers, as in bench_cache.py."""
    w = args.work
    zone = os.path.join(w, "cache.bench.zone")
    with open(zone, "w") as f:
        f.write("$ORIGIN cache.bench.\n$TTL 3600\n@ SOA ns hm 1 3600 600 86400 3600\n"
                "@ NS ns\nns A 192.0.2.53\n* A 192.0.2.1\n")
    empty = os.path.join(w, "empty.txt")
    with open(empty, "w") as f:
        f.write("$SOA 60 ns.local.test hm.local.test 1 60 60 600 60\n127.0.0.2\n")
    for snap, spec in (("up", "cache.bench:zone:" + zone), ("node", "local.test:ip4set:" + empty)):
        cmd = [zs, "load", "--snapshot", os.path.join(w, snap), spec]
        record(cmd, "cache: snapshot %s" % snap)
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    up = free_port()
    start(["taskset", "-c", GEN_CORE, rs, "--snapshot", os.path.join(w, "up"), "--listen",
           "127.0.0.1:%d" % up, "--workers", "1", "--metrics", ""],
          os.path.join(w, "upstream.log"), "cache: the upstream tier (not under valgrind)")
    names = os.path.join(w, "names.txt")
    with open(names, "w") as f:
        for i in range(args.queries):
            f.write("h%d.cache.bench A\n" % i)
    probe = os.path.join(w, "cprobe.txt")
    with open(probe, "w") as f:
        f.write("probe.cache.bench A\n")

    def gridns_cmd(port):
        conf = os.path.join(w, "node.conf")
        with open(conf, "w") as f:
            f.write('snapshot = "%s";\nlisten = [ "127.0.0.1:%d" ];\nmetrics = "";\nworkers = 1;\n'
                    'cache = { max-bytes = "256M"; };\n'
                    'tiers = ( { name = "grid"; servers = [ "127.0.0.1@%d" ]; timeout-ms = 1000; } );\n'
                    % (os.path.join(w, "node"), port, up))
        return [rs, "-c", conf]

    def unbound_cmd(port):
        conf = os.path.join(w, "unbound.conf")
        with open(conf, "w") as f:
            f.write("server:\n  interface: 127.0.0.1\n  port: %d\n  do-ip6: no\n"
                    "  do-not-query-localhost: no\n  username: \"\"\n  chroot: \"\"\n"
                    "  directory: \"%s\"\n  pidfile: \"\"\n  use-syslog: no\n  logfile: \"\"\n"
                    "  num-threads: 1\n  msg-cache-size: 256m\n  rrset-cache-size: 256m\n"
                    "  so-rcvbuf: 8m\n  access-control: 127.0.0.0/8 allow\n  verbosity: 0\n"
                    "forward-zone:\n  name: \"cache.bench.\"\n  forward-addr: 127.0.0.1@%d\n"
                    % (port, w, up))
        return [shutil.which("unbound") or "/usr/sbin/unbound", "-d", "-c", conf]

    def warm(port):
        r = loadgen(args, port, names, args.queries, args.window, note="cache: fill the cache, every name once")
        if r["received"] != args.queries or r["rcodes"].get("NOERROR") != args.queries:
            raise RuntimeError("cache fill incomplete: %s" % r)
        return r["received"]

    # The DNSBL probe file is replaced by the cache probe for these two.
    args.probe_file = probe
    return {"names": names, "warm": warm, "cmd": {"gridns-cache": gridns_cmd, "unbound": unbound_cmd}}


def write_report(args, results, order, meta, notes, started):
    ref = {"gridns": "gridns", "rbldnsd": "gridns", "udpecho": "gridns",
           "gridns-cache": "gridns-cache", "unbound": "gridns-cache"}
    what = {"gridns": "DNSBL answers", "rbldnsd": "DNSBL answers", "udpecho": "header flip (floor)",
            "gridns-cache": "cache hits", "unbound": "cache hits"}
    head = ["server", "answers", "queries/run"] + ["Ir/query run %d" % (i + 1) for i in range(args.runs)] + \
           ["ratio to gridns"]
    rows = []
    for n in order:
        r = results.get(n)
        if not r or not r["runs"]:
            continue
        per = [x["ir_per_query"] for x in r["runs"]]
        b = results.get(ref[n])
        ratio = ""
        if b and b["runs"] and n != ref[n]:
            ratio = "%.2f (vs %s)" % ((sum(per) / len(per)) / (sum(x["ir_per_query"] for x in b["runs"])
                                                              / len(b["runs"])), ref[n])
        rows.append([n, what[n], str(args.queries)] + ["{:,.0f}".format(p) for p in per] + [ratio])
    widths = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
    text = "\n".join("  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i])
                               for i, c in enumerate(r)) for r in [head] + rows)
    data = "%d ip4set entries in bl.bench, %d dnset names in dbl.bench%s; %d queries (%s)" % (
        meta["entries"], meta["domains"],
        ", %d ip6trie entries in %s" % (meta["ip6"], meta.get("ip6_zone")) if meta.get("ip6") else "",
        meta["queries"], ", ".join("%d %s" % (v, k) for k, v in meta.get("queries_by_zone", {}).items())
        or "80% bl.bench, 20% dbl.bench")
    caveat = ("User-space instructions only (callgrind does not see the kernel): the echo's figure is "
              "the floor of user-space work per query.  All threads of the server process are counted, "
              "timers included.")
    print()
    print(text)
    print("note: " + caveat)
    for n in notes:
        print("note: " + n)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    md = ["# Instructions per query (callgrind)", "",
          "Generated by tests/bench/bench_instr.py on %s UTC, gridns commit %s, %s." % (
              time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)), commit,
              subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()),
          "",
          "- DNSBL data: %s; the counted queries are that file once per run, after %d warm-up queries." % (
              data, args.warm),
          "- cache: %d names h0..h%d.cache.bench, each asked once to fill the cache (upstream: a "
          "gridns-resolver with a wildcard zone, not under valgrind), then counted runs over the same "
          "names (all cache hits)." % (args.queries, args.queries - 1),
          "- gridns-loadgen closed loop, %d in flight; every counted query answered; Ir/query = the "
          "dump's `summary:` Ir / queries; ratios are the mean of the runs over gridns's "
          "(DNSBL rows) or gridns-cache's (cache rows)." % args.window,
          "- " + caveat, "",
          "| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    md += [""] + ["- note: " + n for n in notes]
    md += ["", "## Commands", "", "```"]
    for note, line in _commands:
        if note:
            md.append("# " + note)
        md.append(line)
    md += ["```", ""]
    outdir = os.path.join(args.build, "bench")
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "instr.md"), "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(outdir, "instr.json"), "w") as f:
        json.dump({"commit": commit, "date": started, "meta": meta, "window": args.window,
                   "queries": args.queries, "results": results, "notes": notes,
                   "commands": [c for _, c in _commands]}, f, indent=1)
    log("wrote %s/instr.md and instr.json" % outdir)


if __name__ == "__main__":
    sys.exit(main())
