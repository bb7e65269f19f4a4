/* tests/unit/test_tsig.c - TSIG (zonesync/tsig): keys, signing and
 * verification, cross-checked against ldns in both directions, and the
 * multi-message chaining of AXFR/IXFR streams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <libconfig.h>
#include <ldns/ldns.h>
#include "common/err.h"
#include "common/strbuf.h"
#include "zonesync/tsig.h"

#define SECRET "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=" /* 32 octets */
#define OTHER  "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXItMTI=" /* 32 octets */

/* A query or reply in wire form, made by ldns; returns its length. */
static size_t make_msg(uint8_t *buf, size_t cap, uint16_t id, bool reply, int n_a)
{
	ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str("bl.example.test."),
					 LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN, 0);
	uint8_t *wire = NULL;
	size_t len = 0;

	assert_non_null(p);
	ldns_pkt_set_id(p, id);
	if (reply) {
		ldns_pkt_set_qr(p, true);
		for (int i = 0; i < n_a; i++) {
			char txt[128];
			ldns_rr *rr = NULL;
			snprintf(txt, sizeof(txt), "%d.2.0.192.bl.example.test. 60 IN A 127.0.0.2", i);
			assert_int_equal(ldns_rr_new_frm_str(&rr, txt, 0, NULL, NULL), LDNS_STATUS_OK);
			ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
		}
	}
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	assert_true(len <= cap);
	memcpy(buf, wire, len);
	free(wire);
	ldns_pkt_free(p);
	return len;
}

static void test_key_parse(void **state)
{
	struct tsig_key k;
	const char *why;

	assert_int_equal(tsig_key_parse("xfr.Key.:hmac-sha256:" SECRET, &k, &why), 0);
	assert_string_equal(k.name, "xfr.key");
	assert_int_equal(k.alg, TSIG_HMAC_SHA256);
	assert_int_equal(k.secret_len, 32);
	assert_memory_equal(k.secret, "secret-secret-secret-secret-1234", 32);
	/* kdig's -y order */
	assert_int_equal(tsig_key_parse("hmac-sha512:xfr:" SECRET, &k, &why), 0);
	assert_int_equal(k.alg, TSIG_HMAC_SHA512);
	assert_string_equal(k.name, "xfr");
	/* default algorithm */
	assert_int_equal(tsig_key_parse("xfr:" SECRET, &k, &why), 0);
	assert_int_equal(k.alg, TSIG_HMAC_SHA256);
	assert_int_equal(tsig_key_parse("xfr:hmac-sha999:" SECRET, &k, &why), GN_EINVAL);
	assert_non_null(strstr(why, "algorithm"));
	assert_int_equal(tsig_key_parse("xfr:hmac-sha1:not*base64", &k, &why), GN_EINVAL);
	assert_non_null(strstr(why, "base64"));
	assert_int_equal(tsig_key_parse("nocolon", &k, &why), GN_EINVAL);
	assert_string_equal(tsig_alg_name(TSIG_HMAC_MD5), "hmac-md5.sig-alg.reg.int");
	assert_int_equal(tsig_alg_parse("HMAC-MD5"), TSIG_HMAC_MD5);
}

static void test_b64(void **state)
{
	uint8_t out[8];
	assert_int_equal(tsig_b64_decode("Zm9vYmFy", out, sizeof(out)), 6);
	assert_memory_equal(out, "foobar", 6);
	assert_int_equal(tsig_b64_decode("Zm9vYg==", out, sizeof(out)), 4);
	assert_int_equal(tsig_b64_decode("Zm9v\nYmE=", out, sizeof(out)), 5);
	assert_int_equal(tsig_b64_decode("Zm9=vYg", out, sizeof(out)), GN_EINVAL);
	assert_int_equal(tsig_b64_decode("Zm9vYmFyZm9vYmFy", out, sizeof(out)), GN_ERANGE);
}

