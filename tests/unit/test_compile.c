/* tests/unit/test_compile.c - rbldnsd dataset compilers (zonesync/compile*.c).
 *
 * Every expectation here was first observed on rbldnsd 1.0 with the same
 * input (see docs/formats.md); the tests pin that behaviour. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "common/err.h"
#include "zonesync/compile.h"

static const struct compile_opts quiet = { .quiet = true };
static const struct compile_opts strict = { .strict = true, .quiet = true };

static char *tmpf(const char *text)
{
	char *path = strdup("/tmp/gridns-compile-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* Compile "zone:type:<text>" (text written to a temp file). */
static int build(const char *zone, const char *type, const char *text,
		 const struct compile_opts *o, struct zimg **img)
{
	char *f = tmpf(text), spec[512];
	snprintf(spec, sizeof(spec), "%s:%s:%s", zone, type, f);
	const char *specs[1] = { spec };
	int ret = compile_zone(specs, 1, o, img);
	unlink(f);
	free(f);
	return ret;
}

static struct zimg *ok(const char *type, const char *text)
{
	struct zimg *img = NULL;
	assert_int_equal(build("bl.example", type, text, &quiet, &img), 0);
	assert_non_null(img);
	return img;
}

static uint32_t ip4(const char *s)
{
	unsigned a, b, c, d;
	assert_int_equal(sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d), 4);
	return a << 24 | b << 16 | c << 8 | d;
}

/* Valset of addr in ds, or -1 when not listed. */
static int64_t find4(const struct zimg_ds *ds, const char *addr)
{
	uint32_t x = ip4(addr);
	for (size_t i = 0; i < ds->n_ip4; i++)
		if (ds->ip4[i].lo <= x && x <= ds->ip4[i].hi)
			return ds->ip4[i].vs;
	return -1;
}

static int64_t find6(const struct zimg_ds *ds, const char *addr)
{
	uint8_t x[16];
	assert_int_equal(inet_pton(AF_INET6, addr, x), 1);
	for (size_t i = 0; i < ds->n_ip6; i++)
		if (memcmp(ds->ip6[i].lo, x, 16) <= 0 && memcmp(x, ds->ip6[i].hi, 16) <= 0)
			return ds->ip6[i].vs;
	return -1;
}

/* "A TXT|A TXT" rendering of a valset, with the stored template as is. */
static const char *vs_str(const struct zimg_ds *ds, int64_t vs)
{
	static char buf[2048];
	size_t o = 0;
	if (vs < 0)
		return "NX";
	const struct zimg_valset *s = &ds->valsets[vs];
	buf[0] = 0;
	for (uint32_t i = 0; i < s->count; i++) {
		const struct zimg_val *v = &ds->vals[s->first + i];
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%u.%u.%u.%u", i ? "|" : "", v->a[0],
				      v->a[1], v->a[2], v->a[3]);
		if (v->has_txt)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, " %.*s", v->txt_len, v->txt);
	}
	return buf;
}

#define EXPECT4(ds, addr, str) assert_string_equal(vs_str(ds, find4(ds, addr)), str)
#define EXPECT6(ds, addr, str) assert_string_equal(vs_str(ds, find6(ds, addr)), str)

/* ---- ip4set ------------------------------------------------------------- */

static void test_ip4set_forms(void **state)
{
	/* All of the man page's spellings of 127.0.0.0/24 and 127.16/12. */
	static const char *f24[] = { "127.0.0.0/24", "127.0.0", "127/24", "127-127.0.0",
				     "127.0.0.0-127.0.0.255", "127.0.0.0-255" };
	static const char *f12[] = { "127.16.0.0-127.31.255.255", "127.16.0-127.31.255",
				     "127.16-127.31", "127.16-31", "127.16.0.0/12", "127.16/12" };
	(void)state;
	for (size_t i = 0; i < 6; i++) {
		char text[64];
		snprintf(text, sizeof(text), "%s\n", f24[i]);
		struct zimg *img = ok("ip4set", text);
		assert_int_equal(img->ds[0]->n_ip4, 1);
		assert_int_equal(img->ds[0]->ip4[0].lo, ip4("127.0.0.0"));
		assert_int_equal(img->ds[0]->ip4[0].hi, ip4("127.0.0.255"));
		zimg_free(img);
		snprintf(text, sizeof(text), "%s\n", f12[i]);
		img = ok("ip4set", text);
		assert_int_equal(img->ds[0]->n_ip4, 1);
		assert_int_equal(img->ds[0]->ip4[0].lo, ip4("127.16.0.0"));
		assert_int_equal(img->ds[0]->ip4[0].hi, ip4("127.31.255.255"));
		zimg_free(img);
	}
}

