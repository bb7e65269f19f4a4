/* tests/unit/test_answer.c - the local answer engine end to end: zones built
 * with the zimg builders, stored with snap_put_zones, answered through
 * answer_query, and checked octet-level by an independent parser.  Expected
 * answers were taken from rbldnsd 1.0pre (Debian) on the same data, except
 * for the differences documented in docs/answers.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "common/dname.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "resolver/answer.h"
#include "zonesync/snap.h"
#include "zonesync/zimg.h"
#include <lmdb.h>
#include "zonesync/snap_format.h"
#include "test_answer_fix.h"

static void test_listed_ip4(void **state)
{
	struct fx *f = *state;
	struct t_msg *m = ask(f, "4.3.2.1.bl.ex", 1);
	assert_int_equal(m->rcode, 0);
	assert_true(AA(m));
	assert_string_equal(m->qname, "4.3.2.1.bl.ex");
	assert_int_equal(m->an, 1);
	assert_string_equal(m->rr[0].owner, "4.3.2.1.bl.ex");
	assert_string_equal(m->rr[0].text, "127.0.0.2");
	assert_int_equal(m->rr[0].ttl, 300);
	assert_int_equal(m->ns, 2); /* zone NS in authority, as rbldnsd */
	assert_true(t_find(m, 1, 2, "ns1.ex.com") >= 0);

	m = ask(f, "4.3.2.1.bl.ex", 16);
	assert_int_equal(m->an, 1);
	assert_string_equal(m->rr[0].text, "Listed 1.2.3.4 see http://x/?1.2.3.4 costs $5");

	m = ask(f, "4.3.2.1.bl.ex", 255);
	assert_int_equal(m->an, 2);
	assert_int_equal(m->rr[0].type, 1);
	assert_int_equal(m->rr[1].type, 16);

	/* rbldnsd accepts up to 3 digits per octet */
	m = ask(f, "04.3.2.1.bl.ex", 1);
	assert_int_equal(m->an, 1);
	m = ask(f, "2.1.1.10.bl.ex", 16);
	assert_string_equal(m->rr[0].text, "ten 10.1.1.2");
}

static void test_unlisted_and_nodata(void **state)
{
	struct fx *f = *state;
	struct t_msg *m = ask(f, "5.3.2.1.bl.ex", 1);
	assert_int_equal(m->rcode, 3);
	assert_true(AA(m));
	assert_int_equal(m->an, 0);
	assert_int_equal(m->ns, 1);
	assert_int_equal(m->rr[0].type, 6);
	assert_string_equal(m->rr[0].owner, "bl.ex");
	assert_int_equal(m->rr[0].ttl, 600); /* min(3600, 600) */
	assert_string_equal(m->rr[0].text, "ns1.ex.com admin.ex.com 42 7200 3600 604800 600");

	m = ask(f, "1.1.1.10.bl.ex", 16); /* the exclusion hole */
	assert_int_equal(m->rcode, 3);
	for (const char *const *n = (const char *const[]){ "0004.3.2.1.bl.ex", "4.3.2.256.bl.ex",
			   "1.2.3.4.5.bl.ex", "foo.bl.ex", "x.4.3.2.1.bl.ex", "-1.3.2.1.bl.ex", NULL };
	     *n; n++) {
		m = ask(f, *n, 1);
		assert_int_equal(m->rcode, 3);
	}
	m = ask(f, "4.3.2.1.bl.ex", 15); /* listed, other type */
	assert_int_equal(m->rcode, 0);
	assert_int_equal(m->an, 0);
	assert_int_equal(m->ns, 1);
	assert_int_equal(m->rr[0].type, 6);
	m = ask(f, "www.bl.ex", 16);
	assert_int_equal(m->rcode, 0);
	assert_int_equal(m->an, 0);
	m = ask(f, "x.www.bl.ex", 1);
	assert_int_equal(m->rcode, 3);
}

static void test_empty_non_terminals(void **state)
{
	struct fx *f = *state;
	/* Deliberate difference: rbldnsd says NXDOMAIN. */
	for (const char *const *n = (const char *const[]){ "3.2.1.bl.ex", "2.1.bl.ex", "1.bl.ex",
			   "10.bl.ex", "0.0.127.bl.ex", "8.b.d.0.1.0.0.2.v6.ex", "com.dn.ex",
			   "net.dn.ex", "deep.rt.ex", "cust.rt.ex", NULL };
	     *n; n++) {
		struct t_msg *m = ask(f, *n, 1);
		if (m->rcode != 0)
			fail_msg("%s: rcode %d", *n, m->rcode);
		assert_int_equal(m->an, 0);
		assert_true(AA(m));
	}
	struct t_msg *m = ask(f, "4.2.1.bl.ex", 1);
	assert_int_equal(m->rcode, 3);
	m = ask(f, "9.b.d.0.1.0.0.2.v6.ex", 1);
	assert_int_equal(m->rcode, 3);
}

