/* resolver/server_udp.c - UDP: recvmmsg a batch, answer it inside one
 * snapshot view, sendmmsg the answers.
 *
 * All buffers are allocated once per worker (server_udp_init); the query
 * path does not allocate.  A wildcard-bound socket (0.0.0.0, ::) receives
 * the query's destination address as packet info and replies from it, so
 * a multi-homed host never answers from the "wrong" address (clients drop
 * such answers, which would look exactly like a dead resolver).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "common/err.h"
#include "common/log.h"
#include "resolver/rrl.h"
#include "resolver/server_int.h"

/* Batches read per wake-up before yielding to the other sockets (TCP). */
#define UDP_ROUNDS 8

/* Room for one IPv4 or IPv6 packet-info control message. */
#define UDP_CTRL CMSG_SPACE(sizeof(struct in6_pktinfo))
union udp_ctrl {
	struct cmsghdr align;
	uint8_t buf[UDP_CTRL];
};

_Static_assert(sizeof(union udp_ctrl) <= sizeof(((struct rec_reply *)0)->ctrl),
	       "rec_reply.ctrl must hold a packet-info control message");

struct udp_batch {
	unsigned n;                      /* slots */
	size_t resp_cap;                 /* edns payload */
	struct mmsghdr *in, *out;
	struct iovec *iov_in, *iov_out;
	struct sockaddr_storage *peer;
	union udp_ctrl *ctrl_in, *ctrl_out;
	uint8_t *qbuf;                   /* n x SERVER_QUERY_MAX */
	uint8_t *rbuf;                   /* n x resp_cap */
	int armed_pktinfo;               /* in[] set up for this pktinfo; -1 = not yet */
	unsigned used;                   /* in[0..used) were written by the last recvmmsg */
};

int server_udp_init(struct worker *w)
{
	struct udp_batch *b;
	unsigned n = w->srv->o.udp_batch ? w->srv->o.udp_batch : 1;

	b = calloc(1, sizeof(*b));
	if (!b)
		return GN_ENOMEM;
	w->batch = b;
	b->n = n;
	b->resp_cap = w->srv->o.edns_payload;
	b->armed_pktinfo = -1;
	b->in = calloc(n, sizeof(*b->in));
	b->out = calloc(n, sizeof(*b->out));
	b->iov_in = calloc(n, sizeof(*b->iov_in));
	b->iov_out = calloc(n, sizeof(*b->iov_out));
	b->peer = calloc(n, sizeof(*b->peer));
	b->ctrl_in = calloc(n, sizeof(*b->ctrl_in));
	b->ctrl_out = calloc(n, sizeof(*b->ctrl_out));
	b->qbuf = malloc((size_t)n * SERVER_QUERY_MAX);
	b->rbuf = malloc((size_t)n * b->resp_cap);
	if (!b->in || !b->out || !b->iov_in || !b->iov_out || !b->peer || !b->ctrl_in ||
	    !b->ctrl_out || !b->qbuf || !b->rbuf)
		return GN_ENOMEM; /* server_udp_deinit frees the rest */
	{
		int err;
		/* The rate-limit table is allocated here, once: none per query. */
		w->rrl = rrl_new(w->srv->o.rrl, &err);
		if (err < 0)
			return err;
	}
	return 0;
}

void server_udp_deinit(struct worker *w)
{
	struct udp_batch *b = w->batch;

	if (!b)
		return;
	free(b->in);
	free(b->out);
	free(b->iov_in);
	free(b->iov_out);
	free(b->peer);
	free(b->ctrl_in);
	free(b->ctrl_out);
	free(b->qbuf);
	free(b->rbuf);
	free(b);
	w->batch = NULL;
	rrl_free(w->rrl);
	w->rrl = NULL;
}

/* Turn the received packet info into the control message that makes the
 * kernel send the reply from the address the query was sent to.  Returns
 * the control length (0 when the query carried none). */
