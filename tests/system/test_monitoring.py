"""tests/system/test_monitoring.py - the monitoring kit matches what the
daemons export.

A running node resolver (two tiers, so the tier and cache families exist,
and a self-check), a follower and a publisher are scraped; every metric
family they announce must be documented in docs/monitoring/metrics.md.
The alert rules must pass `promtool check rules` and may only use metric
names some daemon exports; the Grafana dashboard must be valid JSON whose
queries use exported names too.
"""
import json
import re
import subprocess
import time

import pytest

from conftest import PROMTOOL, ROOT
from ops_stack import Stack, families, scrape

METRICS_MD = ROOT / "docs" / "monitoring" / "metrics.md"
ALERTS = ROOT / "docs" / "monitoring" / "alerts.yml"
DASHBOARD = ROOT / "docs" / "monitoring" / "grafana-dashboard.json"
RUNBOOKS = ROOT / "docs" / "monitoring" / "runbooks"
HIST_SUFFIX = re.compile(r"_(bucket|sum|count)$")


def documented():
    return set(re.findall(r"`(gridns_[a-z0-9_]+)", METRICS_MD.read_text()))


def names_in(text):
    """gridns_* identifiers in a PromQL text, histogram suffixes removed."""
    return {HIST_SUFFIX.sub("", n) for n in re.findall(r"\bgridns_[a-z0-9_]+", text)}


@pytest.fixture(scope="module")
def exported(moddir):
    """{daemon: exposition text} from one running topology."""
    started = []
    try:
        s = Stack(moddir, started, health_interval_ms=500)
        s.traffic(5)
        # one self-check round, so gridns_health_check_* have series too
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "gridns_health_check_up{" not in s.node_metrics():
            time.sleep(0.2)
        out = {"resolver": s.node_metrics(), "follower": s.follower_metrics(),
               "publisher": s.publisher_metrics()}
        yield out
    finally:
        for d in reversed(started):
            d.stop()


def test_every_exported_family_is_documented(exported):
    doc = documented()
    missing = {}
    for daemon, text in exported.items():
        fams = families(text)
        assert fams, "%s exported nothing" % daemon
        gone = sorted(fams - doc)
        if gone:
            missing[daemon] = gone
    assert not missing, "metric families exported but missing from %s: %s" % (
        METRICS_MD.relative_to(ROOT), missing)


def test_resolver_exposition_has_the_tier_cache_and_health_families(exported):
    fams = families(exported["resolver"])
    for f in ("gridns_tier_up", "gridns_tier_skips_total", "gridns_cache_hits_total",
              "gridns_lookup_duration_seconds", "gridns_healthy", "gridns_zone_serial"):
        assert f in fams, f
    assert "gridns_health_check_up{" in exported["resolver"]


def test_documented_names_exist_in_the_sources():
    """A name in metrics.md that no source file spells is a typo or a
    metric that was removed (families are built from string literals)."""
    src = ""
    for d in ("resolver", "zonesync", "common"):
        for p in (ROOT / d).glob("*.[ch]"):
            src += p.read_text(errors="replace")
    stale = sorted(n for n in documented()
                   if n not in src and n.replace("gridns_", "", 1) not in src)
    assert not stale, "documented in metrics.md but not in the sources: %s" % stale


