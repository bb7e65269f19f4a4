/* tests/unit/test_health.c - the self-check's pure parts (resolver/health*):
 * rise/fall per check, verdicts on canary answers (listing the world, a
 * missing test entry, a resolver that does not answer), the /health JSON
 * body, the metric families, and reading canary replies off the wire. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>
#include "common/addr.h"
#include "common/err.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "resolver/health.h"
#include "resolver/server.h"

static bool up(struct health_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return t->v[i].up;
	fail_msg("no check %s", name);
	return false;
}

/* One round with one result for "zone/x". */
static void round1(struct health_table *t, bool ok)
{
	health_table_round_begin(t);
	assert_int_equal(health_table_report(t, "zone/x", ok, HEALTH_DATA, ok ? NULL : "bad", 0.001,
					     -1, 100.0),
			 0);
	health_table_round_end(t);
}

static void test_rise_fall(void **state)
{
	struct health_table t;

	health_table_init(&t, 2, 3);
	assert_false(health_table_healthy(&t)); /* no round yet: not healthy */
	round1(&t, true);                        /* first result is believed */
	assert_true(up(&t, "zone/x"));
	assert_true(health_table_healthy(&t));
	round1(&t, false);
	round1(&t, false);
	assert_true(up(&t, "zone/x"));           /* 2 failures < fall 3 */
	round1(&t, true);                        /* a pass resets the streak */
	round1(&t, false);
	round1(&t, false);
	assert_true(up(&t, "zone/x"));
	round1(&t, false);                       /* third in a row: down */
	assert_false(up(&t, "zone/x"));
	assert_false(health_table_healthy(&t));
	assert_true(health_table_down_class(&t, HEALTH_DATA));
	assert_false(health_table_down_class(&t, HEALTH_FAULT));
	round1(&t, true);
	assert_false(up(&t, "zone/x"));          /* 1 pass < rise 2 */
	round1(&t, true);
	assert_true(up(&t, "zone/x"));
	assert_true(health_table_healthy(&t));
	health_table_deinit(&t);
}

static void test_first_failure_is_immediate_and_missing_checks_go(void **state)
{
	struct health_table t;

	health_table_init(&t, 2, 3);
	health_table_round_begin(&t);
	health_table_report(&t, "worker/0", false, HEALTH_FAULT, "stuck", 0, 0, 1.0);
	health_table_report(&t, "zone/y", true, HEALTH_DATA, NULL, 0, -1, 1.0);
	health_table_round_end(&t);
	assert_false(up(&t, "worker/0"));
	assert_true(health_table_down_class(&t, HEALTH_FAULT));
	/* A round that does not mention a check drops it; touch keeps it. */
	health_table_round_begin(&t);
	assert_true(health_table_touch(&t, "worker/0"));
	assert_false(health_table_touch(&t, "nope"));
	health_table_round_end(&t);
	assert_int_equal(t.n, 1);
	assert_false(up(&t, "worker/0"));
	health_table_drop(&t, "worker/0");
	assert_int_equal(t.n, 0);
	/* force_down skips the fall count (a zone gone from the snapshot). */
	health_table_round_begin(&t);
	health_table_report(&t, "zone/z", true, HEALTH_DATA, NULL, 0, -1, 2.0);
	health_table_round_end(&t);
	health_table_round_begin(&t);
	health_table_report(&t, "zone/z", false, HEALTH_DATA, "gone", 0, -1, 3.0);
	assert_true(up(&t, "zone/z"));
	health_table_force_down(&t, "zone/z", 3.0);
	health_table_round_end(&t);
	assert_false(up(&t, "zone/z"));
	health_table_deinit(&t);
}

static struct health_answer ans(int rcode, unsigned n_a127)
{
	struct health_answer a = { 0 };
	a.rcode = rcode;
	a.n_answer = a.n_a127 = n_a127;
	return a;
}