static void test_apex(void **state)
{
	struct fx *f = *state;
	struct t_msg *m = ask(f, "bl.ex", 6);
	assert_int_equal(m->rcode, 0);
	assert_int_equal(m->an, 1);
	assert_int_equal(m->rr[0].ttl, 3600);
	assert_int_equal(m->ns, 2);
	m = ask(f, "BL.ex", 2);
	assert_int_equal(m->an, 2);
	assert_string_equal(m->qname, "BL.ex");
	assert_true(t_find(m, 0, 2, "ns2.ex.com") >= 0);
	assert_int_equal(m->ns, 0); /* not repeated in authority */
	m = ask(f, "bl.ex", 16);
	assert_int_equal(m->an, 1);
	assert_string_equal(m->rr[0].text, "hello world");
	m = ask(f, "bl.ex", 15);
	assert_int_equal(m->an, 1);
	assert_string_equal(m->rr[0].text, "10 mx.ex.com");
	m = ask(f, "bl.ex", 1);
	assert_int_equal(m->rcode, 0);
	assert_int_equal(m->an, 0);
	assert_int_equal(m->rr[0].type, 6);
	m = ask(f, "bl.ex", 255); /* RFC 8482: one RRset */
	assert_int_equal(m->an, 1);
	assert_int_equal(m->rr[0].type, 6);
	m = ask(f, "www.bl.ex", 1);
	assert_string_equal(m->rr[0].text, "127.0.0.8");
	assert_int_equal(m->rr[0].ttl, 2100);
	/* combined subzones share the base zone's SOA */
	m = ask(f, "proxies.cb.ex", 6);
	assert_int_equal(m->rcode, 0);
	assert_int_equal(m->an, 0);
	assert_string_equal(m->rr[0].owner, "cb.ex");
	assert_int_equal(m->rr[0].ttl, 100); /* min(100, 3600); rbldnsd: 3600 */
}

/* Reversed-nibble query name for an IPv6 address, below `zone`; `upper`
 * writes hex digits in uppercase (names are case-insensitive). */
static const char *rev6(const char *addr, const char *zone, bool upper)
{
	static char buf[200];
	uint8_t a[16];
	size_t o = 0;
	assert_int_equal(inet_pton(AF_INET6, addr, a), 1);
	for (int i = 31; i >= 0; i--) {
		unsigned nib = i % 2 ? a[i / 2] & 15 : a[i / 2] >> 4;
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, upper ? "%X." : "%x.", nib);
	}
	snprintf(buf + o, sizeof(buf) - o, "%s", zone);
	return buf;
}

static void test_ip6(void **state)
{
	struct fx *f = *state;
	static const char *const cases[][2] = {
		{ "2001:db8::1", "v6 2001:db8::1 listed" },
		{ "2001:db8:1:0:1:0:0:1", "v6 2001:db8:1:0:1::1 listed" },
		{ "2001:db8:1:0:0:1:0:0", "v6 2001:db8:1::1:0:0 listed" },
		{ "2001:db8:1::", "v6 2001:db8:1:: listed" },
		{ "2001:db8:1:ab:cd00::", "v6 2001:db8:1:ab:cd00:: listed" },
		{ "2001:db8:1:0:1:1:0:0", "v6 2001:db8:1:0:1:1:: listed" },
		{ "2001:db8:1:0:1:1:1:1", "v6 2001:db8:1:0:1:1:1:1 listed" },
		{ "2001:db8:1:ffff:1:1:1:0", "v6 2001:db8:1:ffff:1:1:1:0 listed" },
		{ "::ffff:1.2.3.4", "v6 ::ffff:102:304 listed" },
		{ "::1.2.3.4", "v6 ::102:304 listed" },
		{ "::2", "v6 ::2 listed" },
		{ "::ffff:0.0.0.1", "v6 ::ffff:0:1 listed" },
	};
	struct t_msg *m;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m = ask(f, rev6(cases[i][0], "v6.ex", i % 2), 16);
		assert_int_equal(m->rcode, 0);
		assert_string_equal(m->rr[0].text, cases[i][1]);
	}
	m = ask(f, rev6("2001:db8::2", "v6.ex", false), 16);
	assert_int_equal(m->rcode, 3);
	assert_int_equal(m->ns, 0); /* no SOA in this zone */
	m = ask(f, rev6("2001:db8::2", "v6.ex", false) + 2, 16); /* 31 nibbles: ENT */
	assert_int_equal(m->rcode, 0);
	m = ask(f, rev6("2001:db8::3", "v6.ex", false) + 4, 16); /* 30 nibbles, ENT */
	assert_int_equal(m->rcode, 0);
	m = ask(f, rev6("2001:db8:2::", "v6.ex", false) + 24, 16); /* 20 nibbles, nothing */
	assert_int_equal(m->rcode, 3);
	char x[200];
	snprintf(x, sizeof(x), "x.%s", rev6("2001:db8::1", "v6.ex", false) + 2);
	m = ask(f, x, 16);
	assert_int_equal(m->rcode, 3);
	snprintf(x, sizeof(x), "0.%s", rev6("2001:db8::1", "v6.ex", false));
	m = ask(f, x, 16);
	assert_int_equal(m->rcode, 3);
}

