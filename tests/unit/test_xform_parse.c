/* tests/unit/test_xform_parse.c - records -> image, the inverse of
 * xform_emit.  The property under test is the round trip: for every sample
 * and fixture, and for generated images, emitting the parsed image gives
 * the same record set as emitting the original.  Plus the refusals: an
 * unknown metadata version, a deletion of a record the zone does not hold,
 * a record no dataset accepts, and a stock zone without metadata. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "common/dname.h"
#include "common/err.h"
#include "zonesync/compile.h"
#include "zonesync/xform.h"
#include "zonesync/xform_parse.h"

/* ---- record sets -------------------------------------------------------- */

struct rset {
	struct xform_rr *v;
	size_t n, cap;
};

static int rset_add(void *arg, const struct xform_rr *rr)
{
	struct rset *s = arg;
	struct xform_rr *c;
	uint8_t *o, *d;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		assert_non_null(s->v);
	}
	o = malloc(rr->owner_len);
	d = malloc(rr->rdlen + 1u);
	assert_non_null(o);
	assert_non_null(d);
	memcpy(o, rr->owner, rr->owner_len);
	memcpy(d, rr->rdata, rr->rdlen);
	c = &s->v[s->n++];
	*c = *rr;
	c->owner = o;
	c->rdata = d;
	c->ds = 0;
	return 0;
}

static int rr_qcmp(const void *a, const void *b)
{
	return xform_rr_cmp(a, b);
}

/* Sort and drop duplicates: the DNS sees a set. */
static void rset_norm(struct rset *s)
{
	size_t w = 0;
	qsort(s->v, s->n, sizeof(*s->v), rr_qcmp);
	for (size_t i = 0; i < s->n; i++) {
		if (w && xform_rr_cmp(&s->v[w - 1], &s->v[i]) == 0) {
			free((void *)s->v[i].owner);
			free((void *)s->v[i].rdata);
			continue;
		}
		s->v[w++] = s->v[i];
	}
	s->n = w;
}

static void rset_free(struct rset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free((void *)s->v[i].owner);
		free((void *)s->v[i].rdata);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static void rset_of(const struct zimg *img, struct rset *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(xform_emit(img, rset_add, s), 0);
	rset_norm(s);
}

static struct zimg *parse_set(const char *zone, const struct rset *s, int expect)
{
	struct xform_parse *p = xform_parse_new(zone);
	struct zimg *out = NULL;
	char why[512];
	int ret;

	assert_non_null(p);
	for (size_t i = 0; i < s->n; i++)
		assert_int_equal(xform_parse_add(p, &s->v[i]), 0);
	ret = xform_parse_finish(p, &out, why, sizeof(why));
	if (ret != expect)
		fail_msg("parse of %s: %d (%s), expected %d", zone, ret, why, expect);
	xform_parse_free(p);
	return out;
}

static void round_trip(const struct zimg *img)
{
	struct rset a, b;
	struct zimg *back;

	rset_of(img, &a);
	back = parse_set(img->name, &a, 0);
	rset_of(back, &b);
	if (a.n != b.n)
		fail_msg("zone %s: %zu records emitted, %zu after the round trip", img->name,
			 a.n, b.n);
	for (size_t i = 0; i < a.n; i++)
		if (xform_rr_cmp(&a.v[i], &b.v[i]) != 0)
			fail_msg("zone %s: record %zu differs after the round trip", img->name, i);
	assert_int_equal(back->n_ds, img->n_ds);
	assert_int_equal(back->ts_expires, img->ts_expires);
	assert_int_equal(back->soa.serial, img->soa.serial);
	zimg_free(back);
	rset_free(&a);
	rset_free(&b);
}

/* ---- fixtures ------------------------------------------------------------ */

static struct zimg *compile_spec(const char *spec)
{
	struct compile_opts o = { .quiet = true };
	const char *specs[1] = { spec };
	struct zimg *img = NULL;
	assert_int_equal(compile_zone(specs, 1, &o, &img), 0);
	return img;
}

static void test_fixtures(void **state)
{
	static const char *const specs[] = {
		"bl.example.test:ip4set:tests/data/sample/bl.example.test.ip4set",
		"bl6.example.test:ip6trie:tests/data/sample/bl6.example.test.ip6trie",
		"dbl.example.test:dnset:tests/data/sample/dbl.example.test.dnset",
		"route.example.test:zone:tests/data/sample/route.example.test.zone",
		"t.ex:ip4set:tests/data/compile/ip4set-levels.txt",
		"t.ex:ip4set:tests/data/compile/ip4set-multi.txt",
		"t.ex:ip4tset:tests/data/compile/ip4tset.txt",
		"t.ex:ip4trie:tests/data/compile/ip4trie.txt",
		"t.ex:ip6tset:tests/data/compile/ip6tset.txt",
		"t.ex:ip6trie:tests/data/compile/ip6trie.txt",
		"t.ex:dnset:tests/data/compile/dnset.txt",
		"t.ex:ip4set:tests/data/compile/values-forms.txt",
		"t.ex:ip4set:tests/data/compile/values-vars.txt",
		"t.ex:ip4set:tests/data/compile/base-template.txt",
		"t.ex:dnset:tests/data/compile/eq-escape.txt",
		"t.ex:ip4set:tests/data/compile/specials-a.txt",
		"t.ex:ip4set:tests/data/compile/maxrange4.txt",
		"t.ex:generic:tests/data/compile/generic.txt",
		"t.ex:combined:tests/data/compile/combined.txt",
	};
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct zimg *img = compile_spec(specs[i]);
		print_message("round trip %s\n", specs[i]);
		round_trip(img);
		zimg_free(img);
	}
}

