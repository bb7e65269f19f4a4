/* common/netacl.h - client network lists ("127.0.0.0/8", "::1", "2001:db8::/32")
 * for access control: who may recurse, who may transfer or notify.
 *
 * Pure functions, no allocation after parsing, safe on any thread.  IPv4
 * clients arriving on an IPv6 socket as ::ffff:a.b.c.d match IPv4 entries.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct netacl_entry {
	uint8_t family;    /* AF_INET or AF_INET6 */
	uint8_t plen;      /* prefix length */
	uint8_t addr[16];  /* network order; IPv4 in the first 4 octets */
};

/* Parse "addr" or "addr/plen".  Host bits below the prefix must be zero
 * (a typo guard, as rbldnsd does for CIDR data).  Returns 0 or GN_EINVAL
 * with a static reason in *why. */
int netacl_parse(const char *text, struct netacl_entry *out, const char **why);

/* Does `sa` fall in any of acl[0..n)? */
bool netacl_match(const struct netacl_entry *acl, size_t n, const struct sockaddr *sa);
