/* zonesync/pub_metrics.c - the publisher's counters and their Prometheus
 * exposition (docs/publisher.md lists every family and the alerts on them).
 * Every family is written even when all its values are zero, so dashboards
 * and alert rules see a stable set of series. */
#include <stdio.h>
#include <time.h>
#include "common/strbuf.h"
#include "zonesync/pub_int.h"

#ifndef GRIDNS_VERSION
#define GRIDNS_VERSION "0.1.0"
#endif

static const char *const pub_kind_names[PUB_K_N] = { "soa", "axfr", "ixfr", "ixfr_full" };
static const char *const pub_result_names[PUB_R_N] = { "ok", "refused", "notauth", "failed",
							 "cut" };
static const char *const pub_deny_names[PUB_D_N] = { "network", "unsigned", "key", "badsig",
						     "badkey", "badtime", "badtrunc", "formerr" };

const char *pub_kind_name(enum pub_kind k)
{
	return k < PUB_K_N ? pub_kind_names[k] : "?";
}

const char *pub_deny_name(enum pub_deny d)
{
	return d < PUB_D_N ? pub_deny_names[d] : "?";
}

void pub_count_xfr(struct pub_zone *z, enum pub_kind k, enum pub_result r, uint64_t bytes)
{
	atomic_fetch_add_explicit(&z->xfr[k][r], 1, memory_order_relaxed);
	if (bytes)
		atomic_fetch_add_explicit(&z->bytes[k], bytes, memory_order_relaxed);
}