static void test_ip4set_levels(void **state)
{
	(void)state;
	struct zimg *img = ok("ip4set",
		"10.0.0.0/8 :3:eight $\n"
		"10.1.0.0/16 :4:sixteen\n"
		"!10.2.0.0/16\n"
		"10.2.3.0/24 :5:tf\n"
		"10.3.0.0/16\n"
		"!10.3.4.5\n"
		"11.0.0.0/12\n"
		"12.0.0.0/25\n"
		"!12.0.0.0/25\n"
		"!13.1.1.1\n"
		"13.1.1.1\n"
		"14.0.0.5-14.0.2.3 :8:r\n"
		"!14.0.1.0/24\n");
	const struct zimg_ds *ds = img->ds[0];
	assert_int_equal(img->n_errors, 0);
	EXPECT4(ds, "10.1.2.3", "127.0.0.4 sixteen");
	EXPECT4(ds, "10.9.2.3", "127.0.0.3 eight $");
	EXPECT4(ds, "10.2.4.3", "NX");           /* /16 exclusion beats the /8 */
	EXPECT4(ds, "10.2.3.3", "127.0.0.5 tf"); /* the /24 beats the /16 exclusion */
	EXPECT4(ds, "10.3.4.5", "NX");
	EXPECT4(ds, "10.3.4.6", "127.0.0.2");
	EXPECT4(ds, "11.15.255.255", "127.0.0.2"); /* /12 = 16 /16 blocks */
	EXPECT4(ds, "11.16.0.0", "NX");
	EXPECT4(ds, "12.0.0.1", "NX");            /* exclusion wins at the same key */
	EXPECT4(ds, "13.1.1.1", "NX");            /* ... whatever the order */
	EXPECT4(ds, "14.0.0.4", "NX");
	EXPECT4(ds, "14.0.0.5", "127.0.0.8 r");
	/* the range's middle /24 is a /24 block: the /24 exclusion removes it */
	EXPECT4(ds, "14.0.1.7", "NX");
	EXPECT4(ds, "14.0.2.3", "127.0.0.8 r");
	EXPECT4(ds, "14.0.2.4", "NX");
	/* ranges are disjoint and sorted */
	for (size_t i = 1; i < ds->n_ip4; i++)
		assert_true(ds->ip4[i - 1].hi < ds->ip4[i].lo);
	zimg_free(img);
}

static void test_ip4set_multi(void **state)
{
	(void)state;
	struct zimg *img = ok("ip4set",
		"127.0.0.2 :2:zeta\n"
		"127.0.0.2 :3:alpha\n"
		"127.0.0.2 :2:zeta\n"
		"127.0.0.2 third\n"
		"127.0.0.3\n127.0.0.4\n127.0.0.5\n");
	const struct zimg_ds *ds = img->ds[0];
	/* all answer, first-seen order, identical pairs once */
	EXPECT4(ds, "127.0.0.2", "127.0.0.2 zeta|127.0.0.3 alpha|127.0.0.2 third");
	/* adjacent ranges with one value merge */
	assert_int_equal(ds->n_ip4, 2);
	assert_int_equal(ds->ip4[1].lo, ip4("127.0.0.3"));
	assert_int_equal(ds->ip4[1].hi, ip4("127.0.0.5"));
	zimg_free(img);
}

static void test_ip4set_bad_lines(void **state)
{
	(void)state;
	const char *text = "127.0.0.2\n16.1.2.3/24\n300.1.1.1\n127.0.0.3 :x:bad\n127.0.0.4\n";
	struct zimg *img = ok("ip4set", text);
	assert_int_equal(img->n_errors, 3);
	EXPECT4(img->ds[0], "16.1.2.3", "NX");
	EXPECT4(img->ds[0], "127.0.0.4", "127.0.0.2");
	zimg_free(img);
	img = NULL;
	assert_int_equal(build("bl.example", "ip4set", text, &strict, &img), GN_EPARSE);
	assert_null(img);

	/* "/0" is refused in ip4set, but the whole space as a range is fine,
	 * and the ends of the address space are handled */
	img = ok("ip4set", "0.0.0.0/0\n0-255 :3:all\n!255.255.255.255\n!0.0.0.0\n");
	assert_int_equal(img->n_errors, 1);
	EXPECT4(img->ds[0], "0.0.0.0", "NX");
	EXPECT4(img->ds[0], "0.0.0.1", "127.0.0.3 all");
	EXPECT4(img->ds[0], "255.255.255.254", "127.0.0.3 all");
	EXPECT4(img->ds[0], "255.255.255.255", "NX");
	zimg_free(img);
}

