"""tests/system/test_drills.py - fault drills of issue 6, each one automated.

Every drill runs the real chain on loopback (publisher -> follower ->
resolver) with the marker zone of drills_util: version N names marker TXT
"gen-N", so "the old serial keeps serving" is a DNS question, not a file
inspection.  The outcomes are summarised in docs/reliability.md.
"""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import dns.rcode
import pytest

from conftest import Daemon, Resolver, free_port, load_zones, start_resolver, udp, wait_dns, zonesync
from drills_util import (KEYS_CONF, ZONE, Follower, import_text, marker_gen, marker_source,
                         metric, notify, snapshot_serial, stack, wait_for)

MDB_STAT = "/usr/bin/mdb_stat"


def bulk(n, start=1 << 16):
    return "".join("10.%d.%d.%d\n" % (i >> 16 & 255, i >> 8 & 255, i & 255)
                   for i in range(start, start + 2 * n, 2))


def full_transfer_import(db, workdir, text):
    """Two versions with a one-deep journal: the follower's IXFR can only be
    answered with the whole zone (an AXFR in IXFR form)."""
    import_text(db, workdir, text[0], "--journal-max-depth", "1")
    import_text(db, workdir, text[1], "--journal-max-depth", "1")


# ---- 1. SIGKILL in the middle of a big full transfer ---------------------------

def test_sigkill_during_big_full_transfer(workdir, daemons):
    db, pub, fol, res = stack(workdir, daemons, follower_extra="retry-min = 1;")
    big = bulk(150000)
    gen = 1
    for n, delay in enumerate((0.1, 0.5, 1.0)):
        old_serial, old_gen = snapshot_serial(fol.snapshot), gen
        full_transfer_import(db, workdir, (marker_source(gen + 1, big), marker_source(gen + 2, big)))
        gen += 2
        notify(fol.port)
        time.sleep(delay)
        os.kill(fol.proc.pid, signal.SIGKILL)
        fol.proc.wait(5)
        daemons.remove(fol)
        got = snapshot_serial(fol.snapshot)
        # the old version whole, or the new one whole, never a mix
        assert got in (old_serial, old_serial + 2), (got, old_serial)
        g = marker_gen(res.port)
        assert g == (old_gen if got == old_serial else gen), (g, got, old_serial)
        assert res.alive()
        fol = fol.restart()
        daemons.append(fol)
        wait_for(lambda: marker_gen(res.port) == gen, 60, "the resumed sync", fol)
    # a plain change afterwards goes by IXFR (state and journal intact)
    import_text(db, workdir, marker_source(gen + 1, big))
    notify(fol.port)
    wait_for(lambda: marker_gen(res.port) == gen + 1, 20, "the next IXFR", fol)
    # (the resolver can see the commit before the follower logs it)
    wait_for(lambda: re.search(r"serial \d+ from \S+ by IXFR", fol.log(400000)), 10,
             "the IXFR in the follower's log", fol)


# ---- 2. disk full during apply -------------------------------------------------

@pytest.fixture
def tmpfs(workdir):
    if os.geteuid() != 0:
        pytest.fail("the disk-full drill mounts a tmpfs: run as root", pytrace=False)
    mnt = workdir / "small"
    mnt.mkdir()
    # Room for the old version and the new one (LMDB copies on write), once
    # the filler is gone: the 250,000-entry version takes about 10 MiB with
    # its interval index.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)], check=True,
                   timeout=30)
    try:
        yield mnt
    finally:
        for _ in range(20):  # daemons may still be closing files
            if subprocess.run(["umount", str(mnt)], timeout=30).returncode == 0:
                break
            time.sleep(0.5)
        else:
            subprocess.run(["umount", "-l", str(mnt)], timeout=30)


def test_disk_full_during_apply(workdir, tmpfs, daemons):
    snap = tmpfs / "snap"
    db, pub, fol, res = stack(workdir, daemons, follower_extra="retry-min = 1;", snapshot=snap)
    assert marker_gen(res.port) == 1
    # another tenant of the file system leaves 256 KiB free
    st = os.statvfs(tmpfs)
    filler = tmpfs / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * (st.f_bavail * st.f_frsize - (256 << 10)))
    import_text(db, workdir, marker_source(2, bulk(250000)))
    notify(fol.port)
    wait_for(lambda: (fol.failures("store") or 0) >= 1, 60, "a store failure", fol)
    log = fol.log(400000)
    assert re.search(r"snapshot write failed|No space left|ENOSPC|space", log, re.I), log[-3000:]
    # aborted: the old serial keeps serving, nobody crashed (no SIGBUS)
    assert marker_gen(res.port) == 1
    assert fol.alive() and res.alive(), fol.describe() + res.describe()
    assert snapshot_serial(snap) is not None
    r = udp(res.port, "2.0.0.127." + ZONE, "A")
    assert r is not None and r.rcode() == dns.rcode.NOERROR and r.answer
    # space comes back: the follower retries by itself and applies
    filler.unlink()
    notify(fol.port)
    wait_for(lambda: marker_gen(res.port) == 2, 60, "the apply after space came back", fol)
    assert fol.alive() and res.alive()


