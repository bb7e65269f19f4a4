"""test_tools.py - the operator tools (build/bin/gridns) against real
resolvers on loopback: query, check (the Nagios plugin), blcheck, latency.

One module-wide resolver serves test zones that cover every verdict:
  m.test   healthy DNSBL (RFC 5782 points, IPv4 and IPv6, a few listings)
  w.test   "lists the world" (1.0.0.127 listed)
  e.test   answers the Spamhaus error code 127.255.255.254 for everything
  d.test   domain list (test, spam.example)
"""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import (Resolver, binpath, free_port, load_zones, run, sanitizer_report,
                      start_resolver, wait_dns)

M4 = """$SOA 600 ns1.m.test. hostmaster.m.test. 4242 3600 600 86400 300
$NS 3600 ns1.m.test
:127.0.0.2:Listed $
127.0.0.2
192.0.2.1
192.0.2.2 :127.0.0.4:Other reason
"""
M6 = """$SOA 600 ns1.m.test. hostmaster.m.test. 4242 3600 600 86400 300
:127.0.0.2:Listed6 $
::ffff:7f00:2
2001:db8:1::/64
"""
WORLD = """$SOA 600 ns1.w.test. hostmaster.w.test. 1 3600 600 86400 300
:127.0.0.2:World $
0.0.0.0/1
128.0.0.0/1
"""
ERRC = """$SOA 600 ns1.e.test. hostmaster.e.test. 1 3600 600 86400 300
0.0.0.0/1 :127.255.255.254:blocked
128.0.0.0/1 :127.255.255.254:blocked
"""
DOM = """$SOA 600 ns1.d.test. hostmaster.d.test. 99 3600 600 86400 300
test
spam.example :127.0.0.2:Spammy $
"""

PERF = re.compile(r"'([^']+)_time'=([0-9.]+ms|U);([0-9]*);([0-9]*);0;")


def gridns(*args, timeout=60):
    return run([binpath("gridns")] + [str(a) for a in args], timeout=timeout)


@pytest.fixture(scope="module")
def snap(moddir):
    files = {"m4.txt": M4, "m6.txt": M6, "w.txt": WORLD, "e.txt": ERRC, "d.txt": DOM}
    for name, text in files.items():
        (moddir / name).write_text(text)
        os.chmod(moddir / name, 0o644)
    snap = moddir / "snap"
    load_zones(snap, ["m.test:ip4set:%s" % (moddir / "m4.txt"),
                      "m.test:ip6trie:%s" % (moddir / "m6.txt"),
                      "w.test:ip4set:%s" % (moddir / "w.txt"),
                      "e.test:ip4set:%s" % (moddir / "e.txt"),
                      "d.test:dnset:%s" % (moddir / "d.txt")])
    return snap


@pytest.fixture(scope="module")
def server(moddir, snap):
    r = start_resolver(moddir, snap, "m.test")
    yield r
    r.stop()


def srv(r):
    return "127.0.0.1:%d" % r.port


def dead_port():
    return "127.0.0.1:%d" % free_port()  # nothing listens there


# ---- query ------------------------------------------------------------------

def test_query_listed_with_txt(server):
    cp = gridns("query", "--server", srv(server), "192.0.2.2", "m.test")
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert re.search(r"^m\.test\s+listed\s+127\.0\.0\.4 \"Other reason\"", cp.stdout, re.M), cp.stdout
    assert "2.2.0.192.m.test" in cp.stdout


def test_query_not_listed(server):
    cp = gridns("query", "--server", srv(server), "192.0.2.99", "m.test")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert re.search(r"^m\.test\s+not listed", cp.stdout, re.M), cp.stdout


def test_query_ipv6_and_domain(server):
    cp = gridns("query", "--server", srv(server), "2001:db8:1::25", "m.test")
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert "Listed6 2001:db8:1::25" in cp.stdout
    nib = "5.2.0.0." + "0.0.0.0." * 4 + "1.0.0.0.8.b.d.0.1.0.0.2.m.test"
    assert nib in cp.stdout, cp.stdout
    cp = gridns("query", "--server", srv(server), "spam.example", "d.test")
    assert cp.returncode == 1 and "Spammy spam.example" in cp.stdout, cp.stdout
    cp = gridns("query", "--server", srv(server), "ham.example", "d.test")
    assert cp.returncode == 0, cp.stdout


