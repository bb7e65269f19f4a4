/* tools/tlat.c - `gridns latency`: where does the lookup time go, per node?
 *
 * Scrapes /metrics from many resolvers at once (one thread per node, at
 * most TLAT_PAR in parallel, each bounded by --timeout) and prints for
 * each: p50/p99 per answer source and per tier attempt (quantiles from the
 * cumulative histogram buckets, as histogram_quantile computes them; these
 * are since process start, not a rate window), skip rates per tier, the
 * cache hit ratio and zone ages.  Nodes that skip tiers more than
 * --skip-warn or hold zones older than --stale-age (or expired) are
 * flagged: that is the latency nobody measured in the incidents.
 */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "tools/thttp.h"
#include "tools/tools.h"
#include "tools/tprom.h"
#include "tools/tutil.h"

#define TLAT_PAR 32
#define TLAT_MAX_NODES 4096
#define TLAT_MAX_SERIES 64

/* One node's scrape. */
struct tlat_node {
	const char *url;
	int timeout_ms;
	int ret;
	char err[256];
	char *body;
	size_t len;
};

static void *tlat_fetch(void *arg)
{
	struct tlat_node *n = arg;

	n->ret = thttp_get(n->url, n->timeout_ms, &n->body, &n->len, n->err, sizeof(n->err));
	return NULL;
}

/* Label values come from the network: print at most 64 octets of them,
 * with anything but printable ASCII as '?', so a hostile node cannot send
 * terminal escape sequences or flood the report. */
static const char *safe(const char *s, char buf[68])
{
	size_t i = 0;

	for (; s[i] && i < 64; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i])
		buf[i++] = '~';
	buf[i] = '\0';
	return buf;
}

static void fmt_ms(char *buf, size_t cap, double sec)
{
	if (isnan(sec))
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%.3fms", sec * 1000.0);
}

/* Print one histogram row: label value, count, p50, p99. */
static void hist_row(const struct tprom_set *set, const char *family, const char *lname,
		     const char *lvalue, const char *extra)
{
	char cn[128], p50[32], p99[32], sb[68];
	size_t found = 0;

	snprintf(cn, sizeof(cn), "%s_count", family);
	double count = tprom_sum(set, cn, lname, lvalue, &found);
	fmt_ms(p50, sizeof(p50), tprom_hist_quantile(set, family, lname, lvalue, 0.5));
	fmt_ms(p99, sizeof(p99), tprom_hist_quantile(set, family, lname, lvalue, 0.99));
	printf("    %-16s %12.0f %12s %12s%s\n", safe(lvalue, sb), found ? count : 0, p50, p99,
	       extra ? extra : "");
}

/* Report one node; returns 1 when something is flagged, else 0. */
static int tlat_report(const struct tprom_set *set, double skip_warn, double stale_age)
{
	const char *v[TLAT_MAX_SERIES];
	char flags[1024] = "", sb[68];
	size_t n, fl = 0;
	double lookups = tprom_sum(set, "gridns_lookup_duration_seconds_count", NULL, NULL, NULL);

	if (lookups <= 0)
		lookups = tprom_sum(set, "gridns_queries_total", NULL, NULL, NULL);

	printf("  lookups by source   %12s %12s %12s\n", "count", "p50", "p99");
	n = tprom_label_values(set, "gridns_lookup_duration_seconds_count", "source", v,
			       TLAT_MAX_SERIES);
	for (size_t i = 0; i < n; i++)
		hist_row(set, "gridns_lookup_duration_seconds", "source", v[i], NULL);
	if (n == 0)
		printf("    (no gridns_lookup_duration_seconds in this exposition)\n");

	printf("  tier attempts       %12s %12s %12s %10s %10s\n", "count", "p50", "p99", "skips",
	       "skip rate");
	n = tprom_label_values(set, "gridns_tier_attempt_duration_seconds_count", "tier", v,
			       TLAT_MAX_SERIES);
	for (size_t i = 0; i < n; i++) {
		char extra[64];
		double sk = tprom_sum(set, "gridns_tier_skips_total", "from", v[i], NULL);
		double rate = lookups > 0 ? sk / lookups : 0;
		snprintf(extra, sizeof(extra), " %10.0f %9.2f%%", sk, rate * 100);
		hist_row(set, "gridns_tier_attempt_duration_seconds", "tier", v[i], extra);
		if (rate > skip_warn && fl < sizeof(flags))
			fl += (size_t)snprintf(flags + fl, sizeof(flags) - fl,
					       "%sskips from tier %s on %.2f%% of lookups",
					       fl ? "; " : "", safe(v[i], sb), rate * 100);
	}
	if (n == 0)
		printf("    (no tiers configured)\n");

	size_t fh = 0, fm = 0;
	double hits = tprom_sum(set, "gridns_cache_hits_total", NULL, NULL, &fh);
	double miss = tprom_sum(set, "gridns_cache_misses_total", NULL, NULL, &fm);
	if (fh + fm == 0)
		printf("  cache hit ratio     - (no cache metrics)\n");
	else if (hits + miss <= 0)
		printf("  cache hit ratio     - (no cache lookups yet)\n");
	else
		printf("  cache hit ratio     %.3f (%.0f hits, %.0f misses)\n", hits / (hits + miss),
		       hits, miss);

	n = tprom_label_values(set, "gridns_zone_age_seconds", "zone", v, TLAT_MAX_SERIES);
	printf("  zones               %zu\n", n);
	for (size_t i = 0; i < n; i++) {
		size_t fe = 0;
		double age = tprom_sum(set, "gridns_zone_age_seconds", "zone", v[i], NULL);
		double exp = tprom_sum(set, "gridns_zone_expired", "zone", v[i], &fe);
		int stale = (fe && exp > 0) || age > stale_age;
		printf("    %-32s age %10.0fs%s\n", safe(v[i], sb), age,
		       fe && exp > 0 ? "  EXPIRED" : stale ? "  STALE" : "");
		if (stale && fl < sizeof(flags))
			fl += (size_t)snprintf(flags + fl, sizeof(flags) - fl,
					       "%szone %s %s (age %.0fs)", fl ? "; " : "", safe(v[i], sb),
					       fe && exp > 0 ? "expired" : "stale", age);
	}
	if (fl)
		printf("  FLAGGED: %s\n", flags);
	return fl ? 1 : 0;
}

