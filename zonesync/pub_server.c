/* zonesync/pub_server.c - the publisher's sockets and its life cycle.
 *
 * UDP answers SOA (and the SOA-only answer to IXFR, RFC 1995 section 2) on
 * the loop thread.  TCP connections are read on the loop thread until one
 * complete query: SOA and refusals are answered there; an allowed AXFR or
 * IXFR hands the socket to the transfer queue (pub_queue.c), which serves
 * it and closes it.  A poll timer notices new serials (NOTIFY, ZONEMD). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/pub_int.h"

/* A TCP connection still reading its query (loop thread). */
struct pub_conn {
	struct pub *p;
	struct pub_conn *prev, *next;   /* p->conns, so pub_free can close them */
	int fd;
	ev_io io;
	ev_timer idle;
	struct addr peer;
	char peer_text[ADDR_TEXT_MAX];
	uint8_t buf[2 + PUB_MAX_MSG];
	size_t have;
};

double pub_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct pub_zone *pub_zone_by_wire(struct pub *p, const uint8_t *wire)
{
	for (size_t i = 0; i < p->n_zones; i++)
		if (dname_wire_equal(p->zones[i].apex, wire))
			return &p->zones[i];
	return NULL;
}

/* Decide a query: the zone, its access, and for SOA the answer.  Returns
 * 1 with *zout set when the caller should start a transfer, 0 when
 * out[0..*len) is the answer, <0 when nothing can be answered. */
static int pub_decide(struct pub *p, const uint8_t *msg, size_t mlen, const struct addr *peer,
		      const char *peer_text, bool tcp, struct pub_q *q, struct tsig_ctx *t,
		      struct pub_zone **zout, uint8_t *out, size_t cap, size_t *len)
{
	struct pub_zone *z;
	enum pub_kind kind;
	int rc;

	tsig_ctx_init(t, NULL, (uint16_t)p->conf->tsig_fudge);
	*zout = NULL;
	if (pub_q_parse(msg, mlen, q) < 0) {
		if (mlen < 12 || msg[2] & 0x80)
			return GN_EINVAL; /* not a query: no answer at all */
		memset(q, 0, sizeof(*q));
		q->id = (uint16_t)(msg[0] << 8 | msg[1]);
		q->flags = (uint16_t)(msg[2] << 8 | msg[3]);
		q->qname[0] = 0;
		q->qname_len = 1;
		return pub_reply_small(p, p->rd, NULL, q, PUB_RC_FORMERR, false, NULL, out, cap, len);
	}
	if (((q->flags >> 11) & 0xf) != PUB_OP_QUERY)
		return pub_reply_small(p, p->rd, NULL, q, PUB_RC_NOTIMP, false, NULL, out, cap, len);
	if (!(z = pub_zone_by_wire(p, q->qname)) || q->qclass != XFORM_CLASS_IN) {
		atomic_fetch_add_explicit(&p->unknown_zone, 1, memory_order_relaxed);
		log_debug("publisher: %s asked for a zone we do not serve", peer_text);
		return pub_reply_small(p, p->rd, NULL, q, PUB_RC_REFUSED, false, NULL, out, cap, len);
	}
	switch (q->qtype) {
	case PUB_TYPE_SOA: kind = PUB_K_SOA; break;
	case PUB_TYPE_AXFR: kind = PUB_K_AXFR; break;
	case PUB_TYPE_IXFR: kind = PUB_K_IXFR; break;
	default:
		/* A transfer server, not an authoritative one: gridns-resolver
		 * answers the data. */
		return pub_reply_small(p, p->rd, z, q, PUB_RC_REFUSED, false, NULL, out, cap, len);
	}
	if ((rc = pub_acl_check(p, z, &peer->u.sa, peer_text, msg, mlen, t, kind)) != 0)
		return pub_reply_small(p, p->rd, z, q, rc, false, t, out, cap, len);
	if (kind == PUB_K_IXFR && !q->has_serial)
		return pub_reply_small(p, p->rd, z, q, PUB_RC_FORMERR, false, t, out, cap, len);
	if (kind == PUB_K_AXFR && !tcp)
		return pub_reply_small(p, p->rd, z, q, PUB_RC_FORMERR, false, t, out, cap, len);
	if (kind == PUB_K_SOA || !tcp) {
		/* SOA, or IXFR over UDP: the current SOA says which serial to
		 * fetch over TCP. */
		rc = pub_reply_small(p, p->rd, z, q, PUB_RC_NOERROR, true, t, out, cap, len);
		pub_count_xfr(z, kind, rc == 0 ? PUB_R_OK : PUB_R_FAILED, rc == 0 ? *len : 0);
		return rc == PUB_RC_SERVFAIL ? 0 : rc;
	}
	*zout = z;
	return 1;
}

