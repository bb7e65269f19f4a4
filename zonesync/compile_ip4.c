/* zonesync/compile_ip4.c - ip4set, ip4tset and ip4trie.
 *
 * rbldnsd rules, as observed against rbldnsd 1.0:
 *  ip4set  keeps entries at /32, /24, /16 and /8; any range or CIDR is split
 *          greedily into the largest octet-aligned blocks that fit (a /12 is
 *          16 /16s, 14.0.0.5-14.0.2.3 is 251 /32s + one /24 + 4 /32s).  For an
 *          address the most specific block that exists decides; several
 *          entries on the same block all answer (first-seen order, identical
 *          pairs once); an exclusion on that block wins over any listing.
 *  ip4trie CIDR only, longest prefix decides, the first entry for a prefix
 *          wins ("duplicated entry" is reported).
 *  ip4tset full addresses only, no exclusions, the dataset's first default
 *          value for every entry.
 * All three become blocks that nest or are disjoint (a laminar family), so
 * one sort plus a stack sweep flattens them into disjoint ranges. */
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "zonesync/compile_int.h"

/* Up to 4 dotted decimal octets.  Returns the count, or -1. */
static int cz_octets(const char **pp, uint8_t o[4])
{
	const char *p = *pp;
	int n = 0;

	for (;;) {
		unsigned v = 0;
		int digits = 0;
		/* observed: leading zeros are fine ("0127.0.0.4") */
		while (*p >= '0' && *p <= '9') {
			if (v <= 255)
				v = v * 10 + (unsigned)(*p - '0');
			p++;
			digits++;
		}
		if (digits == 0 || v > 255 || n == 4)
			return -1;
		o[n++] = (uint8_t)v;
		if (*p != '.')
			break;
		p++;
	}
	*pp = p;
	return n;
}

static uint32_t cz_pack(const uint8_t o[4], int n, uint8_t fill)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v = v << 8 | (i < n ? o[i] : fill);
	return v;
}

static bool cz_addr_end(char ch)
{
	return ch == 0 || ch == ' ' || ch == '\t' || ch == ':' || ch == '\r' || ch == '\n';
}

/* Parse the address part.  Returns 0 or GN_EINVAL with *why. */
static int cz_ip4_addr(enum zimg_dstype t, const char **pp, uint32_t *lo, uint32_t *hi,
		       const char **why)
{
	const char *p = *pp;
	uint8_t a[4], b[4];
	int na, nb;

	*why = "invalid address";
	na = cz_octets(&p, a);
	if (na < 0)
		return GN_EINVAL;
	if (*p == '/' && t != ZDS_IP4TSET) {
		char *e;
		p++;
		if (*p < '0' || *p > '9')
			return GN_EINVAL;
		unsigned long len = strtoul(p, &e, 10);
		p = e;
		/* observed: ip4set refuses "/0" (ranges may still cover it all) */
		if (len > 32 || (len == 0 && t == ZDS_IP4SET))
			return GN_EINVAL;
		uint32_t mask = len ? ~0u << (32 - len) : 0;
		*lo = cz_pack(a, na, 0);
		if (*lo & ~mask) {
			*why = "invalid range (non-zero host part)";
			return GN_EINVAL;
		}
		*hi = *lo | ~mask;
	} else if (*p == '-' && t == ZDS_IP4SET) {
		p++;
		nb = cz_octets(&p, b);
		if (nb < 0)
			return GN_EINVAL;
		if (nb == 1 && na > 1) {
			/* "127.16-31": the single octet replaces the last one given */
			uint8_t c[4];
			memcpy(c, a, 4);
			c[na - 1] = b[0];
			memcpy(b, c, 4);
			nb = na;
		}
		*lo = cz_pack(a, na, 0);
		*hi = cz_pack(b, nb, 255);
		if (*lo > *hi)
			return GN_EINVAL;
	} else {
		if (t == ZDS_IP4TSET && na != 4)
			return GN_EINVAL;
		*lo = cz_pack(a, na, 0);
		*hi = cz_pack(a, na, 255);
	}
	if (!cz_addr_end(*p))
		return GN_EINVAL;
	*pp = p;
	return 0;
}

