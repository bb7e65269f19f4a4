"""tests/system/test_deployment.py - the grid relay alternatives of
docs/deployment.md: a stock Knot DNS or NSD secondary between our publisher
and our follower, with the configuration shapes that page shows (two TSIG
keys, NOTIFY from the NOC, transfers to the nodes' network), on loopback.

NOC publisher --AXFR/IXFR, key noc-grid--> Knot|NSD --AXFR/IXFR, key grid-node-->
gridns follower --> node snapshot --> gridns-resolver

Checked: the node answers the zone exactly as published (the `_gridns`
metadata crosses a stock server intact, so the follower rebuilds the
image), and a change imported at the NOC reaches the node's resolver.
"""
import os
import shutil
import time

import dns.rcode
import pytest

from conftest import ROOT, Daemon, binpath, free_port, start_resolver, udp, wait_dns, zonesync
from ops_stack import scrape, wait_for

SAMPLE = ROOT / "tests" / "data" / "sample"
ZONE = "bl.example.test"
NOC_GRID = "bm9jLWdyaWQtc2VjcmV0LW5vYy1ncmlkLXNlY3JldCE="
GRID_NODE = "Z3JpZC1ub2RlLXNlY3JldC1ncmlkLW5vZGUtc2VjcmV0"
KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
NSD = shutil.which("nsd") or "/usr/sbin/nsd"


def listed(port, ip):
    q = ".".join(reversed(ip.split("."))) + "." + ZONE
    r = udp(port, q, "A", timeout=0.5, tries=1)
    return r is not None and r.rcode() == dns.rcode.NOERROR and len(r.answer) > 0


def noc(workdir, daemons, notify_port):
    db = workdir / "central"
    zonesync("import", "--db", db, "%s:ip4set:%s" % (ZONE, SAMPLE / (ZONE + ".ip4set")),
             check=True)
    port, mport = free_port(), free_port()
    conf = workdir / "publisher.conf"
    conf.write_text(
        'db = "%s";\nlisten = [ "127.0.0.1:%d" ];\nmetrics = "127.0.0.1:%d";\n'
        'keys = ( { name = "noc-grid"; algorithm = "hmac-sha256"; secret = "%s"; } );\n'
        'zones = ( { name = "%s"; allow = [ "127.0.0.0/8" ]; keys = [ "noc-grid" ]; '
        'notify = [ "127.0.0.1:%d" ]; notify-key = "noc-grid"; } );\n' % (
            db, port, mport, NOC_GRID, ZONE, notify_port))
    pub = Daemon("publisher", [binpath("gridns-zonesync"), "publisher", "-c", conf], workdir)
    daemons.append(pub)
    wait_for(lambda: "gridns_publisher_zone_serial" in scrape(mport), 15, "the publisher", pub)
    return db, port


def node(workdir, daemons, relay_port):
    snap = workdir / "node-snap"
    snap.mkdir()
    mport = free_port()
    conf = workdir / "follower.conf"
    conf.write_text(
        'snapshot = "%s";\nmetrics = "127.0.0.1:%d";\nrefresh-min = 1;\nretry-min = 1;\n'
        'keys = ( { name = "grid-node"; algorithm = "hmac-sha256"; secret = "%s"; } );\n'
        'zones = ( { name = "%s"; key = "grid-node"; primaries = [ "127.0.0.1@%d" ]; '
        'refresh = 1; retry = 1; } );\n' % (snap, mport, GRID_NODE, ZONE, relay_port))
    fol = Daemon("follower", [binpath("gridns-zonesync"), "follower", "-c", conf], workdir)
    daemons.append(fol)
    wait_for(lambda: 'gridns_zone_serial{zone="%s"}' % ZONE in scrape(mport), 20,
             "the node's first transfer from the stock relay", fol)
    res = start_resolver(workdir, snap, "2.0.0.127." + ZONE)
    daemons.append(res)
    return fol, res


def end_to_end(workdir, daemons, db, relay, fol, res):
    assert listed(res.port, "127.0.0.2")
    assert listed(res.port, "192.0.2.55")          # a /24 range: the image was rebuilt
    assert not listed(res.port, "198.51.100.25")    # an exclusion inside a range
    assert not listed(res.port, "127.0.0.1")
    txt = udp(res.port, "7.113.0.203." + ZONE, "TXT", timeout=1)
    assert txt is not None and b"Open proxy 203.0.113.7" in txt.to_wire()
    # a change at the NOC crosses the stock relay
    src = workdir / "bl2.ip4set"
    src.write_text((SAMPLE / (ZONE + ".ip4set")).read_text() + "203.0.113.77\n")
    zonesync("import", "--db", db, "%s:ip4set:%s" % (ZONE, src), check=True)
    wait_for(lambda: listed(res.port, "203.0.113.77"), 20,
             "the NOC's change at the node through %s" % relay.name, fol)


