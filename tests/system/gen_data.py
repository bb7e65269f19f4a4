"""tests/system/gen_data.py - seeded, deterministic rbldnsd-format test data.

generate(dirpath, seed) writes one data set per rbldnsd dataset type (and a
combined one) into dirpath and returns a Dataset that says which zones to
load (zone, type, files) and which queries to send.  The same files are
loaded into gridns (zonesync load) and rbldnsd; rbldnsd is the oracle, so
this module never predicts answers.  It only knows, for the explicit
checks of the deliberate differences:

  ent_probes   (parent qname, child qname): names that should be empty
               non-terminals because the child is listed,
  long_txt     qname -> the full TXT text (> 255 octets) of that entry,
  witnesses    zone -> names that may be listed below a partial name (used
               to prove that an NXDOMAIN-vs-NODATA mismatch is an ENT),
  ranges       zone -> the address ranges as written (listed or excluded),
               to find candidate names below a partial name; rbldnsd
               confirms each candidate before it counts.

Run it by hand to look at the data:  python3 gen_data.py DIR [SEED]
"""
import ipaddress
import os
import random
import sys

class Dataset:
    def __init__(self):
        self.zones = []       # (zone, dstype, [file names])
        self.queries = []     # (qname, qtype)
        self.ent_probes = []  # (parent, child)
        self.long_txt = {}    # qname -> full text
        self.witnesses = {}   # zone -> [qname]
        self.ranges = {}      # zone -> (4 or 6, [(lo, hi, listed?)]) as written

    def add_zone(self, zone, dstype, files):
        self.zones.append((zone, dstype, list(files)))

    def zone_names(self):
        out = []
        for z, _, _ in self.zones:
            if z not in out:
                out.append(z)
        return out


_SCALE = [1.0]


def sc(n):
    """n scaled by generate(scale=...): smaller data for tests that only
    need every shape once (the dump parse test), same shapes either way."""
    return max(1, int(n * _SCALE[0]))


def rev4(addr, zone, octets=4):
    parts = str(ipaddress.IPv4Address(addr)).split(".")[:octets]
    return ".".join(reversed(parts)) + "." + zone


def rev6(addr, zone, nibbles=32):
    h = "%032x" % int(addr)
    return ".".join(reversed(h[:nibbles])) + "." + zone


def ip4(n):
    return str(ipaddress.IPv4Address(n & 0xFFFFFFFF))


def soa_ns(zone, serial, ttl=600):
    return [
        "$SOA %d ns1.%s. hostmaster.%s. %d 3600 600 86400 300" % (ttl, zone, zone, serial),
        "$NS 3600 ns1.%s ns2.%s" % (zone, zone),
    ]


LONG_WORDS = ("listed", "spam", "source", "see", "policy", "block", "abuse",
              "report", "network", "details", "contact", "lookup")


def long_text(rnd, n):
    words = []
    while len(" ".join(words)) < n:
        words.append(rnd.choice(LONG_WORDS))
    return " ".join(words)[:n].rstrip()  # rbldnsd drops trailing blanks


def qtype(rnd):
    r = rnd.random()
    if r < 0.45:
        return "A"
    if r < 0.80:
        return "TXT"
    if r < 0.93:
        return "ANY"
    return rnd.choice(("MX", "AAAA", "NS", "SOA", "CNAME"))


