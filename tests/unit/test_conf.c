/* tests/unit/test_conf.c - the resolver option table, the libconfig reader,
 * command-line overrides and FILE:LINE error reports (resolver/conf). */
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
#include "common/strbuf.h"
#include "resolver/conf.h"

#define DATA "tests/data/conf/"

struct fx {
	struct conf c;
	struct strbuf errs;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(conf_init(&f->c), 0);
	strbuf_init(&f->errs);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	conf_deinit(&f->c);
	strbuf_free(&f->errs);
	free(f);
	return 0;
}

static const char *errs(struct fx *f)
{
	return f->errs.p ? f->errs.p : "";
}

/* The error text must contain this exact "NAME:LINE: ...needle" line. */
static void assert_err(struct fx *f, const char *name, int line, const char *needle)
{
	char want[256];
	const char *p;

	snprintf(want, sizeof(want), "%s:%d: ", name, line);
	for (p = strstr(errs(f), want); p; p = strstr(p + 1, want)) {
		const char *eol = strchr(p, '\n');
		const char *hit = strstr(p, needle);
		if (hit && (!eol || hit < eol))
			return;
	}
	fail_msg("no \"%s...%s\" in:\n%s", want, needle, errs(f));
}

static void test_defaults(void **state)
{
	struct fx *f = *state;
	struct conf *c = &f->c;

	assert_int_equal(c->udp_edns_payload, 1232);
	assert_int_equal(c->udp_rcvbuf, 8 << 20);
	assert_int_equal(c->udp_batch, 32);
	assert_int_equal(c->tcp_max_connections, 256);
	assert_int_equal(c->tcp_idle_timeout_ms, 10000);
	assert_int_equal(c->tcp_max_pipeline, 64);
	assert_int_equal(c->workers, 0);
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	assert_int_equal(c->snapshot_map_size, 0);
	assert_string_equal(c->metrics.text, "127.0.0.1:9153");
	assert_int_equal(addr_port(&c->metrics.a), 9153);
	assert_string_equal(c->user, "");
	assert_string_equal(c->snapshot, "");
	assert_int_equal(c->listen.n, 1);
	assert_string_equal(c->listen.v[0].text, "127.0.0.1:53");
}

static void test_table_is_sane(void **state)
{
	size_t n;
	const struct conf_opt *t = conf_options(&n);

	assert_true(n >= 13);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(t[i].help);
		if (t[i].type == CONF_INT || t[i].type == CONF_SIZE) {
			assert_true(t[i].min <= t[i].def_int || t[i].def_int == 0);
			assert_true(t[i].def_int <= t[i].max);
		}
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(t[i].name, t[j].name);
	}
}

static void test_full_file(void **state)
{
	struct fx *f = *state;
	struct conf *c = &f->c;

	if (conf_load_file(c, DATA "full.conf", &f->errs) != 0)
		fail_msg("%s", errs(f));
	assert_int_equal(conf_finish(c, &f->errs), 0);
	assert_string_equal(c->snapshot, "/var/lib/gridns/snapshot");
	assert_int_equal(c->listen.n, 3);
	assert_int_equal(c->listen.v[1].a.u.sa.sa_family, AF_INET6);
	assert_int_equal(addr_port(&c->listen.v[2].a), 5301);
	assert_int_equal(c->workers, 3);
	assert_int_equal(addr_port(&c->metrics.a), 9154);
	assert_string_equal(c->user, "nobody");
	assert_int_equal(c->log_level, LOG_LVL_DEBUG);
	assert_int_equal(c->snapshot_map_size, INT64_C(8) << 30);
	assert_int_equal(c->udp_edns_payload, 1400);
	assert_int_equal(c->udp_rcvbuf, 16 << 20);
	assert_int_equal(c->udp_batch, 64);
	assert_int_equal(c->tcp_max_connections, 1000);
	assert_int_equal(c->tcp_idle_timeout_ms, 2500);
	assert_int_equal(c->tcp_max_pipeline, 16);
}

