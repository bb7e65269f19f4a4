/* tests/unit/test_follower.c - the follower's pieces that need no network:
 * the config table (defaults, FILE:LINE errors), the expiry rule, the state
 * file round trip, and snap_touch_zone (expiry pushed forward without
 * rewriting the zone).  The transfers themselves are covered end to end by
 * tests/system/test_follower.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/fol.h"
#include "zonesync/snap.h"
#include "zonesync/zimg.h"

static char tmpdir[64];

static int setup(void **state)
{
	strcpy(tmpdir, "/tmp/gridns-test-fol-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	log_init("test", LOG_LVL_ERR);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *write_conf(const char *name, const char *text)
{
	static char path[128];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_conf_defaults(void **state)
{
	const char *p = write_conf("ok.conf",
		"snapshot = \"/tmp/snap\";\n"
		"keys = ( { name = \"k1\"; algorithm = \"hmac-sha256\"; secret = \"c2VjcmV0\"; } );\n"
		"zones = ( { name = \"Bl.Example.Test.\"; key = \"k1\";\n"
		"            primaries = [ \"127.0.0.1@5300\", \"[::1]:5301 key k1\", \"127.0.0.2\" ]; } );\n");
	struct fol_conf c;
	struct strbuf errs;

	strbuf_init(&errs);
	assert_int_equal(fol_conf_load(p, &c, &errs), 0);
	assert_int_equal(errs.len, 0);
	assert_string_equal(c.snapshot, "/tmp/snap");
	assert_string_equal(c.state_file, "/tmp/snap/follower.state");
	assert_int_equal(c.refresh_min, 5);
	assert_int_equal(c.retry_min, 5);
	assert_int_equal(c.xfr_timeout, 30);
	assert_false(c.has_listen);
	assert_int_equal(c.n_notify_acl, 2); /* loopback by default */
	assert_int_equal(c.n_zones, 1);
	assert_string_equal(c.zones[0].name, "bl.example.test");
	assert_int_equal(c.zones[0].n_prim, 3);
	assert_non_null(c.zones[0].prim[0].key); /* the zone's key */
	assert_string_equal(c.zones[0].prim[2].text, "127.0.0.2:53");
	assert_true(c.zones[0].guard);
	assert_true(c.zones[0].max_shrink > 0.49 && c.zones[0].max_shrink < 0.51);
	assert_int_equal(c.zones[0].zonemd, FOL_ZONEMD_VERIFY);
	fol_conf_deinit(&c);
	strbuf_free(&errs);
}

static void test_conf_errors_have_file_and_line(void **state)
{
	const char *p = write_conf("bad.conf",
		"snapshot = \"/tmp/snap\";\n"
		"refresh-min = 0;\n"
		"zones = (\n"
		"  { name = \"a.test\"; primaries = [ \"127.0.0.1@53 key nokey\" ]; zonemd = \"maybe\"; },\n"
		"  { name = \"a.test\"; primaries = [ \"not-an-address\" ]; }\n"
		");\n"
		"typo-key = 1;\n");
	struct fol_conf c;
	struct strbuf errs;
	char want[160];

	strbuf_init(&errs);
	assert_int_equal(fol_conf_load(p, &c, &errs), GN_EINVAL);
	assert_non_null(errs.p);
	snprintf(want, sizeof(want), "%s:2: refresh-min = 0 is out of range", p);
	assert_non_null(strstr(errs.p, want));
	snprintf(want, sizeof(want), "%s:4: zone a.test: primary 127.0.0.1@53: no key named \"nokey\"", p);
	assert_non_null(strstr(errs.p, want));
	assert_non_null(strstr(errs.p, "zonemd: \"maybe\""));
	assert_non_null(strstr(errs.p, "configured twice"));
	assert_non_null(strstr(errs.p, "not-an-address"));
	snprintf(want, sizeof(want), "%s:7: unknown key \"typo-key\"", p);
	assert_non_null(strstr(errs.p, want));
	fol_conf_deinit(&c);
	strbuf_free(&errs);
}

static void test_expiry_rule(void **state)
{
	struct fol_zone_conf zc = { .name = "z" };
	struct fol_zone z = { .conf = &zc };

	/* SOA expire from now */
	assert_int_equal(fol_expiry(&z, 600, 0, 1000), 1600);
	/* the source's $TIMESTAMP expiry wins when earlier */
	assert_int_equal(fol_expiry(&z, 600, 1200, 1000), 1200);
	assert_int_equal(fol_expiry(&z, 600, 5000, 1000), 1600);
	/* the config overrides the SOA */
	zc.expire = 60;
	assert_int_equal(fol_expiry(&z, 600, 0, 1000), 1060);
	/* no expire timer at all: only the source's own expiry */
	zc.expire = 0;
	assert_int_equal(fol_expiry(&z, 0, 0, 1000), 0);
	assert_int_equal(fol_expiry(&z, 0, 1500, 1000), 1500);
}

