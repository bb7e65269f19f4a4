"""test_zonesync_cli.py - gridns-zonesync load / list / dump from the outside.

Happy paths, the error report for a bad source line ("file:line: reason",
line skipped), --strict (fatal, the old zone keeps serving), and a dump
that dnspython reads back as a zone.
"""
import os
import re

import dns.rcode
import dns.rdatatype
import dns.zone
import pytest

from conftest import load_zones, start_resolver, udp, zonesync

HEAD = """$SOA 600 ns1.cli.test. hostmaster.cli.test. %d 3600 600 86400 300
$NS 3600 ns1.cli.test ns2.cli.test
:127.0.0.2:Listed $
"""


def write(d, name, text):
    p = d / name
    p.write_text(text)
    os.chmod(p, 0o644)
    return str(p)


def zone_list(snap):
    cp = zonesync("list", "--snapshot", snap, check=True)
    rows = {}
    for line in cp.stdout.splitlines()[1:]:
        f = line.split()
        if f:
            rows[f[0]] = f
    return rows


def test_load_list_dump(workdir):
    snap = workdir / "snap"
    a = write(workdir, "cli.txt", HEAD % 11 + "127.0.0.2\n10.1.2.0/24\n192.0.2.7 :3:custom $\n")
    b = write(workdir, "dbl.txt", HEAD.replace("cli.test", "dbl.cli2.test") % 12 + "example.com\n")
    cp = load_zones(snap, ["cli.test:ip4set:" + a, "dbl.cli2.test:dnset:" + b])
    assert cp.returncode == 0
    rows = zone_list(snap)
    assert set(rows) == {"cli.test", "dbl.cli2.test"}, rows
    assert rows["cli.test"][1] == "ip4set" and rows["cli.test"][2] == "11"
    assert rows["dbl.cli2.test"][1] == "dnset" and rows["dbl.cli2.test"][2] == "12"

    dump = zonesync("dump", "--snapshot", snap, "cli.test", check=True).stdout
    z = dns.zone.from_text(dump, origin="cli.test.", relativize=False, check_origin=True)
    soa = z.find_rdataset("cli.test.", "SOA")[0]
    assert soa.serial == 11
    assert {str(r.target) for r in z.find_rdataset("cli.test.", "NS")} == \
        {"ns1.cli.test.", "ns2.cli.test."}
    a_of = lambda n: {r.address for r in z.find_rdataset(n, "A")}
    assert a_of("2.0.0.127.cli.test.") == {"127.0.0.2"}
    assert a_of("7.2.0.192.cli.test.") == {"127.0.0.3"}
    # a /24 in query-facing form: a wildcard below the reversed /24
    assert a_of("*.2.1.10.cli.test.") == {"127.0.0.2"}
    txt = z.find_rdataset("7.2.0.192.cli.test.", "TXT")[0]
    assert b"".join(txt.strings) == b"custom $"   # the template keeps its "$"

    dump = zonesync("dump", "--snapshot", snap, "dbl.cli2.test", check=True).stdout
    z = dns.zone.from_text(dump, origin="dbl.cli2.test.", relativize=False)
    assert {r.address for r in z.find_rdataset("example.com.dbl.cli2.test.", "A")} == {"127.0.0.2"}


def test_load_replaces_zone(workdir):
    snap = workdir / "snap"
    v1 = write(workdir, "v1.txt", HEAD % 1 + "127.0.0.2\n127.0.0.3\n")
    v2 = write(workdir, "v2.txt", HEAD % 2 + "127.0.0.4\n")
    load_zones(snap, ["cli.test:ip4set:" + v1])
    load_zones(snap, ["cli.test:ip4set:" + v2])
    assert zone_list(snap)["cli.test"][2] == "2"
    dump = zonesync("dump", "--snapshot", snap, "cli.test", check=True).stdout
    z = dns.zone.from_text(dump, origin="cli.test.", relativize=False)
    names = {n.to_text() for n in z.nodes}
    assert "4.0.0.127.cli.test." in names
    assert "2.0.0.127.cli.test." not in names and "3.0.0.127.cli.test." not in names


