#!/usr/bin/python3
"""Generate the benchmark data set (seeded, so every run measures the same data).

Writes into OUTDIR:
  bl.ip4set     N IPv4 entries for zone bl.bench, rbldnsd ip4set format
                (including the RFC 5782 test point 127.0.0.2):
                ~85% single addresses, ~12% CIDR /24../31, ~3% CIDR /16../23;
                ~10% of the entries carry their own A+TXT value.
  dbl.dnset     M domains for zone dbl.bench (including the RFC 5782 test
                name "test"), rbldnsd dnset format: ~10% are
                ".domain" (the name and all its subdomains), ~10% carry their
                own value.
  bl6.ip6trie   K IPv6 entries for zone bl6.bench (including the RFC 5782
                test point ::ffff:7f00:2), rbldnsd ip6trie format, all in
                2000::/3: ~55% single addresses (/128, eight words), ~35% /64
                (four words, as DNSBLs list them), ~10% shorter prefixes
                /32../63 ("2001:db8:a/44", trailing zero words left out);
                ~10% carry their own value.
  queries.txt   Q queries (dnsperf format "name A"), shuffled: 70% against
                bl.bench, 10% against bl6.bench (32 reversed nibbles), 20%
                against dbl.bench (--ip6-share, --dom-share), 30% of each
                listed.
  meta.json     counts, the probe query and its expected answer.

--ip4-only writes bl.ip4set and meta.json only (no other zone, no queries),
with a faster writer that keeps nothing in memory: the start-up phase's
large data set (10M entries), whose probe is all that is asked.

The probe (a listed address in 198.18.0.0/15, a range kept free of random
entries, written as the LAST line of bl.ip4set with its own value) is what
the harness polls to find the first correct answer: it is only answered
right once the whole file is in.

Unlisted queries are checked against the merged listed ranges, so "30%
listed" is exact, not approximate.  Half of the unlisted IPv6 queries are
near a listed entry (another /64 in the same /48, or another address in the
same /64) so that the lookup has to go deep, the other half anywhere in
2000::/3.
"""
import argparse
import bisect
import json
import os
import random

IP_ZONE = "bl.bench"
DOM_ZONE = "dbl.bench"
IP6_ZONE = "bl6.bench"
TP6 = 0xFFFF7F000002  # ::ffff:7f00:2, RFC 5782's listed IPv6 test point
M128 = (1 << 128) - 1
PROBE_IP = (198 << 24) | (18 << 16) | 77  # 198.18.0.77
PROBE_A = "127.0.0.4"
RESERVED = ((198 << 24) | (18 << 16), (198 << 24) | (19 << 16) | 0xFFFF)  # 198.18/15
SOA = "$SOA 3600 ns.bench. hostmaster.bench. 2026112401 3600 600 604800 60\n$NS 3600 ns.bench.\n"


def ip_str(v):
    return "%d.%d.%d.%d" % (v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255)


def rev_name(v, zone):
    return "%d.%d.%d.%d.%s" % (v & 255, (v >> 8) & 255, (v >> 16) & 255, v >> 24, zone)


def random_base(rng):
    """A random unicast address outside 0/8, 10/8, 127/8, 224/3 and the probe range."""
    while True:
        v = rng.getrandbits(32)
        o = v >> 24
        if o in (0, 10, 127) or o >= 224:
            continue
        if RESERVED[0] <= v <= RESERVED[1]:
            continue
        return v


def gen_ip4set(rng, n, path):
    # RFC 5782 section 5: an IPv4 DNSxL lists 127.0.0.2 and not 127.0.0.1.
    # gridns's self-check queries these test points, as monitoring does.
    ranges = [(0x7F000002, 0x7F000002)]  # (lo, hi)
    lines = [":127.0.0.2:Listed in bl.bench, see http://bl.bench/lookup?ip=$\n", SOA,
             "127.0.0.2\n"]
    r = rng.random
    for i in range(n - 2):
        base = random_base(rng)
        x = r()
        if x < 0.85:
            lo = hi = base
            txt = ip_str(base)
        else:
            plen = rng.randint(24, 31) if x < 0.97 else rng.randint(16, 23)
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
            lo = base & mask
            hi = lo | (~mask & 0xFFFFFFFF)
            if lo <= RESERVED[1] and hi >= RESERVED[0]:
                lo = hi = base
                txt = ip_str(base)
            else:
                txt = "%s/%d" % (ip_str(lo), plen)
        if r() < 0.10:
            txt += " :127.0.0.%d:Entry %d, listed for reason %d: $" % (3 + i % 5, i, i % 17)
        lines.append(txt + "\n")
        ranges.append((lo, hi))
    lines.append("%s :%s:bench probe $\n" % (ip_str(PROBE_IP), PROBE_A))
    ranges.append((PROBE_IP, PROBE_IP))
    with open(path, "w") as f:
        f.writelines(lines)
    return ranges


