/* tests/unit/test_pub.c - the publisher (zonesync/pub*): the config table
 * and its errors, request parsing, and the embedding API the relay uses
 * (pub_new on the caller's loop, SOA and a signed AXFR answered). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>
#include <ev.h>
#include <ldns/ldns.h>
#include "common/err.h"
#include "zonesync/cdb.h"
#include "zonesync/pub.h"
#include "zonesync/pub_int.h"

#define SECRET "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="

static void test_conf_defaults_and_values(void **state)
{
	static const char text[] =
		"db = \"/tmp/x\";\n"
		"listen = [ \"127.0.0.1:5353\", \"[::1]:5353\" ];\n"
		"transfers = { max = 4; msg-size = 4096; };\n"
		"notify = { jitter-ms = 0; };\n"
		"keys = ( { name = \"xfr\"; algorithm = \"hmac-sha256\"; secret = \"" SECRET "\"; } );\n"
		"zones = ( { name = \"BL.Example.\"; allow = [ \"127.0.0.0/8\" ]; keys = [ \"xfr\" ];\n"
		"            notify = [ \"127.0.0.1\" ]; notify-key = \"xfr\"; zonemd = true; } );\n";
	struct pub_conf c;
	struct strbuf errs;
	const struct pub_zone_conf *z;

	strbuf_init(&errs);
	assert_int_equal(pub_conf_init(&c), 0);
	assert_int_equal(pub_conf_load_string(&c, text, "t.conf", NULL, &errs), 0);
	assert_int_equal(errs.len, 0);
	assert_string_equal(c.db, "/tmp/x");
	assert_int_equal(c.n_listen, 2);
	assert_int_equal(c.max_transfers, 4);
	assert_int_equal(c.msg_size, 4096);
	assert_int_equal(c.notify_jitter_ms, 0);
	assert_int_equal(c.notify_rate, 200);      /* default */
	assert_int_equal(c.poll_ms, 200);          /* default */
	assert_int_equal(c.tsig_fudge, 300);       /* default */
	assert_non_null(z = pub_conf_zone(&c, "bl.example"));
	assert_string_equal(z->name, "bl.example");
	assert_int_equal(z->n_allow, 1);
	assert_int_equal(z->n_keys, 1);
	assert_ptr_equal(z->keys[0], tsig_keytab_find(&c.keys, "xfr"));
	assert_ptr_equal(z->notify_key, z->keys[0]);
	assert_int_equal(z->n_notify, 1);
	assert_int_equal(ntohs(z->notify[0].addr.u.in4.sin_port), 53);
	assert_true(z->zonemd);
	pub_conf_deinit(&c);
	strbuf_free(&errs);
}

static void test_conf_errors(void **state)
{
	static const char text[] =
		"db = \"/tmp/x\";\n"
		"transfers = { max = 0; };\n"
		"bogus = 1;\n"
		"zones = ( { name = \"a.test\"; allow = [ \"10.0.0.1/8\" ]; },\n"
		"          { name = \"b.test\"; keys = [ \"nope\" ]; colour = \"red\"; },\n"
		"          { name = \"a.test\"; allow = \"::1\"; sources = [ \"c.test:ip4set:/x\" ]; } );\n";
	struct pub_conf c;
	struct strbuf errs;

	strbuf_init(&errs);
	assert_int_equal(pub_conf_init(&c), 0);
	assert_int_equal(pub_conf_load_string(&c, text, "t.conf", NULL, &errs), GN_EINVAL);
	assert_non_null(strstr(errs.p, "t.conf:2: transfers.max = 0 is out of range 1..1024"));
	assert_non_null(strstr(errs.p, "t.conf:3: unknown option 'bogus'"));
	assert_non_null(strstr(errs.p, "t.conf:4: zone a.test: allow: bad network \"10.0.0.1/8\""));
	assert_non_null(strstr(errs.p, "t.conf:5: zone b.test: keys: no key named \"nope\""));
	assert_non_null(strstr(errs.p, "t.conf:5: zone b.test: unknown setting 'colour'"));
	assert_non_null(strstr(errs.p, "t.conf:6: zone a.test is listed twice (first at line 4)"));
	assert_non_null(strstr(errs.p, "t.conf:6: zone a.test: sources: \"c.test:ip4set:/x\" is "
				       "not ZONE:TYPE:FILE for this zone"));
	pub_conf_deinit(&c);
	strbuf_free(&errs);
}

