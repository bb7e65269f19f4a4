/* resolver/server_int.h - internals shared by server.c, server_udp.c and
 * server_tcp.c.  Not for other modules.
 *
 * Ownership: everything in a struct worker belongs to that worker's thread
 * once server_start() ran, except `stats` (read by the metrics thread with
 * relaxed atomics) and `ctx_pub` (published for the metrics thread).
 */
#pragma once
#include <ev.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "common/addr.h"
#include "resolver/answer.h"
#include "resolver/rec.h"
#include "resolver/server.h"

/* Largest query we accept, UDP or TCP.  Real queries (a name, EDNS, a
 * cookie, padding) are far below; anything bigger is junk or an attack. */
#define SERVER_QUERY_MAX 4096
/* Largest DNS message over TCP (RFC 1035 4.2.2: 16-bit length). */
#define SERVER_TCP_MSG_MAX 65535

/* Why a packet or connection was dropped (gridns_packets_dropped_total). */
enum server_drop {
	DROP_MALFORMED = 0,  /* not a query the engine can answer (no reply) */
	DROP_UDP_OVERSIZE,   /* datagram larger than SERVER_QUERY_MAX */
	DROP_UDP_SEND,       /* sendmmsg failed for this answer */
	DROP_TCP_BAD_LENGTH, /* length prefix below a DNS header */
	DROP_TCP_OVERSIZE,   /* length prefix above SERVER_QUERY_MAX */
	DROP_TCP_LIMIT,      /* connection refused: tcp.max-connections */
	DROP_TCP_ACCEPT,     /* accept(2) failed (fd limit, memory) */
	DROP__N
};

/* Why a TCP connection ended (gridns_tcp_connections_closed_total). */
enum server_close {
	CLOSE_PEER = 0, /* client closed after its answers were sent */
	CLOSE_IDLE,     /* tcp.idle-timeout-ms */
	CLOSE_EVICTED,  /* oldest idle one closed to admit a new one */
	CLOSE_ERROR,    /* read/write error, bad framing */
	CLOSE_SHUTDOWN, /* the server stopped */
	CLOSE__N
};

/* Per-worker counters.  Single writer (the worker), so increments are a
 * relaxed load + store: no locked instruction on the query path. */
struct server_stats {
	alignas(64) _Atomic uint64_t udp_rx;
	_Atomic uint64_t udp_tx;
	_Atomic uint64_t udp_batches;
	_Atomic uint64_t tcp_accepted;
	_Atomic uint64_t tcp_queries;
	_Atomic uint64_t tcp_answers;
	_Atomic uint64_t acl_refused;  /* answered REFUSED: client not in `acl` */
	_Atomic uint64_t no_snapshot;  /* answered SERVFAIL: no answer_ctx yet */
	_Atomic uint64_t deferred_sent; /* upstream answers delivered later */
	_Atomic uint64_t deferred_lost; /* ... that could not be sent */
	_Atomic uint64_t rrl_dropped;  /* UDP answers not sent: rrl limit */
	_Atomic uint64_t rrl_slipped;  /* ... sent truncated instead (rrl.slip) */
	_Atomic uint64_t drop[DROP__N];
	_Atomic uint64_t closed[CLOSE__N];
};

static inline void server_stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

struct worker;

/* One UDP socket of one worker (one per listen address). */
struct udp_sock {
	ev_io io;
	int fd;
	bool pktinfo;        /* wildcard bind: reply from the query's dst address */
	struct worker *w;
};

/* One TCP listening socket of one worker. */
struct tcp_listener {
	ev_io io;
	int fd;
	struct worker *w;
};

struct tcp_conn;
struct udp_batch;

