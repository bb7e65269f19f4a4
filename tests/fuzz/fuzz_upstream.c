/* tests/fuzz/fuzz_upstream.c - upstream_response() on a hostile tier answer.
 *
 * The first input octet picks the client (EDNS or not, UDP size, TCP, the
 * question taken from the packet itself or a fixed one, question case
 * flipped); the rest is the upstream packet.  Taking the question from the
 * packet is what lets the fuzzer get past "does not answer q" into the
 * record walk.  Checked: the response fits the client's limit and `cap`,
 * and a non-empty response echoes the client's ID. */
#include <stdint.h>
#include <string.h>
#include "resolver/upstream.h"
#include "resolver/wire.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fixed_qname[] = "\x01" "2" "\x01" "0" "\x01" "0" "\x03" "127"
				     "\x02" "bl" "\x07" "example" "\x04" "test";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t qbuf[WIRE_TCP_MAX], out[WIRE_TCP_MAX];
	struct wire_query q;

	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	const uint8_t *pkt = data + 1;
	size_t len = size - 1;

	if (!(ctl & 0x01) || !fz_query_of(pkt, len, qbuf, sizeof(qbuf), &q)) {
		memset(&q, 0, sizeof(q));
		q.has_question = true;
		q.qname = fixed_qname;
		q.qname_len = sizeof(fixed_qname);
		q.qtype = WIRE_T_A;
		q.qclass = WIRE_C_IN;
	}
	q.id = 0xbeef;
	q.flags = WIRE_F_RD | ((ctl & 0x02) ? WIRE_F_CD | WIRE_F_AD : 0);
	q.edns = (ctl & 0x04) != 0;
	q.edns_udp = (uint16_t)(q.edns ? 512u << ((ctl >> 3) & 3) : 0);
	q.edns_do = (ctl & 0x20) != 0;
	if (ctl & 0x40 && q.qname == qbuf + WIRE_HDR_LEN)
		fz_flip_case(qbuf + WIRE_HDR_LEN);
	size_t limit = ctl & 0x80 ? WIRE_TCP_MAX : upstream_udp_limit(&q, 1232);

	size_t n = upstream_response(&q, pkt, len, out, sizeof(out), limit, 1232);
	if (n > limit)
		fz_die("response larger than the client's limit");
	if (n && (out[0] != 0xbe || out[1] != 0xef))
		fz_die("response does not carry the client's ID");

	/* The other builders on the same client, into a tight buffer. */
	n = upstream_servfail(&q, WIRE_EDE_OTHER, "fuzz", out, WIRE_UDP_MIN, 1232);
	if (n > WIRE_UDP_MIN)
		fz_die("servfail past cap");
	if (n)
		(void)upstream_add_opt(&q, out, n, WIRE_UDP_MIN, 1232, WIRE_EDE_NOT_READY, "x");
	return 0;
}
