/* tests/unit/test_answer_fix.h - the answer engine tests' fixture: zones
 * built with the zimg builders (the data of the rbldnsd sessions quoted in
 * docs/answers.md), one snapshot, one answer context, and ask() helpers.
 * Included by test_answer.c only (static functions). */
#pragma once
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "common/dname.h"
#include "common/err.h"
#include "resolver/answer.h"
#include "zonesync/snap.h"
#include "zonesync/zimg.h"
#include "test_answer_util.h"

struct fx {
	char dir[64];
	snap_env *env;
	struct answer_ctx *ctx;
	uint8_t q[600];
	uint8_t resp[65535];
	struct t_msg m;
};

static uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return a << 24 | b << 16 | c << 8 | d;
}

static int64_t val(struct zimg_ds *ds, unsigned last, const char *txt)
{
	struct zimg_val v = { .a = { 127, 0, 0, (uint8_t)last } };
	if (txt) {
		v.has_txt = true;
		v.txt = (char *)txt;
		v.txt_len = (uint16_t)strlen(txt);
	}
	int64_t r = zimg_ds_valset(ds, &v, 1);
	assert_true(r >= 0);
	return r;
}

static int key(const char *t, uint8_t *k)
{
	if (strcmp(t, "@") == 0)
		return 0;
	int r = dname_text_to_key(t, strlen(t), k);
	assert_true(r >= 0);
	return r;
}

static void wire(const char *t, uint8_t *w)
{
	assert_true(dname_from_text(t, strlen(t), w) > 0);
}

static void soa_ns(struct zimg *img, uint32_t ttl, uint32_t minimum)
{
	img->soa.present = true;
	img->soa.ttl = ttl;
	img->soa.serial = 42;
	img->soa.refresh = 7200;
	img->soa.retry = 3600;
	img->soa.expire = 604800;
	img->soa.minimum = minimum;
	wire("ns1.ex.com", img->soa.mname);
	wire("admin.ex.com", img->soa.rname);
	img->ns_ttl = 86400;
	img->n_ns = 2;
	wire("ns1.ex.com", img->ns[0]);
	wire("ns2.ex.com", img->ns[1]);
}

static void rr(struct zimg_ds *ds, const char *owner, uint16_t type, const void *rd, size_t n)
{
	uint8_t k[DNAME_MAX];
	int kl = key(owner, k);
	assert_int_equal(zimg_ds_add_rr(ds, k, (size_t)kl, type, 2100, rd, (uint16_t)n), 0);
}

static void rr_name(struct zimg_ds *ds, const char *owner, uint16_t type, const char *target)
{
	uint8_t w[DNAME_MAX];
	wire(target, w);
	rr(ds, owner, type, w, (size_t)dname_wire_len(w));
}

static void dom(struct zimg_ds *ds, const char *name, uint32_t ex, uint32_t wi)
{
	uint8_t k[DNAME_MAX];
	int kl = key(name, k);
	assert_int_equal(zimg_ds_add_dom(ds, k, (size_t)kl, ex, wi), 0);
}

static void sub(struct zimg_ds *ds, const char *name)
{
	uint8_t k[DNAME_MAX];
	int kl = key(name, k);
	assert_int_equal(zimg_ds_add_sub(ds, k, (size_t)kl), 0);
}

/* bl.ex: the rbldnsd session in docs/answers.md, ip4set + generic. */
static struct zimg *zone_bl(void)
{
	struct zimg *img = zimg_new("bl.ex");
	struct zimg_ds *ds;
	char big[700];

	soa_ns(img, 3600, 600);
	assert_int_equal(zimg_add_ds(img, ZDS_IP4SET, "ip4set:bl4", &ds), 0);
	ds->ttl = 300;
	uint32_t v1 = (uint32_t)val(ds, 2, "Listed $ see http://x/?$ costs $$5");
	uint32_t v3 = (uint32_t)val(ds, 3, "ten $");
	assert_int_equal(zimg_ds_add_ip4(ds, ip4(1, 2, 3, 4), ip4(1, 2, 3, 4), v1), 0);
	assert_int_equal(zimg_ds_add_ip4(ds, ip4(10, 0, 0, 0), ip4(10, 1, 1, 0), v3), 0);
	assert_int_equal(zimg_ds_add_ip4(ds, ip4(10, 1, 1, 2), ip4(10, 255, 255, 255), v3), 0);
	/* long TXT: 600 octets + subject */
	memset(big, 'x', 600);
	big[600] = '$';
	big[601] = 0;
	uint32_t vb = (uint32_t)val(ds, 4, big);
	assert_int_equal(zimg_ds_add_ip4(ds, ip4(127, 0, 0, 4), ip4(127, 0, 0, 4), vb), 0);
	/* 40 values on one address: does not fit 512 octets */
	struct zimg_val many[40];
	char txts[40][64];
	for (int i = 0; i < 40; i++) {
		snprintf(txts[i], sizeof(txts[i]), "value %02d of a large answer set for $", i);
		many[i] = (struct zimg_val){ .a = { 127, 0, 1, (uint8_t)i }, .has_txt = true,
					     .txt = txts[i], .txt_len = (uint16_t)strlen(txts[i]) };
	}
	int64_t vm = zimg_ds_valset(ds, many, 40);
	assert_true(vm >= 0);
	assert_int_equal(zimg_ds_add_ip4(ds, ip4(127, 0, 0, 99), ip4(127, 0, 0, 99), (uint32_t)vm), 0);

