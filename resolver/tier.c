/* resolver/tier.c - ordered tier fallback with hedging (see tier.h).
 *
 * Life of a query:
 *   tierset_resolve -> tq_advance: ask the first tier that is not skipped by
 *   its breaker (a down tier due for a probe gets the query as a probe AND
 *   the search goes on, so the probe never delays the client); arm that
 *   tier's timeout and, if there is a later tier, the hedge timer.
 *   - answer NOERROR/NXDOMAIN (and no DNSBL error code): it wins; pending
 *     attempts are cancelled (probes are detached and run on).
 *   - failure of the tier we wait on (SERVFAIL, REFUSED, error, DNSBL error
 *     code, or our timeout): tq_advance from it at once.
 *   - hedge timer: tq_advance from the current tier, which keeps running.
 *   - nothing left to ask and nothing pending: failure -> the caller sends
 *     SERVFAIL with the EDE code of the result.
 * Time is OUR timer per attempt: at the timeout we ub_cancel() the query and
 * move on, whatever libunbound would still try.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unbound.h>
#include "common/err.h"
#include "common/log.h"
#include "resolver/tier_int.h"

uint64_t tier_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* ---- configuration -------------------------------------------------------- */

void tier_conf_defaults(struct tier_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->timeout_ms = 1000;
	c->hedge_after_ms = 0;
	c->mode = TIER_FORWARD;
	c->fall = 3;
	c->rise = 2;
	c->backoff_ms = 1000;
	c->backoff_max_ms = 30000;
}

int tier_conf_check(const struct tier_conf *c, bool is_last, char *why, size_t cap)
{
	const char *name = c->name ? c->name : "(unnamed)";
	size_t nl = c->name ? strlen(c->name) : 0;

	if (nl == 0 || nl >= TIER_NAME_MAX) {
		snprintf(why, cap, "tier \"%s\": name must be 1..%d characters", name, TIER_NAME_MAX - 1);
		return GN_EINVAL;
	}
	for (size_t i = 0; i < nl; i++) {
		char ch = c->name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.')) {
			snprintf(why, cap, "tier \"%s\": name may only use letters, digits, '_', '-', '.' (it is a metric label)", name);
			return GN_EINVAL;
		}
	}
	if (c->mode == TIER_FORWARD && (c->n_servers == 0 || c->n_servers > TIER_SERVERS_MAX)) {
		snprintf(why, cap, "tier \"%s\": mode forward needs 1..%d servers (addr@port)", name, TIER_SERVERS_MAX);
		return GN_EINVAL;
	}
	if (c->mode == TIER_RECURSIVE && c->n_servers) {
		snprintf(why, cap, "tier \"%s\": mode recursive takes no servers (it starts at the root hints)", name);
		return GN_EINVAL;
	}
	if (c->mode == TIER_RECURSIVE && !is_last) {
		snprintf(why, cap, "tier \"%s\": mode recursive is only allowed for the last tier", name);
		return GN_EINVAL;
	}
	if (c->timeout_ms < 10 || c->timeout_ms > 60000) {
		snprintf(why, cap, "tier \"%s\": timeout-ms must be 10..60000 (got %u)", name, (unsigned)c->timeout_ms);
		return GN_EINVAL;
	}
	if (c->hedge_after_ms && c->hedge_after_ms >= c->timeout_ms) {
		snprintf(why, cap, "tier \"%s\": hedge-after-ms (%u) must be below timeout-ms (%u); 0 turns hedging off",
			 name, (unsigned)c->hedge_after_ms, (unsigned)c->timeout_ms);
		return GN_EINVAL;
	}
	if (c->dnssec && (!c->trust_anchor || !*c->trust_anchor)) {
		snprintf(why, cap, "tier \"%s\": dnssec needs trust-anchor (a file of DS/DNSKEY records)", name);
		return GN_EINVAL;
	}
	if (c->fall < 1 || c->rise < 1) {
		snprintf(why, cap, "tier \"%s\": fall and rise must be at least 1", name);
		return GN_EINVAL;
	}
	if (c->backoff_ms < 10 || c->backoff_max_ms < c->backoff_ms || c->backoff_max_ms > 3600000) {
		snprintf(why, cap, "tier \"%s\": need 10 <= backoff-ms <= backoff-max-ms <= 3600000", name);
		return GN_EINVAL;
	}
	return GN_OK;
}

