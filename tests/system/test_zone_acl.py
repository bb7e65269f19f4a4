"""tests/system/test_zone_acl.py - per-zone client actions ("zone-acl", issue 6,
rbldnsd's acl dataset): each action is proven by asking the same resolver from
127.0.0.1 (no rule: normal answers) and from another loopback address that a
rule names (the client socket is bound to it), plus --check-config errors."""
import re
import socket
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
