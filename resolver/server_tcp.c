/* resolver/server_tcp.c - DNS over TCP (RFC 7766) for one worker.
 *
 * Each connection gets its buffers once, at accept: a read buffer that
 * holds at least one whole query plus what pipelined after it, and a write
 * buffer that always keeps room for one maximum-size answer before a query
 * is answered, so an answer is never truncated and never allocated.
 * Queries are answered in the order received.  When max-pipeline answers
 * are waiting, or the write buffer is full because the client does not
 * read, we stop reading from that client (backpressure) instead of
 * buffering without bound.
 *
 * Connections sit on a per-worker list ordered by last activity (a
 * complete query, or write progress): the idle sweep closes from the old
 * end, and over tcp.max-connections the oldest idle one makes room.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "resolver/server_int.h"

#define TCP_RBUF (2 * (2 + SERVER_QUERY_MAX))
#define TCP_WBUF (2 + SERVER_TCP_MSG_MAX + 16384)
#define TCP_ACCEPTS_PER_WAKEUP 64
#define TCP_EVICT_SCAN 8

struct tcp_conn {
	struct worker *w;
	int fd;
	ev_io rio, wio;
	struct tcp_conn *prev, *next; /* activity list, oldest first */
	ev_tstamp last;               /* last complete query or write progress */
	bool eof;                     /* peer shut down its sending side */
	size_t rlen;                  /* octets in rbuf */
	size_t woff, wlen;            /* unsent answers are wbuf[woff..wlen) */
	unsigned pending;             /* answers in wbuf since it was last empty */
	unsigned deferred;            /* queries waiting for an upstream answer */
	struct sockaddr_storage peer;
	uint8_t rbuf[TCP_RBUF];
	uint8_t wbuf[TCP_WBUF];
};

static void lru_unlink(struct worker *w, struct tcp_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		w->lru_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		w->lru_tail = c->prev;
	c->prev = c->next = NULL;
}

static void lru_append(struct worker *w, struct tcp_conn *c)
{
	c->prev = w->lru_tail;
	c->next = NULL;
	if (w->lru_tail)
		w->lru_tail->next = c;
	else
		w->lru_head = c;
	w->lru_tail = c;
}

static void tcp_touch(struct tcp_conn *c)
{
	struct worker *w = c->w;
	c->last = ev_now(w->loop);
	if (w->lru_tail != c) {
		lru_unlink(w, c);
		lru_append(w, c);
	}
}

static void tcp_close(struct tcp_conn *c, enum server_close why)
{
	struct worker *w = c->w;

	if (c->deferred)
		rec_cancel_conn(w->rec, c); /* their answers have nowhere to go */
	ev_io_stop(w->loop, &c->rio);
	ev_io_stop(w->loop, &c->wio);
	close(c->fd);
	lru_unlink(w, c);
	w->n_conn--;
	atomic_fetch_sub(&w->srv->tcp_open, 1);
	server_stat_add(&w->stats.closed[why], 1);
	free(c);
}

/* Idle: nothing half-read, nothing unsent; closing it loses no query. */
static bool tcp_is_idle(const struct tcp_conn *c)
{
	return c->rlen == 0 && c->woff == c->wlen && c->deferred == 0;
}

/* Write what we can.  Returns 0, or -1 after closing the connection. */
static int tcp_flush(struct tcp_conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			tcp_close(c, CLOSE_ERROR);
			return -1;
		}
		c->woff += (size_t)n;
		tcp_touch(c);
	}
	c->woff = c->wlen = 0;
	c->pending = 0;
	return 0;
}

/* Length prefix of the next query, or 0 when fewer than 2 octets wait. */
static size_t tcp_next_len(const struct tcp_conn *c, size_t off)
{
	if (c->rlen - off < 2)
		return 0;
	return (size_t)c->rbuf[off] << 8 | c->rbuf[off + 1];
}

/* True when rbuf holds a whole query that we have not answered yet. */
static bool tcp_query_waiting(const struct tcp_conn *c)
{
	size_t len = tcp_next_len(c, 0);
	return len && c->rlen >= 2 + len;
}

/* Answer the complete queries in rbuf, in order, while the pipeline and
 * the write buffer have room.  Returns the number answered or dropped,
 * or -1 after closing the connection for bad framing. */
