/* tests/unit/test_fol_skew.c - the follower's clock skew bookkeeping
 * (zonesync/fol_skew.c): one peer per distinct primary plus "other", NOTIFY
 * senders matched to a primary by IP whatever their port, the warning
 * threshold (BADTIME always counts) and the per-peer log rate limit, with a
 * pinned clock.  The end-to-end path is tests/system/test_fol_tsig_skew.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "common/addr.h"
#include "common/err.h"
#include "common/log.h"
#include "zonesync/fol.h"

static char tmpdir[64];
static struct fol_conf conf;
static struct fol fol;

/* Two zones sharing the first primary, the second with one more. */
static int setup(void **state)
{
	char path[128];
	struct strbuf errs;
	FILE *f;

	strcpy(tmpdir, "/tmp/gridns-test-skew-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	log_init("test", LOG_LVL_ERR);
	snprintf(path, sizeof(path), "%s/f.conf", tmpdir);
	assert_non_null(f = fopen(path, "w"));
	fputs("snapshot = \"/tmp/snap\";\n"
	      "tsig = { skew-warn = 60; };\n"
	      "zones = ( { name = \"a.test\"; primaries = [ \"127.0.0.1@5300\" ]; },\n"
	      "          { name = \"b.test\"; primaries = [ \"127.0.0.1@5300\", \"[::1]:5301\" ]; } );\n",
	      f);
	assert_int_equal(fclose(f), 0);
	strbuf_init(&errs);
	assert_int_equal(fol_conf_load(path, &conf, &errs), 0);
	strbuf_free(&errs);
	memset(&fol, 0, sizeof(fol));
	fol.conf = &conf;
	assert_int_equal(fol_skew_init(&fol), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	fol_skew_free(&fol);
	fol_conf_deinit(&conf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_one_peer_per_primary(void **state)
{
	assert_int_equal(conf.skew_warn, 60);
	assert_int_equal(fol.n_peers, 3); /* 127.0.0.1:5300, [::1]:5301, other */
	assert_ptr_equal(fol_skew_peer_of(&fol, &conf.zones[0].prim[0]),
			 fol_skew_peer_of(&fol, &conf.zones[1].prim[0]));
	assert_ptr_equal(fol_skew_peer_of(&fol, &conf.zones[1].prim[1]), &fol.peers[1]);
	assert_string_equal(fol.peers[2].text, "other");
}

static struct fol_peer *from(const char *text)
{
	struct addr a;
	assert_int_equal(addr_parse(text, 0, &a, NULL), 0);
	return fol_skew_peer_from(&fol, &a.u.sa);
}

static void test_notify_sender_matched_by_ip(void **state)
{
	assert_ptr_equal(from("127.0.0.1:40000"), &fol.peers[0]);   /* any port */
	assert_ptr_equal(from("[::ffff:127.0.0.1]:4"), &fol.peers[0]); /* dual-stack socket */
	assert_ptr_equal(from("[::1]:53"), &fol.peers[1]);
	assert_ptr_equal(from("127.0.0.2:5300"), &fol.peers[2]);    /* no primary: other */
	assert_ptr_equal(from("[::2]:5301"), &fol.peers[2]);
}

static void test_threshold_and_rate_limit(void **state)
{
	struct fol_peer *p = &fol.peers[0];
	int64_t t = 1000000;

	/* within skew-warn: the gauge moves, nothing counts */
	assert_int_equal(fol_skew_note(&fol, p, "p", -60, false, t), FOL_SKEW_OK);
	assert_int_equal(atomic_load(&p->skew), 60);
	assert_true(atomic_load(&p->seen));
	assert_int_equal(atomic_load(&p->warnings), 0);
	/* past it: counted and logged once, then counted quietly */
	assert_int_equal(fol_skew_note(&fol, p, "p", 61, false, t), FOL_SKEW_LOGGED);
	assert_int_equal(fol_skew_note(&fol, p, "p", 120, false, t + 1), FOL_SKEW_QUIET);
	assert_int_equal(fol_skew_note(&fol, p, "p", 900, true, t + FOL_SKEW_LOG_EVERY - 1),
			 FOL_SKEW_QUIET);
	assert_int_equal(atomic_load(&p->skew), 900);
	assert_int_equal(atomic_load(&p->warnings), 3);
	assert_int_equal(atomic_load(&p->unlogged), 2);
	/* the next window logs again (mentioning the 2) and starts over */
	assert_int_equal(fol_skew_note(&fol, p, "p", 120, false, t + FOL_SKEW_LOG_EVERY),
			 FOL_SKEW_LOGGED);
	assert_int_equal(atomic_load(&p->unlogged), 0);
	/* the limit is per peer: another primary logs at once */
	assert_int_equal(fol_skew_note(&fol, &fol.peers[1], "q", 90, false, t + 2),
			 FOL_SKEW_LOGGED);
	/* a skew back to normal lowers the gauge (it is the last value) */
	assert_int_equal(fol_skew_note(&fol, p, "p", 2, false, t + 700), FOL_SKEW_OK);
	assert_int_equal(atomic_load(&p->skew), 2);
}

static void test_warn_off_still_counts_badtime(void **state)
{
	struct fol_peer *p = &fol.peers[2];
	uint32_t saved = conf.skew_warn;

	conf.skew_warn = 0;
	assert_int_equal(fol_skew_note(&fol, p, "NOTIFY sender 127.0.0.2:9", 250, false, 5),
			 FOL_SKEW_OK);
	assert_int_equal(atomic_load(&p->warnings), 0);
	/* a BADTIME counts even with the warning off: replication has stopped */
	assert_int_equal(fol_skew_note(&fol, p, "NOTIFY sender 127.0.0.2:9", 30, true, 5),
			 FOL_SKEW_LOGGED);
	assert_int_equal(atomic_load(&p->warnings), 1);
	conf.skew_warn = saved;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_peer_per_primary),
		cmocka_unit_test(test_notify_sender_matched_by_ip),
		cmocka_unit_test(test_threshold_and_rate_limit),
		cmocka_unit_test(test_warn_off_still_counts_badtime),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
