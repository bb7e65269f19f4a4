/* resolver/tier_metrics.c - tier counters: recorded per worker slot by the
 * worker (one writer, relaxed atomics), summed over slots by the renderer.
 */
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "resolver/tier_int.h"

static const char *const skip_reason_str[TIER_SKIP_COUNT] = {
	[TIER_SKIP_TIMEOUT] = "timeout",   [TIER_SKIP_SERVFAIL] = "servfail",
	[TIER_SKIP_REFUSED] = "refused",   [TIER_SKIP_ERROR] = "error",
	[TIER_SKIP_DOWN] = "down",         [TIER_SKIP_HEDGE] = "hedge",
	[TIER_SKIP_DNSBL_ERROR] = "dnsbl_error",
};

/* The result label of gridns_tier_attempts_total, by outcome; NULL: not an
 * attempt (never asked, skipped, still running). */
static const char *const attempt_result_str[TIER_O_COUNT] = {
	[TIER_O_OK] = "ok",           [TIER_O_TIMEOUT] = "timeout",
	[TIER_O_SERVFAIL] = "servfail", [TIER_O_REFUSED] = "refused",
	[TIER_O_ERROR] = "error",     [TIER_O_DNSBL_ERROR] = "dnsbl_error",
	[TIER_O_CANCELLED] = "cancelled",
};

int tier_stats_new(const struct tier_conf *confs, size_t n, unsigned n_workers,
		   struct tier_stats **out)
{
	struct tier_stats *st = NULL;
	int ret = GN_OK;

	*out = NULL;
	if (n == 0 || n > TIER_MAX || n_workers == 0) {
		ret = GN_EINVAL;
		goto out;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		ret = GN_ENOMEM;
		goto out;
	}
	st->n = n;
	st->n_workers = n_workers;
	for (size_t i = 0; i < n; i++) {
		char why[256];
		/* Names become label values unescaped: only the checked charset. */
		ret = tier_conf_check(&confs[i], i + 1 == n, why, sizeof(why));
		if (ret < 0) {
			log_err("%s", why);
			goto out;
		}
		strcpy(st->names[i], confs[i].name);
	}
	/* calloc: zeroed atomics are valid initial values. */
	st->slots = calloc(n_workers, sizeof(*st->slots));
	if (!st->slots) {
		ret = GN_ENOMEM;
		goto out;
	}
	*out = st;
	st = NULL;
out:
	tier_stats_free(st);
	return ret;
}

void tier_stats_free(struct tier_stats *st)
{
	if (!st)
		return;
	free(st->slots);
	free(st);
}

void tier_stat_attempt(struct tierset *ts, unsigned tier, enum tier_outcome o, uint64_t dur_ns)
{
	struct tier_wstats *w = &ts->slot->t[tier];

	tier_inc(&w->attempts[o]);
	/* Durations only of attempts that reached a verdict: a cancelled one
	 * says how fast another tier was, not this one. */
	if (o != TIER_O_CANCELLED)
		histo_record_ns(&w->dur, dur_ns);
}

void tier_stat_skip(struct tierset *ts, unsigned from, int to, enum tier_skip_reason r)
{
	size_t t = to < 0 ? ts->n : (size_t)to;
	tier_inc(&ts->slot->t[from].skips[t][r]);
}

void tier_stat_dnsbl(struct tierset *ts, unsigned tier, unsigned code)
{
	if (code < TIER_DNSBL_SLOTS)
		tier_inc(&ts->slot->t[tier].dnsbl[code]);
}

void tier_stat_down(struct tierset *ts, unsigned tier, bool down)
{
	atomic_store_explicit(&ts->slot->t[tier].down, down ? 1u : 0u, memory_order_relaxed);
}

void tier_stat_servfail(struct tierset *ts, enum tier_fail f)
{
	tier_inc(&ts->slot->servfail[f]);
}

