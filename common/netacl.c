/* common/netacl.c - client network lists. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/netacl.h"

int netacl_parse(const char *text, struct netacl_entry *out, const char **why)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	unsigned max;
	char *end;
	long plen;

	memset(out, 0, sizeof(*out));
	if (why)
		*why = "not an IPv4 or IPv6 address";
	if (alen == 0 || alen >= sizeof(buf))
		return GN_EINVAL;
	memcpy(buf, text, alen);
	buf[alen] = 0;
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return GN_EINVAL;
	}
	plen = max;
	if (slash) {
		plen = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || plen < 0 || plen > (long)max) {
			if (why)
				*why = "bad prefix length";
			return GN_EINVAL;
		}
	}
	out->plen = (uint8_t)plen;
	for (unsigned b = (unsigned)plen; b < max; b++)
		if (out->addr[b / 8] & (0x80 >> (b % 8))) {
			if (why)
				*why = "address has bits set below the prefix length";
			return GN_EINVAL;
		}
	return 0;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned plen)
{
	unsigned full = plen / 8, rest = plen % 8;
	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff00 >> rest)) == 0;
}

bool netacl_match(const struct netacl_entry *acl, size_t n, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *v4 = NULL, *v6 = NULL;

	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		v4 = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		v6 = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
		if (memcmp(v6, mapped, 12) == 0)
			v4 = v6 + 12;
	}
	for (size_t i = 0; i < n; i++) {
		if (acl[i].family == AF_INET && v4 && prefix_eq(acl[i].addr, v4, acl[i].plen))
			return true;
		if (acl[i].family == AF_INET6 && v6 && prefix_eq(acl[i].addr, v6, acl[i].plen))
			return true;
	}
	return false;
}
