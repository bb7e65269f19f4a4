/* resolver/rec.c - cache and tiers for what the snapshot does not answer
 * (see rec.h).
 *
 * Life of a query: ACL -> cache (fresh hit: answered now) -> a pending slot
 * from the worker's pool -> tierset_resolve -> rec_tier_done: the answer is
 * cached and delivered, or, when every tier failed, stale data (if allowed)
 * or SERVFAIL with the tiers' EDE.  A slot whose client went away (TCP
 * close) is cancelled and never answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/log.h"
#include "resolver/rec.h"
#include "resolver/upstream.h"

/* Sources of gridns_lookup_duration_seconds: local, cache, then tiers. */
enum { SRC_LOCAL = 0, SRC_CACHE = 1, SRC_STALE = 2, SRC_FAIL = 3, SRC_TIER0 = 4 };
#define SRC_N (SRC_TIER0 + TIER_MAX)

enum rec_counter {
	RC_REFUSED_ACL = 0, /* client may not recurse */
	RC_REFUSED_NONE,    /* no tiers configured */
	RC_POOL_FULL,       /* too many upstream queries in flight */
	RC_PREFETCH,        /* refreshes started for popular entries */
	RC_UNREADABLE,      /* a tier answer we could not turn into a response */
	RC__N
};

struct rec_worker_stats {
	struct histo lookup[SRC_N];
	_Atomic uint64_t c[RC__N];
};

struct rec_stats {
	unsigned n_workers;
	size_t n_tiers;
	char names[TIER_MAX][TIER_NAME_MAX];
	struct tier_stats *tiers;
	struct rec_worker_stats *w; /* [n_workers] */
};

struct rec_pending {
	struct rec *r;
	struct rec_pending *next_free;
	struct tier_query *tq;
	bool used;
	bool prefetch;          /* no client: refresh the cache only */
	bool stale_ok;          /* on failure, stale data may answer */
	bool no_stale;          /* blocklist data: never to be served stale */
	uint64_t t0_ns;
	size_t limit;
	struct wire_query q;    /* qname points into qname_buf */
	uint8_t qname_buf[DNAME_MAX];
	struct rec_reply to;
};

struct rec {
	const struct rec_conf *conf;
	struct rec_stats *st;
	struct rec_worker_stats *ws;
	unsigned worker;
	struct tierset *ts;
	struct cache *cache;
	rec_deliver_fn deliver;
	void *owner;
	struct rec_pending *pool;
	struct rec_pending *free_list;
	uint8_t out[WIRE_TCP_MAX]; /* deferred answers are built here */
};