/* ---- names ------------------------------------------------------------------ */

const char *tier_outcome_str(enum tier_outcome o)
{
	switch (o) {
	case TIER_O_NONE:        return "not-asked";
	case TIER_O_PENDING:     return "pending";
	case TIER_O_OK:          return "ok";
	case TIER_O_TIMEOUT:     return "timeout";
	case TIER_O_SERVFAIL:    return "servfail";
	case TIER_O_REFUSED:     return "refused";
	case TIER_O_ERROR:       return "error";
	case TIER_O_DNSBL_ERROR: return "dnsbl_error";
	case TIER_O_DOWN:        return "down";
	case TIER_O_CANCELLED:   return "cancelled";
	case TIER_O_COUNT:       break;
	}
	return "?";
}

const char *tier_fail_str(enum tier_fail f)
{
	switch (f) {
	case TIER_FAIL_NONE:        return "none";
	case TIER_FAIL_TIMEOUT:     return "timeout";
	case TIER_FAIL_SERVFAIL:    return "servfail";
	case TIER_FAIL_REFUSED:     return "refused";
	case TIER_FAIL_ERROR:       return "error";
	case TIER_FAIL_DNSBL_ERROR: return "dnsbl_error";
	case TIER_FAIL_DOWN:        return "down";
	case TIER_FAIL_BOGUS:       return "bogus";
	case TIER_FAIL_INTERNAL:    return "internal";
	case TIER_FAIL_COUNT:       break;
	}
	return "?";
}

/* ---- DNSBL answer check ------------------------------------------------------ */

