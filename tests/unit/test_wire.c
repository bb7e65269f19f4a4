/* tests/unit/test_wire.c - DNS wire parsing and writing of the answer engine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "common/dname.h"
#include "resolver/wire.h"
#include "test_answer_util.h"

static void test_parse_query(void **state)
{
	uint8_t p[600];
	struct wire_query q;
	size_t n = t_query(p, 0xbeef, "Www.Example.COM", 16, 4096, 0);

	p[2] |= 0x10 >> 0; /* keep RD, set nothing else */
	assert_int_equal(wire_parse_query(p, n, &q), WIRE_PARSE_OK);
	assert_int_equal(q.id, 0xbeef);
	assert_true(q.has_question);
	assert_int_equal(q.qtype, 16);
	assert_int_equal(q.qclass, 1);
	assert_int_equal(q.qname_len, 17);
	assert_memory_equal(q.qname, "\3Www\7Example\3COM", 17);
	assert_true(q.edns);
	assert_int_equal(q.edns_udp, 4096);
	assert_int_equal(q.edns_version, 0);

	/* root name */
	n = t_query(p, 1, ".", 2, 0, 0);
	assert_int_equal(wire_parse_query(p, n, &q), WIRE_PARSE_OK);
	assert_int_equal(q.qname_len, 1);
	assert_false(q.edns);
}

static void test_parse_rejects(void **state)
{
	uint8_t p[600];
	struct wire_query q;
	size_t n = t_query(p, 1, "a.example", 1, 0, 0);

	for (size_t k = 0; k < n; k++) {
		int r = wire_parse_query(p, k, &q);
		assert_true(r == (k < 3 ? WIRE_PARSE_DROP : WIRE_PARSE_FORMERR));
	}
	p[2] |= 0x80;
	assert_int_equal(wire_parse_query(p, n, &q), WIRE_PARSE_DROP);
	p[2] &= 0x7f;
	p[5] = 2; /* qdcount 2 */
	assert_int_equal(wire_parse_query(p, n, &q), WIRE_PARSE_FORMERR);
	p[5] = 1;
	p[12] = 0x40; /* extended label type */
	assert_int_equal(wire_parse_query(p, n, &q), WIRE_PARSE_FORMERR);
	/* a 256-octet name */
	memset(p + 12, 0, 300);
	for (int i = 0; i < 128; i++) {
		p[12 + 2 * i] = 1;
		p[13 + 2 * i] = 'a';
	}
	assert_int_equal(wire_parse_query(p, 12 + 256 + 1 + 4, &q), WIRE_PARSE_FORMERR);
	/* 127 labels: 254 + root = 255 octets is fine */
	memset(p + 12, 0, 300);
	for (int i = 0; i < 127; i++) {
		p[12 + 2 * i] = 1;
		p[13 + 2 * i] = 'a';
	}
	p[12 + 254 + 2] = 1;
	p[12 + 254 + 4] = 1;
	assert_int_equal(wire_parse_query(p, 12 + 255 + 4, &q), WIRE_PARSE_OK);
	assert_int_equal(q.qname_len, 255);

	/* OPT: owner not root, overrunning option, in the answer section */
	n = t_query(p, 1, "a.example", 1, 1232, 0);
	p[n - 1] = 4; /* rdlen 4, but nothing follows */
	assert_int_equal(wire_parse_query(p, n, &q), WIRE_PARSE_FORMERR);
	memcpy(p + n, "\0\x0f\0\x09", 4); /* option length 9 > 0 left */
	assert_int_equal(wire_parse_query(p, n + 4, &q), WIRE_PARSE_FORMERR);
	n = t_query(p, 1, "a.example", 1, 1232, 0);
	p[7] = 1;
	p[11] = 0;
	assert_int_equal(wire_parse_query(p, n, &q), WIRE_PARSE_FORMERR);
}