static void test_maxrange4(void **state)
{
	(void)state;
	struct zimg *img = ok("ip4set",
		"10.0.0.0/16\n$MAXRANGE4 /24\n11.0.0.0/23\n11.1.0.0/24\n"
		"$MAXRANGE4 65536\n12.0.0.0/16\n$MAXRANGE4 2\n13.0.0.0/31\n13.0.0.4-13.0.0.6\n");
	const struct zimg_ds *ds = img->ds[0];
	EXPECT4(ds, "10.0.0.1", "127.0.0.2"); /* before the special: unlimited */
	EXPECT4(ds, "11.0.0.1", "NX");
	EXPECT4(ds, "11.1.0.1", "127.0.0.2");
	EXPECT4(ds, "12.0.0.1", "NX");        /* cannot be raised */
	EXPECT4(ds, "13.0.0.1", "127.0.0.2");
	EXPECT4(ds, "13.0.0.5", "NX");
	assert_int_equal(img->n_errors, 4);
	zimg_free(img);
}

static void test_ip4tset_ip4trie(void **state)
{
	(void)state;
	struct zimg *img = ok("ip4tset",
		":3:first $\n127.0.0.2 :5:own\n:4:second\n127.0.0.3\n127.0.0.0/24\n!127.0.0.4\n127.0.1\n");
	EXPECT4(img->ds[0], "127.0.0.2", "127.0.0.3 first $");
	EXPECT4(img->ds[0], "127.0.0.3", "127.0.0.3 first $");
	assert_int_equal(img->n_errors, 3);
	zimg_free(img);

	img = ok("ip4trie",
		"10.0.0.0/8 :2:eight\n10.1.0.0/12\n10.1.2.0/23 :4:tt\n!10.1.2.0/24\n"
		"10.1.2.128/25 :5:tf\n10.1.2.200 :6:one\n10.1.2.200 :7:two\n127.0.0\n"
		"12.0.0.1-12.0.0.3\n");
	const struct zimg_ds *ds = img->ds[0];
	EXPECT4(ds, "10.1.3.1", "127.0.0.4 tt");
	EXPECT4(ds, "10.1.2.1", "NX");
	EXPECT4(ds, "10.1.2.129", "127.0.0.5 tf");
	EXPECT4(ds, "10.1.2.200", "127.0.0.6 one"); /* first wins */
	EXPECT4(ds, "127.0.0.9", "127.0.0.2");
	EXPECT4(ds, "12.0.0.2", "NX");
	assert_int_equal(img->n_errors, 3); /* host bits, duplicate, range */
	zimg_free(img);
}

/* ---- ip6 ---------------------------------------------------------------- */

static void test_ip6(void **state)
{
	(void)state;
	struct zimg *img = ok("ip6tset",
		":3:six $\n2001:db8:1:2\n!2001:db8:1:2::5\n2001:db8:1:3 :5:own\n2001:db8:1:4::/64\n"
		"2001:db8:1:5::\n");
	const struct zimg_ds *ds = img->ds[0];
	EXPECT6(ds, "2001:db8:1:2::1", "127.0.0.3 six $");
	EXPECT6(ds, "2001:db8:1:2::5", "NX");
	EXPECT6(ds, "2001:db8:1:3::1", "127.0.0.3 six $");
	EXPECT6(ds, "2001:db8:1:4::1", "NX");
	assert_int_equal(img->n_errors, 2);
	zimg_free(img);

	img = ok("ip6trie",
		":3:six $\n2001:db8:c000/36 :4:t36\n2001:db8:1:2 :5:s64\n::1\n"
		"!2001:db8:c000::bead\n2001:db8:c001::/48 :6:ff\n2001:db8:1:4::1/64\n"
		"!2001:db8:1:2:0:0:0:8/126\n");
	ds = img->ds[0];
	EXPECT6(ds, "2001:db8:c000::1", "127.0.0.4 t36");
	EXPECT6(ds, "2001:db8:c000::bead", "NX");
	EXPECT6(ds, "2001:db8:c001::1", "127.0.0.6 ff");
	EXPECT6(ds, "2001:db8:cfff::1", "127.0.0.4 t36");
	EXPECT6(ds, "2001:db8:d000::", "NX");
	EXPECT6(ds, "2001:db8:1:2::9", "NX");
	EXPECT6(ds, "2001:db8:1:2::c", "127.0.0.5 s64");
	EXPECT6(ds, "::1", "127.0.0.3 six $");
	EXPECT6(ds, "2001:db8:1:4::1", "NX");
	assert_int_equal(img->n_errors, 1);
	zimg_free(img);
}

/* ---- dnset -------------------------------------------------------------- */

static const struct zimg_dom *dom(const struct zimg_ds *ds, const char *name)
{
	uint8_t k[DNAME_MAX];
	int kl = dname_text_to_key(name, strlen(name), k);
	for (size_t i = 0; i < ds->n_dom; i++)
		if (ds->dom[i].keylen == kl && memcmp(ds->dom[i].key, k, (size_t)kl) == 0)
			return &ds->dom[i];
	return NULL;
}

