/* tests/unit/test_tools.c - DNSBL names, answer classification, the DNS
 * client's packet code and blcheck's inputs (tools/tdnsbl, tdns, tbl). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "common/err.h"
#include "tools/tbl.h"
#include "tools/tdns.h"
#include "tools/tdnsbl.h"
#include "tools/thttp.h"
#include "tools/tutil.h"

static void qn(const char *target, const char *zone, const char *want)
{
	char out[DNAME_TEXT_MAX];
	int n = tdnsbl_qname(target, zone, out, sizeof(out));

	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(out, want);
}

static void test_qname(void **state)
{
	qn("192.0.2.1", "bl.example", "1.2.0.192.bl.example");
	qn("127.0.0.2", "zen.spamhaus.org.", "2.0.0.127.zen.spamhaus.org");
	qn("::ffff:7f00:2", "bl.example",
	   "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.example");
	qn("2001:db8::1", "v6.example",
	   "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.v6.example");
	qn("spam.example", "dbl.example", "spam.example.dbl.example");
	qn("spam.example.", "dbl.example", "spam.example.dbl.example");
	qn("test", "dbl.example", "test.dbl.example");
}

static void test_qname_bad(void **state)
{
	char out[DNAME_TEXT_MAX], name[300];

	assert_true(tdnsbl_qname("", "bl.example", out, sizeof(out)) < 0);
	assert_true(tdnsbl_qname("1.2.3.4/24", "bl.example", out, sizeof(out)) < 0);
	assert_true(tdnsbl_qname("1:2:3", "bl.example", out, sizeof(out)) < 0);
	assert_true(tdnsbl_qname("a..b", "bl.example", out, sizeof(out)) < 0);
	assert_true(tdnsbl_qname("1.2.3.4", "", out, sizeof(out)) < 0);
	/* 250 octets of target plus a zone exceed 255 */
	memset(name, 'a', 250);
	for (int i = 60; i < 250; i += 61)
		name[i] = '.';
	name[250] = '\0';
	assert_true(tdnsbl_qname(name, "bl.example", out, sizeof(out)) < 0);
	/* a small output buffer is an error, not a truncation */
	assert_true(tdnsbl_qname("192.0.2.1", "bl.example", out, 10) < 0);
}

static void test_parse_target(void **state)
{
	uint8_t a[16];

	assert_int_equal(tdnsbl_parse_target("10.0.0.1", a), TDNSBL_IP4);
	assert_int_equal(tdnsbl_parse_target("::1", a), TDNSBL_IP6);
	assert_int_equal(tdnsbl_parse_target("example.com", a), TDNSBL_DOMAIN);
	assert_true(tdnsbl_parse_target("10.0.0.0/8", a) < 0);
	assert_true(tdnsbl_parse_target("", a) < 0);
}

static struct tdns_query answered(int rcode, int n, ...)
{
	struct tdns_query q;
	va_list ap;

	memset(&q, 0, sizeof(q));
	q.status = TDNS_ANSWERED;
	q.rcode = rcode;
	q.n_a = n;
	va_start(ap, n);
	for (int i = 0; i < n && i < TDNS_MAX_A; i++)
		q.a[i] = va_arg(ap, uint32_t);
	va_end(ap);
	return q;
}

