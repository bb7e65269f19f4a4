/* tools/tdns.c - pipelined UDP DNS client (see tdns.h for why it exists). */
#include "tools/tdns.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"

#define TDNS_EDNS_PAYLOAD 1232
#define TDNS_RECV_BURST 256 /* datagrams read per wake-up, bounded */

int64_t tdns_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void tdns_opts_default(struct tdns_opts *o)
{
	o->timeout_ms = 1000;
	o->tries = 2;
	o->inflight = 64;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

int tdns_build_query(const struct tdns_query *q, uint16_t id, uint8_t *buf, size_t cap)
{
	size_t need = 12 + (size_t)q->wlen + 4 + 11;

	if (q->wlen <= 0 || need > cap)
		return GN_ERANGE;
	memset(buf, 0, 12);
	put16(buf, id);
	buf[2] = 0x01; /* RD: the server is a resolver that asks the list for us */
	put16(buf + 4, 1);
	put16(buf + 10, 1); /* one OPT: a long TXT must fit in one datagram */
	memcpy(buf + 12, q->wire, (size_t)q->wlen);
	size_t off = 12 + (size_t)q->wlen;
	put16(buf + off, q->qtype);
	put16(buf + off + 2, 1); /* IN */
	off += 4;
	buf[off] = 0; /* root owner */
	put16(buf + off + 1, 41);
	put16(buf + off + 3, TDNS_EDNS_PAYLOAD);
	memset(buf + off + 5, 0, 6); /* extended rcode, version, flags, rdlen */
	return (int)need;
}

/* Skip a possibly compressed name at pkt[*off]; bounded by the label count
 * a 255-octet name can have. */
static int skip_name(const uint8_t *pkt, size_t len, size_t *off)
{
	size_t o = *off;

	for (int i = 0; i < 128; i++) {
		if (o >= len)
			return GN_EINVAL;
		uint8_t l = pkt[o];
		if (l == 0) {
			*off = o + 1;
			return 0;
		}
		if ((l & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return GN_EINVAL;
			*off = o + 2;
			return 0;
		}
		if (l & 0xc0)
			return GN_EINVAL;
		o += 1u + l;
	}
	return GN_EINVAL;
}

/* Append TXT character-strings to q->txt, joined by " | ", with
 * non-printable octets shown as '?' (it ends up on a terminal). */
static void add_txt(struct tdns_query *q, const uint8_t *rd, size_t rdlen)
{
	size_t used = strlen(q->txt);
	size_t i = 0;

	if (used && used + 3 < sizeof(q->txt)) {
		memcpy(q->txt + used, " | ", 3);
		used += 3;
	}
	while (i < rdlen) {
		size_t sl = rd[i++];
		for (size_t k = 0; k < sl && i < rdlen; k++, i++) {
			if (used + 1 >= sizeof(q->txt))
				break;
			uint8_t c = rd[i];
			q->txt[used++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
		}
	}
	q->txt[used < sizeof(q->txt) ? used : sizeof(q->txt) - 1] = '\0';
}

int tdns_parse_reply(struct tdns_query *q, const uint8_t *pkt, size_t len)
{
	size_t off = 12;

	if (len < 12 || !(pkt[2] & 0x80) || get16(pkt + 4) != 1)
		return GN_EINVAL;
	/* The question must be ours, octet for octet up to case: a reply to an
	 * earlier user of this ID must never answer another name. */
	if (len < off + (size_t)q->wlen + 4)
		return GN_EINVAL;
	for (int i = 0; i < q->wlen; i++)
		if (dname_lower(pkt[off + i]) != dname_lower(q->wire[i]))
			return GN_EINVAL;
	off += (size_t)q->wlen;
	if (get16(pkt + off) != q->qtype || get16(pkt + off + 2) != 1)
		return GN_EINVAL;
	off += 4;

	int ancount = get16(pkt + 6);
	q->rcode = pkt[3] & 0x0f;
	q->tc = !!(pkt[2] & 0x02);
	q->n_a = 0;
	q->n_answer = 0;
	q->txt[0] = '\0';
	for (int i = 0; i < ancount; i++) {
		if (skip_name(pkt, len, &off) != 0 || off + 10 > len)
			return q->tc ? 0 : GN_EINVAL; /* TC: keep what fitted */
		uint16_t type = get16(pkt + off), cls = get16(pkt + off + 2);
		size_t rdlen = get16(pkt + off + 8);
		off += 10;
		if (off + rdlen > len)
			return q->tc ? 0 : GN_EINVAL;
		q->n_answer++;
		if (cls == 1 && type == TDNS_TYPE_A && rdlen == 4) {
			if (q->n_a < TDNS_MAX_A)
				q->a[q->n_a] = ((uint32_t)pkt[off] << 24) | ((uint32_t)pkt[off + 1] << 16) |
					       ((uint32_t)pkt[off + 2] << 8) | pkt[off + 3];
			q->n_a++;
		} else if (cls == 1 && type == TDNS_TYPE_TXT) {
			add_txt(q, pkt + off, rdlen);
		}
		off += rdlen;
	}
	return 0;
}

/* In-flight state of one run: the ID table maps an ID to its query. */
struct run {
	int fd;
	struct tdns_query *qs;
	int32_t *owner;   /* 65536 entries: query index or -1 */
	size_t *slots;    /* indices of queries in flight */
	size_t nslots;
	uint32_t rng;
	int refused;
};

static uint16_t pick_id(struct run *r)
{
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 17;
	r->rng ^= r->rng << 5;
	uint16_t id = (uint16_t)r->rng;
	/* inflight <= 4096 of 65536 IDs are busy: a free one is always near. */
	for (int i = 0; i < 65536 && r->owner[id] >= 0; i++)
		id++;
	return id;
}

static void send_one(struct run *r, size_t i)
{
	struct tdns_query *q = &r->qs[i];
	uint8_t buf[DNAME_MAX + 32];
	int n = tdns_build_query(q, q->id, buf, sizeof(buf));

	q->sent_ns = tdns_now_ns();
	q->tries++;
	if (n < 0)
		return;
	/* A failed send (buffer full, ICMP refused) is retried on timeout. */
	if (send(r->fd, buf, (size_t)n, 0) < 0 && errno == ECONNREFUSED)
		r->refused = 1;
}

static void finish(struct run *r, size_t i, enum tdns_status st)
{
	struct tdns_query *q = &r->qs[i];
	size_t slot = (size_t)q->active - 1;

	q->status = st;
	r->owner[q->id] = -1;
	/* Move the last in-flight slot into this one. */
	r->slots[slot] = r->slots[--r->nslots];
	r->qs[r->slots[slot]].active = (int)slot + 1;
	q->active = 0;
}

static void read_replies(struct run *r)
{
	uint8_t pkt[65536];

	for (int k = 0; k < TDNS_RECV_BURST; k++) {
		ssize_t n = recv(r->fd, pkt, sizeof(pkt), 0);
		if (n < 0) {
			if (errno == ECONNREFUSED) {
				r->refused = 1;
				continue;
			}
			return; /* EAGAIN or a real error: poll again */
		}
		if (n < 12)
			continue;
		int32_t idx = r->owner[get16(pkt)];
		if (idx < 0)
			continue; /* late or foreign: ignored */
		struct tdns_query *q = &r->qs[idx];
		if (tdns_parse_reply(q, pkt, (size_t)n) != 0) {
			q->nbad++;
			continue;
		}
		q->rtt_ms = (double)(tdns_now_ns() - q->sent_ns) / 1e6;
		finish(r, (size_t)idx, TDNS_ANSWERED);
	}
}

int tdns_run(const struct addr *server, struct tdns_query *qs, size_t n,
	     const struct tdns_opts *o, size_t *bad, int *refused)
{
	struct run r = { .fd = -1, .qs = qs };
	int ret = 0;
	int64_t tmo_ns = (int64_t)o->timeout_ms * 1000000;
	size_t inflight = (size_t)o->inflight, next = 0, done = 0;

	if (o->timeout_ms < 1 || o->timeout_ms > 60000 || o->tries < 1 || o->tries > 10 ||
	    o->inflight < 1 || o->inflight > 4096)
		return GN_EINVAL;
	for (size_t i = 0; i < n; i++) {
		struct tdns_query *q = &qs[i];
		q->wlen = dname_from_text(q->qname, strlen(q->qname), q->wire);
		if (q->wlen < 0) {
			if (bad)
				*bad = i;
			return GN_EINVAL;
		}
		q->status = TDNS_PENDING;
		q->tries = q->nbad = q->active = 0;
		q->n_a = q->n_answer = q->rcode = q->tc = 0;
		q->txt[0] = '\0';
		q->rtt_ms = 0;
	}
	r.owner = malloc(65536 * sizeof(*r.owner));
	r.slots = calloc(inflight, sizeof(*r.slots));
	if (!r.owner || !r.slots) {
		ret = GN_ENOMEM;
		goto out;
	}
	memset(r.owner, 0xff, 65536 * sizeof(*r.owner)); /* all -1 */
	if (getrandom(&r.rng, sizeof(r.rng), 0) != sizeof(r.rng))
		r.rng = (uint32_t)tdns_now_ns();
	r.rng |= 1;
	r.fd = socket(server->u.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r.fd < 0 || connect(r.fd, &server->u.sa, server->len) != 0) {
		ret = GN_EIO;
		goto out;
	}
	/* Room for a burst of replies: a lost reply is a needless timeout. */
	int rcv = 4 << 20;
	(void)setsockopt(r.fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));

	/* Every query is sent at most o->tries times and each try ends after
	 * tmo_ns, so the loop ends; the guard is belt and braces. */
	int64_t guard = tdns_now_ns() + ((int64_t)(n / inflight + 2) * o->tries + 2) * tmo_ns;
	while (done < n) {
		while (r.nslots < inflight && next < n) {
			struct tdns_query *q = &qs[next];
			q->id = pick_id(&r);
			r.owner[q->id] = (int32_t)next;
			r.slots[r.nslots++] = next;
			q->active = (int)r.nslots;
			send_one(&r, next++);
		}
		int64_t now = tdns_now_ns(), first = now + tmo_ns;
		for (size_t s = 0; s < r.nslots; s++) {
			int64_t due = qs[r.slots[s]].sent_ns + tmo_ns;
			if (due < first)
				first = due;
		}
		int wait_ms = first > now ? (int)((first - now + 999999) / 1000000) : 0;
		struct pollfd pfd = { .fd = r.fd, .events = POLLIN };
		int pr = poll(&pfd, 1, wait_ms);
		if (pr < 0 && errno != EINTR) {
			ret = GN_EIO;
			goto out;
		}
		size_t before = r.nslots;
		if (pr > 0)
			read_replies(&r);
		done += before - r.nslots;
		now = tdns_now_ns();
		for (size_t s = 0; s < r.nslots;) {
			size_t i = r.slots[s];
			if (now - qs[i].sent_ns < tmo_ns && now < guard) {
				s++;
			} else if (qs[i].tries < o->tries && now < guard) {
				send_one(&r, i);
				s++;
			} else {
				finish(&r, i, qs[i].nbad ? TDNS_BADREPLY : TDNS_TIMEOUT);
				done++; /* slot s now holds another query: look again */
			}
		}
	}
out:
	if (refused)
		*refused = r.refused;
	if (r.fd >= 0)
		close(r.fd);
	free(r.owner);
	free(r.slots);
	return ret;
}
