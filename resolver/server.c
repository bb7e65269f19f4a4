/* resolver/server.c - workers and their sockets: creation, threads,
 * shutdown, the engine-less SERVFAIL, and the network metrics. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "resolver/server_int.h"
#include "resolver/upstream.h"

#define TCP_BACKLOG 1024

/* ---- small helpers ---------------------------------------------------- */

void server_log_limited(int key, const char *fmt, ...)
{
	/* One slot per call site; a flood of identical errors (EMFILE, a
	 * broken route) must not drown the log or slow the workers. */
	static _Atomic int64_t last[16];
	int64_t now = (int64_t)time(NULL), prev;
	va_list ap;

	key &= 15;
	prev = atomic_load_explicit(&last[key], memory_order_relaxed);
	if (now - prev < 60)
		return;
	if (!atomic_compare_exchange_strong(&last[key], &prev, now))
		return;
	va_start(ap, fmt);
	log_vmsg(LOG_LVL_WARN, fmt, ap);
	va_end(ap);
}

size_t server_servfail(const uint8_t *q, size_t qlen, uint8_t *resp, size_t cap)
{
	size_t off = 12, lab = 0;
	uint8_t rcode = 2; /* SERVFAIL */

	if (qlen < 12 || cap < 12 || (q[2] & 0x80))
		return 0; /* too short to carry an ID, or a response: never reply */
	/* Question: one uncompressed name plus type and class. */
	if (q[4] != 0 || q[5] != 1) {
		rcode = 1; /* FORMERR */
	} else {
		while (off < qlen && q[off] != 0) {
			if (q[off] > 63 || (lab += q[off] + 1u) > 254) {
				rcode = 1;
				break;
			}
			off += q[off] + 1u;
		}
		if (rcode != 1 && (off >= qlen || off + 5 > qlen))
			rcode = 1;
	}
	off = rcode == 1 ? 12 : off + 5;
	if (off > cap)
		return 0;
	memcpy(resp, q, off);
	resp[2] = (uint8_t)(0x80 | (q[2] & 0x79)); /* QR, keep opcode and RD; no AA/TC */
	resp[3] = rcode;
	if ((q[2] & 0x78) != 0 && rcode != 1)
		resp[3] = 4; /* NOTIMP: only standard queries exist here */
	resp[4] = 0;
	resp[5] = rcode == 1 ? 0 : 1;
	memset(resp + 6, 0, 6);
	return off;
}

struct answer_ctx *server_worker_ctx(struct worker *w)
{
	struct server *s = w->srv;
	snap_env *env;
	struct answer_ctx *ctx = NULL;
	int ret;

	if (w->ctx)
		return w->ctx;
	env = atomic_load_explicit(&s->env, memory_order_acquire);
	if (!env || ev_now(w->loop) < w->ctx_retry_at)
		return NULL;
	ret = answer_ctx_new(env, &s->aconf, &ctx);
	if (ret < 0) {
		/* Retry later, not per packet: creation may scan the snapshot. */
		w->ctx_retry_at = ev_now(w->loop) + 1.0;
		server_log_limited(0, "worker %u: cannot read the snapshot (%s); answering SERVFAIL",
				   w->id, gn_strerror(ret));
		return NULL;
	}
	w->ctx = ctx;
	atomic_store_explicit(&s->ctx_pub[w->id], ctx, memory_order_release);
	log_debug("worker %u: answer context ready", w->id);
	return ctx;
}

/* ---- answering: local first, then the upstream path ------------------- */

static uint64_t server_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

size_t server_answer_local(struct worker *w, const uint8_t *q, size_t qlen, uint8_t *resp,
			   size_t cap, enum answer_transport tr, const struct sockaddr *peer,
			   struct answer_handoff *h, uint64_t *clk)
{
	struct answer_ctx *ctx = server_worker_ctx(w);
	struct rec_stats *rs = w->srv->o.rec_stats;
	/* One clock read per answer, not two: the start of this answer is the
	 * end of the previous one in the same batch (*clk), which the caller
	 * keeps; only the first of a batch, or one after a path that did not
	 * end with a read, pays for a read of its own. */
	uint64_t t0 = rs ? (*clk ? *clk : server_now_ns()) : 0;
	size_t n;