/* Skip a possibly compressed name at p; returns the offset after it or 0. */
static size_t skip_name(const uint8_t *pkt, size_t len, size_t p)
{
	for (unsigned hops = 0; hops < 128; hops++) {
		if (p >= len)
			return 0;
		uint8_t l = pkt[p];
		if (l == 0)
			return p + 1;
		if ((l & 0xc0) == 0xc0)
			return p + 2 <= len ? p + 2 : 0;
		if (l & 0xc0)
			return 0;
		p += 1u + l;
	}
	return 0;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

int tier_dnsbl_check(const uint8_t *pkt, size_t len, unsigned *code)
{
	size_t p = 12;
	unsigned qd, an;

	if (len < 12)
		return -1;
	qd = rd16(pkt + 4);
	an = rd16(pkt + 6);
	for (unsigned i = 0; i < qd; i++) {
		p = skip_name(pkt, len, p);
		if (!p || p + 4 > len)
			return -1;
		p += 4;
	}
	for (unsigned i = 0; i < an; i++) {
		uint16_t type, klass, rdlen;
		p = skip_name(pkt, len, p);
		if (!p || p + 10 > len)
			return -1;
		type = rd16(pkt + p);
		klass = rd16(pkt + p + 2);
		rdlen = rd16(pkt + p + 8);
		p += 10;
		if (p + rdlen > len)
			return -1;
		if (type == 1 && klass == 1 && rdlen == 4) {
			const uint8_t *a = pkt + p;
			if (a[0] != 127) {
				*code = TIER_DNSBL_OUTSIDE;
				return 1;
			}
			if (a[1] == 255 && a[2] == 255) {
				*code = a[3];
				return 1;
			}
		}
		p += rdlen;
	}
	return 0;
}

/* ---- attempts ----------------------------------------------------------------- */

static void tq_advance(struct tier_query *q, int from, enum tier_skip_reason why);
static void tq_finish_fail(struct tier_query *q);
static void tq_win(struct tier_query *q, unsigned tier, struct ub_result *res, uint64_t now);

static bool tq_has_pending(const struct tier_query *q)
{
	for (size_t i = 0; i < q->ts->n; i++)
		if (q->att[i])
			return true;
	return false;
}

/* Was any tier asked for q (answered, failed, or still running)? */
static bool tq_asked(const struct tier_query *q)
{
	for (size_t i = 0; i < q->ts->n; i++)
		if (q->out[i].outcome != TIER_O_NONE && q->out[i].outcome != TIER_O_DOWN)
			return true;
	return false;
}

static void att_unlink_free(struct tier_att *a)
{
	struct tierset *ts = a->ts;

	ev_timer_stop(ts->loop, &a->timer);
	if (a->prev)
		a->prev->next = a->next;
	else
		ts->atts = a->next;
	if (a->next)
		a->next->prev = a->prev;
	free(a);
}

static enum tier_skip_reason skip_of(enum tier_outcome o)
{
	switch (o) {
	case TIER_O_TIMEOUT:     return TIER_SKIP_TIMEOUT;
	case TIER_O_SERVFAIL:    return TIER_SKIP_SERVFAIL;
	case TIER_O_REFUSED:     return TIER_SKIP_REFUSED;
	case TIER_O_DNSBL_ERROR: return TIER_SKIP_DNSBL_ERROR;
	case TIER_O_DOWN:        return TIER_SKIP_DOWN;
	default:                 return TIER_SKIP_ERROR;
	}
}

/* Breaker bookkeeping and operator log lines for one verdict. */
static void tier_brk_feed(struct tierset *ts, unsigned tier, enum tier_outcome o, bool bogus,
		     bool probe, uint64_t now)
{
	struct tier_one *t = &ts->t[tier];
	int ch = 0;

	if (o == TIER_O_OK)
		ch = tier_brk_success(&t->brk, now, probe);
	else if (!bogus && (o == TIER_O_TIMEOUT || o == TIER_O_SERVFAIL ||
			    o == TIER_O_REFUSED || o == TIER_O_ERROR))
		ch = tier_brk_failure(&t->brk, now, probe);
	else if (probe)
		/* DNSBL error codes and bogus answers are the data's fault, not
		 * the transport's: a client asking a broken name must not be able
		 * to take a tier down.  Such a probe proves the tier answers. */
		ch = tier_brk_success(&t->brk, now, probe);
	if (ch < 0) {
		log_warn("tier %s (worker %u): down after %u consecutive failures, last: %s from %s; %s, "
			 "first probe in %u ms",
			 t->name, ts->worker, (unsigned)t->brk.fall, tier_outcome_str(o),
			 t->servers_text,
			 tier + 1 < ts->n ? "queries go to the next tier"
					  : "it is still asked when every tier is down",
			 (unsigned)t->brk.backoff_ms);
		tier_stat_down(ts, tier, true);
	} else if (ch > 0) {
		log_info("tier %s (worker %u): up again after %u successful probes (%s)",
			 t->name, ts->worker, (unsigned)t->brk.rise, t->servers_text);
		tier_stat_down(ts, tier, false);
	}
}

/* One attempt reached a verdict (answer classified, or timeout).  `res` is
 * the libunbound result for OK (handed to the winner), else NULL. */
static void att_done(struct tier_att *a, enum tier_outcome o, struct ub_result *res,
		     bool bogus)
{
	struct tierset *ts = a->ts;
	struct tier_query *q = a->q;
	unsigned tier = a->tier;
	bool probe = a->probe;
	uint64_t now = tier_now_ns(), dur = now - a->t0;

	tier_stat_attempt(ts, tier, o, dur);
	tier_brk_feed(ts, tier, o, bogus, probe, now);
	att_unlink_free(a);
	if (!q)
		return; /* a detached probe: it only fed the breaker */
	q->att[tier] = NULL;
	q->out[tier].outcome = o;
	q->out[tier].probe = probe;
	q->out[tier].dur_ns = dur;

	if (o == TIER_O_OK) {
		tq_win(q, tier, res, now);
		return;
	}
	if (bogus) {
		/* Every tier validates with the same anchors: asking the next
		 * one would only spend its time on the same verdict. */
		q->bogus = true;
		q->next = (int)ts->n;
		q->current = -1;
		ev_timer_stop(ts->loop, &q->hedge);
		tq_finish_fail(q);
		return;
	}
	if ((int)tier == q->current) {
		ev_timer_stop(ts->loop, &q->hedge);
		tq_advance(q, (int)tier, skip_of(o));
		return;
	}
	/* An earlier (hedged-past) tier or a probe failed while a later tier is
	 * still the one we wait on: nothing to do, unless nothing is left. */
	if (q->current < 0 && !tq_has_pending(q))
		tq_finish_fail(q);
}

/* Turn a libunbound result into an outcome. */
static enum tier_outcome classify(struct tier_query *q, int err, struct ub_result *res,
				  unsigned *dnsbl_code, bool *bogus)
{
	*bogus = false;
	if (err != 0 || !res)
		return TIER_O_ERROR;
	if (res->bogus) {
		*bogus = true;
		return TIER_O_ERROR;
	}
	if (!res->answer_packet || res->answer_len < 12)
		return res->rcode == 2 ? TIER_O_SERVFAIL : TIER_O_ERROR;
	switch (res->rcode) {
	case 0: /* NOERROR */
	case 3: /* NXDOMAIN */
		break;
	case 2:
		return TIER_O_SERVFAIL;
	case 5:
		return TIER_O_REFUSED;
	default:
		return TIER_O_ERROR;
	}
	if ((q->flags & TIER_DNSBL) && q->qtype == 1) {
		int r = tier_dnsbl_check(res->answer_packet, (size_t)res->answer_len, dnsbl_code);
		if (r < 0)
			return TIER_O_ERROR;
		if (r > 0)
			return TIER_O_DNSBL_ERROR;
	}
	return TIER_O_OK;
}

/* libunbound's callback, from ub_process() in our io watcher. */
static void att_ub_cb(void *arg, int err, struct ub_result *res)
{
	struct tier_att *a = arg;
	enum tier_outcome o;
	unsigned code = 0;
	bool bogus = false;

	a->in_ub = false;
	if (a->q) {
		o = classify(a->q, err, res, &code, &bogus);
	} else {
		/* Detached probe: the query (and its flags) are gone; judge the
		 * transport only. */
		o = (err || !res) ? TIER_O_ERROR
		    : res->bogus ? TIER_O_OK
		    : res->rcode == 0 || res->rcode == 3 ? TIER_O_OK
		    : res->rcode == 2 ? TIER_O_SERVFAIL
		    : res->rcode == 5 ? TIER_O_REFUSED : TIER_O_ERROR;
	}
	if (err)
		log_debug("tier %s: libunbound error for %s: %s", a->ts->t[a->tier].name,
			  a->q ? a->q->name : "(probe)", ub_strerror(err));
	if (o == TIER_O_DNSBL_ERROR) {
		tier_stat_dnsbl(a->ts, a->tier, code);
		log_debug("tier %s: DNSBL error answer for %s (code %s%u): not a listing",
			  a->ts->t[a->tier].name, a->q->name,
			  code == TIER_DNSBL_OUTSIDE ? "outside 127/8, " : "127.255.255.",
			  code == TIER_DNSBL_OUTSIDE ? 0u : code);
	}
	att_done(a, o, o == TIER_O_OK ? res : NULL, bogus);
	if (res)
		ub_resolve_free(res);
}

static void att_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tier_att *a = (struct tier_att *)((char *)w - offsetof(struct tier_att, timer));
	(void)loop;
	(void)revents;

	if (a->in_ub) {
		/* After ub_cancel libunbound never calls back for this id. */
		int r = ub_cancel(a->ts->t[a->tier].ctx, a->async_id);
		if (r != 0)
			log_debug("tier %s: ub_cancel: %s", a->ts->t[a->tier].name, ub_strerror(r));
		a->in_ub = false;
	}
	att_done(a, TIER_O_TIMEOUT, NULL, false);
}

