"""tests/system/test_prometheus.py - the monitoring kit under Debian's real
Prometheus, as an operator would run it.

A publisher, a follower, a grid resolver and a node resolver run on
loopback (tests/system/ops_stack.py).  Prometheus (/usr/bin/prometheus)
scrapes the node, the follower and the publisher every second and evaluates
docs/monitoring/alerts.yml every second.  The test waits until every target
is up and every rule evaluates without error, with none of the alerts below
firing; then it injects two faults an operator fears:

  * the publisher stops: replication stalls and, past the zone's expire,
    the zone expires on the node (GridnsReplicationStalled,
    GridnsZoneExpired);
  * the grid resolver stops: the node's grid tier goes down (GridnsTierDown);
  * the publisher is no longer scrapeable (GridnsDaemonDown);

and waits (bounded) until Prometheus reports those alerts FIRING with the
right labels.  The only changes to the rules in the test's copy: every
`for:` is 0s and the replication-age threshold is 5 s instead of 900 s, so
the test takes seconds, not minutes.  Everything is stopped in teardown.
"""
import json
import re
import shutil
import time
import urllib.request

import pytest

from conftest import ROOT, Daemon, free_port, udp
from ops_stack import ZONE, Stack, scrape, wait_for

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTS = ROOT / "docs" / "monitoring" / "alerts.yml"
FAULT_ALERTS = ("GridnsReplicationStalled", "GridnsZoneExpired", "GridnsTierDown",
                "GridnsDaemonDown")


def api(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/%s" % (port, path),
                                    timeout=5) as r:
            body = json.loads(r.read().decode())
    except (OSError, ValueError):
        return None
    return body.get("data") if body.get("status") == "success" else None


def test_rules_evaluate_and_fire_under_real_prometheus(workdir, daemons):
    import os
    if not os.path.exists(PROMETHEUS):
        pytest.fail("prometheus is not installed (%s)" % PROMETHEUS, pytrace=False)
    # expire 8 s and refresh 1 s on the follower: a stopped publisher makes
    # the zone expire within seconds
    s = Stack(workdir, daemons, expire=8, refresh=1, health_interval_ms=1000)

    # a healthy baseline: the node's first self-check rounds have passed
    wait_for(lambda: '"healthy":true' in scrape(s.node_mport, "/health"), 20,
             "the node's /health to say healthy", s.node)
    rules = ALERTS.read_text()
    fast, n_for = re.subn(r"(\n\s*for:\s*)\S+", r"\g<1>0s", rules)
    fast, n_age = re.subn(r"gridns_zone_last_sync_age_seconds > 900",
                          "gridns_zone_last_sync_age_seconds > 5", fast)
    assert n_for >= 7 and n_age == 1, "alerts.yml changed shape: update this test"
    (workdir / "rules.yml").write_text(fast)

    prom_port = free_port()
    targets = {"gridns-resolver": s.node_mport, "gridns-follower": s.fol_mport,
               "gridns-publisher": s.pub_mport}
    conf = ["global:", "  scrape_interval: 1s", "  scrape_timeout: 900ms",
            "  evaluation_interval: 1s", "rule_files:", "  - %s" % (workdir / "rules.yml"),
            "scrape_configs:"]
    for job, port in targets.items():
        conf += ["  - job_name: %s" % job, "    static_configs:",
                 "      - targets: ['127.0.0.1:%d']" % port]
    (workdir / "prometheus.yml").write_text("\n".join(conf) + "\n")
    tsdb = workdir / "tsdb"
    prom = Daemon("prometheus", [PROMETHEUS, "--config.file=%s" % (workdir / "prometheus.yml"),
                                 "--storage.tsdb.path=%s" % tsdb,
                                 "--web.listen-address=127.0.0.1:%d" % prom_port,
                                 "--log.level=warn"], workdir)
    daemons.append(prom)

    # 1. every target up
    def all_up():
        d = api(prom_port, "targets")
        if not d:
            return False
        act = d.get("activeTargets", [])
        return len(act) == len(targets) and all(t.get("health") == "up" for t in act)
    wait_for(all_up, 40, "prometheus to scrape every gridns target", prom)

    # 2. every rule evaluates (health ok) and no fault alert fires yet
    def evaluated():
        d = api(prom_port, "rules")
        if not d:
            return None
        rs = [r for g in d.get("groups", []) for r in g.get("rules", [])]
        if not rs or any(r.get("health") != "ok" for r in rs):
            return None
        return rs
    s.traffic(3)
    rs = wait_for(evaluated, 30, "every alert rule to evaluate with health ok", prom)
    assert len(rs) == rules.count("- alert:")
    bad = [(r["name"], r.get("lastError")) for r in rs if r.get("lastError")]
    assert not bad, bad
    time.sleep(2)  # a few more evaluations on a healthy stack
    firing = {a["labels"]["alertname"] for a in (api(prom_port, "alerts") or {}).get("alerts", [])
              if a.get("state") == "firing"}
    assert not firing & set(FAULT_ALERTS + ("GridnsZoneNeverSynced", "GridnsSelfCheckFailing")), \
        "firing before any fault: %s" % firing

    # 3. faults: the publisher and the grid stop
    s.publisher.stop()
    s.grid.stop()
    t0 = time.monotonic()

    def fired():
        # keep client traffic going so the node's breaker sees the dead grid
        udp(s.node_port, "q%d.route.example.test" % time.monotonic_ns(), "A", timeout=0.3,
            tries=1)
        d = api(prom_port, "alerts") or {}
        got = {}
        for a in d.get("alerts", []):
            if a.get("state") == "firing":
                got.setdefault(a["labels"]["alertname"], []).append(a["labels"])
        return got if all(n in got for n in FAULT_ALERTS) else None

    got = wait_for(fired, 60, "alerts %s to fire" % (FAULT_ALERTS,), prom)
    took = time.monotonic() - t0
    assert any(lb.get("zone") == ZONE for lb in got["GridnsReplicationStalled"]), got
    assert any(lb.get("zone") == ZONE for lb in got["GridnsZoneExpired"]), got
    assert any(lb.get("tier") == "grid" for lb in got["GridnsTierDown"]), got
    assert any(lb.get("job") == "gridns-publisher" for lb in got["GridnsDaemonDown"]), got
    for name in FAULT_ALERTS:
        for lb in got[name]:
            assert lb.get("severity") in ("warning", "critical"), lb
    print("faults injected; %s firing after %.1fs (also firing: %s)" % (
        ", ".join(FAULT_ALERTS), took, sorted(set(got) - set(FAULT_ALERTS))))
    prom.stop()
