/* resolver/cache.h - packet cache for answers that come from the upstream
 * tiers (never for local zones: those are answered from the snapshot).
 *
 * What it stores: the upstream response in wire form, verbatim, plus the
 * offset of every TTL field.  A hit is hash + compare + memcpy + patch (ID,
 * RD and AD bits, question-name case, TTLs): no allocation, no lock, no syscall, and
 * compression pointers stay valid because no octet moves.  See docs/cache.md
 * for what is cached for how long, serve-stale and prefetch.
 *
 * Threading: ONE cache per worker thread, used only by that thread.  There is
 * no lock anywhere: a cache is never shared, so a hit never contends.  The
 * same name may therefore be cached once per worker (the price of no locks;
 * max-bytes is divided among the workers by the caller).  The only call that
 * another thread may make is cache_stats_get()/cache_metrics_write(): the
 * counters are plain uint64_t written by the owner with relaxed atomic stores
 * and read with relaxed atomic loads, so a metrics thread sees each value
 * whole (possibly a little old).  The caller must keep a cache alive while a
 * metrics thread may read it.
 *
 * Time: every call takes `now_ms`, MONOTONIC milliseconds from any fixed
 * origin (cache_clock_ms() gives CLOCK_MONOTONIC; tests pass their own).  It
 * must not go backwards for a given cache; if it does, ages count as 0.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/strbuf.h"

struct cache;

/* cache_store() result for a response that is well formed but not cacheable
 * by policy (SERVFAIL, TC, negative without SOA, TTL 0, too large...). */
#define CACHE_NOT_CACHED 1

/* TTL given to every record of a stale answer (RFC 8767 section 4 suggests
 * 30 s: long enough to stop a client hammering us, short enough to pick up
 * the fresh data soon after the upstream returns). */
#define CACHE_STALE_TTL 30

struct cache_conf {
	size_t max_bytes;          /* bound for THIS cache (config max-bytes / workers) */
	uint32_t ttl_min;          /* floor on cached TTLs, seconds (default 0) */
	uint32_t ttl_max;          /* ceiling on positive TTLs (default 86400) */
	uint32_t negative_ttl_max; /* ceiling on NXDOMAIN/NODATA TTLs (default 3600) */
	bool serve_stale;          /* RFC 8767, default false */
	uint32_t stale_max_age;    /* seconds past expiry an entry may be served (86400) */
	uint32_t stale_refresh_interval; /* min seconds between refresh tries (30) */
	bool prefetch;             /* report "prefetch due" in the last 10% of TTL (false) */
};

/* Fill `conf` with the documented defaults (max_bytes: 64 MiB). */
void cache_conf_default(struct cache_conf *conf);

/* The question as the client sent it.  Every field maps 1:1 from a parsed
 * query (struct wire_query: id, flags, qname, qname_len, qtype, qclass,
 * edns_do).  Nothing here is kept after the call. */
struct cache_query {
	const uint8_t *qname;  /* uncompressed wire name, case as received */
	uint8_t qname_len;     /* octets including the root label (1..255) */
	uint16_t qtype, qclass;
	uint16_t id;           /* client's ID: written into the answer */
	uint16_t flags;        /* client's header word 2: CD is part of the key,
				  RD is copied into the answer, AD (with
				  do_bit) decides whether AD is kept */
	bool do_bit;           /* client's EDNS DO bit: part of the key */
};

/* Opaque reference to the entry a lookup found, for cache_should_refresh().
 * Valid until the next cache_store()/cache_lookup()/cache_clear() on the same
 * cache; a ref used later is detected (never dereferenced) and treated as
 * "refresh now". */
struct cache_ref {
	void *e;
	uint64_t epoch;
};

struct cache_result {
	bool stale;         /* answer is expired data: add EDE 3 (Stale Answer) */
	bool stale_avail;   /* on a miss: serve-stale data exists, see docs/cache.md */
	bool prefetch;      /* fresh hit in the last 10% of its TTL: refresh it
			       upstream now (reported once per stored answer) */
	uint32_t ttl_left;  /* seconds the entry stays fresh (0 when stale) */
	struct cache_ref ref; /* entry found (hit or stale_avail), else e == NULL */
};

/* Create a cache.  Returns 0, GN_EINVAL (bad conf) or GN_ENOMEM.
 * Caller frees with cache_free(). */
int cache_new(const struct cache_conf *conf, struct cache **out);
void cache_free(struct cache *c); /* NULL-safe */

/* Drop every entry (counted neither as eviction nor expiry). */
void cache_clear(struct cache *c);

/* Flags for cache_lookup(). */
#define CACHE_LOOKUP_STALE 0x1u /* an expired entry within stale-max-age may
				   be returned (serve-stale on); res->stale */

/* Look the question up and, on a hit, write the answer into out[0..cap).
 * Returns the answer length (> 0) on a hit, 0 on a miss, GN_ERANGE when the
 * answer does not fit `cap` (treat as a miss), GN_EINVAL for a bad question.
 * `res` is always filled.  Without CACHE_LOOKUP_STALE an expired entry is a
 * miss; with serve-stale on it is kept and res->stale_avail says so. */
int cache_lookup(struct cache *c, const struct cache_query *q, unsigned flags,
		 uint64_t now_ms, uint8_t *out, size_t cap, struct cache_result *res);

/* Flags for cache_store(). */
#define CACHE_STORE_NO_STALE 0x1u /* never serve this answer stale */

/* Cache the upstream response `resp` to question `q`, replacing any entry
 * for the same key.  The response is validated completely (it comes from
 * the network): its question must be q's.  The OPT RR, which is hop by hop,
 * is removed; the caller adds its own when answering.  Copies `resp`.
 * Returns 0 when stored, CACHE_NOT_CACHED, GN_EINVAL when malformed,
 * GN_ENOMEM. */
int cache_store(struct cache *c, const struct cache_query *q, const uint8_t *resp,
		size_t len, unsigned flags, uint64_t now_ms);

/* Serve-stale refresh back-off: true when the caller should ask upstream to
 * refresh the entry behind `ref` now (never tried, or the last try was at
 * least stale-refresh-interval ago); the try is then recorded, so at most
 * one refresh per interval per entry goes upstream while the upstream is
 * failing (unbound#1174, coredns#6991).  A stale ref returns true. */
bool cache_should_refresh(struct cache *c, const struct cache_ref *ref, uint64_t now_ms);

struct cache_stats {
	uint64_t hits;        /* fresh answers served */
	uint64_t stale_hits;  /* stale answers served (also counted in hits) */
	uint64_t misses;
	uint64_t inserts;
	uint64_t evictions;   /* removed to make room under max-bytes */
	uint64_t expired;     /* removed because past TTL (+ stale-max-age) */
	uint64_t prefetches;  /* prefetch-due reports */
	uint64_t bytes;       /* entry memory (headers + keys + packets) */
	uint64_t entries;
};

/* Counters of one cache; safe from any thread (relaxed loads). */
void cache_stats_get(const struct cache *c, struct cache_stats *out);

/* Append Prometheus text for caches[0..n) summed: gridns_cache_hits_total,
 * _stale_hits_total, _misses_total, _inserts_total, _evictions_total,
 * _expired_total, _prefetch_total, gridns_cache_bytes, gridns_cache_entries. */
void cache_metrics_write(struct cache *const *caches, size_t n, struct strbuf *out);

/* CLOCK_MONOTONIC in milliseconds (a convenience for callers). */
uint64_t cache_clock_ms(void);
