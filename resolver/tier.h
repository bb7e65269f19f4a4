/* resolver/tier.h - upstream tiers: ordered fallback (node -> grid -> NOC),
 * hedging, a circuit breaker per tier, and per-tier timing.
 *
 * Model (docs/tiers.md has the operator view):
 *  - Tiers are asked IN CONFIGURED ORDER, never by measured speed.  Tier i+1
 *    is asked when tier i failed (SERVFAIL, REFUSED, timeout, DNSBL error
 *    code: at once) or is merely slow (at its hedge-after-ms).  The first
 *    valid answer (NOERROR or NXDOMAIN) wins and the other attempts are
 *    cancelled.  When every tier failed, the result is a failure that the
 *    caller must answer with SERVFAIL plus the EDE code in the result: never
 *    NXDOMAIN, never an empty "not listed".
 *  - Each tier is one libunbound context per worker (forward to the tier's
 *    servers, or full recursion), driven from the worker's libev loop.  OUR
 *    per-tier timer decides when a tier has failed; libunbound's retries
 *    inside that window are its business.
 *  - Circuit breaker per tier and per worker: after `fall` consecutive
 *    failures the tier is down and skipped; after a backoff (doubling up to
 *    a maximum) the next client query is also sent to it as a probe, while
 *    going on to the next tier at once; after `rise` successful probes it is
 *    up again.
 *
 * Threading: a tierset belongs to one worker thread and its ev_loop; every
 * call except tier_stats_* rendering must come from that thread.  The
 * tier_stats object is shared by all workers: each worker writes only its own
 * slot (relaxed atomics, one writer), and the metrics thread sums the slots.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/strbuf.h"

struct ev_loop;

#define TIER_MAX 8          /* tiers per set */
#define TIER_SERVERS_MAX 16 /* servers per tier */
#define TIER_NAME_MAX 32

enum tier_mode {
	TIER_FORWARD = 0,   /* send to the tier's servers (RD=1), they recurse */
	TIER_RECURSIVE = 1, /* full recursion from the root hints (last tier) */
};

/* One configured tier.  Strings are copied by tier_stats_new/tierset_new. */
struct tier_conf {
	const char *name;         /* [A-Za-z0-9_.-], 1..TIER_NAME_MAX-1 chars */
	const char *const *servers; /* "addr@port" (or "addr", port 53); forward only */
	size_t n_servers;
	uint32_t timeout_ms;      /* this tier has failed after this long (default 1000) */
	uint32_t hedge_after_ms;  /* ask the next tier too after this long; 0 = only
				   * on failure/timeout (default 0) */
	enum tier_mode mode;
	bool dnssec;              /* validate; needs trust_anchor */
	const char *trust_anchor; /* file with DS/DNSKEY RRs (e.g. /usr/share/dns/root.key) */
	uint32_t fall;            /* consecutive failures that take it down (default 3) */
	uint32_t rise;            /* successful probes that bring it up (default 2) */
	uint32_t backoff_ms;      /* first wait before probing a down tier (default 1000) */
	uint32_t backoff_max_ms;  /* the wait doubles up to this (default 30000) */
};

/* Fill the defaults above (name and servers left NULL). */
void tier_conf_defaults(struct tier_conf *c);

/* Check one tier's settings; returns 0 or GN_EINVAL with an operator message
 * (naming the tier and the key) in why[0..cap). */
int tier_conf_check(const struct tier_conf *c, bool is_last, char *why, size_t cap);

/* ---- shared counters (one per process, all workers) --------------------- */

struct tier_stats;

/* Create the counters for `n` tiers and `n_workers` worker slots.  The tier
 * set of worker w writes slot w.  Lives as long as the process (restarting a
 * worker's tierset keeps the counters monotonic).  Free with tier_stats_free. */
int tier_stats_new(const struct tier_conf *confs, size_t n, unsigned n_workers,
		   struct tier_stats **out);
void tier_stats_free(struct tier_stats *st); /* NULL-safe */

/* Append the tier metric families in Prometheus text format, summed over
 * all worker slots (any thread):
 *   gridns_tier_attempt_duration_seconds{tier}  histogram
 *   gridns_tier_attempts_total{tier,result}    counter
 *   gridns_tier_skips_total{from,to,reason}    counter
 *   gridns_tier_up{tier}                       gauge: 0 if any worker has it down
 *   gridns_tier_down_workers{tier}             gauge
 *   gridns_dnsbl_error_answers_total{tier,code} counter
 *   gridns_servfail_total{reason}              counter (tier failures only) */
void tier_stats_write(const struct tier_stats *st, struct strbuf *out);

/* Read the shared counters from any thread (the self-check does). */
size_t tier_stats_count(const struct tier_stats *st);
const char *tier_stats_name(const struct tier_stats *st, size_t i);
/* Workers whose circuit breaker for tier i is open now (0 = the tier is up). */
unsigned tier_stats_down_workers(const struct tier_stats *st, size_t i);
unsigned tier_stats_workers(const struct tier_stats *st);

/* ---- per-worker resolution ---------------------------------------------- */

struct tierset;
struct tier_query;

/* Query flags. */
#define TIER_DNSBL 0x1u /* the name is in a zone configured as a DNSBL: A
			 * answers outside 127/8 or inside 127.255.255/24 are
			 * errors, never listings */

