/* tests/unit/test_xform.c - the transfer form: what each dataset kind
 * becomes as DNS records (checked on the printed master-file lines, the
 * form an operator compares with rbldnsd), the _gridns metadata, the
 * determinism of the emission and RFC 4034 canonical order. */
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
#include "zonesync/dump.h"
#include "zonesync/xform.h"

static char tmpdir[64];

static int setup(void **state)
{
	strcpy(tmpdir, "/tmp/gridns-test-xform-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Compile `text` as zone:type and return the image. */
static struct zimg *compile_text(const char *zone, const char *type, const char *text)
{
	char path[128], spec[256];
	struct compile_opts o = { .quiet = true };
	const char *specs[1] = { spec };
	struct zimg *img = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.%s", tmpdir, zone, type);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	snprintf(spec, sizeof(spec), "%s:%s:%s", zone, type, path);
	assert_int_equal(compile_zone(specs, 1, &o, &img), 0);
	return img;
}

/* The image printed as master-file lines (caller frees). */
static char *dump_text(const struct zimg *img)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(dump_image(img, f), 0);
	fclose(f);
	return buf;
}

static void has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == 0))
			return;
	fail_msg("missing line: %s\n--- in:\n%s", line, text);
}

static void no_owner(const char *text, const char *owner)
{
	char pat[300];
	snprintf(pat, sizeof(pat), "\n%s\t", owner);
	if (strstr(text, pat))
		fail_msg("unexpected owner %s in:\n%s", owner, text);
}

#define HEAD "$SOA 600 ns1.x.test. hm.x.test. 5 3600 600 86400 300\n$NS 3600 ns1.x.test\n$TTL 300\n"

static void test_ip4set(void **state)
{
	struct zimg *img = compile_text("x.test", "ip4set",
		HEAD ":127.0.0.2:Listed $\n127.0.0.2\n10.1.2.0/24\n10.2.0.0/23 :3:pair\n"
		"192.0.2.0/24\n!192.0.2.1\n");
	char *t = dump_text(img);

	has_line(t, "x.test.\t600\tIN\tSOA\tns1.x.test. hm.x.test. 5 3600 600 86400 300");
	has_line(t, "x.test.\t3600\tIN\tNS\tns1.x.test.");
	has_line(t, "2.0.0.127.x.test.\t300\tIN\tA\t127.0.0.2");
	has_line(t, "2.0.0.127.x.test.\t300\tIN\tTXT\t\"Listed $\"");
	/* octet-aligned block: one wildcard; a /23: two */
	has_line(t, "*.2.1.10.x.test.\t300\tIN\tA\t127.0.0.2");
	has_line(t, "*.0.2.10.x.test.\t300\tIN\tA\t127.0.0.3");
	has_line(t, "*.1.2.10.x.test.\t300\tIN\tTXT\t\"pair\"");
	/* a /24 with a hole: spelled out, no wildcard, no name for the hole */
	has_line(t, "0.2.0.192.x.test.\t300\tIN\tA\t127.0.0.2");
	has_line(t, "255.2.0.192.x.test.\t300\tIN\tA\t127.0.0.2");
	no_owner(t, "1.2.0.192.x.test.");
	no_owner(t, "*.2.0.192.x.test.");
	assert_non_null(strstr(t, "\n; dataset ip4set ip4set:"));
	/* the metadata names the file without its directory */
	assert_non_null(strstr(t, "\"sub=@\" \"label=ip4set:x.test.ip4set\"\n"));
	free(t);
	zimg_free(img);
}

static void test_ip4_long_txt_split(void **state)
{
	char src[1024], want[1024];
	char txt[301];
	memset(txt, 'a', 300);
	txt[300] = 0;
	snprintf(src, sizeof(src), HEAD ":2:%s\n127.0.0.2\n", txt);
	struct zimg *img = compile_text("x.test", "ip4set", src);
	char *t = dump_text(img);
	snprintf(want, sizeof(want), "2.0.0.127.x.test.\t300\tIN\tTXT\t\"%.255s\" \"%.45s\"", txt, txt);
	has_line(t, want);
	free(t);
	zimg_free(img);
}