static void test_minimal_file(void **state)
{
	struct fx *f = *state;

	assert_int_equal(conf_load_file(&f->c, DATA "minimal.conf", &f->errs), 0);
	assert_int_equal(conf_finish(&f->c, &f->errs), 0);
	assert_true(f->c.workers >= 1); /* 0 resolved to the CPU count */
	assert_int_equal(f->c.listen.n, 1);
	assert_int_equal(f->c.udp_batch, 32);
}

static void test_every_error_with_its_line(void **state)
{
	struct fx *f = *state;
	const char *n = DATA "errors.conf";

	assert_int_equal(conf_load_file(&f->c, n, &f->errs), GN_EINVAL);
	assert_err(f, n, 4, "localhost:53");
	assert_err(f, n, 5, "out of range");
	assert_err(f, n, 6, "unknown option 'wrokers'");
	assert_err(f, n, 7, "metrics must be a string");
	assert_err(f, n, 9, "udp.rcvbuf");
	assert_err(f, n, 10, "udp.batch must be an integer");
	assert_err(f, n, 11, "unknown option 'udp.bogus'");
	assert_err(f, n, 13, "tcp must be a group");
	assert_err(f, n, 14, "unknown level \"loud\"");
}

static void test_syntax_error(void **state)
{
	struct fx *f = *state;

	assert_int_equal(conf_load_string(&f->c, "snapshot = \"/x\";\n\nworkers = = 3;\n", "s.conf",
					  &f->errs), GN_EINVAL);
	assert_err(f, "s.conf", 3, "");
}

static void test_missing_file(void **state)
{
	struct fx *f = *state;

	assert_int_equal(conf_load_file(&f->c, "/nonexistent/gridns.conf", &f->errs), GN_EINVAL);
	assert_non_null(strstr(errs(f), "/nonexistent/gridns.conf: cannot read"));
}

