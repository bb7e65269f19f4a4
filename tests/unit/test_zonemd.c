/* tests/unit/test_zonemd.c - ZONEMD (zonesync/zonemd): the RFC 8976
 * Appendix A.1 and A.2 vectors, an image round trip, and tampering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <ldns/ldns.h>
#include "common/err.h"
#include "zonesync/compile.h"
#include "zonesync/zonemd.h"

/* Records parsed by ldns, as xform_rr views into `wire`. */
struct rrset {
	struct xform_rr rr[64];
	uint8_t *wire[64];
	size_t n;
};

static void rrset_free(struct rrset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->wire[i]);
	s->n = 0;
}

static void rrset_parse(struct rrset *s, const char *origin, const char *const *lines)
{
	ldns_rdf *o = ldns_dname_new_frm_str(origin);

	for (; *lines; lines++) {
		ldns_rr *rr = NULL;
		uint8_t *w = NULL;
		size_t len = 0, ol;
		struct xform_rr *x = &s->rr[s->n];

		assert_int_equal(ldns_rr_new_frm_str(&rr, *lines, 3600, o, NULL), LDNS_STATUS_OK);
		assert_int_equal(ldns_rr2wire(&w, rr, LDNS_SECTION_ANSWER, &len), LDNS_STATUS_OK);
		/* owner (uncompressed, as ldns writes one RR), type, class, ttl, rdlen */
		ol = ldns_rdf_size(ldns_rr_owner(rr));
		x->owner = w;
		x->owner_len = (uint8_t)ol;
		x->type = (uint16_t)(w[ol] << 8 | w[ol + 1]);
		x->rclass = (uint16_t)(w[ol + 2] << 8 | w[ol + 3]);
		x->ttl = (uint32_t)w[ol + 4] << 24 | (uint32_t)w[ol + 5] << 16 |
			 (uint32_t)w[ol + 6] << 8 | w[ol + 7];
		x->rdlen = (uint16_t)(w[ol + 8] << 8 | w[ol + 9]);
		x->rdata = w + ol + 10;
		assert_int_equal(len, ol + 10 + x->rdlen);
		s->wire[s->n++] = w;
		ldns_rr_free(rr);
	}
	ldns_rdf_deep_free(o);
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static const uint8_t apex_example[] = "\007example";

/* RFC 8976 Appendix A.1, the simple example zone. */
static void test_rfc8976_simple(void **state)
{
	static const char *const zone[] = {
		"example. 86400 IN SOA ns1 admin 2018031900 1800 900 604800 86400",
		"example. 86400 IN NS ns1",
		"example. 86400 IN NS ns2",
		"example. 86400 IN ZONEMD 2018031900 1 1 c68090d90a7aed716bc459f9340e3d7c"
		"1370d4d24b7e2fc3a1ddc0b9a87153b9a9713b3c9ae5cc27777f98b8e730044c",
		"ns1 3600 IN A 203.0.113.63",
		"ns2 3600 IN AAAA 2001:db8::63",
		NULL,
	};
	struct rrset s = { .n = 0 };
	uint8_t d[ZONEMD_DIGEST_LEN];
	char h[2 * ZONEMD_DIGEST_LEN + 1];
	const char *why;

	rrset_parse(&s, "example.", zone);
	assert_int_equal(zonemd_digest_rrs(apex_example, s.rr, s.n, d), 0);
	hex(d, sizeof(d), h);
	assert_string_equal(h, "c68090d90a7aed716bc459f9340e3d7c1370d4d24b7e2fc3"
			       "a1ddc0b9a87153b9a9713b3c9ae5cc27777f98b8e730044c");
	assert_int_equal(zonemd_verify_rrs(apex_example, s.rr, s.n, 2018031900, &why), 0);
	/* the ZONEMD serial must be the SOA's */
	assert_int_equal(zonemd_verify_rrs(apex_example, s.rr, s.n, 2018031901, &why), GN_ECORRUPT);
	assert_non_null(strstr(why, "serial"));
	rrset_free(&s);
}

/* RFC 8976 Appendix A.2: occluded data, duplicates, out-of-zone data,
 * uppercase owners and RDATA names, wildcards, RDATA order, non-apex ZONEMD. */
static void test_rfc8976_complex(void **state)
{
	static const char *const zone[] = {
		"example. 86400 IN SOA ns1 admin 2018031900 1800 900 604800 86400",
		"example. 86400 IN NS ns1",
		"example. 86400 IN NS ns2",
		"example. 86400 IN ZONEMD 2018031900 1 1 a3b69bad980a3504e1cffcb0fd6397f9"
		"3848071c93151f552ae2f6b1711d4bd2d8b39808226d7b9db71e34b72077f8fe",
		"ns1 3600 IN A 203.0.113.63",
		"NS2 3600 IN AAAA 2001:db8::63",
		"occluded.sub 7200 IN TXT \"I'm occluded but must be digested\"",
		"sub 7200 IN NS ns1",
		"duplicate 300 IN TXT \"I must be digested just once\"",
		"duplicate 300 IN TXT \"I must be digested just once\"",
		"foo.test. 555 IN TXT \"out-of-zone data must be excluded\"",
		"UPPERCASE 3600 IN TXT \"canonicalize uppercase owner names\"",
		"* 777 IN PTR dont-forget-about-wildcards",
		"mail 3600 IN MX 20 MAIL1",
		"mail 3600 IN MX 10 Mail2.Example.",
		"sortme 3600 IN AAAA 2001:db8::5:61",
		"sortme 3600 IN AAAA 2001:db8::3:62",
		"sortme 3600 IN AAAA 2001:db8::4:63",
		"sortme 3600 IN AAAA 2001:db8::1:65",
		"sortme 3600 IN AAAA 2001:db8::2:64",
		"non-apex 900 IN ZONEMD 2018031900 1 1 616c6c6f776564206275742069676e6f"
		"7265642e20616c6c6f776564206275742069676e6f7265642e20616c6c6f7765",
		NULL,
	};
	struct rrset s = { .n = 0 };
	uint8_t d[ZONEMD_DIGEST_LEN];
	char h[2 * ZONEMD_DIGEST_LEN + 1];

	rrset_parse(&s, "example.", zone);
	assert_int_equal(zonemd_digest_rrs(apex_example, s.rr, s.n, d), 0);
	hex(d, sizeof(d), h);
	assert_string_equal(h, "a3b69bad980a3504e1cffcb0fd6397f93848071c93151f55"
			       "2ae2f6b1711d4bd2d8b39808226d7b9db71e34b72077f8fe");
	assert_int_equal(zonemd_verify_rrs(apex_example, s.rr, s.n, 2018031900, NULL), 0);
	rrset_free(&s);
}

/* Collect an image's transfer form into owned records. */
struct coll {
	struct xform_rr *rr;
	size_t n, cap;
};

static int coll_cb(void *arg, const struct xform_rr *rr)
{
	struct coll *c = arg;
	uint8_t *o, *d;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->rr = realloc(c->rr, c->cap * sizeof(*c->rr));
		assert_non_null(c->rr);
	}
	o = malloc(rr->owner_len);
	d = malloc(rr->rdlen + 1u);
	assert_non_null(o);
	assert_non_null(d);
	memcpy(o, rr->owner, rr->owner_len);
	memcpy(d, rr->rdata, rr->rdlen);
	c->rr[c->n] = *rr;
	c->rr[c->n].owner = o;
	c->rr[c->n].rdata = d;
	c->n++;
	return 0;
}