/* ---- generated images ----------------------------------------------------- */

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static int64_t add_vs(struct zimg_ds *ds)
{
	static char txt[4][400];
	struct zimg_val v[3];
	uint32_t n = 1 + rnd() % 3;
	memset(v, 0, sizeof(v));
	for (uint32_t i = 0; i < n; i++) {
		v[i].a[0] = 127;
		v[i].a[3] = (uint8_t)(2 + rnd() % 3);
		if (rnd() % 2) {
			size_t len = rnd() % 3 == 0 ? 300 : 10;
			memset(txt[i], 'a' + (int)(rnd() % 3), len);
			txt[i][0] = '$';
			v[i].has_txt = true;
			v[i].txt = txt[i];
			v[i].txt_len = (uint16_t)len;
		}
	}
	return zimg_ds_valset(ds, v, n);
}

static void test_generated(void **state)
{
	for (int round = 0; round < 30; round++) {
		struct zimg *img = zimg_new("gen.example");
		struct zimg_ds *d4, *d6, *dn;
		uint32_t a = rnd() % 1000;
		uint8_t lo[16] = { 0x20, 0x01, 0x0d, 0xb8 }, hi[16];
		assert_non_null(img);
		img->soa.present = true;
		img->soa.serial = 1000 + (uint32_t)round;
		img->soa.ttl = 60;
		img->soa.expire = 600;
		memcpy(img->soa.mname, "\2ns\0", 4);
		memcpy(img->soa.rname, "\2hm\0", 4);
		img->ts_expires = round % 2 ? 2000000000 : 0;
		assert_int_equal(zimg_add_ds(img, ZDS_IP4SET, "gen4", &d4), 0);
		assert_int_equal(zimg_add_ds(img, ZDS_IP6TRIE, "gen6", &d6), 0);
		assert_int_equal(zimg_add_ds(img, ZDS_DNSET, "gendn", &dn), 0);
		d4->ttl = 300;
		d6->ttl = 301;
		dn->ttl = 302;
		if (round % 3 == 0) {
			/* combined-like: several attachment points */
			assert_int_equal(zimg_ds_add_sub(d4, (const uint8_t *)"", 0), 0);
			assert_int_equal(zimg_ds_add_sub(d4, (const uint8_t *)"\3sub", 4), 0);
		}
		for (int i = 0; i < 40; i++) {
			int64_t vs = add_vs(d4);
			uint32_t len = rnd() % 3 == 0 ? (rnd() % 70000) : rnd() % 20;
			assert_true(vs >= 0);
			a += 1 + rnd() % 100000;
			assert_int_equal(zimg_ds_add_ip4(d4, a, a + len, (uint32_t)vs), 0);
			a += len + (rnd() % 2);
		}
		for (int i = 0; i < 20; i++) {
			int64_t vs = add_vs(d6);
			assert_true(vs >= 0);
			lo[7] = (uint8_t)(i * 8);
			lo[15] = (uint8_t)(rnd() % 16);
			memcpy(hi, lo, 16);
			hi[15] = (uint8_t)(lo[15] + rnd() % 40);
			if (i % 4 == 0)
				memset(hi + 8, 0xff, 8);
			assert_int_equal(zimg_ds_add_ip6(d6, lo, hi, (uint32_t)vs), 0);
		}
		for (int i = 0; i < 30; i++) {
			uint8_t key[32];
			int kl = snprintf((char *)key, sizeof(key), "\3com\6n%05u", (unsigned)(rnd() % 99999));
			int64_t vs = add_vs(dn);
			uint32_t ex = rnd() % 4 == 0 ? ZIMG_EXCL : (uint32_t)vs;
			uint32_t wi = rnd() % 3 == 0 ? (uint32_t)vs : ZIMG_NONE;
			int dup = 0;
			for (size_t k = 0; k < dn->n_dom; k++)
				dup |= dn->dom[k].keylen == kl && !memcmp(dn->dom[k].key, key, (size_t)kl);
			if (!dup)
				assert_int_equal(zimg_ds_add_dom(dn, key, (size_t)kl, ex, wi), 0);
		}
		assert_int_equal(zimg_finish(img), 0);
		round_trip(img);
		zimg_free(img);
	}
}