	*clk = 0; /* unless this answer ends with a clock read below */
	h->upstream = false;
	w->ignored = NULL; /* buffers are reused: it names this packet only */
	if (w->srv->o.n_acl && peer && !netacl_match(w->srv->o.acl, w->srv->o.n_acl, peer)) {
		/* Not one of our clients: REFUSED for every name, local or not
		 * (tiny, so no amplification); what does not parse is dropped. */
		server_stat_add(&w->stats.acl_refused, 1);
		if (wire_parse_query(q, qlen, &h->q) != WIRE_PARSE_OK)
			return 0;
		return upstream_rcode(&h->q, WIRE_R_REFUSED, WIRE_EDE_PROHIBITED,
				      "queries not allowed for this client", resp, cap,
				      w->srv->o.edns_payload);
	}
	if (ctx) {
		n = answer_query_ex(ctx, q, qlen, resp, cap, tr, peer, w->rec ? h : NULL);
		if (n == 0 && answer_ignored(ctx, q))
			w->ignored = q;
	} else if (w->rec && wire_parse_query(q, qlen, &h->q) == WIRE_PARSE_OK &&
		   h->q.opcode == 0) {
		/* No snapshot yet: any name might be local, so it is unknown
		 * here; the tiers may know -- but not for a client a zone-acl
		 * rule holds: without data, "empty" and fixed answers cannot be
		 * made, and unknown is SERVFAIL, never the tiers' data. */
		switch (answer_zacl_early(&w->srv->aconf, h->q.qname, peer)) {
		case ANSWER_ZACL_PASS:
			h->upstream = true;
			h->flags = ANSWER_UP_LOCAL;
			return 0;
		case ANSWER_ZACL_IGNORE:
			w->ignored = q;
			return 0;
		case ANSWER_ZACL_REFUSE:
			return upstream_rcode(&h->q, WIRE_R_REFUSED, WIRE_EDE_PROHIBITED,
					      "queries for this zone not allowed for this client",
					      resp, cap, w->srv->o.edns_payload);
		default:
			server_stat_add(&w->stats.no_snapshot, 1);
			return upstream_rcode(&h->q, WIRE_R_SERVFAIL, WIRE_EDE_NOT_READY,
					      "local snapshot unavailable", resp, cap,
					      w->srv->o.edns_payload);
		}
	} else {
		n = server_servfail(q, qlen, resp, cap);
		if (n)
			server_stat_add(&w->stats.no_snapshot, 1);
	}
	if (!h->upstream && n && rs) {
		*clk = server_now_ns();
		rec_observe_local(rs, w->id, *clk - t0);
	}
	return n;
}

size_t server_answer_upstream(struct worker *w, const struct answer_handoff *h,
			      const struct rec_reply *to, uint8_t *resp, size_t cap,
			      enum answer_transport tr)
{
	unsigned flags = (h->flags & ANSWER_UP_LOCAL ? REC_F_LOCAL : 0) |
			 (h->flags & ANSWER_UP_DNSBL ? REC_F_DNSBL : 0);
	size_t limit = tr == ANSWER_TCP ? SERVER_TCP_MSG_MAX
					: upstream_udp_limit(&h->q, w->srv->o.edns_payload);
	return rec_query(w->rec, &h->q, flags, to, resp, cap, limit);
}

static void server_deliver(void *owner, const struct rec_reply *to, const uint8_t *pkt,
			   size_t len)
{
	struct worker *w = owner;
	if (to->conn)
		server_tcp_deliver(w, to->conn, pkt, len);
	else
		server_udp_deliver(w, to, pkt, len);
}

struct tier_stats *server_tier_stats(struct server *s)
{
	return s->o.rec_stats ? rec_stats_tiers(s->o.rec_stats) : NULL;
}

