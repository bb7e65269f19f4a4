/* resolver/answer_metrics.c - the answer engine's Prometheus exposition.
 * Runs on the metrics thread: reads the workers' counters with relaxed loads
 * (each is monotonic; a scrape may see one context a query ahead of another,
 * which Prometheus tolerates) and the snapshot through its own reader. */
#include <string.h>
#include <time.h>
#include "common/strbuf.h"
#include "resolver/answer_int.h"

static uint64_t ld(const atomic_uint_fast64_t *c)
{
	return (uint64_t)atomic_load_explicit(c, memory_order_relaxed);
}

static void family(struct strbuf *out, const char *name, const char *type, const char *help)
{
	strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values escape backslash, double quote and newline (exposition format). */
static void label_value(struct strbuf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\\' || c == '"')
			strbuf_printf(out, "\\%c", c);
		else if (c == '\n')
			strbuf_add(out, "\\n", 2);
		else
			strbuf_add(out, &c, 1);
	}
}

static const char *const rcode_names[WIRE_R_COUNT] = {
	[WIRE_R_NOERROR] = "NOERROR", [WIRE_R_FORMERR] = "FORMERR",
	[WIRE_R_SERVFAIL] = "SERVFAIL", [WIRE_R_NXDOMAIN] = "NXDOMAIN",
	[WIRE_R_NOTIMP] = "NOTIMP", [WIRE_R_REFUSED] = "REFUSED",
	[WIRE_R_BADVERS] = "BADVERS",
};

enum zcounter { ZC_QUERIES, ZC_LISTED, ZC_UNLISTED, ZC_ERRORS };

static uint64_t slot_value(const struct answer_zslot *s, enum zcounter which)
{
	switch (which) {
	case ZC_QUERIES: return ld(&s->queries);
	case ZC_LISTED: return ld(&s->listed);
	case ZC_UNLISTED: return ld(&s->unlisted);
	case ZC_ERRORS: return ld(&s->errors);
	}
	return 0;
}

/* One per-zone counter family summed over contexts.  Zone names are matched
 * by text since each context numbers its slots independently. */
static void zone_counter(struct answer_ctx *const *ctxs, size_t n, struct strbuf *out,
			 const char *name, const char *help, enum zcounter which)
{
	family(out, name, "counter", help);
	for (size_t c = 0; c < n; c++) {
		for (uint32_t s = 0; s < ANSWER_ZSLOTS; s++) {
			const struct answer_zslot *sl = &ctxs[c]->slots[s];
			if (!atomic_load_explicit(&sl->used, memory_order_acquire))
				break;
			/* Printed by the first context that has this zone. */
			bool dup = false;
			for (size_t p = 0; p < c && !dup; p++)
				for (uint32_t t = 0; t < ANSWER_ZSLOTS; t++) {
					const struct answer_zslot *o = &ctxs[p]->slots[t];
					if (!atomic_load_explicit(&o->used, memory_order_acquire))
						break;
					if (strcmp(o->name, sl->name) == 0) {
						dup = true;
						break;
					}
				}
			if (dup)
				continue;
			uint64_t sum = 0;
			for (size_t p = c; p < n; p++)
				for (uint32_t t = 0; t < ANSWER_ZSLOTS; t++) {
					const struct answer_zslot *o = &ctxs[p]->slots[t];
					if (!atomic_load_explicit(&o->used, memory_order_acquire))
						break;
					if (strcmp(o->name, sl->name) == 0) {
						sum += slot_value(o, which);
						break;
					}
				}
			strbuf_printf(out, "%s{zone=\"", name);
			label_value(out, sl->name, strlen(sl->name));
			strbuf_printf(out, "\"} %llu\n", (unsigned long long)sum);
		}
	}
}

enum zgauge { ZG_SERIAL, ZG_AGE, ZG_ENTRIES, ZG_EXPIRED };

struct gauge_walk {
	struct strbuf *out;
	const char *name;
	enum zgauge which;
	int64_t now;
};