static size_t udp_reply_ctrl(const struct msghdr *in, union udp_ctrl *out)
{
	struct cmsghdr *c, *o;
	struct msghdr m = { .msg_control = out->buf, .msg_controllen = sizeof(out->buf) };

	memset(out, 0, sizeof(*out));
	o = CMSG_FIRSTHDR(&m);
	for (c = CMSG_FIRSTHDR((struct msghdr *)in); c; c = CMSG_NXTHDR((struct msghdr *)in, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			pi.ipi_spec_dst = pi.ipi_addr; /* source of the reply */
			pi.ipi_ifindex = 0;            /* let routing pick the interface */
			o->cmsg_level = IPPROTO_IP;
			o->cmsg_type = IP_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(o), &pi, sizeof(pi));
			return CMSG_SPACE(sizeof(pi));
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			/* Keep the interface: link-local sources need it. */
			o->cmsg_level = IPPROTO_IPV6;
			o->cmsg_type = IPV6_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(o), &pi, sizeof(pi));
			return CMSG_SPACE(sizeof(pi));
		}
	}
	return 0;
}

/* Make in[] ready for the next recvmmsg.  The whole array is set up only
 * when the socket's kind changes (packet info or not); otherwise only the
 * slots the last recvmmsg wrote are re-armed: at moderate load a wake-up
 * reads one or two datagrams, and re-arming all udp.batch slots every time
 * was ~20 instructions per slot (~640 per wake-up at 32) spent for nothing. */
static void udp_prepare(struct udp_batch *b, bool pktinfo)
{
	if (b->armed_pktinfo != (int)pktinfo) {
		for (unsigned i = 0; i < b->n; i++) {
			struct msghdr *h = &b->in[i].msg_hdr;
			b->iov_in[i].iov_base = b->qbuf + (size_t)i * SERVER_QUERY_MAX;
			b->iov_in[i].iov_len = SERVER_QUERY_MAX;
			h->msg_name = &b->peer[i];
			h->msg_iov = &b->iov_in[i];
			h->msg_iovlen = 1;
			h->msg_control = pktinfo ? b->ctrl_in[i].buf : NULL;
		}
		b->armed_pktinfo = (int)pktinfo;
		b->used = b->n;
	}
	/* What recvmmsg writes back: name and control lengths, flags, size. */
	for (unsigned i = 0; i < b->used; i++) {
		struct msghdr *h = &b->in[i].msg_hdr;
		h->msg_namelen = sizeof(b->peer[i]);
		h->msg_controllen = pktinfo ? sizeof(b->ctrl_in[i].buf) : 0;
		h->msg_flags = 0;
		b->in[i].msg_len = 0;
	}
	b->used = 0;
}