/* A relay keeps the publisher settings in a group and may share the keys. */
static void test_conf_section(void **state)
{
	static const char text[] =
		"snapshot = \"/var/lib/node\";\n"
		"keys = ( \"xfr:hmac-sha256:" SECRET "\" );\n"
		"publisher = { db = \"/var/lib/node\"; listen = \"127.0.0.1:5354\";\n"
		"  zones = ( { name = \"bl.test\"; keys = [ \"xfr\" ]; } ); };\n";
	struct pub_conf c;
	struct strbuf errs;

	strbuf_init(&errs);
	assert_int_equal(pub_conf_init(&c), 0);
	assert_int_equal(pub_conf_load_string(&c, text, "relay.conf", "publisher", &errs), 0);
	assert_int_equal(c.keys.n, 1);
	assert_int_equal(c.zones[0].n_keys, 1);
	pub_conf_deinit(&c);
	strbuf_free(&errs);
}

static void test_query_parse(void **state)
{
	ldns_pkt *p = NULL;
	ldns_rr *soa = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;
	struct pub_q q;

	assert_int_equal(ldns_pkt_query_new_frm_str(&p, "BL.example.", LDNS_RR_TYPE_IXFR,
						    LDNS_RR_CLASS_IN, 0), LDNS_STATUS_OK);
	assert_int_equal(ldns_rr_new_frm_str(&soa, "bl.example. 0 IN SOA . . 77 0 0 0 0", 0, NULL,
					     NULL), LDNS_STATUS_OK);
	ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, soa);
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	assert_int_equal(pub_q_parse(wire, len, &q), 0);
	assert_int_equal(q.qtype, PUB_TYPE_IXFR);
	assert_true(q.has_serial);
	assert_int_equal(q.serial, 77);
	assert_memory_equal(q.qname, "\002bl\007example", 11); /* lowercased */
	/* truncated */
	assert_int_equal(pub_q_parse(wire, 20, &q), GN_EINVAL);
	/* a response is not a query */
	wire[2] |= 0x80;
	assert_int_equal(pub_q_parse(wire, len, &q), GN_EINVAL);
	free(wire);
	ldns_pkt_free(p);
}

/* ---- embedding ----------------------------------------------------------- */

static int make_db(char *dir, size_t cap)
{
	char src[256], spec[320];
	const char *specs[1] = { spec };
	struct cdb_opts o = { .max_shrink = -1 };
	snap_env *env = NULL;
	FILE *f;
	int r;

	snprintf(dir, cap, "/tmp/gridns-tpub-XXXXXX");
	if (!mkdtemp(dir))
		return GN_EIO;
	snprintf(src, sizeof(src), "%s/bl.txt", dir);
	if (!(f = fopen(src, "w")))
		return GN_EIO;
	fputs("$SOA 3600 ns.bl.test. hm.bl.test. 5 3600 600 86400 60\n$NS 3600 ns.bl.test.\n"
	      ":127.0.0.2:Listed $\n127.0.0.2\n192.0.2.0/24\n", f);
	fclose(f);
	snprintf(spec, sizeof(spec), "bl.test:ip4set:%s", src);
	if ((r = snap_open(&env, dir, 0, NULL)) < 0)
		return r;
	r = cdb_import(env, specs, 1, &o);
	snap_close(env);
	return r;
}

/* Run the caller's loop until `fd` is readable (bounded). */
static void pump_until(struct ev_loop *loop, int fd)
{
	for (int i = 0; i < 2000; i++) {
		fd_set s;
		struct timeval tv = { 0, 1000 };
		ev_run(loop, EVRUN_NOWAIT);
		FD_ZERO(&s);
		FD_SET(fd, &s);
		if (select(fd + 1, &s, NULL, NULL, &tv) > 0)
			return;
	}
	fail_msg("no answer from the embedded publisher");
}

