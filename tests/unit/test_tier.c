/* tests/unit/test_tier.c - tier fallback, hedging, breaker and metrics,
 * against scriptable fake upstreams on real loopback UDP sockets.
 *
 * The fake upstreams are served from the same libev loop that drives the
 * tierset (libunbound's background thread sends to them over real sockets).
 * Every wait is bounded by a deadline.  Timing assertions are loose (this box
 * is noisy): 25 ms slack; docs/tiers.md has the measured figures.
 */
#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "common/dname.h"
#include "common/err.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "resolver/tier.h"
#include "resolver/tier_int.h"

#define SLACK_MS 25.0

/* ---- fake upstream ----------------------------------------------------------- */

enum fu_mode { FU_ANSWER = 0, FU_DROP, FU_SERVFAIL, FU_REFUSED, FU_NXDOMAIN };

struct fu_delayed {
	ev_timer t;
	struct fake_up *fu;
	uint8_t buf[512];
	size_t len;
	struct sockaddr_in peer;
	bool used;
};

struct fake_up {
	struct ev_loop *loop;
	int fd;
	uint16_t port;
	char addr[32];          /* "127.0.0.1@port" */
	ev_io io;
	enum fu_mode mode;
	uint32_t delay_ms;
	uint8_t a[4];           /* address answered for A queries */
	unsigned nq;            /* queries received */
	struct fu_delayed d[64];
};

static size_t fu_build(struct fake_up *fu, const uint8_t *q, size_t qlen, uint8_t *r, size_t cap)
{
	size_t p = 12, o;
	uint16_t qtype, flags;
	unsigned rcode = 0, an = 0;
	bool opt;

	if (qlen < 12 || cap < 512)
		return 0;
	while (p < qlen && q[p])
		p += 1u + q[p];
	p += 1;
	if (p + 4 > qlen)
		return 0;
	qtype = (uint16_t)(q[p] << 8 | q[p + 1]);
	p += 4;
	opt = q[11] > 0;
	memcpy(r, q, p);
	switch (fu->mode) {
	case FU_SERVFAIL: rcode = 2; break;
	case FU_REFUSED:  rcode = 5; break;
	case FU_NXDOMAIN: rcode = 3; break;
	default:          rcode = 0; an = qtype == 1; break;
	}
	flags = (uint16_t)(0x8000 | (q[2] << 8 & 0x0100) | 0x0080 | rcode);
	r[2] = (uint8_t)(flags >> 8);
	r[3] = (uint8_t)flags;
	r[4] = 0; r[5] = 1;
	r[6] = 0; r[7] = (uint8_t)an;
	r[8] = 0; r[9] = 0;
	r[10] = 0; r[11] = opt ? 1 : 0;
	o = p;
	if (an) {
		const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4 };
		memcpy(r + o, rr, sizeof(rr));
		o += sizeof(rr);
		memcpy(r + o, fu->a, 4);
		o += 4;
	}
	if (opt) {
		const uint8_t rr[] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0 };
		memcpy(r + o, rr, sizeof(rr));
		o += sizeof(rr);
	}
	return o;
}

static void fu_delayed_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fu_delayed *d = (struct fu_delayed *)w;
	(void)loop;
	(void)revents;
	(void)!sendto(d->fu->fd, d->buf, d->len, 0, (struct sockaddr *)&d->peer, sizeof(d->peer));
	d->used = false;
}

static void fu_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fake_up *fu = (struct fake_up *)((char *)w - offsetof(struct fake_up, io));
	uint8_t q[1500], r[512];
	(void)revents;

	for (int k = 0; k < 64; k++) {
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);
		ssize_t n = recvfrom(fu->fd, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&peer, &pl);
		size_t len;
		if (n <= 0)
			return;
		fu->nq++;
		if (fu->mode == FU_DROP)
			continue;
		len = fu_build(fu, q, (size_t)n, r, sizeof(r));
		if (!len)
			continue;
		if (fu->delay_ms) {
			for (size_t i = 0; i < 64; i++) {
				struct fu_delayed *d = &fu->d[i];
				if (d->used)
					continue;
				d->used = true;
				d->fu = fu;
				memcpy(d->buf, r, len);
				d->len = len;
				d->peer = peer;
				ev_timer_init(&d->t, fu_delayed_cb, fu->delay_ms / 1000.0, 0.);
				ev_timer_start(loop, &d->t);
				break;
			}
			continue;
		}
		(void)!sendto(fu->fd, r, len, 0, (struct sockaddr *)&peer, pl);
	}
}

