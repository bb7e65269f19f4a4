/* resolver/cache.c - per-worker packet cache for tier answers (see cache.h,
 * docs/cache.md).
 *
 * Structure: a chained hash table (power-of-two buckets, grown to keep the
 * load factor at or under 1) plus a CLOCK ring for eviction.  CLOCK rather
 * than LRU because a hit then costs one byte store into the entry we already
 * touched, where LRU relinks the entry and touches both neighbours (two more
 * likely cache misses) on every hit; both are O(1) and allocation free, and
 * CLOCK measured 15-30% faster per hit (docs/cache.md).
 *
 * Each entry is ONE allocation: header, TTL offsets, key, packet.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "common/dname.h"
#include "common/err.h"
#include "resolver/cache.h"

/* DNS constants used here (kept local: the cache depends on no other
 * resolver module). */
enum {
	HDR_LEN = 12,
	T_SOA = 6, T_OPT = 41, T_ANY = 255,
	R_NOERROR = 0, R_NXDOMAIN = 3,
	F_QR = 0x8000, F_AA = 0x0400, F_TC = 0x0200, F_RD = 0x0100,
	F_RA = 0x0080, F_AD = 0x0020, F_CD = 0x0010,
	KF_DO = 0x1, KF_CD = 0x2,         /* key flag octet */
	KEY_MAX = 255 + 5,                /* name + qtype + qclass + flags */
	RR_MAX = (65535 - HDR_LEN - 5) / 11, /* smallest RR is 11 octets */
	NAME_MAX_WIRE = 255,
};

#define BUCKETS_MIN 1024u
/* One answer may use at most this fraction of the cache: a single huge
 * response must not flush everything else. */
#define ENTRY_MAX_SHARE 8u

struct cache_entry {
	struct cache_entry *hnext;           /* hash chain */
	struct cache_entry *prev, *next;     /* CLOCK ring */
	uint64_t hash;
	uint64_t stored_ms;                  /* when stored: TTLs age from here */
	uint64_t expire_ms;                  /* stored_ms + ttl * 1000 */
	uint64_t refresh_ms;                 /* last refresh try (stale back-off) */
	size_t size;                         /* bytes accounted for this entry */
	uint32_t ttl;                        /* entry TTL in seconds */
	uint16_t nttl;                       /* TTL fields in the packet */
	uint16_t plen;                       /* packet length */
	uint16_t klen;                       /* key length */
	uint8_t qname_len;                   /* question name at packet offset 12 */
	uint8_t ref;                         /* CLOCK reference bit */
	bool prefetched;                     /* prefetch-due already reported */
	bool refresh_tried;                  /* refresh_ms is meaningful */
	bool no_stale;                       /* CACHE_STORE_NO_STALE */
	/* ttl_off[nttl], then uint8_t key[klen], then uint8_t pkt[plen]; the
	 * flexible member is uint16_t so the offsets are aligned. */
	uint16_t ttl_off[];
};

/* What the parse of an upstream response tells the store. */
struct pkt_info {
	size_t len;             /* length kept (OPT RR cut off) */
	uint16_t nttl;
	uint16_t ttl_off[RR_MAX];
	uint8_t ttl_map[65536 / 8]; /* bit per octet: inside a TTL field */
	uint16_t arcount;       /* additional count without OPT */
	bool has_qtype_answer;  /* an answer RR of the asked type */
	bool has_soa;           /* SOA in the authority section */
	uint32_t soa_neg_ttl;   /* min(SOA TTL, SOA MINIMUM) */
	uint16_t soa_ttl_off;
	uint32_t min_ttl;       /* min over answer + authority */
	bool any_ttl;           /* min_ttl is set */
};