static void tlat_usage(FILE *f)
{
	fprintf(f,
		"usage: gridns latency [--timeout MS] [--skip-warn PCT] [--stale-age S] URL...\n"
		"  URL: http://HOST:PORT[/metrics] of a gridns-resolver\n"
		"  --skip-warn PCT  flag a node whose tier skips exceed PCT %% of lookups (default 1)\n"
		"  --stale-age S    flag zones older than S seconds (default 3600) or expired\n"
		"  exit: 0 all scraped, nothing flagged; 1 something flagged; 2 a node could not\n"
		"        be scraped or parsed; 3 usage\n");
}

int tlat_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "skip-warn", required_argument, NULL, 'k' },
		{ "stale-age", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tlat_node *nodes = NULL;
	long timeout = 5000, skip_pct = 1, stale = 3600, v;
	int c, ret = 3, flagged = 0, failed = 0;
	size_t nn;

	while ((c = getopt_long(argc, argv, "t:k:a:h", lo, NULL)) != -1) {
		switch (c) {
		case 't':
		case 'k':
		case 'a':
			if (tutil_int(optarg, c == 'k' ? 0 : 1, c == 't' ? 60000 : c == 'k' ? 100 : 100000000,
				      &v) != 0) {
				fprintf(stderr, "gridns latency: bad value '%s'\n", optarg);
				return 3;
			}
			*(c == 't' ? &timeout : c == 'k' ? &skip_pct : &stale) = v;
			break;
		case 'h':
			tlat_usage(stdout);
			return 0;
		default:
			tlat_usage(stderr);
			return 3;
		}
	}
	if (optind >= argc || argc - optind > TLAT_MAX_NODES) {
		fprintf(stderr, "gridns latency: give 1..%d URLs\n", TLAT_MAX_NODES);
		tlat_usage(stderr);
		return 3;
	}
	nn = (size_t)(argc - optind);
	nodes = calloc(nn, sizeof(*nodes));
	if (!nodes) {
		fprintf(stderr, "gridns latency: out of memory\n");
		return 3;
	}
	for (size_t i = 0; i < nn; i++) {
		nodes[i].url = argv[optind + (int)i];
		nodes[i].timeout_ms = (int)timeout;
	}
	/* Scrape in waves of TLAT_PAR threads; a thread that cannot start
	 * scrapes inline instead. */
	for (size_t base = 0; base < nn; base += TLAT_PAR) {
		pthread_t th[TLAT_PAR];
		int started[TLAT_PAR] = { 0 };
		size_t end = base + TLAT_PAR < nn ? base + TLAT_PAR : nn;
		for (size_t i = base; i < end; i++)
			if (pthread_create(&th[i - base], NULL, tlat_fetch, &nodes[i]) == 0)
				started[i - base] = 1;
			else
				tlat_fetch(&nodes[i]);
		for (size_t i = base; i < end; i++)
			if (started[i - base])
				pthread_join(th[i - base], NULL);
	}
	for (size_t i = 0; i < nn; i++) {
		struct tlat_node *nd = &nodes[i];
		struct tprom_set set;
		printf("%s\n", nd->url);
		if (nd->ret != 0) {
			printf("  UNREACHABLE: %s\n", nd->err);
			failed = 1;
			continue;
		}
		if (tprom_parse(nd->body, nd->len, &set) != 0 || set.n == 0) {
			printf("  UNREADABLE: no Prometheus samples in the response\n");
			failed = 1;
			tprom_free(&set);
			continue;
		}
		if (set.errors)
			printf("  warning: %zu malformed line(s) ignored, first at line %zu\n",
			       set.errors, set.first_error);
		flagged |= tlat_report(&set, (double)skip_pct / 100.0, (double)stale);
		tprom_free(&set);
	}
	ret = failed ? 2 : flagged ? 1 : 0;
	for (size_t i = 0; i < nn; i++)
		free(nodes[i].body);
	free(nodes);
	return ret;
}
