/* tests/unit/test_cache.c - the tier-answer packet cache: TTL policy and
 * patching, negative caching, eviction, serve-stale, prefetch, and a store
 * that survives hostile packets.  Packets are built by hand here so every
 * octet under test is visible. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <ldns/ldns.h>
#include "common/dname.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "resolver/cache.h"

enum { T_A = 1, T_NS = 2, T_CNAME = 5, T_SOA = 6, T_TXT = 16, T_OPT = 41 };
#define QR 0x8000u
#define AA 0x0400u
#define TC 0x0200u
#define RD 0x0100u
#define RA 0x0080u
#define CD 0x0010u
#define T0 1000000u /* arbitrary clock origin, ms */

/* ---- packet builder ------------------------------------------------------ */

struct pb {
	uint8_t b[4096];
	size_t n;
};

static void pb_u8(struct pb *p, unsigned v) { p->b[p->n++] = (uint8_t)v; }
static void pb_u16(struct pb *p, unsigned v) { pb_u8(p, v >> 8); pb_u8(p, v); }
static void pb_u32(struct pb *p, uint32_t v) { pb_u16(p, v >> 16); pb_u16(p, v & 0xffff); }
static void pb_name(struct pb *p, const char *text)
{
	uint8_t w[DNAME_MAX];
	int n = dname_from_text(text, strlen(text), w);
	assert_true(n > 0);
	memcpy(p->b + p->n, w, (size_t)n);
	p->n += (size_t)n;
}
static void pb_ptr(struct pb *p, unsigned off) { pb_u16(p, 0xc000u | off); }

static void pb_hdr(struct pb *p, unsigned id, unsigned flags, unsigned qd, unsigned an,
		   unsigned ns, unsigned ar)
{
	p->n = 0;
	pb_u16(p, id);
	pb_u16(p, flags);
	pb_u16(p, qd);
	pb_u16(p, an);
	pb_u16(p, ns);
	pb_u16(p, ar);
}

/* type, class IN, ttl; the owner was written just before. */
static void pb_rr_fixed(struct pb *p, unsigned type, uint32_t ttl, unsigned rdlen)
{
	pb_u16(p, type);
	pb_u16(p, 1);
	pb_u32(p, ttl);
	pb_u16(p, rdlen);
}

static void pb_a(struct pb *p, uint32_t ttl, unsigned last)
{
	pb_ptr(p, 12);
	pb_rr_fixed(p, T_A, ttl, 4);
	pb_u8(p, 127); pb_u8(p, 0); pb_u8(p, 0); pb_u8(p, last);
}

/* SOA for the zone at offset `zone_off` with TTL and MINIMUM. */
static void pb_soa(struct pb *p, unsigned zone_off, uint32_t ttl, uint32_t minimum)
{
	pb_ptr(p, zone_off);
	pb_rr_fixed(p, T_SOA, ttl, 2 + 2 + 20);
	pb_ptr(p, zone_off);  /* MNAME */
	pb_ptr(p, zone_off);  /* RNAME */
	pb_u32(p, 2026112401); pb_u32(p, 3600); pb_u32(p, 600); pb_u32(p, 86400);
	pb_u32(p, minimum);
}

static void pb_opt(struct pb *p, uint32_t ttl_word)
{
	pb_u8(p, 0);
	pb_u16(p, T_OPT);
	pb_u16(p, 1232);
	pb_u32(p, ttl_word);
	pb_u16(p, 0);
}

/* "2.0.0.127.bl.example" A response, 1 answer + 1 NS in authority. */
static const char *QN = "2.0.0.127.bl.example";
static const char *QN_MIXED = "2.0.0.127.Bl.EXAMPLE";

static void make_positive(struct pb *p, uint32_t an_ttl, uint32_t ns_ttl)
{
	pb_hdr(p, 0, QR | RD | RA | AA, 1, 1, 1, 0);
	pb_name(p, QN);
	pb_u16(p, T_A); pb_u16(p, 1);
	pb_a(p, an_ttl, 2);
	pb_ptr(p, 12 + 10); /* "bl.example" inside the question */
	pb_rr_fixed(p, T_NS, ns_ttl, 2 + 2);
	pb_u8(p, 1); pb_u8(p, 'a'); pb_ptr(p, 12 + 10);
}

static uint8_t qwire[DNAME_MAX];

static struct cache_query mkq(const char *name, unsigned qtype, unsigned id)
{
	struct cache_query q;
	int n = dname_from_text(name, strlen(name), qwire);
	assert_true(n > 0);
	memset(&q, 0, sizeof(q));
	q.qname = qwire;
	q.qname_len = (uint8_t)n;
	q.qtype = (uint16_t)qtype;
	q.qclass = 1;
	q.id = (uint16_t)id;
	q.flags = RD;
	return q;
}

static unsigned get16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }

static struct cache *mkcache(void (*tweak)(struct cache_conf *))
{
	struct cache_conf cf;
	struct cache *c = NULL;
	cache_conf_default(&cf);
	if (tweak)
		tweak(&cf);
	assert_int_equal(cache_new(&cf, &c), 0);
	return c;
}

/* Parse with ldns and return the TTL of RR `i` of section `sec` (0 an,
 * 1 ns, 2 ar): proves the packet is valid DNS, pointers included. */