static void test_dnset(void **state)
{
	struct fx *f = *state;
	struct t_msg *m = ask(f, "example.com.dn.ex", 16);
	assert_int_equal(m->rcode, 0);
	assert_string_equal(m->rr[0].text, "dom example.com listed");
	m = ask(f, "a.example.com.dn.ex", 16);
	assert_int_equal(m->rcode, 3);
	m = ask(f, "wild.org.dn.ex", 16); /* "*.wild.org" makes it exist (rbldnsd: NXDOMAIN) */
	assert_int_equal(m->rcode, 0);
	assert_int_equal(m->an, 0);
	m = ask(f, "org.dn.ex", 16);
	assert_int_equal(m->rcode, 0);
	m = ask(f, "A.b.Wild.org.dn.ex", 16);
	assert_int_equal(m->rcode, 0);
	assert_string_equal(m->rr[0].text, "dom wild.org listed"); /* as rbldnsd */
	m = ask(f, "x.both.net.dn.ex", 16);
	assert_string_equal(m->rr[0].text, "dom both.net listed");
	m = ask(f, "both.net.dn.ex", 1);
	assert_string_equal(m->rr[0].text, "127.0.0.5");
	m = ask(f, "x.both.net.dn.ex", 1);
	assert_int_equal(m->rcode, 0);
	/* excluded itself under the "*.both.net" wildcard: NXDOMAIN as in
	 * rbldnsd, although names below it are listed */
	m = ask(f, "good.both.net.dn.ex", 1);
	assert_int_equal(m->rcode, 3);
	m = ask(f, "x.good.both.net.dn.ex", 16);
	assert_string_equal(m->rr[0].text, "dom both.net listed");
	m = ask(f, "x.example.com.dn.ex", 1);
	assert_int_equal(m->rcode, 3);
	m = ask(f, "dn.ex", 1);
	assert_int_equal(m->rcode, 0);
	assert_int_equal(m->an, 0);
}

static void test_combined(void **state)
{
	struct fx *f = *state;
	struct t_msg *m = ask(f, "2.0.0.127.cb.ex", 255);
	assert_int_equal(m->an, 4);
	assert_string_equal(m->rr[0].text, "127.0.0.2");
	assert_string_equal(m->rr[1].text, "Open proxy 127.0.0.2");
	assert_string_equal(m->rr[2].text, "127.0.0.3");
	assert_string_equal(m->rr[3].text, "Open relay 127.0.0.2");
	m = ask(f, "2.0.0.127.proxies.cb.ex", 16);
	assert_int_equal(m->an, 1);
	assert_string_equal(m->rr[0].text, "Open proxy 127.0.0.2");
	m = ask(f, "10.2.0.127.proxies.cb.ex", 16);
	assert_int_equal(m->rcode, 3);
	assert_int_equal(m->rr[0].ttl, 100);
	m = ask(f, "proxies.cb.ex", 1);
	assert_string_equal(m->rr[0].text, "127.0.0.8");
	m = ask(f, "www.relays.cb.ex", 1);
	assert_string_equal(m->rr[0].text, "127.0.0.8");
	m = ask(f, "1.2.3.4.relays.cb.ex", 15);
	assert_int_equal(m->rcode, 3);
	/* a zone of its own beats the combined subzone of the same name */
	m = ask(f, "www.own.cb.ex", 1);
	assert_int_equal(m->rcode, 3);
	assert_string_equal(m->rr[0].owner, "own.cb.ex");
	m = ask(f, "4.3.2.1.own.cb.ex", 16);
	assert_string_equal(m->rr[0].text, "plain 1.2.3.4");
	m = ask(f, "www.proxies.cb.ex", 1);
	assert_string_equal(m->rr[0].text, "127.0.0.8");
}