void server_rec_metrics_write(struct server *s, struct strbuf *out)
{
	if (s->o.rec_stats && s->recs)
		rec_metrics_write(s->o.rec_stats, s->recs, s->n_workers, out);
}

/* ---- sockets ---------------------------------------------------------- */

static int sock_opt(int fd, int level, int name, int val)
{
	return setsockopt(fd, level, name, &val, sizeof(val));
}

/* Ask for a burst-sized receive buffer.  SO_RCVBUFFORCE ignores
 * net.core.rmem_max but needs CAP_NET_ADMIN; without it SO_RCVBUF is
 * silently capped, so read back what we got and say so once. */
static int sock_rcvbuf(struct server *s, int fd)
{
	int want = (int)(s->o.udp_rcvbuf > INT32_MAX / 2 ? INT32_MAX / 2 : s->o.udp_rcvbuf);
	int got = 0;
	socklen_t len = sizeof(got);

	if (sock_opt(fd, SOL_SOCKET, SO_RCVBUFFORCE, want) < 0 &&
	    sock_opt(fd, SOL_SOCKET, SO_RCVBUF, want) < 0)
		log_warn("SO_RCVBUF %d failed: %s", want, strerror(errno));
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) < 0)
		return 0;
	got /= 2; /* Linux reports twice the usable size (bookkeeping overhead) */
	if (s->rcvbuf_effective == 0 || got < s->rcvbuf_effective) {
		if (got < want && s->rcvbuf_effective == 0)
			log_warn("UDP receive buffer is %d bytes, %d wanted: bursts may be lost; "
				 "run as root or raise net.core.rmem_max (sysctl -w net.core.rmem_max=%d)",
				 got, want, want);
		s->rcvbuf_effective = got;
	}
	return 0;
}

/* SO_REUSEPORT lets any process of the same user join our port group and
 * silently take a share of the queries: a second, stale resolver would
 * answer part of the traffic with old data.  Probe with a plain bind first
 * (no SO_REUSEPORT), which fails if anybody holds the port at all. */
static int sock_probe_free(const struct addr *a, int type, const char *txt)
{
	int fd = socket(a->u.sa.sa_family, type | SOCK_CLOEXEC, 0);
	int ret = 0;

	if (fd < 0)
		return 0; /* the real socket() will report it */
	if (a->u.sa.sa_family == AF_INET6)
		(void)sock_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	if (type == SOCK_STREAM)
		(void)sock_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1); /* ignore TIME_WAIT */
	if (bind(fd, &a->u.sa, a->len) < 0 && errno == EADDRINUSE) {
		log_err("%s %s: address already in use (is another gridns-resolver "
			"running?)", type == SOCK_DGRAM ? "udp" : "tcp", txt);
		ret = GN_EEXIST;
	}
	close(fd);
	return ret;
}

