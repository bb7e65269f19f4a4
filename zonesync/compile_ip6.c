/* zonesync/compile_ip6.c - ip6tset and ip6trie.
 *
 * Observed rbldnsd 1.0 rules:
 *  ip6tset  listings are /64s written as exactly four words ("2001:db8:1:2");
 *           "::" or a prefix length there is an error.  Exclusions are single
 *           /128 addresses (full or "::" form).  Per-entry values are ignored:
 *           the dataset's first default line answers for every entry.
 *  ip6trie  "addr/len" or a bare address; a bare address of N words without
 *           "::" is a /(16N) ("2001:db8:1:2" is a /64, trailing :0s omitted),
 *           with "::" a /128.  Host bits set is an error, the longest prefix
 *           decides, the first entry for a prefix wins.
 * Flattening is the same laminar sweep as IPv4, on 128-bit integers. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "zonesync/compile_int.h"

static const cz_u128 CZ_U128_MAX = ~(cz_u128)0;

static cz_u128 cz_from16(const uint8_t b[16])
{
	cz_u128 v = 0;
	for (int i = 0; i < 16; i++)
		v = v << 8 | b[i];
	return v;
}

static void cz_to16(cz_u128 v, uint8_t b[16])
{
	for (int i = 15; i >= 0; i--) {
		b[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* Words without "::": returns the number of words, fills w[]. */
static int cz_words(const char *s, size_t n, uint16_t w[8])
{
	int nw = 0;
	size_t i = 0;
	while (i < n) {
		unsigned v = 0;
		int dg = 0;
		while (i < n && dg < 5) {
			char ch = s[i];
			int x = ch >= '0' && ch <= '9' ? ch - '0' : (ch | 0x20) >= 'a' && (ch | 0x20) <= 'f' ?
				(ch | 0x20) - 'a' + 10 : -1;
			if (x < 0)
				break;
			v = v << 4 | (unsigned)x;
			dg++, i++;
		}
		if (dg == 0 || dg > 4 || nw == 8)
			return -1;
		w[nw++] = (uint16_t)v;
		if (i == n)
			break;
		if (s[i] != ':' || i + 1 == n)
			return -1;
		i++;
	}
	return nw;
}

/* Parse "addr" (tset listing: four words; otherwise any form) and an
 * optional "/len".  Returns 0 or GN_EINVAL with *why. */