class Ip4Gen:
    """Builds ip4set/ip4trie lines and remembers interesting addresses."""

    def __init__(self, rnd, zone):
        self.rnd = rnd
        self.zone = zone
        self.points = []    # addresses worth querying
        self.listed = []    # addresses of positive entries (witness candidates)
        self.singles = []   # single listed addresses, no exclusion nearby
        self.ranges = []    # (lo, hi, listed?)

    def span(self, lo, hi, positive=True):
        r = self.rnd
        pts = [lo, hi, lo - 1, hi + 1, (lo + hi) // 2]
        pts += [r.randint(lo, hi) for _ in range(2)]
        self.points += [p & 0xFFFFFFFF for p in pts]
        self.ranges.append((lo, hi, positive))
        if positive:
            self.listed += [lo, hi, (lo + hi) // 2]

    def queries(self, ds, n, partial_share=0.04):
        r = self.rnd
        for _ in range(n):
            x = r.random()
            if x < partial_share and self.points:
                a = r.choice(self.points)
                ds.queries.append((rev4(a, self.zone, r.randint(1, 3)), qtype(r)))
            elif x < 0.93 and self.points:
                ds.queries.append((rev4(r.choice(self.points), self.zone), qtype(r)))
            else:
                ds.queries.append((rev4(r.getrandbits(32), self.zone), qtype(r)))
        ds.witnesses[self.zone] = [rev4(a, self.zone) for a in self.listed]
        ds.ranges[self.zone] = (4, self.ranges)
        # Empty non-terminals above single listed addresses.
        for a in self.singles[:6]:
            ds.ent_probes.append((rev4(a, self.zone, 3), rev4(a, self.zone)))
            ds.ent_probes.append((rev4(a, self.zone, 2), rev4(a, self.zone)))


def value_suffix(rnd, allow_txt=True):
    """A per-entry value in one of the rbldnsd forms, or nothing."""
    r = rnd.random()
    if r < 0.45:
        return ""
    if r < 0.55:
        return " :%d" % rnd.randint(3, 9)                # specific A, default TXT
    if r < 0.63:
        return " :%d:" % rnd.randint(3, 9)               # specific A, no TXT
    if r < 0.73:
        return " :127.0.%d.%d:Own text for $ (a=%d)" % (
            rnd.randint(0, 3), rnd.randint(2, 254), rnd.randint(0, 99))
    if r < 0.83:
        return " Bare text $1/$ $2"                      # default A, own TXT
    if r < 0.87:
        return " Costs $$5 for $ at $3"                  # "$$" literal dollar
    if r < 0.90:
        return " All of $1|$2|$3|$4|$5|$6|$7|$8|$9 for $"  # some $n undefined
    if r < 0.95:
        return " ; comment, default values"
    return " # another comment"


def gen_ip4set(ds, d, rnd):
    zone = "ip4set.test"
    g = Ip4Gen(rnd, zone)
    a = soa_ns(zone, 2026112401) + [
        "$TTL 1800",
        "$1 http://bl.example/lookup",
        "$2 for details",
        "$3 the gate",
        "$4 four", "$5 five", "$6 six", "$7 seven", "$8 eight", "$9 nine",
        ":127.0.0.2:Listed by test: $1?ip=$ $2",
        "# single addresses, with every value form",
    ]
    # Single IPs in 10.0.0.0/16 (kept clear of other entries).
    for i in range(sc(600)):
        n = (10 << 24) | rnd.randint(0, 0xFFFF)
        a.append(ip4(n) + value_suffix(rnd))
        g.span(n, n)
        if i % 50 == 0:
            g.singles.append(n)
    # Overlapping entries with different values (all values answer).
    for _ in range(30):
        n = (11 << 24) | rnd.randint(0, 0xFFFFFF)
        a.append(ip4(n) + " :3:first value for $")
        a.append(ip4(n) + " :4:second value for $")
        if rnd.random() < 0.5:
            a.append(ip4(n) + " :5:")
        g.span(n, n)
    # CIDRs of every prefix length; large ones are few and far apart.
    a.append("# CIDR /8../32")
    used8 = set()
    for plen in range(8, 33):
        count = 1 if plen < 12 else (2 if plen < 17 else 6)
        for _ in range(count):
            while True:
                first = rnd.randint(20, 120)
                if plen >= 16 or first not in used8:
                    break
            if plen < 16:
                used8.add(first)
            n = (first << 24) | rnd.getrandbits(24)
            n &= (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
            lo, hi = n, n | ((1 << (32 - plen)) - 1)
            a.append("%s/%d%s" % (ip4(lo), plen, value_suffix(rnd)))
            g.span(lo, hi)
            if plen >= 20 and rnd.random() < 0.5:
                # A more specific entry inside with another value.
                m = rnd.randint(lo, hi)
                a.append("%s :%d:inner $ of /%d" % (ip4(m), rnd.randint(3, 9), plen))
                g.span(m, m)
    # Abbreviated prefix forms.
    a += ["130.1.2", "130.3", "130.5.6-130.5.9", "130.10.0.1-200", "130.16-31"]
    for lo, hi in ((0x82010200, 0x820102FF), (0x82030000, 0x8203FFFF),
                   (0x82050600, 0x820509FF), (0x820A0001, 0x820A00C8),
                   (0x82100000, 0x821FFFFF)):
        g.span(lo, hi)
    # Ranges a-b with exclusions inside.
    a.append("# ranges and exclusions")
    for _ in range(sc(60)):
        lo = (140 << 24) | rnd.randint(0, 0xFFFFFF)
        hi = lo + rnd.choice((1, 7, 100, 255, 256, 300, 1000, 5000))
        a.append("%s-%s%s" % (ip4(lo), ip4(hi), value_suffix(rnd)))
        g.span(lo, hi)
        for _ in range(rnd.randint(0, 3)):
            x = rnd.randint(lo, hi)
            a.append("!" + ip4(x))
            g.points += [x - 1, x, x + 1]
        if hi - lo > 300 and rnd.random() < 0.5:
            x = rnd.randint(lo, hi - 16) & ~15
            a.append("!%s/28" % ip4(x))
            g.span(x, x + 15, positive=False)
    # A dense tangle in 200.0.0.0/16: CIDRs of several sizes, ranges and
    # exclusions overlapping each other with different values, where
    # rbldnsd's "most specific octet level decides" rule does all the work.
    a.append("# dense overlaps")
    for _ in range(sc(160)):
        kind = rnd.random()
        base = (200 << 24) | rnd.randint(0, 0x0FFF) << 4
        if kind < 0.5:
            plen = rnd.choice((16, 18, 20, 22, 23, 24, 25, 26, 28, 30, 31, 32))
            lo = base & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
            hi = lo | ((1 << (32 - plen)) - 1)
            text = "%s/%d" % (ip4(lo), plen)
        else:
            lo = base + rnd.randint(0, 15)
            hi = lo + rnd.choice((0, 3, 40, 255, 256, 700))
            text = "%s-%s" % (ip4(lo), ip4(hi))
        if rnd.random() < 0.3:
            a.append("!" + text)
            g.span(lo, hi, positive=False)
        else:
            a.append(text + value_suffix(rnd))
            g.span(lo, hi)
    # A new default value for the rest of this file.
    a += [":3:Default three for $ ($3)"]
    for _ in range(40):
        n = (150 << 24) | rnd.randint(0, 0xFFFFFF)
        a.append(ip4(n) + value_suffix(rnd))
        g.span(n, n)
    # Long TXT (> 255 octets): rbldnsd truncates, gridns splits.
    for i in range(4):
        n = (160 << 24) | (i << 8) | 9
        text = long_text(rnd, 270 + 20 * i)
        a.append("%s :2:=%s" % (ip4(n), text))  # "=": no $= base template
        g.span(n, n)
        ds.long_txt[rev4(n, zone)] = text
    # Answers near the 512-octet UDP limit: five TXT values that fit with or
    # without the optional NS RRset in authority (TXT query), and with their
    # A records do not (ANY: rbldnsd drops what does not fit, gridns sets TC
    # and answers whole over TCP).
    for k, width in enumerate((50, 60, 70, 78, 82, 86, 90, 40, 50, 60)):
        n = (210 << 24) | (k << 8) | 1
        for v in range(5):
            # with and without "$": the subject is only known when answering;
            # "$$" is one literal "$" in the answer
            text = ("near-512 value %d for $ " % v) if k in (1, 3) else \
                ("near-512 value %d costs $$$$$$ for $ " % v) if k >= 7 else ("near-512 value %d " % v)
            a.append("%s :%d:=%s" % (ip4(n), v + 2, text.ljust(width, "x")))
        g.span(n, n)
        ds.queries += [(rev4(n, zone), "TXT"), (rev4(n, zone), "ANY"), (rev4(n, zone), "A")]
    # Six values, two with the same TXT: the TXT RRset has five records and
    # fits in 512 octets, six would not.
    n = (210 << 24) | (20 << 8) | 1
    for v in range(6):
        a.append("%s :%d:=%s" % (ip4(n), v + 2, ("near-512 duplicate %d " % min(v, 4)).ljust(70, "y")))
    g.span(n, n)
    ds.queries += [(rev4(n, zone), "TXT"), (rev4(n, zone), "ANY"), (rev4(n, zone), "A")]
    # File b: its own default, the $= base template, more exclusions.
    b = [
        ":2:from file b: $",
        "$= Base template: $= (ip $) $2",
        "170.0.0.1 r123",
        "170.0.0.2",
        "170.0.0.3 =Not based: $ only",
        "170.0.0.4 :6:",
        "170.0.0.5 :7:with a $$ sign",
        "!10.0.0.0/24",   # an exclusion in one file excludes in the whole set
    ]
    for x in range(1, 6):
        g.span((170 << 24) | x, (170 << 24) | x)
    g.span(10 << 24, (10 << 24) | 255, positive=False)
    for _ in range(sc(150)):
        n = (171 << 24) | rnd.randint(0, 0xFFFF)
        b.append(ip4(n) + rnd.choice(("", " r%d" % rnd.randint(0, 999), " =plain $")))
        g.span(n, n)
    write(d, "ip4set-a.txt", a)
    write(d, "ip4set-b.txt", b)
    ds.add_zone(zone, "ip4set", ["ip4set-a.txt", "ip4set-b.txt"])
    g.queries(ds, sc(5200))
    ds.queries += [(zone, t) for t in ("SOA", "NS", "A", "TXT", "MX", "ANY")]


def gen_maxrange(ds, d, rnd):
    zone = "maxrange.test"
    g = Ip4Gen(rnd, zone)
    a = soa_ns(zone, 7) + ["$MAXRANGE4 /20", ":2:maxrange $"]
    # At most 5 entries rbldnsd ignores: it stops naming lines after 5.
    for plen in (8, 17, 19, 20, 22, 24, 27, 30, 32):
        n = ((30 + plen) << 24) | rnd.getrandbits(24)
        n &= (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
        hi = n | ((1 << (32 - plen)) - 1)
        a.append("%s/%d" % (ip4(n), plen))   # /8../18 are ignored
        g.span(n, hi, positive=plen >= 20)
    a.append("$MAXRANGE4 4096")  # may lower, never raise
    a.append("$MAXRANGE4 /16")   # ignored: would raise
    n = 90 << 24
    a.append("%s-%s" % (ip4(n), ip4(n + 5000)))   # > 4096: ignored
    g.span(n, n + 5000, positive=False)
    write(d, "maxrange.txt", a)
    ds.add_zone(zone, "ip4set", ["maxrange.txt"])
    g.queries(ds, sc(600))


def gen_ip4tset(ds, d, rnd):
    zone = "ip4tset.test"
    g = Ip4Gen(rnd, zone)
    a = soa_ns(zone, 99) + ["$TTL 900", ":127.0.0.4:trivial set lists $"]
    for i in range(sc(800)):
        n = (12 << 24) | rnd.randint(0, 0x3FFF)
        a.append(ip4(n))
        g.span(n, n)
        if i % 100 == 0:
            g.singles.append(n)
    write(d, "ip4tset.txt", a)
    ds.add_zone(zone, "ip4tset", ["ip4tset.txt"])
    g.queries(ds, sc(2400))


def gen_ip4trie(ds, d, rnd):
    zone = "ip4trie.test"
    g = Ip4Gen(rnd, zone)
    a = soa_ns(zone, 5) + [":127.0.0.2:trie default $"]
    # Nested prefixes with their own values: the longest prefix decides.
    for _ in range(25):
        first = rnd.randint(1, 126)
        plen = rnd.randint(8, 20)
        n = ((first << 24) | rnd.getrandbits(24)) & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
        hi = n | ((1 << (32 - plen)) - 1)
        a.append("%s/%d :%d:level %d for $" % (ip4(n), plen, rnd.randint(2, 9), plen))
        g.span(n, hi)
        m = n
        for sub in sorted(rnd.sample(range(plen + 1, 33), 3)):
            m = rnd.randint(m, hi) & ((0xFFFFFFFF << (32 - sub)) & 0xFFFFFFFF)
            hi2 = m | ((1 << (32 - sub)) - 1)
            if rnd.random() < 0.25:
                a.append("!%s/%d" % (ip4(m), sub))
                g.span(m, hi2, positive=False)
            else:
                a.append("%s/%d%s" % (ip4(m), sub, value_suffix(rnd)))
                g.span(m, hi2)
            hi = hi2
    # A dense tangle in 201.0.0.0/16: random prefixes and exclusions nested
    # every which way; the longest matching prefix decides.
    seen = set()
    for _ in range(sc(200)):
        plen = rnd.randint(16, 32)
        n = ((201 << 24) | rnd.getrandbits(12) << 4) & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
        if (n, plen) in seen:
            continue
        seen.add((n, plen))
        hi = n | ((1 << (32 - plen)) - 1)
        if rnd.random() < 0.3:
            a.append("!%s/%d" % (ip4(n), plen))
            g.span(n, hi, positive=False)
        else:
            a.append("%s/%d%s" % (ip4(n), plen, value_suffix(rnd)))
            g.span(n, hi)
    for _ in range(sc(500)):
        plen = rnd.randint(22, 32)
        n = ((13 << 24) | rnd.getrandbits(24)) & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
        a.append("%s/%d%s" % (ip4(n), plen, value_suffix(rnd)))
        g.span(n, n | ((1 << (32 - plen)) - 1))
        if plen == 32 and len(g.singles) < 6:
            g.singles.append(n)
    write(d, "ip4trie.txt", a)
    ds.add_zone(zone, "ip4trie", ["ip4trie.txt"])
    g.queries(ds, sc(3000))


def v6(n):
    return ipaddress.IPv6Address(n & ((1 << 128) - 1))


def gen_ip6(ds, d, rnd):
    # ip6tset: /64s as four words, exclusions of single addresses.
    zone = "ip6tset.test"
    pts, listed, ranges = [], [], []
    a = soa_ns(zone, 3) + [":127.0.0.5:v6 /64 listed: $"]
    base = 0x20010DB8 << 96
    for i in range(sc(300)):
        p = base | (rnd.getrandbits(32) << 64)
        words = ["%x" % ((p >> s) & 0xFFFF) for s in (112, 96, 80, 64)]
        a.append(":".join(words))
        pts += [p, p | rnd.getrandbits(64), p | 0xFFFFFFFFFFFFFFFF, p - 1, p + (1 << 64)]
        listed.append(p | 1)
        ranges.append((p, p | 0xFFFFFFFFFFFFFFFF, True))
        if rnd.random() < 0.2:
            x = p | rnd.getrandbits(16)
            a.append("!%s" % v6(x))   # compressed "::" form
            pts += [x, x - 1, x + 1]
            ranges.append((x, x, False))
    write(d, "ip6tset.txt", a)
    ds.add_zone(zone, "ip6tset", ["ip6tset.txt"])
    ds.ranges[zone] = (6, ranges)
    six_queries(ds, rnd, zone, pts, listed, sc(1800))

    zone = "ip6trie.test"
    pts, listed, seen, ranges = [], [], set(), []
    a = soa_ns(zone, 4) + ["$TTL 600", ":127.0.1.2: Listed, see http://example.com/lookup?$",
                           "::1 # localhost", "2001:21ab:c000::/36",
                           "2001:21ab:def7:4242::/64 :127.0.1.3: This one smells funny",
                           "2605:6001:42::/52", "!2605:6001:42::bead"]
    pts += [1, 0, 2, 0x200121abc0000000 << 64, 0x2605600100420000 << 64,
            int(ipaddress.IPv6Address("2605:6001:42::bead")),
            int(ipaddress.IPv6Address("2001:21ab:def7:4242::77"))]
    listed += [1]
    for _ in range(sc(600)):
        plen = rnd.choice((16, 24, 32, 40, 44, 48, 52, 56, 60, 63, 64, 65, 72, 80,
                           96, 112, 120, 124, 127, 128))
        p = ((0x2A00 + rnd.randint(0, 0xFF)) << 112) | rnd.getrandbits(112)
        p &= ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1)
        hi = p | ((1 << (128 - plen)) - 1)
        if (p, plen) in seen:
            continue
        seen.add((p, plen))
        excl = rnd.random() < 0.15
        a.append("%s%s/%d%s" % ("!" if excl else "", v6(p), plen,
                                "" if excl else value_suffix(rnd)))
        pts += [p, hi, p - 1, hi + 1, rnd.randint(p, hi)]
        ranges.append((p, hi, not excl))
        if not excl:
            listed.append(p)
    for text, pos in (("::1/128", True), ("2001:21ab:c000::/36", True),
                      ("2001:21ab:def7:4242::/64", True), ("2605:6001:42::/52", True),
                      ("2605:6001:42::bead/128", False)):
        net = ipaddress.IPv6Network(text)
        ranges.append((int(net.network_address), int(net.broadcast_address), pos))
    write(d, "ip6trie.txt", a)
    ds.add_zone(zone, "ip6trie", ["ip6trie.txt"])
    ds.ranges[zone] = (6, ranges)
    six_queries(ds, rnd, zone, pts, listed, sc(2400))


def six_queries(ds, rnd, zone, pts, listed, n):
    for _ in range(n):
        x = rnd.random()
        if x < 0.04:
            ds.queries.append((rev6(rnd.choice(pts), zone, rnd.choice((8, 16, 20, 31))), qtype(rnd)))
        elif x < 0.94:
            ds.queries.append((rev6(rnd.choice(pts), zone), qtype(rnd)))
        else:
            ds.queries.append((rev6(rnd.getrandbits(128), zone), qtype(rnd)))
    ds.witnesses[zone] = [rev6(p, zone) for p in listed]


WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
         "india", "juliet", "kilo", "lima", "mike", "nov", "oscar", "papa")


def dom(rnd, labels):
    return ".".join(rnd.choice(WORDS) + ("%d" % rnd.randint(0, 40) if rnd.random() < 0.6 else "")
                    for _ in range(labels))


def gen_dnset(ds, d, rnd):
    zone = "dnset.test"
    a = soa_ns(zone, 0) + [":127.0.0.3:domain $ is listed", "$1 https://rhs.example/q?d="]
    names, listed = [], []
    seen = set()
    for _ in range(sc(1200)):
        base = dom(rnd, rnd.randint(2, 4)) + rnd.choice((".com", ".net", ".org", ".example"))
        if base in seen:
            continue
        seen.add(base)
        kind = rnd.random()
        if kind < 0.6:
            line = base
            listed.append(base)
        elif kind < 0.8:
            line = "*." + base
            listed.append("x." + base)
        else:
            line = "." + base
            listed += [base, "y." + base]
        a.append(line + value_suffix(rnd).replace("$1/$", "$1$"))
        names += [base, "x." + base, "a.b." + base, base.split(".", 1)[1], "q" + base]
        if kind >= 0.6 and rnd.random() < 0.4:
            sub = rnd.choice(WORDS) + "." + base
            a.append("!" + sub)
            names += [sub, "z." + sub]
    a += ["Mixed.CASE.Example", "*.Wild.Case.Example :4:wild $", "test", ".invalid :5:"]
    names += ["mixed.case.example", "MIXED.case.EXAMPLE", "a.wild.case.example", "wild.case.example",
              "test", "invalid", "x.invalid", "x.test"]
    listed += ["mixed.case.example", "a.wild.case.example", "test"]
    # An exact entry with a wildcard above it: the exact entry decides.
    a += ["*.prec.example :2:wild", "exact.prec.example :3:exact", "!no.prec.example"]
    names += ["exact.prec.example", "sub.exact.prec.example", "no.prec.example",
              "other.prec.example", "prec.example", "deeper.no.prec.example"]
    listed += ["exact.prec.example", "other.prec.example", "invalid", "x.invalid"]
    for i in range(2):
        n = "long%d.example" % i
        text = long_text(rnd, 300 + 40 * i)
        a.append("%s :2:%s" % (n, text))
        ds.long_txt[n + "." + zone] = text
        names.append(n)
    write(d, "dnset.txt", a)
    ds.add_zone(zone, "dnset", ["dnset.txt"])
    for _ in range(sc(3600)):
        ds.queries.append((rnd.choice(names) + "." + zone, qtype(rnd)))
    for n in ("www.dnset.test", "com.dnset.test", "dnset.test"):
        for t in ("A", "TXT", "SOA", "NS"):
            ds.queries.append((n, t))
    ds.witnesses[zone] = [n + "." + zone for n in listed]
    for n in listed[:60]:
        # Parents of exact entries, and of names listed by a wildcard
        # ("*.base" lists x.base, so base is an empty non-terminal too).
        if n.count(".") >= 2:
            ds.ent_probes.append((n.split(".", 1)[1] + "." + zone, n + "." + zone))


def gen_generic(ds, d, rnd):
    zone = "generic.test"
    a = soa_ns(zone, 11) + [
        "$TTL 3000",
        "@ A 127.0.0.8",
        "@ MX 10 mx1.generic.test",
        "@ MX 20 mx2.generic.test",
        "@ TXT \"generic zone, $ is not a template here\"",
        "www A 127.0.0.8",
        "www A 127.0.0.9",
        "mail 600 A 192.0.2.25",
        "mail MX 5 mail.generic.test",
        "info TXT \"one two three\"",
        "plain TXT unquoted words here",
        "deep.sub A 127.0.0.10",
        "Upper A 127.0.0.11",
    ]
    names = ["generic.test", "www", "mail", "info", "plain", "deep.sub", "sub", "upper",
             "UPPER", "nothere", "x.www", "x.deep.sub"]
    for i in range(80):
        n = "h%d" % i + ("." + rnd.choice(("pool", "pool.x")) if rnd.random() < 0.4 else "")
        t = rnd.choice(("A", "TXT", "MX"))
        if t == "A":
            a.append("%s A 127.0.%d.%d" % (n, rnd.randint(0, 9), rnd.randint(1, 254)))
        elif t == "TXT":
            a.append("%s TXT \"host %d text\"" % (n, i))
        else:
            a.append("%s %d MX %d mx%d.example.net" % (n, rnd.randint(60, 9000), rnd.randint(0, 50), i))
        names += [n, "no" + n]
    names += ["pool", "x.pool"]
    write(d, "generic.txt", a)
    ds.add_zone(zone, "generic", ["generic.txt"])
    for _ in range(sc(1200)):
        n = rnd.choice(names)
        q = n if n.endswith(zone) else n + "." + zone
        ds.queries.append((q, rnd.choice(("A", "TXT", "MX", "ANY", "AAAA", "SOA"))))
    ds.ent_probes.append(("sub." + zone, "deep.sub." + zone))
    ds.witnesses[zone] = ["deep.sub." + zone, "www." + zone] + [
        n + "." + zone for n in names if n.startswith("h")]


def gen_combined(ds, d, rnd):
    zone = "combined.test"
    a = ["# common section", "$NS 1w ns1.ex.com ns2.ex.com",
         "$SOA 1w ns1.ex.com admin.ex.com 20261124 2h 2h 1w 1h", "$TTL 1h",
         "$DATASET ip4set:proxy proxies @", ":2:Open proxy, see http://bl.ex.com/proxy/$",
         "127.0.0.2", "127.0.0.10"]
    extra = []
    for _ in range(sc(200)):
        n = (14 << 24) | rnd.randint(0, 0xFFFF)
        extra.append(n)
        a.append(ip4(n))
    a += ["$DATASET ip4set:relay relays @", ":3:Open relay, see http://bl.ex.com/relay/$",
          "127.0.0.2", "127.0.2.10", "14.0.0.0/18 :4:relay block $"]
    a += ["$DATASET ip4trie:multihop-relay multihop", "$TTL 120",
          ":4:Multihop open relay, see http://bl.ex.com/relay/$",
          "127.0.0.2", "127.0.9.12", "14.0.0.0/20", "!14.0.3.0/24"]
    a += ["$DATASET dnset rhs", ":2:rhs listed $", "spam.example", ".bad.example", "!ok.bad.example"]
    a += ["$DATASET ip6trie v6 @", "2001:db8:77::/48 :6:v6 $"]
    a += ["$DATASET generic:common proxies relays multihop @", "@ A 127.0.0.8",
          "www A 127.0.0.8", "@ MX 10 mx.ex.com"]
    write(d, "combined.txt", a)
    ds.add_zone(zone, "combined", ["combined.txt"])
    pts = [0x7F000002, 0x7F00000A, 0x7F00020A, 0x7F00090C, 0x7F000001] + extra
    pts += [(14 << 24) | rnd.randint(0, 0x5FFF) for _ in range(200)]
    subs = ["", "proxies.", "relays.", "multihop.", "rhs.", "nosuch."]
    for _ in range(sc(1500)):
        sub = rnd.choice(subs)
        r = rnd.random()
        if r < 0.7:
            q = rev4(rnd.choice(pts), sub + zone)
        elif r < 0.8:
            q = rnd.choice(("spam.example", "x.bad.example", "bad.example", "ok.bad.example",
                            "z.ok.bad.example", "example")) + "." + sub + zone
        elif r < 0.9:
            q = rnd.choice(("www.", "", "mail.")) + sub + zone
        else:
            q = rev6(int(ipaddress.IPv6Address("2001:db8:77::5")) + rnd.randint(-2, 2) * (1 << 80),
                     sub + zone)
        ds.queries.append((q, qtype(rnd)))
    for s in subs:
        ds.queries += [(s + zone, t) for t in ("SOA", "NS", "A", "MX", "TXT")]
    ds.witnesses[zone] = [rev4(p, s + zone) for p in pts[:40] for s in subs[:4]]


def gen_outside(ds, rnd):
    # Names outside every zone and odd shapes inside them.
    for q in ("example.org", "test", "ip4set.test.example", "xip4set.test", "foo.bar"):
        ds.queries.append((q, "A"))
    for q in ("1.2.3.4.5.ip4set.test", "x.0.0.10.ip4set.test", "256.0.0.10.ip4set.test",
              "1.0.0.010.ip4set.test", "-1.0.0.10.ip4set.test", "a.ip6trie.test",
              "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6trie.test",
              "g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6trie.test"):
        ds.queries += [(q, "A"), (q, "TXT")]


def write(d, name, lines):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(p, 0o644)


def generate(d, seed=20261124, scale=1.0):
    _SCALE[0] = scale
    rnd = random.Random(seed)
    ds = Dataset()
    gen_ip4set(ds, d, rnd)
    gen_maxrange(ds, d, rnd)
    gen_ip4tset(ds, d, rnd)
    gen_ip4trie(ds, d, rnd)
    gen_ip6(ds, d, rnd)
    gen_dnset(ds, d, rnd)
    gen_generic(ds, d, rnd)
    gen_combined(ds, d, rnd)
    gen_outside(ds, rnd)
    # Every ENT probe and long-TXT name is queried too.
    for p, c in ds.ent_probes:
        ds.queries += [(p, "A"), (c, "A")]
    for q in ds.long_txt:
        ds.queries += [(q, "TXT"), (q, "ANY")]
    return ds


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    data = generate(out, int(sys.argv[2]) if len(sys.argv) > 2 else 20261124)
    for z in data.zones:
        print("%s:%s:%s" % (z[0], z[1], ",".join(z[2])))
    print("%d queries, %d ENT probes, %d long TXT" % (
        len(data.queries), len(data.ent_probes), len(data.long_txt)))