static void fu_start(struct fake_up *fu, struct ev_loop *loop)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);

	memset(fu, 0, sizeof(*fu));
	fu->loop = loop;
	fu->a[0] = 127; fu->a[3] = 2;
	fu->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fu->fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fu->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fu->fd, (struct sockaddr *)&sin, &sl), 0);
	fu->port = ntohs(sin.sin_port);
	snprintf(fu->addr, sizeof(fu->addr), "127.0.0.1@%u", (unsigned)fu->port);
	ev_io_init(&fu->io, fu_io_cb, fu->fd, EV_READ);
	ev_io_start(loop, &fu->io);
}

static void fu_stop(struct fake_up *fu)
{
	for (size_t i = 0; i < 64; i++)
		if (fu->d[i].used)
			ev_timer_stop(fu->loop, &fu->d[i].t);
	ev_io_stop(fu->loop, &fu->io);
	close(fu->fd);
}

/* ---- fixture ---------------------------------------------------------------------- */

struct cap {
	bool done;
	unsigned calls;
	int tier;
	int rcode;
	enum tier_fail fail;
	int ede;
	char ede_text[256];
	uint64_t elapsed_ns;
	struct tier_attempt att[TIER_MAX];
	uint8_t pkt[1024];
	size_t pkt_len;
};

struct fx {
	struct ev_loop *loop;
	struct fake_up up[3];
	const char *srv[3][1];
	struct tier_conf conf[3];
	size_t n;
	struct tier_stats *st;
	struct tierset *ts;
	unsigned seq;
};

static void on_result(const struct tier_result *r, void *arg)
{
	struct cap *c = arg;
	c->calls++;
	c->done = true;
	c->tier = r->tier;
	c->rcode = r->rcode;
	c->fail = r->fail;
	c->ede = r->ede;
	c->elapsed_ns = r->elapsed_ns;
	snprintf(c->ede_text, sizeof(c->ede_text), "%s", r->ede_text ? r->ede_text : "");
	memcpy(c->att, r->attempts, r->n_tiers * sizeof(r->attempts[0]));
	c->pkt_len = 0;
	if (r->pkt && r->pkt_len <= sizeof(c->pkt)) {
		memcpy(c->pkt, r->pkt, r->pkt_len);
		c->pkt_len = r->pkt_len;
	}
}

static double mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop; (void)w; (void)revents;
}

/* Run the loop until *flag or max_ms passed.  Returns elapsed ms. */
static double run_until(struct fx *f, const bool *flag, double max_ms)
{
	ev_timer tick;
	double t0 = mono_ms();

	ev_timer_init(&tick, tick_cb, 0.005, 0.005);
	ev_timer_start(f->loop, &tick);
	while ((!flag || !*flag) && mono_ms() - t0 < max_ms)
		ev_run(f->loop, EVRUN_ONCE);
	ev_timer_stop(f->loop, &tick);
	return mono_ms() - t0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	static const char *names[3] = { "grid", "noc", "last" };

	assert_non_null(f);
	log_init("test_tier", LOG_LVL_WARN);
	f->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(f->loop);
	for (int i = 0; i < 3; i++) {
		fu_start(&f->up[i], f->loop);
		f->srv[i][0] = f->up[i].addr;
		tier_conf_defaults(&f->conf[i]);
		f->conf[i].name = names[i];
		f->conf[i].servers = f->srv[i];
		f->conf[i].n_servers = 1;
		f->conf[i].timeout_ms = 200;
	}
	f->conf[1].timeout_ms = 300;
	f->n = 2;
	*state = f;
	return 0;
}

static void fx_make(struct fx *f)
{
	assert_int_equal(tier_stats_new(f->conf, f->n, 2, &f->st), 0);
	assert_int_equal(tierset_new(f->loop, f->conf, f->n, f->st, 1, &f->ts), 0);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tierset_free(f->ts);
	tier_stats_free(f->st);
	for (int i = 0; i < 3; i++)
		fu_stop(&f->up[i]);
	ev_loop_destroy(f->loop);
	free(f);
	return 0;
}

/* Resolve a fresh name (no cache hit inside libunbound) and wait. */
static double fx_query(struct fx *f, const char *zone, uint16_t qtype, unsigned flags,
		       struct cap *c, double max_ms)
{
	char text[128];
	uint8_t wire[DNAME_MAX];
	struct tier_query *qh = NULL;
	int wl;
	double t0;

	memset(c, 0, sizeof(*c));
	snprintf(text, sizeof(text), "q%u.%s", ++f->seq, zone);
	wl = dname_from_text(text, strlen(text), wire);
	assert_true(wl > 0);
	t0 = mono_ms();
	assert_int_equal(tierset_resolve(f->ts, wire, qtype, 1, flags, on_result, c, &qh), 0);
	assert_non_null(qh);
	assert_false(c->done); /* never called from inside resolve */
	run_until(f, &c->done, max_ms);
	assert_true(c->done);
	assert_int_equal(c->calls, 1);
	return mono_ms() - t0;
}

