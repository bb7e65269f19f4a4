#!/usr/bin/python3
"""tests/fuzz/make_corpus.py - (re)generate the seed corpora in
tests/fuzz/corpus/ from real DNS messages built with dnspython and from the
test data files, so every seed is explained by this script.

    /usr/bin/python3 tests/fuzz/make_corpus.py

Seeds only need to reach the interesting code quickly; the fuzzer finds the
rest.  Files are named after what they hold; existing files with other
names (crash reproducers added by hand) are left alone.
"""
import glob
import os
import random
import subprocess
import tempfile
import time

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.rdataclass
import dns.rrset
import dns.tsig
import dns.tsigkeyring
import dns.zone

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(TOP, "tests", "fuzz", "corpus")

# Queries that hit each zone of the fuzz_answer snapshot and each branch of
# the answer engine: listed/unlisted, TXT, ANY, apex SOA/NS, NXDOMAIN,
# NODATA, wildcard, CNAME, foreign zone, class CH, transfers.
QUERIES = [
    ("2.0.0.127.bl.example.test", "A"),
    ("2.0.0.127.bl.example.test", "TXT"),
    ("2.0.0.127.bl.example.test", "ANY"),
    ("1.0.0.127.bl.example.test", "A"),
    ("25.100.51.198.bl.example.test", "A"),
    ("bl.example.test", "SOA"),
    ("bl.example.test", "NS"),
    ("2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl6.example.test", "TXT"),
    ("test.dbl.example.test", "A"),
    ("x.bad.example.dbl.example.test", "TXT"),
    ("ok.bad.example.dbl.example.test", "A"),
    ("route.example.test", "MX"),
    ("www.route.example.test", "A"),
    ("foo.customers.route.example.test", "MX"),
    ("_submission._tcp.route.example.test", "SRV"),
    ("2.0.0.127.proxies.cb.example.test", "TXT"),
    ("about.gen.example.test", "TXT"),
    ("www.gen.example.test", "ANY"),
    ("nothing.here.example", "A"),
    ("bl.example.test", "AXFR"),
]


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def queries():
    """(name, wire) for each query, in a few EDNS variants."""
    out = []
    for i, (qname, qtype) in enumerate(QUERIES):
        q = dns.message.make_query(qname, qtype, use_edns=False)
        q.id = 0x1000 + i
        out.append(("q%02d-%s-%s" % (i, qtype, "plain"), q.to_wire()))
        q = dns.message.make_query(qname, qtype, use_edns=0, payload=1232, want_dnssec=True)
        q.id = 0x2000 + i
        out.append(("q%02d-%s-%s" % (i, qtype, "edns-do"), q.to_wire()))
    # Odd but real: class CH, EDNS version 1, NOTIFY opcode, an EDNS option
    # (cookie), 0x20 mixed case, and a query with the QR bit set.
    q = dns.message.make_query("version.bind", "TXT", rdclass=dns.rdataclass.CH)
    out.append(("odd-chaos", q.to_wire()))
    q = dns.message.make_query("bl.example.test", "SOA", use_edns=1)
    out.append(("odd-ednsv1", q.to_wire()))
    q = dns.message.make_query("bl.example.test", "SOA")
    q.set_opcode(dns.opcode.NOTIFY)
    out.append(("odd-notify", q.to_wire()))
    q = dns.message.make_query("2.0.0.127.bl.example.test", "A", use_edns=0,
                               options=[dns.edns.GenericOption(10, b"\x01" * 8)])
    out.append(("odd-cookie", q.to_wire()))
    q = dns.message.make_query("2.0.0.127.Bl.ExAmPlE.tEsT", "TXT")
    out.append(("odd-case", q.to_wire()))
    q = dns.message.make_query("bl.example.test", "A")
    q.flags |= dns.flags.QR
    out.append(("odd-qr", q.to_wire()))
    # Fixed IDs for the odd ones too, so regenerating changes nothing.
    for k, (name, w) in enumerate(out):
        if name.startswith("odd-"):
            out[k] = (name, bytes([0x30, k & 0xff]) + w[2:])
    return out


