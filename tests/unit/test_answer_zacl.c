/* tests/unit/test_answer_zacl.c - zone-acl rules hold whichever source
 * would answer: the rule zone is found by the query's key whether or not the
 * snapshot has it, the most specific of rule zone and local zone owns the
 * name, and a client a rule holds is never handed to the tiers. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "common/dname.h"
#include "common/err.h"
#include "common/netacl.h"
#include "resolver/answer.h"
#include "zonesync/snap.h"
#include "zonesync/zimg.h"
#include "test_answer_util.h"

/* Clients: .1 no rule, .2 ignore, .3 refuse, .4 empty, .6 fixed, .5 pass. */
#define N_RULES 8

struct zfx {
	char dir[64];
	snap_env *env;
	struct answer_ctx *ctx;
	struct answer_zacl rules[N_RULES];
	struct netacl_entry nets[N_RULES];
	struct sockaddr_in peer;
	uint8_t q[600];
	uint8_t resp[4096];
	struct t_msg m;
	struct answer_handoff h;
};

static void rule(struct zfx *f, int i, const char *zone, const char *net,
		 enum answer_zacl_action act)
{
	struct answer_zacl *r = &f->rules[i];
	const char *why = NULL;
	int kl = dname_text_to_key(zone, strlen(zone), r->key);

	assert_true(kl >= 0);
	r->keylen = (uint8_t)kl;
	r->zone = zone;
	assert_int_equal(netacl_parse(net, &f->nets[i], &why), 0);
	r->nets = &f->nets[i];
	r->n_nets = 1;
	r->action = act;
	r->a[0] = 127;
	r->a[3] = 9;
	r->txt = "fixed $";
}

/* In key order, as conf_zacl.c leaves them: "ex" < "bl.ex" < "sub.bl.ex" <
 * "far.ex" (labels reversed: ex; ex.bl; ex.bl.sub; ex.far). */
