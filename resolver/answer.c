/* resolver/answer.c - the local answer engine: context, batches, and the
 * shape of every response (rcode, flags, authority, EDNS, truncation).
 * What the data says about a name is in answer_data.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/log.h"
#include "resolver/answer_int.h"

#define ANSWER_UDP_DEFAULT 1232
#define OPT_LEN 11 /* OPT RR without options */
/* TTL of a zone-acl fixed answer when the zone table does not know the zone
 * (no dataset TTL to borrow): long enough to spare a client we answer for
 * anyway, short enough that a changed rule is seen within minutes. */
#define ZACL_FIXED_TTL 300

/* Keys in zonetab's node order: memcmp over the shorter, then the prefix
 * (the ancestor) first. */
static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c == 0 && al != bl)
		c = al < bl ? -1 : 1;
	return c;
}

int answer_zacl_key_cmp(const struct answer_zacl *a, const struct answer_zacl *b)
{
	return key_cmp(a->key, a->keylen, b->key, b->keylen);
}

/* The context's table of zone-acl zones: one entry per run of rules with
 * the same key.  The rules must already be in key order (the binary search
 * depends on it) and carry their zone's key: a caller that got either
 * wrong would see rules silently not apply, so it is an error instead. */
static int zz_build(struct answer_ctx *ctx)
{
	const struct answer_zacl *r = ctx->conf.zacl;
	size_t n = r ? ctx->conf.n_zacl : 0;
	uint32_t nz = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t k[DNAME_MAX];
		int kl = r[i].zone ? dname_text_to_key(r[i].zone, strlen(r[i].zone), k) : -1;
		int c = i ? answer_zacl_key_cmp(&r[i - 1], &r[i]) : 1;
		if (kl < 0 || (size_t)kl != r[i].keylen || memcmp(k, r[i].key, r[i].keylen) != 0)
			return GN_EINVAL;
		if (c > 0 && i)
			return GN_EINVAL; /* out of order */
		if (c != 0)
			nz++; /* the first rule of a zone */
	}
	if (nz == 0)
		return 0;
	if (!(ctx->zz = calloc(nz, sizeof(*ctx->zz))))
		return GN_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || answer_zacl_key_cmp(&r[i - 1], &r[i]) != 0) {
			int nl = dname_key_labels(r[i].key, r[i].keylen);
			ctx->zz[ctx->n_zz++].rules = &r[i];
			if (nl > ctx->zz_max_labels)
				ctx->zz_max_labels = nl;
		}
		ctx->zz[ctx->n_zz - 1].n_rules++;
	}
	return 0;
}

int answer_ctx_new(snap_env *env, const struct answer_conf *conf, struct answer_ctx **out)
{
	struct answer_ctx *ctx;
	int ret;

	*out = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return GN_ENOMEM;
	ctx->env = env;
	ctx->conf.udp_max = ANSWER_UDP_DEFAULT;
	ctx->conf.minimal_any = true;
	if (conf)
		ctx->conf = *conf;
	if (ctx->conf.udp_max == 0)
		ctx->conf.udp_max = ANSWER_UDP_DEFAULT; /* zeroed conf: defaults */
	if (ctx->conf.udp_max < WIRE_UDP_MIN)
		ctx->conf.udp_max = WIRE_UDP_MIN;
	ctx->slots = calloc(ANSWER_ZSLOTS, sizeof(*ctx->slots));
	if (!ctx->slots) {
		ret = GN_ENOMEM;
		goto out;
	}
	if ((ret = zz_build(ctx)) < 0)
		goto out;
	if ((ret = snap_rd_new(env, &ctx->rd)) < 0)
		goto out;
	*out = ctx;
	return 0;
out:
	answer_ctx_free(ctx);
	return ret;
}

void answer_ctx_free(struct answer_ctx *ctx)
{
	if (!ctx)
		return;
	snap_rd_free(ctx->rd);
	zonetab_free(&ctx->zt);
	free(ctx->slots);
	free(ctx->zz);
	free(ctx);
}

/* Give every zone of a new table its counter slot, by name, so counters
 * survive table rebuilds.  Slot names never change once published. */