static void test_compression(void **state)
{
	uint8_t buf[512], w1[DNAME_MAX], w2[DNAME_MAX];
	struct wire_w w;
	struct t_msg m;
	const uint8_t qn[] = "\3www\7Example\3com";

	wire_w_init(&w, buf, sizeof(buf));
	wire_w_header(&w, 7, 0x8400);
	wire_w_question(&w, qn, sizeof(qn), 1, 1);
	assert_true(dname_from_text("ns1.example.COM", 15, w1) > 0);
	assert_true(dname_from_text("mail.other.org", 14, w2) > 0);
	size_t at = wire_w_rr_begin(&w, NULL, WIRE_T_NS, 1, 60);
	size_t before = w.len;
	wire_w_name(&w, w1);
	assert_int_equal(w.len - before, 4 + 2); /* "ns1" + pointer to example.com */
	wire_w_rr_end(&w, at, WIRE_S_AN);
	at = wire_w_rr_begin(&w, w1, WIRE_T_A, 1, 60);
	assert_int_equal(at - (before + 6), 2 + 8); /* whole owner is one pointer */
	wire_w_bytes(&w, "\1\2\3\4", 4);
	wire_w_rr_end(&w, at, WIRE_S_AR);
	at = wire_w_rr_begin(&w, w2, WIRE_T_A, 1, 60);
	wire_w_bytes(&w, "\1\2\3\5", 4);
	wire_w_rr_end(&w, at, WIRE_S_AR);
	at = wire_w_rr_begin(&w, w2, WIRE_T_A, 1, 60); /* now compressible */
	wire_w_bytes(&w, "\1\2\3\6", 4);
	wire_w_rr_end(&w, at, WIRE_S_AR);
	size_t len = wire_w_finish(&w);
	assert_true(len > 0);
	assert_int_equal(t_parse(buf, len, &m), 0);
	assert_string_equal(m.qname, "www.Example.com");
	assert_string_equal(m.rr[0].text, "ns1.Example.com");
	assert_string_equal(m.rr[1].owner, "ns1.Example.com");
	assert_string_equal(m.rr[2].owner, "mail.other.org");
	assert_string_equal(m.rr[3].owner, "mail.other.org");
	assert_int_equal(m.an, 1);
	assert_int_equal(m.ar, 3);
}

static void test_full_and_rollback(void **state)
{
	uint8_t buf[40];
	struct wire_w w;
	const uint8_t qn[] = "\1a\7example";

	wire_w_init(&w, buf, sizeof(buf));
	wire_w_header(&w, 1, 0);
	wire_w_question(&w, qn, sizeof(qn), 1, 1);
	struct wire_mark mk = wire_w_mark(&w);
	size_t at = wire_w_rr_begin(&w, NULL, WIRE_T_TXT, 1, 60);
	wire_w_txt_strings(&w, "0123456789012345678901234567890", 31);
	wire_w_rr_end(&w, at, WIRE_S_AN);
	assert_true(w.full);
	assert_int_equal(wire_w_finish(&w), 0);
	wire_w_rollback(&w, &mk);
	assert_false(w.full);
	assert_int_equal(w.cnt[WIRE_S_AN], 0);
	assert_int_equal(wire_w_finish(&w), 12 + sizeof(qn) + 4);
}

static void test_txt_split_and_opt(void **state)
{
	static uint8_t buf[4096];
	char txt[600];
	struct wire_w w;
	struct t_msg m;

	memset(txt, 'y', sizeof(txt));
	for (size_t n = 0; n <= 600; n += (n == 254 ? 1 : n == 255 ? 1 : n == 256 ? 253 : 127)) {
		wire_w_init(&w, buf, sizeof(buf));
		wire_w_header(&w, 1, 0x8000);
		wire_w_question(&w, (const uint8_t *)"\1t", 3, 16, 1);
		size_t at = wire_w_rr_begin(&w, NULL, WIRE_T_TXT, 1, 60);
		wire_w_txt_strings(&w, txt, n);
		wire_w_rr_end(&w, at, WIRE_S_AN);
		wire_w_opt(&w, 1232, 1, WIRE_EDE_NOT_AUTH, "why");
		size_t len = wire_w_finish(&w);
		assert_int_equal(t_parse(buf, len, &m), 0);
		assert_int_equal(m.rr[0].n_strings, n == 0 ? 1 : (int)((n + 254) / 255));
		assert_int_equal(strlen(m.rr[0].text), n + (size_t)(m.rr[0].n_strings - 1));
		assert_true(m.has_opt);
		assert_int_equal(m.opt_udp, 1232);
		assert_int_equal(m.rcode, 16);
		assert_int_equal(m.ede, 20);
	}
}