/* Send q to tier i.  Returns 0 or a GN_E* code (nothing left running). */
static int att_start(struct tier_query *q, unsigned i, bool probe)
{
	struct tierset *ts = q->ts;
	struct tier_one *t = &ts->t[i];
	struct tier_att *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return GN_ENOMEM;
	a->ts = ts;
	a->q = q;
	a->tier = (uint8_t)i;
	a->probe = probe;
	a->t0 = tier_now_ns();
	ev_timer_init(&a->timer, att_timeout_cb, (double)t->conf.timeout_ms / 1000.0, 0.);
	a->next = ts->atts;
	if (ts->atts)
		ts->atts->prev = a;
	ts->atts = a;
	q->att[i] = a;
	q->out[i].outcome = TIER_O_PENDING;
	q->out[i].probe = probe;

	r = ub_resolve_async(t->ctx, q->name, q->qtype, q->qclass, a, att_ub_cb, &a->async_id);
	if (r != 0) {
		log_warn("tier %s: libunbound refused query %s: %s", t->name, q->name, ub_strerror(r));
		q->att[i] = NULL;
		q->out[i].outcome = TIER_O_ERROR;
		q->unsent |= 1u << i;
		if (probe)
			tier_brk_probe_abandoned(&t->brk);
		att_unlink_free(a);
		return GN_EIO;
	}
	a->in_ub = true;
	ev_timer_start(ts->loop, &a->timer);
	return GN_OK;
}