static void test_dnset(void **state)
{
	(void)state;
	struct zimg *img = ok("dnset",
		":2:dn $\nexample.com :3:exact\n*.example.com :4:w\n!c.example.com\n"
		"!*.d.example.com\n.e.example.com :7:dot\ne.example.com :8:dup\n"
		"Upper.Example.COM.\n*.i.example.com\n!*.i.example.com\n");
	const struct zimg_ds *ds = img->ds[0];
	const struct zimg_dom *d = dom(ds, "example.com");
	assert_non_null(d);
	assert_string_equal(vs_str(ds, d->vs_exact), "127.0.0.3 exact");
	assert_string_equal(vs_str(ds, d->vs_wild), "127.0.0.4 w");
	d = dom(ds, "c.example.com");
	assert_int_equal(d->vs_exact, ZIMG_EXCL);
	assert_int_equal(d->vs_wild, ZIMG_NONE);
	d = dom(ds, "d.example.com");
	assert_int_equal(d->vs_exact, ZIMG_NONE);
	assert_int_equal(d->vs_wild, ZIMG_EXCL);
	d = dom(ds, "e.example.com");
	assert_string_equal(vs_str(ds, d->vs_exact), "127.0.0.7 dot|127.0.0.8 dup");
	assert_string_equal(vs_str(ds, d->vs_wild), "127.0.0.7 dot");
	d = dom(ds, "upper.example.com");
	assert_non_null(d);
	assert_string_equal(vs_str(ds, d->vs_exact), "127.0.0.2 dn $");
	assert_int_equal(dom(ds, "i.example.com")->vs_wild, ZIMG_EXCL);
	for (size_t i = 1; i < ds->n_dom; i++)
		assert_true(memcmp(ds->dom[i - 1].key, ds->dom[i].key,
				   ds->dom[i - 1].keylen < ds->dom[i].keylen ? ds->dom[i - 1].keylen
									      : ds->dom[i].keylen) <= 0);
	zimg_free(img);

	/* No entry at all (found by fuzz_dataset: qsort_r got a NULL array,
	 * UBSan's nonnull check under make asan). */
	img = ok("dnset", "# only a comment\n");
	assert_int_equal(img->ds[0]->n_dom, 0);
	zimg_free(img);

	/* Only the apex (".": it and everything below it), so no key octet
	 * is ever stored (found by fuzz_dataset: NULL + 0 on the empty key
	 * arena). */
	img = ok("dnset", ". :2:all\n");
	assert_int_equal(img->ds[0]->n_dom, 1);
	assert_int_equal(img->ds[0]->dom[0].keylen, 0);
	assert_string_equal(vs_str(img->ds[0], img->ds[0]->dom[0].vs_wild), "127.0.0.2 all");
	zimg_free(img);
}

/* ---- values and templates ----------------------------------------------- */

static void test_values(void **state)
{
	(void)state;
	struct zimg *img = ok("ip4set",
		"127.0.0.1 :5\n"
		"127.0.0.2 bare text  \n"
		"127.0.0.3 :1.2:two\n"
		"127.0.0.4 :127.0.0.9:full\n"
		"127.0.0.5 # comment\n"
		"127.0.0.6 text # kept\n"
		"127.0.0.7:3:nospace\n"
		":2:default $ txt\n"
		"127.0.0.8 :5\n"
		"127.0.0.9 :6:\n"
		"127.0.0.10 :127.0.0.2\n"
		"127.0.0.11 :0:zero\n"
		"127.0.0.12 :127.0.0.2 no colon\n");
	const struct zimg_ds *ds = img->ds[0];
	EXPECT4(ds, "127.0.0.1", "127.0.0.5");
	EXPECT4(ds, "127.0.0.2", "127.0.0.2 bare text");
	EXPECT4(ds, "127.0.0.3", "1.0.0.2 two");
	EXPECT4(ds, "127.0.0.4", "127.0.0.9 full");
	EXPECT4(ds, "127.0.0.5", "127.0.0.2");
	EXPECT4(ds, "127.0.0.6", "127.0.0.2 text # kept");
	EXPECT4(ds, "127.0.0.7", "127.0.0.3 nospace");
	EXPECT4(ds, "127.0.0.8", "127.0.0.5 default $ txt");
	EXPECT4(ds, "127.0.0.9", "127.0.0.6");
	EXPECT4(ds, "127.0.0.10", "127.0.0.2 default $ txt");
	EXPECT4(ds, "127.0.0.11", "NX");
	EXPECT4(ds, "127.0.0.12", "NX");
	assert_int_equal(img->n_errors, 2);
	zimg_free(img);

	/* a default line without the second colon has no TXT */
	img = ok("ip4set", ":3:deftxt\n:5\n127.0.0.2\n");
	EXPECT4(img->ds[0], "127.0.0.2", "127.0.0.5");
	zimg_free(img);
}

