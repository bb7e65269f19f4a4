/* zonesync/pub_notify.c - NOTIFY out (RFC 1996), on the loop thread.
 *
 * On every new serial each downstream of the zone gets a NOTIFY after a
 * random delay in [0, notify.jitter-ms] (so a fan-out does not arrive as one
 * burst), subject to one token bucket of notify.rate messages per second for
 * the whole publisher (a BIND primary with 70,000 zones sent NOTIFY 9
 * minutes late without one, users.md section 4).  An unacknowledged NOTIFY
 * is re-sent after notify.timeout-ms, doubling, notify.retries times, then
 * counted as failed; the secondary's own refresh timer is the backstop.  A
 * newer serial replaces a pending one (only the latest matters). */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/pub_int.h"

struct pub_ntarget {
	struct pub *p;
	struct pub_zone *z;
	const struct pub_target *t;
	ev_timer tm;
	uint32_t serial;        /* the serial being announced */
	bool pending;           /* due, or waiting for its ack */
	bool sent;              /* sent at least once for this serial */
	unsigned tries;
	uint16_t id;
	struct tsig_ctx tsig;
};

static uint32_t pub_rand(void)
{
	uint32_t v = 0;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (uint32_t)random();
	return v;
}

static bool pub_same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

/* Take one token; else the seconds until one is there. */
static double pub_token(struct pub *p)
{
	ev_tstamp now = ev_now(p->loop);
	double rate = (double)p->conf->notify_rate;

	p->tokens += (now - p->tokens_at) * rate;
	p->tokens_at = now;
	if (p->tokens > rate)
		p->tokens = rate; /* burst of at most one second's worth */
	if (p->tokens >= 1.0) {
		p->tokens -= 1.0;
		return 0;
	}
	return (1.0 - p->tokens) / rate;
}

static int pub_notify_send(struct pub_ntarget *nt)
{
	struct pub *p = nt->p;
	uint8_t m[DNAME_MAX + 600];
	size_t len = 12;
	int fd = nt->t->addr.u.sa.sa_family == AF_INET6 ? p->nfd6 : p->nfd4;
	int ql = dname_wire_len(nt->z->apex), r;

	nt->id = (uint16_t)pub_rand();
	m[0] = (uint8_t)(nt->id >> 8);
	m[1] = (uint8_t)nt->id;
	m[2] = (uint8_t)(PUB_OP_NOTIFY << 3 | 0x04); /* opcode NOTIFY, AA */
	m[3] = 0;
	memset(m + 4, 0, 8);
	m[5] = 1;
	memcpy(m + len, nt->z->apex, (size_t)ql);
	len += (size_t)ql;
	m[len++] = 0;
	m[len++] = PUB_TYPE_SOA;
	m[len++] = 0;
	m[len++] = XFORM_CLASS_IN;
	tsig_ctx_init(&nt->tsig, nt->z->zc->notify_key, (uint16_t)p->conf->tsig_fudge);
	if (nt->tsig.key &&
	    (r = tsig_sign_query(&nt->tsig, m, &len, sizeof(m), (uint64_t)time(NULL))) < 0)
		return r;
	if (fd < 0 || sendto(fd, m, len, MSG_DONTWAIT, &nt->t->addr.u.sa, nt->t->addr.len) < 0) {
		log_warn("publisher: NOTIFY %s serial %u to %s: %s", nt->z->zc->name, nt->serial,
			 nt->t->text, fd < 0 ? "no socket of that family" : strerror(errno));
		return GN_EIO;
	}
	atomic_fetch_add_explicit(&nt->z->notify_sent, 1, memory_order_relaxed);
	log_debug("publisher: NOTIFY %s serial %u to %s (try %u)", nt->z->zc->name, nt->serial,
		  nt->t->text, nt->tries + 1);
	return 0;
}

static void pub_nt_cb(struct ev_loop *loop, ev_timer *tm, int revents)
{
	struct pub_ntarget *nt = tm->data;
	struct pub *p = nt->p;
	double wait;

	if (!nt->pending)
		return;
	if (nt->tries > (unsigned)p->conf->notify_retries) {
		nt->pending = false;
		atomic_fetch_add_explicit(&nt->z->notify_failed, 1, memory_order_relaxed);
		log_warn("publisher: NOTIFY %s serial %u to %s: no answer after %u tries; the "
			 "secondary will find the serial at its next refresh", nt->z->zc->name,
			 nt->serial, nt->t->text, nt->tries);
		return;
	}
	if ((wait = pub_token(p)) > 0) {
		ev_timer_set(tm, wait, 0);
		ev_timer_start(loop, tm);
		return;
	}
	(void)pub_notify_send(nt);
	nt->sent = true;
	nt->tries++;
	/* 1x, 2x, 4x ... the timeout, capped at a minute */
	wait = (double)p->conf->notify_timeout_ms / 1000.0 * (double)(1u << (nt->tries - 1 < 16 ?
									     nt->tries - 1 : 16));
	ev_timer_set(tm, wait < 60 ? wait : 60, 0);
	ev_timer_start(loop, tm);
}