static int sock_open(struct server *s, struct addr *a, int type, bool *pktinfo, bool first)
{
	char txt[ADDR_TEXT_MAX];
	const char *what = type == SOCK_DGRAM ? "udp" : "tcp";
	int fd, v6 = a->u.sa.sa_family == AF_INET6;

	if (addr_format(&a->u.sa, txt, sizeof(txt)) < 0)
		snprintf(txt, sizeof(txt), "?");
	if (first && addr_port(a) != 0 && sock_probe_free(a, type, txt) < 0)
		return GN_EEXIST;
	fd = socket(a->u.sa.sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("%s %s: socket: %s", what, txt, strerror(errno));
		return GN_EIO;
	}
	/* Every worker binds the same address; the kernel hashes flows over
	 * the group, so there is no shared accept/recv queue to contend on. */
	if (sock_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1) < 0 ||
	    (type == SOCK_STREAM && sock_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0) ||
	    (v6 && sock_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) < 0)) {
		log_err("%s %s: setsockopt: %s", what, txt, strerror(errno));
		goto fail;
	}
	if (type == SOCK_DGRAM) {
		sock_rcvbuf(s, fd);
		/* Do not set DF nor trust path-MTU for DNS over UDP: spoofed
		 * ICMP "too big" must not make us fragment (as Knot/Unbound). */
		if (v6)
			(void)sock_opt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_OMIT);
		else
			(void)sock_opt(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_OMIT);
		*pktinfo = addr_is_wildcard(a);
		if (*pktinfo && (v6 ? sock_opt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
				    : sock_opt(fd, IPPROTO_IP, IP_PKTINFO, 1)) < 0) {
			log_err("%s %s: cannot enable packet info: %s", what, txt, strerror(errno));
			goto fail;
		}
	} else {
		(void)sock_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
		(void)sock_opt(fd, IPPROTO_TCP, TCP_FASTOPEN, 256);
	}
	if (bind(fd, &a->u.sa, a->len) < 0) {
		log_err("%s %s: bind: %s%s", what, txt, strerror(errno),
			errno == EACCES ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)" :
			errno == EADDRINUSE ? " (another program, or one not using SO_REUSEPORT, has it)" :
			errno == EADDRNOTAVAIL ? " (no such local address)" : "");
		goto fail;
	}
	if (type == SOCK_STREAM && listen(fd, TCP_BACKLOG) < 0) {
		log_err("%s %s: listen: %s", what, txt, strerror(errno));
		goto fail;
	}
	if (addr_port(a) == 0) {
		/* Port 0: every later socket must join the port the kernel chose. */
		struct addr got = *a;
		got.len = sizeof(got.u.ss);
		if (getsockname(fd, &got.u.sa, &got.len) == 0)
			addr_set_port(a, addr_port(&got));
	}
	return fd;
fail:
	close(fd);
	return GN_EIO;
}

static void worker_stop_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

#ifndef NDEBUG
/* The test hook (server_inject_fault), applied on the worker's own thread
 * so that it looks exactly like a loop that stopped serving. */
static void worker_apply_fault(struct worker *w, int f)
{
	if (f == SERVER_FAULT_WEDGE) {
		log_warn("worker %u: TEST FAULT worker-wedge: blocking this thread for good", w->id);
		for (;;)
			sleep(3600);
	}
	log_warn("worker %u: TEST FAULT worker-stall: no longer reading its sockets", w->id);
	for (size_t i = 0; i < w->srv->n_listen; i++) {
		ev_io_stop(w->loop, &w->udp[i].io);
		ev_io_stop(w->loop, &w->tcpl[i].io);
	}
	ev_timer_stop(w->loop, &w->beat_timer);
}
#endif

/* Heartbeat: proves to the health thread that this loop still turns. */
static void worker_beat_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = t->data;

	server_stat_add(&w->beat, 1);
#ifndef NDEBUG
	{
		int f = atomic_exchange_explicit(&w->fault, SERVER_FAULT_NONE, memory_order_relaxed);
		if (f != SERVER_FAULT_NONE)
			worker_apply_fault(w, f);
	}
#endif
}

