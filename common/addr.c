/* common/addr.c - parse and print numeric socket addresses. */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/addr.h"
#include "common/err.h"

/* Decimal port 1..65535, nothing else (no sign, no spaces, no service name). */
static int addr_port_parse(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (*s == '\0')
		return GN_EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return GN_EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			return GN_EINVAL;
	}
	*port = (uint16_t)v;
	return 0;
}

/* Host part: IPv4 dotted quad or IPv6 with an optional %scope. */
static int addr_host_parse(const char *host, uint16_t port, struct addr *out, const char **why)
{
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	char *scope;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &out->u.in4.sin_addr) == 1) {
		out->u.in4.sin_family = AF_INET;
		out->u.in4.sin_port = htons(port);
		out->len = sizeof(out->u.in4);
		return 0;
	}
	if (strlen(host) >= sizeof(buf)) {
		*why = "address too long";
		return GN_EINVAL;
	}
	strcpy(buf, host);
	scope = strchr(buf, '%');
	if (scope)
		*scope++ = '\0';
	if (inet_pton(AF_INET6, buf, &out->u.in6.sin6_addr) != 1) {
		*why = "not a numeric IPv4 or IPv6 address (host names are not accepted)";
		return GN_EINVAL;
	}
	if (scope) {
		unsigned idx = if_nametoindex(scope);
		if (idx == 0) {
			char *end;
			unsigned long v = strtoul(scope, &end, 10);
			if (*scope == '\0' || *end != '\0' || v == 0 || v > 0xffffffffUL) {
				*why = "unknown interface in IPv6 scope";
				return GN_EINVAL;
			}
			idx = (unsigned)v;
		}
		out->u.in6.sin6_scope_id = idx;
	}
	out->u.in6.sin6_family = AF_INET6;
	out->u.in6.sin6_port = htons(port);
	out->len = sizeof(out->u.in6);
	return 0;
}

int addr_parse(const char *text, uint16_t default_port, struct addr *out, const char **why)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *port_s = NULL, *sep;
	const char *dummy;
	size_t hlen;
	uint16_t port = default_port;

	if (!why)
		why = &dummy;
	*why = NULL;
	if (!text || !*text) {
		*why = "empty address";
		return GN_EINVAL;
	}
	if (text[0] == '[') {
		/* [v6]:port or [v6] */
		sep = strchr(text, ']');
		if (!sep) {
			*why = "missing ']'";
			return GN_EINVAL;
		}
		hlen = (size_t)(sep - text - 1);
		if (sep[1] == ':' || sep[1] == '@')
			port_s = sep + 2;
		else if (sep[1] != '\0') {
			*why = "expected ':PORT' after ']'";
			return GN_EINVAL;
		}
		text++;
	} else if ((sep = strrchr(text, '@')) != NULL) {
		hlen = (size_t)(sep - text);
		port_s = sep + 1;
	} else if ((sep = strchr(text, ':')) != NULL && strchr(sep + 1, ':') == NULL) {
		/* Exactly one colon: IPv4:port.  Several colons and no brackets
		 * is a bare IPv6 address, which cannot carry a ":port". */
		hlen = (size_t)(sep - text);
		port_s = sep + 1;
	} else {
		hlen = strlen(text);
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		*why = hlen ? "address too long" : "missing host address";
		return GN_EINVAL;
	}
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (port_s) {
		if (addr_port_parse(port_s, &port) < 0 || port == 0) {
			/* Port 0 is only meaningful for tests; allow it explicitly. */
			if (!(port_s[0] == '0' && port_s[1] == '\0')) {
				*why = "port must be a number 0..65535";
				return GN_EINVAL;
			}
			port = 0;
		}
	} else if (default_port == 0) {
		*why = "missing port (write ADDR:PORT, [V6]:PORT or ADDR@PORT)";
		return GN_EINVAL;
	}
	return addr_host_parse(host, port, out, why);
}

int addr_format(const struct sockaddr *sa, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];
	char scope[IF_NAMESIZE + 2] = "";
	int n;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		if (!inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host)))
			return GN_EINVAL;
		n = snprintf(buf, cap, "%s:%u", host, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		if (!inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host)))
			return GN_EINVAL;
		if (s6->sin6_scope_id) {
			char ifn[IF_NAMESIZE];
			if (if_indextoname(s6->sin6_scope_id, ifn))
				snprintf(scope, sizeof(scope), "%%%s", ifn);
			else
				snprintf(scope, sizeof(scope), "%%%u", (unsigned)s6->sin6_scope_id);
		}
		n = snprintf(buf, cap, "[%s%s]:%u", host, scope, ntohs(s6->sin6_port));
	} else {
		n = snprintf(buf, cap, "(family %d)", sa->sa_family);
	}
	if (n < 0 || (size_t)n >= cap)
		return GN_ERANGE;
	return n;
}

uint16_t addr_port(const struct addr *a)
{
	if (a->u.sa.sa_family == AF_INET)
		return ntohs(a->u.in4.sin_port);
	if (a->u.sa.sa_family == AF_INET6)
		return ntohs(a->u.in6.sin6_port);
	return 0;
}

void addr_set_port(struct addr *a, uint16_t port)
{
	if (a->u.sa.sa_family == AF_INET)
		a->u.in4.sin_port = htons(port);
	else if (a->u.sa.sa_family == AF_INET6)
		a->u.in6.sin6_port = htons(port);
}

int addr_is_wildcard(const struct addr *a)
{
	if (a->u.sa.sa_family == AF_INET)
		return a->u.in4.sin_addr.s_addr == htonl(INADDR_ANY);
	if (a->u.sa.sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&a->u.in6.sin6_addr);
	return 0;
}
