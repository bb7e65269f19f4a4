"""tests/system/test_zone_acl.py - per-zone client actions ("zone-acl", issue 6,
rbldnsd's acl dataset): each action is proven by asking the same resolver from
127.0.0.1 (no rule: normal answers) and from another loopback address that a
rule names (the client socket is bound to it), plus --check-config errors."""
import re
import socket
import time
import urllib.request

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from conftest import Resolver, binpath, free_port, load_zones, make_query, run, wait_dns

ZONE = "bl.test"
LISTED = "2.0.0.127." + ZONE      # in the ip4set
UNLISTED = "9.9.9.10." + ZONE     # not in it
INFO = "info." + ZONE             # generic data of the same zone

RULES = """
zone-acl = (
  { zone = "bl.test"; networks = [ "127.0.0.5" ]; action = "pass"; },
  { zone = "BL.test."; networks = "127.0.0.2/32"; action = "ignore"; },
  { zone = "bl.test"; networks = [ "127.0.0.3", "::2" ]; action = "refuse"; },
  { zone = "bl.test"; networks = [ "127.0.0.4" ]; action = "empty"; },
  { zone = "bl.test"; networks = [ "127.0.0.4/30" ];
    action = ":127.0.0.9:Blocked for $, see https://example.net/?$$"; },
  { zone = "other.test"; networks = [ "0.0.0.0/0" ]; action = "refuse"; }
);
"""


def ask(port, qname, qtype="A", src="127.0.0.1", timeout=1.0):
    """One UDP query from `src`; the parsed reply or None (no answer)."""
    q = make_query(qname, qtype, edns=True)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.bind((src, 0))
        s.sendto(q.to_wire(), ("127.0.0.1", port))
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            return None
        return dns.message.from_wire(data)
    finally:
        s.close()


def rrs(m, rdtype):
    return [rr for rs in m.answer if rs.rdtype == rdtype for rr in rs]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    d = tmp_path_factory.mktemp("zacl")
    (d / "bl.ip4set").write_text(":127.0.0.2:Listed $\n127.0.0.2\n")
    (d / "bl.generic").write_text("$SOA 60 ns.bl.test hm.bl.test 7 60 60 600 60\n"
                                  "$NS 60 ns.bl.test\ninfo TXT \"about this list\"\n")
    snap = d / "snap"
    load_zones(snap, ["%s:ip4set:%s" % (ZONE, d / "bl.ip4set"),
                      "%s:generic:%s" % (ZONE, d / "bl.generic")])
    port, mport = free_port(), free_port()
    conf = d / "r.conf"
    conf.write_text('snapshot = "%s";\nlisten = [ "127.0.0.1:%d" ];\nmetrics = "127.0.0.1:%d";\n'
                    'workers = 2;\n%s' % (snap, port, mport, RULES))
    r = Resolver(d, conf=str(conf))
    r.port, r.metrics_port = port, mport
    try:
        wait_dns(r, port, LISTED)
        yield r
    finally:
        r.stop()


def test_no_rule_answers_normally(node):
    m = ask(node.port, LISTED)
    assert m.rcode() == dns.rcode.NOERROR and [rr.address for rr in rrs(m, 1)] == ["127.0.0.2"]
    assert ask(node.port, UNLISTED).rcode() == dns.rcode.NXDOMAIN


def test_ignore_drops(node):
    assert ask(node.port, LISTED, src="127.0.0.2") is None
    assert ask(node.port, INFO, "TXT", src="127.0.0.2") is None
    # 127.0.0.1 right after: still answered
    assert ask(node.port, LISTED).rcode() == dns.rcode.NOERROR


def test_refuse(node):
    m = ask(node.port, LISTED, src="127.0.0.3")
    assert m.rcode() == dns.rcode.REFUSED and not m.answer
    assert any(o.otype == 15 and o.code == 18 for o in m.options), m  # EDE Prohibited


def test_empty(node):
    m = ask(node.port, LISTED, src="127.0.0.4")
    assert m.rcode() == dns.rcode.NXDOMAIN and not m.answer
    assert any(rs.rdtype == dns.rdatatype.SOA for rs in m.authority), m
    # SOA, NS and generic data are still there
    m = ask(node.port, ZONE, "SOA", src="127.0.0.4")
    assert m.rcode() == dns.rcode.NOERROR and rrs(m, dns.rdatatype.SOA)
    m = ask(node.port, ZONE, "NS", src="127.0.0.4")
    assert m.rcode() == dns.rcode.NOERROR and rrs(m, dns.rdatatype.NS)
    m = ask(node.port, INFO, "TXT", src="127.0.0.4")
    assert m.rcode() == dns.rcode.NOERROR and rrs(m, dns.rdatatype.TXT)