	assert_int_equal(zimg_add_ds(img, ZDS_GENERIC, "generic:gen", &ds), 0);
	ds->ttl = 2100;
	rr(ds, "www", 1, "\x7f\0\0\x08", 4);
	rr(ds, "@", 16, "\x0bhello world", 12);
	rr(ds, "@", 15, "\0\x0a\x02" "mx\x02" "ex\x03" "com", 13);
	assert_int_equal(zimg_finish(img), 0);
	return img;
}

static struct zimg *zone_v6(void)
{
	struct zimg *img = zimg_new("v6.ex");
	struct zimg_ds *ds;
	uint8_t a[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	uint8_t lo[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1 }, hi[16];

	assert_int_equal(zimg_add_ds(img, ZDS_IP6TRIE, "ip6trie:bl6", &ds), 0);
	ds->ttl = 2100;
	uint32_t v = (uint32_t)val(ds, 4, "v6 $ listed");
	assert_int_equal(zimg_ds_add_ip6(ds, a, a, v), 0);
	memcpy(hi, lo, 16);
	memset(hi + 6, 0xff, 10);
	assert_int_equal(zimg_ds_add_ip6(ds, lo, hi, v), 0);
	/* ::/96 and ::ffff:0:0/96: rbldnsd prints them in hex, not dotted */
	uint8_t z[16] = { 0 }, zh[16] = { [12] = 0xff, 0xff, 0xff, 0xff };
	assert_int_equal(zimg_ds_add_ip6(ds, z, zh, v), 0);
	uint8_t m[16] = { [10] = 0xff, 0xff }, mh[16] = { [10] = 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	assert_int_equal(zimg_ds_add_ip6(ds, m, mh, v), 0);
	assert_int_equal(zimg_finish(img), 0);
	return img;
}

static struct zimg *zone_dn(void)
{
	struct zimg *img = zimg_new("dn.ex");
	struct zimg_ds *ds;

	soa_ns(img, 3600, 600);
	assert_int_equal(zimg_add_ds(img, ZDS_DNSET, "dnset:dn", &ds), 0);
	ds->ttl = 2100;
	uint32_t v = (uint32_t)val(ds, 5, "dom $ listed");
	dom(ds, "example.com", v, ZIMG_NONE);
	dom(ds, "wild.org", ZIMG_NONE, v);
	dom(ds, "both.net", v, v);
	dom(ds, "good.both.net", ZIMG_EXCL, ZIMG_NONE);
	assert_int_equal(zimg_finish(img), 0);
	return img;
}

/* cb.ex: rbldnsd's combined example (proxies, relays, common generic). */
static struct zimg *zone_cb(void)
{
	struct zimg *img = zimg_new("cb.ex");
	struct zimg_ds *ds;

	soa_ns(img, 100, 3600);
	assert_int_equal(zimg_add_ds(img, ZDS_IP4SET, "proxy", &ds), 0);
	ds->ttl = 2100;
	sub(ds, "proxies");
	sub(ds, "@");
	uint32_t v = (uint32_t)val(ds, 2, "Open proxy $");
	assert_int_equal(zimg_ds_add_ip4(ds, ip4(127, 0, 0, 2), ip4(127, 0, 0, 2), v), 0);
	assert_int_equal(zimg_ds_add_ip4(ds, ip4(127, 0, 0, 10), ip4(127, 0, 0, 10), v), 0);
	assert_int_equal(zimg_add_ds(img, ZDS_IP4SET, "relay", &ds), 0);
	ds->ttl = 2100;
	sub(ds, "relays");
	sub(ds, "@");
	v = (uint32_t)val(ds, 3, "Open relay $");
	assert_int_equal(zimg_ds_add_ip4(ds, ip4(127, 0, 0, 2), ip4(127, 0, 0, 2), v), 0);
	assert_int_equal(zimg_ds_add_ip4(ds, ip4(127, 0, 2, 10), ip4(127, 0, 2, 10), v), 0);
	assert_int_equal(zimg_add_ds(img, ZDS_GENERIC, "common", &ds), 0);
	sub(ds, "proxies");
	sub(ds, "relays");
	sub(ds, "own"); /* also a zone of its own, which wins */
	sub(ds, "@");
	rr(ds, "@", 1, "\x7f\0\0\x08", 4);
	rr(ds, "www", 1, "\x7f\0\0\x08", 4);
	assert_int_equal(zimg_finish(img), 0);
	return img;
}

/* rt.ex: a routing zone (master-file dataset). */
static struct zimg *zone_rt(void)
{
	struct zimg *img = zimg_new("rt.ex");
	struct zimg_ds *ds;

	soa_ns(img, 300, 300);
	assert_int_equal(zimg_add_ds(img, ZDS_ZONE, "zone:rt", &ds), 0);
	rr(ds, "mx1", 1, "\xc0\x00\x02\x19", 4);
	rr_name(ds, "www", 5, "mx1.rt.ex");
	rr_name(ds, "a1", 5, "a2.rt.ex");
	rr_name(ds, "a2", 5, "a3.rt.ex");
	rr_name(ds, "a3", 5, "nothere.rt.ex");
	rr_name(ds, "loop", 5, "loop.rt.ex");
	rr_name(ds, "out", 5, "mail.example.org");
	rr(ds, "*.cust", 1, "\xc0\x00\x02\x50", 4);
	rr(ds, "b.deep", 1, "\xc0\x00\x02\x51", 4);
	rr(ds, "@", 15, "\0\x0a\x03" "mx1\x02" "rt\x02" "ex", 13);
	rr(ds, "_smtp._tcp", 33, "\0\x0a\0\x05\0\x19\x03" "mx1\x02" "rt\x02" "ex", 17);
	rr_name(ds, "sub", 2, "ns.sub.rt.ex");
	rr_name(ds, "sub", 2, "ns.example.net");
	rr(ds, "ns.sub", 1, "\xc0\x00\x02\x35", 4);
	assert_int_equal(zimg_finish(img), 0);
	return img;
}

static struct zimg *zone_plain(const char *name, bool soa, int64_t expires)
{
	struct zimg *img = zimg_new(name);
	struct zimg_ds *ds;

	if (soa)
		soa_ns(img, 3600, 600);
	img->ts_expires = expires;
	assert_int_equal(zimg_add_ds(img, ZDS_IP4SET, "ip4set", &ds), 0);
	ds->ttl = 2100;
	uint32_t v = (uint32_t)val(ds, 2, "plain $");
	assert_int_equal(zimg_ds_add_ip4(ds, ip4(1, 2, 3, 4), ip4(1, 2, 3, 4), v), 0);
	assert_int_equal(zimg_finish(img), 0);
	return img;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct zimg *imgs[12];
	size_t n = 0;

	strcpy(f->dir, "/tmp/gridns-test-answer-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(snap_open(&f->env, f->dir, 0, NULL), 0);
	imgs[n++] = zone_bl();
	imgs[n++] = zone_v6();
	imgs[n++] = zone_dn();
	imgs[n++] = zone_cb();
	imgs[n++] = zone_rt();
	imgs[n++] = zone_plain("nosoa.ex", false, 0);
	imgs[n++] = zone_plain("old.ex", true, time(NULL) - 10);
	imgs[n++] = zone_plain("own.cb.ex", true, 0);
	assert_int_equal(snap_put_zones(f->env, imgs, n, time(NULL) - 5), 0);
	for (size_t i = 0; i < n; i++)
		zimg_free(imgs[i]);
	assert_int_equal(answer_ctx_new(f->env, NULL, &f->ctx), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	answer_ctx_free(f->ctx);
	snap_close(f->env);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Ask and parse; fails the test on a malformed reply. */
static struct t_msg *ask_ex(struct fx *f, const char *name, uint16_t type, uint16_t edns,
			    enum answer_transport tr, size_t *len_out)
{
	size_t ql = t_query(f->q, 0x1234, name, type, edns, 0);
	assert_int_equal(answer_batch_begin(f->ctx), 0);
	size_t len = answer_query(f->ctx, f->q, ql, f->resp, sizeof(f->resp), tr, NULL);
	answer_batch_end(f->ctx);
	assert_true(len >= 12);
	if (t_parse(f->resp, len, &f->m) != 0) {
		FILE *fp = fopen("/tmp/gridns-answer-bad.bin", "wb");
		if (fp) {
			fwrite(f->resp, 1, len, fp);
			fclose(fp);
		}
		fail_msg("%s/%u: unparseable reply (saved in /tmp/gridns-answer-bad.bin)", name, type);
	}
	assert_int_equal(f->m.id, 0x1234);
	assert_true(f->m.flags & 0x8000);
	assert_true(f->m.flags & 0x0100); /* RD copied */
	if (len_out)
		*len_out = len;
	return &f->m;
}

static struct t_msg *ask(struct fx *f, const char *name, uint16_t type)
{
	return ask_ex(f, name, type, 0, ANSWER_UDP, NULL);
}

#define AA(m) (((m)->flags & 0x0400) != 0)
#define TC(m) (((m)->flags & 0x0200) != 0)