static void test_default_scope_is_file(void **state)
{
	(void)state;
	char *a = tmpf(":3:from a\n127.0.0.2\n"), *b = tmpf("127.0.0.3\n");
	char spec[256];
	struct zimg *img;
	snprintf(spec, sizeof(spec), "bl.example:ip4set:%s,%s", a, b);
	const char *specs[1] = { spec };
	assert_int_equal(compile_zone(specs, 1, &quiet, &img), 0);
	EXPECT4(img->ds[0], "127.0.0.2", "127.0.0.3 from a");
	EXPECT4(img->ds[0], "127.0.0.3", "127.0.0.2");
	zimg_free(img);
	unlink(a), unlink(b), free(a), free(b);
}

static void test_templates(void **state)
{
	(void)state;
	struct zimg *img = ok("ip4set",
		"$1 See http://www.example.com/bl\n"
		"$2 for details\n"
		"127.0.0.2  $1/spammer/$ $2\n"
		"127.0.0.4  This spammer wants some $$$$.  $1/$\n"
		"127.0.0.12 $3 undefined\n"
		"127.0.0.14 late $4\n"
		"$4 defined late with $ and $$\n"
		"$1 redefined\n"
		"127.0.0.22 $x\n");
	const struct zimg_ds *ds = img->ds[0];
	EXPECT4(ds, "127.0.0.2", "127.0.0.2 See http://www.example.com/bl/spammer/$ for details");
	EXPECT4(ds, "127.0.0.4", "127.0.0.2 This spammer wants some $$$$.  See http://www.example.com/bl/$");
	EXPECT4(ds, "127.0.0.12", "127.0.0.2 $$3 undefined");
	/* a variable is literal text: its '$' are escaped */
	EXPECT4(ds, "127.0.0.14", "127.0.0.2 late defined late with $$ and $$$$");
	EXPECT4(ds, "127.0.0.22", "127.0.0.2 $x");
	zimg_free(img);
}

static void test_base_template(void **state)
{
	(void)state;
	struct zimg *img = ok("ip4set",
		"$= Base ?$= ($) $1 end\n"
		"$1 one$\n"
		"127.0.0.2 r123\n"
		"127.0.0.3\n"
		"127.0.0.4 =See other $ here $1\n"
		"127.0.0.5 text with $ dollar\n"
		"127.0.0.6 :3:\n"
		"127.0.0.8 :3:=\n"
		"$= second base ignored\n");
	const struct zimg_ds *ds = img->ds[0];
	EXPECT4(ds, "127.0.0.2", "127.0.0.2 Base ?r123 ($) one$$ end");
	EXPECT4(ds, "127.0.0.3", "127.0.0.2 Base ?$ ($) one$$ end");
	EXPECT4(ds, "127.0.0.4", "127.0.0.2 See other $ here one$$");
	EXPECT4(ds, "127.0.0.5", "127.0.0.2 Base ?text with $$ dollar ($) one$$ end");
	EXPECT4(ds, "127.0.0.6", "127.0.0.3 Base ?$ ($) one$$ end");
	EXPECT4(ds, "127.0.0.8", "127.0.0.3");
	zimg_free(img);

	/* without a base, "$=" is the entry's own text and "=" is dropped */
	img = ok("ip4set", "127.0.0.9 has $= inside\n127.0.0.4 =text eq\n");
	EXPECT4(img->ds[0], "127.0.0.9", "127.0.0.2 has has $$= inside inside");
	EXPECT4(img->ds[0], "127.0.0.4", "127.0.0.2 text eq");
	zimg_free(img);
}

/* ---- specials ----------------------------------------------------------- */

static void test_soa_ns_ttl(void **state)
{
	(void)state;
	char *a = tmpf("$TTL 1h\n$SOA 0 ns1.ex.com. admin.ex.com 0 2h 30m 1w 1h\n"
		       "$SOA 5 other.ex.com admin.ex.com 7 1 1 1 1\n"
		       "$NS 1d ns1.ex.com -ns2.ex.com ns3.ex.com.\n$NS 0 nsx.ex.com\n127.0.0.2\n");
	char *b = tmpf("$SOA 100 s2.ex.com admin.ex.com 99 2h 30m 1w 1h\n$TTL 7\n127.0.0.3\n$TTL 9\n");
	struct timespec ts[2] = { { .tv_sec = 1704164645 }, { .tv_sec = 1704164645 } };
	assert_int_equal(utimensat(AT_FDCWD, a, ts, 0), 0);
	ts[0].tv_sec = ts[1].tv_sec = 1735689600;
	assert_int_equal(utimensat(AT_FDCWD, b, ts, 0), 0);
	char s1[128], s2[128];
	snprintf(s1, sizeof(s1), "bl.example:ip4set:%s", a);
	snprintf(s2, sizeof(s2), "bl.example:ip4set:%s", b);
	const char *specs[2] = { s1, s2 };
	struct zimg *img;
	assert_int_equal(compile_zone(specs, 2, &quiet, &img), 0);
	assert_true(img->soa.present);
	assert_int_equal(img->soa.serial, 1735689600); /* newest file of the zone */
	assert_int_equal(img->soa.ttl, 3600);          /* $TTL in force */
	assert_int_equal(img->soa.refresh, 7200);
	assert_int_equal(img->soa.retry, 1800);
	assert_int_equal(img->soa.expire, 604800);
	assert_int_equal(img->soa.minimum, 3600);
	uint8_t w[DNAME_MAX];
	dname_from_text("ns1.ex.com", 10, w);
	assert_true(dname_wire_equal(img->soa.mname, w));
	assert_int_equal(img->n_ns, 2);
	assert_int_equal(img->ns_ttl, 86400);
	assert_true(dname_wire_equal(img->ns[0], w));
	assert_int_equal(img->n_ds, 2);
	assert_int_equal(img->ds[0]->ttl, 3600);
	assert_int_equal(img->ds[1]->ttl, 9); /* the last $TTL of a dataset */
	assert_int_equal(img->src_mtime, 1735689600);
	zimg_free(img);
	unlink(a), unlink(b), free(a), free(b);
}