static bool pkt_has_a(const struct cap *c, const uint8_t a[4])
{
	for (size_t i = 12; i + 4 <= c->pkt_len; i++)
		if (!memcmp(c->pkt + i, a, 4))
			return true;
	return false;
}

static void metrics_text(struct fx *f, struct strbuf *out)
{
	strbuf_init(out);
	tier_stats_write(f->st, out);
	assert_int_equal(out->err, 0);
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_first_tier_answers(void **state)
{
	struct fx *f = *state;
	struct cap c;
	const uint8_t want[4] = { 127, 0, 0, 2 };

	fx_make(f);
	fx_query(f, "bl.example", 1, TIER_DNSBL, &c, 2000);
	assert_int_equal(c.tier, 0);
	assert_int_equal(c.rcode, 0);
	assert_int_equal(c.fail, TIER_FAIL_NONE);
	assert_int_equal(c.ede, -1);
	assert_true(pkt_has_a(&c, want));
	assert_int_equal(c.att[0].outcome, TIER_O_OK);
	assert_int_equal(c.att[1].outcome, TIER_O_NONE);
	assert_int_equal(f->up[1].nq, 0);

	/* NXDOMAIN is a valid answer ("not listed"), not a failure. */
	f->up[0].mode = FU_NXDOMAIN;
	fx_query(f, "bl.example", 1, TIER_DNSBL, &c, 2000);
	assert_int_equal(c.tier, 0);
	assert_int_equal(c.rcode, 3);
	assert_int_equal(f->up[1].nq, 0);
	assert_int_equal(tierset_pending(f->ts), 0);
}

static void test_drop_falls_to_second(void **state)
{
	struct fx *f = *state;
	struct cap c;
	struct strbuf m;
	double ms;

	fx_make(f);
	f->up[0].mode = FU_DROP;
	ms = fx_query(f, "bl.example", 1, 0, &c, 2000);
	assert_int_equal(c.tier, 1);
	assert_int_equal(c.rcode, 0);
	/* libunbound may give up on a silent server itself just before our
	 * timer; either way the tier failed, and no later than its timeout. */
	assert_true(c.att[0].outcome == TIER_O_TIMEOUT || c.att[0].outcome == TIER_O_SERVFAIL);
	assert_int_equal(c.att[1].outcome, TIER_O_OK);
	print_message("drop: answered by tier 2 after %.1f ms (tier 1 timeout 200 ms)\n", ms);
	assert_true(ms <= 200 + SLACK_MS);
	assert_true(c.att[0].outcome != TIER_O_TIMEOUT || ms >= 195);
	metrics_text(f, &m);
	assert_non_null(strstr(m.p, "gridns_tier_skips_total{from=\"grid\",to=\"noc\",reason=\"timeout\"} 1\n") ?
			strstr(m.p, "gridns_tier_skips_total{from=\"grid\",to=\"noc\",reason=\"timeout\"} 1\n") :
			strstr(m.p, "gridns_tier_skips_total{from=\"grid\",to=\"noc\",reason=\"servfail\"} 1\n"));
	assert_non_null(strstr(m.p, "gridns_tier_attempts_total{tier=\"noc\",result=\"ok\"} 1\n"));
	strbuf_free(&m);
}

static void test_servfail_refused_next_at_once(void **state)
{
	struct fx *f = *state;
	struct cap c;
	double ms;

	f->conf[0].timeout_ms = 1000;
	fx_make(f);
	f->up[0].mode = FU_SERVFAIL;
	ms = fx_query(f, "example", 1, 0, &c, 3000);
	print_message("servfail: answered by tier 2 after %.1f ms (%u queries to tier 1)\n",
		      ms, f->up[0].nq);
	assert_int_equal(c.tier, 1);
	assert_int_equal(c.att[0].outcome, TIER_O_SERVFAIL);
	assert_true(ms < 100);

	f->up[0].mode = FU_REFUSED;
	f->up[0].nq = 0;
	ms = fx_query(f, "example", 1, 0, &c, 3000);
	print_message("refused: answered by tier 2 after %.1f ms as %s (%u queries to tier 1)\n",
		      ms, tier_outcome_str(c.att[0].outcome), f->up[0].nq);
	assert_int_equal(c.tier, 1);
	/* libunbound reports an upstream REFUSED as SERVFAIL. */
	assert_true(c.att[0].outcome == TIER_O_REFUSED || c.att[0].outcome == TIER_O_SERVFAIL);
	assert_true(ms < 100);
}

static void test_hedge(void **state)
{
	struct fx *f = *state;
	struct cap c;
	struct strbuf m;
	double ms;

	f->conf[0].timeout_ms = 500;
	f->conf[0].hedge_after_ms = 50;
	fx_make(f);
	f->up[0].delay_ms = 150; /* slow, not dead */
	ms = fx_query(f, "example", 1, 0, &c, 3000);
	print_message("hedge: answered by tier %d after %.1f ms (hedge-after 50 ms)\n", c.tier + 1, ms);
	assert_int_equal(c.tier, 1);
	assert_true(ms >= 45 && ms <= 50 + SLACK_MS);
	assert_int_equal(c.att[0].outcome, TIER_O_CANCELLED);
	metrics_text(f, &m);
	assert_non_null(strstr(m.p, "gridns_tier_skips_total{from=\"grid\",to=\"noc\",reason=\"hedge\"} 1\n"));
	assert_non_null(strstr(m.p, "gridns_tier_attempts_total{tier=\"grid\",result=\"cancelled\"} 1\n"));
	strbuf_free(&m);

	/* The hedged-past tier still wins when it answers before the next. */
	f->up[1].delay_ms = 300;
	ms = fx_query(f, "example", 1, 0, &c, 3000);
	print_message("hedge: slow tier 1 (150 ms) answered by tier %d after %.1f ms, %u/%u queries\n",
		      c.tier + 1, ms, f->up[0].nq, f->up[1].nq);
	assert_int_equal(c.tier, 0);
	assert_true(ms >= 145 && ms <= 150 + SLACK_MS);
	assert_int_equal(c.att[1].outcome, TIER_O_CANCELLED);
}

static void test_all_fail_servfail_with_ede(void **state)
{
	struct fx *f = *state;
	struct cap c;
	struct strbuf m;
	double ms;

	fx_make(f);
	f->up[0].mode = FU_DROP;
	f->up[1].mode = FU_DROP;
	ms = fx_query(f, "bl.example", 1, TIER_DNSBL, &c, 3000);
	print_message("all drop: failure after %.1f ms (timeouts 200 + 300 ms): %s\n", ms, c.ede_text);
	assert_int_equal(c.tier, -1);
	assert_int_equal(c.rcode, 2);
	assert_int_equal(c.pkt_len, 0);
	assert_true(c.fail == TIER_FAIL_TIMEOUT || c.fail == TIER_FAIL_SERVFAIL);
	assert_true(c.ede == TIER_EDE_NO_REACHABLE_AUTHORITY || c.ede == TIER_EDE_NETWORK_ERROR);
	assert_true(ms <= 500 + SLACK_MS);
	assert_non_null(strstr(c.ede_text, "grid: "));
	assert_non_null(strstr(c.ede_text, "noc: "));

	f->up[0].mode = FU_SERVFAIL;
	f->up[1].mode = FU_REFUSED;
	ms = fx_query(f, "bl.example", 1, TIER_DNSBL, &c, 3000);
	assert_int_equal(c.tier, -1);
	assert_int_equal(c.rcode, 2);
	assert_true(c.ede >= 0);
	assert_true(ms < 100);
	metrics_text(f, &m);
	assert_non_null(strstr(m.p, "gridns_tier_skips_total{from=\"noc\",to=\"none\","));
	strbuf_free(&m);
}

static void test_dnsbl_error_code(void **state)
{
	struct fx *f = *state;
	struct cap c;
	struct strbuf m;
	const uint8_t listed[4] = { 127, 0, 0, 2 }, err[4] = { 127, 255, 255, 254 };

	fx_make(f);
	memcpy(f->up[0].a, err, 4);
	fx_query(f, "zen.example", 1, TIER_DNSBL, &c, 3000);
	assert_int_equal(c.tier, 1);
	assert_int_equal(c.att[0].outcome, TIER_O_DNSBL_ERROR);
	assert_true(pkt_has_a(&c, listed));

	/* Not a DNSBL zone: the same address is ordinary data. */
	fx_query(f, "example", 1, 0, &c, 3000);
	assert_int_equal(c.tier, 0);
	assert_true(pkt_has_a(&c, err));

	/* Outside 127/8 (a rewriting middlebox) is an error too. */
	f->up[0].a[0] = 10;
	fx_query(f, "zen.example", 1, TIER_DNSBL, &c, 3000);
	assert_int_equal(c.tier, 1);

	/* Every tier says "error code": SERVFAIL, never a listing. */
	memcpy(f->up[0].a, err, 4);
	memcpy(f->up[1].a, err, 4);
	fx_query(f, "zen.example", 1, TIER_DNSBL, &c, 3000);
	assert_int_equal(c.tier, -1);
	assert_int_equal(c.fail, TIER_FAIL_DNSBL_ERROR);
	assert_int_equal(c.ede, TIER_EDE_OTHER);
	assert_int_equal(c.pkt_len, 0);
	/* Data errors do not take the tier down. */
	assert_true(tierset_tier_up(f->ts, 0));

	metrics_text(f, &m);
	assert_non_null(strstr(m.p, "gridns_dnsbl_error_answers_total{tier=\"grid\",code=\"127.255.255.254\"} 2\n"));
	assert_non_null(strstr(m.p, "gridns_dnsbl_error_answers_total{tier=\"grid\",code=\"outside_127/8\"} 1\n"));
	assert_non_null(strstr(m.p, "gridns_dnsbl_error_answers_total{tier=\"noc\",code=\"127.255.255.254\"} 1\n"));
	assert_non_null(strstr(m.p, "gridns_tier_skips_total{from=\"grid\",to=\"noc\",reason=\"dnsbl_error\"} 3\n"));
	assert_non_null(strstr(m.p, "gridns_servfail_total{reason=\"dnsbl_error\"} 1\n"));
	strbuf_free(&m);
}

static void test_breaker_opens_and_recovers(void **state)
{
	struct fx *f = *state;
	struct cap c;
	struct strbuf m;
	double ms, t_back, t_up = -1;
	bool probed = false;

	f->conf[0].timeout_ms = 100;
	f->conf[0].backoff_ms = 300;
	fx_make(f);
	f->up[0].mode = FU_DROP;
	for (int i = 0; i < 3; i++) {
		fx_query(f, "bl.example", 1, TIER_DNSBL, &c, 2000);
		assert_int_equal(c.tier, 1);
	}
	assert_false(tierset_tier_up(f->ts, 0));
	metrics_text(f, &m);
	assert_non_null(strstr(m.p, "gridns_tier_up{tier=\"grid\"} 0\n"));
	assert_non_null(strstr(m.p, "gridns_tier_down_workers{tier=\"grid\"} 1\n"));
	strbuf_free(&m);

	/* Down: skipped, so the client does not wait for the timeout. */
	unsigned nq = f->up[0].nq;
	ms = fx_query(f, "bl.example", 1, TIER_DNSBL, &c, 2000);
	assert_int_equal(c.tier, 1);
	assert_int_equal(c.att[0].outcome, TIER_O_DOWN);
	assert_true(ms < 50);
	(void)nq;

	/* The upstream comes back; a query every 20 ms, as traffic would. */
	f->up[0].mode = FU_ANSWER;
	t_back = mono_ms();
	for (int i = 0; i < 200 && mono_ms() - t_back < 4000; i++) {
		fx_query(f, "bl.example", 1, TIER_DNSBL, &c, 2000);
		if (c.att[0].probe)
			probed = true;
		if (tierset_tier_up(f->ts, 0)) {
			t_up = mono_ms() - t_back;
			break;
		}
		run_until(f, NULL, 20);
	}
	print_message("breaker: tier 1 up again %.0f ms after its upstream returned (backoff 300 ms)\n", t_up);
	assert_true(probed);
	assert_true(t_up >= 0);
	assert_true(t_up <= 300 + 2 * 120 + 100); /* one backoff + rise probes */
	fx_query(f, "bl.example", 1, TIER_DNSBL, &c, 2000);
	assert_int_equal(c.tier, 0);
	assert_false(c.att[0].probe);
	assert_int_equal(c.att[1].outcome, TIER_O_NONE);
	metrics_text(f, &m);
	assert_non_null(strstr(m.p, "gridns_tier_up{tier=\"grid\"} 1\n"));
	assert_non_null(strstr(m.p, "gridns_tier_skips_total{from=\"grid\",to=\"noc\",reason=\"down\"}"));
	strbuf_free(&m);
}

/* A grid that answered SERVFAIL (libunbound resends those and may mark the
 * server lame) is used again once it answers, within one backoff. */
static void test_breaker_servfail_recovers(void **state)
{
	struct fx *f = *state;
	struct cap c;
	double t_back, t_up = -1;

	f->conf[0].backoff_ms = 300;
	fx_make(f);
	f->up[0].mode = FU_SERVFAIL;
	for (int i = 0; i < 3; i++)
		fx_query(f, "example", 1, 0, &c, 2000);
	assert_false(tierset_tier_up(f->ts, 0));
	f->up[0].mode = FU_ANSWER;
	t_back = mono_ms();
	for (int i = 0; i < 200 && mono_ms() - t_back < 4000; i++) {
		fx_query(f, "example", 1, 0, &c, 2000);
		if (tierset_tier_up(f->ts, 0)) {
			t_up = mono_ms() - t_back;
			break;
		}
		run_until(f, NULL, 20);
	}
	print_message("breaker after SERVFAIL: tier 1 up again %.0f ms after it answered again\n", t_up);
	assert_true(t_up >= 0 && t_up <= 300 + 2 * 120 + 100);
}

/* Every tier down: the last one is still asked (panic mode), so a NOC that
 * comes back answers the very next query instead of SERVFAIL until its
 * probe is due. */
static void test_all_down_panic(void **state)
{
	struct fx *f = *state;
	struct cap c;

	for (int i = 0; i < 2; i++) {
		f->conf[i].fall = 1;
		f->conf[i].backoff_ms = 10000;
		f->up[i].mode = FU_DROP;
	}
	fx_make(f);
	fx_query(f, "example", 1, 0, &c, 2000);
	assert_int_equal(c.tier, -1);
	assert_false(tierset_tier_up(f->ts, 0));
	assert_false(tierset_tier_up(f->ts, 1));

	/* Still dead: the NOC is asked and times out; the grid is skipped. */
	fx_query(f, "example", 1, 0, &c, 2000);
	assert_int_equal(c.tier, -1);
	assert_int_equal(c.att[0].outcome, TIER_O_DOWN);
	assert_true(c.att[1].outcome == TIER_O_TIMEOUT || c.att[1].outcome == TIER_O_SERVFAIL);
	assert_int_equal(c.ede, c.fail == TIER_FAIL_TIMEOUT ? TIER_EDE_NO_REACHABLE_AUTHORITY
							   : TIER_EDE_NETWORK_ERROR);

	/* The NOC is back: answered at once, long before any probe is due. */
	f->up[1].mode = FU_ANSWER;
	fx_query(f, "example", 1, 0, &c, 2000);
	assert_int_equal(c.tier, 1);
	fx_query(f, "example", 1, 0, &c, 2000);
	assert_int_equal(c.tier, 1);
	assert_true(tierset_tier_up(f->ts, 1)); /* rise 2 */
	assert_false(tierset_tier_up(f->ts, 0));
}

/* A probe slower than the next tier is detached when the query finishes and
 * still brings the tier back: otherwise a tier slower than its successor
 * could never recover. */
static void test_probe_detached(void **state)
{
	struct fx *f = *state;
	struct cap c;

	f->conf[0].timeout_ms = 150;
	f->conf[0].fall = 1;
	f->conf[0].rise = 1;
	f->conf[0].backoff_ms = 100;
	fx_make(f);
	f->up[0].mode = FU_DROP;
	fx_query(f, "example", 1, 0, &c, 2000);
	assert_int_equal(c.tier, 1);
	assert_false(tierset_tier_up(f->ts, 0));

	f->up[0].mode = FU_ANSWER;
	f->up[0].delay_ms = 60;
	run_until(f, NULL, 150);
	fx_query(f, "example", 1, 0, &c, 2000);
	assert_int_equal(c.tier, 1);
	assert_true(c.att[0].probe);
	assert_int_equal(c.att[0].outcome, TIER_O_PENDING);
	assert_false(tierset_tier_up(f->ts, 0));
	run_until(f, NULL, 120); /* the detached probe gets its answer */
	assert_true(tierset_tier_up(f->ts, 0));
	fx_query(f, "example", 1, 0, &c, 2000);
	assert_int_equal(c.tier, 0);
}

/* A recursive last tier starts (its settings pass libunbound's start-up
 * check); it is not asked while the grid answers.  No root servers are
 * reachable from here, so recursion itself is not exercised. */
static void test_recursive_last_tier_starts(void **state)
{
	struct fx *f = *state;
	struct cap c;

	f->conf[1].mode = TIER_RECURSIVE;
	f->conf[1].servers = NULL;
	f->conf[1].n_servers = 0;
	fx_make(f);
	fx_query(f, "example", 1, 0, &c, 2000);
	assert_int_equal(c.tier, 0);
}

/* DNSSEC on, with a trust anchor for example. that the (unsigned) fake
 * upstream cannot satisfy: the answer is bogus -> SERVFAIL with EDE 6, the
 * next tier is not asked, and the breaker does not count it.  Names outside
 * the anchor are insecure and answered normally. */
static void test_dnssec_bogus(void **state)
{
	struct fx *f = *state;
	struct cap c;
	char path[] = "/tmp/gridns-test-ta-XXXXXX";
	const char *ta = "example. 3600 IN DS 12345 8 2 "
		"49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE7CBF3C9B1B54A8ABD4B0E4E1\n";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, ta, strlen(ta)), (ssize_t)strlen(ta));
	close(fd);
	for (int i = 0; i < 2; i++) {
		f->conf[i].dnssec = true;
		f->conf[i].trust_anchor = path;
		f->conf[i].fall = 1;
	}
	fx_make(f);
	fx_query(f, "example", 1, 0, &c, 3000);
	print_message("dnssec: %s, EDE %d '%s'\n", tier_fail_str(c.fail), c.ede, c.ede_text);
	assert_int_equal(c.tier, -1);
	assert_int_equal(c.fail, TIER_FAIL_BOGUS);
	assert_int_equal(c.ede, TIER_EDE_DNSSEC_BOGUS);
	assert_int_equal(c.att[1].outcome, TIER_O_NONE);
	assert_true(tierset_tier_up(f->ts, 0));

	fx_query(f, "example.net", 1, 0, &c, 3000);
	assert_int_equal(c.tier, 0);
	unlink(path);
}