static int cz_ip4_push(struct cz_ds *d, uint32_t lo, uint32_t hi, uint32_t rv)
{
	if (d->n_ip4 == d->cap_ip4 &&
	    cz_grow((void **)&d->ip4, &d->cap_ip4, d->n_ip4 + 1, sizeof(*d->ip4)) < 0)
		return GN_ENOMEM;
	d->ip4[d->n_ip4++] = (struct cz_ip4ent){ .lo = lo, .hi = hi, .rv = rv, .seq = d->seq };
	return 0;
}

/* Greedy split into the largest octet-aligned blocks (rbldnsd's levels). */
static int cz_ip4_split(struct cz_ds *d, uint32_t lo, uint32_t hi, uint32_t rv)
{
	uint64_t x = lo;
	while (x <= hi) {
		uint64_t size = 1;
		for (int s = 24; s >= 8; s -= 8) {
			uint64_t bs = 1ull << s;
			if ((x & (bs - 1)) == 0 && x + bs - 1 <= hi) {
				size = bs;
				break;
			}
		}
		int ret = cz_ip4_push(d, (uint32_t)x, (uint32_t)(x + size - 1), rv);
		if (ret < 0)
			return ret;
		x += size;
	}
	return 0;
}

int cz_ip4_line(struct cz_ctx *c, struct cz_ds *d, const char *p, bool excl)
{
	uint32_t lo, hi, rv = 0;
	const char *why;
	struct cz_raw raw;

	if (excl && d->type == ZDS_IP4TSET)
		return cz_bad(c, "invalid address (ip4tset has no exclusions)");
	if (cz_ip4_addr(d->type, &p, &lo, &hi, &why) < 0)
		return cz_bad(c, "%s", why);
	if (d->sc.maxrange4 && (uint64_t)hi - lo + 1 > d->sc.maxrange4)
		return cz_bad(c, "too large range (%llu) ignored (%u max)",
			      (unsigned long long)((uint64_t)hi - lo + 1), d->sc.maxrange4);
	if (excl) {
		rv = CZ_EXCL;
	} else if (d->type != ZDS_IP4TSET) {
		if (cz_parse_value(d, p, &raw, &why) < 0)
			return cz_bad(c, "%s", why);
		int64_t r = cz_raw_intern(&d->raw, &raw);
		if (r < 0)
			return (int)r;
		rv = (uint32_t)r;
	}
	if (d->type == ZDS_IP4SET)
		return cz_ip4_split(d, lo, hi, rv);
	return cz_ip4_push(d, lo, hi, rv);
}