def gen_ip4set_fast(rng, n, path):
    """The same distribution as gen_ip4set, written in chunks and keeping
    nothing: about 1.3 s per million entries instead of 2 (10M: ~13 s)."""
    octet = [str(i) for i in range(256)]
    bits, r, randint = rng.getrandbits, rng.random, rng.randint
    res_lo, res_hi = RESERVED
    with open(path, "w") as f:
        f.write(":127.0.0.2:Listed in bl.bench, see http://bl.bench/lookup?ip=$\n" + SOA + "127.0.0.2\n")
        i, todo = 0, n - 2
        while i < todo:
            end = min(todo, i + 200000)
            out = []
            add = out.append
            for k in range(i, end):
                while True:
                    v = bits(32)
                    o = v >> 24
                    if not (o in (0, 10, 127) or o >= 224 or res_lo <= v <= res_hi):
                        break
                x = r()
                if x < 0.85:
                    txt = "%s.%s.%s.%s" % (octet[o], octet[(v >> 16) & 255], octet[(v >> 8) & 255], octet[v & 255])
                else:
                    plen = randint(24, 31) if x < 0.97 else randint(16, 23)
                    mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
                    lo = v & mask
                    if lo <= res_hi and (lo | (~mask & 0xFFFFFFFF)) >= res_lo:
                        lo, plen = v, 32
                    txt = "%s.%s.%s.%s" % (octet[lo >> 24], octet[(lo >> 16) & 255],
                                           octet[(lo >> 8) & 255], octet[lo & 255])
                    if plen < 32:
                        txt += "/%d" % plen
                if r() < 0.10:
                    txt += " :127.0.0.%d:Entry %d, listed for reason %d: $" % (3 + k % 5, k, k % 17)
                add(txt)
            add("")
            f.write("\n".join(out))
            i = end
        f.write("%s :%s:bench probe $\n" % (ip_str(PROBE_IP), PROBE_A))


def ip6_str(v, words=8):
    """The first `words` 16-bit words of v, uncompressed ("2001:db8:0:1")."""
    return ":".join("%x" % ((v >> (112 - 16 * i)) & 0xFFFF) for i in range(words))


def rev6_name(v, zone):
    return ".".join(reversed("%032x" % v)) + "." + zone


def random_base6(rng):
    """A random address in 2000::/3 (global unicast)."""
    return (1 << 125) | rng.getrandbits(125)