static void test_special_prefixes(void **state)
{
	(void)state;
	struct zimg *img = ok("ip4set", "#$TTL 60\n;$1 v\n:$2 w\n  127.0.0.2 $1$2\n$BOGUS 1\n");
	assert_int_equal(img->ds[0]->ttl, 60);
	EXPECT4(img->ds[0], "127.0.0.2", "127.0.0.2 vw");
	assert_int_equal(img->n_errors, 1);
	zimg_free(img);
}

static void test_timestamp(void **state)
{
	(void)state;
	struct zimg *img = ok("ip4set", "$TIMESTAMP 2020:01:01:10:11:12 +2w\n"
					"$TIMESTAMP 2020-01-01 2021-01-01\n127.0.0.2\n");
	assert_int_equal(img->ts_generated, 1577873472);
	assert_int_equal(img->ts_expires, 1577873472 + 14 * 86400); /* earliest */
	zimg_free(img);
	img = ok("ip4set", "$TIMESTAMP 202001011011 -\n$TIMESTAMP - +1d\n127.0.0.2\n");
	assert_int_equal(img->ts_generated, 1577873460);
	assert_int_equal(img->ts_expires, 0);
	assert_int_equal(img->n_errors, 1); /* relative expiry needs a dstamp */
	zimg_free(img);
	img = NULL;
	/* a data timestamp in the future refuses the zone, strict or not */
	assert_int_equal(build("bl.example", "ip4set", "$TIMESTAMP 2999:01:01\n127.0.0.2\n",
			       &quiet, &img), GN_EPARSE);
	assert_null(img);
}

/* ---- generic, combined, master file ------------------------------------- */

static const struct zimg_rr *rr(const struct zimg_ds *ds, const char *name, uint16_t type)
{
	uint8_t k[DNAME_MAX];
	int kl = name[0] == '@' ? 0 : dname_text_to_key(name, strlen(name), k);
	for (size_t i = 0; i < ds->n_rr; i++)
		if (ds->rr[i].type == type && ds->rr[i].keylen == kl &&
		    memcmp(ds->rr[i].key, k, (size_t)kl) == 0)
			return &ds->rr[i];
	return NULL;
}

static void test_generic(void **state)
{
	(void)state;
	char long_txt[700];
	memset(long_txt, 'x', 600);
	long_txt[600] = 0;
	char text[2048];
	snprintf(text, sizeof(text),
		 "$TTL 10m\n@ A 127.0.0.8\nwww 3000 A 127.0.0.1\nabout TXT \"quoted text\"\n"
		 "plain TXT unquoted $1 text\n@ MX 10 mx.ex.com.\nm IN A 127.0.0.5\n"
		 "v6 AAAA 2001:db8::1\nns NS ns1.ex.com\nlong TXT %s\n$1 ignored\n", long_txt);
	struct zimg *img = ok("generic", text);
	const struct zimg_ds *ds = img->ds[0];
	assert_int_equal(img->n_errors, 2); /* AAAA and NS are not rbldnsd generic types */
	const struct zimg_rr *r = rr(ds, "@", 1);
	assert_non_null(r);
	assert_int_equal(r->ttl, 600);
	assert_memory_equal(r->rdata, "\x7f\0\0\x08", 4);
	assert_int_equal(rr(ds, "www", 1)->ttl, 3000);
	r = rr(ds, "about", 16);
	assert_int_equal(r->rdlen, 12);
	assert_memory_equal(r->rdata, "\x0bquoted text", 12);
	r = rr(ds, "plain", 16);
	assert_int_equal(r->rdlen, 17);
	assert_memory_equal(r->rdata, "\x10unquoted $1 text", 17);
	r = rr(ds, "@", 15);
	assert_int_equal(r->rdlen, 2 + 11);
	assert_memory_equal(r->rdata, "\0\x0a\x02mx\x02" "ex\x03" "com\0", 13);
	assert_non_null(rr(ds, "m", 1));
	r = rr(ds, "long", 16);
	assert_int_equal(r->rdlen, 603); /* 255 + 255 + 90, each with its length */
	assert_int_equal(r->rdata[0], 255);
	assert_int_equal(r->rdata[256], 255);
	assert_int_equal(r->rdata[512], 90);
	zimg_free(img);
}