def responses():
    """(name, wire) of tier answers: what libunbound hands back."""
    out = []

    def resp(qname, qtype, rrs, rcode=0, auth=(), edns=True, flags=0):
        q = dns.message.make_query(qname, qtype, use_edns=0 if edns else False)
        r = dns.message.make_response(q)
        r.id = 0
        r.flags |= dns.flags.RA | flags
        r.set_rcode(rcode)
        for owner, ttl, t, *rd in rrs:
            r.answer.append(dns.rrset.from_text(owner, ttl, "IN", t, *rd))
        for owner, ttl, t, *rd in auth:
            r.authority.append(dns.rrset.from_text(owner, ttl, "IN", t, *rd))
        return r.to_wire(max_size=65535)

    soa = ("example.com.", 300, "SOA", "ns1.example.com. admin.example.com. 1 2 3 4 60")
    out.append(("r-a", resp("www.example.com.", "A",
                            [("www.example.com.", 300, "A", "192.0.2.1", "192.0.2.2")])))
    out.append(("r-cname", resp("w.example.com.", "A",
                                [("w.example.com.", 60, "CNAME", "www.example.com."),
                                 ("www.example.com.", 300, "A", "192.0.2.1")])))
    out.append(("r-txt", resp("2.0.0.127.zen.example.org.", "TXT",
                              [("2.0.0.127.zen.example.org.", 900, "TXT",
                                '"listed" "see https://example.org/"')])))
    out.append(("r-mx", resp("example.com.", "MX",
                             [("example.com.", 3600, "MX", "10 mx1.example.com.",
                               "20 mx2.example.com.")])))
    out.append(("r-nxdomain", resp("nope.example.com.", "A", [], rcode=dns.rcode.NXDOMAIN,
                                   auth=[soa])))
    out.append(("r-nodata", resp("www.example.com.", "AAAA", [], auth=[soa])))
    out.append(("r-servfail", resp("www.example.com.", "A", [], rcode=dns.rcode.SERVFAIL)))
    out.append(("r-tc", resp("www.example.com.", "A", [], flags=dns.flags.TC, edns=False)))
    out.append(("r-noedns", resp("www.example.com.", "A",
                                 [("www.example.com.", 300, "A", "192.0.2.1")], edns=False)))
    big = [("big.example.com.", 300, "TXT", *['"%03d%s"' % (i, "y" * 180) for i in range(12)])]
    out.append(("r-big", resp("big.example.com.", "TXT", big)))
    return out


def main():
    # dnspython shuffles the records of an RRset when rendering; a fixed
    # seed keeps regenerated files identical.
    random.seed(1)
    xfr_seeds()
    qs = queries()
    for name, w in qs:
        write("answer", name, w)
        write("wire_parse", name, w)
    rs = responses()
    # First octet: the harnesses' control byte (see fuzz_upstream.c and
    # fuzz_cache.c); 0x01 = take the question from the packet.
    for name, w in rs:
        write("upstream", name + "-udp", b"\x05" + w)
        write("upstream", name + "-tcp-flip", b"\xc1" + w)
        write("cache", name, b"\x01" + w)
        write("cache", name + "-do-flip", b"\x15" + w)
    # Dataset files: first octet = type index in fuzz_dataset.c.
    types = ["ip4set", "ip4tset", "ip4trie", "ip6tset", "ip6trie", "dnset", "generic",
             "combined"]
    comp = os.path.join(TOP, "tests", "data", "compile")
    picks = {
        "ip4set": ["ip4set-levels.txt", "ip4set-multi.txt", "values-forms.txt",
                   "values-vars.txt", "base-template.txt", "eq-escape.txt",
                   "specials-a.txt", "specials-b.txt", "maxrange4.txt"],
        "ip4tset": ["ip4tset.txt"], "ip4trie": ["ip4trie.txt"],
        "ip6tset": ["ip6tset.txt"], "ip6trie": ["ip6trie.txt"],
        "dnset": ["dnset.txt"], "generic": ["generic.txt"], "combined": ["combined.txt"],
    }
    for t, files in picks.items():
        for fn in files:
            with open(os.path.join(comp, fn), "rb") as f:
                write("dataset", "%s-%s" % (t, fn), bytes([types.index(t)]) + f.read())
    sample = os.path.join(TOP, "tests", "data", "sample")
    for fn, t in (("bl.example.test.ip4set", "ip4set"), ("bl6.example.test.ip6trie", "ip6trie"),
                  ("dbl.example.test.dnset", "dnset")):
        with open(os.path.join(sample, fn), "rb") as f:
            write("dataset", "sample-" + fn, bytes([types.index(t)]) + f.read())
    with open(os.path.join(sample, "route.example.test.zone"), "rb") as f:
        write("zone", "route.example.test.zone", f.read())
    write("zone", "relative-and-escapes.zone",
          b"$ORIGIN fz.example.test.\n$TTL 1h\n"
          b"@ IN SOA ns1 hostmaster ( 1 2h 1h 1w 5m )\n@ NS ns1.example.net.\n"
          b"a\\.b A 192.0.2.1\n\\# TXT \"a;b\" \"c\\\"d\"\nv6 AAAA 2001:db8::1\n"
          b"unk TYPE65280 \\# 2 abcd\n*.w CNAME a\\.b\n")
    # Prometheus text for `gridns latency` (tprom); resolver-metrics.txt in
    # that directory was captured from a running gridns-resolver's /metrics.
    write("tprom", "histogram.txt",
          b"# HELP gridns_query_duration_seconds Time to answer.\n"
          b"# TYPE gridns_query_duration_seconds histogram\n"
          b'gridns_query_duration_seconds_bucket{zone="bl.example.test",le="0.0001"} 10\n'
          b'gridns_query_duration_seconds_bucket{zone="bl.example.test",le="0.001"} 90\n'
          b'gridns_query_duration_seconds_bucket{zone="bl.example.test",le="+Inf"} 100\n'
          b'gridns_query_duration_seconds_sum{zone="bl.example.test"} 0.05\n'
          b'gridns_query_duration_seconds_count{zone="bl.example.test"} 100\n'
          b'gridns_lookup_duration_seconds_count 7 1700000000000\n')
    write("tprom", "escapes-and-specials.txt",
          b'm{a="x\\"y\\\\z\\n",b=""} NaN\nm{a="q"} +Inf\nm -Inf\n'
          b"bad line here\n  \n# comment\nm{a=\"unterminated} 1\n")
    for fn in glob.glob(os.path.join(TOP, "tests", "data", "conf", "*.conf")):
        with open(fn, "rb") as f:
            write("conf", os.path.basename(fn), f.read())


