# gendn.py SEED [TYPE] [N] - random rbldnsd source file(s) in the cwd for run.sh;
# prints the queries worth asking (range boundaries +-1).  See run.sh.
import random, sys
random.seed(int(sys.argv[1]))
labs = ['a', 'b', 'c', 'x']
def name(): return '.'.join(random.choice(labs) for _ in range(random.randint(1, 4))) + '.ex'
lines = [':2:d $'] if random.random() < .5 else []
qs = set()
for i in range(80):
    n = name(); qs.add(n); qs.add('q.' + n); qs.add('q.r.' + n)
    pre = random.choice(['', '*.', '.'])
    e = ('!' if random.random() < .2 else '') + pre + n
    if e[0] != '!': e += random.choice(['', ' :3:t $', ' :4:', ' txt $ here'])
    lines.append(e)
open('rd', 'w').write('\n'.join(lines) + '\n')
print(' '.join(sorted(qs)))