def test_alert_rules_pass_promtool():
    cp = subprocess.run([PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True,
                        text=True, timeout=60)
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_alert_rules_use_exported_names_and_have_runbooks(exported):
    allfams = set()
    for text in exported.values():
        allfams |= families(text)
    text = ALERTS.read_text()
    unknown = sorted(names_in(text) - allfams)
    assert not unknown, "alerts.yml uses names no daemon exports: %s" % unknown
    alerts = re.findall(r"^\s*- alert:\s*(\S+)", text, re.M)
    assert len(alerts) >= 7
    for a in alerts:
        rb = RUNBOOKS / (a + ".md")
        assert rb.exists(), "no runbook for %s (%s)" % (a, rb)
        assert ("runbooks/%s.md" % a) in text, "alert %s does not link its runbook" % a
    index = (ROOT / "docs" / "monitoring" / "README.md").read_text()
    assert all("`%s`" % a in index for a in alerts), "docs/monitoring/README.md misses an alert"
    for needed in ("GridnsReplicationStalled", "GridnsZoneNearExpire", "GridnsNodeSkippingToNoc",
                   "GridnsTierDown", "GridnsSelfCheckFailing", "GridnsDnsblErrorCodes",
                   "GridnsCacheThrashing"):
        assert needed in alerts, needed


def test_grafana_dashboard_is_valid_and_uses_exported_names(exported):
    allfams = set()
    for text in exported.values():
        allfams |= families(text)
    d = json.loads(DASHBOARD.read_text())
    exprs = []

    def walk(o):
        if isinstance(o, dict):
            if "expr" in o and isinstance(o["expr"], str):
                exprs.append(o["expr"])
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(d)
    assert len(exprs) >= 8
    unknown = sorted(set().union(*(names_in(e) for e in exprs)) - allfams)
    assert not unknown, "dashboard uses names no daemon exports: %s" % unknown
    joined = "\n".join(exprs)
    assert "histogram_quantile" in joined and "gridns_lookup_duration_seconds_bucket" in joined


# ---- each alert expression against synthetic series (promtool test rules) ------

# (alert, input series, eval time, labels the alert must carry or None = must
# stay silent).  One scenario per alert at least; the live Prometheus test
# (test_prometheus.py) covers `for:` and the rule machinery.
SCENARIOS = [
    ("GridnsNodeSkippingToNoc",
     [('gridns_tier_attempts_total{instance="n1",tier="grid",result="ok"}', "0+600x40"),
      ('gridns_tier_skips_total{instance="n1",from="grid",to="noc",reason="timeout"}', "0+60x40")],
     "20m", {"instance": "n1"}),
    ("GridnsNodeSkippingToNoc",  # the grid's breaker is open: every lookup skips
     [('gridns_tier_attempts_total{instance="n1",tier="grid",result="ok"}', "0+0x40"),
      ('gridns_tier_skips_total{instance="n1",from="grid",to="noc",reason="down"}', "0+60x40")],
     "20m", {"instance": "n1"}),
    ("GridnsNodeSkippingToNoc",  # 0.1 %: fine
     [('gridns_tier_attempts_total{instance="n1",tier="grid",result="ok"}', "0+6000x40"),
      ('gridns_tier_skips_total{instance="n1",from="grid",to="noc",reason="timeout"}', "0+6x40")],
     "20m", None),
    ("GridnsTierDown", [('gridns_tier_up{instance="n1",tier="grid"}', "1 1 0 0 0")], "4m",
     {"tier": "grid"}),
    ("GridnsTierDown", [('gridns_tier_up{instance="n1",tier="grid"}', "1 1 1 1 1")], "4m", None),
    ("GridnsUpstreamServfail", [('gridns_servfail_total{instance="n1",reason="timeout"}',
                                 "0+60x20")], "10m", {"instance": "n1"}),
    ("GridnsDnsblErrorCodes",
     [('gridns_dnsbl_error_answers_total{instance="n1",tier="noc",code="127.255.255.254"}',
       "0 0 0 3 3 3")], "5m", {"tier": "noc", "code": "127.255.255.254"}),
    ("GridnsReplicationStalled", [('gridns_zone_last_sync_age_seconds{instance="f1",zone="bl"}',
                                   "0+60x30")], "20m", {"zone": "bl"}),
    ("GridnsReplicationStalled", [('gridns_zone_last_sync_age_seconds{instance="f1",zone="bl"}',
                                   "30+0x30")], "20m", None),
    ("GridnsReplicationBehindPrimary",
     [('gridns_zone_primary_serial{instance="f1",zone="bl"}', "5+0x10"),
      ('gridns_zone_serial{instance="f1",zone="bl"}', "4+0x10")], "5m", {"zone": "bl"}),
    ("GridnsReplicationBehindPrimary",
     [('gridns_zone_primary_serial{instance="f1",zone="bl"}', "5+0x10"),
      ('gridns_zone_serial{instance="f1",zone="bl"}', "5+0x10")], "5m", None),
    ("GridnsZoneNeverSynced", [('gridns_zone_last_sync_age_seconds{instance="f1",zone="bl"}',
                                "-1+0x10")], "5m", {"zone": "bl"}),
    ("GridnsZoneNearExpire", [('gridns_zone_expire_seconds{instance="f1",zone="bl"}',
                               "3600+0x10")], "5m", {"zone": "bl"}),
    ("GridnsZoneNearExpire", [('gridns_zone_expire_seconds{instance="f1",zone="bl"}',
                               "604800+0x10")], "5m", None),
    ("GridnsZoneExpired", [('gridns_zone_expire_seconds{instance="f1",zone="bl"}', "-5+0x5")],
     "3m", {"zone": "bl"}),
    ("GridnsZoneExpired", [('gridns_zone_expired{instance="n1",zone="bl"}', "1+0x5")], "3m",
     {"zone": "bl"}),
    ("GridnsZoneExpired", [('gridns_zone_expired{instance="n1",zone="bl"}', "0+0x5")], "3m", None),
    ("GridnsDaemonDown", [('up{instance="n1",job="gridns-resolver"}', "0+0x5")], "3m",
     {"job": "gridns-resolver"}),
    ("GridnsDaemonDown", [('up{instance="x",job="node-exporter"}', "0+0x5")], "3m", None),
    ("GridnsSelfCheckFailing", [('gridns_healthy{instance="n1"}', "0+0x5")], "3m",
     {"instance": "n1"}),
    ("GridnsNodeHealing", [('gridns_heal_actions_total{instance="n1",action="restart_worker"}',
                            "0 0 1 1 1")], "4m", {"action": "restart_worker"}),
    ("GridnsSnapshotNotOpen", [('gridns_snapshot_open{instance="n1"}', "0+0x5")], "3m",
     {"instance": "n1"}),
    ("GridnsCacheThrashing",
     [('gridns_cache_inserts_total{instance="n1"}', "0+600x60"),
      ('gridns_cache_evictions_total{instance="n1"}', "0+500x60")], "40m", {"instance": "n1"}),
    ("GridnsCacheThrashing",  # evictions well below inserts: a full but healthy cache
     [('gridns_cache_inserts_total{instance="n1"}', "0+600x60"),
      ('gridns_cache_evictions_total{instance="n1"}', "0+60x60")], "40m", None),
    ("GridnsUdpReceiveBufferSmall", [('gridns_udp_receive_buffer_bytes{instance="n1"}',
                                      "212992+0x20")], "15m", {"instance": "n1"}),
    ("GridnsFollowerClockSkew", [('gridns_sync_tsig_clock_skew_seconds{instance="f1",primary="10.0.0.53:53"}', "120+0x30")], "20m", {"primary": "10.0.0.53:53"}),
    ("GridnsFollowerClockSkew",  # within tsig.skew-warn
     [('gridns_sync_tsig_clock_skew_seconds{instance="f1",primary="10.0.0.53:53"}', "30+0x30")],
     "20m", None),
    ("GridnsSnapshotMapNearlyFull",  # 3.5 GB of a 4 GiB map
     [('gridns_snapshot_used_bytes{instance="f1"}', "3500000000+0x30"),
      ('gridns_snapshot_map_size_bytes{instance="f1"}', "4294967296+0x30")],
     "20m", {"instance": "f1"}),
    ("GridnsSnapshotMapNearlyFull",
     [('gridns_snapshot_used_bytes{instance="f1"}', "1000000000+0x30"),
      ('gridns_snapshot_map_size_bytes{instance="f1"}', "4294967296+0x30")], "20m", None),
    ("GridnsSnapshotDiskLow",  # 500 MB free, 1 GB used, the map allows 3 GB more
     [('gridns_snapshot_filesystem_free_bytes{instance="n1"}', "500000000+0x30"),
      ('gridns_snapshot_used_bytes{instance="n1"}', "1000000000+0x30"),
      ('gridns_snapshot_file_bytes{instance="n1"}', "1000000000+0x30"),
      ('gridns_snapshot_map_size_bytes{instance="n1"}', "4294967296+0x30")],
     "20m", {"instance": "n1"}),
    ("GridnsSnapshotDiskLow",  # room for another copy of the data
     [('gridns_snapshot_filesystem_free_bytes{instance="n1"}', "5000000000+0x30"),
      ('gridns_snapshot_used_bytes{instance="n1"}', "1000000000+0x30"),
      ('gridns_snapshot_file_bytes{instance="n1"}', "1000000000+0x30"),
      ('gridns_snapshot_map_size_bytes{instance="n1"}', "4294967296+0x30")], "20m", None),
    ("GridnsSnapshotDiskLow",  # the map is the tighter bound: the map alert's case
     [('gridns_snapshot_filesystem_free_bytes{instance="n1"}', "500000000+0x30"),
      ('gridns_snapshot_used_bytes{instance="n1"}', "1000000000+0x30"),
      ('gridns_snapshot_file_bytes{instance="n1"}', "1000000000+0x30"),
      ('gridns_snapshot_map_size_bytes{instance="n1"}', "1100000000+0x30")], "20m", None),
    ("GridnsSnapshotReaderSlotsHigh",
     [('gridns_snapshot_reader_slots_in_use{instance="n1"}', "1800+0x20"),
      ('gridns_snapshot_reader_slots_max{instance="n1"}', "2048+0x20")], "15m",
     {"instance": "n1"}),
    ("GridnsSnapshotReaderSlotsHigh",
     [('gridns_snapshot_reader_slots_in_use{instance="n1"}', "20+0x20"),
      ('gridns_snapshot_reader_slots_max{instance="n1"}', "2048+0x20")], "15m", None),
]


def test_every_alert_expression_fires_on_its_scenario(workdir):
    import yaml
    rules = yaml.safe_load(ALERTS.read_text())
    exprs = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert set(exprs) == {s[0] for s in SCENARIOS}, \
        "alerts without a scenario here: %s" % sorted(set(exprs) - {s[0] for s in SCENARIOS})
    tests = []
    for name, series, at, labels in SCENARIOS:
        by = sorted(labels) if labels else []
        expr = "count by (%s) (%s)" % (", ".join(by), exprs[name].strip())
        want = []
        if labels:
            want = [{"labels": "{%s}" % ",".join('%s="%s"' % (k, labels[k]) for k in by),
                     "value": 1}]
        tests.append({"interval": "1m",
                      "input_series": [{"series": s, "values": v} for s, v in series],
                      "promql_expr_test": [{"expr": expr, "eval_time": at,
                                            "exp_samples": want}]})
    f = workdir / "alerts_test.yml"
    f.write_text(yaml.safe_dump({"evaluation_interval": "1m", "tests": tests}, sort_keys=False))
    cp = subprocess.run([PROMTOOL, "test", "rules", str(f)], capture_output=True, text=True,
                        timeout=120)
    assert cp.returncode == 0, cp.stdout[-6000:] + cp.stderr[-2000:]