static uint32_t ldns_ttl(const uint8_t *pkt, size_t len, int sec, size_t i)
{
	ldns_pkt *lp = NULL;
	ldns_rr_list *l;
	uint32_t ttl;
	assert_int_equal(ldns_wire2pkt(&lp, pkt, len), LDNS_STATUS_OK);
	l = sec == 0 ? ldns_pkt_answer(lp) : sec == 1 ? ldns_pkt_authority(lp)
						   : ldns_pkt_additional(lp);
	assert_true(i < ldns_rr_list_rr_count(l));
	ttl = ldns_rr_ttl(ldns_rr_list_rr(l, i));
	ldns_pkt_free(lp);
	return ttl;
}

/* ---- tests --------------------------------------------------------------- */

static void test_positive_hit(void **state)
{
	struct cache *c = mkcache(NULL);
	struct pb p;
	struct cache_query q;
	struct cache_result r;
	struct cache_stats st;
	uint8_t out[512];
	int n;

	make_positive(&p, 300, 600);
	q = mkq(QN, T_A, 0x1111);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);

	/* 10.9 s later, another client, other case, other ID, RD clear. */
	q = mkq(QN_MIXED, T_A, 0xbeef);
	q.flags = 0;
	n = cache_lookup(c, &q, 0, T0 + 10900, out, sizeof(out), &r);
	assert_int_equal(n, (int)p.n);
	assert_false(r.stale);
	assert_false(r.prefetch);
	assert_int_equal(r.ttl_left, 289);
	assert_int_equal(get16(out), 0xbeef);
	assert_int_equal(get16(out + 2) & (RD | AA), 0); /* RD echoed, AA cleared */
	assert_true(get16(out + 2) & QR);
	assert_memory_equal(out + 12, qwire, q.qname_len); /* client's case */
	assert_int_equal(ldns_ttl(out, (size_t)n, 0, 0), 290);
	assert_int_equal(ldns_ttl(out, (size_t)n, 1, 0), 590);
	/* Everything else verbatim: the rdata. */
	assert_memory_equal(out + n - 4, p.b + p.n - 4, 4);

	/* RD set by this client: echoed. */
	q.flags = RD;
	n = cache_lookup(c, &q, 0, T0 + 20000, out, sizeof(out), &r);
	assert_true(n > 0);
	assert_true(get16(out + 2) & RD);
	assert_int_equal(ldns_ttl(out, (size_t)n, 0, 0), 280);

	/* Other type, other DO/CD: other keys. */
	q = mkq(QN, T_TXT, 1);
	assert_int_equal(cache_lookup(c, &q, 0, T0, out, sizeof(out), &r), 0);
	q = mkq(QN, T_A, 1);
	q.do_bit = true;
	assert_int_equal(cache_lookup(c, &q, 0, T0, out, sizeof(out), &r), 0);
	q.do_bit = false;
	q.flags = RD | CD;
	assert_int_equal(cache_lookup(c, &q, 0, T0, out, sizeof(out), &r), 0);

	/* AD only for clients that asked with DO or AD (RFC 6840 5.8). */
	make_positive(&p, 300, 600);
	p.b[3] |= 0x20;
	q = mkq(QN, T_A, 1);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);
	assert_true(cache_lookup(c, &q, 0, T0, out, sizeof(out), &r) > 0);
	assert_int_equal(out[3] & 0x20, 0);
	q.flags = RD | 0x20;
	assert_true(cache_lookup(c, &q, 0, T0, out, sizeof(out), &r) > 0);
	assert_int_equal(out[3] & 0x20, 0x20);

	/* Too small a buffer is an error, never a partial copy. */
	q = mkq(QN, T_A, 1);
	assert_int_equal(cache_lookup(c, &q, 0, T0, out, p.n - 1, &r), GN_ERANGE);

	cache_stats_get(c, &st);
	assert_int_equal(st.hits, 4);
	assert_int_equal(st.misses, 3);
	assert_int_equal(st.inserts, 2);
	assert_int_equal(st.entries, 1);
	assert_true(st.bytes > p.n);
	cache_free(c);
}

/* A response full of compression pointers (CNAME chain, pointers into
 * RDATA) must come out as a valid packet with every TTL patched. */
static void test_compressed_stays_valid(void **state)
{
	struct cache *c = mkcache(NULL);
	struct pb p;
	struct cache_query q = mkq("www.Example.org", T_A, 7);
	struct cache_result r;
	uint8_t out[512];
	ldns_pkt *lp = NULL;
	int n;
	size_t tgt;

	pb_hdr(&p, 0, QR | RD | RA, 1, 2, 1, 1);
	pb_name(&p, "www.example.org");
	pb_u16(&p, T_A); pb_u16(&p, 1);
	pb_ptr(&p, 12);                         /* www.example.org CNAME */
	pb_rr_fixed(&p, T_CNAME, 120, 6);
	tgt = p.n;
	pb_u8(&p, 3); pb_u8(&p, 'c'); pb_u8(&p, 'd'); pb_u8(&p, 'n');
	pb_ptr(&p, 12 + 4);                     /* cdn.example.org */
	pb_ptr(&p, tgt);                        /* cdn.example.org A */
	pb_rr_fixed(&p, T_A, 60, 4);
	pb_u32(&p, 0x7f000002);
	pb_ptr(&p, 12 + 4);                     /* example.org NS ns.example.org */
	pb_rr_fixed(&p, T_NS, 3600, 5);
	pb_u8(&p, 2); pb_u8(&p, 'n'); pb_u8(&p, 's'); pb_ptr(&p, 12 + 4);
	pb_ptr(&p, p.n - 5);                    /* ns.example.org A, glue */
	pb_rr_fixed(&p, T_A, 30, 4);
	pb_u32(&p, 0xc0000201);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);

	q = mkq("WWW.EXAMPLE.ORG", T_A, 8);
	n = cache_lookup(c, &q, 0, T0 + 45000, out, sizeof(out), &r);
	assert_int_equal(n, (int)p.n);
	assert_int_equal(r.ttl_left, 15); /* entry TTL is the min of an+ns: 60 */
	assert_int_equal(ldns_wire2pkt(&lp, out, (size_t)n), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_ancount(lp), 2);
	ldns_rdf *owner = ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_answer(lp), 1));
	char *txt = ldns_rdf2str(owner);
	assert_string_equal(txt, "cdn.EXAMPLE.ORG."); /* pointer into the patched qname */
	free(txt);
	ldns_pkt_free(lp);
	assert_int_equal(ldns_ttl(out, (size_t)n, 0, 0), 75);
	assert_int_equal(ldns_ttl(out, (size_t)n, 0, 1), 15);
	assert_int_equal(ldns_ttl(out, (size_t)n, 1, 0), 3555);
	assert_int_equal(ldns_ttl(out, (size_t)n, 2, 0), 0); /* glue ran out: floor 0 */
	cache_free(c);
}