FZ_NOW = 1700000000  # the fixed clock of fuzz_xfr_server.c / fuzz_xfr_client.c
KEYRING = dns.tsigkeyring.from_text({
    "fz-key.": ("hmac-sha256", "Z3JpZG5zIGZ1enoga2V5LCAzMiBvY3RldHMhISEhISE="),
})


def xfr_seeds():
    """Publisher requests (signed at FZ_NOW, unsigned, wrong key) and
    follower replies: AXFR messages of the sample zones in transfer form,
    taken from `gridns-zonesync dump` (needs build/bin/gridns-zonesync)."""
    real_time = time.time
    time.time = lambda: FZ_NOW  # dnspython signs with time.time()
    try:
        for i, (qname, qtype) in enumerate((("bl.example.test", "AXFR"),
                                            ("bl.example.test", "SOA"),
                                            ("dbl.example.test", "IXFR"))):
            q = dns.message.make_query(qname, qtype, use_edns=False)
            q.id = 0x4000 + i
            if qtype == "IXFR":
                q.authority.append(dns.rrset.from_text(
                    qname + ".", 0, "IN", "SOA", ". . 2026112400 0 0 0 0"))
            write("xfr_server", "%s-%s-unsigned" % (qname, qtype), q.to_wire())
            q.use_tsig(KEYRING, keyname="fz-key.", algorithm="hmac-sha256")
            write("xfr_server", "%s-%s-signed" % (qname, qtype), q.to_wire())
        n = dns.message.make_query("bl.example.test", "SOA", use_edns=False)
        n.set_opcode(dns.opcode.NOTIFY)
        n.flags |= dns.flags.AA
        n.id = 0x4100
        n.use_tsig(KEYRING, keyname="fz-key.", algorithm="hmac-sha256")
        write("xfr_server", "notify-signed", n.to_wire())
    finally:
        time.time = real_time

    zs = os.path.join(TOP, "build", "bin", "gridns-zonesync")
    if not os.access(zs, os.X_OK):
        print("make_corpus: no %s, xfr_client seeds skipped" % zs)
        return
    sample = os.path.join(TOP, "tests", "data", "sample")
    comp = os.path.join(TOP, "tests", "data", "compile")
    specs = ["bl.example.test:ip4set:%s/bl.example.test.ip4set" % sample,
             "bl6.example.test:ip6trie:%s/bl6.example.test.ip6trie" % sample,
             "dbl.example.test:dnset:%s/dbl.example.test.dnset" % sample,
             "route.example.test:zone:%s/route.example.test.zone" % sample,
             "cb.example.test:combined:%s/combined.txt" % comp]
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([zs, "load", "--snapshot", d] + specs, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for spec in specs:
            zone = spec.split(":")[0]
            text = subprocess.run([zs, "dump", "--snapshot", d, zone], check=True,
                                  capture_output=True, text=True).stdout
            z = dns.zone.from_text(text, origin=zone + ".", relativize=False,
                                   check_origin=False)
            q = dns.message.make_query(zone + ".", "AXFR", use_edns=False)
            r = dns.message.make_response(q)
            r.id = 0x4242
            soa = z.find_rrset(zone + ".", "SOA")
            r.answer.append(soa)
            for name, node in sorted(z.nodes.items()):
                for rds in node.rdatasets:
                    if rds.rdtype != dns.rdatatype.SOA:
                        r.answer.append(dns.rrset.from_rdata_list(name, rds.ttl, list(rds)))
            r.answer.append(soa)
            write("xfr_client", "axfr-" + zone, b"\x00" + r.to_wire(max_size=65535))
            if zone == "bl.example.test":
                # IXFR shape: new SOA, old SOA, one deletion, new SOA, one addition, new SOA
                ix = dns.message.make_response(q)
                ix.id = 0x4242
                old = dns.rrset.from_text(zone + ".", soa.ttl, "IN", "SOA",
                                          str(soa[0]).replace("2026112401", "2026112400"))
                a = z.find_rrset("2.0.0.127." + zone + ".", "A")
                for rr in (soa, old, a, soa, a, soa):
                    ix.answer.append(rr)
                write("xfr_client", "ixfr-" + zone, b"\x01" + ix.to_wire(max_size=65535))


if __name__ == "__main__":
    main()
