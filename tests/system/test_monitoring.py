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
