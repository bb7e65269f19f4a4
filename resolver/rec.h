/* resolver/rec.h - the path of every query the snapshot does not answer:
 * names outside local zones, and local zones that are expired, unreadable
 * or absent.  Recursion access control, the packet cache, then the tiers in
 * order; when everything fails, SERVFAIL with an Extended DNS Error.  Never
 * NXDOMAIN or an empty answer for something we could not find out.
 *
 * One `struct rec` per worker thread, driven by that worker's libev loop;
 * nothing here is shared or locked.  Pending upstream queries live in a
 * pool allocated at start (rec_conf.max_pending): the query path does not
 * allocate.  Counters and histograms are per worker with one writer and are
 * summed by rec_metrics_write() on the metrics thread.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "common/dname.h"
#include "common/histo.h"
#include "common/netacl.h"
#include "common/strbuf.h"
#include "resolver/cache.h"
#include "resolver/tier.h"
#include "resolver/wire.h"

struct ev_loop;
struct rec;

struct rec_conf {
	const struct tier_conf *tiers; /* in order; n_tiers == 0: no upstream */
	size_t n_tiers;
	struct cache_conf cache;      /* for ONE worker (max_bytes already split) */
	const struct netacl_entry *allow; /* clients that may recurse */
	size_t n_allow;
	const uint8_t (*dnsbl)[DNAME_MAX]; /* keys of zones configured as DNSBLs */
	const uint8_t *dnsbl_len;
	size_t n_dnsbl;
	unsigned max_pending;         /* upstream queries in flight per worker */
	uint16_t edns_payload;        /* our UDP payload size */
};

/* Where a deferred answer goes: filled by the network layer per query. */
struct rec_reply {
	int fd;                       /* UDP socket (tcp: -1) */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	_Alignas(struct cmsghdr) uint8_t ctrl[64]; /* IP(V6)_PKTINFO to reply from */
	size_t ctrl_len;
	void *conn;                   /* TCP connection, NULL for UDP */
};

/* The network layer's sender: UDP sendmsg, or queue on the TCP connection. */
typedef void (*rec_deliver_fn)(void *owner, const struct rec_reply *to,
			       const uint8_t *pkt, size_t len);

/* Process-wide counters: one slot per worker (metrics sum them). */
struct rec_stats;
int rec_stats_new(const struct rec_conf *conf, unsigned n_workers, struct rec_stats **out);
void rec_stats_free(struct rec_stats *st);
/* The tier counters inside (tierset_new needs them). */
struct tier_stats *rec_stats_tiers(struct rec_stats *st);

/* Create worker `worker`'s path.  `deliver(owner, ...)` sends deferred
 * answers.  Returns 0 or a GN_E* code (logged). */
int rec_new(struct ev_loop *loop, const struct rec_conf *conf, struct rec_stats *st,
	    unsigned worker, rec_deliver_fn deliver, void *owner, struct rec **out);
void rec_free(struct rec *r); /* NULL-safe; drops pending queries unanswered */

/* Why the answer engine handed the query over. */
#define REC_F_DNSBL 0x1u   /* the name is in a local DNSBL zone (now unusable) */
#define REC_F_LOCAL 0x2u   /* it is in a local zone: unknown data, never REFUSED */

/* Answer `q` (parsed from the packet just received, pointers into it) from
 * the cache or start an upstream query.  Returns the response length when
 * it is answered now (cache hit, REFUSED, SERVFAIL), 0 when it went
 * upstream: `deliver` will be called later with the answer.  `limit` is the
 * largest answer the client takes on this transport. */
size_t rec_query(struct rec *r, const struct wire_query *q, unsigned flags,
		 const struct rec_reply *to, uint8_t *resp, size_t cap, size_t limit);

/* A TCP connection closed: forget its pending queries. */
void rec_cancel_conn(struct rec *r, void *conn);

/* Record how long a locally answered query took (source="local"). */
void rec_observe_local(struct rec_stats *st, unsigned worker, uint64_t ns);

/* Metrics: lookup durations by source, cache, tiers, recursion refusals. */
void rec_metrics_write(struct rec_stats *st, struct rec *const *recs, size_t n,
		       struct strbuf *out);
