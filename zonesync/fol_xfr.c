/* zonesync/fol_xfr.c - one AXFR (RFC 5936) or IXFR (RFC 1995) exchange over
 * TCP, as a client.
 *
 * The exchange is blocking with poll(2) deadlines and runs on the follower's
 * worker thread, so the event loop never waits for it.  Every message must
 * carry a valid TSIG when the primary has a key (tsig.h: an unsigned message
 * in between could carry spliced records).  Messages are decoded with ldns
 * (name decompression of every known type); each answer record goes to the
 * caller's callback tagged FULL / DEL / ADD while the SOA framing is checked:
 *   AXFR:  SOA(S) records... SOA(S)
 *   IXFR:  SOA(S)                              we are current (or newer)
 *          SOA(S) SOA(ours) dels SOA(n1) adds ... SOA(S) adds SOA(S)
 *          SOA(S) records... SOA(S)            AXFR-style answer
 * A stream that ends before its closing SOA is TRUNCATED: nothing of it may
 * be applied.
 */
#include <errno.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/cdb.h"
#include "zonesync/fol.h"

#define XT_SOA 6
#define XT_AXFR 252
#define XT_IXFR 251
#define XFR_MSG_MAX 65535

enum xst { ST_FIRST, ST_SECOND, ST_FULL, ST_DEL, ST_ADD, ST_DONE };

struct xrun {
	const struct fol_xfr_req *q;
	struct fol_xfr_res *res;
	int fd;
	int64_t deadline_ms;         /* whole exchange */
	enum xst st;
	uint32_t cur;                /* IXFR: version the deltas reached */
	uint8_t first_owner[DNAME_MAX];
	uint8_t first_rd[2 * DNAME_MAX + 20];
	struct xform_rr first;       /* the opening SOA, kept across messages */
	ldns_buffer *rdbuf;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fail(struct xrun *x, enum fol_reason r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct xrun *x, enum fol_reason r, const char *fmt, ...)
{
	va_list ap;
	if (x->res->reason != FOL_OK)
		return; /* the first reason is the one that explains */
	x->res->reason = r;
	va_start(ap, fmt);
	vsnprintf(x->res->why, sizeof(x->res->why), fmt, ap);
	va_end(ap);
}

/* Wait for `ev` on the socket: 1 ready, 0 timed out, <0 error. */
static int xwait(struct xrun *x, short ev)
{
	int64_t t = now_ms(), left = x->deadline_ms - t;
	int ms = (int)x->q->timeout_s * 1000;
	struct pollfd p = { .fd = x->fd, .events = ev };
	int r;

	if (left <= 0)
		return 0;
	if (ms > left)
		ms = (int)left;
	do {
		r = poll(&p, 1, ms);
	} while (r < 0 && errno == EINTR);
	return r;
}

static int xconnect(struct xrun *x)
{
	const struct addr *a = &x->q->prim->addr;
	int err = 0, r;
	socklen_t el = sizeof(err);

	x->fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->fd < 0) {
		fail(x, FOL_R_NETWORK, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(x->fd, &a->u.sa, a->len) == 0)
		return 0;
	if (errno != EINPROGRESS) {
		fail(x, FOL_R_NETWORK, "connect: %s", strerror(errno));
		return -1;
	}
	if ((r = xwait(x, POLLOUT)) <= 0) {
		fail(x, r == 0 ? FOL_R_TIMEOUT : FOL_R_NETWORK, "connect: %s",
		     r == 0 ? "timed out" : strerror(errno));
		return -1;
	}
	if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
		fail(x, FOL_R_NETWORK, "connect: %s", strerror(err ? err : errno));
		return -1;
	}
	return 0;
}

static int xwrite(struct xrun *x, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(x->fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			fail(x, FOL_R_NETWORK, "send: %s", strerror(errno));
			return -1;
		}
		if (xwait(x, POLLOUT) <= 0) {
			fail(x, FOL_R_TIMEOUT, "send timed out");
			return -1;
		}
	}
	return 0;
}