static void pm_head(struct strbuf *b, const char *name, const char *type, const char *help)
{
	strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static unsigned long long ld(atomic_uint_fast64_t *v)
{
	return (unsigned long long)atomic_load_explicit(v, memory_order_relaxed);
}

void pub_metrics_render(struct pub *p, struct strbuf *b)
{
	pm_head(b, "gridns_publisher_build_info", "gauge", "Version of the running publisher.");
	strbuf_printf(b, "gridns_publisher_build_info{version=\"%s\"} 1\n", GRIDNS_VERSION);
	pm_head(b, "gridns_publisher_start_time_seconds", "gauge",
		"Unix time the publisher started.");
	strbuf_printf(b, "gridns_publisher_start_time_seconds %.3f\n", p->start_time);

	pm_head(b, "gridns_publisher_zone_present", "gauge",
		"1 when the configured zone is in the database with a SOA.");
	for (size_t i = 0; i < p->n_zones; i++)
		strbuf_printf(b, "gridns_publisher_zone_present{zone=\"%s\"} %d\n",
			      p->zones[i].zc->name, atomic_load(&p->zones[i].present) ? 1 : 0);
	pm_head(b, "gridns_publisher_zone_serial", "gauge", "SOA serial the publisher serves.");
	for (size_t i = 0; i < p->n_zones; i++)
		strbuf_printf(b, "gridns_publisher_zone_serial{zone=\"%s\"} %u\n",
			      p->zones[i].zc->name, (unsigned)atomic_load(&p->zones[i].serial));
	pm_head(b, "gridns_publisher_zone_serial_change_time_seconds", "gauge",
		"Unix time the publisher first saw the current serial.");
	for (size_t i = 0; i < p->n_zones; i++)
		strbuf_printf(b, "gridns_publisher_zone_serial_change_time_seconds{zone=\"%s\"} %llu\n",
			      p->zones[i].zc->name, ld(&p->zones[i].last_change));

	pm_head(b, "gridns_publisher_requests_total", "counter",
		"SOA queries and transfers by kind (ixfr_full: IXFR answered with the whole "
		"zone) and result.");
	for (size_t i = 0; i < p->n_zones; i++)
		for (int k = 0; k < PUB_K_N; k++)
			for (int r = 0; r < PUB_R_N; r++)
				strbuf_printf(b, "gridns_publisher_requests_total{zone=\"%s\",kind=\"%s\","
					      "result=\"%s\"} %llu\n", p->zones[i].zc->name,
					      pub_kind_names[k], pub_result_names[r],
					      ld(&p->zones[i].xfr[k][r]));
	pm_head(b, "gridns_publisher_sent_bytes_total", "counter",
		"Octets sent in answers (TCP length prefixes included), by kind.");
	for (size_t i = 0; i < p->n_zones; i++)
		for (int k = 0; k < PUB_K_N; k++)
			strbuf_printf(b, "gridns_publisher_sent_bytes_total{zone=\"%s\",kind=\"%s\"} "
				      "%llu\n", p->zones[i].zc->name, pub_kind_names[k],
				      ld(&p->zones[i].bytes[k]));
	pm_head(b, "gridns_publisher_denied_total", "counter",
		"Requests refused by the zone's ACL or failing TSIG, by reason.");
	for (size_t i = 0; i < p->n_zones; i++)
		for (int d = 0; d < PUB_D_N; d++)
			strbuf_printf(b, "gridns_publisher_denied_total{zone=\"%s\",reason=\"%s\"} "
				      "%llu\n", p->zones[i].zc->name, pub_deny_names[d],
				      ld(&p->zones[i].denied[d]));
	pm_head(b, "gridns_publisher_tsig_failures_total", "counter",
		"Requests whose TSIG failed, by reason (all zones).");
	for (int d = PUB_D_BADSIG; d < PUB_D_N; d++)
		strbuf_printf(b, "gridns_publisher_tsig_failures_total{reason=\"%s\"} %llu\n",
			      pub_deny_names[d], ld(&p->tsig_fail[d]));
	pm_head(b, "gridns_publisher_tsig_clock_skew_max_seconds", "gauge",
		"Largest clock difference seen in a valid TSIG since start.");
	strbuf_printf(b, "gridns_publisher_tsig_clock_skew_max_seconds %lld\n",
		      (long long)atomic_load(&p->skew_max));
	pm_head(b, "gridns_publisher_tsig_clock_skew_warnings_total", "counter",
		"Valid TSIGs whose clock difference exceeded tsig.skew-warn.");
	strbuf_printf(b, "gridns_publisher_tsig_clock_skew_warnings_total %llu\n",
		      ld(&p->skew_warned));

	pm_head(b, "gridns_publisher_notify_sent_total", "counter",
		"NOTIFY messages sent, retries included.");
	for (size_t i = 0; i < p->n_zones; i++)
		strbuf_printf(b, "gridns_publisher_notify_sent_total{zone=\"%s\"} %llu\n",
			      p->zones[i].zc->name, ld(&p->zones[i].notify_sent));
	pm_head(b, "gridns_publisher_notify_acked_total", "counter",
		"NOTIFYs acknowledged by the downstream.");
	for (size_t i = 0; i < p->n_zones; i++)
		strbuf_printf(b, "gridns_publisher_notify_acked_total{zone=\"%s\"} %llu\n",
			      p->zones[i].zc->name, ld(&p->zones[i].notify_acked));
	pm_head(b, "gridns_publisher_notify_failed_total", "counter",
		"NOTIFYs given up (no answer after all retries, or refused).");
	for (size_t i = 0; i < p->n_zones; i++)
		strbuf_printf(b, "gridns_publisher_notify_failed_total{zone=\"%s\"} %llu\n",
			      p->zones[i].zc->name, ld(&p->zones[i].notify_failed));
	pm_head(b, "gridns_publisher_imports_total", "counter",
		"Imports of watched sources, by result.");
	for (size_t i = 0; i < p->n_zones; i++)
		strbuf_printf(b, "gridns_publisher_imports_total{zone=\"%s\",result=\"ok\"} %llu\n"
			      "gridns_publisher_imports_total{zone=\"%s\",result=\"failed\"} %llu\n",
			      p->zones[i].zc->name, ld(&p->zones[i].imports_ok),
			      p->zones[i].zc->name, ld(&p->zones[i].imports_failed));

	histo_write_header(b, "gridns_publisher_transfer_duration_seconds",
			   "Time to send a whole transfer (packing included when it packed), by kind.");
	for (int k = PUB_K_AXFR; k < PUB_K_N; k++) {
		struct histo_snap s = { 0 };
		char labels[64];
		for (size_t i = 0; i < p->n_workers; i++)
			histo_add_to(&s, &p->workers[i].dur[k]);
		snprintf(labels, sizeof(labels), "kind=\"%s\"", pub_kind_names[k]);
		histo_write_series(b, "gridns_publisher_transfer_duration_seconds", labels, &s);
	}
	{
		struct histo_snap s = { 0 };
		histo_write_header(b, "gridns_publisher_queue_wait_seconds",
				   "Time a transfer request waited for a worker (transfers.max).");
		for (size_t i = 0; i < p->n_workers; i++)
			histo_add_to(&s, &p->workers[i].wait);
		histo_write_series(b, "gridns_publisher_queue_wait_seconds", NULL, &s);
	}
	pm_head(b, "gridns_publisher_queue_depth", "gauge",
		"Jobs (transfers, digests, imports) waiting for a worker.");
	strbuf_printf(b, "gridns_publisher_queue_depth %llu\n", ld(&p->queued));
	pm_head(b, "gridns_publisher_transfers_active", "gauge", "Jobs being served now.");
	strbuf_printf(b, "gridns_publisher_transfers_active %llu\n", ld(&p->active));
	pm_head(b, "gridns_publisher_transfer_slots", "gauge", "transfers.max.");
	strbuf_printf(b, "gridns_publisher_transfer_slots %lld\n", (long long)p->conf->max_transfers);
	pm_head(b, "gridns_publisher_queue_full_total", "counter",
		"Transfer requests dropped because transfers.queue was full.");
	strbuf_printf(b, "gridns_publisher_queue_full_total %llu\n", ld(&p->queue_full));
	pm_head(b, "gridns_publisher_tcp_connections", "gauge", "Open TCP connections.");
	strbuf_printf(b, "gridns_publisher_tcp_connections %llu\n", ld(&p->tcp_open));
	pm_head(b, "gridns_publisher_tcp_refused_total", "counter",
		"TCP connections closed at once because tcp.max-connections were open.");
	strbuf_printf(b, "gridns_publisher_tcp_refused_total %llu\n", ld(&p->tcp_refused));
	pm_head(b, "gridns_publisher_unknown_zone_total", "counter",
		"Queries for zones this publisher does not serve.");
	strbuf_printf(b, "gridns_publisher_unknown_zone_total %llu\n", ld(&p->unknown_zone));
}
