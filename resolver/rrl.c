/* resolver/rrl.c - token buckets keyed by client prefix and rcode class.
 *
 * Each account holds credit in thousandths of an answer: it refills at
 * `rate` answers per second up to one second's worth (the burst), and an
 * answer costs 1000.  Credit may go down to -rate*window: a source that
 * keeps flooding stays limited until it has been quiet long enough, as in
 * BIND's RRL window.
 *
 * The table is two-way set associative: a new account takes the less
 * recently used of its two slots.  A flood of spoofed prefixes can evict a
 * real account (which then starts full, i.e. is not limited): that errs on
 * answering, and the table size bounds the memory no matter what.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "common/err.h"
#include "resolver/rrl.h"

struct rrl_slot {
	uint64_t key;      /* 0 = empty */
	int64_t credit;    /* thousandths of an answer */
	uint64_t last_ms;
	uint32_t limited;  /* answers limited so far, for slip */
};

struct rrl {
	struct rrl_conf c;
	uint64_t seed;     /* random per table: a client cannot aim at a slot */
	size_t mask;
	struct rrl_slot *slot;
};

struct rrl *rrl_new(const struct rrl_conf *c, int *err)
{
	struct rrl *r;
	size_t n = 2;

	*err = 0;
	if (!c || c->rate == 0)
		return NULL;
	while (n < c->table_size && n < ((size_t)1 << 30))
		n <<= 1;
	r = calloc(1, sizeof(*r));
	if (!r || !(r->slot = calloc(n, sizeof(*r->slot)))) {
		free(r);
		*err = GN_ENOMEM;
		return NULL;
	}
	r->c = *c;
	r->mask = n - 1;
	if (getrandom(&r->seed, sizeof(r->seed), GRND_NONBLOCK) != (ssize_t)sizeof(r->seed))
		r->seed = (uint64_t)(uintptr_t)r ^ 0x9e3779b97f4a7c15ULL;
	return r;
}

void rrl_free(struct rrl *r)
{
	if (!r)
		return;
	free(r->slot);
	free(r);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	/* splitmix64 finaliser over the running value: cheap and well spread. */
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

/* The account of `peer`: its prefix, family and rcode class, hashed. */
static uint64_t rrl_key(const struct rrl *r, const struct sockaddr *peer, unsigned rcode)
{
	uint8_t a[16] = { 0 };
	unsigned bits, fam, cls = rcode == 0 ? 0 : rcode == 3 ? 1 : 2;
	uint64_t w0, w1, h;

	if (peer->sa_family == AF_INET6) {
		const struct in6_addr *in6 = &((const struct sockaddr_in6 *)peer)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			/* An IPv4 client on a dual-stack socket is an IPv4 account. */
			memcpy(a, &in6->s6_addr[12], 4);
			bits = r->c.v4_prefix;
			fam = 4;
		} else {
			memcpy(a, in6->s6_addr, 16);
			bits = r->c.v6_prefix;
			fam = 6;
		}
	} else if (peer->sa_family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)peer)->sin_addr, 4);
		bits = r->c.v4_prefix;
		fam = 4;
	} else {
		bits = 0;
		fam = 0;
	}
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = bits > i * 8 ? bits - i * 8 : 0;
		if (keep < 8)
			a[i] &= (uint8_t)(0xff00u >> keep);
	}
	memcpy(&w0, a, 8);
	memcpy(&w1, a + 8, 8);
	h = mix(mix(mix(r->seed, w0), w1), ((uint64_t)fam << 8) | cls);
	return h ? h : 1;
}

enum rrl_verdict rrl_check(struct rrl *r, const struct sockaddr *peer, unsigned rcode,
			   uint64_t now_ms)
{
	const int64_t cap = (int64_t)r->c.rate * 1000;
	const int64_t floor = -(int64_t)r->c.rate * (int64_t)r->c.window * 1000;
	uint64_t key = rrl_key(r, peer, rcode);
	size_t i0 = (size_t)key & r->mask, i1 = i0 ^ 1;
	struct rrl_slot *s;

	if (r->slot[i0].key == key)
		s = &r->slot[i0];
	else if (r->slot[i1].key == key)
		s = &r->slot[i1];
	else {
		s = r->slot[i0].last_ms <= r->slot[i1].last_ms ? &r->slot[i0] : &r->slot[i1];
		s->key = key;
		s->credit = cap;
		s->last_ms = now_ms;
		s->limited = 0;
	}
	if (now_ms > s->last_ms) {
		uint64_t dt = now_ms - s->last_ms;
		/* Refill: rate answers per 1000 ms is rate thousandths per ms.
		 * A long silence would overflow the product: cap it first. */
		if (dt > (uint64_t)(r->c.window + 1) * 1000)
			s->credit = cap;
		else
			s->credit += (int64_t)dt * (int64_t)r->c.rate;
		if (s->credit > cap)
			s->credit = cap;
		s->last_ms = now_ms;
	}
	if (s->credit >= 1000) {
		s->credit -= 1000;
		if (s->credit >= 0)
			s->limited = 0;
		return RRL_PASS;
	}
	if (s->credit - 1000 >= floor)
		s->credit -= 1000;
	s->limited++;
	if (r->c.slip && s->limited % r->c.slip == 0)
		return RRL_SLIP;
	return RRL_DROP;
}

size_t rrl_truncate(uint8_t *resp, size_t len)
{
	size_t p = 12;

	if (len < 12 || resp[4] != 0 || resp[5] != 1)
		return 0;
	/* Skip the question name (no compression in a question we copied). */
	while (p < len && resp[p] != 0) {
		if (resp[p] & 0xc0)
			return 0;
		p += (size_t)resp[p] + 1;
	}
	p += 1 + 4; /* root label, QTYPE, QCLASS */
	if (p > len)
		return 0;
	resp[2] |= 0x02; /* TC */
	memset(resp + 6, 0, 6); /* ANCOUNT, NSCOUNT, ARCOUNT: the records are gone */
	return p;
}
