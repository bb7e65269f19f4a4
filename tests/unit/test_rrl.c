/* tests/unit/test_rrl.c - the response-rate limiter's buckets and slip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <string.h>
#include <cmocka.h>
#include "common/err.h"
#include "resolver/rrl.h"

static struct sockaddr_storage sa(const char *ip)
{
	struct sockaddr_storage s;
	memset(&s, 0, sizeof(s));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *p = (struct sockaddr_in6 *)&s;
		p->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &p->sin6_addr), 1);
	} else {
		struct sockaddr_in *p = (struct sockaddr_in *)&s;
		p->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &p->sin_addr), 1);
	}
	return s;
}

static const struct rrl_conf conf5 = {
	.rate = 5, .window = 2, .slip = 2, .v4_prefix = 24, .v6_prefix = 56, .table_size = 64,
};

/* Count the verdicts of n answers to ip at now_ms. */
static void burst(struct rrl *r, const char *ip, unsigned rcode, uint64_t now_ms, int n,
		  int out[3])
{
	struct sockaddr_storage s = sa(ip);
	out[0] = out[1] = out[2] = 0;
	for (int i = 0; i < n; i++)
		out[rrl_check(r, (struct sockaddr *)&s, rcode, now_ms)]++;
}

static void test_off_is_null(void **state)
{
	struct rrl_conf c = conf5;
	int err = 1;
	c.rate = 0;
	assert_null(rrl_new(&c, &err));
	assert_int_equal(err, 0);
}

static void test_burst_then_drop_and_slip(void **state)
{
	int err, v[3];
	struct rrl *r = rrl_new(&conf5, &err);
	assert_non_null(r);
	burst(r, "192.0.2.1", 0, 1000, 20, v);
	/* One second's worth passes; of the 15 limited, every 2nd slips. */
	assert_int_equal(v[RRL_PASS], 5);
	assert_int_equal(v[RRL_SLIP], 7);
	assert_int_equal(v[RRL_DROP], 8);
	/* Same /24, other host: the same account, still limited. */
	burst(r, "192.0.2.200", 0, 1000, 1, v);
	assert_int_equal(v[RRL_PASS], 0);
	/* Another /24, and another rcode class, have their own budgets. */
	burst(r, "192.0.3.1", 0, 1000, 5, v);
	assert_int_equal(v[RRL_PASS], 5);
	burst(r, "192.0.2.1", 3, 1000, 5, v);
	assert_int_equal(v[RRL_PASS], 5);
	rrl_free(r);
}

static void test_window_debt_and_recovery(void **state)
{
	int err, v[3];
	struct rrl *r = rrl_new(&conf5, &err);
	assert_non_null(r);
	/* Flood: the debt is capped at rate*window = 10 answers. */
	burst(r, "2001:db8::1", 0, 0, 1000, v);
	assert_int_equal(v[RRL_PASS], 5);
	/* 1 s later: 5 answers of credit pay part of the debt, none pass. */
	burst(r, "2001:db8::1", 0, 1000, 1, v);
	assert_int_equal(v[RRL_PASS], 0);
	/* Quiet for longer than the window: full again. */
	burst(r, "2001:db8:0:ff::9", 0, 5000, 6, v); /* same /56 */
	assert_int_equal(v[RRL_PASS], 5);
	/* A steady client at the rate is never limited. */
	for (uint64_t t = 100000; t < 110000; t += 200) {
		burst(r, "198.51.100.7", 0, t, 1, v);
		assert_int_equal(v[RRL_PASS], 1);
	}
	rrl_free(r);
}

static void test_slip_zero_and_one(void **state)
{
	struct rrl_conf c = conf5;
	int err, v[3];
	struct rrl *r;

	c.slip = 0;
	r = rrl_new(&c, &err);
	burst(r, "192.0.2.1", 0, 0, 10, v);
	assert_int_equal(v[RRL_SLIP], 0);
	assert_int_equal(v[RRL_DROP], 5);
	rrl_free(r);
	c.slip = 1;
	r = rrl_new(&c, &err);
	burst(r, "192.0.2.1", 0, 0, 10, v);
	assert_int_equal(v[RRL_SLIP], 5);
	assert_int_equal(v[RRL_DROP], 0);
	rrl_free(r);
}

static void test_truncate(void **state)
{
	/* Header (1 question, 1 answer), question example.com/A, one A record. */
	uint8_t p[] = { 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
			7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1,
			0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 2 };
	size_t n = rrl_truncate(p, sizeof(p));
	assert_int_equal(n, 12 + 13 + 4);
	assert_true(p[2] & 0x02);
	assert_int_equal(p[7], 0);
	assert_int_equal(p[5], 1);
	/* No question: nothing to send. */
	p[5] = 0;
	assert_int_equal(rrl_truncate(p, sizeof(p)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off_is_null),
		cmocka_unit_test(test_burst_then_drop_and_slip),
		cmocka_unit_test(test_window_debt_and_recovery),
		cmocka_unit_test(test_slip_zero_and_one),
		cmocka_unit_test(test_truncate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
