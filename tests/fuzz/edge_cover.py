#!/usr/bin/env python3
"""tests/fuzz/edge_cover.py - pick a small seed set that keeps edge coverage.

    python3 tests/fuzz/edge_cover.py CONTROL_FILE OUTDIR

CONTROL_FILE is what libFuzzer leaves with
`-merge=1 -merge_control_file=CONTROL_FILE SEEDS CORPUS...`: the input
files in order (the first corpus's first), then per file "COV <n> <edges>".
libFuzzer's own merge keeps every input that adds a feature (an edge *or* a
new hit-count bucket), which for the big transfer messages of xfr_client
means megabytes.  The seed corpus in the tree only has to give CI's 30 s
runs a head start, so this keeps the edges and drops the buckets: the
first corpus's files are kept as they are (named seeds, regress-*), then
the greedy weighted set cover adds, while an edge is missing, the file with
the most new edges per octet.  The chosen files are copied into OUTDIR
under their own (sha1) names.  Prints "kept N files, M octets, E edges".
"""
import os
import shutil
import sys


def main():
    ctl, out = sys.argv[1], sys.argv[2]
    with open(ctl) as f:
        lines = f.read().split("\n")
    nfiles, nfirst = int(lines[0]), int(lines[1])
    files = lines[2:2 + nfiles]
    cov = {}
    for line in lines[2 + nfiles:]:
        w = line.split()
        if w and w[0] == "COV":
            cov.setdefault(int(w[1]), set()).update(int(e) for e in w[2:])
    have = set()
    for i in range(nfirst):
        have |= cov.get(i, set())
    size = {i: max(1, os.path.getsize(files[i])) for i in range(nfirst, nfiles)}
    rest = {i: cov.get(i, set()) - have for i in size}
    chosen = []
    while True:
        best = max(rest, key=lambda i: (len(rest[i]) / size[i], -size[i]), default=None)
        if best is None or not rest[best]:
            break
        chosen.append(best)
        have |= rest.pop(best)
        for i in rest:
            rest[i] -= have
    os.makedirs(out, exist_ok=True)
    total = 0
    for i in chosen:
        shutil.copy(files[i], out)
        total += size[i]
    print("kept %d files, %d octets, %d edges" % (len(chosen), total, len(have)))


if __name__ == "__main__":
    main()