static void test_embedded(void **state)
{
	char dir[64], conf_text[1024], cmd[128];
	struct pub_conf c;
	struct strbuf errs;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	snap_env *env = NULL;
	struct pub *p = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint8_t q[512], r[65536];
	size_t qlen;
	ssize_t n;
	int fd;
	struct tsig_ctx t;
	ldns_pkt *lp = NULL;
	uint8_t *w = NULL;

	assert_int_equal(make_db(dir, sizeof(dir)), 0);
	snprintf(conf_text, sizeof(conf_text),
		 "db = \"%s\"; listen = \"127.0.0.1:0\"; metrics = \"\";\n"
		 "keys = ( \"xfr:hmac-sha256:" SECRET "\" );\n"
		 "zones = ( { name = \"bl.test\"; allow = \"127.0.0.1\"; keys = [ \"xfr\" ]; } );\n",
		 dir);
	strbuf_init(&errs);
	assert_int_equal(pub_conf_init(&c), 0);
	assert_int_equal(pub_conf_load_string(&c, conf_text, "embedded", NULL, &errs), 0);
	assert_int_equal(snap_open(&env, dir, SNAP_RDONLY, NULL), 0);
	assert_int_equal(pub_new(loop, &c, env, &p), 0);
	assert_true(pub_port(p, 0) > 0);
	sa.sin_port = htons(pub_port(p, 0));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	/* a signed SOA query over UDP */
	assert_int_equal(ldns_pkt_query_new_frm_str(&lp, "bl.test.", LDNS_RR_TYPE_SOA,
						    LDNS_RR_CLASS_IN, 0), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt2wire(&w, lp, &qlen), LDNS_STATUS_OK);
	memcpy(q, w, qlen);
	free(w);
	ldns_pkt_free(lp);
	tsig_ctx_init(&t, tsig_keytab_find(&c.keys, "xfr"), 0);
	assert_int_equal(tsig_sign_query(&t, q, &qlen, sizeof(q), (uint64_t)time(NULL)), 0);
	assert_true((fd = socket(AF_INET, SOCK_DGRAM, 0)) >= 0);
	assert_int_equal(sendto(fd, q, qlen, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)qlen);
	pump_until(loop, fd);
	n = recv(fd, r, sizeof(r), 0);
	assert_true(n > 12);
	assert_int_equal(r[3] & 0xf, 0);                 /* NOERROR */
	assert_int_equal(r[7], 1);                       /* one answer: the SOA */
	assert_int_equal(tsig_verify_reply(&t, r, (size_t)n, (uint64_t)time(NULL), NULL), 0);
	close(fd);

	/* a NOTIFY-style poke: safe to call, checks serials at once */
	pub_zone_changed(p, "bl.test");
	ev_run(loop, EVRUN_NOWAIT);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	pub_free(p);
	snap_close(env);
	pub_conf_deinit(&c);
	strbuf_free(&errs);
	ev_loop_destroy(loop);
	assert_int_equal(system(cmd), 0);
}

/* docs/publisher.md has a row "| `name` | `default` |" for every option of
 * the table (run from the top of the tree, as tests/run.sh does). */
static void test_docs_cover_table(void **state)
{
	FILE *fp = fopen("docs/publisher.md", "r");
	static char doc[1 << 17];
	size_t n, len;
	const struct pub_opt *t = pub_conf_options(&n);

	if (!fp)
		skip();
	len = fread(doc, 1, sizeof(doc) - 1, fp);
	fclose(fp);
	doc[len] = '\0';
	for (size_t i = 0; i < n; i++) {
		char want[160];
		if (*t[i].def)
			snprintf(want, sizeof(want), "| `%s` | `%s` |", t[i].name, t[i].def);
		else
			snprintf(want, sizeof(want), "| `%s` |", t[i].name);
		if (!strstr(doc, want))
			fail_msg("docs/publisher.md does not document %s (looked for %s)", t[i].name,
				 want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_defaults_and_values),
		cmocka_unit_test(test_conf_errors),
		cmocka_unit_test(test_conf_section),
		cmocka_unit_test(test_query_parse),
		cmocka_unit_test(test_embedded),
		cmocka_unit_test(test_docs_cover_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