static void test_classify(void **state)
{
	struct tdnsbl_result r;
	struct tdns_query q;

	q = answered(3, 0);
	tdnsbl_classify(&q, 0, &r);
	assert_int_equal(r.verdict, TDNSBL_NOT_LISTED);

	q = answered(0, 2, 0x7f000002u, 0x7f00000au);
	tdnsbl_classify(&q, 0, &r);
	assert_int_equal(r.verdict, TDNSBL_LISTED);
	assert_string_equal(r.reason, "127.0.0.2,127.0.0.10");

	/* Everything else is unknown, each with its own reason. */
	q = answered(2, 0);
	tdnsbl_classify(&q, 0, &r);
	assert_int_equal(r.verdict, TDNSBL_UNKNOWN);
	assert_non_null(strstr(r.reason, "SERVFAIL"));

	q = answered(5, 0);
	tdnsbl_classify(&q, 0, &r);
	assert_int_equal(r.verdict, TDNSBL_UNKNOWN);
	assert_non_null(strstr(r.reason, "REFUSED"));

	q = answered(0, 0);
	tdnsbl_classify(&q, 0, &r);
	assert_int_equal(r.verdict, TDNSBL_UNKNOWN);
	assert_non_null(strstr(r.reason, "NODATA"));

	q = answered(0, 1, 0xc0000201u); /* a rewritten answer, not a listing */
	tdnsbl_classify(&q, 0, &r);
	assert_int_equal(r.verdict, TDNSBL_UNKNOWN);
	assert_non_null(strstr(r.reason, "outside 127.0.0.0/8"));

	q = answered(0, 2, 0x7f000002u, 0x7ffffffeu); /* one error code spoils all */
	tdnsbl_classify(&q, 0, &r);
	assert_int_equal(r.verdict, TDNSBL_UNKNOWN);
	assert_int_equal(r.error_code, 0x7ffffffeu);
	assert_non_null(strstr(r.reason, "blocked"));

	q = answered(0, 1, 0x7fffffffu);
	tdnsbl_classify(&q, 0, &r);
	assert_non_null(strstr(r.reason, "too many queries"));
	q = answered(0, 1, 0x7ffffffcu);
	tdnsbl_classify(&q, 0, &r);
	assert_non_null(strstr(r.reason, "typo"));

	memset(&q, 0, sizeof(q));
	q.status = TDNS_TIMEOUT;
	q.tries = 2;
	tdnsbl_classify(&q, 0, &r);
	assert_int_equal(r.verdict, TDNSBL_UNKNOWN);
	assert_non_null(strstr(r.reason, "timeout"));
	tdnsbl_classify(&q, 1, &r);
	assert_non_null(strstr(r.reason, "nothing listens"));
}

/* Build a reply to q by hand: header, question, then the given RRs. */
static size_t reply(const struct tdns_query *q, uint16_t id, int rcode, const uint8_t *rrs,
		    size_t rrlen, int ancount, uint8_t *pkt)
{
	int n = tdns_build_query(q, id, pkt, 600);
	assert_true(n > 0);
	size_t qend = 12 + (size_t)q->wlen + 4;
	pkt[2] = 0x81;
	pkt[3] = (uint8_t)(0x80 | rcode);
	pkt[6] = 0;
	pkt[7] = (uint8_t)ancount;
	pkt[10] = pkt[11] = 0;
	if (rrlen)
		memcpy(pkt + qend, rrs, rrlen);
	return qend + rrlen;
}