# ---- 3. LMDB map full, and the resize policy -----------------------------------

def test_map_full_then_resize(workdir, daemons):
    snap = workdir / "snap"
    db, pub, fol, res = stack(workdir, daemons, snapshot=snap,
                              follower_extra="retry-min = 1;\nsnapshot-map-size = 2097152;")
    import_text(db, workdir, marker_source(2, bulk(200000)))
    notify(fol.port)
    wait_for(lambda: (fol.failures("store") or 0) >= 1, 60, "a store failure", fol)
    log = fol.log(400000)
    assert "map full" in log, log[-3000:]
    assert marker_gen(res.port) == 1 and fol.alive() and res.alive()
    # the documented policy: raise snapshot-map-size and restart the writer;
    # the size is recorded in the file and readers (this running resolver,
    # opened with the default 4 GiB map) follow without a restart
    fol.stop()
    daemons.remove(fol)
    text = fol.conf.read_text().replace("snapshot-map-size = 2097152;",
                                        "snapshot-map-size = 268435456;")
    fol.conf.write_text(text)
    fol = fol.restart()
    daemons.append(fol)
    wait_for(lambda: marker_gen(res.port) == 2, 60, "the apply with the bigger map", fol)
    # a resolver started now, with map size 0, opens the file at its size
    res2 = start_resolver(workdir, snap, "2.0.0.127." + ZONE)
    daemons.append(res2)
    assert marker_gen(res2.port) == 2


# ---- 4. stale reader slots of killed resolvers ---------------------------------

def reader_table(snap):
    cp = subprocess.run([MDB_STAT, "-r", str(snap)], capture_output=True, text=True, timeout=30)
    assert "Reader Table" in cp.stdout, cp.stdout + cp.stderr
    rows = [l.split() for l in cp.stdout.splitlines()]
    return [r for r in rows if len(r) == 3 and r[0].isdigit()]


def test_stale_reader_slots_cleared_at_start(workdir, daemons):
    if not os.path.exists(MDB_STAT):
        pytest.fail("mdb_stat (lmdb-utils) is not installed", pytrace=False)
    src = workdir / "bl.ip4set"
    src.write_text(marker_source(1))
    snap = workdir / "snap"
    load_zones(snap, ["%s:ip4set:%s" % (ZONE, src)])
    # A long-lived reader holds the environment open, as a node's follower
    # does: when nobody has it open, LMDB resets the whole table at the next
    # open anyway, and the drill would prove nothing.
    keeper = start_resolver(workdir, snap, "2.0.0.127." + ZONE, workers=1)
    daemons.append(keeper)
    pids = set()
    last = None
    for _ in range(6):
        r = start_resolver(workdir, snap, "2.0.0.127." + ZONE, workers=2)
        assert marker_gen(r.port) == 1
        pids.add(str(r.proc.pid))
        last = str(r.proc.pid)
        os.kill(r.proc.pid, signal.SIGKILL)
        r.proc.wait(5)
        r.stop()
    stale = [row for row in reader_table(snap) if row[0] in pids]
    # each start cleared the slots of the process killed before it: only the
    # last one's are left, they do not pile up
    assert stale and {row[0] for row in stale} == {last}, reader_table(snap)
    r = start_resolver(workdir, snap, "2.0.0.127." + ZONE, workers=2)
    daemons.append(r)
    assert marker_gen(r.port) == 1
    assert re.search(r"cleared \d+ stale reader slot", r.log()), r.log()
    left = [row for row in reader_table(snap) if row[0] in pids]
    assert left == [], left


# ---- 5. a corrupted snapshot file ----------------------------------------------

def corrupt_meta(snap):
    """Garbage over both LMDB meta pages (the first two 4 KiB pages)."""
    with open(snap / "data.mdb", "r+b") as f:
        f.write(os.urandom(8192))