struct cache {
	struct cache_conf conf;
	struct cache_entry **tab;
	size_t nbuckets;                     /* power of two */
	struct cache_entry *hand;            /* CLOCK hand; NULL when empty */
	uint64_t epoch;                      /* bumped when an entry is freed */
	uint64_t sip_k0, sip_k1;             /* per-cache hash key */
	struct cache_stats st;               /* relaxed-atomic counters */
	struct pkt_info pi;                  /* store scratch (~12 KiB): the cache
						has one owner, so no allocation and
						no big stack frame per store */
};

/* ---- small helpers ------------------------------------------------------ */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Single writer: a plain load + store is enough (no lock prefix on the hot
 * path); the atomics only make the reader's view tear-free. */
static inline void st_add(uint64_t *ctr, uint64_t n)
{
	__atomic_store_n(ctr, __atomic_load_n(ctr, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}
static inline void st_sub(uint64_t *ctr, uint64_t n)
{
	__atomic_store_n(ctr, __atomic_load_n(ctr, __ATOMIC_RELAXED) - n, __ATOMIC_RELAXED);
}
static inline uint64_t st_get(const uint64_t *ctr)
{
	return __atomic_load_n(ctr, __ATOMIC_RELAXED);
}

static inline uint16_t *ent_ttl_off(struct cache_entry *e) { return e->ttl_off; }
static inline uint8_t *ent_key(struct cache_entry *e) { return (uint8_t *)(e->ttl_off + e->nttl); }
static inline uint8_t *ent_pkt(struct cache_entry *e) { return ent_key(e) + e->klen; }

/* ---- hashing ------------------------------------------------------------- */

/* SipHash-1-3 with a random per-cache key: query names are chosen by
 * clients, and a predictable hash would let one client turn every bucket
 * into a long chain.  One compression round keeps it to ~20 ns for a
 * typical 30-octet key. */
static inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

static inline void sip_round(uint64_t v[4])
{
	v[0] += v[1]; v[1] = rotl(v[1], 13); v[1] ^= v[0]; v[0] = rotl(v[0], 32);
	v[2] += v[3]; v[3] = rotl(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = rotl(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = rotl(v[1], 17); v[1] ^= v[2]; v[2] = rotl(v[2], 32);
}

static uint64_t key_hash(const struct cache *c, const uint8_t *k, size_t n)
{
	uint64_t v[4] = {
		c->sip_k0 ^ 0x736f6d6570736575ull, c->sip_k1 ^ 0x646f72616e646f6dull,
		c->sip_k0 ^ 0x6c7967656e657261ull, c->sip_k1 ^ 0x7465646279746573ull,
	};
	uint64_t m, b = (uint64_t)n << 56;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&m, k + i, 8); /* byte order does not matter: same host */
		v[3] ^= m;
		sip_round(v);
		v[0] ^= m;
	}
	for (size_t j = 0; i + j < n; j++)
		b |= (uint64_t)k[i + j] << (8 * j);
	v[3] ^= b;
	sip_round(v);
	v[0] ^= b;
	v[2] ^= 0xff;
	sip_round(v);
	sip_round(v);
	sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* Build the key: lowercased name, qtype, qclass, DO/CD flags.  Label length
 * octets (0..63) are below 'A', so lowercasing every octet is safe.
 * Returns the key length, or 0 for a question we refuse to key. */
static size_t make_key(const struct cache_query *q, uint8_t k[KEY_MAX])
{
	size_t n = q->qname_len, i = 0;

	if (!q->qname || n == 0 || n > NAME_MAX_WIRE || q->qname[n - 1] != 0)
		return 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t x;
		memcpy(&x, q->qname + i, 8); /* lanes are independent: any byte order */
		x = dname_lower8(x); /* keying octet by octet was a third of a hit */
		memcpy(k + i, &x, 8);
	}
	for (; i < n; i++) {
		uint8_t ch = q->qname[i];
		k[i] = (ch >= 'A' && ch <= 'Z') ? (uint8_t)(ch + 32) : ch;
	}
	wr16(k + n, q->qtype);
	wr16(k + n + 2, q->qclass);
	k[n + 4] = (uint8_t)((q->do_bit ? KF_DO : 0) | ((q->flags & F_CD) ? KF_CD : 0));
	return n + 5;
}

/* ---- table and ring ------------------------------------------------------ */

static struct cache_entry *tab_find(const struct cache *c, uint64_t h,
				    const uint8_t *k, size_t klen)
{
	struct cache_entry *e = c->tab[h & (c->nbuckets - 1)];

	for (; e; e = e->hnext)
		if (e->hash == h && e->klen == klen && memcmp(ent_key(e), k, klen) == 0)
			return e;
	return NULL;
}

/* Double the bucket array when entries exceed buckets (load factor 1 keeps
 * chains at about one entry).  A failed allocation keeps the old table:
 * still correct, only slower. */
static void tab_grow(struct cache *c)
{
	size_t nb = c->nbuckets * 2;
	struct cache_entry **t = calloc(nb, sizeof(*t));

	if (!t)
		return;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct cache_entry *e = c->tab[i], *nx;
		for (; e; e = nx) {
			nx = e->hnext;
			e->hnext = t[e->hash & (nb - 1)];
			t[e->hash & (nb - 1)] = e;
		}
	}
	free(c->tab);
	c->tab = t;
	c->nbuckets = nb;
}

static void ring_insert(struct cache *c, struct cache_entry *e)
{
	if (!c->hand) {
		e->next = e->prev = e;
		c->hand = e;
		return;
	}
	/* Just behind the hand: a new entry is the last the hand reaches. */
	e->next = c->hand;
	e->prev = c->hand->prev;
	c->hand->prev->next = e;
	c->hand->prev = e;
}

static void ring_unlink(struct cache *c, struct cache_entry *e)
{
	if (e->next == e) {
		c->hand = NULL;
		return;
	}
	if (c->hand == e)
		c->hand = e->next;
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

/* Remove `e` from table and ring, account and free it. */
static void ent_remove(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->tab[e->hash & (c->nbuckets - 1)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	ring_unlink(c, e);
	st_sub(&c->st.bytes, e->size);
	st_sub(&c->st.entries, 1);
	c->epoch++;
	free(e);
}

/* May this entry still be served stale at `now`? */
static bool ent_stale_ok(const struct cache *c, const struct cache_entry *e, uint64_t now)
{
	return c->conf.serve_stale && !e->no_stale &&
	       now - e->expire_ms < (uint64_t)c->conf.stale_max_age * 1000u;
}

/* Past its TTL and of no further use: not servable stale. */
static bool ent_dead(const struct cache *c, const struct cache_entry *e, uint64_t now)
{
	return now >= e->expire_ms && !ent_stale_ok(c, e, now);
}

/* Free one entry with the CLOCK hand.  Dead entries go first whatever their
 * reference bit; referenced ones get a second chance.  Two turns of the
 * ring always find a victim. */
static void evict_one(struct cache *c, uint64_t now)
{
	struct cache_entry *e;

	for (;;) {
		e = c->hand;
		if (!e)
			return;
		if (ent_dead(c, e, now)) {
			ent_remove(c, e);
			st_add(&c->st.expired, 1);
			return;
		}
		if (!e->ref)
			break;
		e->ref = 0;
		c->hand = e->next;
	}
	ent_remove(c, e);
	st_add(&c->st.evictions, 1);
}

/* ---- lifecycle ----------------------------------------------------------- */

void cache_conf_default(struct cache_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->max_bytes = 64u << 20;
	conf->ttl_min = 0;
	conf->ttl_max = 86400;
	conf->negative_ttl_max = 3600;
	conf->serve_stale = false;
	conf->stale_max_age = 86400;
	conf->stale_refresh_interval = 30;
	conf->prefetch = false;
}

uint64_t cache_clock_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int cache_new(const struct cache_conf *conf, struct cache **out)
{
	int ret = GN_OK;
	struct cache *c = NULL;
	uint64_t seed[2];

	*out = NULL;
	if (!conf || conf->max_bytes == 0 || conf->ttl_min > conf->ttl_max ||
	    conf->ttl_max > 0x7fffffffu || conf->negative_ttl_max > 0x7fffffffu) {
		ret = GN_EINVAL;
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		ret = GN_ENOMEM;
		goto out;
	}
	c->conf = *conf;
	c->nbuckets = BUCKETS_MIN;
	c->tab = calloc(c->nbuckets, sizeof(*c->tab));
	if (!c->tab) {
		ret = GN_ENOMEM;
		goto out;
	}
	/* A weak seed only weakens flooding resistance, never correctness. */
	if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
		seed[0] = cache_clock_ms() ^ (uint64_t)(uintptr_t)c;
		seed[1] = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
	}
	c->sip_k0 = seed[0];
	c->sip_k1 = seed[1];
	*out = c;
	c = NULL;
out:
	cache_free(c);
	return ret;
}

void cache_clear(struct cache *c)
{
	if (!c)
		return;
	while (c->hand)
		ent_remove(c, c->hand);
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	cache_clear(c);
	free(c->tab);
	free(c);
}

/* ---- store: validation and TTL policy ------------------------------------ */

/* Is octet o of the packet being parsed inside a TTL field? */
static bool ttl_octet(const struct pkt_info *pi, size_t o)
{
	return (pi->ttl_map[o >> 3] >> (o & 7)) & 1;
}

/* Walk a possibly compressed name at *off, checking everything: labels
 * inside the packet, no obsolete label types, at most 255 octets, and
 * pointers that point strictly backwards at or after the header (so a chain
 * always ends), and labels reached through a pointer that end before that
 * pointer (a name is only ever compressed against one written earlier; a
 * name running on past its pointer could run into the OPT RR that we cut
 * off the end, and the cached answer would be malformed), and never read
 * through a pointer from an octet of a TTL field (a hit rewrites TTLs, so
 * such a "name" would change under the pointer: `pi` marks the TTLs seen
 * so far, which are all a backward pointer can reach).
 * Advances *off past the name as it sits at *off.  Returns 0 or -1. */
static int pkt_name(const uint8_t *p, size_t len, const struct pkt_info *pi, size_t *off)
{
	size_t o = *off, total = 0, end = 0, lim = len;
	bool jumped = false;

	for (;;) {
		if (o >= lim)
			return -1;
		uint8_t ch = p[o];
		if (jumped && ttl_octet(pi, o))
			return -1;
		if ((ch & 0xc0) == 0xc0) {
			if (o + 2 > len || (jumped && ttl_octet(pi, o + 1)))
				return -1;
			size_t t = (size_t)(ch & 0x3f) << 8 | p[o + 1];
			if (t < HDR_LEN || t >= o)
				return -1;
			if (!jumped) {
				end = o + 2;
				jumped = true;
			}
			lim = o;
			o = t;
			continue;
		}
		if (ch & 0xc0)
			return -1;
		total += ch + 1u;
		if (total > NAME_MAX_WIRE)
			return -1;
		for (size_t i = 1; jumped && i <= ch && o + i < lim; i++)
			if (ttl_octet(pi, o + i))
				return -1;
		if (ch == 0) {
			if (!jumped)
				end = o + 1;
			break;
		}
		o += ch + 1u;
	}
	*off = end;
	return 0;
}

/* RFC 2181 8: a TTL with the top bit set is 0. */
static uint32_t ttl_sane(uint32_t t) { return (t & 0x80000000u) ? 0 : t; }

/* Parse and validate `p`.  Returns 0, CACHE_NOT_CACHED or GN_EINVAL. */
static int pkt_parse(const uint8_t *p, size_t len, const uint8_t *key, size_t qn_len,
		     uint16_t qtype, uint16_t qclass, struct pkt_info *pi)
{
	size_t off = HDR_LEN, opt_at = 0;
	uint16_t cnt[3];
	bool opt_seen = false;

	if (len < HDR_LEN || len > 65535)
		return GN_EINVAL;
	if (rd16(p + 4) != 1)
		return GN_EINVAL; /* our questions have exactly one */
	cnt[0] = rd16(p + 6);
	cnt[1] = rd16(p + 8);
	cnt[2] = rd16(p + 10);
	pi->len = len;
	pi->nttl = 0;
	memset(pi->ttl_map, 0, sizeof(pi->ttl_map));
	pi->arcount = cnt[2];
	pi->has_qtype_answer = pi->has_soa = pi->any_ttl = false;
	pi->min_ttl = UINT32_MAX;

	/* The question must be the one we asked, uncompressed. */
	if (len < HDR_LEN + qn_len + 4 || pkt_name(p, len, pi, &off) != 0 ||
	    off != HDR_LEN + qn_len)
		return GN_EINVAL;
	for (size_t i = 0; i < qn_len; i++) {
		uint8_t ch = p[HDR_LEN + i];
		if (((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch) != key[i])
			return GN_EINVAL;
	}
	off = HDR_LEN + qn_len;
	if (rd16(p + off) != qtype || rd16(p + off + 2) != qclass)
		return GN_EINVAL;
	off += 4;

	for (int sec = 0; sec < 3; sec++) {
		for (unsigned i = 0; i < cnt[sec]; i++) {
			size_t rr_at = off;
			if (pkt_name(p, len, pi, &off) != 0 || off + 10 > len)
				return GN_EINVAL;
			uint16_t type = rd16(p + off);
			uint32_t ttl = rd32(p + off + 4);
			size_t ttl_at = off + 4;
			size_t rdlen = rd16(p + off + 8);
			size_t rd_at = off + 10;
			if (rd_at + rdlen > len)
				return GN_EINVAL;
			off = rd_at + rdlen;
			if (opt_seen)
				return CACHE_NOT_CACHED; /* TSIG/SIG(0) after OPT: not ours to keep */
			if (type == T_OPT) {
				if (sec != 2 || p[rr_at] != 0)
					return GN_EINVAL; /* RFC 6891 6.1.1: root owner, additional */
				if (ttl >> 24)
					return CACHE_NOT_CACHED; /* extended rcode (BADVERS...) */
				opt_seen = true;
				opt_at = rr_at;
				continue;
			}
			if (pi->nttl >= RR_MAX)
				return GN_EINVAL;
			pi->ttl_off[pi->nttl++] = (uint16_t)ttl_at;
			for (size_t t = ttl_at; t < ttl_at + 4; t++)
				pi->ttl_map[t >> 3] |= (uint8_t)(1u << (t & 7));
			ttl = ttl_sane(ttl);
			if (sec == 0 && (type == qtype || qtype == T_ANY))
				pi->has_qtype_answer = true;
			if (sec == 1 && type == T_SOA) {
				/* MNAME, RNAME, then five 32-bit fields (RFC 1035 3.3.13). */
				size_t o = rd_at;
				if (pkt_name(p, len, pi, &o) != 0 || o > rd_at + rdlen ||
				    pkt_name(p, len, pi, &o) != 0 || o + 20 != rd_at + rdlen)
					return GN_EINVAL;
				uint32_t minimum = ttl_sane(rd32(p + o + 16));
				uint32_t neg = ttl < minimum ? ttl : minimum;
				if (!pi->has_soa || neg < pi->soa_neg_ttl) {
					pi->soa_neg_ttl = neg;
					pi->soa_ttl_off = (uint16_t)ttl_at;
				}
				pi->has_soa = true;
			}
			if (sec < 2 && ttl < pi->min_ttl) {
				pi->min_ttl = ttl;
				pi->any_ttl = true;
			}
		}
	}
	if (off != len)
		return GN_EINVAL; /* trailing octets: not what the counts say */
	if (opt_seen) {
		pi->len = opt_at;
		pi->arcount--;
	}
	return 0;
}

static uint32_t clamp32(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

int cache_store(struct cache *c, const struct cache_query *q, const uint8_t *resp,
		size_t len, unsigned flags, uint64_t now_ms)
{
	int ret = GN_OK;
	uint8_t key[KEY_MAX];
	size_t klen;
	struct pkt_info *pi = &c->pi;
	struct cache_entry *e = NULL, *old;
	uint32_t ttl, cap;
	bool negative;
	uint16_t hflags;
	int rcode;

	klen = make_key(q, key);
	if (!klen || !resp) {
		ret = GN_EINVAL;
		goto out;
	}
	if (len < HDR_LEN) {
		ret = GN_EINVAL;
		goto out;
	}
	hflags = rd16(resp + 2);
	rcode = hflags & 0xf;
	if (!(hflags & F_QR) || ((hflags >> 11) & 0xf) != 0) {
		ret = GN_EINVAL;
		goto out;
	}
	/* Only NOERROR and NXDOMAIN are answers.  SERVFAIL in particular means
	 * "unknown", and unknown is never "not listed": caching it would turn
	 * one upstream hiccup into minutes of failures, and a later tier may
	 * well know.  A truncated answer is incomplete by definition. */
	if ((rcode != R_NOERROR && rcode != R_NXDOMAIN) || (hflags & F_TC)) {
		ret = CACHE_NOT_CACHED;
		goto out;
	}
	ret = pkt_parse(resp, len, key, q->qname_len, q->qtype, q->qclass, pi);
	if (ret != 0)
		goto out;

	/* TTL policy (docs/cache.md): positive = min TTL of answer+authority;
	 * negative (NXDOMAIN, or NOERROR without the asked type) needs the
	 * authority SOA and lasts min(SOA TTL, MINIMUM) (RFC 2308 5). */
	negative = rcode == R_NXDOMAIN || !pi->has_qtype_answer;
	if (negative && !pi->has_soa) {
		ret = CACHE_NOT_CACHED; /* RFC 2308 5: SHOULD NOT cache without SOA */
		goto out;
	}
	ttl = pi->any_ttl ? pi->min_ttl : UINT32_MAX;
	if (negative && pi->soa_neg_ttl < ttl)
		ttl = pi->soa_neg_ttl;
	cap = negative ? c->conf.negative_ttl_max : c->conf.ttl_max;
	ttl = clamp32(ttl, c->conf.ttl_min, cap);
	if (ttl == 0) {
		ret = CACHE_NOT_CACHED;
		goto out;
	}

	size_t need = sizeof(*e) + 2u * pi->nttl + klen + pi->len;
	if (need > c->conf.max_bytes / ENTRY_MAX_SHARE) {
		ret = CACHE_NOT_CACHED;
		goto out;
	}
	e = malloc(need);
	if (!e) {
		ret = GN_ENOMEM;
		goto out;
	}
	memset(e, 0, sizeof(*e));
	e->size = need;
	e->nttl = pi->nttl;
	e->klen = (uint16_t)klen;
	e->plen = (uint16_t)pi->len;
	e->qname_len = q->qname_len;
	e->ttl = ttl;
	e->stored_ms = now_ms;
	e->expire_ms = now_ms + (uint64_t)ttl * 1000u;
	e->no_stale = (flags & CACHE_STORE_NO_STALE) != 0;
	e->hash = key_hash(c, key, klen);
	memcpy(ent_ttl_off(e), pi->ttl_off, 2u * pi->nttl);
	memcpy(ent_key(e), key, klen);

	uint8_t *pkt = ent_pkt(e);
	memcpy(pkt, resp, pi->len);
	/* We answer from a cache: not authoritative; recursion is what we
	 * offer.  The OPT RR is gone (hop by hop): fix ARCOUNT. */
	wr16(pkt + 2, (uint16_t)((hflags | F_RA) & ~F_AA));
	wr16(pkt + 10, pi->arcount);
	/* Stored TTLs are clamped so that serving never needs the policy again:
	 * every answer/authority TTL is within [ttl-min, cap], and for a
	 * negative answer the SOA carries the negative TTL (RFC 2308 5). */
	uint16_t *offs = ent_ttl_off(e);
	for (unsigned i = 0; i < e->nttl; i++) {
		uint32_t t = ttl_sane(rd32(pkt + offs[i]));
		wr32(pkt + offs[i], clamp32(t, c->conf.ttl_min, cap));
	}
	if (pi->has_soa && negative)
		wr32(pkt + pi->soa_ttl_off, ttl);

	/* Replace, then make room, then link. */
	old = tab_find(c, e->hash, key, klen);
	if (old)
		ent_remove(c, old);
	while (c->hand && st_get(&c->st.bytes) + need > c->conf.max_bytes)
		evict_one(c, now_ms);
	if (st_get(&c->st.entries) + 1 > c->nbuckets)
		tab_grow(c);
	size_t b = e->hash & (c->nbuckets - 1);
	e->hnext = c->tab[b];
	c->tab[b] = e;
	ring_insert(c, e);
	st_add(&c->st.bytes, need);
	st_add(&c->st.entries, 1);
	st_add(&c->st.inserts, 1);
	e = NULL;
	ret = GN_OK;
out:
	free(e);
	return ret;
}

/* ---- lookup -------------------------------------------------------------- */

int cache_lookup(struct cache *c, const struct cache_query *q, unsigned flags,
		 uint64_t now_ms, uint8_t *out, size_t cap, struct cache_result *res)
{
	uint8_t key[KEY_MAX];
	size_t klen;
	struct cache_entry *e;
	bool stale = false;

	memset(res, 0, sizeof(*res));
	klen = make_key(q, key);
	if (!klen)
		return GN_EINVAL;
	e = tab_find(c, key_hash(c, key, klen), key, klen);
	if (!e)
		goto miss;
	if (now_ms >= e->expire_ms) {
		if (!ent_stale_ok(c, e, now_ms)) {
			ent_remove(c, e);
			st_add(&c->st.expired, 1);
			goto miss;
		}
		res->ref.e = e;
		res->ref.epoch = c->epoch;
		if (!(flags & CACHE_LOOKUP_STALE)) {
			res->stale_avail = true;
			goto miss;
		}
		stale = true;
	}
	if (e->plen > cap)
		return GN_ERANGE;

	/* The hit: copy, then patch ID, RD, the question's case and TTLs. */
	uint8_t *pkt = ent_pkt(e);
	const uint16_t *offs = ent_ttl_off(e);
	memcpy(out, pkt, e->plen);
	wr16(out, q->id);
	out[2] = (uint8_t)((out[2] & ~(F_RD >> 8)) | ((q->flags & F_RD) >> 8));
	memcpy(out + HDR_LEN, q->qname, e->qname_len);
	/* RFC 6840 5.8: AD only for clients that asked with DO or AD. */
	if (!q->do_bit && !(q->flags & F_AD))
		out[3] = (uint8_t)(out[3] & ~F_AD);
	if (stale) {
		for (unsigned i = 0; i < e->nttl; i++)
			wr32(out + offs[i], CACHE_STALE_TTL);
		st_add(&c->st.stale_hits, 1);
	} else {
		/* now_ms < expire_ms here; a clock that went back counts as age 0. */
		uint32_t age = now_ms > e->stored_ms ?
			(uint32_t)((now_ms - e->stored_ms) / 1000u) : 0;
		for (unsigned i = 0; i < e->nttl; i++) {
			uint32_t t = rd32(pkt + offs[i]);
			wr32(out + offs[i], t > age ? t - age : 0);
		}
		res->ttl_left = (uint32_t)((e->expire_ms - now_ms) / 1000u);
		/* Prefetch when 90% of the TTL has gone, once per stored answer. */
		if (c->conf.prefetch && !e->prefetched &&
		    (e->expire_ms - now_ms) * 10u <= (uint64_t)e->ttl * 1000u) {
			e->prefetched = true;
			res->prefetch = true;
			st_add(&c->st.prefetches, 1);
		}
		res->ref.e = e;
		res->ref.epoch = c->epoch;
	}
	res->stale = stale;
	e->ref = 1;
	st_add(&c->st.hits, 1);
	return (int)e->plen;
miss:
	st_add(&c->st.misses, 1);
	return 0;
}

bool cache_should_refresh(struct cache *c, const struct cache_ref *ref, uint64_t now_ms)
{
	struct cache_entry *e;

	/* The epoch moves whenever an entry is freed, so an unchanged epoch
	 * proves the pointer is still live. */
	if (!ref || !ref->e || ref->epoch != c->epoch)
		return true;
	e = ref->e;
	if (e->refresh_tried && now_ms >= e->refresh_ms &&
	    now_ms - e->refresh_ms < (uint64_t)c->conf.stale_refresh_interval * 1000u)
		return false;
	e->refresh_tried = true;
	e->refresh_ms = now_ms;
	return true;
}

/* ---- metrics ------------------------------------------------------------- */

void cache_stats_get(const struct cache *c, struct cache_stats *out)
{
	out->hits = st_get(&c->st.hits);
	out->stale_hits = st_get(&c->st.stale_hits);
	out->misses = st_get(&c->st.misses);
	out->inserts = st_get(&c->st.inserts);
	out->evictions = st_get(&c->st.evictions);
	out->expired = st_get(&c->st.expired);
	out->prefetches = st_get(&c->st.prefetches);
	out->bytes = st_get(&c->st.bytes);
	out->entries = st_get(&c->st.entries);
}

static void metric(struct strbuf *out, const char *name, const char *type,
		   const char *help, uint64_t v)
{
	strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name,
		      type, name, (unsigned long long)v);
}

void cache_metrics_write(struct cache *const *caches, size_t n, struct strbuf *out)
{
	struct cache_stats sum, one;

	memset(&sum, 0, sizeof(sum));
	for (size_t i = 0; i < n; i++) {
		if (!caches[i])
			continue;
		cache_stats_get(caches[i], &one);
		sum.hits += one.hits;
		sum.stale_hits += one.stale_hits;
		sum.misses += one.misses;
		sum.inserts += one.inserts;
		sum.evictions += one.evictions;
		sum.expired += one.expired;
		sum.prefetches += one.prefetches;
		sum.bytes += one.bytes;
		sum.entries += one.entries;
	}
	metric(out, "gridns_cache_hits_total", "counter",
	       "Answers served from the packet cache (stale ones included).", sum.hits);
	metric(out, "gridns_cache_stale_hits_total", "counter",
	       "Expired answers served under serve-stale (RFC 8767).", sum.stale_hits);
	metric(out, "gridns_cache_misses_total", "counter",
	       "Cache lookups that found no servable answer.", sum.misses);
	metric(out, "gridns_cache_inserts_total", "counter",
	       "Upstream answers stored in the cache.", sum.inserts);
	metric(out, "gridns_cache_evictions_total", "counter",
	       "Entries removed to stay under max-bytes.", sum.evictions);
	metric(out, "gridns_cache_expired_total", "counter",
	       "Entries removed after their TTL (and stale-max-age) ran out.", sum.expired);
	metric(out, "gridns_cache_prefetch_total", "counter",
	       "Entries reported due for prefetch.", sum.prefetches);
	metric(out, "gridns_cache_bytes", "gauge",
	       "Memory held by cache entries, in bytes.", sum.bytes);
	metric(out, "gridns_cache_entries", "gauge",
	       "Entries in the cache.", sum.entries);
}