static void test_ip6(void **state)
{
	struct zimg *img = compile_text("x.test", "ip6trie",
		HEAD ":127.0.0.2:v6 $\n::ffff:7f00:2\n2001:db8::/32\n2001:db9::/34 :3:odd\n");
	char *t = dump_text(img);

	has_line(t, "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.x.test.\t300\tIN\tA\t127.0.0.2");
	has_line(t, "*.8.b.d.0.1.0.0.2.x.test.\t300\tIN\tA\t127.0.0.2");
	/* /34 is not nibble aligned: four /36 wildcards */
	has_line(t, "*.0.9.b.d.0.1.0.0.2.x.test.\t300\tIN\tA\t127.0.0.3");
	has_line(t, "*.3.9.b.d.0.1.0.0.2.x.test.\t300\tIN\tTXT\t\"odd\"");
	no_owner(t, "*.4.9.b.d.0.1.0.0.2.x.test.");
	free(t);
	zimg_free(img);
}

static void test_dnset(void **state)
{
	struct zimg *img = compile_text("x.test", "dnset",
		HEAD ":127.0.1.2:Domain $ listed\ntest\n.bad.example\n!ok.bad.example\n*.wild.example\n");
	char *t = dump_text(img);

	has_line(t, "test.x.test.\t300\tIN\tA\t127.0.1.2");
	has_line(t, "test.x.test.\t300\tIN\tTXT\t\"Domain $ listed\"");
	has_line(t, "bad.example.x.test.\t300\tIN\tA\t127.0.1.2");
	has_line(t, "*.bad.example.x.test.\t300\tIN\tA\t127.0.1.2");
	has_line(t, "ok.bad.example.x.test.\t300\tIN\tTYPE65280\t\\# 0");
	has_line(t, "*.wild.example.x.test.\t300\tIN\tA\t127.0.1.2");
	no_owner(t, "wild.example.x.test.");
	free(t);
	zimg_free(img);
}

static void test_master_file_records_as_is(void **state)
{
	struct zimg *img = compile_text("r.test", "zone",
		"$ORIGIN r.test.\n$TTL 300\n@ SOA ns1 hm 9 3600 600 86400 300\n@ NS ns1\n"
		"ns1 A 192.0.2.53\n@ MX 10 mx1\n*.c MX 10 mx1\nwww CNAME mx1\n");
	char *t = dump_text(img);

	has_line(t, "r.test.\t300\tIN\tMX\t10 mx1.r.test.");
	has_line(t, "*.c.r.test.\t300\tIN\tMX\t10 mx1.r.test.");
	has_line(t, "www.r.test.\t300\tIN\tCNAME\tmx1.r.test.");
	has_line(t, "ns1.r.test.\t300\tIN\tA\t192.0.2.53");
	has_line(t, "r.test.\t300\tIN\tNS\tns1.r.test.");
	free(t);
	zimg_free(img);
}

static void test_metadata_and_subzones(void **state)
{
	struct zimg *img = compile_text("c.test", "combined",
		HEAD "$DATASET ip4set:proxy proxies @\n:2:proxy $\n127.0.0.2\n"
		"$DATASET dnset rhs\n:2:rhs $\nspam.example\n");
	char *t = dump_text(img);

	has_line(t, "_gridns.c.test.\t600\tIN\tTXT\t\"v=1\" \"zone\" \"datasets=2\"");
	assert_non_null(strstr(t, "\"v=1\" \"ds=0\" \"type=ip4set\" \"ttl=300\" \"sub=proxies\" \"sub=@\" \"label="));
	assert_non_null(strstr(t, "\"v=1\" \"ds=1\" \"type=dnset\" \"ttl=300\" \"sub=rhs\" \"label="));
	/* one dataset at two attachment points: its records under both */
	has_line(t, "2.0.0.127.proxies.c.test.\t300\tIN\tA\t127.0.0.2");
	has_line(t, "2.0.0.127.c.test.\t300\tIN\tA\t127.0.0.2");
	has_line(t, "spam.example.rhs.c.test.\t300\tIN\tTXT\t\"rhs $\"");
	free(t);
	zimg_free(img);
}

