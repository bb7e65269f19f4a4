"""tests/system/test_fol_tsig_skew.py - the follower's clock skew alarm
(issue 6: TSIG on transfers and NOTIFY, and an alarm when clocks drift).

A small Python primary signs its answers with a clock that is off by a
chosen number of seconds, as test_abuse.py's test_clock_drift_alarm skews
the client for the publisher: dnspython takes the TSIG time from the `time`
module of dns.message, which is replaced here by a clock that is off in the
primary's thread only (the test's own parsing keeps the real time).

  * 120 s off: within the fudge (300 s), so the zone transfers, but the
    follower exports the skew per primary, counts a warning and logs one
    line naming the primary and "check NTP"; NOTIFYs from the same host
    count too, and the log line is not repeated (rate-limited);
  * 900 s off: BADTIME, the transfer is refused and the old zone stays,
    counted as a `tsig` failure and as a skew warning;
  * the primary answering BADTIME itself (our clock is off in its view)
    counts the same way;
  * the alert rule of docs/monitoring/follower-rules.yml fires on a skewed
    primary and stays silent on a sane one (promtool test rules).
"""
import re
import socket
import struct
import subprocess
import threading
import time

import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest
import yaml

from conftest import PROMTOOL, ROOT
from test_follower import (KEYRING, ZONE, FakePrimary, Follower, check_promtool, metric,
                           sample_text, snapshot_serial, wait_for, zone_records)

REAL_TIME = time.time
FOLLOWER_RULES = ROOT / "docs" / "monitoring" / "follower-rules.yml"


class SkewClock:
    """Stands in for the `time` module inside dns.message: time() is off by
    `offset` seconds in a thread that set one, right everywhere else."""

    def __init__(self):
        self.local = threading.local()

    def time(self):
        return REAL_TIME() + getattr(self.local, "offset", 0)

    def skewed(self, offset):
        clock = self

        class Ctx:
            def __enter__(self):
                clock.local.offset = offset

            def __exit__(self, *exc):
                clock.local.offset = 0
        return Ctx()


@pytest.fixture
def clock(monkeypatch):
    c = SkewClock()
    monkeypatch.setattr(dns.message, "time", c)
    return c


class SkewedPrimary(FakePrimary):
    """FakePrimary whose answers are signed `offset` seconds off the real
    time (the query is still checked with the real one).  With
    reject_time, every query is answered NOTAUTH with TSIG error BADTIME,
    as a primary does that finds OUR clock off."""

    def __init__(self, records, clock, offset):
        self.clock = clock
        self.offset = offset
        self.reject_time = False
        super().__init__(records)

    def _serve(self, c):
        data = self._read(c)
        if data is None:
            return
        q = dns.message.from_wire(data, keyring=KEYRING)
        qtype = q.question[0].rdtype
        self.queries.append(dns.rdatatype.to_text(qtype))
        with self.clock.skewed(self.offset):
            if self.reject_time:
                r = dns.message.make_response(q)
                r.set_rcode(dns.rcode.NOTAUTH)
                now = int(self.clock.time())
                r.use_tsig(KEYRING, keyname=q.keyname, tsig_error=dns.rcode.BADTIME,
                           other_data=struct.pack("!HI", now >> 32, now & 0xFFFFFFFF))
                self._send(c, r)
                return
            recs = list(self.records)
            soa = recs[0]
            if qtype == dns.rdatatype.IXFR and q.authority[0][0].serial == soa[2].serial:
                recs = [soa]  # up to date: the SOA alone
            else:
                recs = recs + [soa]  # AXFR form, for AXFR and IXFR alike
            ctx = None
            for i in range(0, len(recs), 300):  # several messages, TSIG chained
                m = dns.message.make_response(q)
                for name, ttl, rd in recs[i:i + 300]:
                    m.find_rrset(m.answer, name, rd.rdclass, rd.rdtype, create=True,
                                 force_unique=True).add(rd, ttl)
                w = m.to_wire(max_size=65535, multi=True, tsig_ctx=ctx)
                ctx = getattr(m, "tsig_ctx", None)
                c.sendall(struct.pack("!H", len(w)) + w)


def notify_skewed(clock, port, offset):
    """A signed NOTIFY whose TSIG time is `offset` s off; the reply's rcode."""
    q = dns.message.make_query(ZONE, "SOA")
    q.set_opcode(dns.opcode.NOTIFY)
    q.use_tsig(KEYRING, keyname="k1.")
    with clock.skewed(offset):
        wire = q.to_wire()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        s.sendto(wire, ("127.0.0.1", port))
        data, _ = s.recvfrom(4096)
    finally:
        s.close()
    return data[3] & 0xF


def start(workdir, daemons, clock, offset, extra="", serial=None):
    fake = SkewedPrimary(zone_records(sample_text(workdir, serial=serial), ZONE), clock, offset)
    fol = Follower(workdir, ["127.0.0.1@%d key k1" % fake.port], extra=extra)
    daemons.append(fol)
    return fake, fol, "127.0.0.1:%d" % fake.port


def skew_lines(fol):
    return re.findall(r"clock of .* off ours.*", fol.log(limit=200000))


