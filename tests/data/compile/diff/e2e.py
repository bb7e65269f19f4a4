#!/usr/bin/env python3
"""End-to-end differential: rbldnsd vs gridns-zonesync load + gridns-resolver.

usage: e2e.py BUILD WORKDIR "SPEC [SPEC...]" ZONE QUERY...
Loads the specs into a fresh snapshot, starts both servers on loopback and
compares the A and TXT answers (values, not TTLs) for every query.
"""
import ipaddress, os, re, subprocess, sys, time, shutil, tempfile
build = os.path.abspath(sys.argv.pop(1))
workdir, specs, zone, qs = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4:]
snap = tempfile.mkdtemp(prefix='gridns-e2e-')
r = subprocess.run([build + '/bin/gridns-zonesync', 'load', '--snapshot', snap] + specs, cwd=workdir, capture_output=True, text=True)
if r.returncode: print(r.stderr); sys.exit(2)
subprocess.run(['chmod', '-R', 'a+rX', workdir])
rb = subprocess.Popen(['/usr/sbin/rbldnsd', '-n', '-u', 'nobody', '-b', '127.0.0.1/25782', '-w', workdir] + specs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
gr = subprocess.Popen([build + '/bin/gridns-resolver', '--snapshot', snap, '--listen', '127.0.0.1:25783', '--metrics', '', '--workers', '1'], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
time.sleep(0.8)
def qname(x):
    if ':' in x: return ipaddress.ip_address(x).reverse_pointer.replace('.ip6.arpa', '') + '.' + zone
    if x.count('.') == 3 and all(p.isdigit() for p in x.split('.')): return '.'.join(reversed(x.split('.'))) + '.' + zone
    return x.lower() + '.' + zone
def ask(port, names):
    args = ['kdig', '@127.0.0.1', '-p', str(port), '+noall', '+answer', '+header', '+time=2', '+retry=1']
    for n in names: args += [n, 'A', n, 'TXT']
    out = subprocess.run(args, capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        f = line.split(None, 4)
        if len(f) < 5 or line.startswith(';'): continue
        val = f[4]
        if f[3] == 'TXT': val = ''.join(re.findall(r'"((?:[^"\\]|\\.)*)"', val))
        res.setdefault((f[0].rstrip('.').lower(), f[3]), []).append(val)
    return res
try:
    names = [qname(q) for q in qs]
    a, b = ask(25782, names), ask(25783, names)
finally:
    rb.terminate(); gr.terminate(); rb.wait(); gr.wait()
    shutil.rmtree(snap, ignore_errors=True)
bad = 0
for q, n in zip(qs, names):
    for t in ('A', 'TXT'):
        x, y = sorted(a.get((n, t), [])), sorted(b.get((n, t), []))
        if x != y:
            bad += 1
            if bad < 10: print('DIFF', q, t, 'rbldnsd', x, 'gridns', y)
print('checked', len(qs), 'diffs', bad)
sys.exit(1 if bad else 0)