static int cz_ip4_cmp(const void *x, const void *y)
{
	const struct cz_ip4ent *a = x, *b = y;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if (a->hi != b->hi)
		return a->hi > b->hi ? -1 : 1; /* enclosing block first */
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

struct cz_emit4 {
	struct zimg_ds *zds;
	bool have;
	uint32_t lo, hi, vs;
};

static int cz_emit4(struct cz_emit4 *e, uint64_t lo, uint64_t hi, uint32_t vs)
{
	int ret;
	if (lo > hi || vs == CZ_EXCL)
		return 0;
	if (e->have && e->vs == vs && (uint64_t)e->hi + 1 == lo) {
		e->hi = (uint32_t)hi;
		return 0;
	}
	if (e->have && (ret = zimg_ds_add_ip4(e->zds, e->lo, e->hi, e->vs)) < 0)
		return ret;
	e->have = true;
	e->lo = (uint32_t)lo, e->hi = (uint32_t)hi, e->vs = vs;
	return 0;
}

/* Decide each distinct block, then paint the laminar family. */
int cz_ip4_finish(struct cz_ctx *c, struct cz_ds *d, const struct zimg_val *vals)
{
	int64_t *single = NULL, tset_vs = -1;
	uint32_t *rvs = NULL;
	size_t n = d->n_ip4, w = 0, cap_rvs = 0;
	struct cz_ip4ent *stack = NULL;
	struct cz_emit4 em = { .zds = d->zds };
	int ret = 0;

	if (n == 0)
		return 0;
	qsort(d->ip4, n, sizeof(*d->ip4), cz_ip4_cmp);
	single = malloc((d->raw.n ? d->raw.n : 1) * sizeof(*single));
	if (!single)
		return GN_ENOMEM;
	for (uint32_t i = 0; i < d->raw.n; i++)
		single[i] = -1;
	if (d->type == ZDS_IP4TSET) {
		/* Every entry answers the dataset's first default value. */
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
		while (j < n && d->ip4[j].lo == d->ip4[i].lo && d->ip4[j].hi == d->ip4[i].hi)
			j++;
		uint32_t dec;
		if (d->type == ZDS_IP4TSET) {
			dec = (uint32_t)tset_vs;
		} else if (d->type == ZDS_IP4TRIE) {
			for (size_t k = i + 1; k < j; k++) {
				uint32_t sz = d->ip4[i].hi - d->ip4[i].lo;
				int len = 32;
				while (sz) {
					len--;
					sz >>= 1;
				}
				ret = cz_bad_at(c, d, d->ip4[k].seq, "duplicated entry for %u.%u.%u.%u/%d",
						d->ip4[i].lo >> 24, d->ip4[i].lo >> 16 & 255,
						d->ip4[i].lo >> 8 & 255, d->ip4[i].lo & 255, len);
				if (ret < 0)
					goto out;
			}
			dec = d->ip4[i].rv;
			if (dec != CZ_EXCL) {
				if (single[dec] < 0 && (single[dec] = cz_valset(d, vals, &dec, 1)) < 0) {
					ret = (int)single[dec];
					goto out;
				}
				dec = (uint32_t)single[dec];
			}
		} else {
			size_t m = 0;
			dec = 0;
			for (size_t k = i; k < j; k++)
				if (d->ip4[k].rv == CZ_EXCL)
					dec = CZ_EXCL;
			if (dec != CZ_EXCL && j - i == 1) {
				uint32_t r = d->ip4[i].rv;
				if (single[r] < 0 && (single[r] = cz_valset(d, vals, &r, 1)) < 0) {
					ret = (int)single[r];
					goto out;
				}
				dec = (uint32_t)single[r];
			} else if (dec != CZ_EXCL) {
				if (j - i > cap_rvs) {
					free(rvs);
					cap_rvs = j - i;
					rvs = malloc(cap_rvs * sizeof(*rvs));
					if (!rvs) {
						ret = GN_ENOMEM;
						goto out;
					}
				}
				for (size_t k = i; k < j; k++)
					rvs[m++] = d->ip4[k].rv;
				int64_t vs = cz_valset(d, vals, rvs, (uint32_t)m);
				if (vs < 0) {
					ret = (int)vs;
					goto out;
				}
				dec = (uint32_t)vs;
			}
		}
		d->ip4[w] = d->ip4[i];
		d->ip4[w++].rv = dec;
		i = j;
	}
	/* Sweep: blocks sorted by (lo asc, hi desc) nest or are disjoint. */
	stack = malloc(w * sizeof(*stack));
	if (!stack) {
		ret = GN_ENOMEM;
		goto out;
	}
	size_t sp = 0;
	uint64_t pos = 0;
	for (size_t i = 0; i < w; i++) {
		const struct cz_ip4ent *b = &d->ip4[i];
		while (sp && stack[sp - 1].hi < b->lo) {
			if ((ret = cz_emit4(&em, pos, stack[sp - 1].hi, stack[sp - 1].rv)) < 0)
				goto out;
			if ((uint64_t)stack[sp - 1].hi + 1 > pos)
				pos = (uint64_t)stack[sp - 1].hi + 1;
			sp--;
		}
		if (sp && pos < b->lo && (ret = cz_emit4(&em, pos, (uint64_t)b->lo - 1, stack[sp - 1].rv)) < 0)
			goto out;
		pos = b->lo;
		stack[sp++] = *b;
	}
	while (sp) {
		if ((ret = cz_emit4(&em, pos, stack[sp - 1].hi, stack[sp - 1].rv)) < 0)
			goto out;
		if ((uint64_t)stack[sp - 1].hi + 1 > pos)
			pos = (uint64_t)stack[sp - 1].hi + 1;
		sp--;
	}
	if (em.have)
		ret = zimg_ds_add_ip4(d->zds, em.lo, em.hi, em.vs);
out:
	free(stack);
	free(rvs);
	free(single);
	return ret;
}