static void test_timeout_precision(void **state)
{
	struct fx *f = *state;
	struct cap c;
	double worst = 0;

	f->conf[0].timeout_ms = 150;
	f->conf[0].fall = 100; /* keep the breaker out of this */
	fx_make(f);
	f->up[0].mode = FU_DROP;
	for (int i = 0; i < 8; i++) {
		fx_query(f, "example", 1, 0, &c, 2000);
		assert_int_equal(c.tier, 1);
		if (c.att[0].outcome != TIER_O_TIMEOUT)
			continue; /* libunbound gave up first: also within the bound */
		double d = c.att[0].dur_ns / 1e6 - 150.0;
		if (d < 0)
			d = -d;
		if (d > worst)
			worst = d;
	}
	print_message("timeout 150 ms: worst deviation %.2f ms over 8 attempts\n", worst);
	assert_true(worst <= SLACK_MS);
}

static void test_cancel(void **state)
{
	struct fx *f = *state;
	struct cap c;
	uint8_t wire[DNAME_MAX];
	struct tier_query *qh = NULL;

	fx_make(f);
	f->up[0].delay_ms = 50;
	memset(&c, 0, sizeof(c));
	assert_true(dname_from_text("cancel.example", 14, wire) > 0);
	assert_int_equal(tierset_resolve(f->ts, wire, 1, 1, 0, on_result, &c, &qh), 0);
	assert_int_equal(tierset_pending(f->ts), 1);
	tierset_cancel(f->ts, qh);
	assert_int_equal(tierset_pending(f->ts), 0);
	run_until(f, NULL, 150);
	assert_false(c.done);

	/* Freeing with queries in flight: no callback, no leak (ASan run). */
	assert_true(dname_from_text("free.example", 12, wire) > 0);
	assert_int_equal(tierset_resolve(f->ts, wire, 1, 1, 0, on_result, &c, &qh), 0);
	tierset_free(f->ts);
	f->ts = NULL;
	assert_false(c.done);
}