/* ---- UDP ---------------------------------------------------------------- */

static void pub_udp_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct pub *p = io->data;
	uint8_t in[PUB_MAX_MSG], out[4096];
	struct tsig_ctx t;
	struct pub_zone *z;
	struct pub_q q;

	/* Bounded: at most 64 datagrams per wake-up, then back to the loop. */
	for (int i = 0; i < 64; i++) {
		struct addr peer;
		char ptext[ADDR_TEXT_MAX];
		size_t len = 0;
		ssize_t n;

		peer.len = sizeof(peer.u.ss);
		n = recvfrom(io->fd, in, sizeof(in), MSG_DONTWAIT, &peer.u.sa, &peer.len);
		if (n < 0)
			return;
		if (addr_format(&peer.u.sa, ptext, sizeof(ptext)) < 0)
			strcpy(ptext, "?");
		if (pub_decide(p, in, (size_t)n, &peer, ptext, false, &q, &t, &z, out, sizeof(out),
			       &len) != 0)
			continue;
		if (sendto(io->fd, out, len, MSG_DONTWAIT, &peer.u.sa, peer.len) < 0)
			log_debug("publisher: UDP reply to %s: %s", ptext, strerror(errno));
	}
}

/* ---- TCP ---------------------------------------------------------------- */

static void pub_conn_close(struct pub_conn *c, bool close_fd)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		c->p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ev_io_stop(c->p->loop, &c->io);
	ev_timer_stop(c->p->loop, &c->idle);
	if (close_fd) {
		close(c->fd);
		atomic_fetch_sub(&c->p->tcp_open, 1);
	}
	free(c);
}

static void pub_conn_idle_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct pub_conn *c = t->data;
	log_debug("publisher: TCP %s idle, closed", c->peer_text);
	pub_conn_close(c, true);
}

/* Hand the connection to the queue: from here the job owns the socket. */
static void pub_conn_transfer(struct pub_conn *c, struct pub_zone *z, const struct pub_q *q,
			      const struct tsig_ctx *t, const uint8_t *msg, size_t len)
{
	struct pub *p = c->p;
	struct pub_job *j = calloc(1, sizeof(*j));
	struct timeval tv = { .tv_sec = p->conf->send_timeout_ms / 1000,
			      .tv_usec = (p->conf->send_timeout_ms % 1000) * 1000 };
	int fl, r;

	if (!j || !(j->query = malloc(len))) {
		free(j);
		log_err("publisher: out of memory queueing a transfer for %s", c->peer_text);
		pub_conn_close(c, true);
		return;
	}
	j->kind = PUB_J_XFR;
	j->z = z;
	j->fd = c->fd;
	j->qtype = q->qtype;
	j->client_serial = q->serial;
	memcpy(j->query, msg, len);
	j->query_len = len;
	j->tsig = *t;
	snprintf(j->peer, sizeof(j->peer), "%s", c->peer_text);
	/* The worker writes with blocking sends bounded by SO_SNDTIMEO. */
	if ((fl = fcntl(c->fd, F_GETFL)) >= 0)
		(void)fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
	if (setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		log_warn("publisher: SO_SNDTIMEO for %s: %s", c->peer_text, strerror(errno));
	pub_conn_close(c, false);
	if ((r = pub_queue_push(p, j)) < 0) {
		atomic_fetch_add(&p->queue_full, 1);
		log_warn("publisher: %s for %s dropped: transfer queue full (%lld waiting; raise "
			 "transfers.queue or transfers.max)", pub_kind_name(q->qtype == PUB_TYPE_AXFR ?
			 PUB_K_AXFR : PUB_K_IXFR), j->peer, (long long)p->conf->queue_max);
		pub_count_xfr(z, q->qtype == PUB_TYPE_AXFR ? PUB_K_AXFR : PUB_K_IXFR, PUB_R_FAILED, 0);
		/* SERVFAIL rather than a silent close: the client retries later
		 * instead of reading a half-open connection until it times out. */
		{
			uint8_t out[2 + 1024];
			size_t olen = 0;
			if (pub_reply_small(p, p->rd, z, q, PUB_RC_SERVFAIL, false, &j->tsig, out,
					    sizeof(out), &olen) == 0) {
				memmove(out + 2, out, olen);
				out[0] = (uint8_t)(olen >> 8);
				out[1] = (uint8_t)olen;
				(void)send(j->fd, out, olen + 2, MSG_DONTWAIT | MSG_NOSIGNAL);
			}
		}
		atomic_fetch_sub(&p->tcp_open, 1);
		pub_job_free(j);
	}
}

static void pub_conn_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct pub_conn *c = io->data;
	struct pub *p = c->p;
	uint8_t out[4096 + 2];
	struct tsig_ctx t;
	struct pub_zone *z;
	struct pub_q q;
	size_t need, len = 0;
	ssize_t n;
	int r;

	need = c->have < 2 ? 2 : 2u + (size_t)(c->buf[0] << 8 | c->buf[1]);
	n = recv(c->fd, c->buf + c->have, need - c->have, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		pub_conn_close(c, true);
		return;
	}
	if (n < 0)
		return;
	c->have += (size_t)n;
	if (c->have < 2 || c->have < 2u + (size_t)(c->buf[0] << 8 | c->buf[1]))
		return;
	ev_timer_again(loop, &c->idle);
	r = pub_decide(p, c->buf + 2, c->have - 2, &c->peer, c->peer_text, true, &q, &t, &z,
		       out + 2, sizeof(out) - 2, &len);
	if (r == 1) {
		pub_conn_transfer(c, z, &q, &t, c->buf + 2, c->have - 2);
		return;
	}
	if (r < 0) {
		pub_conn_close(c, true);
		return;
	}
	out[0] = (uint8_t)(len >> 8);
	out[1] = (uint8_t)len;
	/* A small answer to a fresh socket fits its buffer; a client that
	 * does not read it is not worth a write queue. */
	if (send(c->fd, out, len + 2, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)(len + 2)) {
		pub_conn_close(c, true);
		return;
	}
	c->have = 0;
}