/* ---- refusals and stock zones --------------------------------------------- */

static void rr_text(struct rset *s, const char *owner, uint16_t type, uint32_t ttl,
		    const void *rd, uint16_t rdlen)
{
	uint8_t w[DNAME_MAX];
	int wl = dname_from_text(owner, strlen(owner), w);
	struct xform_rr rr = { .owner = w, .owner_len = (uint8_t)wl, .type = type,
			       .rclass = XFORM_CLASS_IN, .ttl = ttl, .rdlen = rdlen, .rdata = rd };
	assert_true(wl > 0);
	rset_add(s, &rr);
}

static void test_stock_zone_and_version(void **state)
{
	static const uint8_t soa[] = "\2ns\0\2hm\0\0\0\0\7\0\0\0\1\0\0\0\1\0\0\0\1\0\0\0\1";
	struct rset s = { 0 };
	struct zimg *img;

	rr_text(&s, "stock.test", 6, 60, soa, sizeof(soa) - 1);
	rr_text(&s, "stock.test", 2, 60, "\2ns\0", 4);
	rr_text(&s, "www.stock.test", 1, 60, "\1\2\3\4", 4);
	rr_text(&s, "stock.test", 15, 60, "\0\12\2mx\0", 6);
	img = parse_set("stock.test", &s, 0);
	assert_int_equal(img->n_ds, 1);
	assert_int_equal(img->ds[0]->type, ZDS_ZONE);
	assert_int_equal(img->ds[0]->n_rr, 2);
	assert_int_equal(img->soa.serial, 7);
	assert_int_equal(img->n_ns, 1);
	round_trip(img);
	zimg_free(img);

	/* a future format version is refused, not misread */
	rr_text(&s, "_gridns.stock.test", 16, 60, "\3v=2\4zone\12datasets=0", 20);
	img = parse_set("stock.test", &s, GN_EFORMAT);
	assert_null(img);
	rset_free(&s);
}