def gen_ip6trie(rng, n, path):
    # RFC 5782 section 5: an IPv6 DNSxL lists ::FFFF:7F00:2 and not
    # ::FFFF:7F00:1 (gridns's self-check asks these too).
    ranges = [(TP6, TP6, 128)]  # (lo, hi, prefix length)
    lines = [":127.0.0.2:Listed in bl6.bench\n", SOA, "::ffff:7f00:2\n"]
    seen = {(TP6, 128)}
    r = rng.random
    i = 0
    while len(ranges) < n:
        base = random_base6(rng)
        x = r()
        plen = 128 if x < 0.55 else 64 if x < 0.90 else rng.randint(32, 63)
        lo = base & (M128 ^ ((1 << (128 - plen)) - 1))
        if (lo, plen) in seen:  # ip6trie refuses a second entry of a prefix
            continue
        seen.add((lo, plen))
        hi = lo | ((1 << (128 - plen)) - 1)
        if plen == 128:
            txt = ip6_str(lo)
        elif plen == 64:
            txt = ip6_str(lo, 4)
        else:
            txt = "%s/%d" % (ip6_str(lo, (plen + 15) // 16), plen)
        if r() < 0.10:
            txt += " :127.0.0.%d:IPv6 entry %d: $" % (3 + i % 5, i)
        lines.append(txt + "\n")
        ranges.append((lo, hi, plen))
        i += 1
    with open(path, "w") as f:
        f.writelines(lines)
    return ranges


def merge(ranges):
    ranges = sorted(ranges)
    los, his = [], []
    for lo, hi in ranges:
        if his and lo <= his[-1] + 1:
            if hi > his[-1]:
                his[-1] = hi
        else:
            los.append(lo)
            his.append(hi)
    return los, his


def gen_dnset(rng, m, path):
    # RFC 5782 section 5: a domain DNSxL lists TEST and not INVALID.
    exact, wild = [], []
    lines = [":127.0.0.2:Domain $ is listed in dbl.bench\n", SOA, "test\n"]
    tlds = ("com", "net", "org", "info", "biz", "ru", "cn", "top", "xyz", "de")
    for i in range(m - 1):
        name = "d%x%d.%s" % (rng.getrandbits(24), i, tlds[i % len(tlds)])
        if rng.random() < 0.10:
            line = "." + name
            wild.append(name)
        else:
            line = name
            exact.append(name)
        if rng.random() < 0.10:
            line += " :127.0.0.%d:Domain entry %d: $" % (3 + i % 5, i)
        lines.append(line + "\n")
    with open(path, "w") as f:
        f.writelines(lines)
    return exact, wild


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--entries", type=int, default=1000000, help="ip4set entries")
    ap.add_argument("--domains", type=int, default=200000, help="dnset entries")
    ap.add_argument("--ip6", type=int, default=100000, help="ip6trie entries (0: no IPv6 zone)")
    ap.add_argument("--ip6-share", type=float, default=0.10, help="share of the queries against bl6.bench")
    ap.add_argument("--dom-share", type=float, default=0.20, help="share of the queries against dbl.bench")
    ap.add_argument("--ip4-only", action="store_true",
                    help="write bl.ip4set (fast writer) and meta.json only")
    ap.add_argument("--queries", type=int, default=1000000, help="query lines")
    ap.add_argument("--listed", type=float, default=0.30, help="listed fraction")
    ap.add_argument("--seed", type=int, default=20261124)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    rng = random.Random(a.seed)
    if a.ip4_only:
        gen_ip4set_fast(rng, a.entries, os.path.join(a.outdir, "bl.ip4set"))
        meta = {"seed": a.seed, "entries": a.entries, "ip4_only": True, "ip_zone": IP_ZONE,
                "probe": rev_name(PROBE_IP, IP_ZONE), "probe_a": PROBE_A}
        with open(os.path.join(a.outdir, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        print(json.dumps(meta))
        return

    ranges = gen_ip4set(rng, a.entries, os.path.join(a.outdir, "bl.ip4set"))
    exact, wild = gen_dnset(rng, a.domains, os.path.join(a.outdir, "dbl.dnset"))
    los, his = merge(ranges)
    ranges6 = gen_ip6trie(rng, a.ip6, os.path.join(a.outdir, "bl6.ip6trie")) if a.ip6 > 0 else []
    los6, his6 = merge([(lo, hi) for lo, hi, _ in ranges6])

    def listed_ip(v):
        i = bisect.bisect_right(los, v) - 1
        return i >= 0 and v <= his[i]

    def listed_ip6(v):
        i = bisect.bisect_right(los6, v) - 1
        return i >= 0 and v <= his6[i]

    q = []
    n_ip6 = int(a.queries * a.ip6_share) if ranges6 else 0
    n_dom = int(a.queries * a.dom_share)
    n_ip = a.queries - n_ip6 - n_dom
    for i in range(n_ip):
        if rng.random() < a.listed:
            lo, hi = ranges[rng.randrange(len(ranges))]
            v = lo + rng.randrange(hi - lo + 1)
        else:
            while True:
                v = random_base(rng)
                if not listed_ip(v):
                    break
        q.append(rev_name(v, IP_ZONE) + " A\n")
    for i in range(n_ip6):
        lo, hi, plen = ranges6[rng.randrange(len(ranges6))]
        if rng.random() < a.listed:
            v = lo + rng.randrange(hi - lo + 1)
        else:
            while True:
                if rng.random() < 0.5:
                    # Near a listed entry: for a single address another
                    # one of the same /64, for a prefix its sibling (the
                    # same length, last prefix bit flipped).
                    if plen == 128:
                        v = (lo & ~((1 << 64) - 1)) | rng.getrandbits(64)
                    else:
                        v = (lo ^ (1 << (128 - plen))) | rng.getrandbits(128 - plen)
                else:
                    v = random_base6(rng)
                if not listed_ip6(v):
                    break
        q.append(rev6_name(v, IP6_ZONE) + " A\n")
    for i in range(n_dom):
        if rng.random() < a.listed:
            if wild and rng.random() < 0.3:
                name = "mail%d.%s" % (i % 7, wild[rng.randrange(len(wild))])
            else:
                name = exact[rng.randrange(len(exact))]
        else:
            name = "clean%x%d.example" % (rng.getrandbits(20), i)
        q.append("%s.%s A\n" % (name, DOM_ZONE))
    rng.shuffle(q)
    with open(os.path.join(a.outdir, "queries.txt"), "w") as f:
        f.writelines(q)
    meta = {
        "seed": a.seed, "entries": a.entries, "domains": a.domains, "queries": len(q),
        "listed_fraction": a.listed, "ip_zone": IP_ZONE, "dom_zone": DOM_ZONE,
        "probe": rev_name(PROBE_IP, IP_ZONE), "probe_a": PROBE_A,
        "merged_ranges": len(los),
        "ip6": len(ranges6), "ip6_zone": IP6_ZONE if ranges6 else None,
        "merged_ranges6": len(los6),
        "queries_by_zone": {IP_ZONE: n_ip, IP6_ZONE: n_ip6, DOM_ZONE: n_dom},
    }
    with open(os.path.join(a.outdir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