static void test_keytab_config(void **state)
{
	static const char text[] =
		"keys = (\n"
		"  { name = \"a\"; algorithm = \"hmac-sha256\"; secret = \"" SECRET "\"; },\n"
		"  \"b:hmac-sha1:" SECRET "\",\n"
		"  { name = \"c\"; algorithm = \"hmac-nope\"; secret = \"" SECRET "\"; },\n"
		"  { name = \"a\"; secret = \"" SECRET "\"; }\n"
		");\n";
	config_t cfg;
	struct tsig_keytab t;
	struct strbuf errs;

	config_init(&cfg);
	strbuf_init(&errs);
	tsig_keytab_init(&t);
	assert_int_equal(config_read_string(&cfg, text), CONFIG_TRUE);
	assert_int_equal(tsig_keytab_load(&t, config_lookup(&cfg, "keys"), "test.conf", &errs),
			 GN_EINVAL);
	assert_int_equal(t.n, 2);
	assert_non_null(tsig_keytab_find(&t, "A."));
	assert_non_null(tsig_keytab_find(&t, "b"));
	assert_null(tsig_keytab_find(&t, "c"));
	assert_non_null(strstr(errs.p, "test.conf:4: keys: key c: unknown algorithm"));
	assert_non_null(strstr(errs.p, "test.conf:5: keys: key a is defined twice"));
	tsig_keytab_deinit(&t);
	strbuf_free(&errs);
	config_destroy(&cfg);
}

static const ldns_rdf *ldns_mac(const uint8_t *wire, size_t len, ldns_pkt **keep)
{
	assert_int_equal(ldns_wire2pkt(keep, wire, len), LDNS_STATUS_OK);
	assert_non_null(ldns_pkt_tsig(*keep));
	return ldns_rr_rdf(ldns_pkt_tsig(*keep), 3);
}