static int setup(void **state)
{
	struct zfx *f = calloc(1, sizeof(*f));
	struct zimg *img = zimg_new("bl.ex");
	struct zimg_ds *ds;
	struct zimg_val v = { .a = { 127, 0, 0, 2 } };
	struct answer_conf conf = { .udp_max = 1232, .minimal_any = true };

	assert_non_null(f);
	assert_non_null(img);
	strcpy(f->dir, "/tmp/gridns-test-zacl-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(snap_open(&f->env, f->dir, 0, NULL), 0);
	img->soa.present = true;
	img->soa.ttl = 3600;
	img->soa.serial = 1;
	img->soa.minimum = 600;
	assert_true(dname_from_text("ns.ex", 5, img->soa.mname) > 0);
	assert_true(dname_from_text("hm.ex", 5, img->soa.rname) > 0);
	assert_int_equal(zimg_add_ds(img, ZDS_IP4SET, "ip4set", &ds), 0);
	ds->ttl = 2100;
	int64_t vs = zimg_ds_valset(ds, &v, 1);
	assert_true(vs >= 0);
	assert_int_equal(zimg_ds_add_ip4(ds, 0x7f000002, 0x7f000002, (uint32_t)vs), 0);
	assert_int_equal(zimg_finish(img), 0);
	assert_int_equal(snap_put_zones(f->env, &img, 1, time(NULL)), 0);
	zimg_free(img);

	rule(f, 0, "ex", "192.0.2.3", ANSWER_ZACL_REFUSE);
	rule(f, 1, "sub.bl.ex", "192.0.2.6", ANSWER_ZACL_FIXED);
	rule(f, 2, "far.ex", "192.0.2.5", ANSWER_ZACL_PASS);
	rule(f, 3, "far.ex", "192.0.2.2", ANSWER_ZACL_IGNORE);
	rule(f, 4, "far.ex", "192.0.2.3", ANSWER_ZACL_REFUSE);
	rule(f, 5, "far.ex", "192.0.2.4/31", ANSWER_ZACL_EMPTY); /* .4 and .5 */
	rule(f, 6, "far.ex", "192.0.2.6", ANSWER_ZACL_FIXED);
	conf.zacl = f->rules;
	conf.n_zacl = 7;
	assert_int_equal(answer_ctx_new(f->env, &conf, &f->ctx), 0);
	f->peer.sin_family = AF_INET;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct zfx *f = *state;
	char cmd[128];

	answer_ctx_free(f->ctx);
	snap_close(f->env);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* One query from 192.0.2.<client>, with the hand-off path (a resolver with
 * tiers); `begin`: inside a batch (false: the snapshot was never read).
 * Returns the length; the reply is parsed into f->m when there is one. */
static size_t ask(struct zfx *f, unsigned client, const char *name, uint16_t type, bool begin)
{
	size_t ql = t_query(f->q, 7, name, type, 1232, 0), len;

	f->peer.sin_addr.s_addr = htonl(0xc0000200u | client);
	if (begin)
		assert_int_equal(answer_batch_begin(f->ctx), 0);
	len = answer_query_ex(f->ctx, f->q, ql, f->resp, sizeof(f->resp), ANSWER_UDP,
			      (const struct sockaddr *)&f->peer, &f->h);
	if (begin)
		answer_batch_end(f->ctx);
	if (len)
		assert_int_equal(t_parse(f->resp, len, &f->m), 0);
	return len;
}

/* far.ex is not in the snapshot: every action still holds, and only a
 * client without a rule, or with "pass", is handed to the tiers. */
static void test_absent_zone(void **state)
{
	struct zfx *f = *state;

	assert_int_equal(ask(f, 1, "2.0.0.127.far.ex", 1, true), 0);
	assert_true(f->h.upstream);
	assert_int_equal(ask(f, 5, "2.0.0.127.FAR.ex", 1, true), 0); /* pass, any case */
	assert_true(f->h.upstream);

	assert_int_equal(ask(f, 2, "2.0.0.127.far.ex", 1, true), 0);
	assert_false(f->h.upstream);
	assert_true(answer_ignored(f->ctx, f->q));
	assert_false(answer_ignored(f->ctx, f->resp)); /* another packet */

	assert_true(ask(f, 3, "2.0.0.127.far.ex", 1, true) > 0);
	assert_false(f->h.upstream);
	assert_false(answer_ignored(f->ctx, f->q));
	assert_int_equal(f->m.rcode, 5);
	assert_int_equal(f->m.ede, 18);

	assert_true(ask(f, 4, "2.0.0.127.far.ex", 1, true) > 0);
	assert_false(f->h.upstream);
	assert_int_equal(f->m.rcode, 3);
	assert_int_equal(f->m.an + f->m.ns, 0); /* no zone, no SOA */

	assert_true(ask(f, 6, "2.0.0.127.far.ex", 1, true) > 0);
	assert_false(f->h.upstream);
	assert_int_equal(f->m.rcode, 0);
	assert_int_equal(f->m.an, 1);
	assert_string_equal(f->m.rr[0].text, "127.0.0.9");
	assert_int_equal(f->m.rr[0].ttl, 300);
	assert_true(ask(f, 6, "2.0.0.127.far.ex", 16, true) > 0);
	assert_string_equal(f->m.rr[0].text, "fixed 192.0.2.6");

	/* The apex is no DNSBL name: empty and fixed leave it to the tiers. */
	assert_int_equal(ask(f, 6, "far.ex", 6, true), 0);
	assert_true(f->h.upstream);
	assert_int_equal(ask(f, 4, "far.ex", 2, true), 0);
	assert_true(f->h.upstream);
	/* A sibling of the rule zone is no part of it. */
	assert_int_equal(ask(f, 2, "2.0.0.127.nofar.ex", 1, true), 0);
	assert_true(f->h.upstream);
}

/* Before the snapshot was ever read (zone table not built), which is
 * "unknown" for everyone else, the rules are still applied. */
static void test_snapshot_never_read(void **state)
{
	struct zfx *f = *state;

	assert_int_equal(ask(f, 1, "2.0.0.127.bl.ex", 1, false), 0);
	assert_true(f->h.upstream);
	assert_true(f->h.flags & ANSWER_UP_LOCAL);
	assert_true(ask(f, 4, "2.0.0.127.far.ex", 1, false) > 0);
	assert_false(f->h.upstream);
	assert_int_equal(f->m.rcode, 3);
	assert_int_equal(ask(f, 2, "2.0.0.127.far.ex", 1, false), 0);
	assert_false(f->h.upstream);
	assert_true(answer_ignored(f->ctx, f->q));
	/* A new batch forgets it: packet buffers are reused. */
	assert_int_equal(answer_batch_begin(f->ctx), 0);
	assert_false(answer_ignored(f->ctx, f->q));
	answer_batch_end(f->ctx);
}

/* Local zone bl.ex between rule zones "ex" (above) and "sub.bl.ex"
 * (below): the most specific zone owns the name. */
static void test_most_specific_zone_owns_the_name(void **state)
{
	struct zfx *f = *state;

	/* bl.ex is a zone of its own: the rule for "ex" does not reach it. */
	assert_true(ask(f, 3, "2.0.0.127.bl.ex", 1, true) > 0);
	assert_int_equal(f->m.rcode, 0);
	assert_string_equal(f->m.rr[0].text, "127.0.0.2");
	/* ...but covers other names under "ex", local or not. */
	assert_true(ask(f, 3, "www.other.ex", 1, true) > 0);
	assert_int_equal(f->m.rcode, 5);
	/* sub.bl.ex is inside local bl.ex: its rule holds there, answered with
	 * bl.ex's dataset TTL; the rest of bl.ex is untouched. */
	assert_true(ask(f, 6, "1.2.3.4.sub.bl.ex", 1, true) > 0);
	assert_int_equal(f->m.rcode, 0);
	assert_string_equal(f->m.rr[0].text, "127.0.0.9");
	assert_int_equal(f->m.rr[0].ttl, 2100);
	assert_true(ask(f, 6, "4.3.2.1.bl.ex", 1, true) > 0);
	assert_int_equal(f->m.rcode, 3);
}

/* Rules out of key order, or whose key is not their zone's, would silently
 * not apply: the context refuses them. */
static void test_bad_rules_refused(void **state)
{
	struct zfx *f = *state;
	struct answer_conf conf = { .udp_max = 1232, .zacl = f->rules, .n_zacl = 7 };
	struct answer_ctx *ctx = NULL;
	struct answer_zacl saved = f->rules[0];

	f->rules[0] = f->rules[6]; /* far.ex before ex */
	assert_int_equal(answer_ctx_new(f->env, &conf, &ctx), GN_EINVAL);
	assert_null(ctx);
	f->rules[0] = saved;
	f->rules[0].keylen = 0; /* "ex" with the root's key */
	assert_int_equal(answer_ctx_new(f->env, &conf, &ctx), GN_EINVAL);
	f->rules[0] = saved;
	assert_int_equal(answer_ctx_new(f->env, &conf, &ctx), 0);
	answer_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_absent_zone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_never_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_most_specific_zone_owns_the_name, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_rules_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
