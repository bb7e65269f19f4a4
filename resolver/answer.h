/* resolver/answer.h - the local answer engine: one DNS query in, one
 * response out, from the snapshot.  Transport-agnostic (the network layer in
 * resolver/server.c owns sockets, batching and TCP framing).
 *
 * Threading: one answer_ctx per worker thread, used only by that thread.
 * answer_query() does no allocation, takes no lock and makes no syscall.
 * Counters are per context, written with relaxed atomics by the owner and
 * summed by the metrics thread via answer_metrics_write().
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "common/dname.h"
#include "common/netacl.h"
#include "common/strbuf.h"
#include "resolver/wire.h"
#include "zonesync/snap.h"

struct answer_ctx;

/* Per-zone client actions (the "zone-acl" list, rbldnsd's acl dataset).
 * They hold whichever source would answer: the snapshot, or the tiers when
 * the zone is not usable locally (absent, expired, unreadable). */
enum answer_zacl_action {
	ANSWER_ZACL_PASS,     /* answer normally (a narrower network escapes a rule) */
	ANSWER_ZACL_IGNORE,   /* drop the query, no answer */
	ANSWER_ZACL_REFUSE,   /* REFUSED, EDE 18 */
	ANSWER_ZACL_EMPTY,    /* as if the zone's DNSBL datasets were empty; without
	                       * usable local data: NXDOMAIN below the apex */
	ANSWER_ZACL_FIXED,    /* every DNSBL name listed with a, txt */
	ANSWER_ZACL_N
};
struct answer_zacl {
	const char *zone;     /* lowercase text, no trailing dot */
	uint8_t key[DNAME_MAX]; /* the zone's key (common/dname.h), from `zone` */
	uint8_t keylen;
	const struct netacl_entry *nets;
	size_t n_nets;
	enum answer_zacl_action action;
	uint8_t a[4];         /* FIXED: the A record */
	const char *txt;      /* FIXED: TXT ("$" = client address); "" = none */
};

struct answer_conf {
	uint16_t udp_max;     /* our EDNS UDP payload size, default 1232 */
	bool minimal_any;     /* RFC 8482 minimal ANY (default true) */
	/* Rules sorted by zone key (answer_zacl_key_cmp), config order kept
	 * within a zone (conf_zacl.c does it): each zone is one contiguous run
	 * and the contexts binary-search the zones.  answer_ctx_new refuses
	 * (GN_EINVAL) rules out of order or whose key is not their zone's.
	 * Borrowed; must outlive every context. */
	const struct answer_zacl *zacl;
	size_t n_zacl;
};

/* The order of zone-acl rules: by key as zonetab sorts its nodes (memcmp,
 * a prefix first).  <0, 0, >0 like memcmp. */
int answer_zacl_key_cmp(const struct answer_zacl *a, const struct answer_zacl *b);

/* Before any snapshot could be read there is no context, yet a client a
 * zone-acl rule holds must not get the tiers' data for that zone either.
 * The action of the first rule of the most specific rule zone holding
 * `qname` (wire form) whose networks hold `peer`; ANSWER_ZACL_PASS when
 * none does.  Linear over the rules: only that start-up path uses it. */
enum answer_zacl_action answer_zacl_early(const struct answer_conf *conf, const uint8_t *qname,
					  const struct sockaddr *peer);

/* Create a context reading `env`.  Caller frees with answer_ctx_free. */
int answer_ctx_new(snap_env *env, const struct answer_conf *conf, struct answer_ctx **out);
void answer_ctx_free(struct answer_ctx *ctx); /* NULL-safe */

/* Bracket a batch of queries: begin renews the snapshot view (and rebuilds
 * the in-memory zone table if the snapshot version changed: the only place
 * that may allocate); end releases the view so writers can reuse pages.
 * begin returns <0 when the snapshot cannot be read: queries in that batch
 * get SERVFAIL for local zones, never "not listed". */
int answer_batch_begin(struct answer_ctx *ctx);
void answer_batch_end(struct answer_ctx *ctx);

enum answer_transport { ANSWER_UDP = 0, ANSWER_TCP = 1 };

/* Answer one query.  `resp` has room for `cap` octets (>= 512; 65535 for
 * TCP).  Returns the response length, or 0 when the packet must be dropped
 * (not a query, too short to carry an ID).  Malformed queries get FORMERR. */
size_t answer_query(struct answer_ctx *ctx, const uint8_t *q, size_t qlen,
		    uint8_t *resp, size_t cap, enum answer_transport tr,
		    const struct sockaddr *peer);

/* A query the snapshot cannot answer, handed to the upstream path. */
#define ANSWER_UP_LOCAL 0x2u /* in a local zone we cannot use (expired, unreadable) */
#define ANSWER_UP_DNSBL 0x1u /* ...and that zone is a blocklist */
struct answer_handoff {
	bool upstream;          /* true: nothing was written, ask the tiers */
	unsigned flags;         /* ANSWER_UP_* */
	struct wire_query q;    /* the parsed query; pointers into the packet */
};

/* answer_query, except that a name outside every local zone, or in a local
 * zone that is expired or unreadable, is not answered REFUSED/SERVFAIL but
 * handed over: returns 0 with h->upstream set (resolver/rec.h takes it
 * from there).  With h == NULL it is answer_query.  A zone-acl rule that
 * holds the client is applied first, so only "pass" (or no rule) is ever
 * handed over. */
size_t answer_query_ex(struct answer_ctx *ctx, const uint8_t *q, size_t qlen,
		       uint8_t *resp, size_t cap, enum answer_transport tr,
		       const struct sockaddr *peer, struct answer_handoff *h);

/* Did the last answer_query* call of this batch drop packet `q` on purpose
 * (zone-acl "ignore")?  Lets the network layer tell a decision from a
 * malformed packet when both return 0.  Keyed by the packet's address and
 * forgotten at answer_batch_begin, so a later packet that never reached the
 * engine is not mistaken for it. */
bool answer_ignored(const struct answer_ctx *ctx, const uint8_t *q);

/* Append the engine's Prometheus metrics (queries, answers by rcode,
 * listed/unlisted per zone, snapshot serial and age per zone), summed over
 * ctxs[0..n).  `rd` is a reader owned by the calling thread; this function
 * begins and ends its view itself.  rd == NULL: the per-zone snapshot
 * gauges are emitted as empty families.  Names and meanings: docs/answers.md. */
void answer_metrics_write(struct answer_ctx *const *ctxs, size_t n, snap_rd *rd,
			  struct strbuf *out);
