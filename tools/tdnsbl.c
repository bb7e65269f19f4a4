/* tools/tdnsbl.c - DNSBL query names and answer classification. */
#include "tools/tdnsbl.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

static const char hexdig[] = "0123456789abcdef";

int tdnsbl_parse_target(const char *target, uint8_t addr[16])
{
	uint8_t wire[DNAME_MAX];
	size_t len = strlen(target);

	if (len == 0)
		return GN_EINVAL;
	if (inet_pton(AF_INET, target, addr) == 1)
		return TDNSBL_IP4;
	if (inet_pton(AF_INET6, target, addr) == 1)
		return TDNSBL_IP6;
	/* A name: must be a valid DNS name and not look like a mistyped IP. */
	if (strchr(target, ':') || strchr(target, '/'))
		return GN_EINVAL;
	if (dname_from_text(target, len, wire) < 0)
		return GN_EINVAL;
	return TDNSBL_DOMAIN;
}

void tdnsbl_ip4_text(uint32_t v, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", (unsigned)(v >> 24), (unsigned)((v >> 16) & 255),
		 (unsigned)((v >> 8) & 255), (unsigned)(v & 255));
}

int tdnsbl_qname(const char *target, const char *zone, char *out, size_t cap)
{
	uint8_t a[16];
	char zbuf[DNAME_TEXT_MAX];
	uint8_t wire[DNAME_MAX];
	size_t zl = strlen(zone);
	int kind = tdnsbl_parse_target(target, a);
	int n;

	if (kind < 0 || zl == 0 || zl >= sizeof(zbuf))
		return GN_EINVAL;
	memcpy(zbuf, zone, zl + 1);
	if (zl > 1 && zbuf[zl - 1] == '.')
		zbuf[--zl] = '\0';
	if (kind == TDNSBL_IP4) {
		n = snprintf(out, cap, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0], zbuf);
	} else if (kind == TDNSBL_IP6) {
		char nib[64];
		for (int i = 0; i < 16; i++) {
			nib[(15 - i) * 4 + 0] = hexdig[a[i] & 15];
			nib[(15 - i) * 4 + 1] = '.';
			nib[(15 - i) * 4 + 2] = hexdig[a[i] >> 4];
			nib[(15 - i) * 4 + 3] = '.';
		}
		n = snprintf(out, cap, "%.64s%s", nib, zbuf);
	} else {
		size_t tl = strlen(target);
		if (target[tl - 1] == '.')
			tl--;
		n = snprintf(out, cap, "%.*s.%s", (int)tl, target, zbuf);
	}
	if (n < 0 || (size_t)n >= cap)
		return GN_EINVAL;
	/* The result must still be a DNS name (255 octets, 63 per label). */
	if (dname_from_text(out, (size_t)n, wire) < 0)
		return GN_EINVAL;
	return n;
}

const char *tdnsbl_error_text(uint32_t code)
{
	switch (code & 0xff) {
	case 252:
		return "typo in the list name or wrong zone (Spamhaus 127.255.255.252)";
	case 254:
		return "your resolver is blocked by the list: the query came via a public or "
		       "non-attributable resolver (Spamhaus 127.255.255.254); query through your own "
		       "resolver or a DQS key";
	case 255:
		return "too many queries from your resolver (Spamhaus 127.255.255.255: rate limited)";
	default:
		return "DNSBL error code in 127.255.255.0/24 (not a listing)";
	}
}

const char *tdnsbl_verdict_name(enum tdnsbl_verdict v)
{
	switch (v) {
	case TDNSBL_LISTED:
		return "listed";
	case TDNSBL_NOT_LISTED:
		return "not listed";
	default:
		return "unknown";
	}
}

static const char *rcode_name(int rc)
{
	static const char *names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
				       "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
				       "NXRRSET", "NOTAUTH", "NOTZONE" };
	return (rc >= 0 && rc < (int)(sizeof(names) / sizeof(names[0]))) ? names[rc] : "RCODE?";
}

#define SETR(res, ...) snprintf((res)->reason, sizeof((res)->reason), __VA_ARGS__)

void tdnsbl_classify(const struct tdns_query *q, int refused, struct tdnsbl_result *res)
{
	char ip[16];
	size_t used = 0;
	int kept = q->n_a < TDNS_MAX_A ? q->n_a : TDNS_MAX_A;

	res->verdict = TDNSBL_UNKNOWN;
	res->reason[0] = '\0';
	res->error_code = 0;
	if (q->status == TDNS_TIMEOUT) {
		if (refused)
			SETR(res, "no answer: nothing listens at the server (ICMP port unreachable)");
		else
			SETR(res, "timeout: no answer after %d tries", q->tries);
		return;
	}
	if (q->status != TDNS_ANSWERED) {
		SETR(res, "malformed or mismatched replies only");
		return;
	}
	switch (q->rcode) {
	case 0:
		break;
	case 3:
		/* NXDOMAIN is the only "not listed". */
		res->verdict = TDNSBL_NOT_LISTED;
		return;
	case 2:
		SETR(res, "SERVFAIL: the resolver could not get an answer from the list");
		return;
	case 5:
		SETR(res, "REFUSED: the server will not answer this name for us (ACL, or not a "
			  "resolver)");
		return;
	default:
		SETR(res, "%s from the server", rcode_name(q->rcode));
		return;
	}
	if (q->n_a == 0) {
		SETR(res, q->tc ? "truncated answer without an A record"
				: "NOERROR without an A record (NODATA): not a DNSBL answer");
		return;
	}
	/* Errors first: one bad value makes the whole answer unusable. */
	for (int i = 0; i < kept; i++) {
		uint32_t v = q->a[i];
		tdnsbl_ip4_text(v, ip);
		if ((v >> 24) != 127) {
			SETR(res, "answer %s is outside 127.0.0.0/8: rewritten by a resolver or "
				  "middlebox, not a listing", ip);
			return;
		}
		if ((v >> 8) == 0x7fffff) {
			res->error_code = v;
			SETR(res, "error %s: %s", ip, tdnsbl_error_text(v));
			return;
		}
	}
	res->verdict = TDNSBL_LISTED;
	for (int i = 0; i < kept && used + 17 < sizeof(res->reason); i++) {
		tdnsbl_ip4_text(q->a[i], ip);
		int w = snprintf(res->reason + used, sizeof(res->reason) - used, "%s%s",
				 i ? "," : "", ip);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}
