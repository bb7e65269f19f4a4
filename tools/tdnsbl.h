/* tools/tdnsbl.h - DNSBL query names and what an answer means.
 *
 * Shared by `gridns query`, `check` and `blcheck` so that all three agree
 * on the one rule that matters: an answer is "listed" only when it is an A
 * record inside 127.0.0.0/8 and outside the 127.255.255.0/24 error codes;
 * "not listed" only on NXDOMAIN; everything else (timeouts, SERVFAIL,
 * REFUSED, rewritten answers, NODATA) is "unknown", with a reason an
 * operator can act on.  Unknown is never "not listed".
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "tools/tdns.h"

/* What kind of key a target is. */
enum tdnsbl_kind {
	TDNSBL_IP4 = 1,
	TDNSBL_IP6,
	TDNSBL_DOMAIN,
};

/* The verdict for one target on one list. */
enum tdnsbl_verdict {
	TDNSBL_NOT_LISTED = 0,
	TDNSBL_LISTED,
	TDNSBL_UNKNOWN,
};

/* Classification of one answer. */
struct tdnsbl_result {
	enum tdnsbl_verdict verdict;
	char reason[256]; /* for UNKNOWN: why; for LISTED: the codes, "127.0.0.2,127.0.0.4" */
	uint32_t error_code; /* a 127.255.255.x code seen, else 0 */
};

/* Parse a target: IPv4, IPv6 or a domain name.  Returns the kind and
 * fills the binary address (4 or 16 octets) for IPs, or GN_EINVAL. */
int tdnsbl_parse_target(const char *target, uint8_t addr[16]);

/* Build the query name for target on zone: reversed octets, 32 reversed
 * nibbles, or "target.zone" for domains (a trailing dot is dropped).
 * Returns the length or GN_EINVAL (bad target or zone, or too long). */
int tdnsbl_qname(const char *target, const char *zone, char *out, size_t cap);

/* Classify the A query's outcome.  `refused` says that the kernel reported
 * the server port unreachable (wording of the timeout reason). */
void tdnsbl_classify(const struct tdns_query *q, int refused, struct tdnsbl_result *res);

/* Meaning of a 127.255.255.x code (Spamhaus' published ones, or generic). */
const char *tdnsbl_error_text(uint32_t code);

/* Dotted-quad text of a host-order IPv4 value. */
void tdnsbl_ip4_text(uint32_t v, char buf[16]);

/* "listed", "not listed" or "unknown". */
const char *tdnsbl_verdict_name(enum tdnsbl_verdict v);