static void test_negative(void **state)
{
	struct cache *c = mkcache(NULL);
	struct pb p;
	struct cache_query q;
	struct cache_result r;
	uint8_t out[512];
	int n;

	/* NXDOMAIN: min(SOA TTL 900, MINIMUM 300) = 300. */
	q = mkq("9.9.9.9.bl.example", T_A, 1);
	pb_hdr(&p, 0, QR | RD | RA | 3, 1, 0, 1, 0);
	pb_name(&p, "9.9.9.9.bl.example");
	pb_u16(&p, T_A); pb_u16(&p, 1);
	pb_soa(&p, 12 + 8, 900, 300);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);
	n = cache_lookup(c, &q, 0, T0 + 100000, out, sizeof(out), &r);
	assert_int_equal(n, (int)p.n);
	assert_int_equal(get16(out + 2) & 0xf, 3);
	assert_int_equal(r.ttl_left, 200);
	assert_int_equal(ldns_ttl(out, (size_t)n, 1, 0), 200); /* SOA carries the neg TTL */
	assert_int_equal(cache_lookup(c, &q, 0, T0 + 300000, out, sizeof(out), &r), 0);

	/* NODATA: NOERROR, no answer; SOA TTL 60 < MINIMUM 3600. */
	q = mkq("2.0.0.127.bl.example", T_TXT, 1);
	pb_hdr(&p, 0, QR | RA, 1, 0, 1, 0);
	pb_name(&p, "2.0.0.127.bl.example");
	pb_u16(&p, T_TXT); pb_u16(&p, 1);
	pb_soa(&p, 12 + 10, 60, 3600);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);
	n = cache_lookup(c, &q, 0, T0 + 59999, out, sizeof(out), &r);
	assert_true(n > 0);
	assert_int_equal(ldns_ttl(out, (size_t)n, 1, 0), 1);
	assert_int_equal(cache_lookup(c, &q, 0, T0 + 60000, out, sizeof(out), &r), 0);

	/* negative-ttl-max caps it (default 3600). */
	pb_hdr(&p, 0, QR | RA, 1, 0, 1, 0);
	pb_name(&p, "2.0.0.127.bl.example");
	pb_u16(&p, T_TXT); pb_u16(&p, 1);
	pb_soa(&p, 12 + 10, 86400, 86400);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);
	n = cache_lookup(c, &q, 0, T0, out, sizeof(out), &r);
	assert_int_equal(r.ttl_left, 3600);

	/* Without a SOA a negative answer is not cached (RFC 2308 5). */
	q = mkq("nosoa.bl.example", T_A, 1);
	pb_hdr(&p, 0, QR | RA | 3, 1, 0, 0, 0);
	pb_name(&p, "nosoa.bl.example");
	pb_u16(&p, T_A); pb_u16(&p, 1);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), CACHE_NOT_CACHED);
	/* NOERROR with a CNAME only, no SOA: a partial chain, not cached. */
	q = mkq("alias.example", T_A, 1);
	pb_hdr(&p, 0, QR | RA, 1, 1, 0, 0);
	pb_name(&p, "alias.example");
	pb_u16(&p, T_A); pb_u16(&p, 1);
	pb_ptr(&p, 12);
	pb_rr_fixed(&p, T_CNAME, 300, 2);
	pb_ptr(&p, 12 + 6);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), CACHE_NOT_CACHED);
	cache_free(c);
}

static void test_not_cached_rcodes(void **state)
{
	struct cache *c = mkcache(NULL);
	struct pb p;
	struct cache_query q = mkq(QN, T_A, 1);
	struct cache_result r;
	struct cache_stats st;
	uint8_t out[512];
	unsigned rcodes[] = { 1, 2, 4, 5, 9 };

	/* SERVFAIL (and every other error rcode) means "unknown". */
	for (size_t i = 0; i < sizeof(rcodes) / sizeof(rcodes[0]); i++) {
		make_positive(&p, 300, 300);
		p.b[3] = (uint8_t)(p.b[3] | rcodes[i]);
		assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), CACHE_NOT_CACHED);
	}
	/* Same for a bare SERVFAIL with no records. */
	pb_hdr(&p, 0, QR | RA | 2, 1, 0, 0, 0);
	pb_name(&p, QN);
	pb_u16(&p, T_A); pb_u16(&p, 1);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), CACHE_NOT_CACHED);
	/* Truncated answers are incomplete. */
	make_positive(&p, 300, 300);
	p.b[2] |= TC >> 8;
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), CACHE_NOT_CACHED);
	/* An OPT carrying an extended rcode (BADVERS) is not an answer. */
	make_positive(&p, 300, 300);
	p.b[11] = 1;
	pb_opt(&p, 1u << 24);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), CACHE_NOT_CACHED);
	/* TTL 0 everywhere: nothing to keep. */
	make_positive(&p, 0, 0);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), CACHE_NOT_CACHED);

	assert_int_equal(cache_lookup(c, &q, 0, T0, out, sizeof(out), &r), 0);
	cache_stats_get(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.inserts, 0);
	cache_free(c);
}

