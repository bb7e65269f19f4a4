"""test_cdb_cli.py - the central database from the outside:
gridns-zonesync import / diff / status / journal.

An import twice is one serial; a change is a minimal "-"/"+" changeset that
`journal -v` shows back; the safety refusals exit 1 naming the zone and the
numbers and write nothing, until --force; `diff` never writes; and the
database stays a snapshot that dump (and so the resolver) reads.
"""
import os
import re
import time

import dns.zone

from conftest import Daemon, binpath, zonesync

HEAD = """$SOA 600 ns1.cdb.test. hostmaster.cdb.test. %d 3600 600 86400 300
$NS 3600 ns1.cdb.test
$TTL 300
:127.0.0.2:Listed $
127.0.0.2
"""


def write(d, name, text):
    p = d / name
    p.write_text(text)
    os.chmod(p, 0o644)
    return str(p)


def status(db):
    cp = zonesync("status", "--db", db, check=True)
    lines = cp.stdout.splitlines()
    assert lines[0].split() == ["ZONE", "SERIAL", "ENTRIES", "AGE", "JOURNAL", "BYTES", "OLDEST"]
    return {f[0]: f for f in (line.split() for line in lines[1:]) if f}


def many(n, base="10.0"):
    return "".join("%s.%d.%d\n" % (base, i // 250, i % 250 + 1) for i in range(n))


def test_import_twice_then_change(workdir):
    db = workdir / "db"
    src = write(workdir, "bl.txt", HEAD % 100 + "10.0.0.1\n10.0.0.2\n")
    spec = "cdb.test:ip4set:" + src
    cp = zonesync("import", "--db", db, spec, check=True)
    assert "new zone, serial 100" in cp.stderr
    cp = zonesync("import", "--db", db, spec, check=True)
    assert "unchanged at serial 100" in cp.stderr
    st = status(db)
    assert st["cdb.test"][1] == "100" and st["cdb.test"][4] == "0" and st["cdb.test"][6] == "-"

    write(workdir, "bl.txt", HEAD % 100 + "10.0.0.1\n10.0.0.3\n")
    cp = zonesync("diff", "--db", db, spec, check=True)
    out = cp.stdout
    assert "; zone cdb.test: serial 100 -> 101, 2 deleted, 2 added" in out, out
    changes = sorted(line for line in out.splitlines() if line[:1] in "-+")
    assert any(re.match(r"-cdb\.test\.\s+600\s+IN\s+SOA\s+.* 100 ", c) for c in changes), changes
    assert any(re.match(r"\+cdb\.test\.\s+600\s+IN\s+SOA\s+.* 101 ", c) for c in changes), changes
    owners = sorted({c.split()[0] for c in changes if " SOA " not in c and "\tSOA\t" not in c})
    assert owners == ["+3.0.0.10.cdb.test.", "-2.0.0.10.cdb.test."], changes
    assert status(db)["cdb.test"][1] == "100", "diff wrote something"

    zonesync("import", "--db", db, spec, check=True)
    st = status(db)
    assert st["cdb.test"][1] == "101" and st["cdb.test"][4] == "1" and st["cdb.test"][6] == "100"
    j = zonesync("journal", "--db", db, "-v", "cdb.test", check=True).stdout
    assert re.search(r"^100 -> 101  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  -2 \+2 ", j, re.M), j
    jl = sorted(line for line in j.splitlines() if line[:1] in "-+")
    assert jl == changes, "journal -v differs from what diff printed"

    # the database is a snapshot: dump reads it, with the new serial
    dump = zonesync("dump", "--snapshot", db, "cdb.test", check=True).stdout
    z = dns.zone.from_text(dump, origin="cdb.test.", relativize=False)
    assert z.find_rdataset("cdb.test.", "SOA")[0].serial == 101
    names = {n.to_text() for n in z.nodes}
    assert "3.0.0.10.cdb.test." in names and "2.0.0.10.cdb.test." not in names
    assert "_gridns.cdb.test." in names


def test_shrink_refused_then_forced(workdir):
    db = workdir / "db"
    src = write(workdir, "bl.txt", HEAD % 5 + many(40))
    spec = "cdb.test:ip4set:" + src
    zonesync("import", "--db", db, spec, check=True)
    # a feed replaced by a short "misuse" notice
    write(workdir, "bl.txt", HEAD % 6 + "10.0.0.1\n")
    cp = zonesync("import", "--db", db, spec)
    assert cp.returncode == 1, cp.stderr
    assert "cdb.test" in cp.stderr and "refused" in cp.stderr, cp.stderr
    assert re.search(r"from \d+ to \d+ \(-\d+\.\d%\)", cp.stderr), cp.stderr
    assert "--force" in cp.stderr
    assert status(db)["cdb.test"][1] == "5"
    # diff shows the refusal but still exits 0 and writes nothing
    cp = zonesync("diff", "--db", db, spec, check=True)
    assert "import would refuse" in cp.stdout
    # a looser limit, then --force
    cp = zonesync("import", "--db", db, "--max-shrink", "0.99", spec, check=True)
    assert status(db)["cdb.test"][1] == "6"
    write(workdir, "bl.txt", HEAD % 7 + many(40))
    zonesync("import", "--db", db, spec, check=True)
    write(workdir, "bl.txt", HEAD % 8 + "10.0.0.1\n")
    cp = zonesync("import", "--db", db, "--force", spec, check=True)
    assert "--force" in cp.stderr
    assert status(db)["cdb.test"][1] == "8"


def test_test_point_and_type_change_refused(workdir):
    db = workdir / "db"
    src = write(workdir, "bl.txt", HEAD % 1 + "10.0.0.1\n")
    spec = "cdb.test:ip4set:" + src
    zonesync("import", "--db", db, spec, check=True)
    write(workdir, "bl.txt", HEAD.replace("127.0.0.2\n", "") % 2 + "10.0.0.1\n10.0.0.9\n")
    cp = zonesync("import", "--db", db, spec)
    assert cp.returncode == 1 and "127.0.0.2" in cp.stderr and "RFC 5782" in cp.stderr, cp.stderr

    write(workdir, "bl.dn", HEAD.replace("127.0.0.2\n", "test\n") % 3 + "spam.example\n")
    cp = zonesync("import", "--db", db, "cdb.test:dnset:" + str(workdir / "bl.dn"))
    assert cp.returncode == 1 and "ip4set to dnset" in cp.stderr, cp.stderr
    assert status(db)["cdb.test"][1] == "1"
    zonesync("import", "--db", db, "--force", "cdb.test:dnset:" + str(workdir / "bl.dn"), check=True)
    assert status(db)["cdb.test"][1] == "3"


def test_journal_depth_limit_and_errors(workdir):
    db = workdir / "db"
    spec = "cdb.test:ip4set:" + str(workdir / "bl.txt")
    for i in range(6):
        write(workdir, "bl.txt", HEAD % 1 + "10.0.0.%d\n" % (i + 1))
        zonesync("import", "--db", db, "--journal-max-depth", "2", spec, check=True)
    st = status(db)["cdb.test"]
    assert st[1] == "6" and st[4] == "2" and st[6] == "4", st
    j = zonesync("journal", "--db", db, "cdb.test", check=True).stdout
    assert [line.split()[:3] for line in j.splitlines() if "->" in line] == \
        [["4", "->", "5"], ["5", "->", "6"]], j

    cp = zonesync("journal", "--db", db, "nosuch.test")
    assert cp.returncode == 1 and "nosuch.test" in cp.stderr
    cp = zonesync("import", "--db", db, "cdb.test:ip4set:" + str(workdir / "missing.txt"))
    assert cp.returncode == 1 and "missing.txt" in cp.stderr
    assert zonesync("import", spec).returncode == 2            # no --db
    assert zonesync("import", "--db", db, "--max-shrink", "2", spec).returncode == 2
    assert status(db)["cdb.test"][1] == "6"


def test_status_age_and_several_zones(workdir):
    db = workdir / "db"
    a = write(workdir, "a.txt", HEAD % 1)
    b = write(workdir, "b.txt", HEAD.replace("127.0.0.2\n", "test\n") % 9 + "spam.example\n")
    zonesync("import", "--db", db, "a.cdb.test:ip4set:" + a, "b.cdb.test:dnset:" + b, check=True)
    time.sleep(1.1)
    st = status(db)
    assert set(st) == {"a.cdb.test", "b.cdb.test"}
    assert st["b.cdb.test"][1] == "9"
    assert int(st["a.cdb.test"][3].rstrip("s")) >= 1


def wait_serial(db, zone, serial, daemon, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not daemon.alive():
            raise AssertionError("watcher exited: " + daemon.describe())
        cp = zonesync("status", "--db", db)
        if cp.returncode == 0:
            for line in cp.stdout.splitlines()[1:]:
                f = line.split()
                if f and f[0] == zone and f[1] == str(serial):
                    return
        time.sleep(0.2)
    raise AssertionError("serial %s never reached: %s" % (serial, daemon.describe()))


def test_watch_reimports_changed_sources(workdir):
    db = workdir / "db"
    src = write(workdir, "bl.txt", HEAD % 1 + many(10))
    other = write(workdir, "other.txt", HEAD % 40 + "10.9.9.9\n")
    w = Daemon("zonesync-watch", [binpath("gridns-zonesync"), "import", "--db", db, "--watch", "1",
                                  "cdb.test:ip4set:" + src, "other.cdb.test:ip4set:" + other],
               workdir)
    try:
        wait_serial(db, "cdb.test", 1, w)
        wait_serial(db, "other.cdb.test", 40, w)
        # rsync style: a new file renamed over the old one
        tmp = write(workdir, ".bl.tmp", HEAD % 1 + many(11))
        os.rename(tmp, src)
        wait_serial(db, "cdb.test", 2, w)
        # a feed swapped for a misuse notice: refused, the watcher lives on
        write(workdir, "bl.txt", HEAD % 1)
        deadline = time.monotonic() + 15
        while "refused" not in w.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "refused" in w.log(), w.describe()
        assert w.alive()
        st = status(db)
        assert st["cdb.test"][1] == "2" and st["other.cdb.test"][1] == "40", st
        # a good file again is picked up
        write(workdir, "bl.txt", HEAD % 1 + many(12))
        wait_serial(db, "cdb.test", 3, w)
        assert status(db)["other.cdb.test"][4] == "0", "an unchanged zone was re-imported"
    finally:
        rc = w.stop()
    assert rc == 0, w.describe()
