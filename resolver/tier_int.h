/* resolver/tier_int.h - private to resolver/tier*.c: the tier set, its
 * per-query and per-attempt state, the breaker and the counters.
 *
 * Ownership: a tierset owns its contexts, queries and attempts.  A query owns
 * its attempts until it finishes; a breaker probe still running when its
 * query finishes is DETACHED (att->q = NULL) and runs on for the breaker's
 * sake, owned by the tierset's attempt list.
 */
#pragma once
#include <ev.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "common/dname.h"
#include "common/histo.h"
#include "resolver/tier.h"

struct ub_ctx;

/* ---- breaker (tier_breaker.c) -------------------------------------------- */

enum brk_state { BRK_UP = 0, BRK_DOWN = 1 };
enum brk_decision { BRK_USE = 0, BRK_PROBE, BRK_SKIP };

struct tier_breaker {
	enum brk_state state;
	uint32_t fails;        /* consecutive failures while up */
	uint32_t rises;        /* successes while down */
	uint32_t backoff_ms;   /* current wait between probes while down */
	uint64_t probe_at;     /* monotonic ns: the next probe is due */
	bool probing;          /* a probe is in flight */
	uint32_t fall, rise, backoff0_ms, backoff_max_ms; /* from the conf */
};

void tier_brk_init(struct tier_breaker *b, const struct tier_conf *c);
/* Use the tier for this query, probe it (also go on to the next), or skip. */
enum brk_decision tier_brk_decide(struct tier_breaker *b, uint64_t now);
/* Feed an outcome; returns +1 when the tier just came up, -1 when it just
 * went down, 0 otherwise.  `probe`: the attempt was a probe (its end frees
 * the probe slot). */
int tier_brk_success(struct tier_breaker *b, uint64_t now, bool probe);
int tier_brk_failure(struct tier_breaker *b, uint64_t now, bool probe);
/* A probe ended without a verdict (cancelled with the tierset). */
void tier_brk_probe_abandoned(struct tier_breaker *b);

/* ---- counters (tier_metrics.c) ------------------------------------------ */

enum tier_skip_reason {
	TIER_SKIP_TIMEOUT = 0, TIER_SKIP_SERVFAIL, TIER_SKIP_REFUSED, TIER_SKIP_ERROR,
	TIER_SKIP_DOWN, TIER_SKIP_HEDGE, TIER_SKIP_DNSBL_ERROR, TIER_SKIP_COUNT
};

/* DNSBL error codes kept per last octet of 127.255.255.x, plus one slot for
 * "outside 127/8" (its address is not a label value: unbounded cardinality). */
#define TIER_DNSBL_OUTSIDE 256
#define TIER_DNSBL_SLOTS 257

/* One tier's counters in one worker slot: one writer (the worker). */
struct tier_wstats {
	struct histo dur;                                    /* finished attempts */
	atomic_uint_fast64_t attempts[TIER_O_COUNT];         /* by outcome */
	atomic_uint_fast64_t skips[TIER_MAX + 1][TIER_SKIP_COUNT]; /* [to][reason]; to=n: none */
	atomic_uint_fast64_t dnsbl[TIER_DNSBL_SLOTS];
	atomic_uint down;                                    /* breaker open */
};

struct tier_wslot {
	struct tier_wstats t[TIER_MAX];
	atomic_uint_fast64_t servfail[TIER_FAIL_COUNT];
};

struct tier_stats {
	size_t n;
	unsigned n_workers;
	char names[TIER_MAX][TIER_NAME_MAX];
	struct tier_wslot *slots; /* [n_workers] */
};

static inline void tier_inc(atomic_uint_fast64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* ---- the set --------------------------------------------------------------- */

struct tierset;
struct tier_query;

/* One question sent to one tier. */
struct tier_att {
	struct tierset *ts;
	struct tier_query *q;     /* NULL once detached (probe outliving its query) */
	uint8_t tier;
	bool probe;
	bool in_ub;               /* libunbound holds it (async_id valid) */
	int async_id;
	uint64_t t0;              /* monotonic ns at send */
	ev_timer timer;           /* the tier's timeout */
	struct tier_att *prev, *next; /* ts->atts */
};

struct tier_query {
	struct tierset *ts;
	tier_cb cb;
	void *arg;
	unsigned flags;
	uint16_t qtype, qclass;
	char name[DNAME_TEXT_MAX];
	uint64_t t0;
	int next;                 /* next tier index to consider */
	int current;              /* tier we wait on (hedge target), -1 none */
	bool in_resolve;          /* inside tierset_resolve: defer the callback */
	bool bogus;               /* a tier's answer failed DNSSEC validation */
	uint32_t unsent;          /* bit i: libunbound refused to take the query */
	struct tier_att *att[TIER_MAX];    /* pending attempts by tier */
	struct tier_attempt out[TIER_MAX]; /* outcomes by tier */
	ev_timer hedge;
	ev_timer deliver;         /* deferred failure callback */
	struct tier_query *prev, *next_q;  /* ts->queries */
};

struct tier_one {
	char name[TIER_NAME_MAX];
	struct tier_conf conf;    /* strings not kept: see name/servers_text */
	char servers_text[256];   /* "a@p, b@p" for log messages */
	struct ub_ctx *ctx;
	ev_io io;                 /* ub_fd(ctx) readable -> ub_process */
	struct tier_breaker brk;
};

struct tierset {
	struct ev_loop *loop;
	size_t n;
	struct tier_one t[TIER_MAX];
	struct tier_stats *st;
	unsigned worker;
	struct tier_wslot *slot;  /* st->slots[worker] */
	struct tier_query *queries;
	struct tier_att *atts;
	size_t n_queries;
};

/* Monotonic clock in nanoseconds. */
uint64_t tier_now_ns(void);

/* tier_ub.c: create one tier's libunbound context from its conf. */
int tier_ub_new(const struct tier_conf *c, struct ub_ctx **out);

/* tier.c: DNSBL answer check.  Returns 1 and sets *code (0..255 for
 * 127.255.255.x, TIER_DNSBL_OUTSIDE otherwise) when an A record in the answer
 * section is an error code; 0 when all A records are listings or there are
 * none; -1 when the packet is malformed. */
int tier_dnsbl_check(const uint8_t *pkt, size_t len, unsigned *code);

/* tier_metrics.c: record helpers (worker thread). */
void tier_stat_attempt(struct tierset *ts, unsigned tier, enum tier_outcome o, uint64_t dur_ns);
void tier_stat_skip(struct tierset *ts, unsigned from, int to, enum tier_skip_reason r);
void tier_stat_dnsbl(struct tierset *ts, unsigned tier, unsigned code);
void tier_stat_down(struct tierset *ts, unsigned tier, bool down);
void tier_stat_servfail(struct tierset *ts, enum tier_fail f);