static void test_rdata_names(void **state)
{
	uint8_t buf[512];
	struct wire_w w;
	struct t_msg m;
	const uint8_t soa[] = "\2ns\2ex\0\5admin\2ex\0"
			      "\0\0\0\1\0\0\0\2\0\0\0\3\0\0\0\4\0\0\0\5";
	const uint8_t bad_ns[] = "\5ab"; /* label runs past RDATA: copied verbatim */

	wire_w_init(&w, buf, sizeof(buf));
	wire_w_header(&w, 1, 0x8000);
	wire_w_question(&w, (const uint8_t *)"\2ex", 4, 6, 1);
	wire_w_rr_rdata(&w, WIRE_S_AN, NULL, WIRE_T_SOA, 60, soa, sizeof(soa) - 1);
	size_t len = wire_w_finish(&w);
	assert_true(len < 12 + 8 + 10 + sizeof(soa) - 1); /* ex compressed */
	assert_int_equal(t_parse(buf, len, &m), 0);
	assert_string_equal(m.rr[0].text, "ns.ex admin.ex 1 2 3 4 5");

	wire_w_init(&w, buf, sizeof(buf));
	wire_w_header(&w, 1, 0x8000);
	wire_w_question(&w, (const uint8_t *)"\2ex", 4, 2, 1);
	wire_w_rr_rdata(&w, WIRE_S_AN, NULL, WIRE_T_NS, 60, bad_ns, 3);
	len = wire_w_finish(&w);
	assert_int_equal(len, 12 + 8 + 10 + 2 + 3);

	/* Empty RDATA (a damaged snapshot; found by fuzz_wire_parse): nothing
	 * is read behind it, although a valid name follows in memory. */
	wire_w_init(&w, buf, sizeof(buf));
	wire_w_header(&w, 1, 0x8000);
	wire_w_question(&w, (const uint8_t *)"\2ex", 4, 2, 1);
	wire_w_rr_rdata(&w, WIRE_S_AN, NULL, WIRE_T_NS, 60, soa, 0);
	len = wire_w_finish(&w);
	assert_int_equal(len, 12 + 8 + 10 + 2);
}

/* The authority RRs of a zone the way the answer engine writes them. */
static void tmpl_rrs(struct wire_w *w, const uint8_t *apex)
{
	static const char *ns[] = { "ns1.x.bl.example", "ns2.X.bl.example", "ns.other.org" };
	uint8_t n[DNAME_MAX], m[DNAME_MAX], r[DNAME_MAX];

	for (int i = 0; i < 3; i++) {
		size_t at = wire_w_rr_begin(w, apex, WIRE_T_NS, 1, 60);
		assert_true(dname_from_text(ns[i], strlen(ns[i]), n) > 0);
		wire_w_name(w, n);
		wire_w_rr_end(w, at, WIRE_S_NS);
	}
	assert_true(dname_from_text("a.bl.example", 12, m) > 0);
	assert_true(dname_from_text("hostmaster.example", 18, r) > 0);
	size_t at = wire_w_rr_begin(w, apex, WIRE_T_SOA, 1, 60);
	wire_w_name(w, m);
	wire_w_name(w, r);
	for (int i = 0; i < 5; i++)
		wire_w_u32(w, (uint32_t)i);
	wire_w_rr_end(w, at, WIRE_S_NS);
}

/* A pre-built block replays to exactly the octets of writing it name by
 * name, and is refused wherever the question could compress it better. */