static void assign_slots(struct answer_ctx *ctx, struct zonetab *zt)
{
	for (size_t i = 0; i < zt->n_zones; i++) {
		struct zt_zone *z = &zt->zones[i];
		z->slot = ANSWER_NO_SLOT;
		for (uint32_t s = 0; s < ANSWER_ZSLOTS; s++) {
			struct answer_zslot *sl = &ctx->slots[s];
			if (!atomic_load_explicit(&sl->used, memory_order_relaxed)) {
				size_t n = strlen(z->name);
				if (n >= sizeof(sl->name))
					break;
				memcpy(sl->name, z->name, n + 1);
				atomic_store_explicit(&sl->used, true, memory_order_release);
				z->slot = s;
				break;
			}
			if (strcmp(sl->name, z->name) == 0) {
				z->slot = s;
				break;
			}
		}
	}
}

static void make_tmpls(struct zonetab *zt);

int answer_batch_begin(struct answer_ctx *ctx)
{
	struct timespec ts;
	int ret;

	ctx->in_batch = true;
	ctx->view_ok = false;
	ctx->ignored = NULL; /* packet buffers are reused from batch to batch */
	if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
		ctx->now = ts.tv_sec; /* (cannot fail; else keep the last time) */
	if ((ret = snap_rd_begin(ctx->rd)) < 0)
		return ret; /* snap logs it; local zones answer SERVFAIL */
	if (!ctx->zt.built || snap_rd_version(ctx->rd) != ctx->zt.version) {
		struct zonetab nt;
		/* The old table stays until the new one is complete: its zone
		 * names still tell "local but unreadable" (SERVFAIL) from "not
		 * ours" (REFUSED) if this build fails. */
		if ((ret = zonetab_build(&nt, ctx->rd)) < 0) {
			/* Once per failure streak: this runs for every batch. */
			if (!ctx->build_failing)
				log_err("answer: cannot index snapshot zones: %s; local zones answer SERVFAIL",
					gn_strerror(ret));
			ctx->build_failing = true;
			return ret;
		}
		ctx->build_failing = false;
		assign_slots(ctx, &nt);
		make_tmpls(&nt);
		zonetab_free(&ctx->zt);
		ctx->zt = nt;
	}
	ctx->view_ok = true;
	return 0;
}

void answer_batch_end(struct answer_ctx *ctx)
{
	snap_rd_end(ctx->rd);
	ctx->in_batch = false;
	ctx->view_ok = false;
}

/* ---- response pieces ---------------------------------------------------- */

static void put_soa(struct wire_w *w, const struct zt_zone *z, uint32_t ttl, enum wire_sec sec)
{
	size_t at = wire_w_rr_begin(w, z->apex, WIRE_T_SOA, WIRE_C_IN, ttl);
	wire_w_name(w, z->mname);
	wire_w_name(w, z->rname);
	wire_w_u32(w, z->serial);
	wire_w_u32(w, z->refresh);
	wire_w_u32(w, z->retry);
	wire_w_u32(w, z->expire);
	wire_w_u32(w, z->minimum);
	wire_w_rr_end(w, at, sec);
}

static void put_ns(struct wire_w *w, const struct zt_zone *z, enum wire_sec sec)
{
	for (uint32_t i = 0; i < z->n_ns; i++) {
		size_t at = wire_w_rr_begin(w, z->apex, WIRE_T_NS, WIRE_C_IN, z->ns_ttl);
		wire_w_name(w, z->ns[i]);
		wire_w_rr_end(w, at, sec);
	}
}

/* Negative answers carry the SOA with TTL min(SOA TTL, MINIMUM) as RFC 2308
 * section 5 asks (rbldnsd sends MINIMUM alone; see docs/answers.md). */
static uint32_t neg_soa_ttl(const struct zt_zone *z)
{
	return z->soa_ttl < z->minimum ? z->soa_ttl : z->minimum;
}

/* Pre-build each zone's authority blocks for a new table.  Without memory a
 * zone simply has none: answers are the same, only slower. */
