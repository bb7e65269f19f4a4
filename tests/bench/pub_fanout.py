#!/usr/bin/python3
"""tests/bench/pub_fanout.py - one publisher, many followers asking at once.

Builds an ip4set zone of --entries single addresses, imports it into a
central database, starts `gridns-zonesync publisher` on loopback, and has
--clients raw TCP clients request the AXFR at the same moment (the fan-out
after a NOTIFY).  Clients only read and count octets, so the figure is the
publisher's, not a parser's.  Prints wall time, publisher CPU and memory.

  /usr/bin/python3 tests/bench/pub_fanout.py [--build build] [--entries 1000000] [--clients 200]
"""
import argparse
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import dns.message


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        f = f.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def anon_kb(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Anonymous:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--entries", type=int, default=1000000)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--max-transfers", type=int, default=32)
    a = ap.parse_args()
    zs = os.path.join(a.build, "bin", "gridns-zonesync")
    d = tempfile.mkdtemp(prefix="gridns-fanout.")
    proc = None
    try:
        src = os.path.join(d, "big.ip4set")
        rnd = random.Random(1)
        seen = set()
        with open(src, "w") as f:
            f.write("$SOA 3600 ns1.big.test. hm.big.test. 1 3600 600 604800 300\n"
                    "$NS 3600 ns1.big.test\n:127.0.0.2:\n")
            while len(seen) < a.entries:
                v = rnd.getrandbits(32) | 0x01000000
                if v not in seen:
                    seen.add(v)
                    f.write("%d.%d.%d.%d\n" % (v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255))
        subprocess.run([zs, "import", "--db", os.path.join(d, "db"), "big.test:ip4set:" + src],
                       check=True, capture_output=True)
        port = free_port()
        conf = os.path.join(d, "pub.conf")
        with open(conf, "w") as f:
            f.write('db = "%s"; listen = "127.0.0.1:%d"; metrics = "";\n'
                    'transfers = { max = %d; };\n'
                    'zones = ( { name = "big.test"; allow = "127.0.0.1"; } );\n'
                    % (os.path.join(d, "db"), port, a.max_transfers))
        proc = subprocess.Popen([zs, "publisher", "-c", conf], stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(d, "pub.log"), "w"))
        q = dns.message.make_query("big.test", "SOA").to_wire()
        for _ in range(100):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.settimeout(0.1)
            try:
                u.sendto(q, ("127.0.0.1", port))
                u.recv(512)
                break
            except OSError:
                time.sleep(0.05)
            finally:
                u.close()
        q = dns.message.make_query("big.test", "AXFR").to_wire()
        got = []
        start = threading.Event()

        def client():
            s = socket.create_connection(("127.0.0.1", port), timeout=600)
            start.wait()
            s.sendall(struct.pack("!H", len(q)) + q)
            n = 0
            while True:
                b = s.recv(1 << 20)
                if not b:
                    break
                n += len(b)
            s.close()
            got.append(n)

        ts = [threading.Thread(target=client) for _ in range(a.clients)]
        for t in ts:
            t.start()
        c0 = cpu_seconds(proc.pid)
        t0 = time.monotonic()
        start.set()
        for t in ts:
            t.join()
        wall = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - c0
        ok = len(got) == a.clients and len(set(got)) == 1
        print("entries %d, clients %d, transfers.max %d: %s, %.1f MB each, wall %.2f s, "
              "publisher CPU %.2f s, anonymous memory %d MB"
              % (a.entries, a.clients, a.max_transfers, "all complete" if ok else "INCOMPLETE",
                 (got[0] if got else 0) / 1e6, wall, cpu, anon_kb(proc.pid) // 1024))
        return 0 if ok else 1
    finally:
        if proc:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