static int worker_init(struct server *s, struct worker *w, unsigned id)
{
	double sweep = s->o.tcp_idle_ms / 1000.0 / 8;
	int ret = GN_ENOMEM;

	w->srv = s;
	w->id = id;
	/* NOSIGMASK: signals are handled by the main thread, not by libev. */
	w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!w->loop) {
		log_err("worker %u: cannot create an event loop", id);
		goto out;
	}
	ev_async_init(&w->stop, worker_stop_cb);
	ev_async_start(w->loop, &w->stop);
	if (sweep < 0.02)
		sweep = 0.02;
	if (sweep > 1.0)
		sweep = 1.0;
	ev_timer_init(&w->sweep, server_tcp_sweep_cb, sweep, sweep);
	w->sweep.data = w;
	ev_timer_start(w->loop, &w->sweep);
	ev_timer_init(&w->accept_resume, server_tcp_resume_cb, 0.5, 0.);
	w->accept_resume.data = w;
	ev_timer_init(&w->beat_timer, worker_beat_cb, SERVER_BEAT_S, SERVER_BEAT_S);
	w->beat_timer.data = w;
	ev_timer_start(w->loop, &w->beat_timer);
	w->udp = calloc(s->n_listen, sizeof(*w->udp));
	w->tcpl = calloc(s->n_listen, sizeof(*w->tcpl));
	if (!w->udp || !w->tcpl)
		goto out;
	for (size_t i = 0; i < s->n_listen; i++)
		w->udp[i].fd = w->tcpl[i].fd = -1;
	if ((ret = server_udp_init(w)) < 0)
		goto out;
	for (size_t i = 0; i < s->n_listen; i++) {
		struct udp_sock *u = &w->udp[i];
		struct tcp_listener *l = &w->tcpl[i];
		if ((u->fd = sock_open(s, &s->listen[i], SOCK_DGRAM, &u->pktinfo, id == 0)) < 0 ||
		    (l->fd = sock_open(s, &s->listen[i], SOCK_STREAM, &(bool){ false }, id == 0)) < 0) {
			ret = GN_EIO;
			goto out;
		}
		u->w = l->w = w;
		ev_io_init(&u->io, server_udp_read_cb, u->fd, EV_READ);
		u->io.data = u;
		ev_io_start(w->loop, &u->io);
		ev_io_init(&l->io, server_tcp_accept_cb, l->fd, EV_READ);
		l->io.data = l;
		ev_io_start(w->loop, &l->io);
	}
	ret = 0;
out:
	return ret;
}

static void worker_deinit(struct worker *w)
{
	for (size_t i = 0; w->srv && i < w->srv->n_listen; i++) {
		if (w->udp && w->udp[i].fd >= 0)
			close(w->udp[i].fd);
		if (w->tcpl && w->tcpl[i].fd >= 0)
			close(w->tcpl[i].fd);
	}
	free(w->udp);
	free(w->tcpl);
	server_udp_deinit(w);
	if (w->loop)
		ev_loop_destroy(w->loop);
	w->loop = NULL;
}

int server_new(const struct server_opts *o, struct server **out)
{
	struct server *s;
	int ret = GN_ENOMEM;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out;
	pthread_mutex_init(&s->pub_lock, NULL);
	pthread_mutex_init(&s->restart_lock, NULL);
	s->o = *o;
	s->n_listen = o->n_listen;
	s->n_workers = o->workers ? o->workers : 1;
	s->aconf.udp_max = o->edns_payload;
	s->aconf.minimal_any = true;
	s->aconf.zacl = o->zacl;
	s->aconf.n_zacl = o->n_zacl;
	s->listen = calloc(o->n_listen, sizeof(*s->listen));
	s->workers = calloc(s->n_workers, sizeof(*s->workers));
	s->ctx_pub = calloc(s->n_workers, sizeof(*s->ctx_pub));
	if (!s->listen || !s->workers || !s->ctx_pub)
		goto out;
	memcpy(s->listen, o->listen, o->n_listen * sizeof(*s->listen));
	atomic_init(&s->env, NULL);
	atomic_init(&s->tcp_open, 0);
	for (unsigned i = 0; i < s->n_workers; i++)
		if ((ret = worker_init(s, &s->workers[i], i)) < 0)
			goto out;
	for (size_t i = 0; i < s->n_listen; i++) {
		char txt[ADDR_TEXT_MAX];
		if (addr_format(&s->listen[i].u.sa, txt, sizeof(txt)) > 0)
			log_info("listening on %s (udp+tcp, %u workers)", txt, s->n_workers);
	}
	*out = s;
	ret = 0;
out:
	if (ret < 0)
		server_free(s);
	return ret;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	ev_run(w->loop, 0);
	server_tcp_close_all(w);
	/* libunbound contexts are driven by this loop: end them here. */
	rec_free(w->rec);
	w->rec = NULL;
	/* The context (and its snapshot reader) belongs to this thread:
	 * free it here, where LMDB expects its read transaction to end. */
	atomic_store_explicit(&w->srv->ctx_pub[w->id], NULL, memory_order_release);
	answer_ctx_free(w->ctx);
	w->ctx = NULL;
	return NULL;
}