static void test_rr_zone(void **state)
{
	struct fx *f = *state;
	struct t_msg *m = ask(f, "www.rt.ex", 1);
	assert_int_equal(m->rcode, 0);
	assert_int_equal(m->an, 2);
	assert_int_equal(m->rr[0].type, 5);
	assert_string_equal(m->rr[0].text, "mx1.rt.ex");
	assert_string_equal(m->rr[1].owner, "mx1.rt.ex");
	assert_string_equal(m->rr[1].text, "192.0.2.25");
	m = ask(f, "www.rt.ex", 5);
	assert_int_equal(m->an, 1);
	m = ask(f, "a1.rt.ex", 1); /* chain ends in NXDOMAIN (RFC 6604) */
	assert_int_equal(m->rcode, 3);
	assert_int_equal(m->an, 3);
	assert_true(t_find(m, 1, 6, NULL) >= 0);
	m = ask(f, "loop.rt.ex", 1); /* bounded */
	assert_int_equal(m->rcode, 0);
	assert_true(m->an >= 1);
	m = ask(f, "out.rt.ex", 1); /* other zone: the client follows */
	assert_int_equal(m->an, 1);
	assert_int_equal(m->rcode, 0);
	m = ask(f, "foo.cust.rt.ex", 1);
	assert_string_equal(m->rr[0].owner, "foo.cust.rt.ex");
	assert_string_equal(m->rr[0].text, "192.0.2.80");
	m = ask(f, "foo.cust.rt.ex", 16);
	assert_int_equal(m->rcode, 0);
	assert_int_equal(m->an, 0);
	m = ask(f, "nothere.rt.ex", 1);
	assert_int_equal(m->rcode, 3);
	m = ask(f, "rt.ex", 15);
	assert_string_equal(m->rr[0].text, "10 mx1.rt.ex");
	assert_true(t_find(m, 2, 1, "192.0.2.25") >= 0); /* glue for the MX target */
	assert_string_equal(m->rr[t_find(m, 2, 1, NULL)].owner, "mx1.rt.ex");
	m = ask(f, "_smtp._tcp.rt.ex", 33);
	assert_int_equal(m->an, 1);
	assert_true(t_find(m, 2, 1, "192.0.2.25") >= 0);
	m = ask(f, "bl.ex", 15); /* target in another zone: no glue */
	assert_int_equal(m->ar, 0);
	/* referral: no AA, NS in authority, in-bailiwick glue */
	m = ask(f, "host.sub.rt.ex", 1);
	assert_int_equal(m->rcode, 0);
	assert_false(AA(m));
	assert_int_equal(m->an, 0);
	assert_int_equal(m->ns, 2);
	assert_true(t_find(m, 1, 2, "ns.sub.rt.ex") >= 0);
	assert_true(t_find(m, 2, 1, "192.0.2.53") >= 0);
	assert_true(t_find(m, 2, 1, NULL) == t_find(m, 2, 1, "192.0.2.53"));
}

static void test_refused_expired_nosoa(void **state)
{
	struct fx *f = *state;
	struct t_msg *m = ask_ex(f, "example.org", 1, 1232, ANSWER_UDP, NULL);
	assert_int_equal(m->rcode, 5);
	assert_false(AA(m));
	assert_int_equal(m->ede, 20);
	m = ask(f, "ex", 1);
	assert_int_equal(m->rcode, 5);
	m = ask(f, "4.3.2.1.old.ex", 1); /* $TIMESTAMP expired: absent */
	assert_int_equal(m->rcode, 5);
	m = ask(f, "4.3.2.1.nosoa.ex", 16);
	assert_int_equal(m->rcode, 0);
	assert_string_equal(m->rr[0].text, "plain 1.2.3.4");
	assert_int_equal(m->ns, 0);
	m = ask(f, "5.3.2.1.nosoa.ex", 16);
	assert_int_equal(m->rcode, 3);
	assert_true(AA(m));
	assert_int_equal(m->ns + m->ar, 0);
	m = ask(f, "nosoa.ex", 6); /* rbldnsd: REFUSED */
	assert_int_equal(m->rcode, 0);
	assert_int_equal(m->an, 0);
}