static void test_judge_dnsbl(void **state)
{
	enum health_class cls = HEALTH_CLASS_N;
	char why[HEALTH_ERR_MAX];
	struct health_answer a;

	a = ans(0, 1);
	assert_true(health_judge_dnsbl(&a, true, "2.0.0.127", &cls, why, sizeof(why)));
	a = ans(3, 0);
	assert_true(health_judge_dnsbl(&a, false, "1.0.0.127", &cls, why, sizeof(why)));
	/* 1.0.0.127 listed: the zone lists the world. */
	a = ans(0, 1);
	assert_false(health_judge_dnsbl(&a, false, "1.0.0.127", &cls, why, sizeof(why)));
	assert_int_equal(cls, HEALTH_DATA);
	assert_non_null(strstr(why, "listing the world"));
	assert_non_null(strstr(why, "1.0.0.127"));
	/* 2.0.0.127 not listed: the test entry is missing. */
	a = ans(3, 0);
	assert_false(health_judge_dnsbl(&a, true, "2.0.0.127", &cls, why, sizeof(why)));
	assert_int_equal(cls, HEALTH_DATA);
	assert_non_null(strstr(why, "2.0.0.127 is not listed"));
	/* An answer outside 127/8 is not a listing. */
	a = ans(0, 0);
	a.n_answer = 1;
	assert_false(health_judge_dnsbl(&a, true, "test", &cls, why, sizeof(why)));
	/* SERVFAIL and timeouts are faults of the resolver, not data. */
	a = ans(2, 0);
	assert_false(health_judge_dnsbl(&a, true, "2.0.0.127", &cls, why, sizeof(why)));
	assert_int_equal(cls, HEALTH_FAULT);
	assert_non_null(strstr(why, "SERVFAIL"));
	a = ans(0, 0);
	a.err = GN_EBUSY;
	assert_false(health_judge_dnsbl(&a, false, "invalid", &cls, why, sizeof(why)));
	assert_int_equal(cls, HEALTH_FAULT);
	assert_non_null(strstr(why, "timeout"));
	a.err = GN_ERANGE; /* a name we cannot even ask: not the resolver's fault */
	assert_false(health_judge_dnsbl(&a, true, "::ffff:7f00:2", &cls, why, sizeof(why)));
	assert_int_equal(cls, HEALTH_DATA);
}

static void test_judge_name_and_tier(void **state)
{
	enum health_class cls = HEALTH_CLASS_N;
	char why[HEALTH_ERR_MAX];
	struct health_answer a;

	a = ans(0, 0);
	a.n_answer = 2;
	assert_true(health_judge_name(&a, &cls, why, sizeof(why)));
	a = ans(0, 0);
	assert_false(health_judge_name(&a, &cls, why, sizeof(why)));
	assert_int_equal(cls, HEALTH_DATA);
	a = ans(3, 0);
	assert_true(health_judge_tier(&a, &cls, why, sizeof(why))); /* NXDOMAIN is an answer */
	a = ans(2, 0);
	assert_false(health_judge_tier(&a, &cls, why, sizeof(why)));
	assert_int_equal(cls, HEALTH_UPSTREAM);
	a = ans(5, 0);
	assert_false(health_judge_tier(&a, &cls, why, sizeof(why)));
	assert_non_null(strstr(why, "recursion.allow"));
}

static void test_json_body(void **state)
{
	struct health_table t;
	struct strbuf b;

	health_table_init(&t, 1, 1);
	strbuf_init(&b);
	health_table_json(&t, &b);
	assert_non_null(strstr(b.p, "\"healthy\":false"));
	assert_non_null(strstr(b.p, "\"status\":\"starting\""));
	strbuf_reset(&b);
	health_table_round_begin(&t);
	health_table_report(&t, "zone/bl.example", false, HEALTH_DATA,
			    "udp 127.0.0.1:53: 1.0.0.127 is listed: the zone is listing the \"world\"",
			    0, -1, 5.0);
	health_table_report(&t, "worker/0", true, HEALTH_FAULT, NULL, 0, 0, 5.0);
	health_table_round_end(&t);
	health_table_json(&t, &b);
	assert_non_null(strstr(b.p, "{\"healthy\":false,\"status\":\"unhealthy\",\"checks\":2,"));
	assert_non_null(strstr(b.p, "\"check\":\"zone/bl.example\""));
	assert_non_null(strstr(b.p, "\"class\":\"data\""));
	assert_non_null(strstr(b.p, "listing the \\\"world\\\""));   /* escaped */
	assert_null(strstr(b.p, "worker/0"));                       /* passing: not listed */
	strbuf_reset(&b);
	health_table_round_begin(&t);
	health_table_report(&t, "zone/bl.example", true, HEALTH_DATA, NULL, 0, -1, 6.0);
	health_table_report(&t, "worker/0", true, HEALTH_FAULT, NULL, 0, 0, 6.0);
	health_table_round_end(&t);
	health_table_json(&t, &b);
	assert_string_equal(b.p, "{\"healthy\":true,\"status\":\"healthy\",\"checks\":2,"
				 "\"heal_attempts\":0,\"failing\":[]}\n");
	strbuf_free(&b);
	health_table_deinit(&t);
}

static void test_metrics_families(void **state)
{
	struct health_table t;
	struct strbuf b;

	health_table_init(&t, 1, 1);
	strbuf_init(&b);
	health_table_round_begin(&t);
	health_table_report(&t, "name/a\"b.example/MX", false, HEALTH_DATA, "x", 0.25, -1, 1.0);
	health_table_round_end(&t);
	t.heal[HEALTH_A_RESTART_WORKER] = 2;
	health_table_metrics(&t, &b);
	assert_non_null(strstr(b.p, "# TYPE gridns_healthy gauge\ngridns_healthy 0\n"));
	assert_non_null(strstr(b.p, "gridns_health_check_up{check=\"name/a\\\"b.example/MX\"} 0\n"));
	assert_non_null(strstr(b.p, "gridns_health_check_duration_seconds{check=\"name/a\\\"b.example/MX\"} 0.250000\n"));
	assert_non_null(strstr(b.p, "gridns_heal_actions_total{action=\"restart_worker\"} 2\n"));
	assert_non_null(strstr(b.p, "gridns_heal_actions_total{action=\"exit\"} 0\n"));
	strbuf_free(&b);
	health_table_deinit(&t);
}