/* Move on from tier `from` (-1: start) for reason `why`: ask the next tier
 * the breaker allows; fail the query when nothing is left. */
static void tq_advance(struct tier_query *q, int from, enum tier_skip_reason why)
{
	struct tierset *ts = q->ts;
	uint64_t now = tier_now_ns();

	q->current = -1;
	while (q->next < (int)ts->n) {
		unsigned j = (unsigned)q->next++;
		enum brk_decision d = tier_brk_decide(&ts->t[j].brk, now);

		/* Panic mode: every tier is down and nothing was asked.  Ask the
		 * last tier anyway (not as a probe).  Failing fast instead would
		 * keep answering SERVFAIL for up to backoff-max-ms after the NOC
		 * came back; a dead NOC costs the client its timeout, as it would
		 * without a breaker. */
		if (d == BRK_SKIP && j + 1 == ts->n && !tq_asked(q))
			d = BRK_USE;
		if (d == BRK_SKIP) {
			if (from >= 0)
				tier_stat_skip(ts, (unsigned)from, (int)j, why);
			q->out[j].outcome = TIER_O_DOWN;
			from = (int)j;
			why = TIER_SKIP_DOWN;
			continue;
		}
		if (from >= 0)
			tier_stat_skip(ts, (unsigned)from, (int)j, why);
		if (att_start(q, j, d == BRK_PROBE) < 0) {
			from = (int)j;
			why = TIER_SKIP_ERROR;
			continue;
		}
		if (d == BRK_PROBE && q->next < (int)ts->n) {
			/* The probe runs alongside; the client does not wait for it. */
			from = (int)j;
			why = TIER_SKIP_DOWN;
			continue;
		}
		q->current = (int)j;
		uint32_t h = ts->t[j].conf.hedge_after_ms;
		if (h && q->next < (int)ts->n) {
			ev_timer_set(&q->hedge, (double)h / 1000.0, 0.);
			ev_timer_start(ts->loop, &q->hedge);
		}
		return;
	}
	if (from >= 0)
		tier_stat_skip(ts, (unsigned)from, -1, why);
	if (!tq_has_pending(q))
		tq_finish_fail(q);
}

