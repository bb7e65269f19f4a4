/* tests/unit/test_snap.c - the LMDB snapshot store: writes, lookups, and
 * the one-transaction replacement guarantee. */
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
#include "zonesync/snap.h"
#include "zonesync/zimg.h"

struct fx {
	char dir[64];
	snap_env *env;
	snap_rd *rd;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/gridns-test-snap-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(snap_open(&f->env, f->dir, 0, NULL), 0);
	assert_int_equal(snap_rd_new(f->env, &f->rd), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	snap_rd_free(f->rd);
	snap_close(f->env);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return a << 24 | b << 16 | c << 8 | d;
}

static int64_t add_val(struct zimg_ds *ds, unsigned last, const char *txt)
{
	struct zimg_val v = { .a = { 127, 0, 0, (uint8_t)last } };
	if (txt) {
		v.has_txt = true;
		v.txt = (char *)txt;
		v.txt_len = (uint16_t)strlen(txt);
	}
	return zimg_ds_valset(ds, &v, 1);
}

static int key(const char *t, uint8_t *k)
{
	return dname_text_to_key(t, strlen(t), k);
}

/* A zone with one dataset of each index kind. */
static struct zimg *make_zone(const char *name, unsigned a_last)
{
	struct zimg *img = zimg_new(name);
	struct zimg_ds *ds;
	uint8_t k[DNAME_MAX], lo[16] = { 0x20, 0x01, 0x0d, 0xb8 }, hi[16];
	uint8_t rdata[4] = { 192, 0, 2, 1 };
	int64_t vs;
	int kl;

	assert_non_null(img);
	img->soa.present = true;
	img->soa.serial = 7;
	img->soa.ttl = 60;
	dname_from_text("ns.example", 10, img->soa.mname);
	dname_from_text("hm.example", 10, img->soa.rname);

	assert_int_equal(zimg_add_ds(img, ZDS_IP4SET, "ip4", &ds), 0);
	assert_int_equal(zimg_ds_add_sub(ds, NULL, 0), 0);
	vs = add_val(ds, a_last, "listed $");
	assert_true(vs >= 0);
	assert_int_equal(zimg_ds_add_ip4(ds, ip4(10, 0, 0, 0), ip4(10, 0, 0, 255), (uint32_t)vs), 0);
	assert_int_equal(zimg_ds_add_ip4(ds, ip4(127, 0, 0, 2), ip4(127, 0, 0, 2), (uint32_t)vs), 0);

	assert_int_equal(zimg_add_ds(img, ZDS_IP6TRIE, "ip6", &ds), 0);
	assert_int_equal(zimg_ds_add_sub(ds, NULL, 0), 0);
	vs = add_val(ds, 3, NULL);
	memcpy(hi, lo, 16);
	memset(hi + 8, 0xff, 8);
	assert_int_equal(zimg_ds_add_ip6(ds, lo, hi, (uint32_t)vs), 0);

	assert_int_equal(zimg_add_ds(img, ZDS_DNSET, "dn", &ds), 0);
	kl = key("dom", k);
	assert_int_equal(zimg_ds_add_sub(ds, k, (size_t)kl), 0);
	vs = add_val(ds, 4, "dom $");
	kl = key("example.com", k);
	assert_int_equal(zimg_ds_add_dom(ds, k, (size_t)kl, ZIMG_NONE, (uint32_t)vs), 0);
	kl = key("good.example.com", k);
	assert_int_equal(zimg_ds_add_dom(ds, k, (size_t)kl, ZIMG_EXCL, ZIMG_NONE), 0);
	kl = key("spam.net", k);
	assert_int_equal(zimg_ds_add_dom(ds, k, (size_t)kl, (uint32_t)vs, ZIMG_NONE), 0);