def test_bad_line_reported_and_skipped(workdir):
    snap = workdir / "snap"
    text = HEAD % 5 + "127.0.0.2\nthis is not an address\n127.0.0.3\n"
    f = write(workdir, "bad.txt", text)
    bad_line = text.splitlines().index("this is not an address") + 1
    cp = load_zones(snap, ["cli.test:ip4set:" + f], check=False)
    assert cp.returncode == 0, "a bad line must not fail a non-strict load: " + cp.stderr
    out = cp.stdout + cp.stderr
    m = re.search(r"%s:%d: (\S.*)" % (re.escape(f), bad_line), out)
    assert m, "expected '%s:%d: reason' in:\n%s" % (f, bad_line, out)
    dump = zonesync("dump", "--snapshot", snap, "cli.test", check=True).stdout
    z = dns.zone.from_text(dump, origin="cli.test.", relativize=False)
    names = {n.to_text() for n in z.nodes}
    assert {"2.0.0.127.cli.test.", "3.0.0.127.cli.test."} <= names


def test_strict_is_fatal_and_old_zone_keeps_serving(workdir, daemons):
    snap = workdir / "snap"
    good = write(workdir, "good.txt", HEAD % 8 + "127.0.0.2\n")
    load_zones(snap, ["cli.test:ip4set:" + good])
    r = start_resolver(workdir, snap, "cli.test")
    daemons.append(r)
    m = udp(r.port, "2.0.0.127.cli.test", "A")
    assert m.rcode() == dns.rcode.NOERROR and m.answer
    text = HEAD % 9 + "127.0.0.3\n300.1.2.3\n"
    bad = write(workdir, "bad.txt", text)
    line = text.splitlines().index("300.1.2.3") + 1
    cp = load_zones(snap, ["cli.test:ip4set:" + bad], strict=True, check=False)
    assert cp.returncode != 0, "--strict must fail on a bad line"
    assert re.search(r"%s:%d: \S" % (re.escape(bad), line), cp.stdout + cp.stderr), cp.stderr
    assert zone_list(snap)["cli.test"][2] == "8", "serial changed after a failed load"
    m = udp(r.port, "2.0.0.127.cli.test", "A")
    assert m.rcode() == dns.rcode.NOERROR and m.answer, "old data no longer served"
    m = udp(r.port, "3.0.0.127.cli.test", "A")
    assert m.rcode() == dns.rcode.NXDOMAIN, "data of a failed load is served"


def test_missing_file_and_unknown_type_fail_cleanly(workdir):
    snap = workdir / "snap"
    good = write(workdir, "good.txt", HEAD % 3 + "127.0.0.2\n")
    load_zones(snap, ["cli.test:ip4set:" + good])
    missing = str(workdir / "nope.txt")
    for spec in ("cli.test:ip4set:" + missing, "cli.test:nosuchtype:" + good,
                 "cli.test:ip4set", "cli.test:ip4set:%s,%s" % (good, missing)):
        cp = load_zones(snap, [spec], check=False)
        assert cp.returncode == 1, (spec, cp.returncode, cp.stderr)
        assert cp.stderr.strip(), "no message for " + spec
    assert "nope.txt" in load_zones(snap, ["cli.test:ip4set:" + missing], check=False).stderr
    assert zone_list(snap)["cli.test"][2] == "3"


def test_dump_every_dataset_type_parses(workdir):
    """Every line of every dump is a resource record dnspython accepts."""
    import gen_data
    data = gen_data.generate(str(workdir), scale=0.1)   # every shape, less of each
    snap = workdir / "snap"
    specs = ["%s:%s:%s" % (z, t, ",".join(str(workdir / x) for x in f)) for z, t, f in data.zones]
    load_zones(snap, specs)
    for zone in data.zone_names():
        dump = zonesync("dump", "--snapshot", snap, zone, check=True).stdout
        try:
            z = dns.zone.from_text(dump, origin=zone + ".", relativize=False, check_origin=False)
        except Exception as e:  # noqa: BLE001
            pytest.fail("dump of %s does not parse: %s\n%s" % (zone, e, dump[:1500]), pytrace=False)
        assert len(z.nodes) > 1, zone


def test_dump_unknown_zone(workdir):
    snap = workdir / "snap"
    good = write(workdir, "good.txt", HEAD % 3 + "127.0.0.2\n")
    load_zones(snap, ["cli.test:ip4set:" + good])
    cp = zonesync("dump", "--snapshot", snap, "nosuch.test")
    assert cp.returncode != 0 and "nosuch.test" in cp.stderr