static void test_opt_removed(void **state)
{
	struct cache *c = mkcache(NULL);
	struct pb p;
	struct cache_query q = mkq(QN, T_A, 1);
	struct cache_result r;
	uint8_t out[512];
	size_t plain;
	int n;

	make_positive(&p, 300, 300);
	plain = p.n;
	p.b[11] = 1;
	pb_opt(&p, 0x8000); /* DO */
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);
	n = cache_lookup(c, &q, 0, T0, out, sizeof(out), &r);
	assert_int_equal(n, (int)plain);
	assert_int_equal(get16(out + 10), 0);
	assert_int_equal(ldns_ttl(out, (size_t)n, 0, 0), 300);

	/* Something after the OPT (TSIG): not ours to keep. */
	make_positive(&p, 300, 300);
	p.b[11] = 2;
	pb_opt(&p, 0);
	pb_ptr(&p, 12);
	pb_rr_fixed(&p, T_A, 1, 4);
	pb_u32(&p, 1);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), CACHE_NOT_CACHED);
	cache_free(c);
}

static void floor60_ceil100(struct cache_conf *cf)
{
	cf->ttl_min = 60;
	cf->ttl_max = 100;
	cf->negative_ttl_max = 80;
}

static void test_floor_ceiling(void **state)
{
	struct cache *c = mkcache(floor60_ceil100);
	struct pb p;
	struct cache_query q = mkq(QN, T_A, 1);
	struct cache_result r;
	uint8_t out[512];
	int n;

	/* Floor: TTL 5 is kept 60 s, served as 60 - age. */
	make_positive(&p, 5, 5);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);
	n = cache_lookup(c, &q, 0, T0 + 30000, out, sizeof(out), &r);
	assert_true(n > 0);
	assert_int_equal(ldns_ttl(out, (size_t)n, 0, 0), 30);
	assert_true(cache_lookup(c, &q, 0, T0 + 59999, out, sizeof(out), &r) > 0);
	assert_int_equal(cache_lookup(c, &q, 0, T0 + 60000, out, sizeof(out), &r), 0);

	/* Ceiling: TTL 1000 is kept 100 s and never served above 100. */
	make_positive(&p, 1000, 5000);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);
	n = cache_lookup(c, &q, 0, T0, out, sizeof(out), &r);
	assert_int_equal(ldns_ttl(out, (size_t)n, 0, 0), 100);
	assert_int_equal(ldns_ttl(out, (size_t)n, 1, 0), 100);
	assert_int_equal(r.ttl_left, 100);
	assert_int_equal(cache_lookup(c, &q, 0, T0 + 100000, out, sizeof(out), &r), 0);

	/* Negative ceiling is separate. */
	q = mkq("x.bl.example", T_A, 1);
	pb_hdr(&p, 0, QR | 3, 1, 0, 1, 0);
	pb_name(&p, "x.bl.example");
	pb_u16(&p, T_A); pb_u16(&p, 1);
	pb_soa(&p, 12 + 2, 3600, 3600);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);
	n = cache_lookup(c, &q, 0, T0, out, sizeof(out), &r);
	assert_int_equal(r.ttl_left, 80);
	assert_int_equal(ldns_ttl(out, (size_t)n, 1, 0), 80);

	/* A TTL with the top bit set is 0 (RFC 2181 8), then floored. */
	q = mkq(QN, T_A, 1);
	make_positive(&p, 0x80000000u, 0x80000000u);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);
	n = cache_lookup(c, &q, 0, T0, out, sizeof(out), &r);
	assert_int_equal(ldns_ttl(out, (size_t)n, 0, 0), 60);
	cache_free(c);
}

static void test_expiry_and_replace(void **state)
{
	struct cache *c = mkcache(NULL);
	struct pb p;
	struct cache_query q = mkq(QN, T_A, 1);
	struct cache_result r;
	struct cache_stats st;
	uint8_t out[512];
	int n;

	make_positive(&p, 10, 10);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);
	n = cache_lookup(c, &q, 0, T0 + 9999, out, sizeof(out), &r);
	assert_true(n > 0);
	assert_int_equal(ldns_ttl(out, (size_t)n, 0, 0), 1);
	assert_int_equal(cache_lookup(c, &q, 0, T0 + 10000, out, sizeof(out), &r), 0);
	assert_false(r.stale_avail);
	cache_stats_get(c, &st);
	assert_int_equal(st.expired, 1);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);

	/* A newer answer replaces the old one (no duplicate, no leak). */
	make_positive(&p, 10, 10);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);
	make_positive(&p, 50, 50);
	p.b[p.n - 17] = 9; /* different A rdata, last octet */
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0 + 5000), 0);
	cache_stats_get(c, &st);
	assert_int_equal(st.entries, 1);
	n = cache_lookup(c, &q, 0, T0 + 20000, out, sizeof(out), &r);
	assert_int_equal(ldns_ttl(out, (size_t)n, 0, 0), 35);

	/* A clock that goes backwards never yields TTLs above the stored ones. */
	n = cache_lookup(c, &q, 0, T0, out, sizeof(out), &r);
	assert_int_equal(ldns_ttl(out, (size_t)n, 0, 0), 50);

	cache_clear(c);
	cache_stats_get(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
	cache_free(c);
}

