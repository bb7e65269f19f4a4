/* common/histo.c - Prometheus latency histogram (see histo.h). */
#include <string.h>
#include "common/histo.h"

/* 1-2.5-5 per decade: fine where DNS latency lives (sub-ms cache hits to a
 * few hundred ms of recursion) without the 40 coarse log2 buckets operators
 * complained about.  The le= texts below must match these values. */
const uint64_t histo_bounds_ns[HISTO_NB] = {
	50000ull,      100000ull,     250000ull,     500000ull,
	1000000ull,    2500000ull,    5000000ull,    10000000ull,
	25000000ull,   50000000ull,   100000000ull,  250000000ull,
	500000000ull,  1000000000ull, 2500000000ull, 5000000000ull,
};

/* Exact decimal texts for le=, so that scrapes never show float noise such as
 * 5.0000000000000002e-05 and the label value is stable across versions. */
static const char *const histo_le_text[HISTO_NB] = {
	"5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
	"0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
};

unsigned histo_bucket(uint64_t ns)
{
	unsigned lo = 0, hi = HISTO_NB;

	/* First bound >= ns ("le" is inclusive). */
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (histo_bounds_ns[mid] >= ns)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static inline void histo_add_relaxed(atomic_uint_fast64_t *c, uint64_t v)
{
	/* Single writer: load + store is enough and avoids a locked add. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

void histo_record_ns(struct histo *h, uint64_t ns)
{
	histo_add_relaxed(&h->b[histo_bucket(ns)], 1);
	histo_add_relaxed(&h->sum_ns, ns);
}

void histo_add_to(struct histo_snap *acc, const struct histo *h)
{
	for (unsigned i = 0; i <= HISTO_NB; i++)
		acc->b[i] += atomic_load_explicit(&h->b[i], memory_order_relaxed);
	acc->sum_ns += atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}

uint64_t histo_snap_count(const struct histo_snap *s)
{
	uint64_t n = 0;
	for (unsigned i = 0; i <= HISTO_NB; i++)
		n += s->b[i];
	return n;
}

void histo_write_header(struct strbuf *out, const char *name, const char *help)
{
	strbuf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
}

void histo_escape_label(struct strbuf *out, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\\')
			strbuf_add(out, "\\\\", 2);
		else if (*p == '"')
			strbuf_add(out, "\\\"", 2);
		else if (*p == '\n')
			strbuf_add(out, "\\n", 2);
		else
			strbuf_add(out, p, 1);
	}
}

void histo_write_series(struct strbuf *out, const char *name, const char *labels,
			const struct histo_snap *s)
{
	const char *sep = (labels && *labels) ? "," : "";
	const char *lb = labels ? labels : "";
	uint64_t cum = 0;

	for (unsigned i = 0; i < HISTO_NB; i++) {
		cum += s->b[i];
		strbuf_printf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, lb, sep,
			      histo_le_text[i], (unsigned long long)cum);
	}
	cum += s->b[HISTO_NB];
	strbuf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, lb, sep,
		      (unsigned long long)cum);
	if (*lb) {
		strbuf_printf(out, "%s_sum{%s} %.9f\n", name, lb, (double)s->sum_ns / 1e9);
		strbuf_printf(out, "%s_count{%s} %llu\n", name, lb, (unsigned long long)cum);
	} else {
		strbuf_printf(out, "%s_sum %.9f\n", name, (double)s->sum_ns / 1e9);
		strbuf_printf(out, "%s_count %llu\n", name, (unsigned long long)cum);
	}
}