static void test_sizes(void **state)
{
	static const struct { const char *text; int64_t v; } ok[] = {
		{ "udp = { rcvbuf = 65536; };", 65536 },
		{ "udp = { rcvbuf = \"64K\"; };", 65536 },
		{ "udp = { rcvbuf = \"8M\"; };", 8 << 20 },
		{ "udp = { rcvbuf = \"8MiB\"; };", 8 << 20 },
		{ "udp = { rcvbuf = \"1G\"; };", 1 << 30 },
		{ "udp = { rcvbuf = 16777216L; };", 16 << 20 },
	};
	static const char *const bad[] = {
		"udp = { rcvbuf = \"4Q\"; };", "udp = { rcvbuf = \"\"; };",
		"udp = { rcvbuf = 1024; };", "udp = { rcvbuf = \"2G\"; };",
		"udp = { rcvbuf = 1.5; };", "udp = { rcvbuf = \"-1M\"; };",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct fx *f = *state;
		strbuf_reset(&f->errs);
		if (conf_load_string(&f->c, ok[i].text, "t", &f->errs) != 0)
			fail_msg("%s: %s", ok[i].text, errs(f));
		assert_int_equal(f->c.udp_rcvbuf, ok[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fx *f = *state;
		strbuf_reset(&f->errs);
		if (conf_load_string(&f->c, bad[i], "t", &f->errs) != GN_EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_err(f, "t", 1, "rcvbuf");
	}
}

static void test_listen_forms(void **state)
{
	struct fx *f = *state;

	assert_int_equal(conf_load_string(&f->c, "listen = \"[::1]:53\";", "t", &f->errs), 0);
	assert_int_equal(f->c.listen.n, 1);
	assert_int_equal(conf_load_string(&f->c, "listen = ( \"127.0.0.1:1\", \"::1@2\" );", "t",
					  &f->errs), 0);
	assert_int_equal(f->c.listen.n, 2);
	/* A later file replaces the list, it does not append. */
	assert_int_equal(conf_load_string(&f->c, "listen = [ \"127.0.0.1:3\" ];", "t", &f->errs), 0);
	assert_int_equal(f->c.listen.n, 1);
	assert_int_equal(addr_port(&f->c.listen.v[0].a), 3);
	assert_int_equal(conf_load_string(&f->c, "listen = ( \"127.0.0.1:1\", 5 );", "t", &f->errs),
			 GN_EINVAL);
	assert_err(f, "t", 1, "element 2 must be a string");
}

static void test_metrics_disabled(void **state)
{
	struct fx *f = *state;

	assert_int_equal(conf_load_string(&f->c, "metrics = \"\";", "t", &f->errs), 0);
	assert_int_equal(f->c.metrics.a.len, 0);
}

static void test_command_line(void **state)
{
	struct fx *f = *state;
	struct conf *c = &f->c;

	assert_int_equal(conf_load_file(c, DATA "full.conf", &f->errs), 0);
	/* First --listen replaces the file's list, the next ones append. */
	assert_int_equal(conf_set(c, "listen", "127.0.0.1:7", false, "cli", &f->errs), 0);
	assert_int_equal(conf_set(c, "listen", "[::1]:8", true, "cli", &f->errs), 0);
	assert_int_equal(c->listen.n, 2);
	assert_int_equal(addr_port(&c->listen.v[1].a), 8);
	assert_int_equal(conf_set(c, "workers", "5", false, "cli", &f->errs), 0);
	assert_int_equal(c->workers, 5);
	assert_int_equal(conf_set(c, "udp.rcvbuf", "32M", false, "cli", &f->errs), 0);
	assert_int_equal(c->udp_rcvbuf, 32 << 20);
	assert_int_equal(conf_set(c, "metrics", "", false, "cli", &f->errs), 0);
	assert_int_equal(c->metrics.a.len, 0);
	assert_int_equal(conf_set(c, "workers", "5x", false, "cli --workers", &f->errs), GN_EINVAL);
	assert_int_equal(conf_set(c, "workers", "-1", false, "cli --workers", &f->errs), GN_EINVAL);
	assert_int_equal(conf_set(c, "listen", "foo:53", false, "cli --listen", &f->errs), GN_EINVAL);
	assert_int_equal(conf_set(c, "nosuch", "1", false, "cli", &f->errs), GN_EINVAL);
	assert_non_null(strstr(errs(f), "cli --workers: workers: \"5x\" is not an integer"));
	assert_non_null(strstr(errs(f), "cli --listen: listen: bad address \"foo:53\""));
	assert_non_null(strstr(errs(f), "unknown option 'nosuch'"));
	/* Failed sets leave the previous value in place. */
	assert_int_equal(c->workers, 5);
	assert_int_equal(c->listen.n, 2);
}

static void test_finish_checks(void **state)
{
	struct fx *f = *state;
	struct conf *c = &f->c;

	/* Defaults alone lack a snapshot. */
	assert_int_equal(conf_finish(c, &f->errs), GN_EINVAL);
	assert_non_null(strstr(errs(f), "snapshot is not set"));
	strbuf_reset(&f->errs);
	assert_int_equal(conf_load_string(c, "snapshot = \"/s\";\nlisten = [];\nuser = \"no-such-user-xyz\";\n",
					  "f.conf", &f->errs), 0);
	assert_int_equal(conf_finish(c, &f->errs), GN_EINVAL);
	assert_err(f, "f.conf", 2, "listen is empty");
	assert_err(f, "f.conf", 3, "does not exist");
	strbuf_reset(&f->errs);
	assert_int_equal(conf_load_string(c, "listen = [\"127.0.0.1:1\", \"127.0.0.1:1\"];\nuser = \"\";",
					  "g.conf", &f->errs), 0);
	assert_int_equal(conf_finish(c, &f->errs), GN_EINVAL);
	assert_err(f, "g.conf", 1, "given twice");
}

static void test_dump_round_trip(void **state)
{
	struct fx *f = *state;
	struct conf back;
	struct strbuf d;

	assert_int_equal(conf_load_file(&f->c, DATA "full.conf", &f->errs), 0);
	strbuf_init(&d);
	conf_dump(&f->c, &d);
	assert_int_equal(d.err, 0);
	assert_int_equal(conf_init(&back), 0);
	if (conf_load_string(&back, d.p, "dump", &f->errs) != 0)
		fail_msg("dump does not load back:\n%s\n%s", d.p, errs(f));
	assert_string_equal(back.snapshot, f->c.snapshot);
	assert_int_equal(back.listen.n, f->c.listen.n);
	assert_int_equal(back.workers, f->c.workers);
	assert_int_equal(back.log_level, f->c.log_level);
	assert_int_equal(back.snapshot_map_size, f->c.snapshot_map_size);
	assert_int_equal(back.udp_rcvbuf, f->c.udp_rcvbuf);
	assert_int_equal(back.tcp_max_pipeline, f->c.tcp_max_pipeline);
	assert_string_equal(back.metrics.text, f->c.metrics.text);
	conf_deinit(&back);
	strbuf_free(&d);
}

/* zone-acl: every field read, rules grouped by zone in file order (the
 * answer engine relies on it), and the dump reads back the same. */
static void test_zacl_read(void **state)
{
	struct fx *f = *state;
	struct conf back;
	struct strbuf d;
	const char *text =
		"zone-acl = (\n"
		"  { zone = \"b.test\"; networks = [ \"10.0.0.0/8\" ]; action = \"refuse\"; },\n"
		"  { zone = \"A.test.\"; networks = \"192.0.2.1\"; action = \"ignore\"; },\n"
		"  { zone = \"b.test\"; networks = [ \"::1\", \"127.0.0.0/8\" ]; action = \"pass\"; },\n"
		"  { zone = \"a.test\"; networks = [ \"0.0.0.0/0\" ];\n"
		"    action = \":127.0.0.2:see \\\"x\\\" $\"; },\n"
		"  { zone = \"b.test\"; networks = [ \"::/0\" ]; action = \"empty\"; }\n"
		");\n";

	if (conf_load_string(&f->c, text, "z.conf", &f->errs) != 0)
		fail_msg("%s", errs(f));
	assert_int_equal(f->c.n_zacl, 5);
	assert_string_equal(f->c.zacl[0].zone, "a.test");
	assert_int_equal(f->c.zacl[0].action, ANSWER_ZACL_IGNORE);
	assert_string_equal(f->c.zacl[1].zone, "a.test");
	assert_int_equal(f->c.zacl[1].action, ANSWER_ZACL_FIXED);
	assert_memory_equal(f->c.zacl[1].a, "\x7f\0\0\x02", 4);
	assert_string_equal(f->c.zacl[1].txt, "see \"x\" $");
	assert_int_equal(f->c.zacl[2].action, ANSWER_ZACL_REFUSE);
	assert_int_equal(f->c.zacl[3].action, ANSWER_ZACL_PASS);
	assert_int_equal(f->c.zacl[3].n_nets, 2);
	assert_int_equal(f->c.zacl[4].action, ANSWER_ZACL_EMPTY);

	strbuf_init(&d);
	conf_dump(&f->c, &d);
	assert_int_equal(d.err, 0);
	assert_int_equal(conf_init(&back), 0);
	if (conf_load_string(&back, d.p, "dump", &f->errs) != 0)
		fail_msg("dump does not load back:\n%s\n%s", d.p, errs(f));
	assert_int_equal(back.n_zacl, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(back.zacl[i].zone, f->c.zacl[i].zone);
		assert_int_equal(back.zacl[i].action, f->c.zacl[i].action);
		assert_int_equal(back.zacl[i].n_nets, f->c.zacl[i].n_nets);
		assert_memory_equal(back.zacl[i].nets, f->c.zacl[i].nets,
				    f->c.zacl[i].n_nets * sizeof(*f->c.zacl[i].nets));
	}
	assert_string_equal(back.zacl[1].txt, "see \"x\" $");
	conf_deinit(&back);
	strbuf_free(&d);

	/* A later list replaces the earlier one, as for tiers. */
	assert_int_equal(conf_load_string(&f->c, "zone-acl = ( );", "t", &f->errs), 0);
	assert_int_equal(f->c.n_zacl, 0);
}

static void test_zacl_errors(void **state)
{
	struct fx *f = *state;
	const char *text =
		"zone-acl = (\n"
		"  { zone = \"a.test\"; networks = [ \"10.0.0.1/8\" ]; action = \"refuse\"; },\n"
		"  { zone = \"a.test\"; networks = [ \"10.0.0.0/8\" ]; action = \"drop\"; },\n"
		"  { zone = \"a.test\"; networks = [ \"10.0.0.0/8\" ]; action = \":10.0.0.2:x\"; },\n"
		"  { zone = \"a.test\"; networks = [ 5 ]; action = \"pass\"; },\n"
		"  { zone = \"a..test\"; networks = \"::1\"; action = \"pass\"; },\n"
		"  { zone = \"a.test\"; networks = [ ]; action = \"pass\"; },\n"
		"  { zone = \"a.test\"; networks = \"::1\"; action = \"pass\"; colour = 1; },\n"
		"  { networks = \"::1\"; action = \"pass\"; },\n"
		"  { zone = 1; networks = \"::1\"; action = 2; },\n"
		"  \"refuse\" );\n"; /* libconfig dates a scalar at the ")" */

	assert_int_equal(conf_load_string(&f->c, text, "z.conf", &f->errs), GN_EINVAL);
	assert_err(f, "z.conf", 2, "zone-acl: networks: bad network \"10.0.0.1/8\"");
	assert_err(f, "z.conf", 3, "zone-acl: action \"drop\": use");
	assert_err(f, "z.conf", 4, "not an IPv4 address in 127.0.0.0/8");
	assert_err(f, "z.conf", 5, "zone-acl: networks: element 1 must be a string");
	assert_err(f, "z.conf", 6, "zone-acl: zone \"a..test\" is not a domain name");
	assert_err(f, "z.conf", 7, "zone-acl: networks is empty");
	assert_err(f, "z.conf", 8, "zone-acl: unknown option 'colour'");
	assert_err(f, "z.conf", 9, "zone-acl: zone is missing");
	assert_err(f, "z.conf", 10, "zone-acl: zone must be a string");
	assert_err(f, "z.conf", 10, "zone-acl: action must be a string");
	assert_err(f, "z.conf", 11, "zone-acl: each rule must be a group");
	assert_int_equal(f->c.n_zacl, 0); /* nothing half-read is kept */

	strbuf_reset(&f->errs);
	assert_int_equal(conf_load_string(&f->c, "\nzone-acl = { zone = \"a\"; };", "y.conf",
					  &f->errs), GN_EINVAL);
	assert_err(f, "y.conf", 2, "zone-acl must be a list of groups");
}

/* docs/resolver.md documents every key of the table (run from the top of
 * the tree, as tests/run.sh does). */
static void test_docs_cover_table(void **state)
{
	FILE *fp = fopen("docs/resolver.md", "r");
	static char doc[1 << 17];
	size_t n, len;
	const struct conf_opt *t = conf_options(&n);

	if (!fp)
		skip();
	len = fread(doc, 1, sizeof(doc) - 1, fp);
	fclose(fp);
	doc[len] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *dot = strchr(t[i].name, '.');
		char want[96];
		snprintf(want, sizeof(want), "`%s`", dot ? dot + 1 : t[i].name);
		if (!strstr(doc, want))
			fail_msg("docs/resolver.md does not document %s (looked for %s)", t[i].name, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test(test_table_is_sane),
		cmocka_unit_test_setup_teardown(test_full_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_minimal_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_error_with_its_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syntax_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finish_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zacl_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zacl_errors, setup, teardown),
		cmocka_unit_test(test_docs_cover_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