static int tcp_process(struct tcp_conn *c)
{
	struct worker *w = c->w;
	struct answer_ctx *ctx = NULL;
	struct answer_handoff ho;
	bool begun = false;
	size_t off = 0;
	uint64_t clk = 0; /* end of the previous local answer (server_answer_local) */
	int done = 0;

	while (c->rlen - off >= 2) {
		size_t qlen = tcp_next_len(c, off), n;
		const uint8_t *q = c->rbuf + off + 2;
		uint8_t *resp;

		if (qlen < 12 || qlen > SERVER_QUERY_MAX) {
			/* The stream cannot be resynchronised after a bad length. */
			server_stat_add(&w->stats.drop[qlen < 12 ? DROP_TCP_BAD_LENGTH
								 : DROP_TCP_OVERSIZE], 1);
			if (begun)
				answer_batch_end(ctx);
			tcp_close(c, CLOSE_ERROR);
			return -1;
		}
		if (c->rlen - off - 2 < qlen)
			break; /* partial query: wait for more */
		if (c->pending + c->deferred >= w->srv->o.tcp_max_pipeline)
			break;
		if (TCP_WBUF - c->wlen < 2 + SERVER_TCP_MSG_MAX && c->woff > 0) {
			memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
			c->wlen -= c->woff;
			c->woff = 0;
			clk = 0; /* the copy is not the next lookup's time */
		}
		if (TCP_WBUF - c->wlen < 2 + SERVER_TCP_MSG_MAX)
			break; /* wait until the client reads its answers */
		if (!begun) {
			ctx = server_worker_ctx(w);
			if (ctx)
				(void)answer_batch_begin(ctx);
			begun = true;
		}
		resp = c->wbuf + c->wlen + 2;
		n = server_answer_local(w, q, qlen, resp, SERVER_TCP_MSG_MAX, ANSWER_TCP,
					(struct sockaddr *)&c->peer, &ho, &clk);
		if (ho.upstream) {
			struct rec_reply to = { .fd = -1, .conn = c };
			clk = 0; /* the cache or the tiers are not the next lookup's time */
			memcpy(&to.peer, &c->peer, sizeof(to.peer));
			to.peer_len = sizeof(c->peer);
			n = server_answer_upstream(w, &ho, &to, resp, SERVER_TCP_MSG_MAX, ANSWER_TCP);
			if (n == 0) {
				/* Answered later, possibly out of order (RFC 7766
				 * 7: clients match answers by ID). */
				c->deferred++;
				off += 2 + qlen;
				done++;
				server_stat_add(&w->stats.tcp_queries, 1);
				tcp_touch(c);
				continue;
			}
		}
		off += 2 + qlen;
		done++;
		server_stat_add(&w->stats.tcp_queries, 1);
		if (n == 0 || n > SERVER_TCP_MSG_MAX) {
			/* zone-acl "ignore" is a decision the engine counts. */
			if (w->ignored != q)
				server_stat_add(&w->stats.drop[DROP_MALFORMED], 1);
			continue;
		}
		c->wbuf[c->wlen] = (uint8_t)(n >> 8);
		c->wbuf[c->wlen + 1] = (uint8_t)n;
		c->wlen += 2 + n;
		c->pending++;
		server_stat_add(&w->stats.tcp_answers, 1);
		tcp_touch(c);
	}
	if (begun && ctx)
		answer_batch_end(ctx);
	if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	return done;
}

/* Answer, write, repeat while writing made room for queries already read;
 * then choose which events we wait for.  Returns -1 if c was closed. */
static int tcp_service(struct tcp_conn *c)
{
	struct ev_loop *loop = c->w->loop;
	bool want_read, want_write;
	int n;

	for (;;) {
		if ((n = tcp_process(c)) < 0)
			return -1;
		if (tcp_flush(c) < 0)
			return -1;
		/* Stop when nothing is left to answer, or when we are blocked
		 * on a client that does not read; otherwise the flush made
		 * room and the next round makes progress. */
		if (!tcp_query_waiting(c) || (n == 0 && c->woff < c->wlen))
			break;
	}
	want_write = c->woff < c->wlen;
	/* Read while not at EOF and not holding back an answerable query;
	 * the buffer always has room then (a partial query is < TCP_RBUF/2). */
	want_read = !c->eof && !tcp_query_waiting(c) && c->rlen < TCP_RBUF;
	if (c->eof && !want_write && !tcp_query_waiting(c) && c->deferred == 0) {
		tcp_close(c, CLOSE_PEER);
		return -1;
	}
	if (want_read && !ev_is_active(&c->rio))
		ev_io_start(loop, &c->rio);
	else if (!want_read && ev_is_active(&c->rio))
		ev_io_stop(loop, &c->rio);
	if (want_write && !ev_is_active(&c->wio))
		ev_io_start(loop, &c->wio);
	else if (!want_write && ev_is_active(&c->wio))
		ev_io_stop(loop, &c->wio);
	return 0;
}

static void tcp_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct tcp_conn *c = io->data;
	ssize_t n;

	if (c->rlen >= TCP_RBUF)
		return; /* cannot happen: reading pauses first; never mistake it for EOF */
	n = read(c->fd, c->rbuf + c->rlen, TCP_RBUF - c->rlen);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		tcp_close(c, CLOSE_ERROR);
		return;
	}
	if (n == 0) {
		/* Half-close is legal: answer what was sent, then close. */
		c->eof = true;
		if (c->rlen && !tcp_query_waiting(c))
			c->rlen = 0; /* a truncated last query can never complete */
	} else {
		c->rlen += (size_t)n;
	}
	(void)tcp_service(c);
}

static void tcp_write_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)tcp_service(io->data);
}

/* Make room for one more connection when the global cap is reached by
 * closing this worker's oldest idle connection.  Returns true on success. */