static void test_combined(void **state)
{
	(void)state;
	struct zimg *img = ok("combined",
		"$NS 1w ns1.ex.com ns2.ex.com\n"
		"$SOA 1w ns1.ex.com admin.ex.com 0 2h 2h 1w 1h\n"
		"$TTL 1h\n$1 global\n"
		"$DATASET ip4set:proxy proxies @\n"
		":2:proxy $1 $2\n$2 local\n127.0.0.2\n"
		"$DATASET ip4set:relay relays @\n"
		":3:relay $1 $2\n$TTL 5m\n127.0.0.2\n"
		"$DATASET generic:common proxies relays @\n"
		"@ A 127.0.0.8\nwww A 127.0.0.8\n"
		"$DATASET dnset deep.sub\nexample.com :5:dn\n"
		"$DATASET ip4set:none\n127.0.0.77\n");
	assert_int_equal(img->n_ds, 4); /* the section without subzones is dropped */
	assert_true(img->soa.present);
	assert_int_equal(img->soa.ttl, 604800);
	assert_int_equal(img->n_ns, 2);
	const struct zimg_ds *p = img->ds[0], *r = img->ds[1], *g = img->ds[2], *d = img->ds[3];
	assert_string_equal(p->label, "ip4set:proxy");
	assert_int_equal(p->n_subs, 2);
	assert_int_equal(p->sub_lens[0], 8); /* "proxies" key */
	assert_int_equal(p->sub_lens[1], 0); /* "@" */
	assert_int_equal(p->ttl, 3600);
	assert_int_equal(r->ttl, 300);
	EXPECT4(p, "127.0.0.2", "127.0.0.2 proxy global local");
	EXPECT4(r, "127.0.0.2", "127.0.0.3 relay global $$2");
	assert_int_equal(g->n_subs, 3);
	assert_int_equal(g->n_rr, 2);
	assert_int_equal(d->n_subs, 1);
	uint8_t k[DNAME_MAX];
	assert_int_equal(dname_text_to_key("deep.sub", 8, k), d->sub_lens[0]);
	assert_memory_equal(d->subs[0], k, d->sub_lens[0]);
	zimg_free(img);

	/* TTL 0 in the common section's $NS/$SOA takes the common $TTL (found by
	 * fuzz_dataset: the common section has no dataset, and its scope was
	 * read through a NULL dataset pointer) */
	img = ok("combined", "$TTL 10m\n$NS 0 ns1.ex.com\n"
			     "$SOA 0 ns1.ex.com admin.ex.com 1 2h 2h 1w 1h\n"
			     "$DATASET ip4set a @\n127.0.0.2\n");
	assert_int_equal(img->ns_ttl, 600);
	assert_int_equal(img->soa.ttl, 600);
	zimg_free(img);

	/* the common section's $1 beats the section's own */
	img = ok("combined", "$1 global\n$DATASET ip4set a @\n$1 local\n127.0.0.2 $1\n");
	EXPECT4(img->ds[0], "127.0.0.2", "127.0.0.2 global");
	zimg_free(img);

	/* data before the first $DATASET refuses the zone, like rbldnsd */
	img = NULL;
	assert_int_equal(build("bl.example", "combined", "127.0.0.2\n$DATASET ip4set @\n", &quiet,
			       &img), GN_EPARSE);
	assert_null(img);
}

static void test_master_file(void **state)
{
	(void)state;
	struct zimg *img = ok("zone",
		"$TTL 300\n"
		"@ IN SOA ns1.ex.com. admin.ex.com. 42 3600 600 86400 60\n"
		"@ IN NS ns1.ex.com.\n@ IN NS ns2.ex.com.\n"
		"www IN A 192.0.2.1\nwww IN AAAA 2001:db8::1\n"
		"@ 600 IN MX 10 mx.ex.com.\n"
		"*.wild IN TXT \"hello\"\n"
		"sub IN NS ns.sub.bl.example.\n"
		"other.org. IN A 192.0.2.9\n"
		"srv IN SRV 0 0 25 www\n");
	assert_true(img->soa.present);
	assert_int_equal(img->soa.serial, 42);
	assert_int_equal(img->soa.minimum, 60);
	assert_int_equal(img->n_ns, 2);
	assert_int_equal(img->ns_ttl, 300);
	assert_int_equal(img->n_errors, 1); /* other.org. is outside the zone */
	const struct zimg_ds *ds = img->ds[0];
	assert_int_equal(ds->type, ZDS_ZONE);
	assert_non_null(rr(ds, "www", 1));
	assert_non_null(rr(ds, "www", 28));
	assert_int_equal(rr(ds, "@", 15)->ttl, 600);
	assert_non_null(rr(ds, "*.wild", 16));
	assert_non_null(rr(ds, "sub", 2));
	assert_null(rr(ds, "@", 6));
	const struct zimg_rr *s = rr(ds, "srv", 33);
	assert_non_null(s);
	/* relative target completed with the origin, uncompressed */
	assert_int_equal(s->rdlen, 6 + 1 + 3 + 1 + 2 + 1 + 7 + 1);
	assert_memory_equal(s->rdata + 6, "\x03www\x02" "bl\x07" "example", 15);
	zimg_free(img);
}