void pub_notify_serial(struct pub *p, struct pub_zone *z, uint32_t serial)
{
	for (size_t i = 0; i < z->zc->n_notify; i++) {
		struct pub_ntarget *nt = &z->nt[i];
		double jitter = p->conf->notify_jitter_ms
			? (double)(pub_rand() % (uint32_t)(p->conf->notify_jitter_ms + 1)) / 1000.0
			: 0;
		ev_timer_stop(p->loop, &nt->tm);
		nt->serial = serial;
		nt->pending = true;
		nt->sent = false;
		nt->tries = 0;
		ev_timer_set(&nt->tm, jitter, 0);
		ev_timer_start(p->loop, &nt->tm);
	}
}

/* An answer to one of our NOTIFYs. */
static void pub_nack_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct pub *p = io->data;

	for (int k = 0; k < 64; k++) {
		uint8_t m[4096];
		struct addr from;
		ssize_t n;
		uint16_t id;

		from.len = sizeof(from.u.ss);
		n = recvfrom(io->fd, m, sizeof(m), MSG_DONTWAIT, &from.u.sa, &from.len);
		if (n < 0)
			return;
		if (n < 12 || !(m[2] & 0x80) || ((m[2] >> 3) & 0xf) != PUB_OP_NOTIFY)
			continue;
		id = (uint16_t)(m[0] << 8 | m[1]);
		for (size_t i = 0; i < p->n_zones; i++) {
			struct pub_zone *z = &p->zones[i];
			for (size_t j = 0; j < z->zc->n_notify; j++) {
				struct pub_ntarget *nt = &z->nt[j];
				int rc = m[3] & 0xf;
				if (!nt->pending || !nt->sent || nt->id != id ||
				    !pub_same_addr(&from.u.sa, &nt->t->addr.u.sa))
					continue;
				if (nt->tsig.key &&
				    tsig_verify_reply(&nt->tsig, m, (size_t)n, (uint64_t)time(NULL), NULL) < 0) {
					log_warn("publisher: NOTIFY answer from %s for %s: TSIG %s: %s; "
						 "ignored", nt->t->text, z->zc->name,
						 tsig_error_name(nt->tsig.error), nt->tsig.reason);
					continue; /* a forged ack must not stop the retries */
				}
				nt->pending = false;
				ev_timer_stop(loop, &nt->tm);
				if (rc == PUB_RC_NOERROR) {
					atomic_fetch_add_explicit(&z->notify_acked, 1, memory_order_relaxed);
				} else {
					atomic_fetch_add_explicit(&z->notify_failed, 1, memory_order_relaxed);
					log_warn("publisher: NOTIFY %s serial %u refused by %s (rcode %d): "
						 "check its ACL and key", z->zc->name, nt->serial,
						 nt->t->text, rc);
				}
			}
		}
	}
}

static int pub_nsock(struct pub *p, int family, int *fd, ev_io *io)
{
	if ((*fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		log_err("publisher: NOTIFY socket: %s", strerror(errno));
		return GN_EIO;
	}
	ev_io_init(io, pub_nack_cb, *fd, EV_READ);
	io->data = p;
	ev_io_start(p->loop, io);
	return 0;
}

int pub_notify_init(struct pub *p)
{
	bool v4 = false, v6 = false;
	int r;

	p->tokens = (double)p->conf->notify_rate;
	p->tokens_at = ev_now(p->loop);
	for (size_t i = 0; i < p->n_zones; i++) {
		struct pub_zone *z = &p->zones[i];
		if (!z->zc->n_notify)
			continue;
		if (!(z->nt = calloc(z->zc->n_notify, sizeof(*z->nt))))
			return GN_ENOMEM;
		for (size_t j = 0; j < z->zc->n_notify; j++) {
			struct pub_ntarget *nt = &z->nt[j];
			nt->p = p;
			nt->z = z;
			nt->t = &z->zc->notify[j];
			ev_init(&nt->tm, pub_nt_cb);
			nt->tm.data = nt;
			v4 = v4 || nt->t->addr.u.sa.sa_family == AF_INET;
			v6 = v6 || nt->t->addr.u.sa.sa_family == AF_INET6;
		}
	}
	if (v4 && (r = pub_nsock(p, AF_INET, &p->nfd4, &p->nio4)) < 0)
		return r;
	if (v6 && (r = pub_nsock(p, AF_INET6, &p->nfd6, &p->nio6)) < 0)
		return r;
	return 0;
}

void pub_notify_fini(struct pub *p)
{
	for (size_t i = 0; i < p->n_zones; i++) {
		struct pub_zone *z = &p->zones[i];
		for (size_t j = 0; z->nt && j < z->zc->n_notify; j++)
			ev_timer_stop(p->loop, &z->nt[j].tm);
		free(z->nt);
		z->nt = NULL;
	}
	if (p->nfd4 >= 0) {
		ev_io_stop(p->loop, &p->nio4);
		close(p->nfd4);
		p->nfd4 = -1;
	}
	if (p->nfd6 >= 0) {
		ev_io_stop(p->loop, &p->nio6);
		close(p->nfd6);
		p->nfd6 = -1;
	}
}
