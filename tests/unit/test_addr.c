/* tests/unit/test_addr.c - ADDR:PORT parsing and printing (common/addr). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "common/addr.h"
#include "common/err.h"

/* Parse, then print back; the printed form must parse to the same address. */
static void roundtrip(const char *in, uint16_t def, const char *want)
{
	struct addr a, b;
	char buf[ADDR_TEXT_MAX];
	const char *why = NULL;

	assert_int_equal(addr_parse(in, def, &a, &why), 0);
	assert_null(why);
	assert_true(addr_format(&a.u.sa, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, want);
	assert_int_equal(addr_parse(buf, 0, &b, NULL), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(&a.u, &b.u, a.len);
}

static void test_forms(void **state)
{
	roundtrip("127.0.0.1:5300", 0, "127.0.0.1:5300");
	roundtrip("[::1]:5300", 0, "[::1]:5300");
	roundtrip("::1@5300", 0, "[::1]:5300");
	roundtrip("127.0.0.1@53", 0, "127.0.0.1:53");
	roundtrip("[2001:db8::1]@53", 0, "[2001:db8::1]:53");
	roundtrip("0.0.0.0:53", 0, "0.0.0.0:53");
	roundtrip("[::]:53", 0, "[::]:53");
	roundtrip("10.1.2.3:65535", 0, "10.1.2.3:65535");
	roundtrip("127.0.0.1:0", 0, "127.0.0.1:0"); /* tests: kernel picks */
}

static void test_default_port(void **state)
{
	roundtrip("192.0.2.1", 53, "192.0.2.1:53");
	roundtrip("::1", 53, "[::1]:53");
	roundtrip("[::1]", 853, "[::1]:853");
	roundtrip("192.0.2.1:54", 53, "192.0.2.1:54");
}

static void test_family_and_fields(void **state)
{
	struct addr a;

	assert_int_equal(addr_parse("192.0.2.7:5300", 0, &a, NULL), 0);
	assert_int_equal(a.u.sa.sa_family, AF_INET);
	assert_int_equal(a.len, sizeof(struct sockaddr_in));
	assert_int_equal(addr_port(&a), 5300);
	assert_int_equal(ntohl(a.u.in4.sin_addr.s_addr), 0xc0000207);
	assert_false(addr_is_wildcard(&a));
	addr_set_port(&a, 53);
	assert_int_equal(addr_port(&a), 53);

	assert_int_equal(addr_parse("::@53", 0, &a, NULL), 0);
	assert_int_equal(a.u.sa.sa_family, AF_INET6);
	assert_int_equal(a.len, sizeof(struct sockaddr_in6));
	assert_true(addr_is_wildcard(&a));
}

static void test_scope(void **state)
{
	struct addr a;
	char buf[ADDR_TEXT_MAX];

	/* "lo" exists everywhere Linux runs; numeric scopes are accepted too. */
	assert_int_equal(addr_parse("[fe80::1%lo]:53", 0, &a, NULL), 0);
	assert_true(a.u.in6.sin6_scope_id > 0);
	assert_true(addr_format(&a.u.sa, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "[fe80::1%lo]:53");
	assert_int_equal(addr_parse("fe80::1%7@53", 0, &a, NULL), 0);
	assert_int_equal(a.u.in6.sin6_scope_id, 7);
	assert_int_equal(addr_parse("fe80::1%nosuchif0@53", 0, &a, NULL), GN_EINVAL);
}

static void test_rejects(void **state)
{
	static const char *const bad[] = {
		"", "127.0.0.1", "::1", "[::1]", "localhost:53", "example.com@53",
		"127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:53x",
		"127.0.0.1: 53", "1.2.3:53", "256.0.0.1:53", "[::1:53", "[::1]53",
		"[::1]:", "[127.0.0.1]x", ":53", "@53", "[]:53", "::1:53:", "1.2.3.4:0053x",
	};
	struct addr a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;
		int r = addr_parse(bad[i], 0, &a, &why);
		if (r != GN_EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_non_null(why);
	}
	assert_int_equal(addr_parse(NULL, 0, &a, NULL), GN_EINVAL);
}

static void test_format_small_buffer(void **state)
{
	struct addr a;
	char buf[8];

	assert_int_equal(addr_parse("[2001:db8::1]:53", 0, &a, NULL), 0);
	assert_int_equal(addr_format(&a.u.sa, buf, sizeof(buf)), GN_ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_default_port),
		cmocka_unit_test(test_family_and_fields),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_format_small_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