static void make_tmpls(struct zonetab *zt)
{
	uint8_t buf[WIRE_HDR_LEN + DNAME_MAX + 4 + WIRE_TMPL_MAX];

	for (size_t i = 0; i < zt->n_zones; i++) {
		struct zt_zone *z = &zt->zones[i];
		z->tmpl = calloc(ZT_TMPL_COUNT, sizeof(*z->tmpl));
		if (!z->tmpl)
			continue;
		for (int k = 0; k < ZT_TMPL_COUNT; k++) {
			struct wire_w w;
			struct wire_mark m;
			if (k == ZT_TMPL_NEG_SOA && !z->has_soa)
				continue; /* never used: stays !ok */
			wire_w_init(&w, buf, sizeof(buf));
			wire_w_header(&w, 0, 0);
			wire_w_question(&w, z->apex, (size_t)dname_wire_len(z->apex), 0, 0);
			m = wire_w_mark(&w);
			if (k == ZT_TMPL_NEG_SOA)
				put_soa(&w, z, neg_soa_ttl(z), WIRE_S_NS);
			else
				put_ns(&w, z, WIRE_S_NS);
			(void)wire_tmpl_make(&z->tmpl[k], &w, &m, WIRE_S_NS);
		}
	}
}

/* A pre-built block of the question's zone into authority; false when the
 * caller must write the RRs itself. */
static bool put_tmpl(struct answer_q *q, int which)
{
	const struct zt_zone *z = q->zone;
	return z->tmpl && wire_w_tmpl(&q->w, &z->tmpl[which], q->wq.qname, q->wq.qname_len,
				      q->q_ncmp, WIRE_S_NS);
}

static void put_neg_soa(struct answer_q *q)
{
	if (q->zone && q->zone->has_soa && !put_tmpl(q, ZT_TMPL_NEG_SOA))
		put_soa(&q->w, q->zone, neg_soa_ttl(q->zone), WIRE_S_NS);
}

/* SOA and NS at the base zone's apex come from the zone's metadata. */
static bool answer_apex(struct answer_q *q, uint16_t qtype)
{
	const struct zt_zone *z = q->zone;

	switch (qtype) {
	case WIRE_T_SOA:
		if (z->has_soa)
			put_soa(&q->w, z, z->soa_ttl, WIRE_S_AN);
		return true;
	case WIRE_T_NS:
		put_ns(&q->w, z, WIRE_S_AN);
		return true;
	case WIRE_T_ANY:
		if (z->has_soa)
			put_soa(&q->w, z, z->soa_ttl, WIRE_S_AN);
		if (q->ctx->conf.minimal_any && z->has_soa)
			return true; /* RFC 8482: one RRset is enough */
		if (!q->ctx->conf.minimal_any)
			put_ns(&q->w, z, WIRE_S_AN);
		return false;
	default:
		return false;
	}
}

/* ---- the query ------------------------------------------------------------ */

struct reply {
	uint16_t flags;   /* QR/opcode/RD/CD (+AA, TC) */
	int rcode;        /* may be extended (BADVERS) */
	int ede;          /* <0: none */
	const char *ede_text;
};

static size_t finish(struct answer_q *q, struct reply *r, size_t limit)
{
	struct wire_w *w = &q->w;
	size_t len;

	w->cap = limit;
	w->full = false;
	if (q->wq.edns)
		wire_w_opt_do(w, q->ctx->conf.udp_max, (uint8_t)(r->rcode >> 4), q->wq.edns_do,
			      r->ede, r->ede_text);
	len = wire_w_finish(w);
	if (len == 0)
		return 0;
	w->buf[2] = (uint8_t)(r->flags >> 8);
	w->buf[3] = (uint8_t)((r->flags & 0xf0) | (r->rcode & 0xf));
	return len;
}

/* Header, question when it was readable, OPT when the query had one. */
static size_t reply_simple(struct answer_q *q, struct reply *r, size_t limit)
{
	wire_w_init(&q->w, q->w.buf, limit);
	wire_w_header(&q->w, q->wq.id, 0);
	if (q->wq.has_question)
		wire_w_question(&q->w, q->wq.qname, q->wq.qname_len, q->wq.qtype, q->wq.qclass);
	return finish(q, r, limit);
}

static void count_zone(struct answer_ctx *ctx, const struct zt_zone *z, int rcode, uint16_t an)
{
	if (!z || z->slot == ANSWER_NO_SLOT)
		return;
	struct answer_zslot *s = &ctx->slots[z->slot];
	answer_inc(&s->queries);
	if (rcode == WIRE_R_NOERROR && an > 0)
		answer_inc(&s->listed);
	else if (rcode == WIRE_R_NXDOMAIN)
		answer_inc(&s->unlisted);
	else if (rcode == WIRE_R_SERVFAIL || rcode == WIRE_R_REFUSED)
		answer_inc(&s->errors);
}