static void small_cache(struct cache_conf *cf) { cf->max_bytes = 8192; }

static void test_eviction(void **state)
{
	struct cache *c = mkcache(small_cache);
	struct pb p;
	struct cache_query q;
	struct cache_result r;
	struct cache_stats st;
	uint8_t out[512];
	char name[64];
	int survived = 0;

	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "%d.0.0.127.bl.example", i);
		q = mkq(name, T_A, 1);
		pb_hdr(&p, 0, QR | RA, 1, 1, 0, 0);
		pb_name(&p, name);
		pb_u16(&p, T_A); pb_u16(&p, 1);
		pb_a(&p, 3600, 2);
		assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0 + (uint64_t)i), 0);
		/* Keep name 0 hot: CLOCK gives it a second chance every turn. */
		q = mkq("0.0.0.127.bl.example", T_A, 1);
		if (cache_lookup(c, &q, 0, T0 + (uint64_t)i, out, sizeof(out), &r) > 0)
			survived++;
		cache_stats_get(c, &st);
		assert_true(st.bytes <= 8192);
	}
	cache_stats_get(c, &st);
	assert_int_equal(survived, 500);
	assert_true(st.evictions > 400);
	assert_int_equal(st.inserts, 500);
	assert_int_equal(st.entries + st.evictions, 500);
	assert_true(st.bytes > 8192 / 2);
	/* The oldest cold names are gone. */
	q = mkq("1.0.0.127.bl.example", T_A, 1);
	assert_int_equal(cache_lookup(c, &q, 0, T0 + 500, out, sizeof(out), &r), 0);

	/* A dead entry is freed when the hand reaches it, reference bit or not. */
	cache_clear(c);
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "%d.0.0.127.bl.example", i);
		q = mkq(name, T_A, 1);
		pb_hdr(&p, 0, QR | RA, 1, 1, 0, 0);
		pb_name(&p, name);
		pb_u16(&p, T_A); pb_u16(&p, 1);
		pb_a(&p, i == 0 ? 1 : 3600, 2);
		assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);
	}
	/* Name 0 is referenced, then expires: when the hand reaches it, it
	 * goes at once instead of getting a second chance. */
	q = mkq("0.0.0.127.bl.example", T_A, 1);
	assert_true(cache_lookup(c, &q, 0, T0, out, sizeof(out), &r) > 0);
	cache_stats_get(c, &st);
	uint64_t ev0 = st.evictions, ex0 = st.expired;
	for (int i = 20; st.evictions == ev0 && st.expired == ex0 && i < 200; i++) {
		snprintf(name, sizeof(name), "%d.0.0.127.bl.example", i);
		q = mkq(name, T_A, 1);
		pb_hdr(&p, 0, QR | RA, 1, 1, 0, 0);
		pb_name(&p, name);
		pb_u16(&p, T_A); pb_u16(&p, 1);
		pb_a(&p, 3600, 2);
		assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0 + 5000), 0);
		cache_stats_get(c, &st);
	}
	assert_int_equal(st.expired, ex0 + 1);
	assert_int_equal(st.evictions, ev0);

	/* One answer may not take more than an eighth of the cache. */
	q = mkq("big.example", T_TXT, 1);
	pb_hdr(&p, 0, QR | RA, 1, 1, 0, 0);
	pb_name(&p, "big.example");
	pb_u16(&p, T_TXT); pb_u16(&p, 1);
	pb_ptr(&p, 12);
	pb_rr_fixed(&p, T_TXT, 300, 1200);
	for (int i = 0; i < 1200; i++)
		pb_u8(&p, i % 256 ? 'x' : 255);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), CACHE_NOT_CACHED);
	cache_free(c);
}

static void stale_on(struct cache_conf *cf)
{
	cf->serve_stale = true;
	cf->stale_max_age = 3600;
	cf->stale_refresh_interval = 30;
	cf->prefetch = true;
}

