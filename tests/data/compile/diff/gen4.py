# gen4.py SEED [TYPE] [N] - random rbldnsd source file(s) in the cwd for run.sh;
# prints the queries worth asking (range boundaries +-1).  See run.sh.
import random, sys
random.seed(int(sys.argv[1])); typ = sys.argv[2]
def ip(x): return '%d.%d.%d.%d' % (x>>24, x>>16&255, x>>8&255, x&255)
lines = []; qs = set()
base = 10 << 24
def rnd(): return base + random.choice([random.randrange(0, 1<<10), random.randrange(0, 1<<18), random.randrange(0, 1<<24)])
vals = ['', ' :3:three $', ' :4:', ' four', ' :5', ' ::bad', ' =eq $ x']
if random.random() < 0.5: lines.append(':2:def $ d')
for i in range(int(sys.argv[3])):
    k = random.random()
    x = rnd()
    if typ == 'ip4trie':
        l = random.choice([8, 12, 16, 20, 24, 25, 28, 30, 32, 32, 32])
        x &= ~((1 << (32 - l)) - 1) & 0xffffffff
        e = ip(x) + '/%d' % l; lo, hi = x, x | ((1 << (32-l)) - 1)
    elif k < 0.4:
        e = ip(x); lo = hi = x
    elif k < 0.7:
        l = random.choice([8, 12, 16, 20, 23, 24, 25, 28, 30, 31])
        x &= ~((1 << (32 - l)) - 1) & 0xffffffff
        e = ip(x) + '/%d' % l; lo, hi = x, x | ((1 << (32-l)) - 1)
    else:
        y = x + random.choice([3, 300, 70000, 1 << 20])
        e = ip(x) + '-' + ip(y); lo, hi = x, y
    if random.random() < 0.2: e = '!' + e
    else: e += random.choice(vals)
    lines.append(e)
    for q in (lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, (lo + hi) // 2):
        if 0 <= q < 1 << 32: qs.add(q)
open('r4', 'w').write('\n'.join(lines) + '\n')
print(' '.join(ip(q) for q in sorted(qs)))