/* Answer from a local zone's data.  Returns the rcode; r->flags gets AA/TC. */
static int answer_local(struct answer_q *q, const struct zt_node *node, size_t rel_off,
			size_t limit, struct reply *r)
{
	struct wire_w *w = &q->w;
	struct answer_res res;
	struct wire_mark after_q;
	uint8_t owner_buf[DNAME_MAX];
	const uint8_t *owner = NULL; /* the question name */
	uint16_t qtype = q->wq.qtype;
	int rcode;

	wire_w_header(w, q->wq.id, 0);
	wire_w_question(w, q->wq.qname, q->wq.qname_len, qtype, q->wq.qclass);
	after_q = wire_w_mark(w);
	q->q_ncmp = w->n_cmp;
	r->flags |= WIRE_F_AA;

	answer_res_clear(&res);
	if (node->apex && rel_off == q->keylen && answer_apex(q, qtype)) {
		res.exists = true;
	} else {
		for (int hop = 0;; hop++) {
			answer_lookup(q, node, rel_off, owner, qtype, &res);
			if (res.err || !res.has_cname || w->full || hop == ANSWER_CNAME_MAX)
				break;
			/* Follow the chain inside this zone only: another zone's
			 * answer is for the client's resolver to fetch. */
			memcpy(owner_buf, res.cname, sizeof(owner_buf));
			int kl = dname_wire_to_key(owner_buf, q->key);
			const struct zt_node *next = zonetab_match(&q->ctx->zt, q->key, (size_t)kl,
								   &rel_off);
			q->keylen = (size_t)kl;
			if (!next || next->zone != node->zone)
				break;
			node = next;
			owner = owner_buf;
		}
	}
	if (res.err) {
		wire_w_rollback(w, &after_q);
		r->flags &= (uint16_t)~WIRE_F_AA;
		r->ede = WIRE_EDE_NOT_READY;
		r->ede_text = "local zone data unreadable";
		return WIRE_R_SERVFAIL;
	}
	if (w->full) {
		/* RFC 2181 9: no partial RRsets; the client retries over TCP. */
		wire_w_rollback(w, &after_q);
		r->flags |= WIRE_F_TC;
		return WIRE_R_NOERROR;
	}
	/* Positive when the last name of the chain answered (at the first
	 * name, apex SOA/NS written by answer_apex count too). */
	if (owner ? res.answers > 0 : w->cnt[WIRE_S_AN] > 0) {
		/* The zone's NS in authority, as rbldnsd does, when there is
		 * room (optional, so it never causes truncation). */
		if (!(qtype == WIRE_T_NS && !owner && node->apex && rel_off == q->keylen)) {
			struct wire_mark m = wire_w_mark(w);
			if (!put_tmpl(q, ZT_TMPL_AUTH_NS))
				put_ns(w, q->zone, WIRE_S_NS);
			if (w->full)
				wire_w_rollback(w, &m);
		}
		answer_glue(q);
		return WIRE_R_NOERROR;
	}
	if (res.deleg && !owner) {
		r->flags &= (uint16_t)~WIRE_F_AA;
		answer_referral(q, &res);
		rcode = WIRE_R_NOERROR;
	} else {
		/* NODATA, NXDOMAIN, or the end of a CNAME chain (RFC 6604: the
		 * rcode is the last name's). */
		rcode = res.exists || res.deleg ? WIRE_R_NOERROR : WIRE_R_NXDOMAIN;
		put_neg_soa(q);
	}
	if (w->full) {
		wire_w_rollback(w, &after_q);
		r->flags |= WIRE_F_TC;
	}
	return rcode;
}

/* ---- zone-acl --------------------------------------------------------- */

/* The zone-acl zone that most closely encloses the query name, searched
 * the way zonetab_match searches (one binary search per label boundary,
 * deepest first, no deeper than the deepest rule zone), whatever the
 * snapshot holds; NULL when no rule zone encloses it. */
static struct answer_zz *zz_match(struct answer_ctx *ctx, const uint8_t *key, size_t keylen)
{
	size_t ends[128];
	int nl = 0;

