/* resolver/tier_breaker.c - the per-tier circuit breaker with hysteresis.
 *
 * Up: every query uses the tier; `fall` consecutive failures take it down.
 * Down: queries skip it, except that once the backoff has passed, ONE client
 * query at a time is also sent to it as a probe (the caller sends the same
 * query on to the next tier at once, so the probe costs the client nothing).
 * A probe that succeeds makes the next query a probe immediately; `rise`
 * successes bring the tier up.  A probe that fails doubles the backoff, up to
 * the maximum.  So a tier that recovers is in use again within one backoff
 * plus `rise` queries: never the hour-long blackhole of users.md §2, never a
 * restart.
 *
 * Why real queries and not synthetic probes: a synthetic name proves only that
 * the upstream answers that name (CoreDNS and dnsdist users were bitten by
 * health checks that pass while real traffic fails, or that never re-arm), it
 * needs a name that exists on every upstream, and it adds load on idle nodes.
 * A real query tests exactly what clients need, and a tier with no traffic
 * needs no verdict.
 *
 * Pure state machine: no clock reads, no I/O; the caller passes `now`.
 */
#include "resolver/tier_int.h"

void tier_brk_init(struct tier_breaker *b, const struct tier_conf *c)
{
	b->state = BRK_UP;
	b->fails = 0;
	b->rises = 0;
	b->probing = false;
	b->probe_at = 0;
	b->fall = c->fall ? c->fall : 1;
	b->rise = c->rise ? c->rise : 1;
	b->backoff0_ms = c->backoff_ms ? c->backoff_ms : 1;
	b->backoff_max_ms = c->backoff_max_ms < b->backoff0_ms ? b->backoff0_ms : c->backoff_max_ms;
	b->backoff_ms = b->backoff0_ms;
}

enum brk_decision tier_brk_decide(struct tier_breaker *b, uint64_t now)
{
	if (b->state == BRK_UP)
		return BRK_USE;
	if (b->probing || now < b->probe_at)
		return BRK_SKIP;
	b->probing = true;
	return BRK_PROBE;
}

int tier_brk_success(struct tier_breaker *b, uint64_t now, bool probe)
{
	if (probe)
		b->probing = false;
	if (b->state == BRK_UP) {
		b->fails = 0;
		return 0;
	}
	/* Any success while down counts toward rising: an attempt sent just
	 * before the tier went down proves the same thing a probe does. */
	if (++b->rises >= b->rise) {
		b->state = BRK_UP;
		b->fails = 0;
		b->rises = 0;
		b->backoff_ms = b->backoff0_ms;
		return 1;
	}
	b->probe_at = now; /* next query probes again at once */
	return 0;
}

int tier_brk_failure(struct tier_breaker *b, uint64_t now, bool probe)
{
	if (b->state == BRK_UP) {
		if (probe)
			b->probing = false;
		if (++b->fails < b->fall)
			return 0;
		b->state = BRK_DOWN;
		b->rises = 0;
		b->backoff_ms = b->backoff0_ms;
		b->probe_at = now + (uint64_t)b->backoff_ms * 1000000ull;
		return -1;
	}
	/* Down: only a probe's failure is news.  Late failures of attempts sent
	 * while the tier was still up must not stretch the backoff. */
	if (!probe)
		return 0;
	b->probing = false;
	b->rises = 0;
	b->backoff_ms = b->backoff_ms >= b->backoff_max_ms / 2 ? b->backoff_max_ms
							       : b->backoff_ms * 2;
	b->probe_at = now + (uint64_t)b->backoff_ms * 1000000ull;
	return 0;
}

void tier_brk_probe_abandoned(struct tier_breaker *b)
{
	b->probing = false;
}