static void test_canary_wire(void **state)
{
	uint8_t q[512], r[512];
	size_t n = health_canary_query("2.0.0.127.bl.example", 1, false, 0x1234, q, sizeof(q));
	struct health_answer a;
	size_t rl;

	assert_true(n > 12);
	assert_int_equal(q[0], 0x12);
	assert_int_equal(q[2] & 0x01, 0); /* no RD for local canaries */
	/* Reply: the question plus one A 127.0.0.2 with a compressed owner. */
	memcpy(r, q, n);
	r[2] = 0x84;
	r[3] = 0x00;
	r[7] = 1;
	rl = n;
	memcpy(r + rl, (const uint8_t[]){ 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 2 },
	       16);
	rl += 16;
	health_canary_parse(r, rl, 0x1234, 1, &a);
	assert_int_equal(a.err, 0);
	assert_int_equal(a.rcode, 0);
	assert_int_equal(a.n_answer, 1);
	assert_int_equal(a.n_a127, 1);
	/* Wrong ID, or a cut record: never taken as an answer. */
	health_canary_parse(r, rl, 0x1235, 1, &a);
	assert_int_equal(a.err, GN_EINVAL);
	health_canary_parse(r, rl - 3, 0x1234, 1, &a);
	assert_int_equal(a.err, GN_EINVAL);
	assert_int_equal(health_qtype_parse("mx"), 15);
	assert_int_equal(health_qtype_parse("BOGUS"), 0);
}

/* One canary to the server (no snapshot: SERVFAIL is an answer). */
static int ask(struct server *srv, unsigned timeout_ms)
{
	struct health_probe p = { .qname = "2.0.0.127.bl.test", .qtype = 1 };
	health_canary_udp(server_listen_addr(srv, 0), &p, 1, timeout_ms);
	return p.ans.err ? p.ans.err : p.ans.rcode;
}

/* server_restart_worker: a worker whose loop stopped serving (the stall
 * test hook) answers again after a restart, in the same process, and its
 * heartbeat moves again. */
static void test_restart_worker_heals_a_stall(void **state)
{
	struct server *srv = NULL;
	struct addr a;
	struct server_opts o = {
		.n_listen = 1, .workers = 1, .udp_batch = 8, .udp_rcvbuf = 1 << 20,
		.edns_payload = 1232, .tcp_max_conn = 8, .tcp_idle_ms = 300,
		.tcp_max_pipeline = 2,
	};
	uint64_t b0;

	log_init("test_health", LOG_LVL_ERR);
	assert_int_equal(addr_parse("127.0.0.1:0", 0, &a, NULL), 0);
	o.listen = &a;
	assert_int_equal(server_new(&o, &srv), 0);
	assert_int_equal(server_start(srv), 0);
	assert_int_equal(ask(srv, 2000), 2);
	assert_int_equal(server_restart_worker(srv, 0, 2000), 0); /* a healthy one too */
	assert_int_equal(ask(srv, 2000), 2);
#ifndef NDEBUG
	assert_int_equal(server_inject_fault(srv, 0, SERVER_FAULT_STALL), 0);
	usleep(300 * 1000); /* applied at the next heartbeat */
	b0 = server_worker_beat(srv, 0);
	assert_int_equal(ask(srv, 300), GN_EBUSY); /* no answer: timeout */
	assert_int_equal(server_worker_beat(srv, 0), b0); /* heartbeat stopped */
	assert_int_equal(server_restart_worker(srv, 0, 2000), 0);
	assert_int_equal(ask(srv, 2000), 2);
	usleep(300 * 1000);
	assert_true(server_worker_beat(srv, 0) > b0);
#else
	(void)b0;
#endif
	assert_int_equal(server_restart_worker(srv, 1, 2000), GN_EINVAL);
	server_stop(srv);
	assert_int_equal(server_restart_worker(srv, 0, 2000), GN_EINVAL);
	server_free(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rise_fall),
		cmocka_unit_test(test_first_failure_is_immediate_and_missing_checks_go),
		cmocka_unit_test(test_judge_dnsbl),
		cmocka_unit_test(test_judge_name_and_tier),
		cmocka_unit_test(test_json_body),
		cmocka_unit_test(test_metrics_families),
		cmocka_unit_test(test_canary_wire),
		cmocka_unit_test(test_restart_worker_heals_a_stall),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