	ends[nl++] = 0;
	for (size_t i = 0; i < keylen && nl < 128 && nl <= ctx->zz_max_labels; i += key[i] + 1u)
		ends[nl++] = i + key[i] + 1u;
	for (int i = nl - 1; i >= 0; i--) {
		size_t lo = 0, hi = ctx->n_zz;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			const struct answer_zacl *r = ctx->zz[mid].rules;
			int c = key_cmp(r->key, r->keylen, key, ends[i]);
			if (c == 0)
				return &ctx->zz[mid];
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return NULL;
}

/* The rule that decides this query: the first rule of the query's rule
 * zone whose networks hold the client (config order, as rbldnsd's acl
 * dataset), counted; NULL when none matches.  A local zone below the rule
 * zone that holds the name is a zone of its own, without these rules (as
 * zonetab gives the name to the most specific zone).  *apex: the name is
 * the rule zone's own name, which "empty" and fixed answers leave alone. */
static const struct answer_zacl *zacl_find(struct answer_ctx *ctx, const struct answer_q *q,
					   const struct sockaddr *peer, bool *apex)
{
	struct answer_zz *zz;

	if (!peer)
		return NULL; /* in-process callers (tests, canaries without a peer) */
	if (!(zz = zz_match(ctx, q->key, q->keylen)))
		return NULL;
	if (q->zone && q->zone->keylen > zz->rules->keylen)
		return NULL;
	*apex = q->keylen == zz->rules->keylen;
	for (uint32_t i = 0; i < zz->n_rules; i++) {
		const struct answer_zacl *r = &zz->rules[i];
		if (netacl_match(r->nets, r->n_nets, peer)) {
			answer_inc(&zz->acts[r->action]);
			return r;
		}
	}
	return NULL;
}

enum answer_zacl_action answer_zacl_early(const struct answer_conf *conf, const uint8_t *qname,
					  const struct sockaddr *peer)
{
	uint8_t key[DNAME_MAX];
	size_t best = 0;
	bool found = false;
	int kl;

	if (!conf || !conf->n_zacl || !peer || (kl = dname_wire_to_key(qname, key)) < 0)
		return ANSWER_ZACL_PASS;
	/* A rule zone holds the name when its key is a prefix of the name's
	 * (keys are whole labels, so a prefix ends on a label boundary). */
	for (size_t i = 0; i < conf->n_zacl; i++) {
		const struct answer_zacl *r = &conf->zacl[i];
		if (r->keylen <= (size_t)kl && memcmp(r->key, key, r->keylen) == 0 &&
		    (!found || r->keylen > best)) {
			best = r->keylen;
			found = true;
		}
	}
	/* Same length and both a prefix of the name: the same zone, whose
	 * rules keep their config order. */
	for (size_t i = 0; found && i < conf->n_zacl; i++) {
		const struct answer_zacl *r = &conf->zacl[i];
		if (r->keylen == best && memcmp(r->key, key, best) == 0 &&
		    netacl_match(r->nets, r->n_nets, peer))
			return r->action;
	}
	return ANSWER_ZACL_PASS;
}

bool answer_ignored(const struct answer_ctx *ctx, const uint8_t *q)
{
	return ctx && q && ctx->ignored == q;
}

/* The client's address as text for "$" (IPv4-mapped IPv6 as IPv4). */
static size_t peer_text(const struct sockaddr *sa, char *out, size_t cap)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET) {
		if (!inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
			       (socklen_t)cap))
			return 0;
	} else if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		if (!inet_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, out, (socklen_t)cap))
			return 0;
	} else if (!inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)cap)) {
		return 0;
	}
	return strlen(out);
}

/* TXT RDATA from the rule's text, "$" -> client, "$$" -> "$", cut into
 * character-strings of at most 255 octets. */
static void put_fixed_txt(struct wire_w *w, const char *t, const char *who, size_t wl)
{
	char buf[1024];
	size_t n = 0;

	for (; *t && n < sizeof(buf); t++) {
		if (*t == '$' && t[1] == '$') {
			buf[n++] = '$';
			t++;
		} else if (*t == '$') {
			for (size_t i = 0; i < wl && n < sizeof(buf); i++)
				buf[n++] = who[i];
		} else {
			buf[n++] = *t;
		}
	}
	for (size_t o = 0; o < n || o == 0; ) {
		size_t take = n - o > 255 ? 255 : n - o;
		uint8_t l = (uint8_t)take;
		wire_w_bytes(w, &l, 1);
		wire_w_bytes(w, buf + o, take);
		o += take;
		if (take == 0)
			break;
	}
}

