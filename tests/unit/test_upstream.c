/* tests/unit/test_upstream.c - client responses built from tier answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "resolver/upstream.h"
#include "resolver/wire.h"

static const uint8_t qname_client[] = "\3WwW\7ExAmple\3com";
static const uint8_t qname_lower[] = "\3www\7example\3com";

/* What libunbound hands back: ID 0, lowercase question, two A records,
 * an additional A, and its own OPT. */
static size_t upstream_pkt(uint8_t *buf, size_t cap, uint16_t flags, int n_an)
{
	struct wire_w w;
	static const uint8_t a[4] = { 192, 0, 2, 1 };
	wire_w_init(&w, buf, cap);
	wire_w_header(&w, 0, flags);
	wire_w_question(&w, qname_lower, sizeof(qname_lower), 1, 1);
	for (int i = 0; i < n_an; i++)
		wire_w_rr_rdata(&w, WIRE_S_AN, NULL, 1, 300, a, 4);
	wire_w_rr_rdata(&w, WIRE_S_AR, qname_lower, 1, 300, a, 4);
	wire_w_opt(&w, 4096, 0, -1, NULL);
	return wire_w_finish(&w);
}

static struct wire_query client_query(bool edns, uint16_t udp)
{
	struct wire_query q = { .id = 0xbeef, .flags = WIRE_F_RD, .has_question = true,
				.qname = qname_client, .qname_len = sizeof(qname_client),
				.qtype = 1, .qclass = 1, .edns = edns, .edns_udp = udp };
	return q;
}

static void test_rewrites_id_flags_case_and_opt(void **state)
{
	uint8_t up[1024], out[1024];
	struct wire_query q = client_query(true, 1232), parsed;
	size_t n = upstream_pkt(up, sizeof(up), WIRE_F_QR | WIRE_F_RD | WIRE_F_RA | WIRE_F_AD, 2);
	size_t m;
	(void)state;

	assert_true(n > 0);
	m = upstream_response(&q, up, n, out, sizeof(out), 1232, 1232);
	assert_true(m > 0);
	assert_int_equal(out[0] << 8 | out[1], 0xbeef);
	assert_true(out[2] & 0x80);                       /* QR */
	assert_true(out[2] & 0x01);                       /* RD echoed */
	assert_false(out[2] & 0x04);                      /* not AA */
	assert_false(out[3] & 0x20);                      /* AD only for DO/AD clients */
	assert_memory_equal(out + 12, qname_client, sizeof(qname_client));
	assert_int_equal(out[7], 2);                      /* ANCOUNT */
	assert_int_equal(out[11], 2);                     /* ARCOUNT: the A and OUR OPT */
	/* The last RR is OUR OPT: root owner, type 41, payload 1232. */
	assert_int_equal(out[m - 11], 0);
	assert_int_equal(out[m - 10] << 8 | out[m - 9], 41);
	assert_int_equal(out[m - 8] << 8 | out[m - 7], 1232);
	(void)parsed;
}

static void test_no_edns_client_gets_no_opt(void **state)
{
	uint8_t up[1024], out[1024];
	struct wire_query q = client_query(false, 0);
	size_t n = upstream_pkt(up, sizeof(up), WIRE_F_QR | WIRE_F_RA, 1);
	size_t m = upstream_response(&q, up, n, out, sizeof(out), 512, 1232);
	(void)state;
	assert_true(m > 0 && m < n);
	assert_int_equal(out[11], 1);
}

static void test_truncates_to_client_size(void **state)
{
	uint8_t up[4096], out[4096];
	struct wire_query q = client_query(false, 0);
	size_t n = upstream_pkt(up, sizeof(up), WIRE_F_QR | WIRE_F_RA, 60);
	size_t m;
	(void)state;
	assert_true(n > 512);
	m = upstream_response(&q, up, n, out, sizeof(out), 512, 1232);
	assert_true(m > 0 && m <= 512);
	assert_true(out[2] & 0x02); /* TC */
	assert_int_equal(out[7], 0);
	m = upstream_response(&q, up, n, out, sizeof(out), 65535, 1232); /* TCP */
	assert_true(m > 512);
	assert_false(out[2] & 0x02);
}

static void test_rejects_malformed_or_foreign(void **state)
{
	uint8_t up[1024], out[1024];
	struct wire_query q = client_query(true, 1232);
	size_t n = upstream_pkt(up, sizeof(up), WIRE_F_QR | WIRE_F_RA, 2);
	(void)state;
	for (size_t cut = 0; cut < n; cut++) /* every truncation is refused */
		assert_int_equal(upstream_response(&q, up, cut, out, sizeof(out), 1232, 1232), 0);
	up[14] = 'x'; /* a different question */
	assert_int_equal(upstream_response(&q, up, n, out, sizeof(out), 1232, 1232), 0);
}

static void test_servfail_carries_ede(void **state)
{
	uint8_t out[512];
	struct wire_query q = client_query(true, 1232);
	size_t m = upstream_servfail(&q, 22, "grid: timeout; noc: timeout", out, sizeof(out), 1232);
	(void)state;
	assert_true(m > 12);
	assert_int_equal(out[3] & 0xf, 2);
	assert_int_equal(out[11], 1);
	assert_non_null(memmem(out, m, "grid: timeout", 13));
	q.edns = false;
	m = upstream_servfail(&q, 22, "x", out, sizeof(out), 1232);
	assert_int_equal(out[11], 0); /* no OPT, so no EDE for a non-EDNS client */
	assert_int_equal(m, 12 + sizeof(qname_client) + 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rewrites_id_flags_case_and_opt),
		cmocka_unit_test(test_no_edns_client_gets_no_opt),
		cmocka_unit_test(test_truncates_to_client_size),
		cmocka_unit_test(test_rejects_malformed_or_foreign),
		cmocka_unit_test(test_servfail_carries_ede),
	};
	return cmocka_run_group_tests_name("upstream", tests, NULL, NULL);
}