def test_fixed_answer(node):
    for name in (LISTED, UNLISTED):
        m = ask(node.port, name, src="127.0.0.6")
        assert m.rcode() == dns.rcode.NOERROR and m.flags & 0x0400  # AA
        assert [rr.address for rr in rrs(m, 1)] == ["127.0.0.9"]
        m = ask(node.port, name, "TXT", src="127.0.0.6")
        txt = b"".join(rrs(m, dns.rdatatype.TXT)[0].strings).decode()
        assert txt == "Blocked for 127.0.0.6, see https://example.net/?$"
    # the apex keeps its SOA
    m = ask(node.port, ZONE, "SOA", src="127.0.0.6")
    assert rrs(m, dns.rdatatype.SOA)


def test_pass_escapes_broader_rule(node):
    # 127.0.0.5 is inside 127.0.0.4/30 (fixed answer), but "pass" comes first
    m = ask(node.port, LISTED, src="127.0.0.5")
    assert [rr.address for rr in rrs(m, 1)] == ["127.0.0.2"]
    assert ask(node.port, UNLISTED, src="127.0.0.5").rcode() == dns.rcode.NXDOMAIN


def test_metrics(node):
    for src in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"):
        ask(node.port, LISTED, src=src, timeout=0.3)
    text = urllib.request.urlopen(node.metrics_url(), timeout=5).read().decode()
    for action in ("pass", "ignore", "refuse", "empty", "fixed"):
        m = re.search(r'^gridns_zone_acl_actions_total\{zone="bl.test",action="%s"\} (\d+)$'
                      % action, text, re.M)
        assert m and int(m.group(1)) >= 1, (action, text)


# ---- rules for zones the snapshot cannot answer: the tiers would -----------
#
# far.test is not in the snapshot at all and old.test has expired, so a
# client without a rule gets the tier's answer; a client a rule holds must
# get what the rule says, and the tier must not even be asked for it.

TIER_A = "127.0.0.7"              # what the fake grid answers for every A
FAR = "far.test"                  # rule zone absent from the snapshot
OLD = "old.test"                  # rule zone whose local data expired

TIER_RULES = """
zone-acl = (
  { zone = "far.test"; networks = "127.0.0.2"; action = "ignore"; },
  { zone = "far.test"; networks = "127.0.0.3"; action = "refuse"; },
  { zone = "far.test"; networks = "127.0.0.4"; action = "empty"; },
  { zone = "far.test"; networks = "127.0.0.6"; action = ":127.0.0.9:Blocked for $"; },
  { zone = "old.test"; networks = "127.0.0.2"; action = "ignore"; },
  { zone = "old.test"; networks = "127.0.0.3"; action = "refuse"; },
  { zone = "old.test"; networks = "127.0.0.4"; action = "empty"; },
  { zone = "old.test"; networks = "127.0.0.6"; action = ":127.0.0.9:Blocked for $"; }
);
"""


@pytest.fixture(scope="module")
def grid():
    from test_tiers import FakeUpstream
    u = FakeUpstream()
    u.a = TIER_A
    yield u
    u.close()


def tier_resolver(d, snap, grid):
    """A resolver on `snap` with the fake grid as its tier, TIER_RULES, and
    no self-check."""
    port, mport = free_port(), free_port()
    conf = d / "r.conf"
    conf.write_text('snapshot = "%s";\nlisten = [ "127.0.0.1:%d" ];\nmetrics = "127.0.0.1:%d";\n'
                    'workers = 1;\nhealth = { enable = false; };\n'
                    'tiers = ( { name = "grid"; servers = [ "127.0.0.1@%d" ]; } );\n%s'
                    % (snap, port, mport, grid.port, TIER_RULES))
    r = Resolver(d, conf=str(conf))
    r.port, r.metrics_port = port, mport
    return r


@pytest.fixture(scope="module")
def tiered(tmp_path_factory, grid):
    d = tmp_path_factory.mktemp("zacl_tiers")
    (d / "bl.ip4set").write_text(":127.0.0.2:Listed $\n127.0.0.2\n")
    # generated 2020-01-01, expired 2020-01-02: loaded, never served
    (d / "old.ip4set").write_text("$TIMESTAMP 2020:01:01 2020:01:02\n"
                                  "$SOA 60 ns.old.test hm.old.test 3 60 60 600 40\n"
                                  ":127.0.0.8:local $\n127.0.0.2\n")
    snap = d / "snap"
    load_zones(snap, ["%s:ip4set:%s" % (ZONE, d / "bl.ip4set"),
                      "%s:ip4set:%s" % (OLD, d / "old.ip4set")])
    # No self-check: the expired zone fails it as "data", and its one
    # snapshot reopen would start the counters afresh under a test.
    r = tier_resolver(d, snap, grid)
    try:
        wait_dns(r, r.port, LISTED)
        yield r
    finally:
        r.stop()