static bool tcp_evict(struct worker *w)
{
	struct tcp_conn *c = w->lru_head;

	for (int i = 0; c && i < TCP_EVICT_SCAN; i++, c = c->next)
		if (tcp_is_idle(c)) {
			tcp_close(c, CLOSE_EVICTED);
			return true;
		}
	/* None idle: a slowloris fills every slot with half-sent queries.
	 * The oldest one that owes its client nothing and has not finished a
	 * query for a second gives way, so a new client is not locked out
	 * for the whole idle timeout (only its partial query is lost). */
	c = w->lru_head;
	if (c && c->woff == c->wlen && c->deferred == 0 && ev_now(w->loop) - c->last > 1.0) {
		tcp_close(c, CLOSE_EVICTED);
		return true;
	}
	return false;
}

static void tcp_pause_accept(struct worker *w)
{
	for (size_t i = 0; i < w->srv->n_listen; i++)
		ev_io_stop(w->loop, &w->tcpl[i].io);
	if (!ev_is_active(&w->accept_resume))
		ev_timer_start(w->loop, &w->accept_resume);
}

void server_tcp_resume_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = t->data;
	for (size_t i = 0; i < w->srv->n_listen; i++)
		ev_io_start(loop, &w->tcpl[i].io);
}

void server_tcp_accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct tcp_listener *l = io->data;
	struct worker *w = l->w;
	struct server *s = w->srv;

	for (int i = 0; i < TCP_ACCEPTS_PER_WAKEUP; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		struct tcp_conn *c;
		int fd;

		fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			server_stat_add(&w->stats.drop[DROP_TCP_ACCEPT], 1);
			server_log_limited(3, "tcp: accept failed: %s%s; pausing accepts for 0.5 s",
					   strerror(errno), errno == EMFILE ?
					   " (raise the open files limit, LimitNOFILE=)" : "");
			/* The pending connection keeps the listener readable: stop
			 * watching it for a moment instead of spinning. */
			tcp_pause_accept(w);
			return;
		}
		if (atomic_fetch_add(&s->tcp_open, 1) >= s->o.tcp_max_conn) {
			atomic_fetch_sub(&s->tcp_open, 1);
			if (!tcp_evict(w)) {
				close(fd);
				server_stat_add(&w->stats.drop[DROP_TCP_LIMIT], 1);
				continue;
			}
			atomic_fetch_add(&s->tcp_open, 1);
		}
		c = malloc(sizeof(*c));
		if (!c) {
			atomic_fetch_sub(&s->tcp_open, 1);
			close(fd);
			server_stat_add(&w->stats.drop[DROP_TCP_ACCEPT], 1);
			continue;
		}
		/* Only the header is initialised; the buffers are written
		 * before they are read, and untouched pages cost no memory. */
		memset(c, 0, offsetof(struct tcp_conn, rbuf));
		c->w = w;
		c->fd = fd;
		memcpy(&c->peer, &peer, plen <= sizeof(peer) ? plen : sizeof(peer));
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		ev_io_init(&c->rio, tcp_read_cb, fd, EV_READ);
		ev_io_init(&c->wio, tcp_write_cb, fd, EV_WRITE);
		c->rio.data = c->wio.data = c;
		ev_io_start(loop, &c->rio);
		c->last = ev_now(loop);
		lru_append(w, c);
		w->n_conn++;
		server_stat_add(&w->stats.tcp_accepted, 1);
	}
}

void server_tcp_sweep_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = t->data;
	ev_tstamp limit = ev_now(loop) - w->srv->o.tcp_idle_ms / 1000.0;

	/* The list is ordered by activity, so stop at the first live one. */
	while (w->lru_head && w->lru_head->last <= limit)
		tcp_close(w->lru_head, CLOSE_IDLE);
}

void server_tcp_close_all(struct worker *w)
{
	while (w->lru_head)
		tcp_close(w->lru_head, CLOSE_SHUTDOWN);
}

void server_tcp_deliver(struct worker *w, void *conn, const uint8_t *pkt, size_t len)
{
	struct tcp_conn *c = conn;

	c->deferred--;
	if (TCP_WBUF - c->wlen < 2 + len && c->woff > 0) {
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
	}
	if (len > SERVER_TCP_MSG_MAX || TCP_WBUF - c->wlen < 2 + len) {
		/* The client stopped reading while its answer was upstream;
		 * the idle timeout will end it.  Counted, never silent. */
		server_stat_add(&w->stats.deferred_lost, 1);
	} else {
		c->wbuf[c->wlen] = (uint8_t)(len >> 8);
		c->wbuf[c->wlen + 1] = (uint8_t)len;
		memcpy(c->wbuf + c->wlen + 2, pkt, len);
		c->wlen += 2 + len;
		c->pending++;
		server_stat_add(&w->stats.tcp_answers, 1);
		server_stat_add(&w->stats.deferred_sent, 1);
		tcp_touch(c);
	}
	(void)tcp_service(c); /* flush, and read on if the pipeline has room */
}