/* Read exactly n octets.  1 ok, 0 clean EOF before the first octet, -1 error. */
static int xread(struct xrun *x, uint8_t *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(x->fd, p + got, n - got, 0);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0) {
			if (got == 0)
				return 0;
			fail(x, FOL_R_TRUNCATED, "connection closed in the middle of a message");
			return -1;
		}
		if (errno != EAGAIN && errno != EINTR) {
			fail(x, FOL_R_NETWORK, "recv: %s", strerror(errno));
			return -1;
		}
		if (xwait(x, POLLIN) <= 0) {
			fail(x, FOL_R_TIMEOUT, "no data for %u s", x->q->timeout_s);
			return -1;
		}
	}
	return 1;
}

static size_t put_name(uint8_t *p, const uint8_t *w)
{
	int n = dname_wire_len(w);
	memcpy(p, w, (size_t)n);
	return (size_t)n;
}

/* The query, signed when the primary has a key. */
static int xquery(struct xrun *x, struct tsig_ctx *tc, uint16_t id)
{
	uint8_t buf[2 + 1024], *m = buf + 2;
	size_t n = 12;
	const struct fol_xfr_req *q = x->q;

	memset(m, 0, 12);
	m[0] = (uint8_t)(id >> 8);
	m[1] = (uint8_t)id;
	m[5] = 1; /* QDCOUNT */
	n += put_name(m + n, q->apex);
	m[n++] = 0;
	m[n++] = q->kind == FOL_K_IXFR ? XT_IXFR : XT_AXFR;
	m[n++] = 0;
	m[n++] = 1;
	if (q->kind == FOL_K_IXFR) {
		/* RFC 1995 section 3: our version as an SOA in the authority
		 * section; only its serial matters. */
		static const uint8_t tail[] = { 0, XT_SOA, 0, 1, 0, 0, 0, 0, 0, 22, 0, 0 };
		m[9] = 1; /* NSCOUNT */
		n += put_name(m + n, q->apex);
		memcpy(m + n, tail, sizeof(tail));
		n += sizeof(tail);
		m[n++] = (uint8_t)(q->serial >> 24);
		m[n++] = (uint8_t)(q->serial >> 16);
		m[n++] = (uint8_t)(q->serial >> 8);
		m[n++] = (uint8_t)q->serial;
		memset(m + n, 0, 16);
		n += 16;
	}
	if (q->prim->key && tsig_sign_query(tc, m, &n, sizeof(buf) - 2, (uint64_t)time(NULL)) < 0) {
		fail(x, FOL_R_TSIG, "cannot sign the query");
		return -1;
	}
	buf[0] = (uint8_t)(n >> 8);
	buf[1] = (uint8_t)n;
	return xwrite(x, buf, n + 2);
}