static void test_promtool(void **state)
{
	struct fx *f = *state;
	struct cap c;
	struct strbuf m;
	char path[] = "/tmp/gridns-test-tier-XXXXXX";
	char cmd[128];
	int fd;

	f->n = 3;
	f->conf[2].timeout_ms = 300;
	fx_make(f);
	f->up[0].mode = FU_SERVFAIL;
	fx_query(f, "example", 1, 0, &c, 2000);
	memcpy(f->up[0].a, (uint8_t[4]){ 127, 255, 255, 252 }, 4);
	f->up[0].mode = FU_ANSWER;
	fx_query(f, "bl.example", 1, TIER_DNSBL, &c, 2000);
	metrics_text(f, &m);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, m.p, m.len), (ssize_t)m.len);
	close(fd);
	if (access("/usr/bin/promtool", X_OK) == 0) {
		snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s", path);
		assert_int_equal(system(cmd), 0);
	} else {
		print_message("promtool not installed: exposition not linted\n");
	}
	unlink(path);
	strbuf_free(&m);
}

/* ---- pure parts ---------------------------------------------------------------------- */

static void test_conf_check(void **state)
{
	struct tier_conf c;
	const char *srv[1] = { "127.0.0.1@53" };
	char why[256];
	(void)state;

	tier_conf_defaults(&c);
	c.name = "grid";
	c.servers = srv;
	c.n_servers = 1;
	assert_int_equal(tier_conf_check(&c, false, why, sizeof(why)), 0);
	c.hedge_after_ms = 1000;
	assert_int_equal(tier_conf_check(&c, false, why, sizeof(why)), GN_EINVAL);
	assert_non_null(strstr(why, "hedge-after-ms"));
	c.hedge_after_ms = 0;
	c.mode = TIER_RECURSIVE;
	assert_int_equal(tier_conf_check(&c, true, why, sizeof(why)), GN_EINVAL); /* servers */
	c.n_servers = 0;
	assert_int_equal(tier_conf_check(&c, false, why, sizeof(why)), GN_EINVAL); /* not last */
	assert_non_null(strstr(why, "last tier"));
	assert_int_equal(tier_conf_check(&c, true, why, sizeof(why)), 0);
	c.dnssec = true;
	assert_int_equal(tier_conf_check(&c, true, why, sizeof(why)), GN_EINVAL);
	assert_non_null(strstr(why, "trust-anchor"));
	c.name = "bad name";
	assert_int_equal(tier_conf_check(&c, true, why, sizeof(why)), GN_EINVAL);
}

