/* resolver/rrl.h - response-rate limiting for UDP answers (issue 6).
 *
 * One table per worker, allocated at start: no allocation and no lock per
 * query.  An account is a client prefix (ipv4-prefix / ipv6-prefix bits)
 * plus the class of the answer's rcode (NOERROR, NXDOMAIN, other).  BIND
 * and Knot also key on the query name; we do not, to stay simple: one
 * prefix asking many names shares one budget.  TCP is never limited (the
 * handshake proves the source address, so it cannot amplify).
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct rrl_conf {
	unsigned rate;        /* answers per second per account; 0 = off */
	unsigned window;      /* seconds of debt an account may build up */
	unsigned slip;        /* every slip-th limited answer goes out truncated; 0 = none */
	unsigned v4_prefix;   /* bits of an IPv4 client address that form the account */
	unsigned v6_prefix;
	unsigned table_size;  /* accounts per worker (rounded up to a power of two) */
};

enum rrl_verdict { RRL_PASS = 0, RRL_DROP, RRL_SLIP };

struct rrl;

/* A table for one worker; NULL with GN_ENOMEM in *err, or NULL and 0 when
 * c->rate is 0 (off).  Single-threaded: only its worker uses it. */
struct rrl *rrl_new(const struct rrl_conf *c, int *err);
void rrl_free(struct rrl *r);

/* Account one answer with `rcode` to `peer` at `now_ms` (monotonic).  */
enum rrl_verdict rrl_check(struct rrl *r, const struct sockaddr *peer, unsigned rcode,
			   uint64_t now_ms);

/* Turn the answer in resp[0..len) into an empty truncated one (header and
 * question, TC set, no records) so a real client retries over TCP.
 * Returns the new length, or 0 when the question cannot be found. */
size_t rrl_truncate(uint8_t *resp, size_t len);
