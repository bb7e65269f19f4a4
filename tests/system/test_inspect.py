"""gridns inspect: zones, freshness and LMDB health of a snapshot."""
import re
import signal

from conftest import binpath, load_zones, run, start_resolver


def inspect(snap, *args):
    return run([binpath("gridns"), "inspect", "--snapshot", str(snap)] + list(args), timeout=60)


def sample(workdir):
    bl = workdir / "bl.txt"
    bl.write_text("$SOA 60 ns.bl.test hm.bl.test 7 60 60 600 60\n:127.0.0.2:listed $\n127.0.0.2\n10.0.0.0/24\n")
    old = workdir / "old.txt"
    old.write_text("$TIMESTAMP 2020:01:01 2020:01:02\n127.0.0.2\n")
    return bl, old


def test_inspect_lists_zones_and_environment(workdir):
    bl, _ = sample(workdir)
    snap = workdir / "snap"
    load_zones(snap, ["bl.test:ip4set:%s" % bl])
    cp = inspect(snap)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert re.search(r"map [0-9.]+ of [0-9.]+ MiB used", cp.stdout)
    assert re.search(r"readers \d+ of \d+ slots", cp.stdout)
    line = [l for l in cp.stdout.splitlines() if l.startswith("bl.test")]
    assert line and "ip4set" in line[0] and " 7 " in line[0] and "expires never" in line[0]


def test_inspect_flags_an_expired_zone(workdir):
    bl, old = sample(workdir)
    snap = workdir / "snap"
    load_zones(snap, ["bl.test:ip4set:%s" % bl, "old.test:ip4set:%s" % old])
    cp = inspect(snap)
    assert cp.returncode == 1, "an expired zone is a problem an operator must see"
    assert "EXPIRED" in [l for l in cp.stdout.splitlines() if l.startswith("old.test")][0]


def test_inspect_verify_gives_equal_digests_for_equal_data(workdir):
    bl, _ = sample(workdir)
    a, b = workdir / "a", workdir / "b"
    load_zones(a, ["bl.test:ip4set:%s" % bl])
    load_zones(b, ["bl.test:ip4set:%s" % bl])
    da = re.search(r"verify bl.test\s+sha384 ([0-9a-f]{96})", inspect(a, "--verify").stdout)
    db = re.search(r"verify bl.test\s+sha384 ([0-9a-f]{96})", inspect(b, "--verify").stdout)
    assert da and db and da.group(1) == db.group(1)
    bl.write_text(bl.read_text() + "10.0.1.1\n")
    load_zones(b, ["bl.test:ip4set:%s" % bl])
    db2 = re.search(r"verify bl.test\s+sha384 ([0-9a-f]{96})", inspect(b, "--verify").stdout)
    assert db2 and db2.group(1) != da.group(1), "changed data, changed digest"


def test_reader_check_clears_slots_of_killed_resolvers(workdir):
    """LMDB resets the reader table when the first process opens the
    environment, so stale slots only pile up while another process keeps it
    open: exactly a node where the follower runs on and resolvers get
    killed.  One resolver stays up; the others are SIGKILLed."""
    bl, _ = sample(workdir)
    snap = workdir / "snap"
    load_zones(snap, ["bl.test:ip4set:%s" % bl])
    keeper = start_resolver(workdir, snap, "2.0.0.127.bl.test")
    try:
        for _ in range(2):
            r = start_resolver(workdir, snap, "2.0.0.127.bl.test")
            r.stop(sig=signal.SIGKILL)
        cp = inspect(snap, "--reader-check")
        assert cp.returncode == 0, cp.stdout + cp.stderr
        m = re.search(r"reader check: (\d+) stale slot", cp.stdout)
        assert m and int(m.group(1)) >= 1, cp.stdout
        m = re.search(r"reader check: (\d+) stale slot", inspect(snap, "--reader-check").stdout)
        assert m and int(m.group(1)) == 0, "cleared for good"
    finally:
        keeper.stop()


def test_inspect_usage_and_missing_snapshot(workdir):
    assert run([binpath("gridns"), "inspect"], timeout=30).returncode == 3
    assert inspect(workdir / "nothing-here").returncode == 2
    assert run([binpath("gridns"), "inspect", "--help"], timeout=30).returncode == 0
