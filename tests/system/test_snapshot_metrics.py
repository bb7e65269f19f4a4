"""tests/system/test_snapshot_metrics.py - the LMDB figures of the node
snapshot as the writer (follower) and a reader (resolver) export them
(issue 6: map full, stale reader slots and a full disk must show before
they bite; docs/monitoring/metrics.md, "Snapshot").

A publisher -> follower -> resolver stack on loopback shares one snapshot.
Both daemons' gridns_snapshot_* gauges are compared with what LMDB's own
tool (`mdb_stat`) and the filesystem (os.stat, os.statvfs) say, the
expositions pass `promtool check metrics`, the used size grows with a
bigger zone, and the follower's periodic reader check frees the slots of
a resolver that was SIGKILLed (and counts them).
"""
import os
import re
import signal
import subprocess

import pytest

from conftest import start_resolver
from drills_util import ZONE, import_text, marker_gen, marker_source, stack
from test_follower import check_promtool, metric, notify, snapshot_serial, wait_for

MDB_STAT = "/usr/bin/mdb_stat"
PAGE = 4096
FAMILIES = ("gridns_snapshot_map_size_bytes", "gridns_snapshot_used_bytes",
            "gridns_snapshot_freelist_bytes", "gridns_snapshot_file_bytes",
            "gridns_snapshot_filesystem_free_bytes", "gridns_snapshot_reader_slots_in_use",
            "gridns_snapshot_reader_slots_max")


def bulk(n, start=1 << 16):
    return "".join("10.%d.%d.%d\n" % (i >> 16 & 255, i >> 8 & 255, i & 255)
                   for i in range(start, start + 2 * n, 2))


def mdb_stat(snap, *flags):
    if not os.path.exists(MDB_STAT):
        pytest.fail("mdb_stat (lmdb-utils) is not installed", pytrace=False)
    cp = subprocess.run([MDB_STAT, *flags, str(snap)], capture_output=True, text=True,
                        timeout=30)
    # `-r` exits 1 after a complete listing (it returns what the list's
    # print callback last returned): check the output instead
    ok = "Reader Table Status" in cp.stdout if "-r" in flags else cp.returncode == 0
    assert ok, cp.stdout + cp.stderr
    return cp.stdout


def lmdb_figures(snap):
    """What LMDB's own tool says: map, page, used pages, readers, free pages."""
    env = mdb_stat(snap, "-ef")
    fig = {}
    for key, pat in (("map", r"Map size: (\d+)"), ("page", r"Page size: (\d+)"),
                     ("pages", r"Number of pages used: (\d+)"),
                     ("max_readers", r"Max readers: (\d+)"),
                     ("free_pages", r"Free pages: (\d+)")):
        m = re.search(pat, env)
        assert m, "mdb_stat -ef printed no %r:\n%s" % (pat, env)
        fig[key] = int(m.group(1))
    rows = [ln.split() for ln in mdb_stat(snap, "-r").splitlines()]
    fig["readers"] = len([r for r in rows if len(r) == 3 and r[0].isdigit()])
    return fig


def gauges(text):
    out = {}
    for f in FAMILIES:
        assert "# TYPE %s gauge" % f in text, "%s not exported" % f
        out[f] = metric(text, f)
        assert out[f] is not None, "%s has no sample:\n%s" % (f, text)
    return out


def near(a, b, tol):
    return abs(a - b) <= tol


@pytest.fixture
def node(workdir, daemons, monkeypatch):
    # The follower's reader check runs every second instead of every
    # minute (a test hook of builds without NDEBUG; the env is inherited).
    monkeypatch.setenv("GRIDNS_TEST_READER_CHECK_S", "1")
    db, pub, fol, res = stack(workdir, daemons, follower_extra="retry-min = 1;")
    wait_for(lambda: marker_gen(res.port) == 1, 20, "the resolver to answer", res)
    return db, pub, fol, res


def scrape(d):
    if hasattr(d, "metrics"):
        return d.metrics()
    from test_follower import metrics
    return metrics(d.metrics_port)