def test_query_unknowns_have_reasons(server):
    # Error code and REFUSED are unknown, never "not listed": exit 2.
    cp = gridns("query", "--server", srv(server), "192.0.2.99", "m.test", "e.test", "other.example")
    assert cp.returncode == 2, cp.stdout + cp.stderr
    assert re.search(r"^e\.test\s+unknown\s+error 127\.255\.255\.254: your resolver is blocked",
                     cp.stdout, re.M), cp.stdout
    assert re.search(r"^other\.example\s+unknown\s+REFUSED", cp.stdout, re.M), cp.stdout
    # Listed wins over unknown in the exit code (documented precedence).
    cp = gridns("query", "--server", srv(server), "192.0.2.1", "m.test", "e.test")
    assert cp.returncode == 1, cp.stdout


def test_query_dead_server_is_unknown():
    t0 = time.monotonic()
    cp = gridns("query", "--server", dead_port(), "--timeout", "200", "127.0.0.2", "m.test")
    assert cp.returncode == 2, cp.stdout + cp.stderr
    assert re.search(r"^m\.test\s+unknown\s+no answer", cp.stdout, re.M), cp.stdout
    assert time.monotonic() - t0 < 5


def test_query_lists_file(server, workdir):
    lf = workdir / "q.txt"
    lf.write_text("m.test\nw.test ip\nd.test domain\n")
    cp = gridns("query", "--server", srv(server), "--lists", lf, "192.0.2.99")
    assert cp.returncode == 1, cp.stdout + cp.stderr  # w.test lists the world
    zones = [line.split()[0] for line in cp.stdout.splitlines()]
    assert zones == ["m.test", "w.test"], cp.stdout  # ip lists only
    cp = gridns("query", "--server", srv(server), "--lists", lf, "ham.example", "e.test")
    zones = [line.split()[0] for line in cp.stdout.splitlines()]
    assert zones == ["e.test", "d.test"], cp.stdout
    only_dom = workdir / "dom.txt"
    only_dom.write_text("d.test domain\n")
    cp = gridns("query", "--server", srv(server), "--lists", only_dom, "192.0.2.1")
    assert cp.returncode == 3 and "no list in the file fits" in cp.stderr


def test_query_over_ipv6(moddir, snap):
    r = start_resolver(moddir, snap, "m.test", listen6=True)
    try:
        cp = gridns("query", "--server", "[::1]:%d" % r.port, "127.0.0.2", "m.test")
        assert cp.returncode == 1, cp.stdout + cp.stderr
        cp = gridns("check", "--server", "::1@%d" % r.port, "--zone", "m.test")
        assert cp.returncode == 0, cp.stdout
    finally:
        r.stop()


def test_query_usage():
    assert gridns("query", "127.0.0.2").returncode == 3
    assert gridns("query", "--server", "not-an-address", "127.0.0.2", "m.test").returncode == 3
    assert gridns("query", "1.2.3.4/24", "m.test").returncode == 3
    assert gridns("query", "--help").returncode == 0
    assert gridns("nosuchcommand").returncode == 3


# ---- check --------------------------------------------------------------------

def one_line(cp):
    lines = cp.stdout.splitlines()
    assert len(lines) == 1, "a plugin prints ONE line: %r" % cp.stdout
    return lines[0]


def test_check_ok(server):
    cp = gridns("check", "--server", srv(server), "--zone", "m.test", "--ipv6",
                "--domain", "d.test", "--warn", "1000", "--crit", "2000")
    line = one_line(cp)
    assert cp.returncode == 0, line + cp.stderr
    assert line.startswith("GRIDNS OK - "), line
    status, perf = line.split(" | ")
    got = {m.group(1): m.groups() for m in PERF.finditer(perf)}
    assert set(got) == {"m.test", "m.test_ipv6", "d.test"}, perf
    for name, (_, val, warn, crit) in got.items():
        assert val.endswith("ms") and (warn, crit) == ("1000", "2000"), perf