static void test_edns_and_truncation(void **state)
{
	struct fx *f = *state;
	size_t len;
	struct t_msg *m = ask_ex(f, "4.3.2.1.bl.ex", 1, 4096, ANSWER_UDP, NULL);
	assert_true(m->has_opt);
	assert_int_equal(m->opt_udp, 1232);
	assert_int_equal(m->an, 1);
	assert_false(m->opt_do);
	m = ask(f, "4.3.2.1.bl.ex", 1);
	assert_false(m->has_opt);
	/* DO is copied (RFC 3225), nothing else changes */
	size_t dl = t_query(f->q, 0x1234, "4.3.2.1.bl.ex", 1, 1232, 0);
	f->q[dl - 4] = 0x80; /* OPT flags: DO */
	assert_int_equal(answer_batch_begin(f->ctx), 0);
	len = answer_query(f->ctx, f->q, dl, f->resp, sizeof(f->resp), ANSWER_UDP, NULL);
	answer_batch_end(f->ctx);
	assert_int_equal(t_parse(f->resp, len, &f->m), 0);
	assert_true(f->m.opt_do);
	assert_int_equal(f->m.an, 1);

	/* BADVERS */
	size_t ql = t_query(f->q, 0x1234, "4.3.2.1.bl.ex", 1, 1232, 1);
	assert_int_equal(answer_batch_begin(f->ctx), 0);
	len = answer_query(f->ctx, f->q, ql, f->resp, sizeof(f->resp), ANSWER_UDP, NULL);
	answer_batch_end(f->ctx);
	assert_int_equal(t_parse(f->resp, len, &f->m), 0);
	assert_int_equal(f->m.rcode, 16);
	assert_int_equal(f->m.an, 0);

	/* 40 A+TXT pairs: TC over UDP (512 and 1232), whole over TCP */
	m = ask_ex(f, "99.0.0.127.bl.ex", 16, 0, ANSWER_UDP, &len);
	assert_true(TC(m));
	assert_true(len <= 512);
	assert_int_equal(m->an, 0);
	assert_int_equal(m->qd, 1);
	m = ask_ex(f, "99.0.0.127.bl.ex", 16, 1232, ANSWER_UDP, &len);
	assert_true(TC(m));
	assert_true(m->has_opt);
	m = ask_ex(f, "99.0.0.127.bl.ex", 255, 0, ANSWER_TCP, &len);
	assert_false(TC(m));
	assert_int_equal(m->an, 80);
	assert_string_equal(m->rr[79].text, "value 39 of a large answer set for 127.0.0.99");
	/* client size below 512 is raised to 512 */
	m = ask_ex(f, "4.3.2.1.bl.ex", 16, 100, ANSWER_UDP, &len);
	assert_false(TC(m));
}

static void test_long_txt_split(void **state)
{
	struct fx *f = *state;
	struct t_msg *m = ask_ex(f, "4.0.0.127.bl.ex", 16, 4096, ANSWER_UDP, NULL);
	assert_int_equal(m->an, 1);
	assert_int_equal(m->rr[0].n_strings, 3); /* 609 octets: 255+255+99 */
	const uint8_t *rd = m->rr[0].rdata;
	assert_int_equal(rd[0], 255);
	assert_int_equal(rd[256], 255);
	assert_int_equal(rd[512], 609 - 510);
	assert_memory_equal(rd + 512 + 1 + 90, "127.0.0.4", 9);
}

static size_t raw(struct fx *f, const void *pkt, size_t n, enum answer_transport tr)
{
	assert_int_equal(answer_batch_begin(f->ctx), 0);
	size_t len = answer_query(f->ctx, pkt, n, f->resp, sizeof(f->resp), tr, NULL);
	answer_batch_end(f->ctx);
	return len;
}

static void test_bad_queries(void **state)
{
	struct fx *f = *state;
	uint8_t p[600];
	size_t ql, len;

	/* too short for an ID / a response: dropped */
	assert_int_equal(raw(f, "\x12", 1, ANSWER_UDP), 0);
	ql = t_query(p, 7, "4.3.2.1.bl.ex", 1, 0, 0);
	p[2] |= 0x80;
	assert_int_equal(raw(f, p, ql, ANSWER_UDP), 0);
	/* short header: FORMERR with the ID */
	len = raw(f, "\x12\x34\x01\x00\x00", 5, ANSWER_UDP);
	assert_int_equal(len, 12);
	assert_int_equal(f->resp[3] & 0xf, 1);
	assert_int_equal(f->resp[0], 0x12);
	/* qdcount 0 */
	len = raw(f, "\x42\x42\0\0\0\0\0\0\0\0\0\0", 12, ANSWER_UDP);
	assert_int_equal(len, 12);
	assert_int_equal(f->resp[3] & 0xf, 1);
	/* opcode NOTIFY: NOTIMP, question echoed */
	ql = t_query(p, 7, "4.3.2.1.bl.ex", 1, 0, 0);
	p[2] = 0x20;
	len = raw(f, p, ql, ANSWER_UDP);
	assert_int_equal(t_parse(f->resp, len, &f->m), 0);
	assert_int_equal(f->m.rcode, 4);
	assert_int_equal(f->m.qd, 1);
	assert_int_equal((f->m.flags >> 11) & 0xf, 4);
	/* class CH */
	ql = t_query(p, 7, "version.bind", 16, 0, 0);
	p[ql - 1] = 3;
	len = raw(f, p, ql, ANSWER_UDP);
	assert_int_equal(f->resp[3] & 0xf, 5);
	/* compression pointer in the question */
	memcpy(p, "\0\1\0\0\0\1\0\0\0\0\0\0\xc0\x0c\0\1\0\1", 18);
	len = raw(f, p, 18, ANSWER_UDP);
	assert_int_equal(f->resp[3] & 0xf, 1);
	/* two OPTs */
	ql = t_query(p, 7, "4.3.2.1.bl.ex", 1, 1232, 0);
	memcpy(p + ql, p + ql - 11, 11);
	p[11] = 2;
	len = raw(f, p, ql + 11, ANSWER_UDP);
	assert_int_equal(f->resp[3] & 0xf, 1);
	/* AXFR */
	ql = t_query(p, 7, "bl.ex", 252, 0, 0);
	len = raw(f, p, ql, ANSWER_UDP);
	assert_int_equal(f->resp[3] & 0xf, 5);
	/* trailing garbage is tolerated */
	ql = t_query(p, 7, "4.3.2.1.bl.ex", 1, 0, 0);
	memcpy(p + ql, "garbage", 7);
	len = raw(f, p, ql + 7, ANSWER_UDP);
	assert_int_equal(t_parse(f->resp, len, &f->m), 0);
	assert_int_equal(f->m.an, 1);
}