struct worker {
	struct server *srv;
	unsigned id;
	pthread_t thread;
	bool started;
	struct ev_loop *loop;
	ev_async stop;         /* server_stop -> ev_break */
	ev_timer sweep;        /* TCP idle timeouts */
	ev_timer accept_resume; /* re-arm listeners after EMFILE */
	ev_timer beat_timer;   /* advances `beat` while the loop runs (self-check) */
	_Atomic uint64_t beat; /* read by the health thread: a stuck loop stops it */
	_Atomic int fault;     /* enum server_fault to inject (test hook), 0 = none */
	struct answer_ctx *ctx; /* NULL until the snapshot is open */
	/* The packet server_answer_local dropped on purpose (zone-acl
	 * "ignore", with or without a context): not a malformed drop. */
	const uint8_t *ignored;
	struct rec *rec;       /* upstream path; NULL when no tiers are configured */
	double ctx_retry_at;   /* ev_now after which answer_ctx_new may be retried */
	struct udp_sock *udp;  /* [srv->n_listen] */
	struct tcp_listener *tcpl; /* [srv->n_listen] */
	struct udp_batch *batch;
	struct rrl *rrl;       /* NULL when rrl is off; this worker's only */
	struct tcp_conn *lru_head, *lru_tail; /* oldest activity first */
	unsigned n_conn;
	struct server_stats stats;
};

struct server {
	struct server_opts o;
	struct addr *listen;   /* copy of o.listen with real ports */
	size_t n_listen;
	struct worker *workers; /* [o.workers] */
	unsigned n_workers;
	_Atomic(snap_env *) env;
	_Atomic(struct answer_ctx *) *ctx_pub; /* [n_workers], for metrics */
	struct rec **recs;     /* [n_workers], for metrics (set before start) */
	_Atomic unsigned tcp_open; /* all workers */
	int rcvbuf_effective;  /* smallest SO_RCVBUF the kernel granted */
	struct answer_conf aconf;
	bool stopped;
	/* Held while the metrics thread reads the workers' contexts and upstream
	 * paths, and by server_restart_worker while it replaces them.  Never
	 * taken on the query path. */
	pthread_mutex_t pub_lock;
	pthread_mutex_t restart_lock; /* one restart at a time (health, main) */
};

/* Period of the workers' heartbeat timer, seconds. */
#define SERVER_BEAT_S 0.1

/* The worker's answer context, created on first use after the snapshot is
 * published; NULL while there is none (callers answer SERVFAIL). */
struct answer_ctx *server_worker_ctx(struct worker *w);

/* Answer without the engine: copy the question, set QR and SERVFAIL (or
 * FORMERR when the question cannot be parsed).  Returns the length, or 0
 * when the packet must be dropped (a response, shorter than a header). */
size_t server_servfail(const uint8_t *q, size_t qlen, uint8_t *resp, size_t cap);

/* Answer from the snapshot, or hand the query over: h->upstream is then set
 * and nothing was written (only when the worker has an upstream path).
 * Records the local lookup time.  *clk carries the clock between answers
 * of one batch (so each costs one read): set it to 0 before the first, and
 * back to 0 whenever work that is not this lookup ran since the last call
 * (an upstream hand-off, a send); on return it is the end time of this
 * answer, or 0. */
size_t server_answer_local(struct worker *w, const uint8_t *q, size_t qlen, uint8_t *resp,
			   size_t cap, enum answer_transport tr, const struct sockaddr *peer,
			   struct answer_handoff *h, uint64_t *clk);
/* The upstream path for a handed-over query: returns the answer length when
 * answered now (cache, REFUSED, SERVFAIL), or 0 when it went to the tiers
 * and will come back through the deliver callback. */
size_t server_answer_upstream(struct worker *w, const struct answer_handoff *h,
			      const struct rec_reply *to, uint8_t *resp, size_t cap,
			      enum answer_transport tr);

/* Rate-limited error log: at most one message per `key` slot per minute. */
void server_log_limited(int key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* server_udp.c */
/* A deferred answer for a UDP client (rec deliver callback). */
void server_udp_deliver(struct worker *w, const struct rec_reply *to, const uint8_t *pkt,
			size_t len);
int server_udp_init(struct worker *w);   /* batch buffers; sockets come from server.c */
void server_udp_deinit(struct worker *w);
void server_udp_read_cb(struct ev_loop *loop, ev_io *io, int revents);

/* server_tcp.c */
void server_tcp_accept_cb(struct ev_loop *loop, ev_io *io, int revents);
void server_tcp_sweep_cb(struct ev_loop *loop, ev_timer *t, int revents);
void server_tcp_resume_cb(struct ev_loop *loop, ev_timer *t, int revents);
void server_tcp_close_all(struct worker *w);
/* A deferred answer for a TCP connection (rec deliver callback). */
void server_tcp_deliver(struct worker *w, void *conn, const uint8_t *pkt, size_t len);