def test_check_warning_on_latency(server):
    cp = gridns("check", "--server", srv(server), "--zone", "m.test", "--warn", "0")
    line = one_line(cp)
    assert cp.returncode == 1 and line.startswith("GRIDNS WARNING - "), line


def test_check_listing_the_world_runs_restart_cmd(server, workdir):
    flag = workdir / "restarted"
    cp = gridns("check", "--server", srv(server), "--zone", "m.test", "--zone", "w.test",
                "--restart-cmd", "touch %s; echo restarting" % flag)
    line = one_line(cp)
    assert cp.returncode == 2, line
    assert line.startswith("GRIDNS CRITICAL - "), line
    assert "w.test: listing the world (127.0.0.1 listed as 127.0.0.2)" in line
    assert "m.test" not in line.split(" | ")[0], "healthy zone blamed: " + line
    assert "restart command ran, exit 0" in line
    assert flag.exists()
    assert "restarting" in cp.stderr  # the command's output stays off the status line


def test_check_no_restart_when_ok(server, workdir):
    flag = workdir / "restarted"
    cp = gridns("check", "--server", srv(server), "--zone", "m.test",
                "--restart-cmd", "touch %s" % flag)
    assert cp.returncode == 0, cp.stdout
    assert not flag.exists()


def test_check_error_codes_and_empty_zone(server):
    cp = gridns("check", "--server", srv(server), "--zone", "e.test", "--domain", "m.test")
    line = one_line(cp)
    assert cp.returncode == 2, line
    assert "e.test: both test points unknown (error 127.255.255.254" in line, line
    assert "m.test: test point test not listed" in line, line


def test_check_restart_cmd_is_bounded(server, workdir):
    t0 = time.monotonic()
    cp = gridns("check", "--server", srv(server), "--zone", "w.test",
                "--restart-cmd", "sleep 30", "--restart-timeout", "1")
    line = one_line(cp)
    assert cp.returncode == 2 and "restart command killed after 1 s" in line, line
    assert time.monotonic() - t0 < 10


def wait_stopped(pid, timeout=5.0):
    """kill(SIGSTOP) returns before every thread has stopped: on a busy host a
    worker may still answer a few queries.  Wait until /proc says all are."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = []
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass
        if states and all(st in ("T", "t") for st in states):
            return
        time.sleep(0.01)
    pytest.fail("resolver %d did not stop within %.0fs" % (pid, timeout))


def test_check_stopped_resolver_is_critical(moddir, snap, workdir):
    """The proof from issue 5: a SIGSTOP'd resolver is CRITICAL within the
    check's timeout, and --restart-cmd runs."""
    r = start_resolver(moddir, snap, "m.test")
    flag = workdir / "restarted"
    try:
        os.kill(r.proc.pid, signal.SIGSTOP)
        wait_stopped(r.proc.pid)
        t0 = time.monotonic()
        cp = gridns("check", "--server", srv(r), "--zone", "m.test", "--timeout", "1000",
                    "--restart-cmd", "touch %s" % flag)
        took = time.monotonic() - t0
        line = one_line(cp)
        assert cp.returncode == 2, line
        assert "m.test: both test points unknown (timeout" in line, line
        assert "'m.test_time'=U;" in line, line
        assert flag.exists()
        assert took < 3.0, took
    finally:
        os.kill(r.proc.pid, signal.SIGCONT)
        r.stop()


def test_check_unknown_on_usage():
    cp = gridns("check", "--zone", "m.test")
    assert cp.returncode == 3 and one_line(cp).startswith("GRIDNS UNKNOWN - ")
    cp = gridns("check", "--server", "127.0.0.1:53")
    assert cp.returncode == 3
    cp = gridns("check", "--server", "127.0.0.1:53", "--zone", "m.test", "--warn", "5", "--crit", "1")
    assert cp.returncode == 3


# ---- blcheck -----------------------------------------------------------------

