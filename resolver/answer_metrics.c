/* resolver/answer_metrics.c - the answer engine's Prometheus exposition.
 * Runs on the metrics thread: reads the workers' counters with relaxed loads
 * (each is monotonic; a scrape may see one context a query ahead of another,
 * which Prometheus tolerates) and the snapshot through its own reader. */
#include <stdlib.h>
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

enum zcounter { ZC_QUERIES, ZC_LISTED, ZC_UNLISTED, ZC_ERRORS, ZC_N };

struct zrow {
	const char *name;
	uint64_t v[ZC_N];
};

static int zrow_cmp(const void *a, const void *b)
{
	return strcmp(((const struct zrow *)a)->name, ((const struct zrow *)b)->name);
}

/* Per-zone counters summed over contexts.  Each context numbers its slots
 * independently, so rows are matched by zone name: collect, sort, merge
 * (O(n log n) however many workers and zones).  Returns the merged row
 * count; *out is freed by the caller; 0 rows on allocation failure (the
 * families are then printed empty rather than wrong). */
static size_t zone_rows(struct answer_ctx *const *ctxs, size_t n, struct zrow **out)
{
	size_t total = 0, w = 0;
	struct zrow *rows;

	*out = NULL;
	for (size_t c = 0; c < n; c++)
		for (uint32_t s = 0; s < ANSWER_ZSLOTS; s++) {
			if (!atomic_load_explicit(&ctxs[c]->slots[s].used, memory_order_acquire))
				break;
			total++;
		}
	if (total == 0 || !(rows = calloc(total, sizeof(*rows))))
		return 0;
	for (size_t c = 0; c < n; c++)
		for (uint32_t s = 0; s < ANSWER_ZSLOTS && w < total; s++) {
			const struct answer_zslot *sl = &ctxs[c]->slots[s];
			if (!atomic_load_explicit(&sl->used, memory_order_acquire))
				break;
			rows[w].name = sl->name;
			rows[w].v[ZC_QUERIES] = ld(&sl->queries);
			rows[w].v[ZC_LISTED] = ld(&sl->listed);
			rows[w].v[ZC_UNLISTED] = ld(&sl->unlisted);
			rows[w].v[ZC_ERRORS] = ld(&sl->errors);
			w++;
		}
	qsort(rows, w, sizeof(*rows), zrow_cmp);
	size_t m = 0;
	for (size_t i = 0; i < w; i++) {
		if (m && strcmp(rows[m - 1].name, rows[i].name) == 0) {
			for (int k = 0; k < ZC_N; k++)
				rows[m - 1].v[k] += rows[i].v[k];
			continue;
		}
		rows[m++] = rows[i];
	}
	*out = rows;
	return m;
}

static void zone_counter(const struct zrow *rows, size_t n, struct strbuf *out,
			 const char *name, const char *help, enum zcounter which)
{
	family(out, name, "counter", help);
	for (size_t i = 0; i < n; i++) {
		strbuf_printf(out, "%s{zone=\"", name);
		label_value(out, rows[i].name, strlen(rows[i].name));
		strbuf_printf(out, "\"} %llu\n", (unsigned long long)rows[i].v[which]);
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

/* gridns_zone_acl_actions_total{zone,action}: only zones and actions that
 * happened, summed over contexts.  The counters are kept per zone-acl zone
 * (answer_zz), not in the snapshot zones' slots, so a rule zone the
 * snapshot lacks is counted too; the label is the zone as the rules name
 * it.  Contexts are matched by that name as in zone_rows (collect, sort,
 * merge); a node without zone-acl has no rows at all. */
struct zarow {
	const char *name;
	uint64_t v[ANSWER_ZACL_N];
};

static int zarow_cmp(const void *a, const void *b)
{
	return strcmp(((const struct zarow *)a)->name, ((const struct zarow *)b)->name);
}

static void zacl_metrics(struct answer_ctx *const *ctxs, size_t n, struct strbuf *out)
{
	static const char *const names[ANSWER_ZACL_N] = { "pass", "ignore", "refuse", "empty",
							  "fixed" };
	size_t total = 0, w = 0, m = 0;
	struct zarow *rows;

	family(out, "gridns_zone_acl_actions_total", "counter",
	       "Queries that matched a zone-acl rule, by zone and action.");
	/* The tables are fixed once a context exists: no count can go stale. */
	for (size_t c = 0; c < n; c++)
		total += ctxs[c]->n_zz;
	if (total == 0 || !(rows = calloc(total, sizeof(*rows))))
		return; /* no memory: the family is printed empty rather than wrong */
	for (size_t c = 0; c < n; c++)
		for (uint32_t z = 0; z < ctxs[c]->n_zz; z++) {
			const struct answer_zz *zz = &ctxs[c]->zz[z];
			uint64_t any = 0;
			for (int a = 0; a < ANSWER_ZACL_N; a++)
				any |= rows[w].v[a] = ld(&zz->acts[a]);
			if (!any)
				continue; /* the row is overwritten by the next one */
			rows[w++].name = zz->rules->zone;
		}
	qsort(rows, w, sizeof(*rows), zarow_cmp);
	for (size_t i = 0; i < w; i++) {
		if (m && strcmp(rows[m - 1].name, rows[i].name) == 0) {
			for (int a = 0; a < ANSWER_ZACL_N; a++)
				rows[m - 1].v[a] += rows[i].v[a];
			continue;
		}
		rows[m++] = rows[i];
	}
	for (size_t i = 0; i < m; i++)
		for (int a = 0; a < ANSWER_ZACL_N; a++) {
			if (rows[i].v[a] == 0)
				continue;
			strbuf_printf(out, "gridns_zone_acl_actions_total{zone=\"");
			label_value(out, rows[i].name, strlen(rows[i].name));
			strbuf_printf(out, "\",action=\"%s\"} %llu\n", names[a],
				      (unsigned long long)rows[i].v[a]);
		}
	free(rows);
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

	struct zrow *rows;
	size_t nr = zone_rows(ctxs, n, &rows);
	zone_counter(rows, nr, out, "gridns_zone_queries_total",
		     "Queries answered from a local zone.", ZC_QUERIES);
	zone_counter(rows, nr, out, "gridns_zone_listed_total",
		     "Positive answers (NOERROR with data) from a local zone.", ZC_LISTED);
	zone_counter(rows, nr, out, "gridns_zone_unlisted_total",
		     "NXDOMAIN answers from a local zone.", ZC_UNLISTED);
	zone_counter(rows, nr, out, "gridns_zone_errors_total",
		     "SERVFAIL (unreadable data) or REFUSED (expired data) for a local zone.",
		     ZC_ERRORS);
	free(rows);
	zacl_metrics(ctxs, n, out);

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		ts.tv_sec = time(NULL);
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
