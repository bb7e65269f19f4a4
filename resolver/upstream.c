/* resolver/upstream.c - client responses from tier answers (see upstream.h). */
#include <string.h>
#include "common/dname.h"
#include "resolver/upstream.h"

#define TYPE_SIG 24
#define TYPE_TSIG 250

/* Skip a possibly compressed name at pkt[off]; returns the offset after it
 * or 0 when malformed.  Pointers are not followed: only the bytes of this
 * occurrence are skipped. */
static size_t up_skip_name(const uint8_t *pkt, size_t len, size_t off)
{
	for (unsigned labels = 0; off < len && labels < 128; labels++) {
		uint8_t c = pkt[off];
		if (c == 0)
			return off + 1;
		if ((c & 0xc0) == 0xc0)
			return off + 2 <= len ? off + 2 : 0;
		if (c & 0xc0)
			return 0; /* extended label types: not in answers we accept */
		off += 1u + c;
	}
	return 0;
}

/* Skip one RR; returns the offset after it (0 when malformed) and its type. */
static size_t up_skip_rr(const uint8_t *pkt, size_t len, size_t off, uint16_t *type)
{
	size_t rdlen;
	if ((off = up_skip_name(pkt, len, off)) == 0 || off + 10 > len)
		return 0;
	*type = (uint16_t)(pkt[off] << 8 | pkt[off + 1]);
	rdlen = (size_t)(pkt[off + 8] << 8 | pkt[off + 9]);
	off += 10;
	return off + rdlen <= len ? off + rdlen : 0;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* Our OPT, echoing the client's DO bit (RFC 3225). */
static void up_opt(struct wire_w *w, const struct wire_query *q, uint16_t our_udp, int ede,
		   const char *text)
{
	size_t at = w->len;
	wire_w_opt(w, our_udp, 0, ede, text);
	if (!w->full && q->edns_do)
		w->buf[at + 7] |= 0x80;
}

static uint16_t up_flags(const struct wire_query *q, uint16_t up_flags_word, int rcode)
{
	uint16_t f = WIRE_F_QR | WIRE_F_RA | (q->flags & (WIRE_F_RD | WIRE_F_CD));
	/* RFC 6840 5.7: AD only for clients that asked for DNSSEC (DO or AD). */
	if ((up_flags_word & WIRE_F_AD) && (q->edns_do || (q->flags & WIRE_F_AD)))
		f |= WIRE_F_AD;
	return (uint16_t)(f | (rcode & 0xf));
}

size_t upstream_rcode(const struct wire_query *q, int rcode, int ede, const char *text,
		      uint8_t *out, size_t cap, uint16_t our_udp)
{
	struct wire_w w;

	wire_w_init(&w, out, cap);
	wire_w_header(&w, q->id, up_flags(q, 0, rcode));
	if (q->has_question)
		wire_w_question(&w, q->qname, q->qname_len, q->qtype, q->qclass);
	if (q->edns) {
		struct wire_mark m = wire_w_mark(&w);
		up_opt(&w, q, our_udp, ede, text);
		if (w.full) { /* a long EXTRA-TEXT must not cost the answer */
			wire_w_rollback(&w, &m);
			up_opt(&w, q, our_udp, ede, NULL);
		}
	}
	return wire_w_finish(&w);
}

size_t upstream_servfail(const struct wire_query *q, int ede, const char *text,
			 uint8_t *out, size_t cap, uint16_t our_udp)
{
	return upstream_rcode(q, WIRE_R_SERVFAIL, ede, text, out, cap, our_udp);
}

size_t upstream_add_opt(const struct wire_query *q, uint8_t *buf, size_t len, size_t cap,
			uint16_t our_udp, int ede, const char *text)
{
	struct wire_w w;
	size_t n;

	if (len < WIRE_HDR_LEN)
		return len;
	wire_w_init(&w, buf, cap);
	w.len = len;
	for (int i = 0; i < 4; i++)
		w.cnt[i] = rd16(buf + 4 + 2 * i);
	up_opt(&w, q, our_udp, ede, text);
	n = wire_w_finish(&w);
	return n ? n : len;
}

size_t upstream_response(const struct wire_query *q, const uint8_t *pkt, size_t len,
			 uint8_t *out, size_t cap, size_t limit, uint16_t our_udp)
{
	uint16_t cnt[4], type, flags;
	size_t off, keep, ar_end;
	unsigned ar_kept = 0;
	struct wire_w w;
	int rcode;

	if (len < WIRE_HDR_LEN || !q->has_question)
		return 0;
	for (int i = 0; i < 4; i++)
		cnt[i] = rd16(pkt + 4 + 2 * i);
	if (cnt[0] != 1)
		return 0;
	off = WIRE_HDR_LEN;
	/* The question must be ours, byte for byte but for case. */
	if (off + q->qname_len + 4 > len ||
	    !dname_wire_equal(pkt + off, q->qname) ||
	    rd16(pkt + off + q->qname_len) != q->qtype ||
	    rd16(pkt + off + q->qname_len + 2) != q->qclass)
		return 0;
	off += q->qname_len + 4u;
	for (unsigned i = 0; i < (unsigned)cnt[1] + cnt[2]; i++)
		if ((off = up_skip_rr(pkt, len, off, &type)) == 0)
			return 0;
	/* Additional data up to the first OPT/TSIG/SIG(0): those belong to
	 * the upstream hop, not to our client; anything after them is dropped
	 * rather than moved (moving would break compression pointers). */
	keep = off;
	for (unsigned i = 0; i < cnt[3]; i++) {
		if ((ar_end = up_skip_rr(pkt, len, off, &type)) == 0)
			return 0;
		if (type == WIRE_T_OPT || type == TYPE_TSIG || type == TYPE_SIG)
			break;
		off = keep = ar_end;
		ar_kept++;
	}
	flags = rd16(pkt + 2);
	rcode = flags & 0xf;
	if (limit > cap)
		limit = cap;

	if (keep + (q->edns ? 11u : 0u) <= limit) {
		memcpy(out, pkt, keep);
		out[0] = (uint8_t)(q->id >> 8);
		out[1] = (uint8_t)q->id;
		flags = up_flags(q, flags, rcode);
		out[2] = (uint8_t)(flags >> 8);
		out[3] = (uint8_t)flags;
		memcpy(out + WIRE_HDR_LEN, q->qname, q->qname_len); /* client's case */
		out[10] = (uint8_t)(ar_kept >> 8);
		out[11] = (uint8_t)ar_kept;
		if (!q->edns)
			return keep;
		/* Append our OPT through the writer, positioned after the copy. */
		wire_w_init(&w, out, limit);
		w.len = keep;
		w.cnt[0] = cnt[0];
		w.cnt[1] = cnt[1];
		w.cnt[2] = cnt[2];
		w.cnt[3] = (uint16_t)ar_kept;
		up_opt(&w, q, our_udp, -1, NULL);
		return wire_w_finish(&w);
	}
	/* Too big for the client: header + question + TC, it retries on TCP. */
	wire_w_init(&w, out, limit);
	wire_w_header(&w, q->id, (uint16_t)(up_flags(q, flags, rcode) | WIRE_F_TC));
	wire_w_question(&w, q->qname, q->qname_len, q->qtype, q->qclass);
	if (q->edns)
		up_opt(&w, q, our_udp, -1, NULL);
	return wire_w_finish(&w);
}
