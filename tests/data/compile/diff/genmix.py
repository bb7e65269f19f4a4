# genmix.py SEED [TYPE] [N] - random rbldnsd source file(s) in the cwd for run.sh;
# prints the queries worth asking (range boundaries +-1).  See run.sh.
import random, sys
random.seed(int(sys.argv[1]))
def ip(x): return '%d.%d.%d.%d' % (x>>24, x>>16&255, x>>8&255, x&255)
qs = set()
specials = ['$1 var one $ x', '$2 two$$', '$= B[$=] $1', ':3:def $ $1', ':4:', ':5', ':127.0.0.6:def6 $2', '$1 second def']
vals = ['', ' :3:three $ $1', ' :4:', ' four $2', ' :5', ' =eq $ $1', ' $= self', ' =', ' :7:=']
for fn in ('m1f', 'm2f'):
    lines = []
    for i in range(40):
        if random.random() < 0.15:
            lines.append(random.choice(specials)); continue
        x = (127 << 24) + random.randrange(0, 600)
        e = ip(x)
        if random.random() < 0.1: e = '!' + e
        else: e += random.choice(vals)
        lines.append(e); qs.add(x)
    open(fn, 'w').write('\n'.join(lines) + '\n')
print(' '.join(ip(q) for q in sorted(qs)))