def truncate_half(snap):
    p = snap / "data.mdb"
    os.truncate(p, os.path.getsize(p) // 2)


def tiered_resolver(workdir, snap, tier_port):
    port, mport = free_port(), free_port()
    conf = workdir / ("node-%d.conf" % port)
    conf.write_text('snapshot = "%s";\nlisten = [ "127.0.0.1:%d" ];\nmetrics = "127.0.0.1:%d";\n'
                    'workers = 1;\ntiers = ( { name = "grid"; servers = [ "127.0.0.1@%d" ]; } );\n'
                    % (snap, port, mport, tier_port))
    r = Resolver(workdir, conf=conf)
    r.port, r.metrics_port = port, mport
    return r


@pytest.mark.parametrize("how", ["meta_garbage", "truncated"])
def test_corrupted_snapshot_refused_tiers_then_rebuilt(workdir, daemons, how):
    db, pub, fol, _ = stack(workdir, daemons, resolver=False, follower_extra="retry-min = 1;",
                            text=marker_source(1, bulk(30000)))
    # the grid tier: another resolver with a good copy of the zone
    good = workdir / "good"
    load_zones(good, ["%s:ip4set:%s" % (ZONE, workdir / "src.ip4set")])
    tier = start_resolver(workdir, good, "2.0.0.127." + ZONE)
    daemons.append(tier)
    fol.stop()
    daemons.remove(fol)
    (corrupt_meta if how == "meta_garbage" else truncate_half)(fol.snapshot)
    node = tiered_resolver(workdir, fol.snapshot, tier.port)
    daemons.append(node)
    # the node refuses its file and answers from the tier: listed stays listed
    wait_for(lambda: marker_gen(node.port) == 1, 20, "answers through the tier", node)
    r = udp(node.port, "2.0.0.127." + ZONE, "A")
    assert r is not None and r.rcode() == dns.rcode.NOERROR and r.answer
    assert node.alive(), node.describe()
    assert re.search(r"snapshot", node.log(), re.I)
    # the follower, started on the damaged file, rebuilds it by AXFR
    fol2 = fol.restart()
    daemons.append(fol2)
    wait_for(lambda: snapshot_serial(fol.snapshot) is not None, 60, "the rebuilt snapshot", fol2)
    import_text(db, workdir, marker_source(2, bulk(30000)))
    notify(fol2.port)
    wait_for(lambda: marker_gen(node.port) == 2, 60, "the node on its own snapshot again", fol2)
    node2 = start_resolver(workdir, fol.snapshot, "2.0.0.127." + ZONE)
    daemons.append(node2)
    assert marker_gen(node2.port) == 2


# ---- 6. publisher and relay killed and restored --------------------------------

def restart_same(d, name):
    return Daemon(name, d.argv, d.logpath.parent)


def test_publisher_killed_and_restored(workdir, daemons):
    db, pub, fol, res = stack(workdir, daemons, follower_extra="retry-min = 1;")
    os.kill(pub.proc.pid, signal.SIGKILL)
    pub.proc.wait(5)
    daemons.remove(pub)
    import_text(db, workdir, marker_source(2))
    notify(fol.port)
    # the node keeps serving what it has
    for _ in range(20):
        assert marker_gen(res.port) == 1
        time.sleep(0.1)
    pub2 = restart_same(pub, "publisher+")
    daemons.append(pub2)
    # nobody pokes it: the follower's own retry catches up
    wait_for(lambda: marker_gen(res.port) == 2, 60, "the catch-up by itself", fol)


def test_relay_killed_and_restored(workdir, daemons):
    db = workdir / "db"
    import_text(db, workdir, marker_source(1))
    from drills_util import Publisher
    pub = Publisher(workdir, db, zonemd=False)
    daemons.append(pub)
    relay_port = free_port()
    relay_snap = workdir / "relay-snap"
    relay_snap.mkdir()
    relay_pub = ('publisher = { db = "%s"; listen = [ "127.0.0.1:%d" ]; metrics = ""; %s\n'
                 'zones = ( { name = "%s"; allow = [ "127.0.0.0/8" ]; keys = [ "k1" ]; } ); };\n'
                 % (relay_snap, relay_port, KEYS_CONF, ZONE))
    relay = Follower(workdir, ["127.0.0.1@%d key k1" % pub.port], relay=relay_pub,
                     name="relay", snapshot=relay_snap, extra="retry-min = 1;")
    daemons.append(relay)
    wait_for(lambda: snapshot_serial(relay_snap), 20, "the relay's AXFR", relay)
    node = Follower(workdir, ["127.0.0.1@%d key k1" % relay_port], name="node",
                    extra="retry-min = 1;\nrefresh-min = 1;", zone_extra="refresh = 1;")
    daemons.append(node)
    wait_for(lambda: snapshot_serial(node.snapshot), 20, "the node's AXFR", node)
    res = start_resolver(workdir, node.snapshot, "2.0.0.127." + ZONE)
    daemons.append(res)
    os.kill(relay.proc.pid, signal.SIGKILL)
    relay.proc.wait(5)
    daemons.remove(relay)
    import_text(db, workdir, marker_source(2))
    for _ in range(20):
        assert marker_gen(res.port) == 1
        time.sleep(0.1)
    relay2 = relay.restart()
    daemons.append(relay2)
    # nobody pokes either: the relay checks at start, the node on its refresh
    wait_for(lambda: marker_gen(res.port) == 2, 60, "the node's catch-up through the relay", node)