static uint64_t rec_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void rec_count(struct rec *r, enum rec_counter c)
{
	_Atomic uint64_t *p = &r->ws->c[c];
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* ---- stats ------------------------------------------------------------- */

int rec_stats_new(const struct rec_conf *conf, unsigned n_workers, struct rec_stats **out)
{
	struct rec_stats *st = calloc(1, sizeof(*st));
	int ret = GN_ENOMEM;

	*out = NULL;
	if (!st || !(st->w = calloc(n_workers, sizeof(*st->w))))
		goto out;
	st->n_workers = n_workers;
	st->n_tiers = conf->n_tiers;
	for (size_t i = 0; i < conf->n_tiers; i++)
		snprintf(st->names[i], TIER_NAME_MAX, "%s", conf->tiers[i].name);
	if (conf->n_tiers &&
	    (ret = tier_stats_new(conf->tiers, conf->n_tiers, n_workers, &st->tiers)) < 0)
		goto out;
	*out = st;
	st = NULL;
	ret = 0;
out:
	rec_stats_free(st);
	return ret;
}

void rec_stats_free(struct rec_stats *st)
{
	if (!st)
		return;
	tier_stats_free(st->tiers);
	free(st->w);
	free(st);
}

struct tier_stats *rec_stats_tiers(struct rec_stats *st) { return st->tiers; }

void rec_observe_local(struct rec_stats *st, unsigned worker, uint64_t ns)
{
	histo_record_ns(&st->w[worker].lookup[SRC_LOCAL], ns);
}

/* ---- lifecycle --------------------------------------------------------- */

int rec_new(struct ev_loop *loop, const struct rec_conf *conf, struct rec_stats *st,
	    unsigned worker, rec_deliver_fn deliver, void *owner, struct rec **out)
{
	struct rec *r = calloc(1, sizeof(*r));
	int ret = GN_ENOMEM;

	*out = NULL;
	if (!r)
		goto out;
	r->conf = conf;
	r->st = st;
	r->ws = &st->w[worker];
	r->worker = worker;
	r->deliver = deliver;
	r->owner = owner;
	if (conf->n_tiers == 0) {
		*out = r; /* REFUSED for everything non-local, as before tiers */
		return 0;
	}
	if (!(r->pool = calloc(conf->max_pending ? conf->max_pending : 1, sizeof(*r->pool))))
		goto out;
	for (unsigned i = conf->max_pending; i-- > 0;) {
		r->pool[i].r = r;
		r->pool[i].next_free = r->free_list;
		r->free_list = &r->pool[i];
	}
	if ((ret = cache_new(&conf->cache, &r->cache)) < 0 ||
	    (ret = tierset_new(loop, conf->tiers, conf->n_tiers, st->tiers, worker, &r->ts)) < 0)
		goto out;
	*out = r;
	r = NULL;
	ret = 0;
out:
	rec_free(r);
	return ret;
}

void rec_free(struct rec *r)
{
	if (!r)
		return;
	tierset_free(r->ts); /* drops pending queries without callbacks */
	cache_free(r->cache);
	free(r->pool);
	free(r);
}

/* ---- the query path ---------------------------------------------------- */

static bool rec_is_dnsbl(const struct rec *r, const struct wire_query *q)
{
	uint8_t key[DNAME_MAX];
	int kl = dname_wire_to_key(q->qname, key);
	for (size_t i = 0; i < r->conf->n_dnsbl; i++) {
		size_t zl = r->conf->dnsbl_len[i];
		if ((size_t)kl >= zl && memcmp(key, r->conf->dnsbl[i], zl) == 0)
			return true;
	}
	return false;
}

static struct cache_query rec_cache_key(const struct wire_query *q)
{
	struct cache_query k = { q->qname, q->qname_len, q->qtype, q->qclass, q->id, q->flags,
				 q->edns_do };
	return k;
}

/* A cache hit (fresh or stale) into resp, with our OPT and EDE 3 when stale.
 * Returns the length, or 0 on a miss. */
static size_t rec_from_cache(struct rec *r, const struct wire_query *q, unsigned flags,
			     uint8_t *resp, size_t limit, struct cache_result *res)
{
	struct cache_query k = rec_cache_key(q);
	size_t room = limit - (q->edns ? 64 : 0); /* OPT + EDE text */
	int n = cache_lookup(r->cache, &k, flags, (uint64_t)(rec_now_ns() / 1000000u), resp,
			     room, res);

	if (n == GN_ERANGE) {
		/* Cached, but too big for this client: it retries over TCP. */
		size_t m = upstream_rcode(q, WIRE_R_NOERROR, -1, NULL, resp, limit,
					  r->conf->edns_payload);
		if (m)
			resp[2] |= (uint8_t)(WIRE_F_TC >> 8);
		return m;
	}
	if (n <= 0)
		return 0;
	if (q->edns)
		return upstream_add_opt(q, resp, (size_t)n, limit, r->conf->edns_payload,
					res->stale ? 3 : -1, NULL);
	return (size_t)n;
}

static void rec_slot_free(struct rec_pending *p)
{
	struct rec *r = p->r;
	p->used = false;
	p->tq = NULL;
	p->next_free = r->free_list;
	r->free_list = p;
}

static void rec_tier_done(const struct tier_result *res, void *arg);

static int rec_start(struct rec *r, const struct wire_query *q, unsigned flags,
		     const struct rec_reply *to, size_t limit, bool prefetch, bool stale_ok)
{
	struct rec_pending *p = r->free_list;
	unsigned tflags = (flags & REC_F_DNSBL) || rec_is_dnsbl(r, q) ? TIER_DNSBL : 0;
	int ret;

	if (!p)
		return GN_ELIMIT;
	r->free_list = p->next_free;
	p->used = true;
	p->prefetch = prefetch;
	/* A listing is only as good as its freshness: blocklist answers (and
	 * anything standing in for a local zone) are never kept for
	 * serve-stale, whatever cache.serve-stale says. */
	p->no_stale = tflags != 0 || (flags & REC_F_LOCAL);
	p->stale_ok = stale_ok && !p->no_stale;
	p->t0_ns = rec_now_ns();
	p->limit = limit;
	p->q = *q;
	memcpy(p->qname_buf, q->qname, q->qname_len);
	p->q.qname = p->qname_buf;
	if (to)
		p->to = *to;
	else
		memset(&p->to, 0, sizeof(p->to));
	ret = tierset_resolve(r->ts, p->qname_buf, q->qtype, q->qclass, tflags, rec_tier_done,
			      p, &p->tq);
	if (ret < 0)
		rec_slot_free(p);
	return ret;
}

size_t rec_query(struct rec *r, const struct wire_query *q, unsigned flags,
		 const struct rec_reply *to, uint8_t *resp, size_t cap, size_t limit)
{
	struct cache_result res;
	uint64_t t0 = rec_now_ns();
	size_t n;
	int ret;

	if (limit > cap)
		limit = cap;
	if (r->conf->n_tiers == 0) {
		rec_count(r, RC_REFUSED_NONE);
		/* A local zone we cannot use is unknown, not someone else's. */
		if (flags & REC_F_LOCAL)
			return upstream_servfail(q, WIRE_EDE_NOT_READY, "local zone unavailable",
						 resp, limit, r->conf->edns_payload);
		return upstream_rcode(q, WIRE_R_REFUSED, WIRE_EDE_NOT_AUTH, NULL, resp, limit,
				      r->conf->edns_payload);
	}
	if (!netacl_match(r->conf->allow, r->conf->n_allow, (const struct sockaddr *)&to->peer)) {
		rec_count(r, RC_REFUSED_ACL);
		return upstream_rcode(q, WIRE_R_REFUSED, WIRE_EDE_PROHIBITED,
				      "recursion not allowed for this client", resp, limit,
				      r->conf->edns_payload);
	}
	n = rec_from_cache(r, q, 0, resp, limit, &res);
	if (n) {
		histo_record_ns(&r->ws->lookup[SRC_CACHE], rec_now_ns() - t0);
		if (res.prefetch && rec_start(r, q, flags, NULL, WIRE_TCP_MAX, true, false) == 0)
			rec_count(r, RC_PREFETCH);
		return n;
	}
	if (res.stale_avail && !cache_should_refresh(r->cache, &res.ref,
						     (uint64_t)(t0 / 1000000u))) {
		/* Refresh backed off (RFC 8767 4): answer stale at once. */
		n = rec_from_cache(r, q, CACHE_LOOKUP_STALE, resp, limit, &res);
		if (n) {
			histo_record_ns(&r->ws->lookup[SRC_STALE], rec_now_ns() - t0);
			return n;
		}
	}
	ret = rec_start(r, q, flags, to, limit, false, res.stale_avail);
	if (ret == 0)
		return 0;
	if (ret == GN_ELIMIT)
		rec_count(r, RC_POOL_FULL);
	histo_record_ns(&r->ws->lookup[SRC_FAIL], rec_now_ns() - t0);
	return upstream_servfail(q, WIRE_EDE_OTHER,
				 ret == GN_ELIMIT ? "too many upstream queries in flight"
						  : "upstream query could not be started",
				 resp, limit, r->conf->edns_payload);
}

static void rec_tier_done(const struct tier_result *res, void *arg)
{
	struct rec_pending *p = arg;
	struct rec *r = p->r;
	const struct wire_query *q = &p->q;
	struct cache_query k = rec_cache_key(q);
	uint64_t now = rec_now_ns();
	size_t n = 0;
	int src = SRC_FAIL;

	if (res->tier >= 0 && res->pkt) {
		cache_store(r->cache, &k, res->pkt, res->pkt_len,
			    p->no_stale ? CACHE_STORE_NO_STALE : 0, now / 1000000u);
		if (!p->prefetch) {
			n = upstream_response(q, res->pkt, res->pkt_len, r->out, sizeof(r->out),
					      p->limit, r->conf->edns_payload);
			if (n == 0)
				rec_count(r, RC_UNREADABLE);
		}
		src = SRC_TIER0 + res->tier;
	}
	if (!p->prefetch && n == 0 && p->stale_ok) {
		struct cache_result cr;
		n = rec_from_cache(r, q, CACHE_LOOKUP_STALE, r->out, p->limit, &cr);
		if (n)
			src = SRC_STALE;
	}
	if (!p->prefetch && n == 0)
		n = upstream_servfail(q, res->ede >= 0 ? res->ede : WIRE_EDE_OTHER,
				      res->ede_text ? res->ede_text : "upstream answer unusable",
				      r->out, p->limit, r->conf->edns_payload);
	if (p->prefetch || n == 0) {
		rec_slot_free(p);
		return;
	}
	histo_record_ns(&r->ws->lookup[src], now - p->t0_ns);
	{
		/* Free the slot first: delivering may close the TCP connection,
		 * which cancels that connection's pending slots. */
		struct rec_reply to = p->to;
		rec_slot_free(p);
		r->deliver(r->owner, &to, r->out, n);
	}
}

void rec_cancel_conn(struct rec *r, void *conn)
{
	if (!r || !r->pool || !conn)
		return;
	for (unsigned i = 0; i < r->conf->max_pending; i++) {
		struct rec_pending *p = &r->pool[i];
		if (p->used && p->to.conn == conn) {
			tierset_cancel(r->ts, p->tq);
			rec_slot_free(p);
		}
	}
}

/* ---- metrics ----------------------------------------------------------- */

static void rec_src_name(const struct rec_stats *st, int src, struct strbuf *lab)
{
	static const char *const fixed[] = { "local", "cache", "stale", "failed" };
	strbuf_add(lab, "source=\"", 8);
	if (src < SRC_TIER0)
		strbuf_add(lab, fixed[src], strlen(fixed[src]));
	else
		histo_escape_label(lab, st->names[src - SRC_TIER0]);
	strbuf_add(lab, "\"", 1);
}

void rec_metrics_write(struct rec_stats *st, struct rec *const *recs, size_t n,
		       struct strbuf *out)
{
	static const char *const cnames[RC__N] = {
		"acl", "no_tiers", "pool_full", NULL, NULL,
	};
	struct strbuf lab;
	struct cache *caches[256];
	size_t nc = 0;
	uint64_t sum[RC__N] = { 0 };

	strbuf_init(&lab);
	histo_write_header(out, "gridns_lookup_duration_seconds",
			   "Time to answer a query, by where the answer came from.");
	for (int src = 0; src < SRC_TIER0 + (int)st->n_tiers; src++) {
		struct histo_snap s;
		memset(&s, 0, sizeof(s));
		for (unsigned w = 0; w < st->n_workers; w++)
			histo_add_to(&s, &st->w[w].lookup[src]);
		strbuf_reset(&lab);
		rec_src_name(st, src, &lab);
		histo_write_series(out, "gridns_lookup_duration_seconds", lab.p ? lab.p : "", &s);
	}
	strbuf_free(&lab);
	for (unsigned w = 0; w < st->n_workers; w++)
		for (int c = 0; c < RC__N; c++)
			sum[c] += atomic_load_explicit(&st->w[w].c[c], memory_order_relaxed);
	strbuf_printf(out, "# HELP gridns_recursion_refused_total Non-local queries refused, "
			   "by reason.\n# TYPE gridns_recursion_refused_total counter\n");
	for (int c = 0; c < RC__N; c++)
		if (cnames[c])
			strbuf_printf(out, "gridns_recursion_refused_total{reason=\"%s\"} %llu\n",
				      cnames[c], (unsigned long long)sum[c]);
	strbuf_printf(out, "# HELP gridns_prefetch_started_total Refreshes of popular cache "
			   "entries near expiry.\n# TYPE gridns_prefetch_started_total counter\n"
			   "gridns_prefetch_started_total %llu\n",
		      (unsigned long long)sum[RC_PREFETCH]);
	strbuf_printf(out, "# HELP gridns_upstream_unreadable_total Tier answers that could "
			   "not be turned into a response (answered SERVFAIL).\n"
			   "# TYPE gridns_upstream_unreadable_total counter\n"
			   "gridns_upstream_unreadable_total %llu\n",
		      (unsigned long long)sum[RC_UNREADABLE]);
	for (size_t i = 0; i < n && nc < 256; i++)
		if (recs[i] && recs[i]->cache)
			caches[nc++] = recs[i]->cache;
	if (nc)
		cache_metrics_write(caches, nc, out);
	if (st->tiers)
		tier_stats_write(st->tiers, out);
}
