/* resolver/health_canary.c - canary queries sent to our own listening
 * sockets, UDP and TCP, the way a client would: if a worker stopped
 * answering, or answers wrongly, this is where it shows. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "common/dname.h"
#include "common/err.h"
#include "resolver/health.h"

/* UDP probes in flight at once: each has its own socket (fd budget). */
#define CANARY_UDP_CHUNK 128

static uint64_t canary_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint16_t health_qtype_parse(const char *s)
{
	static const struct { const char *n; uint16_t t; } types[] = {
		{ "A", 1 }, { "NS", 2 }, { "CNAME", 5 }, { "SOA", 6 }, { "PTR", 12 },
		{ "MX", 15 }, { "TXT", 16 }, { "AAAA", 28 }, { "SRV", 33 },
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(s, types[i].n) == 0)
			return types[i].t;
	return 0;
}

size_t health_canary_query(const char *qname, uint16_t qtype, bool rd, uint16_t id,
			   uint8_t *buf, size_t cap)
{
	uint8_t wire[DNAME_MAX];
	int wl = dname_from_text(qname, strlen(qname), wire);

	if (wl <= 0 || cap < 12 + (size_t)wl + 4)
		return 0;
	memset(buf, 0, 12);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = rd ? 0x01 : 0x00; /* opcode QUERY; RD only for the tier canary */
	buf[5] = 1;                /* QDCOUNT */
	memcpy(buf + 12, wire, (size_t)wl);
	buf[12 + wl] = (uint8_t)(qtype >> 8);
	buf[13 + wl] = (uint8_t)qtype;
	buf[14 + wl] = 0;
	buf[15 + wl] = 1; /* IN */
	return 12 + (size_t)wl + 4;
}

/* Skip a (possibly compressed) name; returns the offset after it or 0. */
static size_t skip_name(const uint8_t *p, size_t len, size_t off)
{
	while (off < len) {
		uint8_t l = p[off];
		if (l == 0)
			return off + 1;
		if ((l & 0xc0) == 0xc0)
			return off + 2 <= len ? off + 2 : 0;
		if (l & 0xc0)
			return 0;
		off += 1u + l;
	}
	return 0;
}

void health_canary_parse(const uint8_t *pkt, size_t len, uint16_t id, uint16_t qtype,
			 struct health_answer *a)
{
	size_t off = 12;
	unsigned qd, an;

	memset(a, 0, sizeof(*a));
	a->err = GN_EINVAL;
	if (len < 12 || ((pkt[0] << 8) | pkt[1]) != id || !(pkt[2] & 0x80))
		return;
	a->rcode = pkt[3] & 0x0f;
	a->tc = (pkt[2] & 0x02) != 0;
	qd = (unsigned)(pkt[4] << 8 | pkt[5]);
	an = (unsigned)(pkt[6] << 8 | pkt[7]);
	for (unsigned i = 0; i < qd; i++) {
		if (!(off = skip_name(pkt, len, off)) || (off += 4) > len)
			return;
	}
	for (unsigned i = 0; i < an; i++) {
		uint16_t type, rdlen;
		if (!(off = skip_name(pkt, len, off)) || off + 10 > len)
			return;
		type = (uint16_t)(pkt[off] << 8 | pkt[off + 1]);
		rdlen = (uint16_t)(pkt[off + 8] << 8 | pkt[off + 9]);
		off += 10;
		if (off + rdlen > len)
			return;
		if (type == qtype)
			a->n_answer++;
		if (type == 1 && rdlen == 4 && pkt[off] == 127)
			a->n_a127++;
		off += rdlen;
	}
	/* A truncated UDP answer had data that did not fit. */
	if (a->tc && a->rcode == 0 && a->n_answer == 0)
		a->n_answer = 1;
	a->err = 0;
}