/* A name below the zone's apex answered listed with the rule's A and TXT,
 * whatever the data says (rbldnsd's acl ":A:TXT").  Needs no data: the
 * zone (q->zone, from the zone table even when expired or unreadable)
 * only lends its TTL and SOA, and without it ZACL_FIXED_TTL and no SOA
 * stand in.  Returns the rcode. */
static int answer_fixed(struct answer_q *q, const struct answer_zacl *za,
			const struct sockaddr *peer, struct reply *r)
{
	struct wire_w *w = &q->w;
	struct wire_mark after_q;
	uint16_t qtype = q->wq.qtype;
	uint32_t ttl = q->zone ? neg_soa_ttl(q->zone) : ZACL_FIXED_TTL;
	bool want_a = qtype == WIRE_T_A || qtype == WIRE_T_ANY;
	bool want_txt = (qtype == WIRE_T_TXT || qtype == WIRE_T_ANY) && za->txt && *za->txt;

	for (uint32_t i = 0; q->zone && i < q->zone->n_ds; i++)
		if (q->zone->ds[i].type != ZDS_GENERIC && q->zone->ds[i].type != ZDS_ZONE) {
			ttl = q->zone->ds[i].ttl; /* the blocklist's own TTL */
			break;
		}
	wire_w_header(w, q->wq.id, 0);
	wire_w_question(w, q->wq.qname, q->wq.qname_len, qtype, q->wq.qclass);
	after_q = wire_w_mark(w);
	q->q_ncmp = w->n_cmp;
	r->flags |= WIRE_F_AA;
	if (want_a) {
		size_t at = wire_w_rr_begin(w, NULL, WIRE_T_A, WIRE_C_IN, ttl);
		wire_w_bytes(w, za->a, 4);
		wire_w_rr_end(w, at, WIRE_S_AN);
	}
	if (want_txt) {
		char who[INET6_ADDRSTRLEN];
		size_t wl = peer_text(peer, who, sizeof(who));
		size_t at = wire_w_rr_begin(w, NULL, WIRE_T_TXT, WIRE_C_IN, ttl);
		put_fixed_txt(w, za->txt, who, wl);
		wire_w_rr_end(w, at, WIRE_S_AN);
	}
	if (!want_a && !want_txt)
		put_neg_soa(q); /* NODATA: the name is listed, not with this type */
	if (w->full) {
		wire_w_rollback(w, &after_q);
		r->flags |= WIRE_F_TC;
	}
	return WIRE_R_NOERROR;
}

/* zone-acl "empty" without usable local data.  Its DNSBL names are not
 * listed; without the data nothing else below the apex can be told apart
 * from them, so every such name is NXDOMAIN, with the SOA when the zone
 * table still knows the zone (expired, or unreadable now).  Asking the
 * tiers instead would hand this client the very data the rule withholds. */
static int answer_empty(struct answer_q *q, struct reply *r)
{
	struct wire_w *w = &q->w;
	struct wire_mark after_q;

	wire_w_header(w, q->wq.id, 0);
	wire_w_question(w, q->wq.qname, q->wq.qname_len, q->wq.qtype, q->wq.qclass);
	after_q = wire_w_mark(w);
	q->q_ncmp = w->n_cmp;
	r->flags |= WIRE_F_AA;
	put_neg_soa(q);
	if (w->full) {
		wire_w_rollback(w, &after_q);
		r->flags |= WIRE_F_TC;
	}
	return WIRE_R_NXDOMAIN;
}

/* Can the zone answer from the snapshot now (not absent, not expired, the
 * view readable)? */
static bool zone_usable(const struct answer_ctx *ctx, const struct zt_zone *z)
{
	return ctx->zt.built && ctx->view_ok && z && !(z->ts_expires && ctx->now > z->ts_expires);
}

/* The answer of an "empty" or fixed rule made without the data.  Returns
 * the response length (0: no room). */
static size_t answer_policy(struct answer_q *q, const struct answer_zacl *za,
			    const struct sockaddr *peer, uint8_t *resp, size_t limit,
			    struct reply *r)
{
	/* Room for the OPT RR is kept free, as for local answers. */
	wire_w_init(&q->w, resp, limit - (q->wq.edns ? OPT_LEN : 0));
	if (za->action == ANSWER_ZACL_FIXED)
		r->rcode = answer_fixed(q, za, peer, r);
	else
		r->rcode = answer_empty(q, r);
	return finish(q, r, limit);
}