	assert_int_equal(zimg_add_ds(img, ZDS_ZONE, "rr", &ds), 0);
	kl = key("r", k);
	assert_int_equal(zimg_ds_add_sub(ds, k, (size_t)kl), 0);
	kl = key("www.a", k);
	assert_int_equal(zimg_ds_add_rr(ds, k, (size_t)kl, 1, 300, rdata, 4), 0);
	rdata[3] = 2;
	assert_int_equal(zimg_ds_add_rr(ds, k, (size_t)kl, 1, 200, rdata, 4), 0);
	kl = key("*.w", k);
	assert_int_equal(zimg_ds_add_rr(ds, k, (size_t)kl, 1, 300, rdata, 4), 0);
	kl = key("sub", k);
	assert_int_equal(zimg_ds_add_rr(ds, k, (size_t)kl, 2, 300,
					(const uint8_t *)"\2ns\3sub\0", 8), 0);
	assert_int_equal(zimg_finish(img), 0);
	return img;
}

static struct snap_ds ds_of(snap_rd *rd, const char *zone, uint32_t i)
{
	uint8_t k[DNAME_MAX];
	struct snap_zone z;
	struct snap_ds d;
	int kl = key(zone, k);
	assert_int_equal(snap_rd_zone(rd, k, (size_t)kl, &z), 1);
	assert_int_equal(snap_zone_ds(&z, i, &d), 0);
	return d;
}

static void test_ip_lookups(void **state)
{
	struct fx *f = *state;
	struct zimg *img = make_zone("bl.example", 2);
	struct snap_valset vs;
	struct snap_val v;
	uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 1 };
	uint32_t id;

	assert_int_equal(snap_put_zones(f->env, &img, 1, 1000), 0);
	assert_int_equal(snap_rd_begin(f->rd), 0);
	id = ds_of(f->rd, "bl.example", 0).dsid;
	assert_int_equal(snap_ip4_find(f->rd, id, ip4(10, 0, 0, 0), &vs), 1);
	assert_int_equal(snap_valset_next(&vs, &v), 1);
	assert_int_equal(v.a[3], 2);
	assert_true(v.has_txt);
	assert_memory_equal(v.txt, "listed $", 8);
	assert_int_equal(snap_valset_next(&vs, &v), 0);
	assert_int_equal(snap_ip4_find(f->rd, id, ip4(10, 0, 0, 255), &vs), 1);
	assert_int_equal(snap_ip4_find(f->rd, id, ip4(10, 0, 1, 0), &vs), 0);
	assert_int_equal(snap_ip4_find(f->rd, id, ip4(9, 255, 255, 255), &vs), 0);
	assert_int_equal(snap_ip4_find(f->rd, id, ip4(127, 0, 0, 1), &vs), 0);
	assert_int_equal(snap_ip4_find(f->rd, id, ip4(127, 0, 0, 2), &vs), 1);
	assert_int_equal(snap_ip4_find(f->rd, id, ip4(255, 255, 255, 255), &vs), 0);
	assert_int_equal(snap_ip4_find(f->rd, id, 0, &vs), 0);
	/* empty non-terminal tests */
	assert_int_equal(snap_ip4_any(f->rd, id, ip4(10, 0, 0, 0), ip4(10, 255, 255, 255)), 1);
	assert_int_equal(snap_ip4_any(f->rd, id, ip4(127, 0, 0, 0), ip4(127, 0, 0, 255)), 1);
	assert_int_equal(snap_ip4_any(f->rd, id, ip4(127, 0, 1, 0), ip4(127, 0, 1, 255)), 0);
	assert_int_equal(snap_ip4_any(f->rd, id, ip4(11, 0, 0, 0), ip4(11, 255, 255, 255)), 0);

	id = ds_of(f->rd, "bl.example", 1).dsid;
	assert_int_equal(snap_ip6_find(f->rd, id, a6, &vs), 1);
	a6[7] = 1;
	assert_int_equal(snap_ip6_find(f->rd, id, a6, &vs), 0);
	snap_rd_end(f->rd);
	zimg_free(img);
}