static uint64_t ld(const atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static void family(struct strbuf *out, const char *name, const char *type, const char *help)
{
	strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void tier_stats_write(const struct tier_stats *st, struct strbuf *out)
{
	const size_t n = st->n;

	histo_write_header(out, "gridns_tier_attempt_duration_seconds",
			   "Time from sending a query to a tier to its verdict (answer, error or timeout).");
	for (size_t i = 0; i < n; i++) {
		struct histo_snap s;
		struct strbuf lb;
		memset(&s, 0, sizeof(s));
		for (unsigned w = 0; w < st->n_workers; w++)
			histo_add_to(&s, &st->slots[w].t[i].dur);
		strbuf_init(&lb);
		strbuf_add(&lb, "tier=\"", 6);
		histo_escape_label(&lb, st->names[i]);
		strbuf_add(&lb, "\"", 1);
		histo_write_series(out, "gridns_tier_attempt_duration_seconds",
				   lb.err ? "" : lb.p, &s);
		strbuf_free(&lb);
	}

	family(out, "gridns_tier_attempts_total", "counter",
	       "Queries sent to a tier, by result.");
	for (size_t i = 0; i < n; i++)
		for (int o = 0; o < TIER_O_COUNT; o++) {
			uint64_t v = 0;
			if (!attempt_result_str[o])
				continue;
			for (unsigned w = 0; w < st->n_workers; w++)
				v += ld(&st->slots[w].t[i].attempts[o]);
			strbuf_printf(out, "gridns_tier_attempts_total{tier=\"%s\",result=\"%s\"} %llu\n",
				      st->names[i], attempt_result_str[o], (unsigned long long)v);
		}

	/* Skips: every from/to/reason would be (n+1)*n*7 zero series; emit the
	 * ones that happened, plus one zero series per tier so that rate() and
	 * absent() based alerts have a series from the first scrape. */
	family(out, "gridns_tier_skips_total", "counter",
	       "Queries that moved on from tier `from` to tier `to` (none: no tier left), by reason.");
	for (size_t i = 0; i < n; i++) {
		bool any = false;
		for (size_t t = 0; t <= n; t++)
			for (int r = 0; r < TIER_SKIP_COUNT; r++) {
				uint64_t v = 0;
				for (unsigned w = 0; w < st->n_workers; w++)
					v += ld(&st->slots[w].t[i].skips[t][r]);
				if (!v)
					continue;
				any = true;
				strbuf_printf(out, "gridns_tier_skips_total{from=\"%s\",to=\"%s\",reason=\"%s\"} %llu\n",
					      st->names[i], t < n ? st->names[t] : "none",
					      skip_reason_str[r], (unsigned long long)v);
			}
		if (!any)
			strbuf_printf(out, "gridns_tier_skips_total{from=\"%s\",to=\"%s\",reason=\"timeout\"} 0\n",
				      st->names[i], i + 1 < n ? st->names[i + 1] : "none");
	}

	family(out, "gridns_tier_up", "gauge",
	       "1 when no worker has the tier's circuit breaker open, else 0.");
	for (size_t i = 0; i < n; i++)
		strbuf_printf(out, "gridns_tier_up{tier=\"%s\"} %d\n", st->names[i],
			      tier_stats_down_workers(st, i) ? 0 : 1);
	family(out, "gridns_tier_down_workers", "gauge",
	       "Workers whose circuit breaker for the tier is open.");
	for (size_t i = 0; i < n; i++) {
		strbuf_printf(out, "gridns_tier_down_workers{tier=\"%s\"} %u\n", st->names[i],
			      tier_stats_down_workers(st, i));
	}

	family(out, "gridns_dnsbl_error_answers_total", "counter",
	       "DNSBL answers that were error codes (127.255.255.x) or outside 127/8, never passed on as listings.");
	for (size_t i = 0; i < n; i++)
		for (unsigned c = 0; c < TIER_DNSBL_SLOTS; c++) {
			uint64_t v = 0;
			for (unsigned w = 0; w < st->n_workers; w++)
				v += ld(&st->slots[w].t[i].dnsbl[c]);
			if (!v)
				continue;
			if (c == TIER_DNSBL_OUTSIDE)
				strbuf_printf(out, "gridns_dnsbl_error_answers_total{tier=\"%s\",code=\"outside_127/8\"} %llu\n",
					      st->names[i], (unsigned long long)v);
			else
				strbuf_printf(out, "gridns_dnsbl_error_answers_total{tier=\"%s\",code=\"127.255.255.%u\"} %llu\n",
					      st->names[i], c, (unsigned long long)v);
		}

	family(out, "gridns_servfail_total", "counter",
	       "SERVFAIL answers because every tier failed, by the reason of the last tier asked.");
	for (int f = 1; f < TIER_FAIL_COUNT; f++) {
		uint64_t v = 0;
		for (unsigned w = 0; w < st->n_workers; w++)
			v += ld(&st->slots[w].servfail[f]);
		strbuf_printf(out, "gridns_servfail_total{reason=\"%s\"} %llu\n",
			      tier_fail_str((enum tier_fail)f), (unsigned long long)v);
	}
}

size_t tier_stats_count(const struct tier_stats *st) { return st ? st->n : 0; }

const char *tier_stats_name(const struct tier_stats *st, size_t i)
{
	return i < st->n ? st->names[i] : "?";
}

unsigned tier_stats_workers(const struct tier_stats *st) { return st->n_workers; }

unsigned tier_stats_down_workers(const struct tier_stats *st, size_t i)
{
	unsigned down = 0;
	for (unsigned w = 0; i < st->n && w < st->n_workers; w++)
		down += atomic_load_explicit(&st->slots[w].t[i].down, memory_order_relaxed) ? 1u : 0u;
	return down;
}
