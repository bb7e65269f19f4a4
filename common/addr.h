/* common/addr.h - numeric socket addresses as operators write them.
 *
 * Accepted forms (the port is required unless a default is given):
 *   127.0.0.1:5300   IPv4 with port
 *   [::1]:5300       IPv6 in brackets with port (RFC 3986 style)
 *   ::1@5300         IPv6 or IPv4 with "@port" (the Knot/Unbound habit)
 *   fe80::1%eth0@53  a scope (interface) is allowed on link-local IPv6
 * Host names are refused on purpose: a DNS server must not need DNS to
 * start, and a name that resolves differently tomorrow would silently move
 * the listener.
 *
 * Pure functions, no allocation, safe on any thread.
 */
#pragma once
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest text addr_format() writes: "[v6%scope]:65535" plus NUL. */
#define ADDR_TEXT_MAX 80

/* A socket address with its length, ready for bind(2)/connect(2). */
struct addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	} u;
	socklen_t len; /* sizeof the family's sockaddr; 0 when unset */
};

/* Parse `text` (NUL-terminated) into `out`.  `default_port` is used when the
 * text carries no port; pass 0 to make the port mandatory.  Returns 0, or
 * GN_EINVAL with a short reason in *why (a static string, may be NULL). */
int addr_parse(const char *text, uint16_t default_port, struct addr *out, const char **why);

/* Format as "1.2.3.4:53" or "[::1]:53" (the form addr_parse reads back).
 * Returns the text length, or GN_ERANGE when `cap` is too small. */
int addr_format(const struct sockaddr *sa, char *buf, size_t cap);

/* Port of an AF_INET/AF_INET6 address in host order (0 for others). */
uint16_t addr_port(const struct addr *a);
/* Set the port (host order) of an AF_INET/AF_INET6 address. */
void addr_set_port(struct addr *a, uint16_t port);
/* True for 0.0.0.0 and :: (the kernel picks the source address per packet). */
int addr_is_wildcard(const struct addr *a);
