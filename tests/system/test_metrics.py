"""test_metrics.py - the Prometheus exposition on /metrics.

promtool must accept it; query counters must move with traffic; every
served zone must have its serial and age.
"""
import os
import re
import subprocess
import time
import urllib.request

import dns.rcode
import pytest

from conftest import PROMTOOL, load_zones, make_query, pipeline, start_resolver

BL = """$SOA 600 ns1.m.test. hostmaster.m.test. 4242 3600 600 86400 300
$NS 3600 ns1.m.test
:127.0.0.2:Listed $
127.0.0.2
"""
DBL = """$SOA 600 ns1.d.test. hostmaster.d.test. 99 3600 600 86400 300
test
"""

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.status == 200
        ctype = r.headers.get("Content-Type", "")
        return r.read().decode(), ctype


def samples(text):
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "unparseable exposition line: %r" % line
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


@pytest.fixture(scope="module")
def server(moddir):
    snap = moddir / "snap"
    for name, text in (("m.txt", BL), ("d.txt", DBL)):
        (moddir / name).write_text(text)
        os.chmod(moddir / name, 0o644)
    load_zones(snap, ["m.test:ip4set:%s" % (moddir / "m.txt"), "d.test:dnset:%s" % (moddir / "d.txt")])
    # The self-check's canaries are real queries: they would move the exact
    # counters test_query_counters_move checks (test_health.py covers them).
    r = start_resolver(moddir, snap, "m.test", extra=["-o", "health.enable=false"])
    yield r
    r.stop()


def test_promtool_accepts_exposition(server):
    text, ctype = scrape(server.metrics_url())
    assert ctype.startswith("text/plain"), ctype
    assert "version=0.0.4" in ctype or ctype == "text/plain", ctype
    cp = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                        text=True, timeout=30)
    assert cp.returncode == 0, "promtool check metrics:\n%s%s" % (cp.stdout, cp.stderr)
    names = {s[0] for s in samples(text)}
    assert names and all(n.startswith("gridns_") for n in names), sorted(
        n for n in names if not n.startswith("gridns_"))


def total(text, pred):
    return sum(v for n, lab, v in samples(text) if pred(n, lab))


def value(text, name, **labels):
    return total(text, lambda n, lab: n == name and all(lab.get(k) == v for k, v in labels.items()))


def test_query_counters_move(server):
    before, _ = scrape(server.metrics_url())
    n = 300   # a third each: listed, not listed, listed in the other zone
    wires = [make_query(("2.0.0.127.m.test", "1.0.0.127.m.test", "test.d.test")[i % 3], "A").to_wire()
             for i in range(n)]
    res = pipeline(server.port, wires, window=16)
    assert all(r is not None for r in res)
    time.sleep(0.2)
    after, _ = scrape(server.metrics_url())
    delta = lambda name, **lab: value(after, name, **lab) - value(before, name, **lab)
    assert delta("gridns_queries_total") >= n
    assert delta("gridns_responses_total", rcode="NXDOMAIN") == n // 3
    assert delta("gridns_responses_total", rcode="NOERROR") >= 2 * n // 3
    assert delta("gridns_zone_queries_total", zone="m.test") == 2 * n // 3
    assert delta("gridns_zone_listed_total", zone="m.test") == n // 3
    assert delta("gridns_zone_unlisted_total", zone="m.test") == n // 3
    assert delta("gridns_zone_listed_total", zone="d.test") == n // 3


def test_zone_serial_and_age(server):
    text, _ = scrape(server.metrics_url())
    s = samples(text)
    for zone, serial in (("m.test", 4242), ("d.test", 99)):
        ser = [v for n, lab, v in s if n == "gridns_zone_serial" and lab.get("zone") == zone]
        assert ser == [serial], "serial gauge for %s: %s" % (zone, ser)
        age = [v for n, lab, v in s if n == "gridns_zone_age_seconds" and lab.get("zone") == zone]
        assert len(age) == 1 and 0 <= age[0] < 600, "age gauge for %s: %s" % (zone, age)


def test_metrics_survive_load_and_unknown_path(server):
    url = server.metrics_url()
    for _ in range(20):
        scrape(url)
    bad = url.replace("/metrics", "/nosuchpath")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(bad, timeout=5)
    assert e.value.code == 404
    m = pipeline(server.port, [make_query("2.0.0.127.m.test", "A").to_wire()])[0]
    assert m is not None and (m[3] & 0x0F) == dns.rcode.NOERROR