def test_figures_match_lmdb_and_the_filesystem(node):
    db, pub, fol, res = node
    snap = fol.snapshot
    texts = {"follower": scrape(fol), "resolver": scrape(res)}
    lm = lmdb_figures(snap)
    st = os.stat(snap / "data.mdb")
    vfs = os.statvfs(snap)
    fs_free = vfs.f_bavail * vfs.f_frsize
    for who, text in texts.items():
        check_promtool(text)
        g = gauges(text)
        why = "%s: %s vs mdb_stat %s" % (who, g, lm)
        # Nothing writes between the scrape and mdb_stat but the follower's
        # refresh bookkeeping, which moves the figures by a few pages.
        assert g["gridns_snapshot_map_size_bytes"] == lm["map"], why
        assert near(g["gridns_snapshot_used_bytes"], lm["pages"] * lm["page"], 16 * PAGE), why
        assert near(g["gridns_snapshot_freelist_bytes"], lm["free_pages"] * lm["page"],
                    16 * PAGE), why
        assert g["gridns_snapshot_freelist_bytes"] <= g["gridns_snapshot_used_bytes"], why
        assert g["gridns_snapshot_reader_slots_max"] == lm["max_readers"] == 2048, why
        # the resolver's workers and metrics thread keep slots; mdb_stat
        # itself takes none to list them
        assert 1 <= g["gridns_snapshot_reader_slots_in_use"] <= 2048, why
        assert near(g["gridns_snapshot_reader_slots_in_use"], lm["readers"], 2), why
        assert near(g["gridns_snapshot_file_bytes"], st.st_size, 16 * PAGE), (who, st.st_size)
        assert g["gridns_snapshot_file_bytes"] >= g["gridns_snapshot_used_bytes"] - 16 * PAGE
        # /tmp is shared with whatever else runs: 2 % or 64 MiB
        assert near(g["gridns_snapshot_filesystem_free_bytes"], fs_free,
                    max(64 << 20, fs_free // 50)), (who, g, fs_free)
    # the follower counts its periodic reader checks' finds from the start
    assert metric(texts["follower"], "gridns_snapshot_stale_readers_cleared_total") == 0
    assert "gridns_snapshot_stale_readers_cleared_total" not in texts["resolver"]


def test_used_bytes_grow_with_a_bigger_zone(workdir, node):
    db, pub, fol, res = node
    before = {"follower": gauges(scrape(fol)), "resolver": gauges(scrape(res))}
    serial = snapshot_serial(fol.snapshot)
    import_text(db, workdir, marker_source(2, bulk(60000)))
    notify(fol.port)
    wait_for(lambda: (snapshot_serial(fol.snapshot) or 0) > serial, 60, "the bigger zone", fol)
    wait_for(lambda: marker_gen(res.port) == 2, 20, "the resolver to see it", res)
    # 60,000 ranges are over a megabyte stored; the 4 GiB map does not move
    for who, d in (("follower", fol), ("resolver", res)):
        after = gauges(scrape(d))
        grew = after["gridns_snapshot_used_bytes"] - before[who]["gridns_snapshot_used_bytes"]
        assert grew > 1 << 20, (who, before[who], after)
        assert after["gridns_snapshot_file_bytes"] > before[who]["gridns_snapshot_file_bytes"]
        assert (after["gridns_snapshot_map_size_bytes"] ==
                before[who]["gridns_snapshot_map_size_bytes"])
        assert near(after["gridns_snapshot_used_bytes"],
                    lmdb_figures(fol.snapshot)["pages"] * PAGE, 16 * PAGE), (who, after)


def test_periodic_reader_check_frees_a_killed_readers_slots(workdir, daemons, node):
    db, pub, fol, res = node
    base = gauges(scrape(fol))["gridns_snapshot_reader_slots_in_use"]
    extra = start_resolver(workdir, fol.snapshot, "2.0.0.127." + ZONE, workers=2)
    assert marker_gen(extra.port) == 1
    wait_for(lambda: gauges(scrape(fol))["gridns_snapshot_reader_slots_in_use"] > base, 10,
             "the second resolver's reader slots", fol)
    held = gauges(scrape(fol))["gridns_snapshot_reader_slots_in_use"] - base
    os.kill(extra.proc.pid, signal.SIGKILL)
    extra.proc.wait(5)
    extra.stop()
    # no process starts after the kill: only the follower's timer frees them
    wait_for(lambda: (metric(scrape(fol), "gridns_snapshot_stale_readers_cleared_total") or 0)
             >= held, 10, "the periodic reader check", fol)
    assert re.search(r"cleared \d+ stale reader slot\(s\) left by dead processes", fol.log())
    # what is left is the first resolver's slots (its workers take theirs
    # at their first query, so the count may have grown meanwhile): the
    # gauge agrees with LMDB's list, which no longer names the dead pid
    text = scrape(fol)
    table = mdb_stat(fol.snapshot, "-r")
    assert str(extra.proc.pid) not in table, table
    assert near(gauges(text)["gridns_snapshot_reader_slots_in_use"],
                lmdb_figures(fol.snapshot)["readers"], 1), (text, table)
    assert marker_gen(res.port) == 1
