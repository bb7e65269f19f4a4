/* tests/fuzz/fuzz_wire_parse.c - the query parser (wire_parse_query) on any
 * octets, plus the response writer fed the same octets as stored RDATA
 * (a damaged snapshot must not make the writer read or write out of bounds).
 *
 * Checked beyond "no crash": a parsed question lies inside the packet and
 * is a well-formed uncompressed name of qname_len octets; a finished
 * response never exceeds the writer's limit. */
#include <stdint.h>
#include <string.h>
#include "common/dname.h"
#include "resolver/wire.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_query q;
	int st = wire_parse_query(data, size, &q);

	if (st == WIRE_PARSE_OK && !q.has_question)
		fz_die("OK without a question");
	if (q.has_question) {
		if (q.qname < data || q.qname + q.qname_len > data + size)
			fz_die("qname outside the packet");
		if (dname_wire_len(q.qname) != (int)q.qname_len)
			fz_die("qname_len disagrees with the name");
	}

	/* The writer: question (when there is one) then the input as RDATA of
	 * each name-carrying type, into a small UDP-sized buffer so the
	 * "full" path is hit too. */
	static const uint16_t types[] = { WIRE_T_NS, WIRE_T_CNAME, WIRE_T_SOA, WIRE_T_PTR,
					  WIRE_T_MX, WIRE_T_SRV, WIRE_T_TXT, WIRE_T_A };
	uint8_t out[WIRE_UDP_MIN + 16];
	size_t cap = WIRE_UDP_MIN;
	struct wire_w w;
	size_t rdlen = size > 0xffff ? 0xffff : size;

	memset(out + cap, 0xa5, sizeof(out) - cap);
	wire_w_init(&w, out, cap);
	wire_w_header(&w, q.id, WIRE_F_QR);
	if (q.has_question)
		wire_w_question(&w, q.qname, q.qname_len, q.qtype, q.qclass);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct wire_mark m = wire_w_mark(&w);
		wire_w_rr_rdata(&w, WIRE_S_AN, NULL, types[i], 300, data, rdlen);
		if (w.full)
			wire_w_rollback(&w, &m);
	}
	wire_w_opt_do(&w, 1232, 0, q.edns_do, WIRE_EDE_OTHER, "fuzz");
	size_t n = wire_w_finish(&w);
	if (n > cap || w.len > cap)
		fz_die("writer went past its limit");
	for (size_t i = cap; i < sizeof(out); i++)
		if (out[i] != 0xa5)
			fz_die("writer wrote past its buffer");
	/* The RDATA walker used on stored data. */
	(void)wire_name_len_in(data, data + size);
	return 0;
}