struct collect {
	char *buf;
	size_t len;
	FILE *f;
	size_t n;
};

static int collect(void *arg, const struct xform_rr *rr)
{
	struct collect *c = arg;
	assert_int_equal(rr->rclass, XFORM_CLASS_IN);
	assert_int_equal(dname_wire_len(rr->owner), rr->owner_len);
	fwrite(rr->owner, 1, rr->owner_len, c->f);
	fwrite(&rr->type, 2, 1, c->f);
	fwrite(&rr->ttl, 4, 1, c->f);
	fwrite(rr->rdata, 1, rr->rdlen, c->f);
	c->n++;
	return 0;
}

static int stop_at_3(void *arg, const struct xform_rr *rr)
{
	size_t *n = arg;
	return ++*n == 3 ? 42 : 0;
}

static void test_deterministic_and_stoppable(void **state)
{
	struct zimg *img = compile_text("x.test", "ip4set",
		HEAD "127.0.0.2\n10.0.0.0/8\n172.16.5.0/25\n");
	struct collect a = { 0 }, b = { 0 };
	size_t n = 0;

	a.f = open_memstream(&a.buf, &a.len);
	b.f = open_memstream(&b.buf, &b.len);
	assert_int_equal(xform_emit(img, collect, &a), 0);
	assert_int_equal(xform_emit(img, collect, &b), 0);
	fclose(a.f);
	fclose(b.f);
	assert_true(a.n > 128);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.buf, b.buf, a.len);
	assert_int_equal(xform_emit(img, stop_at_3, &n), 42);
	assert_int_equal(n, 3);
	free(a.buf);
	free(b.buf);
	zimg_free(img);
}

/* RFC 4034 section 6.1's own example, in order. */
static void test_canonical_name_order(void **state)
{
	static const char *const order[] = {
		"example", "a.example", "yljkjljk.a.example", "Z.a.example",
		"zABC.a.EXAMPLE", "z.example", "\\001.z.example", "*.z.example",
		"\\200.z.example",
	};
	uint8_t w[9][DNAME_MAX];
	for (int i = 0; i < 9; i++)
		assert_true(dname_from_text(order[i], strlen(order[i]), w[i]) > 0);
	for (int i = 0; i < 9; i++)
		for (int j = 0; j < 9; j++) {
			int c = xform_name_cmp(w[i], w[j]);
			if ((i < j && c >= 0) || (i > j && c <= 0) || (i == j && c != 0))
				fail_msg("%s vs %s: %d", order[i], order[j], c);
		}
}

static void test_rr_cmp_ttl_last(void **state)
{
	uint8_t o[DNAME_MAX], a1[4] = { 127, 0, 0, 2 }, a2[4] = { 127, 0, 0, 3 };
	dname_from_text("x.test", 6, o);
	struct xform_rr x = { .owner = o, .owner_len = 8, .type = 1, .ttl = 600, .rdlen = 4, .rdata = a1 };
	struct xform_rr y = x;
	y.ttl = 300;
	assert_true(xform_rr_cmp(&y, &x) < 0);
	y.ttl = 900;
	y.rdata = a2;
	assert_true(xform_rr_cmp(&x, &y) < 0); /* rdata decides before TTL */
	y.type = 16;
	y.rdata = a1;
	assert_true(xform_rr_cmp(&x, &y) < 0);
	y = x;
	assert_int_equal(xform_rr_cmp(&x, &y), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip4set),
		cmocka_unit_test(test_ip4_long_txt_split),
		cmocka_unit_test(test_ip6),
		cmocka_unit_test(test_dnset),
		cmocka_unit_test(test_master_file_records_as_is),
		cmocka_unit_test(test_metadata_and_subzones),
		cmocka_unit_test(test_deterministic_and_stoppable),
		cmocka_unit_test(test_canonical_name_order),
		cmocka_unit_test(test_rr_cmp_ttl_last),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
