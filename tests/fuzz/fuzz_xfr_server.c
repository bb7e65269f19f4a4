/* tests/fuzz/fuzz_xfr_server.c - the publisher's side of AXFR/IXFR/SOA and
 * NOTIFY: a request as it arrives from the network, parsed (pub_q_parse)
 * and its TSIG verified against a key table (tsig_verify_query), then the
 * signed reply or the signed error that would go back (tsig_sign_reply /
 * tsig_sign_error) written into a bounded buffer.
 *
 * The clock is fixed (FZ_NOW), so seeds signed at that time with the key
 * below (tests/fuzz/make_corpus.py) verify and reach the signing path. */
#include <stdint.h>
#include <string.h>
#include "common/err.h"
#include "zonesync/pub_int.h"
#include "zonesync/tsig.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NOW 1700000000ull
static struct tsig_keytab tab;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct tsig_key k;
	const char *why = NULL;
	(void)argc;
	(void)argv;
	fz_quiet();
	tsig_keytab_init(&tab);
	/* The same key as make_corpus.py: base64 of "gridns fuzz key, 32 octets!!!!!!". */
	if (tsig_key_set(&k, "fz-key", "hmac-sha256",
			 "Z3JpZG5zIGZ1enoga2V5LCAzMiBvY3RldHMhISEhISE=", &why) != 0 ||
	    tsig_keytab_add(&tab, &k) != 0)
		fz_die(why ? why : "tsig key");
	if (tsig_key_set(&k, "fz-md5", "hmac-md5", "c2VjcmV0", &why) != 0 ||
	    tsig_keytab_add(&tab, &k) != 0)
		fz_die(why ? why : "tsig key");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[WIRE_TCP_MAX];
	struct pub_q q;
	struct tsig_ctx c;
	size_t off = 0, len;

	if (pub_q_parse(data, size, &q) == 0) {
		if (q.qname_len > DNAME_MAX || q.qsec_len > size ||
		    (q.qsec && (q.qsec < data || q.qsec + q.qsec_len > data + size)))
			fz_die("pub_q_parse: question outside the message");
	}
	tsig_ctx_init(&c, NULL, 0);
	int r = tsig_verify_query(&tab, &c, data, size, FZ_NOW, &off);
	if (r != 0 && r != GN_ENOENT && r != GN_EINVAL)
		fz_die("tsig_verify_query: undocumented result");
	if (r == GN_ENOENT || size > sizeof(buf) - 512)
		return 0;
	if (r == 0 && off > size)
		fz_die("tsig offset past the message");
	/* Reply = the request without its TSIG (as a stand-in for the answer
	 * the publisher builds), signed; or the error reply. */
	len = r == 0 ? off : size;
	if (len < WIRE_HDR_LEN)
		return 0;
	memcpy(buf, data, len);
	buf[2] |= 0x80;
	if (r == 0) {
		uint16_t ar = (uint16_t)(buf[10] << 8 | buf[11]);
		if (ar == 0)
			fz_die("verified TSIG but ARCOUNT is 0");
		ar--;
		buf[10] = (uint8_t)(ar >> 8);
		buf[11] = (uint8_t)ar;
		(void)tsig_sign_reply(&c, buf, &len, sizeof(buf), FZ_NOW);
		/* A second message of the same exchange (AXFR streams). */
		(void)tsig_sign_reply(&c, buf, &len, sizeof(buf), FZ_NOW + 1);
	} else {
		(void)tsig_sign_error(&c, buf, &len, sizeof(buf), FZ_NOW);
	}
	if (len > sizeof(buf))
		fz_die("signed reply past its buffer");
	return 0;
}