static void coll_free(struct coll *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free((void *)c->rr[i].owner);
		free((void *)c->rr[i].rdata);
	}
	free(c->rr);
}

/* An image's digest is what a receiver computes over the records it got,
 * in any order; a changed record or a stale serial is caught. */
static void test_image_roundtrip_and_tamper(void **state)
{
	char path[] = "/tmp/gridns-zonemd-XXXXXX";
	int fd = mkstemp(path);
	char spec[128];
	const char *specs[1] = { spec };
	struct compile_opts co = { .quiet = true };
	struct zimg *img = NULL;
	struct coll c = { 0 };
	uint8_t d[ZONEMD_DIGEST_LEN], d2[ZONEMD_DIGEST_LEN], rd[ZONEMD_RDATA_LEN], apex[DNAME_MAX];
	static const char src[] = "$SOA 3600 ns.bl.example. hm.bl.example. 42 3600 600 86400 60\n"
				  "$NS 3600 ns.bl.example.\n"
				  ":127.0.0.2:Listed $\n"
				  "127.0.0.2\n192.0.2.0/24\n198.51.100.7\n";
	struct xform_rr zmd;
	uint8_t saved;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, src, sizeof(src) - 1), (ssize_t)(sizeof(src) - 1));
	close(fd);
	snprintf(spec, sizeof(spec), "bl.example:ip4set:%s", path);
	assert_int_equal(compile_zone(specs, 1, &co, &img), 0);
	assert_int_equal(zonemd_digest_image(img, d), 0);
	assert_int_equal(xform_emit(img, coll_cb, &c), 0);
	assert_true(c.n > 5);
	assert_int_equal(dname_key_to_wire(img->key, img->keylen, apex) > 0, 1);
	assert_int_equal(zonemd_digest_rrs(apex, c.rr, c.n, d2), 0);
	assert_memory_equal(d, d2, sizeof(d));
	/* reversed order: same digest */
	for (size_t i = 0; i < c.n / 2; i++) {
		struct xform_rr t = c.rr[i];
		c.rr[i] = c.rr[c.n - 1 - i];
		c.rr[c.n - 1 - i] = t;
	}
	assert_int_equal(zonemd_digest_rrs(apex, c.rr, c.n, d2), 0);
	assert_memory_equal(d, d2, sizeof(d));

	/* no ZONEMD yet: nothing to verify */
	assert_int_equal(zonemd_verify_rrs(apex, c.rr, c.n, 42, NULL), GN_ENOENT);
	/* add the apex ZONEMD the publisher would send */
	zonemd_rdata(42, d, rd);
	zmd = (struct xform_rr){ .owner = apex, .owner_len = (uint8_t)dname_wire_len(apex),
				 .type = ZONEMD_TYPE, .rclass = XFORM_CLASS_IN, .ttl = 3600,
				 .rdlen = ZONEMD_RDATA_LEN, .rdata = rd };
	coll_cb(&c, &zmd);
	assert_int_equal(zonemd_verify_rrs(apex, c.rr, c.n, 42, NULL), 0);
	/* one changed octet in one record */
	for (size_t i = 0; i < c.n; i++)
		if (c.rr[i].type == 1 && c.rr[i].rdlen == 4) {
			uint8_t *p = (uint8_t *)c.rr[i].rdata;
			saved = p[3];
			p[3] ^= 1;
			assert_int_equal(zonemd_verify_rrs(apex, c.rr, c.n, 42, NULL), GN_ECORRUPT);
			p[3] = saved;
			break;
		}
	assert_int_equal(zonemd_verify_rrs(apex, c.rr, c.n, 42, NULL), 0);
	/* a dropped record */
	c.n--;
	{
		struct xform_rr last = c.rr[c.n - 1];
		c.rr[c.n - 1] = c.rr[c.n];   /* ZONEMD replaces the last data record */
		assert_int_equal(zonemd_verify_rrs(apex, c.rr, c.n, 42, NULL), GN_ECORRUPT);
		c.rr[c.n - 1] = last;
		c.n++;
	}
	/* an unsupported hash algorithm only: unverifiable */
	((uint8_t *)c.rr[c.n - 1].rdata)[5] = 2;
	assert_int_equal(zonemd_verify_rrs(apex, c.rr, c.n, 42, NULL), GN_EINVAL);
	coll_free(&c);
	zimg_free(img);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc8976_simple),
		cmocka_unit_test(test_rfc8976_complex),
		cmocka_unit_test(test_image_roundtrip_and_tamper),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
