/* tests/fuzz/fuzz_xfr_client.c - the follower's side of AXFR/IXFR: one reply
 * message as it arrives from a primary, TSIG-verified as the follower does
 * (tsig_verify_reply, after signing its own query), decoded the way
 * fol_xfr.c's xmessage() does (ldns, then each answer record as an
 * xform_rr), and the records turned into a zone image by xform_parse, the
 * code that decides what the node will serve.
 *
 * First input octet: bit 0 = IXFR framing (after the first apex SOA, each
 * further apex SOA switches between deletions and additions, as an IXFR
 * difference sequence does); the rest is the message.  The zone is the
 * message's question name (else bl.example.test).
 *
 * Checked: xform_parse's documented results, and its round trip: the
 * image it builds, emitted and parsed again, yields the same number of
 * records (zonesync/xform_parse.h, "Round trip").
 *
 * Not reached here: fol_xfr.c's static SOA framing state machine (feed())
 * and the NOTIFY listener's handle(); both are only reachable through
 * sockets (docs/fuzzing.md). */
#include <stdint.h>
#include <string.h>
#include <ldns/ldns.h>
#include "common/dname.h"
#include "common/err.h"
#include "zonesync/tsig.h"
#include "zonesync/xform.h"
#include "zonesync/xform_parse.h"
#include "zonesync/zimg.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NOW 1700000000ull
static struct tsig_key key;
static ldns_buffer *rdbuf;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *why = NULL;
	(void)argc;
	(void)argv;
	fz_quiet();
	if (tsig_key_set(&key, "fz-key", "hmac-sha256",
			 "Z3JpZG5zIGZ1enoga2V5LCAzMiBvY3RldHMhISEhISE=", &why) != 0)
		fz_die(why ? why : "tsig key");
	if (!(rdbuf = ldns_buffer_new(65535)))
		fz_die("ldns_buffer_new");
	return 0;
}

/* The follower's query for the TSIG chain: AXFR bl.example.test, ID 0x4242. */
static void sign_query(struct tsig_ctx *c)
{
	static const uint8_t q[] = { 0x42, 0x42, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
				     2, 'b', 'l', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
				     4, 't', 'e', 's', 't', 0, 0, 252, 0, 1 };
	uint8_t m[512];
	size_t len = sizeof(q);
	memcpy(m, q, sizeof(q));
	tsig_ctx_init(c, &key, 0);
	if (tsig_sign_query(c, m, &len, sizeof(m), FZ_NOW) != 0)
		fz_die("tsig_sign_query");
}

static int add_cb(void *arg, const struct xform_rr *rr)
{
	int r = xform_parse_add(arg, rr);
	if (r != 0 && r != GN_ENOMEM)
		fz_die("an emitted record is refused by xform_parse_add");
	return 0;
}

static int count_cb(void *arg, const struct xform_rr *rr)
{
	(void)rr;
	(*(size_t *)arg)++;
	return 0;
}

/* Emit img, parse the records again, emit that: same count, or abort. */
static void round_trip(const struct zimg *img, const char *zone)
{
	struct xform_parse *p2 = xform_parse_new(zone);
	struct zimg *img2 = NULL;
	size_t n1 = 0, n2 = 0;
	char why[256];

	if (!p2)
		fz_die("xform_parse_new on a zone that parsed once");
	if (xform_emit(img, count_cb, &n1) != 0 || xform_emit(img, add_cb, p2) != 0) {
		xform_parse_free(p2);
		return; /* GN_ERANGE/GN_ENOMEM: documented */
	}
	int r = xform_parse_finish(p2, &img2, why, sizeof(why));
	if (r != 0) {
		fprintf(stderr, "round trip: %s\n", why);
		fz_die("an emitted image does not parse back");
	}
	if (xform_emit(img2, count_cb, &n2) != 0 || n1 != n2) {
		fprintf(stderr, "round trip: %zu records, then %zu\n", n1, n2);
		fz_die("round trip changed the record count");
	}
	zimg_free(img2);
	xform_parse_free(p2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tsig_ctx c;
	ldns_pkt *pkt = NULL;
	char zone[DNAME_TEXT_MAX] = "bl.example.test";
	uint8_t apex[DNAME_MAX];
	char why[256];

	if (size < 1)
		return 0;
	bool ixfr = data[0] & 1;
	data++;
	size--;
	sign_query(&c);
	(void)tsig_verify_reply(&c, data, size, FZ_NOW, NULL);
	if (ldns_wire2pkt(&pkt, data, size) != LDNS_STATUS_OK)
		return 0;

	ldns_rr_list *qs = ldns_pkt_question(pkt);
	if (qs && ldns_rr_list_rr_count(qs) > 0) {
		const ldns_rdf *o = ldns_rr_owner(ldns_rr_list_rr(qs, 0));
		if (ldns_rdf_size(o) <= DNAME_MAX &&
		    dname_to_text(ldns_rdf_data(o), zone, sizeof(zone)) <= 0)
			snprintf(zone, sizeof(zone), "bl.example.test");
	}
	struct xform_parse *p = xform_parse_new(zone);
	if (!p || dname_from_text(zone, strlen(zone), apex) <= 0) {
		xform_parse_free(p);
		ldns_pkt_free(pkt);
		return 0;
	}

	ldns_rr_list *an = ldns_pkt_answer(pkt);
	int soas = 0;
	bool del = false;
	for (size_t i = 0; an && i < ldns_rr_list_rr_count(an); i++) {
		ldns_rr *r = ldns_rr_list_rr(an, i);
		const ldns_rdf *o = ldns_rr_owner(r);
		struct xform_rr rr = { 0 };
		if (ldns_rr_get_class(r) != LDNS_RR_CLASS_IN || ldns_rdf_size(o) > DNAME_MAX)
			break; /* the follower stops: FOL_R_MALFORMED */
		ldns_buffer_clear(rdbuf);
		if (ldns_rr_rdata2buffer_wire(rdbuf, r) != LDNS_STATUS_OK ||
		    ldns_buffer_position(rdbuf) > 65535)
			break;
		rr.owner = ldns_rdf_data(o);
		rr.owner_len = (uint8_t)ldns_rdf_size(o);
		rr.type = (uint16_t)ldns_rr_get_type(r);
		rr.rclass = XFORM_CLASS_IN;
		rr.ttl = ldns_rr_ttl(r);
		rr.rdlen = (uint16_t)ldns_buffer_position(rdbuf);
		rr.rdata = ldns_buffer_begin(rdbuf);
		if (ixfr && rr.type == LDNS_RR_TYPE_SOA && dname_wire_equal(rr.owner, apex)) {
			/* new SOA, then (old SOA, deletions, new SOA, additions)... */
			if (soas++ > 0)
				del = !del;
			if (soas > 1 && del)
				continue;
		}
		int ret = del ? xform_parse_del(p, &rr) : xform_parse_add(p, &rr);
		if (ret != 0 && ret != GN_EINVAL && ret != GN_ENOMEM)
			fz_die("xform_parse_add/del: undocumented result");
	}
	ldns_pkt_free(pkt);

	struct zimg *img = NULL;
	int r = xform_parse_finish(p, &img, why, sizeof(why));
	if (r != 0 && r != GN_ENOENT && r != GN_EFORMAT && r != GN_EINVAL && r != GN_ENOMEM)
		fz_die("xform_parse_finish: undocumented result");
	if (r == 0) {
		if (!img)
			fz_die("finish OK without an image");
		round_trip(img, zone);
		zimg_free(img);
	}
	xform_parse_free(p);
	return 0;
}