static void tq_hedge_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tier_query *q = (struct tier_query *)((char *)w - offsetof(struct tier_query, hedge));
	(void)loop;
	(void)revents;

	if (q->current >= 0)
		tq_advance(q, q->current, TIER_SKIP_HEDGE);
}

/* ---- finishing ------------------------------------------------------------------- */

static void tq_unlink_free(struct tier_query *q)
{
	struct tierset *ts = q->ts;

	ev_timer_stop(ts->loop, &q->hedge);
	ev_timer_stop(ts->loop, &q->deliver);
	if (q->prev)
		q->prev->next_q = q->next_q;
	else
		ts->queries = q->next_q;
	if (q->next_q)
		q->next_q->prev = q->prev;
	ts->n_queries--;
	free(q);
}

/* Stop every attempt of q: probes are detached and run on, others are
 * cancelled (counted as such). */
static void tq_drop_attempts(struct tier_query *q)
{
	struct tierset *ts = q->ts;

	for (size_t i = 0; i < ts->n; i++) {
		struct tier_att *a = q->att[i];
		if (!a)
			continue;
		q->att[i] = NULL;
		if (a->probe) {
			a->q = NULL;
			continue;
		}
		if (a->in_ub)
			(void)ub_cancel(ts->t[i].ctx, a->async_id);
		tier_stat_attempt(ts, (unsigned)i, TIER_O_CANCELLED, 0);
		q->out[i].outcome = TIER_O_CANCELLED;
		q->out[i].dur_ns = tier_now_ns() - a->t0;
		att_unlink_free(a);
	}
}

static void tq_win(struct tier_query *q, unsigned tier, struct ub_result *res, uint64_t now)
{
	struct tierset *ts = q->ts;
	struct tier_result r;

	tq_drop_attempts(q);
	memset(&r, 0, sizeof(r));
	r.tier = (int)tier;
	r.tier_name = ts->t[tier].name;
	r.pkt = res->answer_packet;
	r.pkt_len = (size_t)res->answer_len;
	r.rcode = res->rcode;
	r.secure = res->secure != 0;
	r.elapsed_ns = now - q->t0;
	r.fail = TIER_FAIL_NONE;
	r.ede = -1;
	r.ede_text = NULL;
	r.n_tiers = ts->n;
	r.attempts = q->out;
	q->cb(&r, q->arg);
	tq_unlink_free(q);
}

static enum tier_fail fail_of(enum tier_outcome o)
{
	switch (o) {
	case TIER_O_TIMEOUT:     return TIER_FAIL_TIMEOUT;
	case TIER_O_SERVFAIL:    return TIER_FAIL_SERVFAIL;
	case TIER_O_REFUSED:     return TIER_FAIL_REFUSED;
	case TIER_O_DNSBL_ERROR: return TIER_FAIL_DNSBL_ERROR;
	default:                 return TIER_FAIL_ERROR;
	}
}

static int ede_of(enum tier_fail f)
{
	switch (f) {
	case TIER_FAIL_TIMEOUT:
	case TIER_FAIL_REFUSED:
	case TIER_FAIL_DOWN:
		return TIER_EDE_NO_REACHABLE_AUTHORITY;
	case TIER_FAIL_SERVFAIL:
	case TIER_FAIL_ERROR:
		return TIER_EDE_NETWORK_ERROR;
	case TIER_FAIL_BOGUS:
		return TIER_EDE_DNSSEC_BOGUS;
	default:
		return TIER_EDE_OTHER;
	}
}

