/* resolver/server.h - the network layer of gridns-resolver: worker threads,
 * their sockets, UDP batching and TCP framing around the answer engine.
 *
 * Threading: server_new() and server_start() run on the main thread.  Each
 * worker thread owns one libev loop, its own SO_REUSEPORT UDP and TCP
 * sockets for every listen address (the kernel spreads flows over them),
 * its TCP connections and its answer_ctx; nothing on the query path is
 * shared or locked.  Counters are per worker, written by their owner with
 * relaxed atomics and summed by server_metrics_write() on any thread.
 *
 * Lifecycle: server_new (bind everything: do it before dropping root) ->
 * server_start (spawn workers) -> server_set_snapshot (any time, once the
 * snapshot could be opened) -> server_stop (break loops, join) ->
 * server_free.  A worker frees its answer_ctx when its loop ends, so stop
 * anything that reads server_answer_ctxs() (the metrics thread) first, or
 * hold server_read_lock() while reading them (server_restart_worker waits
 * for it).
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "common/addr.h"
#include "common/netacl.h"
#include "common/strbuf.h"
#include "zonesync/snap.h"

struct server;
struct answer_ctx;
struct rec_conf;
struct rec_stats;
struct rrl_conf;

struct server_opts {
	const struct addr *listen; /* DNS addresses; port 0 = pick one (tests) */
	size_t n_listen;
	unsigned workers;          /* >= 1 */
	unsigned udp_batch;        /* datagrams per recvmmsg */
	uint64_t udp_rcvbuf;       /* SO_RCVBUF wish per UDP socket, bytes */
	uint16_t edns_payload;     /* largest UDP response, >= 512 */
	unsigned tcp_max_conn;     /* open TCP connections, all workers */
	unsigned tcp_idle_ms;      /* idle timeout */
	unsigned tcp_max_pipeline; /* answers buffered per connection */
	const struct rec_conf *rec; /* upstream path (NULL or no tiers: local only) */
	const struct netacl_entry *acl; /* clients that may query at all; n_acl 0 = all */
	size_t n_acl;
	const struct answer_zacl *zacl; /* zone-acl rules (answer.h), sorted by zone */
	size_t n_zacl;
	struct rec_stats *rec_stats; /* its counters, created with rec_stats_new */
	const struct rrl_conf *rrl; /* UDP response-rate limiting; NULL or rate 0 = off */
};

/* Create the workers' loops and bind every socket.  Logs the reason of any
 * failure (address in use, permission) and returns <0; nothing is left
 * open then.  Caller frees with server_free. */
int server_new(const struct server_opts *o, struct server **out);
/* Start the worker threads.  Returns 0 or GN_EIO (threads already started
 * are stopped again). */
int server_start(struct server *s);
/* Hand the opened snapshot to the workers; each creates its answer_ctx on
 * its own thread at its next query.  Until then queries get SERVFAIL.
 * The env must outlive server_stop(). */
void server_set_snapshot(struct server *s, snap_env *env);
/* Break every loop and join the threads.  Idempotent; safe from the main
 * thread only (not from a signal handler). */
void server_stop(struct server *s);
void server_free(struct server *s); /* NULL-safe; stops first */

/* Bound address of listen entry i (the real port when 0 was asked). */
const struct addr *server_listen_addr(const struct server *s, size_t i);

/* The tiers' shared counters (breaker state), or NULL without tiers. */
struct tier_stats *server_tier_stats(struct server *s);
/* Append the upstream path's metrics (lookup durations, cache, tiers). */
void server_rec_metrics_write(struct server *s, struct strbuf *out);

/* Copy the workers' current answer contexts (non-NULL ones) into out[];
 * returns how many.  Valid until server_stop(). */
size_t server_answer_ctxs(struct server *s, struct answer_ctx **out, size_t cap);
/* Append the network layer's Prometheus metrics. */
void server_metrics_write(struct server *s, struct strbuf *out);

/* The snapshot handed over with server_set_snapshot, or NULL. */
snap_env *server_snapshot(struct server *s);

/* ---- self-check support (resolver/health*.c) ---------------------------- */

/* Number of worker threads. */
unsigned server_workers(const struct server *s);
/* Heartbeat of worker i: advances every 100 ms while its loop runs; a
 * loop that is stuck (or stopped serving) stops it.  Any thread. */
uint64_t server_worker_beat(struct server *s, unsigned i);

/* Restart worker i without touching its sockets: break its loop, join its
 * thread (waiting at most timeout_ms), let it free its answer context and
 * upstream path (tier contexts), then create a fresh upstream path, re-arm
 * its watchers and start the thread again; the answer context is made anew
 * at its next query from the current snapshot.  Any thread except a
 * worker; serialised internally.  Returns 0; GN_EBUSY when the thread did
 * not stop in time (wedged: left as it is; only a process restart helps);
 * GN_EINVAL when the server is stopped; GN_EIO/GN_ENOMEM when the fresh
 * thread or upstream path could not be made (logged). */
int server_restart_worker(struct server *s, unsigned i, unsigned timeout_ms);

/* Bracket any use of server_answer_ctxs() results and
 * server_rec_metrics_write(): a restart waits for the reader to finish. */
void server_read_lock(struct server *s);
void server_read_unlock(struct server *s);

/* TEST HOOK (compiled out with -DNDEBUG): make worker i stop serving.
 * STALL stops its socket watchers and heartbeat (the loop still runs, so a
 * restart heals it); WEDGE blocks its thread for good (a restart cannot
 * join it).  Returns 0, or GN_EINVAL (bad index, or a release build). */
enum server_fault { SERVER_FAULT_NONE = 0, SERVER_FAULT_STALL, SERVER_FAULT_WEDGE };
int server_inject_fault(struct server *s, unsigned i, enum server_fault f);