static void test_breaker_state_machine(void **state)
{
	struct tier_conf c;
	struct tier_breaker b;
	const uint64_t ms = 1000000;
	uint64_t now = 1000 * ms;
	(void)state;

	tier_conf_defaults(&c); /* fall 3, rise 2, backoff 1000..30000 */
	tier_brk_init(&b, &c);
	assert_int_equal(tier_brk_failure(&b, now, false), 0);
	assert_int_equal(tier_brk_success(&b, now, false), 0); /* resets the count */
	assert_int_equal(tier_brk_failure(&b, now, false), 0);
	assert_int_equal(tier_brk_failure(&b, now, false), 0);
	assert_int_equal(tier_brk_failure(&b, now, false), -1);
	assert_int_equal(tier_brk_decide(&b, now + 999 * ms), BRK_SKIP);
	assert_int_equal(tier_brk_decide(&b, now + 1000 * ms), BRK_PROBE);
	assert_int_equal(tier_brk_decide(&b, now + 1000 * ms), BRK_SKIP); /* one at a time */
	/* Probe fails: backoff doubles. */
	now += 1000 * ms;
	assert_int_equal(tier_brk_failure(&b, now, true), 0);
	assert_int_equal(tier_brk_decide(&b, now + 1999 * ms), BRK_SKIP);
	assert_int_equal(tier_brk_decide(&b, now + 2000 * ms), BRK_PROBE);
	now += 2000 * ms;
	/* Late failures of non-probes do not stretch it. */
	assert_int_equal(tier_brk_failure(&b, now, false), 0);
	assert_int_equal(tier_brk_success(&b, now, true), 0);
	assert_int_equal(tier_brk_decide(&b, now), BRK_PROBE); /* next probe at once */
	assert_int_equal(tier_brk_success(&b, now, true), 1);
	assert_int_equal(tier_brk_decide(&b, now), BRK_USE);
	/* Backoff is capped. */
	for (int i = 0; i < 3; i++)
		tier_brk_failure(&b, now, false);
	for (int i = 0; i < 20; i++) {
		now = b.probe_at;
		assert_int_equal(tier_brk_decide(&b, now), BRK_PROBE);
		tier_brk_failure(&b, now, true);
	}
	assert_int_equal(b.backoff_ms, 30000);
}