/* How one tier fared in one query. */
enum tier_outcome {
	TIER_O_NONE = 0,     /* not asked */
	TIER_O_PENDING,      /* still running (only seen for probes at callback time) */
	TIER_O_OK,           /* valid answer (NOERROR/NXDOMAIN) */
	TIER_O_TIMEOUT,      /* our timer fired first */
	TIER_O_SERVFAIL,     /* upstream or libunbound answered SERVFAIL */
	TIER_O_REFUSED,      /* upstream answered REFUSED */
	TIER_O_ERROR,        /* other rcode, libunbound error, malformed answer, bogus */
	TIER_O_DNSBL_ERROR,  /* DNSBL error code (127.255.255.x or outside 127/8) */
	TIER_O_DOWN,         /* skipped: breaker open, not due for a probe */
	TIER_O_CANCELLED,    /* lost the race to another tier's answer */
	TIER_O_COUNT
};

/* Why a query failed as a whole (also the reason label of
 * gridns_servfail_total). */
enum tier_fail {
	TIER_FAIL_NONE = 0,
	TIER_FAIL_TIMEOUT,     /* the last tier asked timed out */
	TIER_FAIL_SERVFAIL,    /* ... answered SERVFAIL */
	TIER_FAIL_REFUSED,     /* ... answered REFUSED */
	TIER_FAIL_ERROR,       /* ... other error (rcode, libunbound, malformed) */
	TIER_FAIL_DNSBL_ERROR, /* ... answered a DNSBL error code */
	TIER_FAIL_DOWN,        /* every tier was down: nothing was asked */
	TIER_FAIL_BOGUS,       /* DNSSEC validation failed (no fallback) */
	TIER_FAIL_INTERNAL,    /* out of memory or libunbound refused the query */
	TIER_FAIL_COUNT
};

/* EDE info codes (RFC 8914) that tier failures map to. */
#define TIER_EDE_OTHER 0
#define TIER_EDE_DNSSEC_BOGUS 6
#define TIER_EDE_NO_REACHABLE_AUTHORITY 22
#define TIER_EDE_NETWORK_ERROR 23

struct tier_attempt {
	enum tier_outcome outcome;
	bool probe;          /* sent as a breaker probe */
	uint64_t dur_ns;     /* from send to outcome (0 for NONE/DOWN) */
};

/* What the callback gets.  Everything pointed to is valid only during the
 * callback: copy what you keep. */
struct tier_result {
	int tier;                /* index of the answering tier, -1 on failure */
	const char *tier_name;   /* its name, or NULL on failure */
	const uint8_t *pkt;      /* the tier's response, wire form, as libunbound
				  * built it (its own ID and flags, our question):
				  * the caller sets ID, flags and EDNS.  NULL on
				  * failure. */
	size_t pkt_len;
	int rcode;               /* NOERROR/NXDOMAIN on success; SERVFAIL on failure */
	bool secure;             /* DNSSEC-validated (tier had dnssec on) */
	uint64_t elapsed_ns;     /* from tierset_resolve to now */
	enum tier_fail fail;     /* TIER_FAIL_NONE on success */
	int ede;                 /* on failure: the EDE info code to send; else -1 */
	const char *ede_text;    /* on failure: EXTRA-TEXT naming tiers and reasons */
	size_t n_tiers;
	const struct tier_attempt *attempts; /* [n_tiers], by tier index */
};

typedef void (*tier_cb)(const struct tier_result *res, void *arg);

/* Create the tier set of one worker: one libunbound context per tier,
 * watched by `loop`.  `confs` must be the same array (same order) the stats
 * were created with; `worker` is this worker's slot in `st`.  Returns 0 or
 * a GN_E* code after logging which tier and setting failed.  Free with
 * tierset_free, from the loop's thread. */
int tierset_new(struct ev_loop *loop, const struct tier_conf *confs, size_t n,
		struct tier_stats *st, unsigned worker, struct tierset **out);

/* Drop every pending query WITHOUT calling its callback, stop the watchers
 * and delete the contexts (joins libunbound's threads).  NULL-safe.  Never
 * call from inside a tier callback. */
void tierset_free(struct tierset *ts);

/* Resolve qname (uncompressed wire form) / qtype / qclass through the tiers.
 * `cb` is called exactly once, later, from the loop (never from inside this
 * call), unless the query is cancelled first.  On success *qh (may be NULL)
 * is a handle for tierset_cancel, valid until the callback has started.
 * Returns 0, or GN_EINVAL for a malformed name or GN_ENOMEM (no callback
 * then: answer SERVFAIL yourself). */
int tierset_resolve(struct tierset *ts, const uint8_t *qname, uint16_t qtype,
		    uint16_t qclass, unsigned flags, tier_cb cb, void *arg,
		    struct tier_query **qh);

/* The client went away: cancel the query; its callback is never called.
 * Breaker probes already in flight run on to feed the breaker. */
void tierset_cancel(struct tierset *ts, struct tier_query *q);

/* Number of queries pending (for tests and shutdown). */
size_t tierset_pending(const struct tierset *ts);

/* Breaker state of tier i in this worker: true when up. */
bool tierset_tier_up(const struct tierset *ts, size_t i);

/* Text names for logs and labels. */
const char *tier_outcome_str(enum tier_outcome o);
const char *tier_fail_str(enum tier_fail f);