@pytest.fixture
def lists(workdir):
    p = workdir / "lists.txt"
    p.write_text("# our lists\nm.test\nw.test ip\ne.test   # error codes\nd.test domain\n")
    return p


def test_blcheck_json(server, lists):
    cp = gridns("blcheck", "--server", srv(server), "--lists", lists, "--json",
                "192.0.2.0/30", "spam.example", "ham.example")
    assert cp.returncode == 1, cp.stdout + cp.stderr
    doc = json.loads(cp.stdout)
    res = {(x["target"], x["list"]): x for x in doc["results"]}
    # 4 addresses x 3 ip lists + 2 domains x 1 domain list
    assert len(res) == 14 and doc["summary"]["checks"] == 14
    assert res[("192.0.2.1", "m.test")]["result"] == "listed"
    assert res[("192.0.2.1", "m.test")]["codes"] == ["127.0.0.2"]
    assert res[("192.0.2.1", "m.test")]["txt"] == "Listed 192.0.2.1"
    assert res[("192.0.2.2", "m.test")]["codes"] == ["127.0.0.4"]
    assert res[("192.0.2.0", "m.test")]["result"] == "not listed"
    assert res[("192.0.2.3", "m.test")]["result"] == "not listed"
    for a in ("192.0.2.0", "192.0.2.1", "192.0.2.2", "192.0.2.3"):
        assert res[(a, "w.test")]["result"] == "listed"
        e = res[(a, "e.test")]
        assert e["result"] == "unknown" and e["error_code"] == "127.255.255.254", e
        assert "blocked by the list" in e["reason"]
        assert (a, "d.test") not in res  # IPs are not asked on domain lists
    assert res[("spam.example", "d.test")]["result"] == "listed"
    assert res[("ham.example", "d.test")]["result"] == "not listed"
    s = doc["summary"]
    assert (s["listed"], s["not_listed"], s["unknown"]) == (7, 3, 4), s


def test_blcheck_table_and_exit_codes(server, workdir):
    ok = workdir / "ok.txt"
    ok.write_text("m.test\n")
    cp = gridns("blcheck", "--server", srv(server), "--lists", ok, "10.1.2.0/30", "2001:db8:2::1")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "5 checks: 0 listed, 5 not listed, 0 unknown" in cp.stdout
    bad = workdir / "bad.txt"
    bad.write_text("m.test\ne.test\n")
    cp = gridns("blcheck", "--server", srv(server), "--lists", bad, "10.1.2.3")
    assert cp.returncode == 2, cp.stdout  # only unknowns
    assert re.search(r"^10\.1\.2\.3\s+e\.test\s+unknown\s+error 127\.255\.255\.254", cp.stdout, re.M)


def test_blcheck_problems_only(server, lists):
    cp = gridns("blcheck", "--server", srv(server), "--lists", lists, "--problems", "--json",
                "192.0.2.0/30")
    doc = json.loads(cp.stdout)
    assert cp.returncode == 1
    assert all(x["result"] != "not listed" for x in doc["results"])
    assert len(doc["results"]) == 10 and doc["summary"]["not_listed"] == 2, doc["summary"]
    cp = gridns("blcheck", "--server", srv(server), "--lists", lists, "--problems", "192.0.2.0")
    assert " not listed" not in cp.stdout.split("\n", 1)[1].rsplit("\n", 2)[0], cp.stdout


def test_blcheck_dead_server(lists):
    cp = gridns("blcheck", "--server", dead_port(), "--timeout", "200", "--lists", lists,
                "--json", "192.0.2.1")
    assert cp.returncode == 2, cp.stdout + cp.stderr
    doc = json.loads(cp.stdout)
    assert all(x["result"] == "unknown" for x in doc["results"])


def test_blcheck_refuses_big_ranges_and_bad_input(server, lists, workdir):
    cp = gridns("blcheck", "--server", srv(server), "--lists", lists, "10.0.0.0/23")
    assert cp.returncode == 3 and "bigger than 256 addresses" in cp.stderr, cp.stderr
    cp = gridns("blcheck", "--server", srv(server), "--lists", lists, "2001:db8::/64")
    assert cp.returncode == 3
    broken = workdir / "broken.txt"
    broken.write_text("m.test\nx.test sometype\n")
    cp = gridns("blcheck", "--server", srv(server), "--lists", broken, "10.0.0.1")
    assert cp.returncode == 3 and "broken.txt:2:" in cp.stderr, cp.stderr