/* answer_conf.minimal_any = false: ANY answers like rbldnsd (every RRset). */
static void test_full_any(void **state)
{
	struct fx *f = *state;
	struct answer_conf conf = { .udp_max = 1232, .minimal_any = false };
	struct answer_ctx *minimal = f->ctx;

	assert_int_equal(answer_ctx_new(f->env, &conf, &f->ctx), 0);
	struct t_msg *m = ask(f, "bl.ex", 255);
	assert_int_equal(m->an, 5); /* SOA, 2 NS, TXT, MX: rbldnsd's set */
	assert_true(t_find(m, 0, 6, NULL) >= 0);
	assert_true(t_find(m, 0, 2, "ns2.ex.com") >= 0);
	assert_true(t_find(m, 0, 16, "hello world") >= 0);
	assert_true(t_find(m, 0, 15, "10 mx.ex.com") >= 0);
	m = ask(f, "4.3.2.1.bl.ex", 255);
	assert_int_equal(m->an, 2);
	answer_ctx_free(f->ctx);
	f->ctx = minimal;
}

/* The network layer may answer in the query's own buffer. */
static void test_in_place(void **state)
{
	struct fx *f = *state;
	static uint8_t buf[1232];
	size_t ql = t_query(buf, 77, "4.3.2.1.Bl.Ex", 255, 1232, 0);

	assert_int_equal(answer_batch_begin(f->ctx), 0);
	size_t len = answer_query(f->ctx, buf, ql, buf, sizeof(buf), ANSWER_UDP, NULL);
	answer_batch_end(f->ctx);
	assert_int_equal(t_parse(buf, len, &f->m), 0);
	assert_string_equal(f->m.qname, "4.3.2.1.Bl.Ex");
	assert_int_equal(f->m.an, 2);
	assert_string_equal(f->m.rr[1].text, "Listed 1.2.3.4 see http://x/?1.2.3.4 costs $5");
}

static void test_snapshot_errors(void **state)
{
	struct fx *f = *state;
	size_t ql = t_query(f->q, 9, "4.3.2.1.bl.ex", 1, 1232, 0);
	size_t len;

	/* before any successful batch: nothing is known, SERVFAIL */
	struct answer_ctx *fresh;
	assert_int_equal(answer_ctx_new(f->env, NULL, &fresh), 0);
	len = answer_query(fresh, f->q, ql, f->resp, sizeof(f->resp), ANSWER_UDP, NULL);
	assert_int_equal(t_parse(f->resp, len, &f->m), 0);
	assert_int_equal(f->m.rcode, 2);
	assert_int_equal(f->m.ede, 14);
	answer_ctx_free(fresh);
	/* outside a batch (view released): local zones SERVFAIL, others REFUSED */
	assert_int_equal(answer_batch_begin(f->ctx), 0);
	answer_batch_end(f->ctx);
	len = answer_query(f->ctx, f->q, ql, f->resp, sizeof(f->resp), ANSWER_UDP, NULL);
	assert_int_equal(t_parse(f->resp, len, &f->m), 0);
	assert_int_equal(f->m.rcode, 2);
	ql = t_query(f->q, 9, "example.org", 1, 0, 0);
	len = answer_query(f->ctx, f->q, ql, f->resp, sizeof(f->resp), ANSWER_UDP, NULL);
	assert_int_equal(f->resp[3] & 0xf, 5);
}