/* Send out[0..k); a failed datagram is counted and skipped, the rest go. */
static void udp_send(struct worker *w, struct udp_sock *u, struct udp_batch *b, unsigned k)
{
	unsigned sent = 0;
	uint64_t ok = 0;

	while (sent < k) {
		int r = sendmmsg(u->fd, b->out + sent, k - sent, MSG_DONTWAIT);
		if (r > 0) {
			sent += (unsigned)r;
			ok += (uint64_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		server_log_limited(1, "udp: sendmmsg failed: %s (answer dropped)",
				   r < 0 ? strerror(errno) : "no progress");
		server_stat_add(&w->stats.drop[DROP_UDP_SEND], 1);
		sent++;
	}
	server_stat_add(&w->stats.udp_tx, ok);
}

void server_udp_deliver(struct worker *w, const struct rec_reply *to, const uint8_t *pkt,
			size_t len)
{
	struct iovec iov = { (void *)pkt, len };
	struct msghdr m = {
		.msg_name = (void *)&to->peer, .msg_namelen = to->peer_len,
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = to->ctrl_len ? (void *)to->ctrl : NULL,
		.msg_controllen = to->ctrl_len,
	};
	ssize_t r;

	do
		r = sendmsg(to->fd, &m, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		server_log_limited(1, "udp: sendmsg of an upstream answer failed: %s",
				   strerror(errno));
		server_stat_add(&w->stats.deferred_lost, 1);
		return;
	}
	server_stat_add(&w->stats.udp_tx, 1);
	server_stat_add(&w->stats.deferred_sent, 1);
}

/* Response-rate limiting, applied to answers we are about to send over
 * UDP (only there: a spoofed source cannot complete a TCP handshake).
 * Returns false when the answer must be dropped; a slipped answer is cut
 * down to an empty truncated one in place. */
static bool udp_rrl_pass(struct worker *w, const struct sockaddr *peer, uint8_t *resp,
			 size_t *len)
{
	uint64_t now_ms = (uint64_t)(ev_now(w->loop) * 1000.0);
	size_t tl;

	switch (rrl_check(w->rrl, peer, resp[3] & 0x0f, now_ms)) {
	case RRL_PASS:
		return true;
	case RRL_SLIP:
		if ((tl = rrl_truncate(resp, *len)) != 0) {
			*len = tl;
			server_stat_add(&w->stats.rrl_slipped, 1);
			return true;
		}
		break;
	case RRL_DROP:
		break;
	}
	server_stat_add(&w->stats.rrl_dropped, 1);
	return false;
}

void server_udp_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct udp_sock *u = io->data;
	struct worker *w = u->w;
	struct udp_batch *b = w->batch;

	for (int round = 0; round < UDP_ROUNDS; round++) {
		struct answer_ctx *ctx;
		struct answer_handoff ho;
		unsigned k = 0;
		uint64_t clk = 0; /* end of the previous local answer (server_answer_local) */
		int n;

		udp_prepare(b, u->pktinfo);
		n = recvmmsg(u->fd, b->in, b->n, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				/* Whatever it may have written: re-arm every slot. */
				b->used = b->n;
				server_log_limited(2, "udp: recvmmsg failed: %s", strerror(errno));
			}
			return;
		}
		if (n == 0)
			return;
		b->used = (unsigned)n;
		server_stat_add(&w->stats.udp_rx, (uint64_t)n);
		server_stat_add(&w->stats.udp_batches, 1);
		ctx = server_worker_ctx(w);
		/* One snapshot view for the whole batch: one renew instead of n.
		 * A failed begin is handled by the engine (SERVFAIL, never
		 * "not listed"), so the queries are still answered. */
		if (ctx)
			(void)answer_batch_begin(ctx);
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &b->in[i].msg_hdr;
			uint8_t *resp = b->rbuf + (size_t)k * b->resp_cap;
			size_t len;

			if (h->msg_flags & MSG_TRUNC) {
				server_stat_add(&w->stats.drop[DROP_UDP_OVERSIZE], 1);
				continue;
			}
			len = server_answer_local(w, b->iov_in[i].iov_base, b->in[i].msg_len, resp,
						  b->resp_cap, ANSWER_UDP,
						  (struct sockaddr *)&b->peer[i], &ho, &clk);
			if (ho.upstream) {
				struct rec_reply to;
				/* The cache or the tiers are not the next lookup's time. */
				clk = 0;
				to.fd = u->fd;
				memcpy(&to.peer, &b->peer[i], sizeof(to.peer));
				to.peer_len = h->msg_namelen;
				to.ctrl_len = u->pktinfo ? udp_reply_ctrl(h, (union udp_ctrl *)to.ctrl) : 0;
				to.conn = NULL;
				len = server_answer_upstream(w, &ho, &to, resp, b->resp_cap, ANSWER_UDP);
				if (len == 0)
					continue; /* answered later by server_udp_deliver */
			}
			if (len == 0 || len > b->resp_cap) {
				/* zone-acl "ignore" is a decision the engine counts. */
				if (w->ignored != b->iov_in[i].iov_base)
					server_stat_add(&w->stats.drop[DROP_MALFORMED], 1);
				continue;
			}
			if (w->rrl && !udp_rrl_pass(w, (struct sockaddr *)&b->peer[i], resp, &len))
				continue;
			b->iov_out[k].iov_base = resp;
			b->iov_out[k].iov_len = len;
			memset(&b->out[k], 0, sizeof(b->out[k]));
			b->out[k].msg_hdr.msg_name = &b->peer[i];
			b->out[k].msg_hdr.msg_namelen = h->msg_namelen;
			b->out[k].msg_hdr.msg_iov = &b->iov_out[k];
			b->out[k].msg_hdr.msg_iovlen = 1;
			if (u->pktinfo) {
				size_t cl = udp_reply_ctrl(h, &b->ctrl_out[k]);
				b->out[k].msg_hdr.msg_control = cl ? b->ctrl_out[k].buf : NULL;
				b->out[k].msg_hdr.msg_controllen = cl;
			}
			k++;
		}
		if (ctx)
			answer_batch_end(ctx);
		if (k)
			udp_send(w, u, b, k);
		if ((unsigned)n < b->n)
			return; /* drained */
	}
}