def test_knot_as_grid_relay(workdir, daemons):
    if not os.path.exists(KNOTD):
        pytest.fail("knotd is not installed (%s)" % KNOTD, pytrace=False)
    kport = free_port()
    db, pport = noc(workdir, daemons, kport)
    kd = workdir / "knot"
    for sub in ("run", "db", "zones"):
        (kd / sub).mkdir(parents=True)
    # docs/deployment.md's knot.conf, with loopback addresses and paths
    (kd / "knot.conf").write_text("""server:
    rundir: "%(d)s/run"
    listen: 127.0.0.1@%(kport)d
database:
    storage: "%(d)s/db"
log:
  - target: stderr
    any: info
key:
  - id: noc-grid
    algorithm: hmac-sha256
    secret: %(ng)s
  - id: grid-node
    algorithm: hmac-sha256
    secret: %(gn)s
remote:
  - id: noc
    address: 127.0.0.1@%(pport)d
    key: noc-grid
acl:
  - id: notify_from_noc
    address: 127.0.0.1
    key: noc-grid
    action: notify
  - id: transfer_to_nodes
    address: 127.0.0.0/8
    key: grid-node
    action: transfer
template:
  - id: default
    storage: "%(d)s/zones"
    zonefile-sync: -1
    zonefile-load: none
    journal-content: changes
    semantic-checks: off
zone:
  - domain: %(zone)s
    master: noc
    acl: [ notify_from_noc, transfer_to_nodes ]
""" % {"d": kd, "kport": kport, "pport": pport, "ng": NOC_GRID, "gn": GRID_NODE, "zone": ZONE})
    knot = Daemon("knotd", [KNOTD, "-c", kd / "knot.conf"], workdir)
    daemons.append(knot)
    wait_dns(knot, kport, ZONE, timeout=20)
    fol, res = node(workdir, daemons, kport)
    end_to_end(workdir, daemons, db, knot, fol, res)
    assert "IXFR" in knot.log(200000)


def test_nsd_as_grid_relay(workdir, daemons):
    if not os.path.exists(NSD):
        pytest.fail("nsd is not installed (%s)" % NSD, pytrace=False)
    nport = free_port()
    db, pport = noc(workdir, daemons, nport)
    nd = workdir / "nsd"
    nd.mkdir()
    # docs/deployment.md's nsd.conf, with loopback addresses and paths
    (nd / "nsd.conf").write_text("""server:
    ip-address: 127.0.0.1@%(nport)d
    port: %(nport)d
    username: ""
    chroot: ""
    zonesdir: "%(d)s"
    pidfile: "%(d)s/nsd.pid"
    database: ""
    xfrdfile: "%(d)s/xfrd.state"
    xfrdir: "%(d)s"
    zonelistfile: "%(d)s/zone.list"
    logfile: "%(d)s/nsd.log"
    verbosity: 2
remote-control:
    control-enable: no
key:
    name: "noc-grid"
    algorithm: hmac-sha256
    secret: "%(ng)s"
key:
    name: "grid-node"
    algorithm: hmac-sha256
    secret: "%(gn)s"
zone:
    name: "%(zone)s"
    zonefile: "%(zone)s.zone"
    request-xfr: 127.0.0.1@%(pport)d noc-grid
    allow-notify: 127.0.0.1 noc-grid
    provide-xfr: 127.0.0.0/8 grid-node
""" % {"d": nd, "nport": nport, "pport": pport, "ng": NOC_GRID, "gn": GRID_NODE, "zone": ZONE})
    nsd = Daemon("nsd", [NSD, "-d", "-c", nd / "nsd.conf"], workdir)
    daemons.append(nsd)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r = udp(nport, ZONE, "SOA", timeout=0.3, tries=1)
        if r is not None and r.rcode() == dns.rcode.NOERROR and r.answer:
            break
        if not nsd.alive():
            pytest.fail("nsd exited: " + nsd.describe(), pytrace=False)
        time.sleep(0.2)
    else:
        pytest.fail("nsd never loaded the zone: %s\n%s" % (
            nsd.describe(), (nd / "nsd.log").read_text()[-3000:] if (nd / "nsd.log").exists()
            else ""), pytrace=False)
    fol, res = node(workdir, daemons, nport)
    end_to_end(workdir, daemons, db, nsd, fol, res)