int server_start(struct server *s)
{
	/* The upstream path is built before any thread runs, so a bad tier
	 * (libunbound refusing a setting) stops the start with its reason. */
	if (s->o.rec && s->o.rec->n_tiers) {
		if (!(s->recs = calloc(s->n_workers, sizeof(*s->recs))))
			return GN_ENOMEM;
		for (unsigned i = 0; i < s->n_workers; i++) {
			struct worker *w = &s->workers[i];
			int ret = rec_new(w->loop, s->o.rec, s->o.rec_stats, i, server_deliver, w,
					  &w->rec);
			if (ret < 0) {
				log_err("worker %u: cannot set up the upstream tiers: %s", i,
					gn_strerror(ret));
				return ret;
			}
			s->recs[i] = w->rec;
		}
	}
	for (unsigned i = 0; i < s->n_workers; i++) {
		struct worker *w = &s->workers[i];
		int err = pthread_create(&w->thread, NULL, worker_main, w);
		if (err) {
			log_err("cannot start worker thread %u: %s", i, strerror(err));
			server_stop(s);
			return GN_EIO;
		}
		w->started = true;
	}
	return 0;
}

void server_set_snapshot(struct server *s, snap_env *env)
{
	atomic_store_explicit(&s->env, env, memory_order_release);
}

void server_stop(struct server *s)
{
	if (!s || s->stopped)
		return;
	pthread_mutex_lock(&s->restart_lock); /* no restart may race the stop */
	for (unsigned i = 0; i < s->n_workers; i++)
		if (s->workers[i].started)
			ev_async_send(s->workers[i].loop, &s->workers[i].stop);
	for (unsigned i = 0; i < s->n_workers; i++)
		if (s->workers[i].started) {
			pthread_join(s->workers[i].thread, NULL);
			s->workers[i].started = false;
		}
	s->stopped = true;
	pthread_mutex_unlock(&s->restart_lock);
}

void server_free(struct server *s)
{
	if (!s)
		return;
	server_stop(s);
	for (unsigned i = 0; s->workers && i < s->n_workers; i++) {
		if (s->workers[i].loop)
			server_tcp_close_all(&s->workers[i]);
		answer_ctx_free(s->workers[i].ctx); /* only set if never started */
		rec_free(s->workers[i].rec);        /* likewise */
		worker_deinit(&s->workers[i]);
	}
	free(s->workers);
	pthread_mutex_destroy(&s->pub_lock);
	pthread_mutex_destroy(&s->restart_lock);
	free((void *)s->ctx_pub);
	free(s->recs);
	free(s->listen);
	free(s);
}

const struct addr *server_listen_addr(const struct server *s, size_t i)
{
	return i < s->n_listen ? &s->listen[i] : NULL;
}

size_t server_answer_ctxs(struct server *s, struct answer_ctx **out, size_t cap)
{
	size_t n = 0;
	for (unsigned i = 0; i < s->n_workers && n < cap; i++) {
		struct answer_ctx *c = atomic_load_explicit(&s->ctx_pub[i], memory_order_acquire);
		if (c)
			out[n++] = c;
	}
	return n;
}

/* ---- metrics ---------------------------------------------------------- */

static const char *const drop_names[DROP__N] = {
	[DROP_MALFORMED] = "malformed",
	[DROP_UDP_OVERSIZE] = "udp_oversize",
	[DROP_UDP_SEND] = "udp_send_error",
	[DROP_TCP_BAD_LENGTH] = "tcp_bad_length",
	[DROP_TCP_OVERSIZE] = "tcp_oversize",
	[DROP_TCP_LIMIT] = "tcp_connection_limit",
	[DROP_TCP_ACCEPT] = "tcp_accept_error",
};
static const char *const close_names[CLOSE__N] = {
	[CLOSE_PEER] = "peer", [CLOSE_IDLE] = "idle", [CLOSE_EVICTED] = "evicted",
	[CLOSE_ERROR] = "error", [CLOSE_SHUTDOWN] = "shutdown",
};