/* Our signatures verify with ldns: a query, then a 3-message reply stream. */
static void test_ours_verify_in_ldns(void **state)
{
	struct tsig_key k;
	struct tsig_keytab tab;
	struct tsig_ctx cli, srv;
	uint8_t q[512], r[3][4096];
	size_t qlen, rlen[3], off;
	uint64_t now = (uint64_t)time(NULL);
	ldns_pkt *pq = NULL, *pr = NULL, *prev = NULL;
	const ldns_rdf *mac;

	tsig_keytab_init(&tab);
	assert_int_equal(tsig_key_parse("xfr:hmac-sha256:" SECRET, &k, NULL), 0);
	assert_int_equal(tsig_keytab_add(&tab, &k), 0);
	tsig_ctx_init(&cli, &k, 0);
	qlen = make_msg(q, sizeof(q), 0x1234, false, 0);
	assert_int_equal(tsig_sign_query(&cli, q, &qlen, sizeof(q), now), 0);
	assert_int_equal(ldns_wire2pkt(&pq, q, qlen), LDNS_STATUS_OK);
	assert_true(ldns_pkt_tsig_verify(pq, q, qlen, "xfr.", SECRET, NULL));

	/* The server side of the same exchange, our code. */
	tsig_ctx_init(&srv, NULL, 0);
	assert_int_equal(tsig_verify_query(&tab, &srv, q, qlen, now, &off), 0);
	assert_ptr_equal(srv.key, &tab.v[0]);
	for (int i = 0; i < 3; i++) {
		rlen[i] = make_msg(r[i], sizeof(r[i]), 0x1234, true, 5 + i);
		assert_int_equal(tsig_sign_reply(&srv, r[i], &rlen[i], sizeof(r[i]), now), 0);
	}
	/* ldns chains: the first reply from the query MAC with all variables,
	 * the next ones from the previous MAC with the timers only. */
	mac = ldns_rr_rdf(ldns_pkt_tsig(pq), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ldns_wire2pkt(&pr, r[i], rlen[i]), LDNS_STATUS_OK);
		assert_true(ldns_pkt_tsig_verify_next(pr, r[i], rlen[i], "xfr.", SECRET, mac, i > 0));
		ldns_pkt_free(prev);
		prev = pr;
		pr = NULL;
		mac = ldns_rr_rdf(ldns_pkt_tsig(prev), 3);
	}
	/* And our client accepts the same stream. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(tsig_verify_reply(&cli, r[i], rlen[i], now, NULL), 0);
	ldns_pkt_free(prev);
	ldns_pkt_free(pq);
	tsig_keytab_deinit(&tab);
}

/* ldns's signatures verify with ours (query, then reply stream). */
static void test_ldns_verify_in_ours(void **state)
{
	struct tsig_key k;
	struct tsig_keytab tab;
	struct tsig_ctx srv, cli;
	uint8_t q[512], *wire = NULL;
	size_t qlen, len;
	uint64_t now = (uint64_t)time(NULL);
	ldns_pkt *p = NULL, *keep = NULL, *keep2 = NULL;
	const ldns_rdf *mac;

	tsig_keytab_init(&tab);
	assert_int_equal(tsig_key_parse("xfr:hmac-sha512:" SECRET, &k, NULL), 0);
	assert_int_equal(tsig_keytab_add(&tab, &k), 0);
	qlen = make_msg(q, sizeof(q), 77, false, 0);
	assert_int_equal(ldns_wire2pkt(&p, q, qlen), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_tsig_sign(p, "xfr.", SECRET, 300, "hmac-sha512.", NULL),
			 LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	tsig_ctx_init(&srv, NULL, 0);
	assert_int_equal(tsig_verify_query(&tab, &srv, wire, len, now, NULL), 0);
	mac = ldns_mac(wire, len, &keep);
	free(wire);
	ldns_pkt_free(p);

	/* A two-message reply signed by ldns, verified by our client. */
	tsig_ctx_init(&cli, &k, 0);
	memcpy(cli.mac, ldns_rdf_data(mac) + 2, ldns_rdf_size(mac) - 2);
	cli.mac_len = (uint16_t)(ldns_rdf_size(mac) - 2);
	for (int i = 0; i < 2; i++) {
		uint8_t r[4096];
		size_t rlen = make_msg(r, sizeof(r), 77, true, 3);
		ldns_pkt *rp = NULL;
		assert_int_equal(ldns_wire2pkt(&rp, r, rlen), LDNS_STATUS_OK);
		assert_int_equal(ldns_pkt_tsig_sign_next(rp, "xfr.", SECRET, 300, "hmac-sha512.",
							 mac, i > 0), LDNS_STATUS_OK);
		assert_int_equal(ldns_pkt2wire(&wire, rp, &len), LDNS_STATUS_OK);
		assert_int_equal(tsig_verify_reply(&cli, wire, len, now, NULL), 0);
		ldns_pkt_free(keep2);
		keep2 = NULL;
		mac = ldns_mac(wire, len, &keep2);
		ldns_pkt_free(keep);
		keep = keep2;
		keep2 = NULL;
		free(wire);
		ldns_pkt_free(rp);
	}
	ldns_pkt_free(keep);
	tsig_keytab_deinit(&tab);
}

/* Failures: unknown key, wrong secret, tampering, skew, unsigned message. */
static void test_failures(void **state)
{
	struct tsig_key k, wrong;
	struct tsig_keytab tab;
	struct tsig_ctx cli, srv;
	uint8_t q[512], q2[512], r[4096];
	size_t qlen, q2len, rlen;
	uint64_t now = 1700000000;

	tsig_keytab_init(&tab);
	assert_int_equal(tsig_key_parse("xfr:hmac-sha256:" SECRET, &k, NULL), 0);
	assert_int_equal(tsig_keytab_add(&tab, &k), 0);

	/* unsigned */
	qlen = make_msg(q, sizeof(q), 1, false, 0);
	tsig_ctx_init(&srv, NULL, 0);
	assert_int_equal(tsig_verify_query(&tab, &srv, q, qlen, now, NULL), GN_ENOENT);

	/* unknown key: the error reply names the key, with an empty MAC */
	assert_int_equal(tsig_key_parse("other:hmac-sha256:" SECRET, &wrong, NULL), 0);
	tsig_ctx_init(&cli, &wrong, 0);
	assert_int_equal(tsig_sign_query(&cli, q, &qlen, sizeof(q), now), 0);
	assert_int_equal(tsig_verify_query(&tab, &srv, q, qlen, now, NULL), GN_EINVAL);
	assert_int_equal(srv.error, TSIG_BADKEY);
	rlen = make_msg(r, sizeof(r), 1, true, 0);
	assert_int_equal(tsig_sign_error(&srv, r, &rlen, sizeof(r), now), 0);
	assert_int_equal(tsig_verify_reply(&cli, r, rlen, now, NULL), GN_EINVAL);
	assert_int_equal(cli.error, TSIG_BADKEY);

	/* same name, wrong secret */
	assert_int_equal(tsig_key_parse("xfr:hmac-sha256:" OTHER, &wrong, NULL), 0);
	qlen = make_msg(q, sizeof(q), 2, false, 0);
	tsig_ctx_init(&cli, &wrong, 0);
	assert_int_equal(tsig_sign_query(&cli, q, &qlen, sizeof(q), now), 0);
	assert_int_equal(tsig_verify_query(&tab, &srv, q, qlen, now, NULL), GN_EINVAL);
	assert_int_equal(srv.error, TSIG_BADSIG);

	/* tampered after signing */
	qlen = make_msg(q, sizeof(q), 3, false, 0);
	tsig_ctx_init(&cli, &k, 0);
	assert_int_equal(tsig_sign_query(&cli, q, &qlen, sizeof(q), now), 0);
	memcpy(q2, q, qlen);
	q2len = qlen;
	q2[14] ^= 0x20; /* a letter of the qname changes case: still different octets */
	assert_int_equal(tsig_verify_query(&tab, &srv, q2, q2len, now, NULL), GN_EINVAL);
	assert_int_equal(srv.error, TSIG_BADSIG);

	/* clock skew: signed 301 s in the future, fudge 300 */
	assert_int_equal(tsig_verify_query(&tab, &srv, q, qlen, now - 301, NULL), GN_EINVAL);
	assert_int_equal(srv.error, TSIG_BADTIME);
	assert_int_equal(srv.skew, 301);
	rlen = make_msg(r, sizeof(r), 3, true, 0);
	assert_int_equal(tsig_sign_error(&srv, r, &rlen, sizeof(r), now - 301), 0);
	assert_int_equal(tsig_verify_reply(&cli, r, rlen, now, NULL), GN_EINVAL);
	assert_int_equal(cli.error, TSIG_BADTIME);
	/* within the window it passes and reports the skew */
	assert_int_equal(tsig_verify_query(&tab, &srv, q, qlen, now - 200, NULL), 0);
	assert_int_equal(srv.skew, 200);

	/* a stream with an unsigned message in the middle fails there */
	tsig_ctx_init(&cli, &k, 0);
	qlen = make_msg(q, sizeof(q), 4, false, 0);
	assert_int_equal(tsig_sign_query(&cli, q, &qlen, sizeof(q), now), 0);
	assert_int_equal(tsig_verify_query(&tab, &srv, q, qlen, now, NULL), 0);
	rlen = make_msg(r, sizeof(r), 4, true, 2);
	assert_int_equal(tsig_sign_reply(&srv, r, &rlen, sizeof(r), now), 0);
	assert_int_equal(tsig_verify_reply(&cli, r, rlen, now, NULL), 0);
	rlen = make_msg(r, sizeof(r), 4, true, 2);
	assert_int_equal(tsig_verify_reply(&cli, r, rlen, now, NULL), GN_EINVAL);
	/* and a reordered stream fails: message 3 does not chain from 1 */
	tsig_ctx_init(&cli, &k, 0);
	qlen = make_msg(q, sizeof(q), 5, false, 0);
	assert_int_equal(tsig_sign_query(&cli, q, &qlen, sizeof(q), now), 0);
	assert_int_equal(tsig_verify_query(&tab, &srv, q, qlen, now, NULL), 0);
	{
		uint8_t m[3][1024];
		size_t ml[3];
		for (int i = 0; i < 3; i++) {
			ml[i] = make_msg(m[i], sizeof(m[i]), 5, true, i + 1);
			assert_int_equal(tsig_sign_reply(&srv, m[i], &ml[i], sizeof(m[i]), now), 0);
		}
		assert_int_equal(tsig_verify_reply(&cli, m[0], ml[0], now, NULL), 0);
		assert_int_equal(tsig_verify_reply(&cli, m[2], ml[2], now, NULL), GN_EINVAL);
		assert_int_equal(cli.error, TSIG_BADSIG);
	}
	/* no room for the TSIG */
	qlen = make_msg(q, sizeof(q), 6, false, 0);
	tsig_ctx_init(&cli, &k, 0);
	assert_int_equal(tsig_sign_query(&cli, q, &qlen, qlen + 10, now), GN_ERANGE);
	tsig_keytab_deinit(&tab);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_parse),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_keytab_config),
		cmocka_unit_test(test_ours_verify_in_ldns),
		cmocka_unit_test(test_ldns_verify_in_ours),
		cmocka_unit_test(test_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