static void test_state_round_trip(void **state)
{
	struct fol_zone_conf zc[2] = { { .name = "a.test" }, { .name = "b.test" } };
	struct fol_conf c = { .state_file = NULL };
	struct fol f = { .conf = &c, .n_zones = 2 };
	struct fol_zone z[2];
	char path[128];

	snprintf(path, sizeof(path), "%s/fol.state", tmpdir);
	c.state_file = path;
	memset(z, 0, sizeof(z));
	z[0].conf = &zc[0];
	z[1].conf = &zc[1];
	z[0].last_success = 111;
	z[0].last_attempt = 222;
	z[0].primary_serial = 4000000000u;
	z[0].primary_serial_known = true;
	z[0].src_expires = 333;
	z[0].stock = true;
	f.zones = z;
	pthread_mutex_init(&f.lock, NULL);
	assert_int_equal(fol_state_save(&f), 0);
	memset(z, 0, sizeof(z));
	z[0].conf = &zc[0];
	z[1].conf = &zc[1];
	assert_int_equal(fol_state_load(&f), 0);
	assert_int_equal(z[0].last_success, 111);
	assert_int_equal(z[0].last_attempt, 222);
	assert_true(z[0].primary_serial_known);
	assert_int_equal(z[0].primary_serial, 4000000000u);
	assert_int_equal(z[0].src_expires, 333);
	assert_true(z[0].stock);
	assert_false(z[1].primary_serial_known);
	assert_int_equal(z[1].last_success, 0);
	/* a missing file is a first start, not an error */
	snprintf(path, sizeof(path), "%s/none.state", tmpdir);
	assert_int_equal(fol_state_load(&f), 0);
	pthread_mutex_destroy(&f.lock);
}

static void test_snap_touch(void **state)
{
	char dir[128];
	snap_env *env = NULL;
	snap_rd *rd = NULL;
	struct zimg *img = zimg_new("t.test"), *back = NULL;
	struct zimg_ds *ds;
	struct snap_zone z;
	uint8_t key[DNAME_MAX];
	int kl = dname_text_to_key("t.test", 6, key);
	const struct zimg_val v = { .a = { 127, 0, 0, 2 } };
	int64_t vs;

	snprintf(dir, sizeof(dir), "%s/snap", tmpdir);
	assert_int_equal(snap_open(&env, dir, 0, NULL), 0);
	img->soa.present = true;
	img->soa.serial = 7;
	img->soa.expire = 600;
	memcpy(img->soa.mname, "\2ns\0", 4);
	memcpy(img->soa.rname, "\2hm\0", 4);
	img->ts_expires = 5000;
	assert_int_equal(zimg_add_ds(img, ZDS_IP4SET, "x", &ds), 0);
	assert_true((vs = zimg_ds_valset(ds, &v, 1)) >= 0);
	assert_int_equal(zimg_ds_add_ip4(ds, 0x7f000002u, 0x7f000002u, (uint32_t)vs), 0);
	assert_int_equal(zimg_finish(img), 0);
	assert_int_equal(snap_put_zones(env, &img, 1, 100), 0);

	assert_int_equal(snap_touch_zone(env, "t.test", 7, 200, 9000), 0);
	assert_int_equal(snap_touch_zone(env, "t.test", 8, 300, 9999), GN_EBUSY);
	assert_int_equal(snap_touch_zone(env, "none.test", 7, 300, 9999), GN_ENOENT);

	assert_int_equal(snap_rd_new(env, &rd), 0);
	assert_int_equal(snap_rd_begin(rd), 0);
	assert_int_equal(snap_rd_zone(rd, key, (size_t)kl, &z), 1);
	assert_int_equal(z.serial, 7);
	assert_int_equal(z.loaded, 200);
	assert_int_equal(z.ts_expires, 9000);
	/* the data is untouched */
	assert_int_equal(snap_load_zone(rd, "t.test", &back), 0);
	assert_int_equal(back->n_ds, 1);
	assert_int_equal(back->ds[0]->n_ip4, 1);
	snap_rd_end(rd);
	zimg_free(back);
	snap_rd_free(rd);
	snap_close(env);
	zimg_free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_defaults),
		cmocka_unit_test(test_conf_errors_have_file_and_line),
		cmocka_unit_test(test_expiry_rule),
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_snap_touch),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