static void test_serve_stale(void **state)
{
	struct cache *off = mkcache(NULL), *on = mkcache(stale_on);
	struct pb p;
	struct cache_query q = mkq(QN, T_A, 5);
	struct cache_result r;
	struct cache_stats st;
	uint8_t out[512];
	int n;

	make_positive(&p, 60, 60);
	assert_int_equal(cache_store(off, &q, p.b, p.n, 0, T0), 0);
	assert_int_equal(cache_store(on, &q, p.b, p.n, 0, T0), 0);

	/* Off (the default): expired is gone, even when stale is asked for. */
	assert_int_equal(cache_lookup(off, &q, CACHE_LOOKUP_STALE, T0 + 61000, out,
				      sizeof(out), &r), 0);
	assert_false(r.stale_avail);

	/* On: a plain lookup misses but says stale data exists... */
	assert_int_equal(cache_lookup(on, &q, 0, T0 + 61000, out, sizeof(out), &r), 0);
	assert_true(r.stale_avail);
	assert_non_null(r.ref.e);
	/* ...and a stale lookup serves it with TTL 30 and the stale flag. */
	n = cache_lookup(on, &q, CACHE_LOOKUP_STALE, T0 + 61000, out, sizeof(out), &r);
	assert_int_equal(n, (int)p.n);
	assert_true(r.stale);
	assert_false(r.prefetch);
	assert_int_equal(r.ttl_left, 0);
	assert_int_equal(get16(out), 5);
	assert_int_equal(ldns_ttl(out, (size_t)n, 0, 0), CACHE_STALE_TTL);
	assert_int_equal(ldns_ttl(out, (size_t)n, 1, 0), CACHE_STALE_TTL);
	/* Up to stale-max-age past expiry, not beyond. */
	assert_true(cache_lookup(on, &q, CACHE_LOOKUP_STALE, T0 + 60000 + 3599999, out,
				 sizeof(out), &r) > 0);
	assert_int_equal(cache_lookup(on, &q, CACHE_LOOKUP_STALE, T0 + 60000 + 3600000, out,
				      sizeof(out), &r), 0);
	assert_false(r.stale_avail);
	cache_stats_get(on, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.expired, 1);
	assert_int_equal(st.stale_hits, 2);

	/* CACHE_STORE_NO_STALE opts one answer out. */
	assert_int_equal(cache_store(on, &q, p.b, p.n, CACHE_STORE_NO_STALE, T0), 0);
	assert_int_equal(cache_lookup(on, &q, CACHE_LOOKUP_STALE, T0 + 61000, out,
				      sizeof(out), &r), 0);
	assert_false(r.stale_avail);

	/* A fresh store after an outage ends stale serving. */
	assert_int_equal(cache_store(on, &q, p.b, p.n, 0, T0), 0);
	assert_true(cache_lookup(on, &q, CACHE_LOOKUP_STALE, T0 + 70000, out, sizeof(out),
				 &r) > 0);
	assert_true(r.stale);
	assert_int_equal(cache_store(on, &q, p.b, p.n, 0, T0 + 70000), 0);
	assert_true(cache_lookup(on, &q, CACHE_LOOKUP_STALE, T0 + 70000, out, sizeof(out),
				 &r) > 0);
	assert_false(r.stale);
	cache_free(off);
	cache_free(on);
}

static void test_refresh_backoff(void **state)
{
	struct cache *c = mkcache(stale_on);
	struct pb p;
	struct cache_query q = mkq(QN, T_A, 5);
	struct cache_result r;
	struct cache_ref ref;
	uint8_t out[512];

	make_positive(&p, 60, 60);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);
	assert_int_equal(cache_lookup(c, &q, 0, T0 + 61000, out, sizeof(out), &r), 0);
	assert_true(r.stale_avail);
	/* First try goes upstream; then at most one per 30 s. */
	assert_true(cache_should_refresh(c, &r.ref, T0 + 61000));
	assert_false(cache_should_refresh(c, &r.ref, T0 + 62000));
	assert_true(cache_lookup(c, &q, CACHE_LOOKUP_STALE, T0 + 80000, out, sizeof(out),
				 &r) > 0);
	assert_false(cache_should_refresh(c, &r.ref, T0 + 90999));
	assert_true(cache_should_refresh(c, &r.ref, T0 + 91000));
	assert_false(cache_should_refresh(c, &r.ref, T0 + 91001));
	ref = r.ref;

	/* A ref that outlived its entry is detected, not dereferenced. */
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0 + 95000), 0);
	assert_true(cache_should_refresh(c, &ref, T0 + 95001));
	assert_true(cache_should_refresh(c, NULL, T0));
	cache_free(c);
}

static void test_prefetch_once(void **state)
{
	struct cache *c = mkcache(stale_on), *dflt = mkcache(NULL);
	struct pb p;
	struct cache_query q = mkq(QN, T_A, 5);
	struct cache_result r;
	struct cache_stats st;
	uint8_t out[512];

	make_positive(&p, 100, 100);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), 0);
	assert_int_equal(cache_store(dflt, &q, p.b, p.n, 0, T0), 0);
	assert_true(cache_lookup(c, &q, 0, T0 + 89999, out, sizeof(out), &r) > 0);
	assert_false(r.prefetch);
	assert_true(cache_lookup(c, &q, 0, T0 + 90000, out, sizeof(out), &r) > 0);
	assert_true(r.prefetch);
	assert_true(cache_lookup(c, &q, 0, T0 + 95000, out, sizeof(out), &r) > 0);
	assert_false(r.prefetch);
	/* Off by default. */
	assert_true(cache_lookup(dflt, &q, 0, T0 + 95000, out, sizeof(out), &r) > 0);
	assert_false(r.prefetch);
	/* The refreshed answer can be prefetched again. */
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0 + 96000), 0);
	assert_true(cache_lookup(c, &q, 0, T0 + 96000 + 91000, out, sizeof(out), &r) > 0);
	assert_true(r.prefetch);
	cache_stats_get(c, &st);
	assert_int_equal(st.prefetches, 2);
	cache_free(c);
	cache_free(dflt);
}