static void pub_accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct pub *p = io->data;

	for (int i = 0; i < 64; i++) {
		struct pub_conn *c;
		struct addr peer;
		int fd;

		peer.len = sizeof(peer.u.ss);
		fd = accept4(io->fd, &peer.u.sa, &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (atomic_load(&p->tcp_open) >= (uint_fast64_t)p->conf->tcp_max ||
		    !(c = calloc(1, sizeof(*c)))) {
			/* One line a second at most: this is what a flood looks like. */
			if (ev_now(loop) - p->refuse_logged >= 1.0) {
				p->refuse_logged = ev_now(loop);
				log_warn("publisher: TCP connections refused: %lld open "
					 "(tcp.max-connections)", (long long)p->conf->tcp_max);
			}
			atomic_fetch_add(&p->tcp_refused, 1);
			close(fd);
			continue;
		}
		atomic_fetch_add(&p->tcp_open, 1);
		c->p = p;
		c->next = p->conns;
		if (c->next)
			c->next->prev = c;
		p->conns = c;
		c->fd = fd;
		c->peer = peer;
		if (addr_format(&peer.u.sa, c->peer_text, sizeof(c->peer_text)) < 0)
			strcpy(c->peer_text, "?");
		ev_io_init(&c->io, pub_conn_read_cb, fd, EV_READ);
		c->io.data = c;
		ev_init(&c->idle, pub_conn_idle_cb);
		c->idle.repeat = (double)p->conf->tcp_idle_ms / 1000.0;
		c->idle.data = c;
		ev_io_start(loop, &c->io);
		ev_timer_again(loop, &c->idle);
	}
}

/* ---- serials ------------------------------------------------------------ */

