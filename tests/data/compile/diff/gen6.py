# gen6.py SEED [TYPE] [N] - random rbldnsd source file(s) in the cwd for run.sh;
# prints the queries worth asking (range boundaries +-1).  See run.sh.
import random, sys, ipaddress
random.seed(int(sys.argv[1]))
lines = []; qs = set()
for i in range(60):
    l = random.choice([32, 36, 48, 56, 64, 64, 96, 127, 128])
    x = (0x20010db8 << 96) | random.getrandbits(random.choice([20, 40, 70, 96]))
    x &= ~((1 << (128 - l)) - 1)
    a = ipaddress.IPv6Address(x)
    e = ('!' if random.random() < .2 else '') + str(a) + '/%d' % l
    if e[0] != '!': e += random.choice(['', ' :3:t $', ' :4:', ' txt $ here'])
    lines.append(e)
    hi = x | ((1 << (128 - l)) - 1)
    for q in (x - 1, x, hi, hi + 1, (x + hi) // 2): qs.add(str(ipaddress.IPv6Address(q)))
open('r6', 'w').write('\n'.join(lines) + '\n')
print(' '.join(sorted(qs)))