static uint64_t sum(struct server *s, size_t off)
{
	uint64_t t = 0;
	for (unsigned i = 0; i < s->n_workers; i++)
		t += atomic_load_explicit((_Atomic uint64_t *)((char *)&s->workers[i].stats + off),
					  memory_order_relaxed);
	return t;
}

static void metric(struct strbuf *out, const char *name, const char *type, const char *help,
		   uint64_t v)
{
	strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
		      (unsigned long long)v);
}

#define SUM(s, m) sum((s), offsetof(struct server_stats, m))

void server_metrics_write(struct server *s, struct strbuf *out)
{
	metric(out, "gridns_udp_packets_received_total", "counter",
	       "UDP datagrams received on the DNS sockets.", SUM(s, udp_rx));
	metric(out, "gridns_udp_packets_sent_total", "counter",
	       "UDP answers sent.", SUM(s, udp_tx));
	metric(out, "gridns_udp_receive_batches_total", "counter",
	       "recvmmsg calls that returned datagrams (received/batches = mean batch).",
	       SUM(s, udp_batches));
	metric(out, "gridns_tcp_connections_total", "counter",
	       "TCP connections accepted.", SUM(s, tcp_accepted));
	metric(out, "gridns_tcp_connections_open", "gauge",
	       "TCP connections open now.", atomic_load(&s->tcp_open));
	metric(out, "gridns_tcp_queries_total", "counter",
	       "DNS queries received over TCP.", SUM(s, tcp_queries));
	metric(out, "gridns_tcp_answers_total", "counter",
	       "DNS answers queued over TCP.", SUM(s, tcp_answers));
	metric(out, "gridns_acl_refused_total", "counter",
	       "Queries answered REFUSED because the client is not in acl.", SUM(s, acl_refused));
	metric(out, "gridns_no_snapshot_servfail_total", "counter",
	       "Queries answered SERVFAIL because the snapshot was not open yet.",
	       SUM(s, no_snapshot));
	metric(out, "gridns_upstream_answers_sent_total", "counter",
	       "Answers that came back from the tiers and were sent to the client.",
	       SUM(s, deferred_sent));
	metric(out, "gridns_upstream_answers_lost_total", "counter",
	       "Answers from the tiers that could not be sent (send error, TCP client not reading).",
	       SUM(s, deferred_lost));
	metric(out, "gridns_rrl_dropped_total", "counter",
	       "UDP answers not sent because the client prefix is over rrl.responses-per-second.",
	       SUM(s, rrl_dropped));
	metric(out, "gridns_rrl_slipped_total", "counter",
	       "Rate-limited UDP answers sent truncated (TC, empty) instead (rrl.slip).",
	       SUM(s, rrl_slipped));
	strbuf_printf(out, "# HELP gridns_packets_dropped_total Queries or connections dropped without an answer, by reason.\n"
		      "# TYPE gridns_packets_dropped_total counter\n");
	for (int r = 0; r < DROP__N; r++)
		strbuf_printf(out, "gridns_packets_dropped_total{reason=\"%s\"} %llu\n", drop_names[r],
			      (unsigned long long)sum(s, offsetof(struct server_stats, drop) +
							  (size_t)r * sizeof(_Atomic uint64_t)));
	strbuf_printf(out, "# HELP gridns_tcp_connections_closed_total TCP connections closed, by reason.\n"
		      "# TYPE gridns_tcp_connections_closed_total counter\n");
	for (int r = 0; r < CLOSE__N; r++)
		strbuf_printf(out, "gridns_tcp_connections_closed_total{reason=\"%s\"} %llu\n",
			      close_names[r],
			      (unsigned long long)sum(s, offsetof(struct server_stats, closed) +
							  (size_t)r * sizeof(_Atomic uint64_t)));
	metric(out, "gridns_workers", "gauge", "Worker threads serving DNS.", s->n_workers);
	metric(out, "gridns_udp_receive_buffer_bytes", "gauge",
	       "Smallest UDP receive buffer the kernel granted (compare with udp.rcvbuf).",
	       (uint64_t)s->rcvbuf_effective);
	metric(out, "gridns_snapshot_open", "gauge",
	       "1 when the snapshot is open and handed to the workers, else 0.",
	       atomic_load(&s->env) != NULL);
}

