"""tests/system/test_soak.py - load and live sync at once (issue 6).

gridns-loadgen holds the resolver at 70% of the maximum it measures first on
this machine, while the publisher imports a changed zone every second (the
follower applies it by IXFR after our NOTIFY) and, every 15 s, two versions
with a one-deep journal, so the follower's IXFR can only be answered with the
whole zone (a full transfer, kind="ixfr_full" at the publisher).

Asserted over the run:
- zero lost queries and zero SERVFAIL (every query names the local zone);
- never an answer from a half-applied zone: each version lists check(N) and
  names marker TXT "gen-N" together (and drops check(N-1)); a client thread
  reads marker, check(marker), marker, and whenever both marker reads agree
  check(N) must have been listed;
- resident memory of the resolver and the snapshot's data.mdb stable: after
  a warm-up of a quarter of the run, RSS grows by at most 10% + 8 MiB and
  data.mdb by at most 25% + 1 MiB (LMDB reuses its free pages; a reader that
  pinned an old version would make the file grow with every import).

GRIDNS_SOAK_SECONDS sets the length (default 60, what CI runs); the figures
are written to build/soak/results.json for docs/reliability.md.
"""
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import BUILD, binpath, run
from drills_util import (MARKER, ZONE, check_name, deadline_loop, file_size, import_text,
                         is_listed, marker_gen, marker_source, metric, metrics, notify,
                         rss_kib, snapshot_serial, stack, wait_for)

SOAK = float(os.environ.get("GRIDNS_SOAK_SECONDS", "60"))


def loadgen(port, qfile, *args, timeout=600):
    cp = run([binpath("gridns-loadgen"), "-s", "127.0.0.1", "-p", port, "-d", qfile] +
             [str(a) for a in args], timeout=timeout, check=True)
    return json.loads(cp.stdout.strip().splitlines()[-1])


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


class Checker(threading.Thread):
    """marker, check(marker), marker, in a loop, until stopped."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop_ev = threading.Event()
        self.rounds = self.agreed = self.torn = self.noanswer = 0
        self.bad = []

    def run(self):
        while not self.stop_ev.is_set():
            a = marker_gen(self.port)
            ok = is_listed(self.port, check_name(a)) if a and a > 0 else None
            b = marker_gen(self.port)
            self.rounds += 1
            if a is None or b is None or ok is None:
                self.noanswer += 1
                continue
            if a <= 0 or b <= 0:
                self.bad.append(("marker missing", a, b))
                continue
            if a == b:
                self.agreed += 1
                if not ok:
                    self.torn += 1
                    self.bad.append(("check(%d) not listed while marker says %d" % (a, a)))


# 20,000 more entries, so that each version rewrites real pages (the file
# growth check means something) while an import still takes well under 1 s.
BULK = "".join("10.%d.%d.%d\n" % (i >> 16 & 255, i >> 8 & 255, i & 255)
               for i in range(1 << 16, (1 << 16) + 40000, 2))


def test_soak_live_sync_under_load(workdir, daemons):
    db, pub, fol, res = stack(workdir, daemons, text=marker_source(1, BULK),
                              follower_extra="journal-max-depth = 100;")
    qfile = query_file(workdir / "queries.txt")
    # the maximum on this machine, briefly (closed loop)
    peak = loadgen(res.port, qfile, "-l", 3, "-W", 256, "-S", 2)
    maxqps = peak["qps"]
    rate = int(maxqps * 0.7)
    assert rate > 1000, peak
    lg = subprocess.Popen([binpath("gridns-loadgen"), "-s", "127.0.0.1", "-p", str(res.port),
                           "-d", str(qfile), "-l", str(int(SOAK) + 2), "-r", str(rate),
                           "-W", "4096", "-S", "2", "-t", "2"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    chk = Checker(res.port)
    chk.start()
    gen = 1
    full_at = []
    rss, mdb = [], []
    data_mdb = fol.snapshot / "data.mdb"
    late = 0
    try:
        for n, t in deadline_loop(SOAK, 1.0):
            if n and n % 15 == 0:
                # two versions with a one-deep journal: the follower's serial is
                # no longer in it, so the publisher sends the whole zone
                gen += 1
                import_text(db, workdir, marker_source(gen, BULK), "--journal-max-depth", "1")
                gen += 1
                import_text(db, workdir, marker_source(gen, BULK), "--journal-max-depth", "1")
                full_at.append(t)
            else:
                gen += 1
                import_text(db, workdir, marker_source(gen, BULK))
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
        try:
            out, err = lg.communicate(timeout=SOAK + 60)
        except subprocess.TimeoutExpired:
            lg.kill()
            out, err = lg.communicate()
    load = json.loads(out.strip().splitlines()[-1])
    fm, pm = fol.metrics(), metrics(pub.metrics_port)
    ixfr_ok = metric(fm, "gridns_sync_transfers_total", zone=ZONE, kind="ixfr", result="ok") or 0
    axfr_ok = metric(fm, "gridns_sync_transfers_total", zone=ZONE, kind="axfr", result="ok") or 0
    full = metric(pm, "gridns_publisher_requests_total", zone=ZONE, kind="ixfr_full",
                  result="ok") or 0
    warm = [v for t, v in rss if t >= SOAK / 4]
    warm_m = [v for t, v in mdb if t >= SOAK / 4]
    fig = {
        "seconds": SOAK, "max_qps": round(maxqps), "offered_qps": rate,
        "achieved_qps": round(load["sent"] / (int(SOAK) + 2)), "sent": load["sent"], "received": load["received"], "lost": load["lost"],
        "late": load.get("late"), "rcodes": load.get("rcodes"),
        "latency_us": load.get("latency_us") or load.get("latency"),
        "versions": gen, "ixfr_ok": ixfr_ok, "axfr_ok": axfr_ok, "full_zone_answers": full,
        "checker_rounds": chk.rounds, "checker_agreed": chk.agreed, "torn": chk.torn,
        "checker_noanswer": chk.noanswer,
        "rss_kib_first": rss[0][1], "rss_kib_warm": warm[0], "rss_kib_max": max(warm),
        "rss_kib_end": rss[-1][1],
        "mdb_bytes_first": mdb[0][1], "mdb_bytes_warm": warm_m[0], "mdb_bytes_max": max(warm_m),
        "final_serial": snapshot_serial(fol.snapshot),
    }
    out_dir = BUILD / "soak"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(fig, indent=1) + "\n")
    print(json.dumps(fig))
    assert load["lost"] == 0, fig
    assert (load.get("rcodes") or {}).get("SERVFAIL", 0) == 0, fig
    assert load["received"] >= load["sent"] * 0.999, fig
    assert chk.bad == [], (chk.bad[:5], fig)
    assert chk.agreed >= SOAK, fig  # the checker really ran
    # one transfer per version at least most of the time, and a full one per 15 s
    assert ixfr_ok >= SOAK * 0.6, fig
    assert full >= int(SOAK // 15) - 1 and full >= 1, fig
    assert max(warm) <= warm[0] * 1.10 + 8192, fig
    assert max(warm_m) <= warm_m[0] * 1.25 + (1 << 20), fig