static void test_reload_and_metrics(void **state)
{
	struct fx *f = *state;
	struct t_msg *m = ask(f, "4.3.2.1.plus.ex", 1);
	assert_int_equal(m->rcode, 5);
	struct zimg *img = zone_plain("plus.ex", true, 0);
	assert_int_equal(snap_put_zones(f->env, &img, 1, time(NULL)), 0);
	zimg_free(img);
	m = ask(f, "4.3.2.1.plus.ex", 1);
	assert_int_equal(m->rcode, 0);
	m = ask(f, "5.3.2.1.plus.ex", 1);
	assert_int_equal(m->rcode, 3);

	struct strbuf sb;
	snap_rd *rd;
	strbuf_init(&sb);
	assert_int_equal(snap_rd_new(f->env, &rd), 0);
	/* a second worker context: per-zone counters are summed by name */
	struct answer_ctx *ctx2;
	assert_int_equal(answer_ctx_new(f->env, NULL, &ctx2), 0);
	size_t ql = t_query(f->q, 5, "4.3.2.1.plus.ex", 16, 0, 0);
	assert_int_equal(answer_batch_begin(ctx2), 0);
	assert_true(answer_query(ctx2, f->q, ql, f->resp, sizeof(f->resp), ANSWER_UDP, NULL) > 12);
	answer_batch_end(ctx2);
	struct answer_ctx *ctxs[2] = { f->ctx, ctx2 };
	answer_metrics_write(ctxs, 2, rd, &sb);
	snap_rd_free(rd);
	answer_ctx_free(ctx2);
	assert_int_equal(sb.err, 0);
	assert_non_null(strstr(sb.p, "# TYPE gridns_queries_total counter\n"));
	assert_non_null(strstr(sb.p, "gridns_zone_listed_total{zone=\"plus.ex\"} 2\n"));
	assert_non_null(strstr(sb.p, "gridns_zone_unlisted_total{zone=\"plus.ex\"} 1\n"));
	assert_non_null(strstr(sb.p, "gridns_zone_queries_total{zone=\"plus.ex\"} 3\n"));
	assert_null(strstr(strstr(sb.p, "gridns_zone_queries_total{zone=\"plus.ex\"}") + 1,
			   "gridns_zone_queries_total{zone=\"plus.ex\"}")); /* merged once */
	assert_non_null(strstr(sb.p, "gridns_zone_serial{zone=\"bl.ex\"} 42\n"));
	assert_non_null(strstr(sb.p, "gridns_zone_expired{zone=\"old.ex\"} 1\n"));
	assert_non_null(strstr(sb.p, "gridns_responses_total{rcode=\"REFUSED\"} "));
	if (getenv("GRIDNS_TEST_VERBOSE"))
		fputs(sb.p, stderr);
	/* promtool, when installed, is the judge of the format */
	if (system("command -v promtool >/dev/null 2>&1") == 0) {
		char path[128], cmd[256];
		snprintf(path, sizeof(path), "%s/metrics.txt", f->dir);
		FILE *fp = fopen(path, "w");
		assert_non_null(fp);
		fputs(sb.p, fp);
		fclose(fp);
		snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
		assert_int_equal(system(cmd), 0);
	}
	strbuf_free(&sb);
}

/* Damaged data is never "not listed": a listed entry whose value set is gone
 * from the store answers SERVFAIL (EDE 14), and unlisted names still answer
 * normally.  The damage is done with raw LMDB calls on the private layout
 * (zonesync/snap_format.h), in a snapshot of its own. */