static void test_dnsbl_parse(void **state)
{
	/* id, flags, qd=1, an=2; q: a.bl. A IN; two A answers (compressed). */
	uint8_t p[] = { 0, 0, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
			1, 'a', 2, 'b', 'l', 0, 0, 1, 0, 1,
			0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 2,
			0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 255, 255, 255 };
	unsigned code = 0;
	(void)state;

	assert_int_equal(tier_dnsbl_check(p, sizeof(p), &code), 1);
	assert_int_equal(code, 255);
	p[sizeof(p) - 3] = 0; /* 127.255.0.255: a listing */
	assert_int_equal(tier_dnsbl_check(p, sizeof(p), &code), 0);
	p[sizeof(p) - 4] = 192;
	assert_int_equal(tier_dnsbl_check(p, sizeof(p), &code), 1);
	assert_int_equal(code, TIER_DNSBL_OUTSIDE);
	assert_int_equal(tier_dnsbl_check(p, sizeof(p) - 1, &code), -1); /* truncated */
	p[22] = 0x80; /* reserved label type */
	assert_int_equal(tier_dnsbl_check(p, sizeof(p), &code), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_check),
		cmocka_unit_test(test_breaker_state_machine),
		cmocka_unit_test(test_dnsbl_parse),
		cmocka_unit_test_setup_teardown(test_first_tier_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_falls_to_second, setup, teardown),
		cmocka_unit_test_setup_teardown(test_servfail_refused_next_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hedge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_fail_servfail_with_ede, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dnsbl_error_code, setup, teardown),
		cmocka_unit_test_setup_teardown(test_breaker_opens_and_recovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_breaker_servfail_recovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_down_panic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_detached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recursive_last_tier_starts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dnssec_bogus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_precision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_promtool, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
