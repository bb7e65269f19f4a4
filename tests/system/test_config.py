"""test_config.py - gridns-resolver -c FILE and --check-config.

A good file passes (exit 0) and really runs; every problem is reported as
"FILE:LINE: reason" with exit 1.
"""
import os
import re

import dns.rcode

from conftest import (Resolver, binpath, free_port, load_zones, run, udp, wait_dns)

ZONE = """$SOA 600 ns1.c.test. hostmaster.c.test. 1 3600 600 86400 300
127.0.0.2
"""


def snapshot(d):
    (d / "c.txt").write_text(ZONE)
    os.chmod(d / "c.txt", 0o644)
    load_zones(d / "snap", ["c.test:ip4set:%s" % (d / "c.txt")])
    return d / "snap"


def good_conf(d, port, mport):
    return """# gridns-resolver test configuration
snapshot = "%s";
listen = "127.0.0.1:%d";
metrics = "127.0.0.1:%d";
workers = 2;
log-level = "info";
udp = {
  edns-payload = 1232;
  rcvbuf = "4M";
};
tcp = {
  idle-timeout-ms = 5000;
};
""" % (snapshot(d), port, mport)


def check(conf_path):
    return run([binpath("gridns-resolver"), "--check-config", "-c", conf_path], timeout=20)


def test_good_config_passes_and_runs(workdir, daemons):
    port, mport = free_port(), free_port()
    p = workdir / "good.conf"
    p.write_text(good_conf(workdir, port, mport))
    cp = check(p)
    assert cp.returncode == 0, "good config rejected:\n%s%s" % (cp.stdout, cp.stderr)
    r = Resolver(workdir, conf=str(p))
    daemons.append(r)
    r.port, r.metrics_port = port, mport
    wait_dns(r, port, "c.test")
    m = udp(port, "2.0.0.127.c.test", "A")
    assert m.rcode() == dns.rcode.NOERROR and m.answer


def bad(workdir, name, text, line):
    p = workdir / name
    p.write_text(text)
    cp = check(p)
    out = cp.stdout + cp.stderr
    assert cp.returncode == 1, "exit %d for %s:\n%s" % (cp.returncode, name, out)
    m = re.search(r"%s:%d: (\S.*)" % (re.escape(str(p)), line), out)
    assert m, "expected '%s:%d: reason' in:\n%s" % (p, line, out)
    return m.group(1)


def test_unknown_key(workdir):
    base = good_conf(workdir, free_port(), free_port())
    text = base + "no-such-option = 5;\n"
    reason = bad(workdir, "unknown.conf", text, text.count("\n"))
    assert "no-such-option" in reason


def test_unknown_key_in_group(workdir):
    base = good_conf(workdir, free_port(), free_port())
    text = base.replace("  edns-payload = 1232;\n", "  edns-payload = 1232;\n  bogus = 1;\n")
    line = text.splitlines().index("  bogus = 1;") + 1
    reason = bad(workdir, "group.conf", text, line)
    assert "bogus" in reason


def test_bad_values(workdir):
    base = good_conf(workdir, free_port(), free_port())
    for name, old, new in (("range.conf", "workers = 2;", "workers = 100000;"),
                           ("type.conf", "workers = 2;", 'workers = "two";'),
                           ("addr.conf", 'listen = "127.0.0.1', 'listen = "300.0.0.1'),
                           ("level.conf", 'log-level = "info";', 'log-level = "loud";'),
                           ("size.conf", 'rcvbuf = "4M";', 'rcvbuf = "4Q";')):
        text = base.replace(old, new)
        line = next(i + 1 for i, l in enumerate(text.splitlines()) if new in l)
        bad(workdir, name, text, line)


def test_syntax_error_has_line(workdir):
    base = good_conf(workdir, free_port(), free_port())
    lines = base.splitlines()
    lines.insert(4, "workers = = 3;")
    bad(workdir, "syntax.conf", "\n".join(lines) + "\n", 5)


def test_all_errors_reported_at_once(workdir):
    base = good_conf(workdir, free_port(), free_port())
    text = base.replace("workers = 2;", "workers = 100000;") + "nonsense = 1;\n"
    p = workdir / "two.conf"
    p.write_text(text)
    cp = check(p)
    out = cp.stdout + cp.stderr
    assert cp.returncode == 1
    wl = text.splitlines().index("workers = 100000;") + 1
    nl = text.count("\n")
    assert re.search(r"%s:%d: " % (re.escape(str(p)), wl), out), out
    assert re.search(r"%s:%d: " % (re.escape(str(p)), nl), out), out


def test_missing_file(workdir):
    cp = check(workdir / "absent.conf")
    assert cp.returncode == 1 and "absent.conf" in cp.stdout + cp.stderr