static void test_dom_lookups(void **state)
{
	struct fx *f = *state;
	struct zimg *img = make_zone("bl.example", 2);
	struct snap_valset vs;
	uint8_t k[DNAME_MAX];
	uint32_t id;
	int kl;

	assert_int_equal(snap_put_zones(f->env, &img, 1, 1000), 0);
	assert_int_equal(snap_rd_begin(f->rd), 0);
	id = ds_of(f->rd, "bl.example", 2).dsid;
	kl = key("a.b.example.com", k);
	assert_int_equal(snap_dom_find(f->rd, id, k, (size_t)kl, &vs), 1);
	kl = key("example.com", k); /* "*." does not list the name itself */
	assert_int_equal(snap_dom_find(f->rd, id, k, (size_t)kl, &vs), 0);
	kl = key("good.example.com", k); /* exact exclusion beats the wildcard */
	assert_int_equal(snap_dom_find(f->rd, id, k, (size_t)kl, &vs), 0);
	kl = key("x.good.example.com", k); /* ...but only for the name itself */
	assert_int_equal(snap_dom_find(f->rd, id, k, (size_t)kl, &vs), 1);
	kl = key("spam.net", k);
	assert_int_equal(snap_dom_find(f->rd, id, k, (size_t)kl, &vs), 1);
	kl = key("a.spam.net", k);
	assert_int_equal(snap_dom_find(f->rd, id, k, (size_t)kl, &vs), 0);
	kl = key("net", k);
	assert_int_equal(snap_dom_below(f->rd, id, k, (size_t)kl), 1);
	kl = key("spam.net", k);
	assert_int_equal(snap_dom_below(f->rd, id, k, (size_t)kl), 0);
	kl = key("org", k);
	assert_int_equal(snap_dom_below(f->rd, id, k, (size_t)kl), 0);
	kl = key("example.com", k); /* "*.example.com" is below it */
	assert_int_equal(snap_dom_below(f->rd, id, k, (size_t)kl), 1);
	/* The match's own answer about "below" agrees with snap_dom_below
	 * whenever it gives one. */
	static const char *const names[] = {
		"net", "spam.net", "a.spam.net", "org", "example.com", "com",
		"good.example.com", "x.good.example.com", "a.b.example.com", "zzz", "a",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t ml;
		int below;
		kl = key(names[i], k);
		int m = snap_dom_match_below(f->rd, id, k, (size_t)kl, &vs, &ml, &below);
		assert_true(m >= 0);
		assert_true(below >= -1 && below <= 1);
		if (below >= 0)
			assert_int_equal(below, snap_dom_below(f->rd, id, k, (size_t)kl));
	}
	snap_rd_end(f->rd);
	zimg_free(img);
}

static void test_rr_lookups(void **state)
{
	struct fx *f = *state;
	struct zimg *img = make_zone("bl.example", 2);
	struct snap_rr_match m;
	struct snap_rrset s;
	uint8_t k[DNAME_MAX];
	uint32_t id, cur = 0;
	int kl;

	assert_int_equal(snap_put_zones(f->env, &img, 1, 1000), 0);
	assert_int_equal(snap_rd_begin(f->rd), 0);
	id = ds_of(f->rd, "bl.example", 3).dsid;
	kl = key("www.a", k);
	assert_int_equal(snap_rr_lookup(f->rd, id, k, (size_t)kl, &m), 0);
	assert_int_equal(m.status, SNAP_RR_NAME);
	assert_int_equal(snap_rrset_get(f->rd, id, m.owner, m.owner_len, 1, &s), 1);
	assert_int_equal(s.count, 2);
	assert_int_equal(s.ttl, 200);
	assert_int_equal(snap_rrset_get(f->rd, id, m.owner, m.owner_len, 16, &s), 0);
	assert_int_equal(snap_rrset_next(f->rd, id, m.owner, m.owner_len, &cur, &s), 1);
	assert_int_equal(s.type, 1);
	assert_int_equal(snap_rrset_next(f->rd, id, m.owner, m.owner_len, &cur, &s), 0);
	kl = key("a", k);
	assert_int_equal(snap_rr_lookup(f->rd, id, k, (size_t)kl, &m), 0);
	assert_int_equal(m.status, SNAP_RR_ENT);
	kl = key("zz.a", k);
	assert_int_equal(snap_rr_lookup(f->rd, id, k, (size_t)kl, &m), 0);
	assert_int_equal(m.status, SNAP_RR_NXDOMAIN);
	kl = key("q.w", k);
	assert_int_equal(snap_rr_lookup(f->rd, id, k, (size_t)kl, &m), 0);
	assert_int_equal(m.status, SNAP_RR_WILDCARD);
	assert_int_equal(snap_rrset_get(f->rd, id, m.owner, m.owner_len, 1, &s), 1);
	kl = key("deep.q.w", k);
	assert_int_equal(snap_rr_lookup(f->rd, id, k, (size_t)kl, &m), 0);
	assert_int_equal(m.status, SNAP_RR_WILDCARD);
	kl = key("host.sub", k);
	assert_int_equal(snap_rr_lookup(f->rd, id, k, (size_t)kl, &m), 0);
	assert_int_equal(m.status, SNAP_RR_DELEG);
	assert_int_equal(m.owner_len, 4);
	snap_rd_end(f->rd);
	zimg_free(img);
}