/* Every way a response can lie about itself: refused, never a crash. */
static void test_malformed(void **state)
{
	struct cache *c = mkcache(NULL);
	struct pb p, good;
	struct cache_query q = mkq(QN, T_A, 1);
	struct cache_stats st;

	make_positive(&good, 300, 300);
	/* Every truncation. */
	for (size_t n = 0; n < good.n; n++)
		assert_true(cache_store(c, &q, good.b, n, 0, T0) != 0);
	/* Trailing octets. */
	p = good;
	p.b[p.n++] = 0;
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), GN_EINVAL);
	/* Counts that do not match the records. */
	p = good;
	p.b[7] = 2;
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), GN_EINVAL);
	p = good;
	p.b[5] = 2;
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), GN_EINVAL);
	p = good;
	p.b[5] = 0;
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), GN_EINVAL);
	/* Not a response, not a QUERY. */
	p = good;
	p.b[2] &= 0x7f;
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), GN_EINVAL);
	p = good;
	p.b[2] |= 0x28; /* opcode 5 */
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), GN_EINVAL);
	/* The answer to another question. */
	struct cache_query other = mkq("3.0.0.127.bl.example", T_A, 1);
	assert_int_equal(cache_store(c, &other, good.b, good.n, 0, T0), GN_EINVAL);
	other = mkq(QN, T_TXT, 1);
	assert_int_equal(cache_store(c, &other, good.b, good.n, 0, T0), GN_EINVAL);
	q = mkq(QN, T_A, 1);
	/* Forward pointer, self pointer, pointer into the header. */
	size_t an_owner = 12 + 22 + 4;
	unsigned bad_ptrs[] = { 0xc000u | 60, 0xc000u | 38, 0xc000u | 2 };
	for (size_t i = 0; i < 3; i++) {
		p = good;
		p.b[an_owner] = (uint8_t)(bad_ptrs[i] >> 8);
		p.b[an_owner + 1] = (uint8_t)bad_ptrs[i];
		assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), GN_EINVAL);
	}
	/* Obsolete label type 0x40 and an RDLENGTH past the end. */
	p = good;
	p.b[an_owner] = 0x41;
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), GN_EINVAL);
	p = good;
	p.b[an_owner + 2 + 8] = 0x10;
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), GN_EINVAL);
	/* A compressed question. */
	pb_hdr(&p, 0, QR, 1, 0, 0, 0);
	pb_ptr(&p, 12);
	pb_u16(&p, T_A); pb_u16(&p, 1);
	assert_true(cache_store(c, &q, p.b, p.n, 0, T0) < 0);
	/* Pointer chains: a.<qname>, a.a.<qname>, ... kept inside a TXT RDATA,
	 * then used as an owner.  Up to 255 octets is fine, longer is not. */
	for (int links = 50; links <= 130; links += 80) {
		pb_hdr(&p, 0, QR | RA, 1, 2, 0, 0);
		pb_name(&p, QN);
		pb_u16(&p, T_A); pb_u16(&p, 1);
		pb_ptr(&p, 12);
		pb_rr_fixed(&p, T_TXT, 300, (unsigned)links * 4);
		size_t prev = 12;
		for (int i = 0; i < links; i++) {
			size_t here = p.n;
			pb_u8(&p, 1); pb_u8(&p, 'a'); pb_ptr(&p, (unsigned)prev);
			prev = here;
		}
		pb_ptr(&p, (unsigned)prev);
		pb_rr_fixed(&p, T_A, 300, 4);
		pb_u32(&p, 0x7f000002);
		assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), links == 50 ? 0 : GN_EINVAL);
	}
	cache_clear(c);
	/* SOA RDATA shorter than its names + 20. */
	pb_hdr(&p, 0, QR | 3, 1, 0, 1, 0);
	pb_name(&p, QN);
	pb_u16(&p, T_A); pb_u16(&p, 1);
	pb_ptr(&p, 12);
	pb_rr_fixed(&p, T_SOA, 300, 2 + 2 + 19);
	pb_ptr(&p, 12); pb_ptr(&p, 12);
	for (int i = 0; i < 19; i++)
		pb_u8(&p, 0);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), GN_EINVAL);
	/* OPT in the answer section. */
	pb_hdr(&p, 0, QR, 1, 1, 0, 0);
	pb_name(&p, QN);
	pb_u16(&p, T_A); pb_u16(&p, 1);
	pb_opt(&p, 0);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), GN_EINVAL);
	/* An owner compressed against a "name" whose label runs on past the
	 * pointer, over the rest of the RR, and ends on the OPT's root owner:
	 * walkable in the packet as received, past the end once the OPT is cut
	 * (found by fuzz_cache: the served answer was malformed). */
	pb_hdr(&p, 0, QR | RA, 1, 2, 0, 1);
	pb_name(&p, QN);
	pb_u16(&p, T_A); pb_u16(&p, 1);
	pb_ptr(&p, 12);
	pb_rr_fixed(&p, T_TXT, 300, 1);
	size_t x = p.n;
	pb_u8(&p, 16); /* label: RR 2 (2 + 10 + 4 octets), then the OPT's 0 */
	pb_ptr(&p, (unsigned)x);
	pb_rr_fixed(&p, T_A, 300, 4);
	pb_u32(&p, 0x7f000002);
	pb_opt(&p, 0);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), GN_EINVAL);
	/* An owner compressed against a TTL field (its first octet 0 reads as
	 * the root name): a hit rewrites TTLs, so the name would change under
	 * the pointer (found by fuzz_cache: served answer malformed). */
	pb_hdr(&p, 0, QR | RA, 1, 2, 0, 0);
	pb_name(&p, QN);
	pb_u16(&p, T_A); pb_u16(&p, 1);
	pb_ptr(&p, 12);
	size_t ttl_at = p.n + 4;
	pb_rr_fixed(&p, T_A, 86400 * 2, 4); /* 0x0002a300: first octet 0 */
	pb_u32(&p, 0x7f000002);
	pb_ptr(&p, (unsigned)ttl_at);
	pb_rr_fixed(&p, T_A, 300, 4);
	pb_u32(&p, 0x7f000003);
	assert_int_equal(cache_store(c, &q, p.b, p.n, 0, T0), GN_EINVAL);
	/* Bad arguments. */
	assert_int_equal(cache_store(c, &q, NULL, 100, 0, T0), GN_EINVAL);
	other = q;
	other.qname_len = 0;
	assert_int_equal(cache_store(c, &other, good.b, good.n, 0, T0), GN_EINVAL);

	cache_stats_get(c, &st);
	assert_int_equal(st.entries, 0);
	cache_free(c);
}