static void pub_poll_zones(struct pub *p, bool force)
{
	uint64_t v;

	if (snap_rd_begin(p->rd) < 0)
		return;
	v = snap_rd_version(p->rd);
	if (!force && v == p->rd_version) {
		snap_rd_end(p->rd);
		return;
	}
	p->rd_version = v;
	for (size_t i = 0; i < p->n_zones; i++) {
		struct pub_zone *z = &p->zones[i];
		struct snap_zone sz;
		bool present = snap_rd_zone(p->rd, z->key, z->keylen, &sz) == 1 && sz.has_soa;
		uint32_t old = atomic_load(&z->serial);

		atomic_store(&z->present, present);
		if (!present || (z->seen && sz.serial == old))
			continue;
		atomic_store(&z->serial, sz.serial);
		atomic_store(&z->last_change, (uint_fast64_t)time(NULL));
		if (z->seen) {
			log_info("publisher: zone %s: new serial %u (was %u)", z->zc->name, sz.serial,
				 old);
			pub_notify_serial(p, z, sz.serial);
		} else if (p->polled || p->conf->notify_on_start) {
			/* A zone that appears later is news; at start the serial
			 * may have changed while we were down: say so, as Knot and
			 * BIND do on load (jitter and rate apply). */
			log_info("publisher: zone %s: serial %u%s", z->zc->name, sz.serial,
				 p->polled ? " (zone appeared)" : "");
			pub_notify_serial(p, z, sz.serial);
		}
		z->seen = true;
		if (z->zc->zonemd && !atomic_exchange(&z->md_queued, true)) {
			struct pub_job *j = calloc(1, sizeof(*j));
			if (j) {
				j->kind = PUB_J_DIGEST;
				j->z = z;
				j->fd = -1;
			}
			if (!j || pub_queue_push(p, j) < 0) {
				free(j);
				atomic_store(&z->md_queued, false);
			}
		}
	}
	snap_rd_end(p->rd);
	p->polled = true;
}

static void pub_poll_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	pub_poll_zones(t->data, false);
}

static void pub_changed_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	pub_poll_zones(a->data, true);
}

void pub_zone_changed(struct pub *p, const char *zone)
{
	(void)zone; /* all zones are checked: one LMDB read, cheaper than a lookup table */
	ev_async_send(p->loop, &p->changed);
}

/* ---- life cycle ----------------------------------------------------------- */

static int pub_bind(const struct addr *a, int type, int *out)
{
	int fd = socket(a->u.sa.sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return GN_EIO;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->u.sa.sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, &a->u.sa, a->len) < 0 || (type == SOCK_STREAM && listen(fd, 256) < 0)) {
		int e = errno;
		close(fd);
		errno = e;
		return GN_EIO;
	}
	*out = fd;
	return 0;
}

static int pub_listen(struct pub *p)
{
	if (!(p->ls = calloc(p->conf->n_listen, sizeof(*p->ls))))
		return GN_ENOMEM;
	for (size_t i = 0; i < p->conf->n_listen; i++) {
		struct pub_listener *l = &p->ls[i];
		struct addr a = p->conf->listen[i];
		char text[ADDR_TEXT_MAX];

		l->udp = l->tcp = -1;
		p->n_ls++;
		(void)addr_format(&a.u.sa, text, sizeof(text));
		/* TCP first: with port 0 the kernel picks it, UDP then takes the same. */
		if (pub_bind(&a, SOCK_STREAM, &l->tcp) < 0) {
			log_err("publisher: cannot listen on TCP %s: %s", text, strerror(errno));
			return GN_EIO;
		}
		if (addr_port(&a) == 0) {
			struct addr b;
			b.len = sizeof(b.u.ss);
			if (getsockname(l->tcp, &b.u.sa, &b.len) == 0)
				addr_set_port(&a, addr_port(&b));
		}
		if (pub_bind(&a, SOCK_DGRAM, &l->udp) < 0) {
			log_err("publisher: cannot listen on UDP %s: %s", text, strerror(errno));
			return GN_EIO;
		}
		l->port = addr_port(&a);
		ev_io_init(&l->uio, pub_udp_cb, l->udp, EV_READ);
		l->uio.data = p;
		ev_io_init(&l->tio, pub_accept_cb, l->tcp, EV_READ);
		l->tio.data = p;
		ev_io_start(p->loop, &l->uio);
		ev_io_start(p->loop, &l->tio);
		(void)addr_format(&a.u.sa, text, sizeof(text));
		log_info("publisher: serving %zu zone(s) on %s (UDP SOA, TCP SOA/AXFR/IXFR)",
			 p->n_zones, text);
	}
	return 0;
}

static void pub_metrics_cb(void *arg, struct strbuf *out)
{
	pub_metrics_render(arg, out);
}

/* /health: 503 while a configured zone is missing from the database (a
 * secondary asking for it would get SERVFAIL). */
