/* tests/unit/test_netacl.c - client network lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <string.h>
#include <cmocka.h>
#include "common/err.h"
#include "common/netacl.h"

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

static void test_parse_and_match(void **state)
{
	struct netacl_entry acl[3];
	struct sockaddr_storage s;
	const char *why;
	(void)state;
	assert_int_equal(netacl_parse("127.0.0.0/8", &acl[0], &why), 0);
	assert_int_equal(netacl_parse("2001:db8::/32", &acl[1], &why), 0);
	assert_int_equal(netacl_parse("192.0.2.7", &acl[2], &why), 0);
	s = sa("127.9.9.9");
	assert_true(netacl_match(acl, 3, (struct sockaddr *)&s));
	s = sa("::ffff:127.0.0.1");
	assert_true(netacl_match(acl, 3, (struct sockaddr *)&s));
	s = sa("2001:db8:1::1");
	assert_true(netacl_match(acl, 3, (struct sockaddr *)&s));
	s = sa("2001:db9::1");
	assert_false(netacl_match(acl, 3, (struct sockaddr *)&s));
	s = sa("192.0.2.8");
	assert_false(netacl_match(acl, 3, (struct sockaddr *)&s));
	s = sa("192.0.2.7");
	assert_true(netacl_match(acl, 3, (struct sockaddr *)&s));
	assert_false(netacl_match(acl, 0, (struct sockaddr *)&s));
}

static void test_rejects(void **state)
{
	struct netacl_entry e;
	const char *why;
	(void)state;
	assert_int_equal(netacl_parse("127.0.0.1/8", &e, &why), GN_EINVAL); /* host bits */
	assert_int_equal(netacl_parse("10.0.0.0/33", &e, &why), GN_EINVAL);
	assert_int_equal(netacl_parse("10.0.0.0/", &e, &why), GN_EINVAL);
	assert_int_equal(netacl_parse("example.com", &e, &why), GN_EINVAL);
	assert_int_equal(netacl_parse("", &e, &why), GN_EINVAL);
	assert_int_equal(netacl_parse("::/0", &e, &why), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_match),
		cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests_name("netacl", tests, NULL, NULL);
}
