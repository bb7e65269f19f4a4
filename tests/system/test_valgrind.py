"""tests/system/test_valgrind.py - valgrind over whole daemon lives (issue 6:
"Valgrind shows no leak over a daemon start, load and stop").

tests/fuzz/valgrind_smoke.sh builds its own gcc build without jemalloc
(valgrind cannot see jemalloc's arenas) and runs, each under valgrind with
--leak-check=full: `gridns-zonesync load`, the resolver (start, queries over
UDP and TCP, a /metrics scrape, SIGTERM), two imports into a central
database, a publisher and a follower (AXFR, NOTIFY, IXFR, SIGTERM).  Any
memory error or definite/indirect leak fails it.  About 30 s once built, so
`make test` (and CI) runs it every time; the build is incremental."""
import os

from conftest import ROOT, free_port, run

VG_BUILD = ROOT / "build-vg"


def test_valgrind_daemon_lives_are_clean():
    # the script uses this port and the four after it
    env = dict(os.environ, VG_PORT=str(free_port()))
    cp = run(["sh", ROOT / "tests" / "fuzz" / "valgrind_smoke.sh", VG_BUILD], timeout=900,
             cwd=ROOT, env=env)
    out = cp.stdout + cp.stderr
    print(out)
    assert cp.returncode == 0, out[-6000:]
    for what in ("gridns-zonesync load: clean", "gridns-resolver start", "import x2: clean",
                 "publisher, AXFR + NOTIFY + IXFR, SIGTERM: clean",
                 "follower, serial"):
        assert what in out, (what, out[-3000:])