static int pub_health_cb(void *arg, struct strbuf *out)
{
	struct pub *p = arg;
	int bad = 0;

	for (size_t i = 0; i < p->n_zones; i++)
		if (!atomic_load(&p->zones[i].present)) {
			strbuf_printf(out, "zone %s is not in the database %s\n", p->zones[i].zc->name,
				      p->conf->db);
			bad = 1;
		}
	return bad;
}

int pub_new(struct ev_loop *loop, const struct pub_conf *conf, snap_env *env, struct pub **out)
{
	struct pub *p;
	int ret = GN_ENOMEM;

	*out = NULL;
	if (!(p = calloc(1, sizeof(*p))))
		return GN_ENOMEM;
	p->loop = loop;
	p->conf = conf;
	p->env = env;
	p->nfd4 = p->nfd6 = -1;
	p->start_time = pub_now();
	pthread_mutex_init(&p->qlock, NULL);
	pthread_mutex_init(&p->close_lock, NULL);
	ev_async_init(&p->closer, pub_queue_close_cb);
	p->closer.data = p;
	ev_async_start(loop, &p->closer);
	pthread_cond_init(&p->qcond, NULL);
	if (!(p->zones = calloc(conf->n_zones, sizeof(*p->zones))))
		goto out;
	for (size_t i = 0; i < conf->n_zones; i++) {
		struct pub_zone *z = &p->zones[i];
		const char *n = conf->zones[i].name;
		int kl;
		z->zc = &conf->zones[i];
		pthread_mutex_init(&z->md_lock, NULL);
		pthread_cond_init(&z->stream_cond, NULL);
		p->n_zones++;
		if (dname_from_text(n, strlen(n), z->apex) < 0 ||
		    (kl = dname_text_to_key(n, strlen(n), z->key)) < 0) {
			ret = GN_EINVAL;
			goto out;
		}
		z->keylen = (uint8_t)kl;
	}
	if ((ret = snap_rd_new(env, &p->rd)) < 0)
		goto out;
	if ((ret = pub_listen(p)) < 0 || (ret = pub_notify_init(p)) < 0 ||
	    (ret = pub_queue_start(p)) < 0)
		goto out;
	ev_init(&p->poll, pub_poll_cb);
	p->poll.repeat = (double)conf->poll_ms / 1000.0;
	p->poll.data = p;
	ev_timer_again(loop, &p->poll);
	ev_async_init(&p->changed, pub_changed_cb);
	p->changed.data = p;
	ev_async_start(loop, &p->changed);
	pub_poll_zones(p, true);
	if ((ret = pub_watch_init(p)) < 0)
		goto out;
	if (conf->metrics.len) {
		struct httpd_opts ho = { .name = "publisher metrics" };
		if ((ret = httpd_new(&conf->metrics, &ho, pub_metrics_cb, pub_health_cb, p, &p->httpd)) < 0)
			goto out;
	}
	*out = p;
	ret = 0;
out:
	if (ret < 0)
		pub_free(p);
	return ret;
}

uint16_t pub_port(const struct pub *p, size_t i)
{
	return i < p->n_ls ? p->ls[i].port : 0;
}

void pub_free(struct pub *p)
{
	if (!p)
		return;
	httpd_free(p->httpd);
	pub_watch_fini(p);
	if (ev_is_active(&p->poll))
		ev_timer_stop(p->loop, &p->poll);
	if (ev_is_active(&p->changed))
		ev_async_stop(p->loop, &p->changed);
	for (size_t i = 0; i < p->n_ls; i++) {
		if (p->ls[i].udp >= 0) {
			ev_io_stop(p->loop, &p->ls[i].uio);
			close(p->ls[i].udp);
		}
		if (p->ls[i].tcp >= 0) {
			ev_io_stop(p->loop, &p->ls[i].tio);
			close(p->ls[i].tcp);
		}
	}
	free(p->ls);
	while (p->conns)
		pub_conn_close(p->conns, true);
	pub_queue_stop(p);
	pub_notify_fini(p);
	snap_rd_free(p->rd);
	for (size_t i = 0; i < p->n_zones; i++) {
		pub_stream_drop(&p->zones[i]);
		pthread_cond_destroy(&p->zones[i].stream_cond);
		pthread_mutex_destroy(&p->zones[i].md_lock);
	}
	free(p->zones);
	if (ev_is_active(&p->closer))
		ev_async_stop(p->loop, &p->closer);
	pthread_mutex_destroy(&p->close_lock);
	pthread_cond_destroy(&p->qcond);
	pthread_mutex_destroy(&p->qlock);
	free(p);
}