static int gauge_cb(void *arg, const struct snap_zone *z)
{
	struct gauge_walk *g = arg;
	long long v = 0;

	switch (g->which) {
	case ZG_SERIAL:
		v = z->serial;
		break;
	case ZG_AGE:
		v = g->now - z->loaded;
		break;
	case ZG_ENTRIES:
		for (uint32_t i = 0; i < z->n_ds; i++) {
			struct snap_ds d;
			if (snap_zone_ds(z, i, &d) == 0)
				v += (long long)d.n_entries;
		}
		break;
	case ZG_EXPIRED:
		v = z->ts_expires && g->now > z->ts_expires;
		break;
	}
	strbuf_printf(g->out, "%s{zone=\"", g->name);
	label_value(g->out, z->name, z->name_len);
	strbuf_printf(g->out, "\"} %lld\n", v);
	return 0;
}

static void zone_gauge(snap_rd *rd, struct strbuf *out, int64_t now, const char *name,
		       const char *help, enum zgauge which)
{
	struct gauge_walk g = { out, name, which, now };
	family(out, name, "gauge", help);
	if (rd)
		(void)snap_rd_zones(rd, gauge_cb, &g); /* errors: the family stays partial */
}

void answer_metrics_write(struct answer_ctx *const *ctxs, size_t n, snap_rd *rd,
			  struct strbuf *out)
{
	uint64_t q = 0, d = 0, rc[WIRE_R_COUNT] = { 0 };
	struct timespec ts;

	for (size_t c = 0; c < n; c++) {
		q += ld(&ctxs[c]->queries);
		d += ld(&ctxs[c]->dropped);
		for (int i = 0; i < WIRE_R_COUNT; i++)
			rc[i] += ld(&ctxs[c]->rcode[i]);
	}
	family(out, "gridns_queries_total", "counter",
	       "DNS messages received by the local answer engine.");
	strbuf_printf(out, "gridns_queries_total %llu\n", (unsigned long long)q);
	family(out, "gridns_queries_dropped_total", "counter",
	       "Messages dropped unanswered (responses, runts, no room).");
	strbuf_printf(out, "gridns_queries_dropped_total %llu\n", (unsigned long long)d);
	family(out, "gridns_responses_total", "counter",
	       "Responses sent by the local answer engine, by rcode.");
	for (int i = 0; i < WIRE_R_COUNT; i++)
		if (rcode_names[i])
			strbuf_printf(out, "gridns_responses_total{rcode=\"%s\"} %llu\n",
				      rcode_names[i], (unsigned long long)rc[i]);

	zone_counter(ctxs, n, out, "gridns_zone_queries_total",
		     "Queries answered from a local zone.", ZC_QUERIES);
	zone_counter(ctxs, n, out, "gridns_zone_listed_total",
		     "Positive answers (NOERROR with data) from a local zone.", ZC_LISTED);
	zone_counter(ctxs, n, out, "gridns_zone_unlisted_total",
		     "NXDOMAIN answers from a local zone.", ZC_UNLISTED);
	zone_counter(ctxs, n, out, "gridns_zone_errors_total",
		     "SERVFAIL (unreadable data) or REFUSED (expired data) for a local zone.",
		     ZC_ERRORS);

	clock_gettime(CLOCK_REALTIME, &ts);
	if (rd && snap_rd_begin(rd) < 0)
		rd = NULL;
	zone_gauge(rd, out, ts.tv_sec, "gridns_zone_serial",
		   "SOA serial of the zone in the snapshot.", ZG_SERIAL);
	zone_gauge(rd, out, ts.tv_sec, "gridns_zone_age_seconds",
		   "Seconds since the zone was loaded into the snapshot.", ZG_AGE);
	zone_gauge(rd, out, ts.tv_sec, "gridns_zone_entries",
		   "Stored entries (ranges, names, records) of the zone.", ZG_ENTRIES);
	zone_gauge(rd, out, ts.tv_sec, "gridns_zone_expired",
		   "1 when the zone's $TIMESTAMP expiry has passed (served as absent).",
		   ZG_EXPIRED);
	if (rd)
		snap_rd_end(rd);
}