static void test_tmpl_matches_writer(void **state)
{
	static const struct { const char *q; bool ok; } cases[] = {
		{ "bl.example", true }, { "BL.Example", true }, { "4.3.2.1.bl.example", true },
		{ "y.x.z.bl.example", true }, { "ns1.bl.example", true },
		{ "x.bl.example", false }, { "ns1.X.bl.example", false }, { "A.bl.example", false },
		{ "q.a.bl.example", false },
	};
	uint8_t apex[DNAME_MAX], qn[DNAME_MAX], rec[600], b1[600], b2[600];
	struct wire_tmpl t;
	struct wire_w w, w2;
	struct wire_mark m;
	int al = dname_from_text("bl.example", 10, apex);

	assert_true(al > 0);
	wire_w_init(&w, rec, sizeof(rec));
	wire_w_header(&w, 0, 0);
	wire_w_question(&w, apex, (size_t)al, 0, 0);
	m = wire_w_mark(&w);
	tmpl_rrs(&w, apex);
	assert_true(wire_tmpl_make(&t, &w, &m, WIRE_S_NS));
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int ql = dname_from_text(cases[c].q, strlen(cases[c].q), qn);
		for (int answers = 0; answers < 2; answers++) {
			wire_w_init(&w, b1, sizeof(b1));
			wire_w_init(&w2, b2, sizeof(b2));
			wire_w_header(&w, 1, 0);
			wire_w_header(&w2, 1, 0);
			wire_w_question(&w, qn, (size_t)ql, 1, 1);
			wire_w_question(&w2, qn, (size_t)ql, 1, 1);
			unsigned qc = w2.n_cmp;
			if (answers) { /* an A answer owned by the question name */
				size_t at = wire_w_rr_begin(&w, NULL, WIRE_T_A, 1, 60);
				wire_w_bytes(&w, "\1\2\3\4", 4);
				wire_w_rr_end(&w, at, WIRE_S_AN);
				at = wire_w_rr_begin(&w2, NULL, WIRE_T_A, 1, 60);
				wire_w_bytes(&w2, "\1\2\3\4", 4);
				wire_w_rr_end(&w2, at, WIRE_S_AN);
			}
			tmpl_rrs(&w, apex);
			uint8_t nn[DNAME_MAX];
			assert_true(dname_from_text("ns.other.org", 12, nn) > 0);
			wire_w_name(&w, nn); /* later names compress against the block's */
			bool ok = wire_w_tmpl(&w2, &t, qn, (size_t)ql, qc, WIRE_S_NS);
			assert_int_equal(ok, cases[c].ok);
			if (!ok)
				continue;
			wire_w_name(&w2, nn);
			assert_int_equal(w.len, w2.len);
			assert_memory_equal(b1, b2, w.len);
			assert_memory_equal(w.cnt, w2.cnt, sizeof(w.cnt));
			assert_int_equal(w.n_cmp, w2.n_cmp);
		}
	}
	/* Other names already in the packet: refused. */
	wire_w_init(&w2, b2, sizeof(b2));
	wire_w_header(&w2, 1, 0);
	wire_w_question(&w2, apex, (size_t)al, 1, 1);
	unsigned qc = w2.n_cmp;
	wire_w_name(&w2, qn);
	assert_false(wire_w_tmpl(&w2, &t, apex, (size_t)al, qc, WIRE_S_NS));
	/* No room: marked full like any write that does not fit. */
	wire_w_init(&w2, b2, 40);
	wire_w_header(&w2, 1, 0);
	wire_w_question(&w2, apex, (size_t)al, 1, 1);
	assert_true(wire_w_tmpl(&w2, &t, apex, (size_t)al, w2.n_cmp, WIRE_S_NS));
	assert_true(w2.full);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_query),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_compression),
		cmocka_unit_test(test_full_and_rollback),
		cmocka_unit_test(test_txt_split_and_opt),
		cmocka_unit_test(test_rdata_names),
		cmocka_unit_test(test_tmpl_matches_writer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