static void tq_deliver_fail(struct tier_query *q)
{
	struct tierset *ts = q->ts;
	struct tier_result r;
	enum tier_fail f = TIER_FAIL_DOWN;
	char text[256];
	size_t o = 0;

	/* The reason is that of the LAST tier that was asked (usually the NOC);
	 * the text lists every tier so an operator sees the whole path. */
	for (size_t i = 0; i < ts->n; i++) {
		enum tier_outcome oc = q->out[i].outcome;
		int w;
		if (oc == TIER_O_NONE)
			continue;
		if (oc == TIER_O_TIMEOUT || oc == TIER_O_SERVFAIL || oc == TIER_O_REFUSED ||
		    oc == TIER_O_ERROR || oc == TIER_O_DNSBL_ERROR)
			f = (q->unsent & (1u << i)) ? TIER_FAIL_INTERNAL : fail_of(oc);
		if (oc == TIER_O_TIMEOUT)
			w = snprintf(text + o, sizeof(text) - o, "%s%s: timeout %u ms", o ? "; " : "",
				     ts->t[i].name, (unsigned)ts->t[i].conf.timeout_ms);
		else
			w = snprintf(text + o, sizeof(text) - o, "%s%s: %s%s", o ? "; " : "",
				     ts->t[i].name,
				     q->bogus && oc == TIER_O_ERROR ? "dnssec bogus" : tier_outcome_str(oc),
				     (q->unsent & (1u << i)) ? " (not sent)" : "");
		if (w > 0 && (size_t)w < sizeof(text) - o)
			o += (size_t)w;
	}
	if (q->bogus)
		f = TIER_FAIL_BOGUS;
	if (o == 0)
		snprintf(text, sizeof(text), "no tier asked");

	tier_stat_servfail(ts, f);
	memset(&r, 0, sizeof(r));
	r.tier = -1;
	r.rcode = 2;
	r.elapsed_ns = tier_now_ns() - q->t0;
	r.fail = f;
	r.ede = ede_of(f);
	r.ede_text = text;
	r.n_tiers = ts->n;
	r.attempts = q->out;
	q->cb(&r, q->arg);
	tq_unlink_free(q);
}

static void tq_deliver_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tier_query *q = (struct tier_query *)((char *)w - offsetof(struct tier_query, deliver));
	(void)loop;
	(void)revents;
	tq_deliver_fail(q);
}

/* Every tier failed.  Inside tierset_resolve the callback is deferred to the
 * next loop iteration, so callers never see it before resolve returns. */
static void tq_finish_fail(struct tier_query *q)
{
	tq_drop_attempts(q);
	if (q->in_resolve) {
		ev_timer_set(&q->deliver, 0., 0.);
		ev_timer_start(q->ts->loop, &q->deliver);
		return;
	}
	tq_deliver_fail(q);
}

/* ---- the set --------------------------------------------------------------------- */

static void tier_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tier_one *t = (struct tier_one *)((char *)w - offsetof(struct tier_one, io));
	int r;
	(void)loop;
	(void)revents;

	r = ub_process(t->ctx);
	if (r != 0)
		log_err("tier %s: libunbound result pipe failed: %s; pending queries of this tier "
			"will time out", t->name, ub_strerror(r));
}

int tierset_new(struct ev_loop *loop, const struct tier_conf *confs, size_t n,
		struct tier_stats *st, unsigned worker, struct tierset **out)
{
	struct tierset *ts = NULL;
	char why[256];
	int ret = GN_OK;

