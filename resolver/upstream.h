/* resolver/upstream.h - turning what a tier answered into what the client
 * gets: the client's ID, flags and question case, our own EDNS, truncation
 * to the client's UDP size; and the SERVFAIL (with an Extended DNS Error)
 * that is the only possible answer when every tier failed.
 *
 * Pure functions over caller buffers: no allocation, safe on any thread.
 * The upstream packet is untrusted input: every offset is bounds-checked,
 * and a packet that cannot be walked is rejected (the caller then answers
 * SERVFAIL: an unreadable answer is "unknown", never "not listed").
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "resolver/wire.h"

/* Build the client's response from upstream packet pkt[0..len).  `limit`
 * is the most the client accepts (its EDNS size, 512 without EDNS, 65535
 * over TCP); `our_udp` the payload size we advertise.  An answer that does
 * not fit is sent as header + question with TC set.  Returns the response
 * length, or 0 when pkt is malformed or does not answer q. */
size_t upstream_response(const struct wire_query *q, const uint8_t *pkt, size_t len,
			 uint8_t *out, size_t cap, size_t limit, uint16_t our_udp);

/* SERVFAIL for q, with EDE `ede` and `text` when the client used EDNS
 * (RFC 8914 options ride in OPT only).  Returns the length (0 if cap is too
 * small for even the header). */
size_t upstream_servfail(const struct wire_query *q, int ede, const char *text,
			 uint8_t *out, size_t cap, uint16_t our_udp);

/* The largest response the client accepts over UDP. */
static inline size_t upstream_udp_limit(const struct wire_query *q, uint16_t our_udp)
{
	size_t lim = q->edns ? (q->edns_udp < WIRE_UDP_MIN ? WIRE_UDP_MIN : q->edns_udp)
			     : WIRE_UDP_MIN;
	return lim > our_udp && q->edns ? our_udp : lim;
}

/* Append our OPT (with EDE `ede` unless < 0) to the finished response
 * buf[0..len) and count it; the client must have used EDNS.  Returns the
 * new length, or `len` unchanged when it does not fit in `cap`. */
size_t upstream_add_opt(const struct wire_query *q, uint8_t *buf, size_t len, size_t cap,
			uint16_t our_udp, int ede, const char *text);

/* A bare response with `rcode` (REFUSED, SERVFAIL...), the question echoed
 * and an EDE when the client used EDNS.  upstream_servfail is this with
 * SERVFAIL. */
size_t upstream_rcode(const struct wire_query *q, int rcode, int ede, const char *text,
		      uint8_t *out, size_t cap, uint16_t our_udp);