def test_blcheck_many_in_flight(server, workdir):
    # 256 addresses x 3 lists = 768 queries through one socket.
    many = workdir / "many.txt"
    many.write_text("m.test\nw.test\ne.test\n")
    t0 = time.monotonic()
    cp = gridns("blcheck", "--server", srv(server), "--lists", many, "--json", "192.0.2.0/24")
    assert cp.returncode == 1, cp.stderr
    s = json.loads(cp.stdout)["summary"]
    assert (s["checks"], s["listed"], s["unknown"]) == (768, 258, 256), s
    assert time.monotonic() - t0 < 20


# ---- latency -----------------------------------------------------------------

def start_node(workdir, name, tiers):
    """A resolver with one local zone (l.test) and the given tiers."""
    snap = workdir / ("%s-snap" % name)
    src = workdir / "local.txt"
    src.write_text("$SOA 60 ns.l.test hm.l.test 1 60 60 600 60\ntest\n")
    load_zones(snap, ["l.test:dnset:%s" % src])
    conf = workdir / ("%s.conf" % name)
    port, mport = free_port(), free_port()
    conf.write_text("""
snapshot = "%s";
listen = [ "127.0.0.1:%d" ];
metrics = "127.0.0.1:%d";
workers = 1;
tiers = ( %s );
""" % (snap, port, mport, tiers))
    r = Resolver(workdir, conf=conf)
    r.port, r.metrics_port = port, mport
    wait_dns(r, port, "test.l.test")
    return r


@pytest.fixture
def node(server, workdir):
    """A node whose only tier is the module resolver: lookups of m.test go
    through the tier, so its histograms fill."""
    r = start_node(workdir, "node", '{ name = "grid"; servers = [ "127.0.0.1@%d" ]; '
                   'timeout-ms = 1000; }' % server.port)
    yield r
    r.stop()


def test_latency_one_node(node):
    for i in range(20):
        gridns("query", "--server", srv(node), "192.0.2.%d" % i, "m.test")
    cp = gridns("latency", node.metrics_url())
    assert cp.returncode == 0, cp.stdout + cp.stderr
    out = cp.stdout
    assert out.startswith(node.metrics_url() + "\n"), out
    # The tier answered, with numbers: a count and two latencies.
    m = re.search(r"^\s+grid\s+(\d+)\s+([0-9.]+)ms\s+([0-9.]+)ms\s*$", out, re.M)
    assert m, out
    assert int(m.group(1)) >= 20
    assert 0 < float(m.group(2)) <= float(m.group(3)) <= 5000
    m = re.search(r"^\s+grid\s+(\d+)\s+([0-9.]+)ms\s+([0-9.]+)ms\s+(\d+)\s+([0-9.]+)%$", out, re.M)
    assert m and float(m.group(5)) == 0.0, out  # tier attempts, no skips
    m = re.search(r"cache hit ratio\s+([0-9.]+) \((\d+) hits, (\d+) misses\)", out)
    assert m and int(m.group(3)) >= 20, out
    assert re.search(r"^\s+l\.test\s+age\s+\d+s$", out, re.M), out
    assert "FLAGGED" not in out


def test_latency_two_nodes_and_flags(node, server):
    cp = gridns("latency", "--stale-age", "1", node.metrics_url(), server.metrics_url())
    out = cp.stdout
    assert node.metrics_url() + "\n" in out and server.metrics_url() + "\n" in out, out
    time.sleep(1.2)
    cp = gridns("latency", "--stale-age", "1", node.metrics_url(), server.metrics_url())
    assert cp.returncode == 1, cp.stdout  # zones older than 1 s are flagged
    assert re.search(r"FLAGGED: .*zone m\.test stale", cp.stdout), cp.stdout
    # The module resolver has five zones, the node one.
    assert len(re.findall(r"^\s+zones\s+(\d+)$", cp.stdout, re.M)) == 2