def test_skewed_primary_still_transfers_and_raises_the_alarm(workdir, daemons, clock):
    fake, fol, prim = start(workdir, daemons, clock, 120)
    try:
        wait_for(lambda: snapshot_serial(fol.snapshot), 30, "the AXFR from a skewed primary",
                 fol)
        m = fol.metrics()
        check_promtool(m)
        skew = metric(m, "gridns_sync_tsig_clock_skew_seconds", primary=prim)
        assert skew is not None and 119 <= skew <= 122, m
        assert metric(m, "gridns_sync_tsig_clock_skew_warnings_total", primary=prim) >= 1, m
        # the bucket of NOTIFY senders that are no primary exists, empty
        assert metric(m, "gridns_sync_tsig_clock_skew_warnings_total", primary="other") == 0
        assert metric(m, "gridns_sync_tsig_clock_skew_seconds", primary="other") is None
        lines = skew_lines(fol)
        assert len(lines) == 1, fol.log()
        assert re.search(r"clock of primary %s is \+1[12]\d s off ours .*check NTP" %
                         re.escape(prim), lines[0]), lines[0]
        # NOTIFYs from the same host, its clock as off: accepted, counted
        # under the primary, and the log does not say it again
        before = metric(m, "gridns_sync_tsig_clock_skew_warnings_total", primary=prim)
        for _ in range(3):
            assert notify_skewed(clock, fol.port, 120) == dns.rcode.NOERROR
        wait_for(lambda: metric(fol.metrics(), "gridns_sync_tsig_clock_skew_warnings_total",
                                primary=prim) >= before + 3, 20, "the NOTIFYs counted", fol)
        assert len(skew_lines(fol)) == 1, fol.log()
        assert snapshot_serial(fol.snapshot) == fake.serial()
    finally:
        fake.close()


def test_primary_past_the_fudge_is_refused_and_the_old_zone_stays(workdir, daemons, clock):
    # skew-warn 200: 120 s is no warning here, 900 s (BADTIME) always is
    fake, fol, prim = start(workdir, daemons, clock, 120, extra="tsig = { skew-warn = 200; };",
                            serial=1)
    try:
        wait_for(lambda: snapshot_serial(fol.snapshot) == 1, 30, "serial 1", fol)
        m = fol.metrics()
        assert 119 <= metric(m, "gridns_sync_tsig_clock_skew_seconds", primary=prim) <= 122
        assert metric(m, "gridns_sync_tsig_clock_skew_warnings_total", primary=prim) == 0
        assert skew_lines(fol) == []
        fake.records = zone_records(sample_text(workdir, serial=2), ZONE)
        fake.offset = 900
        assert notify_skewed(clock, fol.port, 0) == dns.rcode.NOERROR
        wait_for(lambda: fol.failures("tsig") >= 1, 30, "the BADTIME refusal", fol)
        m = fol.metrics()
        check_promtool(m)
        assert snapshot_serial(fol.snapshot) == 1
        assert metric(m, "gridns_zone_serial", zone=ZONE) == 1
        assert metric(m, "gridns_sync_tsig_clock_skew_seconds", primary=prim) >= 899
        assert metric(m, "gridns_sync_tsig_clock_skew_warnings_total", primary=prim) >= 1
        log = fol.log(limit=200000)
        assert re.search(r"clock of primary %s is \+9\d\d s off ours, beyond the TSIG window "
                         r"\(BADTIME.*check NTP" % re.escape(prim), log), log
        assert re.search(r"IXFR refused \(tsig\): TSIG BADTIME", log), log
    finally:
        fake.close()


def test_primary_answering_badtime_counts_too(workdir, daemons, clock):
    fake, fol, prim = start(workdir, daemons, clock, -400)
    fake.reject_time = True
    try:
        wait_for(lambda: fol.failures("tsig") >= 1, 30, "the refused AXFR", fol)
        m = fol.metrics()
        assert snapshot_serial(fol.snapshot) is None
        assert 399 <= metric(m, "gridns_sync_tsig_clock_skew_seconds", primary=prim) <= 402
        assert metric(m, "gridns_sync_tsig_clock_skew_warnings_total", primary=prim) >= 1
        assert re.search(r"clock of primary %s is -40\d s off ours, beyond the TSIG window" %
                         re.escape(prim), fol.log(limit=200000)), fol.log()
    finally:
        fake.close()


def test_follower_rules_pass_promtool_and_the_skew_alert_fires(workdir):
    cp = subprocess.run([PROMTOOL, "check", "rules", str(FOLLOWER_RULES)], capture_output=True,
                        text=True, timeout=60)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    rules = yaml.safe_load(FOLLOWER_RULES.read_text())
    expr = [r["expr"] for g in rules["groups"] for r in g["rules"]
            if r.get("alert") == "GridnsFollowerClockSkew"][0]
    series = 'gridns_sync_tsig_clock_skew_seconds{instance="f1",primary="10.0.0.53:53"}'
    tests = []
    for values, want in (("120+0x30", True), ("3+0x30", False)):
        tests.append({"interval": "1m",
                      "input_series": [{"series": series, "values": values}],
                      "promql_expr_test": [{
                          "expr": "count by (primary) (%s)" % expr.strip(),
                          "eval_time": "20m",
                          "exp_samples": [{"labels": '{primary="10.0.0.53:53"}', "value": 1}]
                          if want else []}]})
    f = workdir / "skew_rules_test.yml"
    f.write_text(yaml.safe_dump({"evaluation_interval": "1m", "tests": tests}, sort_keys=False))
    cp = subprocess.run([PROMTOOL, "test", "rules", str(f)], capture_output=True, text=True,
                        timeout=60)
    assert cp.returncode == 0, cp.stdout[-4000:] + cp.stderr[-2000:]