/* Is any dataset of the zone a blocklist (its upstream answers are DNSBL
 * data, validated as such)? */
static unsigned zone_dnsbl_flag(const struct zt_zone *z)
{
	for (uint32_t i = 0; z && i < z->n_ds; i++)
		if (z->ds[i].type != ZDS_GENERIC && z->ds[i].type != ZDS_ZONE)
			return ANSWER_UP_DNSBL;
	return 0;
}

/* Hand the query to the caller's upstream path instead of answering. */
static size_t handoff(struct answer_handoff *h, const struct answer_q *q, unsigned flags)
{
	h->upstream = true;
	h->flags = flags;
	h->q = q->wq;
	return 0;
}

size_t answer_query(struct answer_ctx *ctx, const uint8_t *pkt, size_t qlen,
		    uint8_t *resp, size_t cap, enum answer_transport tr,
		    const struct sockaddr *peer)
{
	return answer_query_ex(ctx, pkt, qlen, resp, cap, tr, peer, NULL);
}

size_t answer_query_ex(struct answer_ctx *ctx, const uint8_t *pkt, size_t qlen,
		       uint8_t *resp, size_t cap, enum answer_transport tr,
		       const struct sockaddr *peer, struct answer_handoff *h)
{
	struct answer_q q;
	struct reply r = { 0, WIRE_R_NOERROR, -1, NULL };
	const struct zt_node *node = NULL;
	const struct answer_zacl *za = NULL;
	bool apex = false; /* the name is the zone-acl zone's own */
	size_t limit, rel_off = 0, len;
	int ps;

	if (h)
		h->upstream = false;
	ctx->ignored = NULL;
	answer_inc(&ctx->queries);
	if (!pkt || !resp || cap < WIRE_HDR_LEN) {
		answer_inc(&ctx->dropped);
		return 0;
	}
	wire_w_init(&q.w, resp, 0);
	q.ctx = ctx;
	q.zone = NULL;
	q.n_seen = 0;
	q.phys_cap = cap;
	q.n_targets = 0;
	q.zacl_empty = false;
	ps = wire_parse_query(pkt, qlen, &q.wq);
	if (ps == WIRE_PARSE_DROP) {
		answer_inc(&ctx->dropped);
		return 0;
	}
	/* Size limit: UDP 512 without EDNS, else the client's size within
	 * [512, our udp_max]; TCP up to 64 KiB.  Never more than `cap`. */
	if (tr == ANSWER_TCP) {
		limit = WIRE_TCP_MAX;
	} else {
		limit = WIRE_UDP_MIN;
		if (q.wq.edns && q.wq.edns_udp > limit)
			limit = q.wq.edns_udp < ctx->conf.udp_max ? q.wq.edns_udp : ctx->conf.udp_max;
	}
	if (limit > cap)
		limit = cap;
	r.flags = (uint16_t)(WIRE_F_QR | (q.wq.flags & (0x7800u | WIRE_F_RD | WIRE_F_CD)));

	if (ps == WIRE_PARSE_FORMERR) {
		q.wq.edns = false; /* an OPT we could not parse is not echoed */
		r.rcode = WIRE_R_FORMERR;
	} else if (q.wq.opcode != 0) {
		r.rcode = WIRE_R_NOTIMP;
	} else if (q.wq.edns && q.wq.edns_version > 0) {
		r.rcode = WIRE_R_BADVERS;
	} else if (q.wq.qtype == WIRE_T_OPT) {
		r.rcode = WIRE_R_FORMERR;
	} else if (q.wq.qclass != WIRE_C_IN) {
		r.rcode = WIRE_R_REFUSED;
		r.ede = WIRE_EDE_NOT_SUPPORTED;
	} else {
		q.keylen = (size_t)dname_wire_to_key(q.wq.qname, q.key);
		if (ctx->zt.built)
			node = zonetab_match(&ctx->zt, q.key, q.keylen, &rel_off);
		if (node)
			q.zone = &ctx->zt.zones[node->zone];
		/* zone-acl first: whoever would answer (snapshot or tiers), a
		 * client the rules hold gets what they say, never the data. */
		if (ctx->n_zz)
			za = zacl_find(ctx, &q, peer, &apex);
		if (za && za->action == ANSWER_ZACL_IGNORE) {
			ctx->ignored = pkt;
			return 0; /* counted by zacl_find, not as dropped */
		} else if (za && za->action == ANSWER_ZACL_REFUSE) {
			r.rcode = WIRE_R_REFUSED;
			r.ede = WIRE_EDE_PROHIBITED;
			r.ede_text = "queries for this zone not allowed for this client";
		} else if (za && !apex && (za->action == ANSWER_ZACL_EMPTY ||
					   za->action == ANSWER_ZACL_FIXED) &&
			   !zone_usable(ctx, q.zone)) {
			if (q.wq.qtype == WIRE_T_AXFR || q.wq.qtype == WIRE_T_IXFR) {
				r.rcode = WIRE_R_REFUSED; /* as for a local zone */
				r.ede = WIRE_EDE_NOT_SUPPORTED;
			} else {
				len = answer_policy(&q, za, peer, resp, limit, &r);
				goto done;
			}
		} else if (h && (!ctx->zt.built || !ctx->view_ok)) {
			/* Unknown: the tiers may know; never "not listed". */
			return handoff(h, &q, ANSWER_UP_LOCAL);
		} else if (h && !node) {
			return handoff(h, &q, 0);
		} else if (h && q.zone->ts_expires && ctx->now > q.zone->ts_expires) {
			return handoff(h, &q, ANSWER_UP_LOCAL | zone_dnsbl_flag(q.zone));
		} else if (!ctx->zt.built) {
			/* Never read the snapshot: any name might be local. */
			r.rcode = WIRE_R_SERVFAIL;
			r.ede = WIRE_EDE_NOT_READY;
			r.ede_text = "local snapshot unavailable";
		} else if (!node) {
			r.rcode = WIRE_R_REFUSED;
			r.ede = WIRE_EDE_NOT_AUTH;
		} else if (q.zone->ts_expires && ctx->now > q.zone->ts_expires) {
			r.rcode = WIRE_R_REFUSED;
			r.ede = WIRE_EDE_NOT_AUTH;
			r.ede_text = "local zone data expired";
		} else if (!ctx->view_ok) {
			r.rcode = WIRE_R_SERVFAIL;
			r.ede = WIRE_EDE_NOT_READY;
			r.ede_text = "local snapshot unavailable";
		} else if (q.wq.qtype == WIRE_T_AXFR || q.wq.qtype == WIRE_T_IXFR) {
			r.rcode = WIRE_R_REFUSED; /* transfers are zonesync's job */
			r.ede = WIRE_EDE_NOT_SUPPORTED;
		} else {
			/* Room for the OPT RR is kept free while answering. */
			size_t room = limit - (q.wq.edns ? OPT_LEN : 0);
			wire_w_init(&q.w, resp, room);
			uint16_t flags = r.flags;
			q.zacl_empty = za && za->action == ANSWER_ZACL_EMPTY;
			if (za && za->action == ANSWER_ZACL_FIXED && !apex)
				r.rcode = answer_fixed(&q, za, peer, &r);
			else
				r.rcode = answer_local(&q, node, rel_off, room, &r);
			if (r.rcode == WIRE_R_SERVFAIL && q.zacl_empty && !apex) {
				/* The snapshot failed us mid-answer: "empty" without
				 * the data, never the tiers' data (answer_empty). */
				r.flags = flags;
				r.ede = -1;
				r.ede_text = NULL;
				len = answer_policy(&q, za, peer, resp, limit, &r);
				goto done;
			}
			if (h && r.rcode == WIRE_R_SERVFAIL)
				/* The snapshot failed us mid-answer: ask the tiers. */
				return handoff(h, &q, ANSWER_UP_LOCAL | zone_dnsbl_flag(q.zone));
			len = finish(&q, &r, limit);
			goto done;
		}
	}
	len = reply_simple(&q, &r, limit);
done:
	if (len == 0) {
		answer_inc(&ctx->dropped);
		return 0;
	}
	answer_inc(&ctx->rcode[r.rcode < WIRE_R_COUNT ? r.rcode : 0]);
	count_zone(ctx, q.zone, r.rcode, q.w.cnt[WIRE_S_AN]);
	return len;
}