static void test_deletions(void **state)
{
	struct zimg *img = compile_spec("bl.example.test:ip4set:tests/data/sample/bl.example.test.ip4set");
	struct rset a;
	struct xform_parse *p = xform_parse_new("bl.example.test");
	struct zimg *out = NULL;
	char why[256];

	rset_of(img, &a);
	for (size_t i = 0; i < a.n; i++)
		assert_int_equal(xform_parse_add(p, &a.v[i]), 0);
	/* deleting a record twice: the second matches nothing */
	assert_int_equal(xform_parse_del(p, &a.v[a.n - 1]), 0);
	assert_int_equal(xform_parse_del(p, &a.v[a.n - 1]), 0);
	assert_int_equal(xform_parse_finish(p, &out, why, sizeof(why)), GN_ENOENT);
	assert_non_null(strstr(why, "does not hold"));
	xform_parse_free(p);

	/* delete-then-add of the same record is a no-op */
	p = xform_parse_new("bl.example.test");
	for (size_t i = 0; i < a.n; i++)
		assert_int_equal(xform_parse_add(p, &a.v[i]), 0);
	assert_int_equal(xform_parse_del(p, &a.v[0]), 0);
	assert_int_equal(xform_parse_add(p, &a.v[0]), 0);
	assert_int_equal(xform_parse_finish(p, &out, why, sizeof(why)), 0);
	zimg_free(out);
	xform_parse_free(p);

	/* a record that fits no dataset is refused with its name */
	rr_text(&a, "x.y.bl.example.test", 1, 1, "\1\2\3\4", 4);
	out = parse_set("bl.example.test", &a, GN_EINVAL);
	rset_free(&a);
	zimg_free(img);
}

/* A dataset attached at the apex and at "x" below it: its entry "a.x" is
 * emitted as a.x.<zone> and a.x.x.<zone>; reading the first as the entry
 * "a" of "x" would list a.<zone> too (found by fuzz_xfr_client). */
static void test_nested_attachment_points(void **state)
{
	struct zimg *img = zimg_new("n.test");
	struct zimg_ds *ds, *g;
	const struct zimg_val v = { .a = { 127, 0, 0, 2 } };
	int64_t vs;

	img->soa.present = true;
	img->soa.serial = 1;
	memcpy(img->soa.mname, "\2ns\0", 4);
	memcpy(img->soa.rname, "\2hm\0", 4);
	assert_int_equal(zimg_add_ds(img, ZDS_DNSET, "d", &ds), 0);
	ds->ttl = 300;
	assert_int_equal(zimg_ds_add_sub(ds, (const uint8_t *)"", 0), 0);
	assert_int_equal(zimg_ds_add_sub(ds, (const uint8_t *)"\1x", 2), 0);
	assert_true((vs = zimg_ds_valset(ds, &v, 1)) >= 0);
	/* relative keys: "a.x" is x then a */
	assert_int_equal(zimg_ds_add_dom(ds, (const uint8_t *)"\1x\1a", 4, (uint32_t)vs, ZIMG_NONE), 0);
	assert_int_equal(zimg_ds_add_dom(ds, (const uint8_t *)"\1b", 2, ZIMG_NONE, (uint32_t)vs), 0);
	/* and a generic dataset at the same points with a same-TTL A record */
	assert_int_equal(zimg_add_ds(img, ZDS_GENERIC, "g", &g), 0);
	g->ttl = 300;
	assert_int_equal(zimg_ds_add_sub(g, (const uint8_t *)"\1x", 2), 0);
	assert_int_equal(zimg_ds_add_sub(g, (const uint8_t *)"", 0), 0);
	assert_int_equal(zimg_ds_add_rr(g, (const uint8_t *)"\1c", 2, 1, 300, v.a, 4), 0);
	assert_int_equal(zimg_finish(img), 0);
	round_trip(img);
	zimg_free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_generated),
		cmocka_unit_test(test_stock_zone_and_version),
		cmocka_unit_test(test_deletions),
		cmocka_unit_test(test_nested_attachment_points),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