static uint32_t soa_serial(const struct xform_rr *rr)
{
	const uint8_t *p = rr->rdata + rr->rdlen - 20;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int is_apex_soa(const struct xrun *x, const struct xform_rr *rr)
{
	return rr->type == XT_SOA && rr->rdlen >= 22 && dname_wire_equal(rr->owner, x->q->apex);
}

static int emit(struct xrun *x, enum fol_xev ev, const struct xform_rr *rr)
{
	int r = x->q->cb(x->q->arg, ev, rr);
	if (r)
		fail(x, FOL_R_MALFORMED, "receiver stopped the transfer (%d)", r);
	return r;
}

/* The SOA framing state machine; one record at a time. */
static int feed(struct xrun *x, const struct xform_rr *rr)
{
	const struct fol_xfr_req *q = x->q;
	int soa = is_apex_soa(x, rr);
	uint32_t s = soa ? soa_serial(rr) : 0;

	switch (x->st) {
	case ST_FIRST:
		if (!soa || rr->rdlen > sizeof(x->first_rd)) {
			fail(x, FOL_R_MALFORMED, "the answer does not start with the zone's SOA");
			return -1;
		}
		x->res->serial = s;
		memcpy(x->first_owner, rr->owner, rr->owner_len);
		memcpy(x->first_rd, rr->rdata, rr->rdlen);
		x->first = *rr;
		x->first.owner = x->first_owner;
		x->first.rdata = x->first_rd;
		if (q->kind == FOL_K_IXFR && !cdb_serial_gt(s, q->serial)) {
			x->res->uptodate = true;
			x->st = ST_DONE;
			return 0;
		}
		if (q->kind == FOL_K_AXFR) {
			x->st = ST_FULL;
			return emit(x, FOL_X_FULL, rr);
		}
		x->st = ST_SECOND;
		return 0;
	case ST_SECOND:
		if (soa && s == q->serial) {
			x->res->incremental = true;
			x->cur = s;
			x->st = ST_DEL;
			return emit(x, FOL_X_DEL, rr);
		}
		x->st = ST_FULL;
		if (emit(x, FOL_X_FULL, &x->first))
			return -1;
		return feed(x, rr);
	case ST_FULL:
		if (soa) {
			if (s != x->res->serial) {
				fail(x, FOL_R_MALFORMED, "closing SOA serial %u differs from the opening %u",
				     s, x->res->serial);
				return -1;
			}
			x->st = ST_DONE;
			return 0;
		}
		return emit(x, FOL_X_FULL, rr);
	case ST_DEL:
		if (soa) {
			if (!cdb_serial_gt(s, x->cur)) {
				fail(x, FOL_R_MALFORMED, "IXFR delta goes from %u to %u (not newer)",
				     x->cur, s);
				return -1;
			}
			x->cur = s;
			x->st = ST_ADD;
			return emit(x, FOL_X_ADD, rr);
		}
		return emit(x, FOL_X_DEL, rr);
	case ST_ADD:
		if (soa) {
			if (s == x->res->serial && x->cur == s) {
				x->st = ST_DONE;
				return 0;
			}
			if (s != x->cur) {
				fail(x, FOL_R_MALFORMED, "IXFR delta starts at %u, expected %u", s, x->cur);
				return -1;
			}
			x->st = ST_DEL;
			return emit(x, FOL_X_DEL, rr);
		}
		return emit(x, FOL_X_ADD, rr);
	case ST_DONE:
		fail(x, FOL_R_MALFORMED, "records after the closing SOA");
		return -1;
	}
	return -1;
}

/* One message's answer section through feed(). */
static int xmessage(struct xrun *x, const uint8_t *m, size_t n)
{
	ldns_pkt *pkt = NULL;
	ldns_rr_list *an;
	int ret = 0;

	if (ldns_wire2pkt(&pkt, m, n) != LDNS_STATUS_OK) {
		fail(x, FOL_R_MALFORMED, "undecodable message");
		return -1;
	}
	an = ldns_pkt_answer(pkt);
	for (size_t i = 0; an && i < ldns_rr_list_rr_count(an) && ret == 0; i++) {
		ldns_rr *r = ldns_rr_list_rr(an, i);
		const ldns_rdf *o = ldns_rr_owner(r);
		struct xform_rr rr = { 0 };
		if (ldns_rr_get_class(r) != LDNS_RR_CLASS_IN || ldns_rdf_size(o) > DNAME_MAX) {
			fail(x, FOL_R_MALFORMED, "a record of class %u or with a bad owner",
			     (unsigned)ldns_rr_get_class(r));
			ret = -1;
			break;
		}
		ldns_buffer_clear(x->rdbuf);
		if (ldns_rr_rdata2buffer_wire(x->rdbuf, r) != LDNS_STATUS_OK ||
		    ldns_buffer_position(x->rdbuf) > 65535) {
			fail(x, FOL_R_MALFORMED, "a record's data cannot be encoded");
			ret = -1;
			break;
		}
		rr.owner = ldns_rdf_data(o);
		rr.owner_len = (uint8_t)ldns_rdf_size(o);
		rr.type = (uint16_t)ldns_rr_get_type(r);
		rr.rclass = XFORM_CLASS_IN;
		rr.ttl = ldns_rr_ttl(r);
		rr.rdlen = (uint16_t)ldns_buffer_position(x->rdbuf);
		rr.rdata = ldns_buffer_begin(x->rdbuf);
		ret = feed(x, &rr);
	}
	ldns_pkt_free(pkt);
	return ret;
}

/* Keep the largest clock skew of the exchange whose time can be trusted:
 * a verified MAC (tsig.c checks the time after the MAC, so a BADTIME it
 * finds is authentic), or the primary's own BADTIME answer.  A BADSIG or
 * BADKEY message's time proves nothing. */
static void note_skew(struct fol_xfr_res *res, const struct tsig_ctx *tc, int verified)
{
	int64_t a, b;

	if (!tc->skew_seen || (verified < 0 && tc->error != TSIG_BADTIME))
		return;
	if (verified < 0)
		res->badtime = true;
	a = tc->skew < 0 ? -tc->skew : tc->skew;
	b = res->skew < 0 ? -res->skew : res->skew;
	if (!res->skew_seen || a > b)
		res->skew = tc->skew;
	res->skew_seen = true;
}

int fol_xfr_run(const struct fol_xfr_req *q, struct fol_xfr_res *res)
{
	struct xrun x = { .q = q, .res = res, .fd = -1 };
	struct tsig_ctx tc;
	uint8_t *msg = NULL, lb[2];
	uint16_t id;
	unsigned n_msgs = 0;
	int ret = 0;

	memset(res, 0, sizeof(*res));
	/* a trickling primary cannot hold the worker forever */
	x.deadline_ms = now_ms() + (int64_t)(q->timeout_s < 30 ? 600 : q->timeout_s * 20) * 1000;
	tsig_ctx_init(&tc, q->prim->key, 0);
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint16_t)(now_ms() ^ getpid());
	if (!(msg = malloc(XFR_MSG_MAX)) || !(x.rdbuf = ldns_buffer_new(4096))) {
		ret = GN_ENOMEM;
		goto out;
	}
	if (xconnect(&x) < 0 || xquery(&x, &tc, id) < 0)
		goto out;
	while (x.st != ST_DONE) {
		size_t len;
		int r;
		/* a primary that streams without end (empty messages never reach
		 * xfr-max-records) meets the whole-transfer deadline here */
		if (now_ms() > x.deadline_ms) {
			fail(&x, FOL_R_TIMEOUT, "transfer still running after its deadline");
			goto out;
		}
		r = xread(&x, lb, 2);
		if (r == 0) {
			fail(&x, n_msgs ? FOL_R_TRUNCATED : FOL_R_NETWORK, "%s",
			     n_msgs ? "the primary closed the connection before the closing SOA"
				    : "the primary closed the connection without answering");
			goto out;
		}
		if (r < 0)
			goto out;
		len = (size_t)lb[0] << 8 | lb[1];
		if (len < 12) {
			fail(&x, FOL_R_MALFORMED, "message of %zu octets", len);
			goto out;
		}
		if (xread(&x, msg, len) != 1) {
			fail(&x, FOL_R_TRUNCATED, "connection closed in the middle of a message");
			goto out;
		}
		n_msgs++;
		res->bytes += len + 2;
		if ((msg[0] << 8 | msg[1]) != id || !(msg[2] & 0x80)) {
			fail(&x, FOL_R_MALFORMED, "reply with a wrong id or not a response");
			goto out;
		}
		if (q->prim->key) {
			int v = tsig_verify_reply(&tc, msg, len, (uint64_t)time(NULL), NULL);
			note_skew(res, &tc, v);
			if (v < 0) {
				fail(&x, FOL_R_TSIG, "TSIG %s on message %u: %s%s",
				     tsig_error_name(tc.error), n_msgs, tc.reason ? tc.reason : "failed",
				     tc.error == TSIG_BADTIME ? " (check NTP on both hosts)" : "");
				goto out;
			}
		}
		res->rcode = msg[3] & 15;
		if (res->rcode) {
			fail(&x, FOL_R_REFUSED, "the primary answered rcode %u (%s)", res->rcode,
			     res->rcode == 5 ? "REFUSED" : res->rcode == 9 ? "NOTAUTH" :
			     res->rcode == 4 ? "NOTIMP" : res->rcode == 2 ? "SERVFAIL" : "error");
			goto out;
		}
		if (msg[2] & 0x02) {
			fail(&x, FOL_R_MALFORMED, "truncated (TC) reply over TCP");
			goto out;
		}
		if (xmessage(&x, msg, len) < 0)
			goto out;
	}
out:
	if (x.fd >= 0)
		close(x.fd);
	ldns_buffer_free(x.rdbuf);
	free(msg);
	if (ret == 0 && res->reason == FOL_OK && x.st != ST_DONE)
		fail(&x, FOL_R_TRUNCATED, "transfer incomplete");
	return ret;
}