/* ---- specs -------------------------------------------------------------- */

static void test_specs(void **state)
{
	(void)state;
	char *a = tmpf("127.0.0.2\n"), *b = tmpf("example.com\n");
	char s1[128], s2[128], s3[128];
	snprintf(s1, sizeof(s1), "bl.example:ip4set:%s", a);
	snprintf(s2, sizeof(s2), "rhs.example:dnset:%s", b);
	snprintf(s3, sizeof(s3), "BL.example.:dnset:%s", b);
	const char *specs[3] = { s1, s2, s3 };
	struct zimg **imgs;
	size_t n;
	assert_int_equal(compile_specs(specs, 3, &quiet, &imgs, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(imgs[0]->name, "bl.example");
	assert_int_equal(imgs[0]->n_ds, 2);
	assert_int_equal(imgs[0]->ds[1]->type, ZDS_DNSET);
	assert_string_equal(imgs[1]->name, "rhs.example");
	compile_free_all(imgs, n);

	/* a master file's SOA/NS and a later $SOA/$NS: the first source wins */
	char *z = tmpf("@ 60 IN SOA ns1.ex.com. a.ex.com. 7 1 2 3 4\n@ 60 IN NS ns1.ex.com.\n");
	char *r = tmpf("$SOA 0 x.ex.com y.ex.com 9 1 1 1 1\n$NS 0 x.ex.com y.ex.com\n127.0.0.2\n");
	snprintf(s1, sizeof(s1), "MIX.example:zone:%s", z);
	snprintf(s2, sizeof(s2), "mix.example:ip4set:%s", r);
	const char *mix[2] = { s1, s2 };
	assert_int_equal(compile_specs(mix, 2, &quiet, &imgs, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(imgs[0]->name, "mix.example");
	assert_int_equal(imgs[0]->soa.serial, 7);
	assert_int_equal(imgs[0]->n_ns, 1);
	assert_int_equal(imgs[0]->n_ds, 2);
	compile_free_all(imgs, n);
	unlink(z), unlink(r), free(z), free(r);

	const char *bad[1] = { "bl.example:nosuchtype:/dev/null" };
	assert_int_equal(compile_specs(bad, 1, &quiet, &imgs, &n), GN_EINVAL);
	const char *missing[1] = { "bl.example:ip4set:/nonexistent/file" };
	assert_int_equal(compile_specs(missing, 1, &quiet, &imgs, &n), GN_ENOENT);
	const char *noname[1] = { "bl.example:ip4set" };
	assert_int_equal(compile_specs(noname, 1, &quiet, &imgs, &n), GN_EINVAL);
	unlink(a), unlink(b), free(a), free(b);
}

static void test_time_units(void **state)
{
	(void)state;
	uint32_t v;
	assert_int_equal(compile_parse_time("35m", 3, &v), 0);
	assert_int_equal(v, 2100);
	assert_int_equal(compile_parse_time("1w", 2, &v), 0);
	assert_int_equal(v, 604800);
	assert_int_equal(compile_parse_time("1h30m", 5, &v), 0);
	assert_int_equal(v, 5400);
	assert_int_equal(compile_parse_time("12", 2, &v), 0);
	assert_int_equal(v, 12);
	assert_int_equal(compile_parse_time("1x", 2, &v), GN_EINVAL);
	assert_int_equal(compile_parse_time("", 0, &v), GN_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip4set_forms),
		cmocka_unit_test(test_ip4set_levels),
		cmocka_unit_test(test_ip4set_multi),
		cmocka_unit_test(test_ip4set_bad_lines),
		cmocka_unit_test(test_maxrange4),
		cmocka_unit_test(test_ip4tset_ip4trie),
		cmocka_unit_test(test_ip6),
		cmocka_unit_test(test_dnset),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_default_scope_is_file),
		cmocka_unit_test(test_templates),
		cmocka_unit_test(test_base_template),
		cmocka_unit_test(test_soa_ns_ttl),
		cmocka_unit_test(test_special_prefixes),
		cmocka_unit_test(test_timestamp),
		cmocka_unit_test(test_generic),
		cmocka_unit_test(test_combined),
		cmocka_unit_test(test_master_file),
		cmocka_unit_test(test_specs),
		cmocka_unit_test(test_time_units),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