/* A reader inside a version keeps seeing it while a writer replaces the
 * zone; the next version sees only the new data, and the old dataset keys
 * are gone (no leak of replaced data). */
static void test_replace_is_atomic(void **state)
{
	struct fx *f = *state;
	struct zimg *a = make_zone("bl.example", 2), *b = make_zone("bl.example", 9);
	struct snap_valset vs;
	struct snap_val v;
	uint32_t old_id, new_id;
	uint64_t ver;

	assert_int_equal(snap_put_zones(f->env, &a, 1, 1000), 0);
	assert_int_equal(snap_rd_begin(f->rd), 0);
	ver = snap_rd_version(f->rd);
	old_id = ds_of(f->rd, "bl.example", 0).dsid;
	assert_int_equal(snap_put_zones(f->env, &b, 1, 2000), 0);
	assert_int_equal(snap_ip4_find(f->rd, old_id, ip4(10, 0, 0, 7), &vs), 1);
	assert_int_equal(snap_valset_next(&vs, &v), 1);
	assert_int_equal(v.a[3], 2);
	snap_rd_end(f->rd);

	assert_int_equal(snap_rd_begin(f->rd), 0);
	assert_true(snap_rd_version(f->rd) != ver);
	new_id = ds_of(f->rd, "bl.example", 0).dsid;
	assert_true(new_id != old_id);
	assert_int_equal(snap_ip4_find(f->rd, new_id, ip4(10, 0, 0, 7), &vs), 1);
	assert_int_equal(snap_valset_next(&vs, &v), 1);
	assert_int_equal(v.a[3], 9);
	/* Again in the same view: the value set now comes from the reader's
	 * cache, and must be the same. */
	assert_int_equal(snap_ip4_find(f->rd, new_id, ip4(10, 0, 0, 7), &vs), 1);
	assert_int_equal(snap_valset_next(&vs, &v), 1);
	assert_int_equal(v.a[3], 9);
	assert_int_equal(snap_ip4_find(f->rd, old_id, ip4(10, 0, 0, 7), &vs), 0);
	snap_rd_end(f->rd);
	zimg_free(a);
	zimg_free(b);
}

static int count_zone(void *arg, const struct snap_zone *z)
{
	(*(int *)arg)++;
	return 0;
}

static void test_drop_and_list(void **state)
{
	struct fx *f = *state;
	struct zimg *imgs[2] = { make_zone("a.example", 2), make_zone("b.example", 2) };
	int n = 0;

	assert_int_equal(snap_put_zones(f->env, imgs, 2, 1000), 0);
	assert_int_equal(snap_drop_zone(f->env, "a.example"), 0);
	assert_int_equal(snap_drop_zone(f->env, "a.example"), GN_ENOENT);
	assert_int_equal(snap_rd_begin(f->rd), 0);
	assert_int_equal(snap_rd_zones(f->rd, count_zone, &n), 0);
	assert_int_equal(n, 1);
	snap_rd_end(f->rd);
	zimg_free(imgs[0]);
	zimg_free(imgs[1]);
}

static void assert_vs_equal(const struct zimg_ds *a, uint32_t va, const struct zimg_ds *b,
			    uint32_t vb)
{
	const struct zimg_valset *x = &a->valsets[va], *y = &b->valsets[vb];
	assert_int_equal(x->count, y->count);
	for (uint32_t i = 0; i < x->count; i++) {
		const struct zimg_val *p = &a->vals[x->first + i], *q = &b->vals[y->first + i];
		assert_memory_equal(p->a, q->a, 4);
		assert_int_equal(p->has_txt, q->has_txt);
		assert_int_equal(p->txt_len, q->txt_len);
		if (p->has_txt)
			assert_memory_equal(p->txt, q->txt, p->txt_len);
	}
}