static void test_corrupt_data_is_servfail(void **state)
{
	struct fx *f = *state;
	char dir[64], cmd[128];
	snap_env *env;
	struct answer_ctx *ctx;
	MDB_env *menv;
	MDB_txn *txn;
	MDB_dbi dbi;
	struct zimg *img = zone_plain("bad.ex", true, 0);

	strcpy(dir, "/tmp/gridns-test-corrupt-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(snap_open(&env, dir, 0, NULL), 0);
	assert_int_equal(snap_put_zones(env, &img, 1, time(NULL)), 0);
	zimg_free(img);
	snap_close(env);

	assert_int_equal(mdb_env_create(&menv), 0);
	assert_int_equal(mdb_env_set_maxdbs(menv, SNAP_MAXDBS), 0);
	assert_int_equal(mdb_env_set_mapsize(menv, SNAP_DEFAULT_MAP_SIZE), 0);
	assert_int_equal(mdb_env_open(menv, dir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(menv, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, SNAP_DB_VALS, 0, &dbi), 0);
	assert_int_equal(mdb_drop(txn, dbi, 0), 0); /* empty the value sets */
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(menv);

	assert_int_equal(snap_open(&env, dir, SNAP_RDONLY, NULL), 0);
	assert_int_equal(answer_ctx_new(env, NULL, &ctx), 0);
	size_t ql = t_query(f->q, 3, "4.3.2.1.bad.ex", 1, 1232, 0);
	assert_int_equal(answer_batch_begin(ctx), 0);
	size_t len = answer_query(ctx, f->q, ql, f->resp, sizeof(f->resp), ANSWER_UDP, NULL);
	assert_int_equal(t_parse(f->resp, len, &f->m), 0);
	assert_int_equal(f->m.rcode, 2);
	assert_int_equal(f->m.an, 0);
	assert_int_equal(f->m.ede, 14);
	ql = t_query(f->q, 4, "5.3.2.1.bad.ex", 1, 0, 0);
	len = answer_query(ctx, f->q, ql, f->resp, sizeof(f->resp), ANSWER_UDP, NULL);
	answer_batch_end(ctx);
	assert_int_equal(t_parse(f->resp, len, &f->m), 0);
	assert_int_equal(f->m.rcode, 3);
	answer_ctx_free(ctx);
	snap_close(env);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* Damaged RDATA (names cut off) is copied as stored and never read as a
 * name for glue: no over-read, no glue, still an answer. */
static void test_damaged_rdata(void **state)
{
	struct fx *f = *state;
	struct zimg *img = zimg_new("dmg.ex");
	struct zimg_ds *ds;

	soa_ns(img, 300, 300);
	assert_int_equal(zimg_add_ds(img, ZDS_GENERIC, "generic", &ds), 0);
	rr(ds, "@", 15, "\0\x0a", 2);   /* MX without its exchange name */
	rr(ds, "d", 2, "", 0);           /* NS with empty RDATA: a cut */
	rr(ds, "srv", 33, "\0\0\0\0\0\x19", 6);
	assert_int_equal(zimg_finish(img), 0);
	assert_int_equal(snap_put_zones(f->env, &img, 1, time(NULL)), 0);
	zimg_free(img);

	size_t len;
	struct t_msg *m = ask_ex(f, "dmg.ex", 15, 4096, ANSWER_UDP, &len);
	assert_int_equal(m->an, 1);
	assert_int_equal(m->rr[0].rdlen, 2);
	assert_int_equal(m->ar, 1); /* only the OPT */
	m = ask_ex(f, "srv.dmg.ex", 33, 0, ANSWER_UDP, &len);
	assert_int_equal(m->an, 1);
	assert_int_equal(m->ar, 0);
	m = ask_ex(f, "x.d.dmg.ex", 1, 0, ANSWER_UDP, &len);
	assert_int_equal(m->rcode, 0);
	assert_false(AA(m));
	assert_int_equal(m->ns, 1);
	assert_int_equal(m->rr[0].rdlen, 0);
	assert_int_equal(m->ar, 0);
}

/* Random and mutated packets: never a crash (run under ASan by make asan),
 * every reply parses and carries QR and the query's ID. */
static void test_fuzz(void **state)
{
	struct fx *f = *state;
	uint8_t p[600];
	uint32_t seed = 12345;
	const char *names[] = { "4.3.2.1.bl.ex", "www.rt.ex", "a.b.wild.org.dn.ex", "cb.ex",
				"99.0.0.127.bl.ex", "host.sub.rt.ex" };

	assert_int_equal(answer_batch_begin(f->ctx), 0);
	for (int i = 0; i < 200000; i++) {
		size_t n;
		seed = seed * 1103515245u + 12345u;
		if (i % 3 == 0) {
			n = (seed >> 8) % 300;
			for (size_t k = 0; k < n; k++) {
				seed = seed * 1103515245u + 12345u;
				p[k] = (uint8_t)(seed >> 16);
			}
		} else {
			n = t_query(p, (uint16_t)i, names[(seed >> 4) % 6], (uint16_t)((seed >> 12) % 3 ? 16 : 255),
				    (seed >> 20) & 1 ? 1232 : 0, 0);
			int muts = 1 + (int)((seed >> 24) % 4);
			for (int k = 0; k < muts; k++) {
				seed = seed * 1103515245u + 12345u;
				p[(seed >> 8) % n] = (uint8_t)(seed >> 20);
			}
			if ((seed >> 28) & 1)
				n -= (seed >> 4) % n;
		}
		size_t cap = (i & 1) ? 512 : sizeof(f->resp);
		size_t len = answer_query(f->ctx, p, n, f->resp, cap, (i & 2) ? ANSWER_TCP : ANSWER_UDP, NULL);
		if (len == 0)
			continue;
		assert_true(len >= 12 && len <= cap);
		assert_true(f->resp[2] & 0x80);
		assert_memory_equal(f->resp, p, 2);
		if (t_parse(f->resp, len, &f->m) != 0)
			fail_msg("unparseable reply to packet %d", i);
	}
	answer_batch_end(f->ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listed_ip4),
		cmocka_unit_test(test_unlisted_and_nodata),
		cmocka_unit_test(test_empty_non_terminals),
		cmocka_unit_test(test_apex),
		cmocka_unit_test(test_ip6),
		cmocka_unit_test(test_dnset),
		cmocka_unit_test(test_combined),
		cmocka_unit_test(test_rr_zone),
		cmocka_unit_test(test_refused_expired_nosoa),
		cmocka_unit_test(test_edns_and_truncation),
		cmocka_unit_test(test_long_txt_split),
		cmocka_unit_test(test_bad_queries),
		cmocka_unit_test(test_full_any),
		cmocka_unit_test(test_in_place),
		cmocka_unit_test(test_snapshot_errors),
		cmocka_unit_test(test_corrupt_data_is_servfail),
		cmocka_unit_test(test_damaged_rdata),
		cmocka_unit_test(test_reload_and_metrics),
		cmocka_unit_test(test_fuzz),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