static void test_packets(void **state)
{
	struct tdns_query q;
	uint8_t pkt[600];

	memset(&q, 0, sizeof(q));
	strcpy(q.qname, "2.0.0.127.bl.example");
	q.qtype = TDNS_TYPE_A;
	q.wlen = dname_from_text(q.qname, strlen(q.qname), q.wire);
	assert_true(q.wlen > 0);

	int n = tdns_build_query(&q, 0x1234, pkt, sizeof(pkt));
	assert_int_equal(n, 12 + q.wlen + 4 + 11);
	assert_int_equal(pkt[0], 0x12);
	assert_int_equal(pkt[2] & 0x01, 1); /* RD */
	assert_int_equal(pkt[11], 1);       /* OPT */
	assert_true(tdns_build_query(&q, 1, pkt, 20) < 0);

	/* A 127.0.0.2 (compressed owner) + TXT "Listed" + A 127.0.0.4 */
	static const uint8_t rrs[] = {
		0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 2,
		0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, 7, 6, 'L', 'i', 's', 't', 'e', 'd',
		0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 4,
	};
	size_t len = reply(&q, 7, 0, rrs, sizeof(rrs), 3, pkt);
	assert_int_equal(tdns_parse_reply(&q, pkt, len), 0);
	assert_int_equal(q.n_a, 2);
	assert_int_equal(q.a[0], 0x7f000002u);
	assert_int_equal(q.a[1], 0x7f000004u);
	assert_int_equal(q.n_answer, 3);
	assert_string_equal(q.txt, "Listed");

	/* Every prefix of the packet is rejected or parsed, never overread. */
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		memcpy(copy, pkt, cut);
		(void)tdns_parse_reply(&q, copy, cut);
		free(copy);
	}

	/* Another question (a late reply to a reused ID) is refused. */
	len = reply(&q, 7, 0, rrs, sizeof(rrs), 3, pkt);
	pkt[12 + 1] = '3';
	assert_int_equal(tdns_parse_reply(&q, pkt, len), GN_EINVAL);
	/* Case differences are fine (0x20 randomisation, RFC 4343). */
	len = reply(&q, 7, 0, rrs, sizeof(rrs), 3, pkt);
	pkt[12 + 11] = 'B';
	assert_int_equal(tdns_parse_reply(&q, pkt, len), 0);
	/* Not a response */
	pkt[2] = 0x01;
	assert_int_equal(tdns_parse_reply(&q, pkt, len), GN_EINVAL);
	/* NXDOMAIN without answers */
	len = reply(&q, 7, 3, NULL, 0, 0, pkt);
	assert_int_equal(tdns_parse_reply(&q, pkt, len), 0);
	assert_int_equal(q.rcode, 3);
	assert_int_equal(q.n_a, 0);
	/* ancount larger than the records present */
	len = reply(&q, 7, 0, rrs, 16, 5, pkt);
	assert_int_equal(tdns_parse_reply(&q, pkt, len), GN_EINVAL);
}

static void test_tdns_dead_server(void **state)
{
	struct tdns_query q[2];
	struct tdns_opts o;
	struct addr a;
	int refused = 0;

	memset(q, 0, sizeof(q));
	strcpy(q[0].qname, "2.0.0.127.bl.example");
	strcpy(q[1].qname, "1.0.0.127.bl.example");
	q[0].qtype = q[1].qtype = TDNS_TYPE_A;
	tdns_opts_default(&o);
	o.timeout_ms = 50;
	assert_int_equal(addr_parse("127.0.0.1:1", 0, &a, NULL), 0);
	assert_int_equal(tdns_run(&a, q, 2, &o, NULL, &refused), 0);
	assert_int_equal(q[0].status, TDNS_TIMEOUT);
	assert_int_equal(q[1].status, TDNS_TIMEOUT);
	assert_int_equal(q[0].tries, 2);

	size_t bad = 99;
	strcpy(q[1].qname, "a..b");
	assert_int_equal(tdns_run(&a, q, 2, &o, &bad, NULL), GN_EINVAL);
	assert_int_equal(bad, 1);
	o.inflight = 0;
	assert_int_equal(tdns_run(&a, q, 1, &o, NULL, NULL), GN_EINVAL);
}