static int cz_ip6_addr(const struct cz_ds *d, bool excl, const char **pp, cz_u128 *lo,
		       cz_u128 *hi, const char **why)
{
	const char *p = *pp, *s = p;
	char buf[64];
	uint8_t b[16] = { 0 };
	int len = -1;
	size_t an;

	*why = "invalid address";
	while ((*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f') || *p == ':' ||
	       *p == '.')
		p++;
	an = (size_t)(p - s);
	if (*p == '/') {
		char *e;
		if (d->type != ZDS_IP6TRIE || p[1] < '0' || p[1] > '9')
			return GN_EINVAL;
		unsigned long l = strtoul(p + 1, &e, 10);
		if (l > 128)
			return GN_EINVAL;
		len = (int)l;
		p = e;
	}
	if (an == 0 || an >= sizeof(buf) || !(*p == 0 || *p == ' ' || *p == '\t'))
		return GN_EINVAL;
	memcpy(buf, s, an);
	buf[an] = 0;
	if (strstr(buf, "::") || strchr(buf, '.')) {
		if (inet_pton(AF_INET6, buf, b) != 1)
			return GN_EINVAL;
		if (d->type == ZDS_IP6TSET && !excl) {
			*why = "invalid address for regular entry (should be 64 bits)";
			return GN_EINVAL;
		}
		if (len < 0)
			len = 128;
	} else {
		uint16_t w[8];
		int nw = cz_words(buf, an, w);
		if (nw < 0)
			return GN_EINVAL;
		for (int i = 0; i < nw; i++)
			b[2 * i] = (uint8_t)(w[i] >> 8), b[2 * i + 1] = (uint8_t)w[i];
		if (d->type == ZDS_IP6TSET) {
			if (!excl && nw != 4) {
				*why = "invalid address for regular entry (should be 64 bits)";
				return GN_EINVAL;
			}
			if (excl && nw != 8) {
				*why = "invalid address for exclusion (should be 128 bits)";
				return GN_EINVAL;
			}
		}
		if (len < 0)
			len = 16 * nw;
	}
	if (d->type == ZDS_IP6TSET)
		len = excl ? 128 : 64;
	*lo = cz_from16(b);
	cz_u128 host = len == 128 ? 0 : CZ_U128_MAX >> len;
	if (*lo & host) {
		*why = "invalid range (non-zero host part)";
		return GN_EINVAL;
	}
	*hi = *lo | host;
	*pp = p;
	return 0;
}

int cz_ip6_line(struct cz_ctx *c, struct cz_ds *d, const char *p, bool excl)
{
	cz_u128 lo, hi;
	uint32_t rv = 0;
	const char *why;
	struct cz_raw raw;

	if (cz_ip6_addr(d, excl, &p, &lo, &hi, &why) < 0)
		return cz_bad(c, "%s", why);
	if (excl) {
		rv = CZ_EXCL;
	} else if (d->type == ZDS_IP6TRIE) {
		if (cz_parse_value(d, p, &raw, &why) < 0)
			return cz_bad(c, "%s", why);
		int64_t r = cz_raw_intern(&d->raw, &raw);
		if (r < 0)
			return (int)r;
		rv = (uint32_t)r;
	}
	if (cz_grow((void **)&d->ip6, &d->cap_ip6, d->n_ip6 + 1, sizeof(*d->ip6)) < 0)
		return GN_ENOMEM;
	d->ip6[d->n_ip6++] = (struct cz_ip6ent){ .lo = lo, .hi = hi, .rv = rv, .seq = d->seq };
	return 0;
}

static int cz_ip6_cmp(const void *x, const void *y)
{
	const struct cz_ip6ent *a = x, *b = y;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if (a->hi != b->hi)
		return a->hi > b->hi ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

struct cz_emit6 {
	struct zimg_ds *zds;
	bool have;
	cz_u128 lo, hi;
	uint32_t vs;
};

static int cz_emit6(struct cz_emit6 *e, cz_u128 lo, cz_u128 hi, uint32_t vs)
{
	uint8_t l[16], h[16];
	int ret;
	if (lo > hi || vs == CZ_EXCL)
		return 0;
	if (e->have && e->vs == vs && e->hi != CZ_U128_MAX && e->hi + 1 == lo) {
		e->hi = hi;
		return 0;
	}
	if (e->have) {
		cz_to16(e->lo, l);
		cz_to16(e->hi, h);
		if ((ret = zimg_ds_add_ip6(e->zds, l, h, e->vs)) < 0)
			return ret;
	}
	e->have = true;
	e->lo = lo, e->hi = hi, e->vs = vs;
	return 0;
}

int cz_ip6_finish(struct cz_ctx *c, struct cz_ds *d, const struct zimg_val *vals)
{
	int64_t *single = NULL, tset_vs = -1;
	size_t n = d->n_ip6, w = 0, sp = 0;
	struct cz_ip6ent *stack = NULL;
	struct cz_emit6 em = { .zds = d->zds };
	cz_u128 pos = 0;
	bool over = false; /* pos went past the last address */
	int ret = 0;

	if (n == 0)
		return 0;
	qsort(d->ip6, n, sizeof(*d->ip6), cz_ip6_cmp);
	single = malloc((d->raw.n ? d->raw.n : 1) * sizeof(*single));
	if (!single)
		return GN_ENOMEM;
	for (uint32_t i = 0; i < d->raw.n; i++)
		single[i] = -1;
	if (d->type == ZDS_IP6TSET) {
		struct zimg_val v = { .a = { 127, 0, 0, 2 } };
		if (d->tset_has && (ret = cz_expand(d, &d->tset_def, &v)) < 0)
			goto out;
		tset_vs = zimg_ds_valset(d->zds, &v, 1);
		free(v.txt);
		if (tset_vs < 0) {
			ret = (int)tset_vs;
			goto out;
		}
	}
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		uint32_t dec = d->ip6[i].rv;
		while (j < n && d->ip6[j].lo == d->ip6[i].lo && d->ip6[j].hi == d->ip6[i].hi)
			j++;
		if (d->type == ZDS_IP6TSET) {
			dec = (uint32_t)tset_vs;
			for (size_t k = i; k < j; k++)
				if (d->ip6[k].rv == CZ_EXCL)
					dec = CZ_EXCL;
		} else {
			for (size_t k = i + 1; k < j; k++) {
				uint8_t b[16];
				char txt[INET6_ADDRSTRLEN];
				int len = 128;
				for (cz_u128 sz = d->ip6[i].hi - d->ip6[i].lo; sz; sz >>= 1)
					len--;
				cz_to16(d->ip6[i].lo, b);
				inet_ntop(AF_INET6, b, txt, sizeof(txt));
				if ((ret = cz_bad_at(c, d, d->ip6[k].seq, "duplicated entry for %s/%d",
						     txt, len)) < 0)
					goto out;
			}
			if (dec != CZ_EXCL) {
				if (single[dec] < 0 && (single[dec] = cz_valset(d, vals, &dec, 1)) < 0) {
					ret = (int)single[dec];
					goto out;
				}
				dec = (uint32_t)single[dec];
			}
		}
		d->ip6[w] = d->ip6[i];
		d->ip6[w++].rv = dec;
		i = j;
	}
	stack = malloc(w * sizeof(*stack));
	if (!stack) {
		ret = GN_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < w; i++) {
		const struct cz_ip6ent *b = &d->ip6[i];
		while (sp && stack[sp - 1].hi < b->lo) {
			if (!over && (ret = cz_emit6(&em, pos, stack[sp - 1].hi, stack[sp - 1].rv)) < 0)
				goto out;
			pos = stack[sp - 1].hi + 1;
			sp--;
		}
		if (sp && pos < b->lo && (ret = cz_emit6(&em, pos, b->lo - 1, stack[sp - 1].rv)) < 0)
			goto out;
		pos = b->lo;
		over = false;
		stack[sp++] = *b;
	}
	while (sp) {
		if (!over && (ret = cz_emit6(&em, pos, stack[sp - 1].hi, stack[sp - 1].rv)) < 0)
			goto out;
		if (stack[sp - 1].hi == CZ_U128_MAX)
			over = true;
		else
			pos = stack[sp - 1].hi + 1;
		sp--;
	}
	if (em.have) {
		uint8_t l[16], h[16];
		cz_to16(em.lo, l);
		cz_to16(em.hi, h);
		ret = zimg_ds_add_ip6(d->zds, l, h, em.vs);
	}
out:
	free(stack);
	free(single);
	return ret;
}
