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
  queries.txt   Q queries (dnsperf format "name A"), shuffled: 80% against
                bl.bench, 20% against dbl.bench, 30% of each listed.
  meta.json     counts, the probe query and its expected answer.

The probe (a listed address in 198.18.0.0/15, a range kept free of random
entries, written as the LAST line of bl.ip4set with its own value) is what
the harness polls to find the first correct answer: it is only answered
right once the whole file is in.

Unlisted queries are checked against the merged listed ranges, so "30%
listed" is exact, not approximate.
"""
import argparse
import bisect
import json
import os
import random

IP_ZONE = "bl.bench"
DOM_ZONE = "dbl.bench"
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
    ap.add_argument("--domains", type=int, default=100000, help="dnset entries")
    ap.add_argument("--queries", type=int, default=1000000, help="query lines")
    ap.add_argument("--listed", type=float, default=0.30, help="listed fraction")
    ap.add_argument("--seed", type=int, default=20261124)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    rng = random.Random(a.seed)

    ranges = gen_ip4set(rng, a.entries, os.path.join(a.outdir, "bl.ip4set"))
    exact, wild = gen_dnset(rng, a.domains, os.path.join(a.outdir, "dbl.dnset"))
    los, his = merge(ranges)

    def listed_ip(v):
        i = bisect.bisect_right(los, v) - 1
        return i >= 0 and v <= his[i]

    q = []
    n_ip = int(a.queries * 0.8)
    n_dom = a.queries - n_ip
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
    }
    with open(os.path.join(a.outdir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