def test_latency_unreachable_node(node):
    url = "http://127.0.0.1:%d/metrics" % free_port()
    cp = gridns("latency", "--timeout", "1000", node.metrics_url(), url)
    assert cp.returncode == 2, cp.stdout
    assert re.search(r"^" + re.escape(url) + r"\n  UNREACHABLE: connect: Connection refused",
                     cp.stdout, re.M), cp.stdout
    assert gridns("latency").returncode == 3
    assert gridns("latency", "https://x/").returncode == 2


def test_latency_three_nodes_different_tiers(node, server, workdir, daemons):
    """Issue 5's proof: three resolvers with different tier behaviour.  The
    one whose grid is dead skips to the NOC, and only that one is flagged."""
    skipper = start_node(workdir, "skipper",
                         '{ name = "grid"; servers = [ "%s" ]; timeout-ms = 100; },'
                         '{ name = "noc"; servers = [ "127.0.0.1@%d" ]; timeout-ms = 1000; }'
                         % (dead_port().replace(":", "@"), server.port))
    daemons.append(skipper)
    for r in (node, skipper):
        for i in range(10):
            gridns("query", "--server", srv(r), "--timeout", "2000", "192.0.2.%d" % i, "m.test")
    cp = gridns("latency", node.metrics_url(), skipper.metrics_url(), server.metrics_url())
    assert cp.returncode == 1, cp.stdout
    parts = cp.stdout.split(skipper.metrics_url() + "\n")
    assert len(parts) == 2
    first, rest = parts
    mine, other = rest.split(server.metrics_url() + "\n")
    assert "FLAGGED" not in first and "FLAGGED" not in other, cp.stdout
    assert re.search(r"FLAGGED: skips from tier grid on [0-9.]+% of lookups", mine), mine
    # The NOC answered the skipper's lookups, with latencies.
    assert re.search(r"^\s+noc\s+(\d+)\s+[0-9.]+ms\s+[0-9.]+ms\s*$", mine, re.M), mine
    # The plain resolver has no tiers at all.
    assert "(no tiers configured)" in other


def test_latency_hostile_exposition():
    """A node that sends garbage, escapes and terminal control codes: the
    report survives, counts the bad lines, and prints no control octet."""
    import http.server
    import threading

    body = (b"# TYPE gridns_zone_age_seconds gauge\n"
            b'gridns_zone_age_seconds{zone="evil\x1b[31m.test"} 5\n'
            b'gridns_zone_age_seconds{zone="q\\"uote\\\\d\\n.test"} 7\n'
            b"gridns_zone_age_seconds{zone=\"unterminated} 1\n"
            b"\x00\xff garbage line\n"
            + b"x" * 70000 + b" 1\n"
            + b'gridns_lookup_duration_seconds_bucket{source="local",le="0.001"} 3\n'
            b'gridns_lookup_duration_seconds_bucket{source="local",le="+Inf"} 4\n'
            b'gridns_lookup_duration_seconds_count{source="local"} 4\n')

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srvr = http.server.HTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srvr.serve_forever, daemon=True)
    t.start()
    try:
        url = "http://127.0.0.1:%d/metrics" % srvr.server_address[1]
        cp = subprocess.run([binpath("gridns"), "latency", url], capture_output=True, timeout=30)
        rep = sanitizer_report(cp.stderr.decode(errors="replace"))
        assert rep is None, rep
        out = cp.stdout.decode("ascii")  # nothing but ASCII may come out
        assert cp.returncode == 0, out
        assert "\x1b" not in out and "\n.test" not in out
        assert "evil?[31m.test" in out, out
        assert 'q"uote\\d?.test' in out, out
        assert "warning: 3 malformed line(s) ignored, first at line 4" in out, out
        assert re.search(r"^\s+local\s+4\s+0\.\d+ms\s+1\.000ms$", out, re.M), out
    finally:
        srvr.shutdown()
        srvr.server_close()
