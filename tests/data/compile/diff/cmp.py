#!/usr/bin/env python3
"""Differential check: rbldnsd vs a gridns zone image, same source files.

usage: cmp.py WORKDIR IMGQ "SPEC [SPEC...]" ZONE QUERY...
QUERY is an IPv4 or IPv6 address (asked in reversed form) or a domain name
(asked as NAME.ZONE).  rbldnsd is started on WORKDIR (files must be readable
by nobody); IMGQ (built from imgq.c) computes what the image answers.  Prints
every difference and a last line "checked N diffs M"; exits 1 on differences.
"""
import ipaddress, os, re, subprocess, sys, time

workdir, imgq, specs, zone, qs = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4], sys.argv[5:]
port = int(os.environ.get('RBQ_PORT', '25782'))
subprocess.run(['chmod', '-R', 'a+rX', workdir])
rb = subprocess.Popen(['/usr/sbin/rbldnsd', '-n', '-u', 'nobody', '-b', '127.0.0.1/%d' % port,
                       '-w', workdir] + specs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(0.5)


def qname(x):
    if ':' in x:
        return ipaddress.ip_address(x).reverse_pointer.replace('.ip6.arpa', '') + '.' + zone
    if x.count('.') == 3 and all(p.isdigit() for p in x.split('.')):
        return '.'.join(reversed(x.split('.'))) + '.' + zone
    return x.lower() + '.' + zone


def ask_rbldnsd(names):
    args = ['kdig', '@127.0.0.1', '-p', str(port), '+noall', '+answer', '+time=2', '+retry=1']
    for n in names:
        args += [n, 'A', n, 'TXT']
    out = subprocess.run(args, capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        f = line.split(None, 4)
        if len(f) < 5:
            continue
        val = f[4]
        if f[3] == 'TXT':
            val = ''.join(re.findall(r'"((?:[^"\\]|\\.)*)"', val))
        res.setdefault((f[0].rstrip('.').lower(), f[3]), set()).add(val)
    return res


def ask_image():
    out = subprocess.run([imgq] + specs + ['--'] + qs, capture_output=True, text=True,
                         cwd=workdir).stdout
    res, cur = {}, None
    for line in out.splitlines():
        if line.startswith('Q '):
            cur = line[2:].split('|')[0]
            res[cur] = (set(), set())
        elif cur and line.startswith('  A '):
            parts = line[4:].split(' TXT ', 1)
            res[cur][0].add(parts[0])
            if len(parts) > 1:
                res[cur][1].add(parts[1][1:-1])
    return res


try:
    names = [qname(q) for q in qs]
    theirs, ours = ask_rbldnsd(names), ask_image()
finally:
    rb.terminate()
    rb.wait()
bad = 0
for q, n in zip(qs, names):
    ra, rt = theirs.get((n, 'A'), set()), theirs.get((n, 'TXT'), set())
    oa, ot = ours.get(q, (set(), set()))
    if (ra, rt) != (oa, ot):
        bad += 1
        print('DIFF', q, 'rbldnsd', sorted(ra), sorted(rt), 'gridns', sorted(oa), sorted(ot))
print('checked', len(qs), 'diffs', bad)
sys.exit(1 if bad else 0)