/* store then load is the identity on everything a zone image says */
static void test_load_round_trip(void **state)
{
	struct fx *f = *state;
	struct zimg *a = make_zone("bl.example", 2), *b = NULL, *none = NULL;

	assert_int_equal(snap_put_zones(f->env, &a, 1, 1000), 0);
	assert_int_equal(snap_rd_begin(f->rd), 0);
	assert_int_equal(snap_load_zone(f->rd, "BL.example", &b), 0);
	assert_int_equal(snap_load_zone(f->rd, "nope.example", &none), GN_ENOENT);
	assert_null(none);
	snap_rd_end(f->rd);
	assert_non_null(b);
	assert_int_equal(a->soa.serial, b->soa.serial);
	assert_true(dname_wire_equal(a->soa.mname, b->soa.mname));
	assert_int_equal(a->n_ds, b->n_ds);
	for (uint32_t i = 0; i < a->n_ds; i++) {
		const struct zimg_ds *x = a->ds[i], *y = b->ds[i];
		assert_int_equal(x->type, y->type);
		assert_string_equal(x->label, y->label);
		assert_int_equal(x->n_subs, y->n_subs);
		for (uint32_t s = 0; s < x->n_subs; s++) {
			assert_int_equal(x->sub_lens[s], y->sub_lens[s]);
			assert_memory_equal(x->subs[s], y->subs[s], x->sub_lens[s]);
		}
		assert_int_equal(x->n_ip4, y->n_ip4);
		for (size_t k = 0; k < x->n_ip4; k++) {
			assert_int_equal(x->ip4[k].lo, y->ip4[k].lo);
			assert_int_equal(x->ip4[k].hi, y->ip4[k].hi);
			assert_vs_equal(x, x->ip4[k].vs, y, y->ip4[k].vs);
		}
		assert_int_equal(x->n_ip6, y->n_ip6);
		for (size_t k = 0; k < x->n_ip6; k++) {
			assert_memory_equal(x->ip6[k].lo, y->ip6[k].lo, 16);
			assert_memory_equal(x->ip6[k].hi, y->ip6[k].hi, 16);
			assert_vs_equal(x, x->ip6[k].vs, y, y->ip6[k].vs);
		}
		assert_int_equal(x->n_dom, y->n_dom);
		for (size_t k = 0; k < x->n_dom; k++) {
			assert_int_equal(x->dom[k].keylen, y->dom[k].keylen);
			assert_memory_equal(x->dom[k].key, y->dom[k].key, x->dom[k].keylen);
			if (x->dom[k].vs_exact >= ZIMG_EXCL)
				assert_int_equal(x->dom[k].vs_exact, y->dom[k].vs_exact);
			else
				assert_vs_equal(x, x->dom[k].vs_exact, y, y->dom[k].vs_exact);
			if (x->dom[k].vs_wild >= ZIMG_EXCL)
				assert_int_equal(x->dom[k].vs_wild, y->dom[k].vs_wild);
			else
				assert_vs_equal(x, x->dom[k].vs_wild, y, y->dom[k].vs_wild);
		}
		assert_int_equal(x->n_rr, y->n_rr);
		for (size_t k = 0; k < x->n_rr; k++) {
			assert_int_equal(x->rr[k].type, y->rr[k].type);
			assert_int_equal(x->rr[k].ttl, y->rr[k].ttl);
			assert_int_equal(x->rr[k].rdlen, y->rr[k].rdlen);
			assert_memory_equal(x->rr[k].rdata, y->rr[k].rdata, x->rr[k].rdlen);
		}
	}
	zimg_free(a);
	zimg_free(b);
}

static void test_readonly_open_of_missing_dir(void **state)
{
	snap_env *env = NULL;
	(void)state;
	assert_int_equal(snap_open(&env, "/nonexistent/gridns", SNAP_RDONLY, NULL), GN_ENOENT);
	assert_null(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ip_lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dom_lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rr_lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_is_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_round_trip, setup, teardown),
		cmocka_unit_test(test_readonly_open_of_missing_dir),
	};
	return cmocka_run_group_tests_name("snap", tests, NULL, NULL);
}