static void test_expand(void **state)
{
	struct tbl_target t[600];
	size_t n = 0;

	assert_int_equal(tbl_expand("192.0.2.5/30", t, 600, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(t[0].text, "192.0.2.4");
	assert_string_equal(t[3].text, "192.0.2.7");
	assert_int_equal(tbl_expand("10.0.0.0/24", t, 600, &n), 0);
	assert_int_equal(n, 260);
	assert_string_equal(t[259].text, "10.0.0.255");
	assert_int_equal(tbl_expand("10.0.0.0/23", t, 600, &n), GN_ERANGE);
	assert_int_equal(tbl_expand("2001:db8::/126", t, 600, &n), 0);
	assert_int_equal(n, 264);
	assert_string_equal(t[263].text, "2001:db8::3");
	assert_int_equal(t[263].kind, TDNSBL_IP6);
	assert_int_equal(tbl_expand("2001:db8::/64", t, 600, &n), GN_ERANGE);
	assert_int_equal(tbl_expand("example.com", t, 600, &n), 0);
	assert_int_equal(t[264].kind, TDNSBL_DOMAIN);
	assert_int_equal(tbl_expand("192.0.2.1/33", t, 600, &n), GN_EINVAL);
	assert_int_equal(tbl_expand("192.0.2.1/", t, 600, &n), GN_EINVAL);
	assert_int_equal(tbl_expand("host/24", t, 600, &n), GN_EINVAL);
	assert_int_equal(tbl_expand("192.0.2.1/32", t, 600, &n), 0);
	assert_int_equal(n, 266);
	n = 599;
	assert_int_equal(tbl_expand("192.0.2.0/30", t, 600, &n), GN_ELIMIT);
}

static void test_lists_file(void **state)
{
	char path[] = "/tmp/gridns-test-lists.XXXXXX";
	struct tbl_list *l = NULL;
	size_t n = 0;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	const char *text = "# our lists\nzen.example\n\n  dbl.example domain # names\n"
			   "bl6.example ip\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(tbl_parse_lists(path, &l, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(l[0].zone, "zen.example");
	assert_int_equal(l[0].kind, TBL_LIST_IP);
	assert_string_equal(l[1].zone, "dbl.example");
	assert_int_equal(l[1].kind, TBL_LIST_DOMAIN);
	free(l);

	FILE *f = fopen(path, "w");
	fputs("zen.example\nbad.example weird\n", f);
	fclose(f);
	assert_int_equal(tbl_parse_lists(path, &l, &n), GN_EINVAL);
	f = fopen(path, "w");
	fputs("# nothing\n", f);
	fclose(f);
	assert_int_equal(tbl_parse_lists(path, &l, &n), GN_EINVAL);
	unlink(path);
	assert_int_equal(tbl_parse_lists(path, &l, &n), GN_EIO);
}

static void test_url(void **state)
{
	char h[64], p[8], path[64];

	assert_int_equal(thttp_split("http://127.0.0.1:9153/metrics", h, 64, p, 8, path, 64), 0);
	assert_string_equal(h, "127.0.0.1");
	assert_string_equal(p, "9153");
	assert_string_equal(path, "/metrics");
	assert_int_equal(thttp_split("http://[::1]:9153", h, 64, p, 8, path, 64), 0);
	assert_string_equal(h, "::1");
	assert_string_equal(path, "/metrics");
	assert_int_equal(thttp_split("http://node1/m", h, 64, p, 8, path, 64), 0);
	assert_string_equal(p, "80");
	assert_int_equal(thttp_split("https://node1/", h, 64, p, 8, path, 64), GN_EINVAL);
	assert_int_equal(thttp_split("http://:80/", h, 64, p, 8, path, 64), GN_EINVAL);
	assert_int_equal(thttp_split("http://h:99999999/", h, 64, p, 8, path, 64), GN_EINVAL);
	assert_int_equal(thttp_split("http://h:x/", h, 64, p, 8, path, 64), GN_EINVAL);
	assert_int_equal(thttp_split("http://h/a b", h, 64, p, 8, path, 64), GN_EINVAL);
	assert_int_equal(thttp_split("http://h/a\r\nX: y", h, 64, p, 8, path, 64), GN_EINVAL);
	assert_int_equal(thttp_split("http://[::1/", h, 64, p, 8, path, 64), GN_EINVAL);
}

static void test_json_and_numbers(void **state)
{
	char buf[256];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	long v = 0;

	assert_non_null(f);
	tutil_json_str(f, "a\"b\\c\n\x01\xc3\xa9");
	fclose(f);
	assert_string_equal(buf, "\"a\\\"b\\\\c\\u000a\\u0001\\u00c3\\u00a9\"");
	assert_int_equal(tutil_int("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(tutil_int("101", 0, 100, &v), GN_EINVAL);
	assert_int_equal(tutil_int("4x", 0, 100, &v), GN_EINVAL);
	assert_int_equal(tutil_int("", 0, 100, &v), GN_EINVAL);
	assert_int_equal(tutil_int("-1", 0, 100, &v), GN_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qname),
		cmocka_unit_test(test_qname_bad),
		cmocka_unit_test(test_parse_target),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_packets),
		cmocka_unit_test(test_tdns_dead_server),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_lists_file),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_json_and_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