void health_canary_target(const struct addr *listen, struct addr *to)
{
	*to = *listen;
	if (!addr_is_wildcard(listen))
		return;
	/* A wildcard bind answers on loopback too; ask there. */
	if (to->u.sa.sa_family == AF_INET6)
		to->u.in6.sin6_addr = in6addr_loopback;
	else
		to->u.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void probe_fail_all(struct health_probe *p, size_t n, int err)
{
	for (size_t i = 0; i < n; i++)
		if (p[i].ans.err == GN_EBUSY)
			p[i].ans.err = err;
}

static int udp_chunk(const struct addr *to, struct health_probe *p, size_t n,
		     unsigned timeout_ms, uint16_t id0)
{
	struct pollfd pf[CANARY_UDP_CHUNK];
	uint64_t t0[CANARY_UDP_CHUNK];
	uint64_t deadline = canary_now_ns() + (uint64_t)timeout_ms * 1000000u;
	size_t open_n = 0;
	uint8_t buf[4096];

	for (size_t i = 0; i < n; i++) {
		size_t ql = health_canary_query(p[i].qname, p[i].qtype, p[i].rd,
						(uint16_t)(id0 + i), buf, sizeof(buf));
		pf[i].fd = -1;
		pf[i].events = POLLIN;
		p[i].ans.err = GN_EBUSY; /* until answered */
		if (!ql) {
			p[i].ans.err = GN_ERANGE; /* the name cannot be asked at all */
			continue;
		}
		/* A fresh socket (fresh source port) per probe: SO_REUSEPORT
		 * hashes flows, so one socket would only ever test one worker. */
		pf[i].fd = socket(to->u.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		t0[i] = canary_now_ns();
		if (pf[i].fd < 0 || connect(pf[i].fd, &to->u.sa, to->len) < 0 ||
		    send(pf[i].fd, buf, ql, 0) != (ssize_t)ql) {
			p[i].ans.err = -errno;
			if (pf[i].fd >= 0)
				close(pf[i].fd);
			pf[i].fd = -1;
			continue;
		}
		open_n++;
	}
	while (open_n > 0) {
		uint64_t now = canary_now_ns();
		int r;
		if (now >= deadline)
			break;
		r = poll(pf, n, (int)((deadline - now) / 1000000u) + 1);
		if (r < 0 && errno != EINTR)
			break;
		for (size_t i = 0; r > 0 && i < n; i++) {
			ssize_t got;
			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLERR)))
				continue;
			got = recv(pf[i].fd, buf, sizeof(buf), 0);
			if (got < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (got < 0) {
				p[i].ans.err = -errno; /* ECONNREFUSED: nobody on the port */
			} else {
				health_canary_parse(buf, (size_t)got, (uint16_t)(id0 + i),
						    p[i].qtype, &p[i].ans);
				if (p[i].ans.err == GN_EINVAL && got >= 2 &&
				    ((buf[0] << 8) | buf[1]) != (uint16_t)(id0 + i)) {
					p[i].ans.err = GN_EBUSY; /* not ours: keep waiting */
					continue;
				}
			}
			p[i].dur_ns = canary_now_ns() - t0[i];
			close(pf[i].fd);
			pf[i].fd = -1;
			open_n--;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (pf[i].fd >= 0) {
			close(pf[i].fd);
			p[i].dur_ns = (uint64_t)timeout_ms * 1000000u;
		}
	}
	return 0;
}

int health_canary_udp(const struct addr *to, struct health_probe *p, size_t n,
		      unsigned timeout_ms)
{
	uint16_t id0 = (uint16_t)(canary_now_ns() >> 10);

	for (size_t i = 0; i < n; i += CANARY_UDP_CHUNK) {
		size_t k = n - i < CANARY_UDP_CHUNK ? n - i : CANARY_UDP_CHUNK;
		udp_chunk(to, p + i, k, timeout_ms, (uint16_t)(id0 + i));
	}
	return 0;
}

/* Wait for `ev` on fd until the deadline: 1 ready, 0 timeout, <0 error. */
static int wait_fd(int fd, short ev, uint64_t deadline)
{
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = ev };
		uint64_t now = canary_now_ns();
		int r;
		if (now >= deadline)
			return 0;
		r = poll(&pf, 1, (int)((deadline - now) / 1000000u) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			return 1;
	}
}

int health_canary_tcp(const struct addr *to, struct health_probe *p, size_t n,
		      unsigned timeout_ms)
{
	uint64_t t0 = canary_now_ns();
	uint64_t deadline = t0 + (uint64_t)timeout_ms * 1000000u;
	uint16_t id0 = (uint16_t)(t0 >> 10);
	uint8_t *out = NULL, rbuf[65537 + 2];
	size_t olen = 0, rlen = 0, left = 0, sent = 0;
	int fd = -1, ret = 0, r;

	for (size_t i = 0; i < n; i++)
		p[i].ans.err = GN_EBUSY;
	if (!(out = malloc(n * 320 + 1))) {
		probe_fail_all(p, n, GN_ENOMEM);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		size_t ql = health_canary_query(p[i].qname, p[i].qtype, p[i].rd,
						(uint16_t)(id0 + i), out + olen + 2, 318);
		if (!ql) {
			p[i].ans.err = GN_ERANGE; /* the name cannot be asked at all */
			continue;
		}
		out[olen] = (uint8_t)(ql >> 8);
		out[olen + 1] = (uint8_t)ql;
		olen += 2 + ql;
		left++;
	}
	fd = socket(to->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, &to->u.sa, to->len) < 0 && errno != EINPROGRESS)) {
		probe_fail_all(p, n, -errno);
		goto out;
	}
	while (sent < olen) {
		ssize_t w;
		if ((r = wait_fd(fd, POLLOUT, deadline)) <= 0) {
			if (r < 0)
				probe_fail_all(p, n, r);
			goto out;
		}
		w = send(fd, out + sent, olen - sent, MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			probe_fail_all(p, n, -errno);
			goto out;
		}
		if (w > 0)
			sent += (size_t)w;
	}
	/* Answers come in the order asked (RFC 7766 allows any order; we
	 * match by ID anyway). */
	while (left > 0) {
		ssize_t got;
		if ((r = wait_fd(fd, POLLIN, deadline)) <= 0) {
			if (r < 0)
				probe_fail_all(p, n, r);
			goto out;
		}
		got = recv(fd, rbuf + rlen, sizeof(rbuf) - rlen, 0);
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got <= 0) {
			probe_fail_all(p, n, got == 0 ? -ECONNRESET : -errno);
			goto out;
		}
		rlen += (size_t)got;
		while (rlen >= 2) {
			size_t ml = (size_t)(rbuf[0] << 8 | rbuf[1]);
			uint16_t id;
			if (rlen < 2 + ml)
				break;
			id = ml >= 2 ? (uint16_t)(rbuf[2] << 8 | rbuf[3]) : 0;
			for (size_t i = 0; i < n; i++) {
				if ((uint16_t)(id0 + i) != id || p[i].ans.err != GN_EBUSY)
					continue;
				health_canary_parse(rbuf + 2, ml, id, p[i].qtype, &p[i].ans);
				p[i].dur_ns = canary_now_ns() - t0;
				left--;
				break;
			}
			memmove(rbuf, rbuf + 2 + ml, rlen - 2 - ml);
			rlen -= 2 + ml;
		}
	}
out:
	for (size_t i = 0; i < n; i++)
		if (p[i].ans.err == GN_EBUSY)
			p[i].dur_ns = (uint64_t)timeout_ms * 1000000u;
	if (fd >= 0)
		close(fd);
	free(out);
	return ret;
}