snap_env *server_snapshot(struct server *s)
{
	return atomic_load_explicit(&s->env, memory_order_acquire);
}

/* ---- self-check support ------------------------------------------------ */

unsigned server_workers(const struct server *s)
{
	return s->n_workers;
}

uint64_t server_worker_beat(struct server *s, unsigned i)
{
	if (i >= s->n_workers)
		return 0;
	return atomic_load_explicit(&s->workers[i].beat, memory_order_relaxed);
}

void server_read_lock(struct server *s)
{
	pthread_mutex_lock(&s->pub_lock);
}

void server_read_unlock(struct server *s)
{
	pthread_mutex_unlock(&s->pub_lock);
}

int server_inject_fault(struct server *s, unsigned i, enum server_fault f)
{
#ifndef NDEBUG
	if (i >= s->n_workers || f == SERVER_FAULT_NONE)
		return GN_EINVAL;
	atomic_store_explicit(&s->workers[i].fault, (int)f, memory_order_relaxed);
	return 0;
#else
	(void)s;
	(void)i;
	(void)f;
	return GN_EINVAL;
#endif
}

/* Join with a deadline: a wedged thread must not wedge the healer too. */
static int worker_join(struct worker *w, unsigned timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_timedjoin_np(w->thread, NULL, &ts);
}

int server_restart_worker(struct server *s, unsigned i, unsigned timeout_ms)
{
	struct worker *w;
	int ret = GN_EINVAL, err;

	if (i >= s->n_workers)
		return GN_EINVAL;
	w = &s->workers[i];
	pthread_mutex_lock(&s->restart_lock);
	if (s->stopped)
		goto out;
	if (w->started) {
		ev_async_send(w->loop, &w->stop);
		/* The worker frees its context and upstream path on its way
		 * out: keep the metrics thread away from them meanwhile. */
		pthread_mutex_lock(&s->pub_lock);
		err = worker_join(w, timeout_ms);
		if (err == 0) {
			w->started = false;
			if (s->recs)
				s->recs[i] = NULL;
		}
		pthread_mutex_unlock(&s->pub_lock);
		if (err) {
			log_err("worker %u does not stop within %u ms (%s): its loop is wedged and "
				"cannot be restarted in place", i, timeout_ms, strerror(err));
			ret = GN_EBUSY;
			goto out;
		}
	}
	/* Fresh state: the context is made again at the next query; the
	 * upstream path (libunbound contexts of every tier) right now. */
	w->ctx_retry_at = 0;
	atomic_store_explicit(&w->fault, SERVER_FAULT_NONE, memory_order_relaxed);
	for (size_t k = 0; k < s->n_listen; k++) {
		ev_io_start(w->loop, &w->udp[k].io);   /* no-op when still active */
		ev_io_start(w->loop, &w->tcpl[k].io);
	}
	ev_timer_again(w->loop, &w->beat_timer);
	if (s->recs && s->o.rec && s->o.rec->n_tiers) {
		struct rec *r = NULL;
		ret = rec_new(w->loop, s->o.rec, s->o.rec_stats, i, server_deliver, w, &r);
		if (ret < 0) {
			log_err("worker %u: cannot recreate the upstream tiers: %s; it serves "
				"local zones only", i, gn_strerror(ret));
		}
		pthread_mutex_lock(&s->pub_lock);
		w->rec = r;
		s->recs[i] = r;
		pthread_mutex_unlock(&s->pub_lock);
	}
	err = pthread_create(&w->thread, NULL, worker_main, w);
	if (err) {
		log_err("cannot start worker thread %u again: %s", i, strerror(err));
		ret = GN_EIO;
		goto out;
	}
	w->started = true;
	log_info("worker %u restarted", i);
	ret = 0;
out:
	pthread_mutex_unlock(&s->restart_lock);
	return ret;
}