/* Random damage to valid packets: store never crashes or reads out of
 * bounds (run under ASan by `make asan`), and whatever it accepts is served
 * back whole. */
static void test_mutations(void **state)
{
	struct cache *c = mkcache(stale_on);
	struct pb base[3], p;
	struct cache_query q = mkq(QN, T_A, 1);
	struct cache_result r;
	uint8_t out[4096];
	unsigned seed = 12345, stored = 0;

	make_positive(&base[0], 300, 600);
	pb_hdr(&base[1], 0, QR | 3, 1, 0, 1, 1);
	pb_name(&base[1], QN);
	pb_u16(&base[1], T_A); pb_u16(&base[1], 1);
	pb_soa(&base[1], 12 + 10, 900, 300);
	pb_opt(&base[1], 0x8000);
	make_positive(&base[2], 30, 60);
	for (int i = 0; i < 200000; i++) {
		p = base[i % 3];
		seed = seed * 1103515245u + 12345u;
		int flips = 1 + (int)(seed >> 28) % 4;
		for (int f = 0; f < flips; f++) {
			seed = seed * 1103515245u + 12345u;
			p.b[(seed >> 8) % p.n] = (uint8_t)(seed >> 20);
		}
		seed = seed * 1103515245u + 12345u;
		if ((seed >> 16) % 8 == 0)
			p.n -= (seed >> 4) % p.n;
		int ret = cache_store(c, &q, p.b, p.n, 0, T0);
		assert_true(ret == 0 || ret == CACHE_NOT_CACHED || ret == GN_EINVAL);
		if (ret != 0)
			continue;
		stored++;
		int n = cache_lookup(c, &q, CACHE_LOOKUP_STALE, T0 + 1000, out, sizeof(out), &r);
		assert_true(n > 0 && (size_t)n <= p.n);
	}
	assert_true(stored > 100);
	cache_free(c);
}

static void test_metrics(void **state)
{
	struct cache *cs[3] = { mkcache(NULL), NULL, mkcache(NULL) };
	struct pb p;
	struct cache_query q = mkq(QN, T_A, 1);
	struct cache_result r;
	struct strbuf sb;
	uint8_t out[512];

	make_positive(&p, 300, 300);
	assert_int_equal(cache_store(cs[0], &q, p.b, p.n, 0, T0), 0);
	assert_int_equal(cache_store(cs[2], &q, p.b, p.n, 0, T0), 0);
	assert_true(cache_lookup(cs[0], &q, 0, T0, out, sizeof(out), &r) > 0);
	assert_true(cache_lookup(cs[2], &q, 0, T0, out, sizeof(out), &r) > 0);
	assert_true(cache_lookup(cs[2], &q, 0, T0, out, sizeof(out), &r) > 0);
	q = mkq("nothing.example", T_A, 1);
	assert_int_equal(cache_lookup(cs[2], &q, 0, T0, out, sizeof(out), &r), 0);

	strbuf_init(&sb);
	cache_metrics_write(cs, 3, &sb);
	assert_int_equal(sb.err, 0);
	assert_non_null(strstr(sb.p, "# TYPE gridns_cache_hits_total counter\n"));
	assert_non_null(strstr(sb.p, "\ngridns_cache_hits_total 3\n"));
	assert_non_null(strstr(sb.p, "\ngridns_cache_misses_total 1\n"));
	assert_non_null(strstr(sb.p, "\ngridns_cache_evictions_total 0\n"));
	assert_non_null(strstr(sb.p, "\ngridns_cache_entries 2\n"));
	assert_non_null(strstr(sb.p, "# TYPE gridns_cache_bytes gauge\n"));
	strbuf_free(&sb);
	cache_free(cs[0]);
	cache_free(cs[2]);
	cache_free(NULL);
}

static void test_bad_conf(void **state)
{
	struct cache_conf cf;
	struct cache *c = (struct cache *)&cf;

	cache_conf_default(&cf);
	cf.max_bytes = 0;
	assert_int_equal(cache_new(&cf, &c), GN_EINVAL);
	assert_null(c);
	cache_conf_default(&cf);
	cf.ttl_min = 100;
	cf.ttl_max = 50;
	assert_int_equal(cache_new(&cf, &c), GN_EINVAL);
	assert_int_equal(cache_new(NULL, &c), GN_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positive_hit),
		cmocka_unit_test(test_compressed_stays_valid),
		cmocka_unit_test(test_negative),
		cmocka_unit_test(test_not_cached_rcodes),
		cmocka_unit_test(test_opt_removed),
		cmocka_unit_test(test_floor_ceiling),
		cmocka_unit_test(test_expiry_and_replace),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_serve_stale),
		cmocka_unit_test(test_refresh_backoff),
		cmocka_unit_test(test_prefetch_once),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_bad_conf),
	};
	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