def scrape(r):
    return urllib.request.urlopen(r.metrics_url(), timeout=5).read().decode()


def counter(text, series):
    m = re.search(r"^%s (\d+)$" % re.escape(series), text, re.M)
    return int(m.group(1)) if m else 0


_seq = [0]


def fresh(zone):
    """A DNSBL name nobody asked before: no cache can answer it."""
    _seq[0] += 1
    return "%d.%d.0.127.%s" % (_seq[0] % 250 + 1, _seq[0] // 250 % 250 + 1, zone)


@pytest.mark.parametrize("zone", [FAR, OLD])
def test_no_rule_gets_the_tier(tiered, zone):
    m = ask(tiered.port, fresh(zone), timeout=5)
    assert m.rcode() == dns.rcode.NOERROR and [rr.address for rr in rrs(m, 1)] == [TIER_A], m


@pytest.mark.parametrize("zone", [FAR, OLD])
def test_refused_client_never_reaches_the_tier(tiered, grid, zone):
    before = grid.queries
    m = ask(tiered.port, fresh(zone), src="127.0.0.3")
    assert m.rcode() == dns.rcode.REFUSED and not m.answer, m
    assert any(o.otype == 15 and o.code == 18 for o in m.options), m
    assert grid.queries == before, "a refused client's query went upstream"


@pytest.mark.parametrize("zone", [FAR, OLD])
def test_ignored_client_times_out_and_is_no_malformed_drop(tiered, grid, zone):
    before = grid.queries
    dropped = counter(scrape(tiered), 'gridns_packets_dropped_total{reason="malformed"}')
    assert ask(tiered.port, fresh(zone), src="127.0.0.2", timeout=0.5) is None
    assert ask(tiered.port, fresh(zone), "TXT", src="127.0.0.2", timeout=0.5) is None
    assert grid.queries == before, "an ignored client's query went upstream"
    text = scrape(tiered)
    assert counter(text, 'gridns_packets_dropped_total{reason="malformed"}') == dropped, text
    assert counter(text, 'gridns_zone_acl_actions_total{zone="%s",action="ignore"}' % zone) >= 2


def test_empty_without_local_data(tiered, grid):
    before = grid.queries
    m = ask(tiered.port, fresh(FAR), src="127.0.0.4")
    assert m.rcode() == dns.rcode.NXDOMAIN and not m.answer and not m.authority, m
    # the expired zone is still known: its SOA goes into authority
    m = ask(tiered.port, fresh(OLD), "TXT", src="127.0.0.4")
    assert m.rcode() == dns.rcode.NXDOMAIN and not m.answer, m
    soa = [rs for rs in m.authority if rs.rdtype == dns.rdatatype.SOA]
    assert soa and soa[0].name.to_text() == OLD + ".", m
    assert grid.queries == before, "an empty client's query went upstream"


@pytest.mark.parametrize("zone", [FAR, OLD])
def test_fixed_without_local_data(tiered, grid, zone):
    before = grid.queries
    name = fresh(zone)
    m = ask(tiered.port, name, src="127.0.0.6")
    assert m.rcode() == dns.rcode.NOERROR and m.flags & 0x0400, m  # AA
    assert [rr.address for rr in rrs(m, 1)] == ["127.0.0.9"], m
    # TTL: the expired zone's own dataset TTL (default 2100) or 300 without it
    assert m.answer[0].ttl == (300 if zone == FAR else 2100), m
    m = ask(tiered.port, name, "TXT", src="127.0.0.6")
    assert b"".join(rrs(m, dns.rdatatype.TXT)[0].strings) == b"Blocked for 127.0.0.6"
    assert grid.queries == before, "a fixed-answer client's query went upstream"


def test_apex_of_an_absent_rule_zone_still_goes_upstream(tiered, grid):
    """The apex is no DNSBL name: "empty" and fixed answers leave it alone,
    so without local data it is asked upstream like any other."""
    before = grid.queries
    m = ask(tiered.port, FAR, src="127.0.0.6", timeout=5)
    assert m.rcode() == dns.rcode.NOERROR and [rr.address for rr in rrs(m, 1)] == [TIER_A], m
    assert grid.queries > before


def test_tier_metrics_count_absent_zones(tiered):
    for src in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.6"):
        ask(tiered.port, fresh(FAR), src=src, timeout=0.3)
    text = scrape(tiered)
    for action in ("ignore", "refuse", "empty", "fixed"):
        series = 'gridns_zone_acl_actions_total{zone="far.test",action="%s"}' % action
        assert counter(text, series) >= 1, (series, text)
    # an absent zone gets no per-zone answer counters of its own
    assert 'gridns_zone_queries_total{zone="far.test"}' not in text


def check(tmp_path, text):
    p = tmp_path / "bad.conf"
    p.write_text('snapshot = "%s";\n%s' % (tmp_path, text))
    cp = run([binpath("gridns-resolver"), "--check-config", "-c", str(p)], timeout=20)
    return cp.returncode, cp.stdout + cp.stderr, str(p)


@pytest.mark.parametrize("rule,line,why", [
    ('{ zone = "bl.test"; networks = [ "10.0.0.1/8" ]; action = "refuse"; }', 3,
     "bad network"),
    ('{ zone = "bl.test"; networks = [ "10.0.0.0/8" ];\n action = "drop"; }', 4,
     'action "drop"'),
    ('{ zone = "bl.test"; networks = [ "10.0.0.0/8" ]; action = ":10.0.0.2:x"; }', 3,
     "127.0.0.0/8"),
    ('{ zone = "bl.test"; networks = [ "10.0.0.0/8" ]; action = "pass"; colour = 1; }', 3,
     "unknown option 'colour'"),
    ('{ zone = "bl.test"; action = "pass"; }', 3, "networks is missing"),
    ('{ zone = "bl..test"; networks = "::1"; action = "pass"; }', 3, "not a domain name"),
])
def test_check_config_errors(tmp_path, rule, line, why):
    rc, out, path = check(tmp_path, "zone-acl = (\n%s\n);\n" % rule)
    assert rc != 0, out
    assert re.search(r"%s:%d: zone-acl: .*%s" % (re.escape(path), line, re.escape(why)), out), out


def test_check_config_not_a_list(tmp_path):
    rc, out, path = check(tmp_path, 'zone-acl = "refuse";\n')
    assert rc != 0 and "%s:2: zone-acl must be a list of groups" % path in out, out


def test_check_config_good_and_dump(tmp_path):
    rc, out, _ = check(tmp_path, RULES)
    assert rc == 0, out
    p = tmp_path / "good.conf"
    p.write_text('snapshot = "%s";\n%s' % (tmp_path, RULES))
    cp = run([binpath("gridns-resolver"), "--dump-config", "-c", str(p)], timeout=20)
    assert cp.returncode == 0, cp.stderr
    assert 'action = ":127.0.0.9:Blocked for $, see https://example.net/?$$"' in cp.stdout
    assert '{ zone = "bl.test"; networks = [ "127.0.0.2/32" ]; action = "ignore"; }' in cp.stdout


# ---- before the node ever had a snapshot --------------------------------------
#
# A node's first start, before its first sync: no snapshot at all, so every
# name goes to the tiers -- except for a client a rule holds, which gets the
# rule where it needs no data (ignore, refuse) and SERVFAIL (unknown) where it
# would (empty, fixed), never the tiers' answer.

@pytest.fixture(scope="module")
def bare(tmp_path_factory, grid):
    d = tmp_path_factory.mktemp("zacl_bare")
    snap = d / "snap"
    snap.mkdir()  # no data.mdb: nothing synced yet
    r = tier_resolver(d, snap, grid)
    try:
        deadline = time.monotonic() + 10
        while ask(r.port, fresh(FAR), timeout=0.5) is None:
            assert time.monotonic() < deadline, r.describe()
        yield r
    finally:
        r.stop()


def test_no_snapshot_no_rule_gets_the_tier(bare):
    m = ask(bare.port, fresh(FAR), timeout=5)
    assert m.rcode() == dns.rcode.NOERROR and [rr.address for rr in rrs(m, 1)] == [TIER_A], m


@pytest.mark.parametrize("src,rcode", [("127.0.0.3", dns.rcode.REFUSED),
                                       ("127.0.0.4", dns.rcode.SERVFAIL),
                                       ("127.0.0.6", dns.rcode.SERVFAIL)])
def test_no_snapshot_held_client_never_reaches_the_tier(bare, grid, src, rcode):
    before = grid.queries
    m = ask(bare.port, fresh(FAR), src=src)
    assert m is not None and m.rcode() == rcode and not m.answer, m
    assert grid.queries == before, "a held client's query went upstream"


def test_no_snapshot_ignored_client_is_no_malformed_drop(bare, grid):
    before = grid.queries
    dropped = counter(scrape(bare), 'gridns_packets_dropped_total{reason="malformed"}')
    assert ask(bare.port, fresh(FAR), src="127.0.0.2", timeout=0.5) is None
    assert grid.queries == before, "an ignored client's query went upstream"
    assert counter(scrape(bare), 'gridns_packets_dropped_total{reason="malformed"}') == dropped