	*out = NULL;
	if (n == 0 || n > TIER_MAX || !st || st->n != n || worker >= st->n_workers) {
		log_err("tiers: %zu tiers configured (1..%d allowed) or the stats object does not match",
			n, TIER_MAX);
		ret = GN_EINVAL;
		goto out;
	}
	ts = calloc(1, sizeof(*ts));
	if (!ts) {
		ret = GN_ENOMEM;
		goto out;
	}
	ts->loop = loop;
	ts->st = st;
	ts->worker = worker;
	ts->slot = &st->slots[worker];
	for (size_t i = 0; i < n; i++) {
		struct tier_one *t = &ts->t[i];
		size_t o = 0;

		ret = tier_conf_check(&confs[i], i + 1 == n, why, sizeof(why));
		if (ret < 0) {
			log_err("%s", why);
			goto out;
		}
		strcpy(t->name, confs[i].name);
		t->conf = confs[i];
		t->conf.name = t->name;
		t->conf.servers = NULL; /* not kept: the context has them */
		t->conf.trust_anchor = NULL;
		if (confs[i].mode == TIER_RECURSIVE)
			snprintf(t->servers_text, sizeof(t->servers_text), "root servers (recursion)");
		for (size_t k = 0; k < confs[i].n_servers; k++) {
			int w = snprintf(t->servers_text + o, sizeof(t->servers_text) - o, "%s%s",
					 k ? ", " : "", confs[i].servers[k]);
			if (w < 0 || (size_t)w >= sizeof(t->servers_text) - o)
				break;
			o += (size_t)w;
		}
		tier_brk_init(&t->brk, &confs[i]);
		ret = tier_ub_new(&confs[i], &t->ctx);
		if (ret < 0)
			goto out;
		ts->n = i + 1; /* tierset_free cleans up what exists */
		ev_io_init(&t->io, tier_io_cb, ub_fd(t->ctx), EV_READ);
		ev_io_start(loop, &t->io);
		tier_stat_down(ts, (unsigned)i, false);
	}
	*out = ts;
	ts = NULL;
out:
	tierset_free(ts);
	return ret;
}

void tierset_free(struct tierset *ts)
{
	if (!ts)
		return;
	while (ts->queries) {
		struct tier_query *q = ts->queries;
		tq_drop_attempts(q);
		tq_unlink_free(q);
	}
	while (ts->atts) {
		struct tier_att *a = ts->atts;
		if (a->in_ub)
			(void)ub_cancel(ts->t[a->tier].ctx, a->async_id);
		att_unlink_free(a);
	}
	for (size_t i = 0; i < ts->n; i++) {
		ev_io_stop(ts->loop, &ts->t[i].io);
		ub_ctx_delete(ts->t[i].ctx);
	}
	free(ts);
}

int tierset_resolve(struct tierset *ts, const uint8_t *qname, uint16_t qtype,
		    uint16_t qclass, unsigned flags, tier_cb cb, void *arg,
		    struct tier_query **qh)
{
	struct tier_query *q = NULL;
	int ret = GN_OK;

	if (qh)
		*qh = NULL;
	q = calloc(1, sizeof(*q));
	if (!q) {
		ret = GN_ENOMEM;
		goto out;
	}
	if (dname_to_text(qname, q->name, sizeof(q->name)) < 0) {
		ret = GN_EINVAL;
		goto out;
	}
	q->ts = ts;
	q->cb = cb;
	q->arg = arg;
	q->flags = flags;
	q->qtype = qtype;
	q->qclass = qclass;
	q->current = -1;
	ev_timer_init(&q->hedge, tq_hedge_cb, 0., 0.);
	ev_timer_init(&q->deliver, tq_deliver_cb, 0., 0.);
	q->next_q = ts->queries;
	if (ts->queries)
		ts->queries->prev = q;
	ts->queries = q;
	ts->n_queries++;
	if (qh)
		*qh = q;
	/* Timers are relative to the loop's cached time; refresh it so a long
	 * batch before this query does not shorten the tier's timeout. */
	ev_now_update(ts->loop);
	q->t0 = tier_now_ns();
	q->in_resolve = true;
	tq_advance(q, -1, TIER_SKIP_DOWN);
	q->in_resolve = false;
	q = NULL;
out:
	free(q);
	return ret;
}

void tierset_cancel(struct tierset *ts, struct tier_query *q)
{
	(void)ts;
	if (!q)
		return;
	tq_drop_attempts(q);
	tq_unlink_free(q);
}

size_t tierset_pending(const struct tierset *ts)
{
	return ts->n_queries;
}

bool tierset_tier_up(const struct tierset *ts, size_t i)
{
	return i < ts->n && ts->t[i].brk.state == BRK_UP;
}
