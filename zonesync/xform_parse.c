/* zonesync/xform_parse.c - transfer-form records -> zone image (see
 * xform_parse.h for the rules).
 *
 * Records are kept as copies until finish; deletions are a second list
 * applied as a sorted multiset difference, so the cost is two sorts and a
 * merge whatever the order the records arrived in.  Finish then classifies
 * every record (apex, metadata, dataset entry), groups the entries of a
 * dataset by name with one sort, and builds value sets, ranges and names
 * through the zimg builders, so the result passes the same zimg_finish
 * checks as a compiled image.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/xform_parse.h"

#define XP_TYPE_A 1
#define XP_TYPE_NS 2
#define XP_TYPE_SOA 6
#define XP_TYPE_TXT 16
#define XP_TYPE_ZONEMD 63
#define XP_MAX_DS 4096 /* as many as a zone record may hold */

/* One record copy: owner (lowercased wire) then rdata in buf. */
struct xp_rec {
	uint8_t *buf;
	uint8_t olen;
	uint16_t type;
	uint32_t ttl;
	uint16_t rdlen;
	uint32_t seq;          /* arrival order: the held zone comes first */
};

struct xp_list {
	struct xp_rec *v;
	size_t n, cap;
};

struct xform_parse {
	struct zimg *img;      /* the apex name lives here until finish */
	uint8_t apex[DNAME_MAX];
	int apex_len;
	struct xp_list recs, dels;
	int dels_applied;
	int had_meta;          /* set by finish */
	uint32_t seq;
};

/* An entry of an IP or dnset dataset, grouped by (ds, name) at finish. */
struct xp_item {
	uint32_t ds;
	uint32_t rec;          /* index into recs */
	uint32_t koff;         /* dnset: key offset in the key arena */
	uint8_t klen;
	uint8_t wild;
	uint8_t plen;          /* IP: prefix length in bits */
	uint8_t lo[16];        /* IP: first address, network order */
};

struct xp_fin {
	struct xform_parse *p;
	struct zimg *img;
	char *why;
	size_t why_cap;
	struct xp_item *items;
	size_t n_items, cap_items;
	uint8_t *karena;
	size_t klen, kcap;
	const struct xp_rec **meta;
	size_t n_meta;
};

static void xp_why(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void xp_why(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;
	if (!why || !cap)
		return;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
}

struct xform_parse *xform_parse_new(const char *zone_name)
{
	struct xform_parse *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->img = zimg_new(zone_name);
	if (!p->img || dname_text_to_key(zone_name, strlen(zone_name), p->apex) < 0 ||
	    (p->apex_len = dname_from_text(zone_name, strlen(zone_name), p->apex)) < 1) {
		xform_parse_free(p);
		return NULL;
	}
	for (int i = 0; i < p->apex_len; i++)
		p->apex[i] = dname_lower(p->apex[i]);
	return p;
}

static void xp_list_free(struct xp_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].buf);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void xform_parse_free(struct xform_parse *p)
{
	if (!p)
		return;
	zimg_free(p->img);
	xp_list_free(&p->recs);
	xp_list_free(&p->dels);
	free(p);
}

size_t xform_parse_count(const struct xform_parse *p)
{
	return p->recs.n;
}

/* Is wire name `o` at or below the apex?  (Suffix match on label bounds.) */
static int xp_in_zone(const struct xform_parse *p, const uint8_t *o, size_t olen)
{
	size_t i = 0;
	while (i < olen) {
		if (olen - i == (size_t)p->apex_len)
			return memcmp(o + i, p->apex, olen - i) == 0;
		if (o[i] == 0)
			return 0;
		i += o[i] + 1u;
	}
	return 0;
}

static int xp_push(struct xform_parse *p, struct xp_list *l, const struct xform_rr *rr)
{
	struct xp_rec *r;
	int ol = dname_wire_len(rr->owner);

	if (rr->rclass != XFORM_CLASS_IN || ol < 1 || ol != rr->owner_len)
		return GN_EINVAL;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 256;
		struct xp_rec *nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv)
			return GN_ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
	r = &l->v[l->n];
	if (!(r->buf = malloc((size_t)ol + rr->rdlen + 1)))
		return GN_ENOMEM;
	for (int i = 0; i < ol; i++)
		r->buf[i] = dname_lower(rr->owner[i]);
	if (!xp_in_zone(p, r->buf, (size_t)ol)) {
		free(r->buf);
		return GN_EINVAL;
	}
	if (rr->rdlen)
		memcpy(r->buf + ol, rr->rdata, rr->rdlen);
	r->olen = (uint8_t)ol;
	r->type = rr->type;
	r->ttl = rr->ttl;
	r->rdlen = rr->rdlen;
	r->seq = p->seq++;
	l->n++;
	return 0;
}

int xform_parse_add(struct xform_parse *p, const struct xform_rr *rr)
{
	return xp_push(p, &p->recs, rr);
}

int xform_parse_del(struct xform_parse *p, const struct xform_rr *rr)
{
	p->dels_applied = 0;
	return xp_push(p, &p->dels, rr);
}

static void xp_view(const struct xp_rec *r, struct xform_rr *out)
{
	out->owner = r->buf;
	out->owner_len = r->olen;
	out->type = r->type;
	out->rclass = XFORM_CLASS_IN;
	out->ttl = r->ttl;
	out->rdlen = r->rdlen;
	out->rdata = r->buf + r->olen;
	out->ds = 0;
}

static int xp_rec_cmp(const void *a, const void *b)
{
	struct xform_rr x, y;
	xp_view(a, &x);
	xp_view(b, &y);
	return xform_rr_cmp(&x, &y);
}

/* Is r the zone metadata record (_gridns.<apex> TXT with a "zone" string)? */
static int xp_is_zone_meta(const struct xform_parse *p, const struct xp_rec *r)
{
	const uint8_t *rd = r->buf + r->olen;
	if (r->type != 16 || r->olen != 8 + p->apex_len || memcmp(r->buf, "\7" XFORM_META_LABEL, 8))
		return 0;
	for (size_t i = 0; i < r->rdlen; i += 1u + rd[i])
		if (rd[i] == 4 && i + 5 <= r->rdlen && memcmp(rd + i + 1, "zone", 4) == 0)
			return 1;
	return 0;
}

/* A deletion of the zone metadata record that matches no record exactly
 * removes the OLDEST zone metadata record held: its expires= is the one
 * field a relay rewrites between serials (the freshness bound it passes
 * on, see docs/follower.md "Expiry"), so a node's copy may differ from the
 * relay's without the history being wrong. */
static int xp_del_zone_meta(struct xform_parse *p)
{
	struct xp_list *r = &p->recs;
	size_t best = r->n;

	for (size_t i = 0; i < r->n; i++)
		if (xp_is_zone_meta(p, &r->v[i]) && (best == r->n || r->v[i].seq < r->v[best].seq))
			best = i;
	if (best == r->n)
		return 0;
	free(r->v[best].buf);
	memmove(&r->v[best], &r->v[best + 1], (r->n - best - 1) * sizeof(*r->v));
	r->n--;
	return 1;
}

/* recs := sort(recs) minus dels (multiset).  A deletion of a record we do
 * not hold means the sender's history is not ours. */
static int xp_apply_dels(struct xform_parse *p, char *why, size_t cap)
{
	struct xp_list *r = &p->recs, *d = &p->dels;
	size_t i = 0, j = 0, w = 0, n_meta = 0;

	qsort(r->v, r->n, sizeof(*r->v), xp_rec_cmp);
	if (p->dels_applied || d->n == 0) {
		p->dels_applied = 1;
		return 0;
	}
	qsort(d->v, d->n, sizeof(*d->v), xp_rec_cmp);
	while (j < d->n) {
		int c = i < r->n ? xp_rec_cmp(&r->v[i], &d->v[j]) : 1;
		if (c < 0) {
			r->v[w++] = r->v[i++];
		} else if (c == 0) {
			free(r->v[i].buf);
			i++;
			j++;
		} else if (xp_is_zone_meta(p, &d->v[j])) {
			n_meta++;
			j++;
		} else {
			char t[DNAME_TEXT_MAX];
			if (dname_to_text(d->v[j].buf, t, sizeof(t)) < 0)
				strcpy(t, "?");
			xp_why(why, cap, "deletion of a record the zone does not hold (%s type %u)",
			       t, d->v[j].type);
			/* keep the list consistent for free(): move the rest down */
			while (i < r->n)
				r->v[w++] = r->v[i++];
			r->n = w;
			return GN_ENOENT;
		}
	}
	while (i < r->n)
		r->v[w++] = r->v[i++];
	r->n = w;
	for (; n_meta; n_meta--)
		if (!xp_del_zone_meta(p)) {
			xp_why(why, cap, "deletion of the zone metadata record, which the zone "
			       "does not hold");
			return GN_ENOENT;
		}
	xp_list_free(d);
	p->dels_applied = 1;
	return 0;
}

int xform_parse_walk(struct xform_parse *p, int (*cb)(void *arg, const struct xform_rr *rr),
		     void *arg, char *why, size_t why_cap)
{
	int ret = xp_apply_dels(p, why, why_cap);

	for (size_t i = 0; ret == 0 && i < p->recs.n; i++) {
		struct xform_rr v;
		xp_view(&p->recs.v[i], &v);
		ret = cb(arg, &v);
	}
	return ret;
}

/* ---- metadata ----------------------------------------------------------- */

/* The character-string of TXT rdata that starts with `key`=, or NULL.
 * `from` lets a caller iterate repeated keys ("sub="). */
static const uint8_t *meta_find(const uint8_t *rd, size_t rdlen, const char *key,
				const uint8_t *from, size_t *vlen)
{
	size_t kl = strlen(key), i = from ? (size_t)(from - rd) : 0;
	while (i < rdlen) {
		size_t n = rd[i];
		const uint8_t *s = rd + i + 1;
		if (i + 1 + n > rdlen)
			return NULL;
		i += 1 + n;
		if (n >= kl && memcmp(s, key, kl) == 0) {
			*vlen = n - kl;
			return s + kl;
		}
	}
	return NULL;
}

static int meta_u64(const uint8_t *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 20)
		return GN_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return GN_EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return GN_EINVAL;
	*out = v;
	return 0;
}

/* Is `s` exactly the character-string `word` somewhere in the rdata? */
static int meta_has(const uint8_t *rd, size_t rdlen, const char *word)
{
	size_t wl = strlen(word), i = 0;
	while (i < rdlen) {
		size_t n = rd[i];
		if (i + 1 + n > rdlen)
			return 0;
		if (n == wl && memcmp(rd + i + 1, word, wl) == 0)
			return 1;
		i += 1 + n;
	}
	return 0;
}

/* One dataset metadata record -> dataset slot `ds` of the image. */
static int meta_ds(struct xp_fin *f, const uint8_t *rd, size_t rdlen, struct zimg_ds **slots,
		   uint32_t n_ds)
{
	const uint8_t *s, *sub = NULL;
	size_t n;
	uint64_t idx, ttl;
	char tbuf[32], label[256];
	enum zimg_dstype type;
	struct zimg_ds *ds;
	int ret;

	if (!(s = meta_find(rd, rdlen, "ds=", NULL, &n)) || meta_u64(s, n, n_ds - 1, &idx) < 0 ||
	    n_ds == 0) {
		xp_why(f->why, f->why_cap, "_gridns metadata: bad or out-of-range ds= index");
		return GN_EINVAL;
	}
	if (slots[idx]) {
		xp_why(f->why, f->why_cap, "_gridns metadata: dataset %u described twice",
		       (unsigned)idx);
		return GN_EINVAL;
	}
	if (!(s = meta_find(rd, rdlen, "type=", NULL, &n)) || n >= sizeof(tbuf)) {
		xp_why(f->why, f->why_cap, "_gridns metadata: dataset %u has no type", (unsigned)idx);
		return GN_EINVAL;
	}
	memcpy(tbuf, s, n);
	tbuf[n] = 0;
	if (!(type = zimg_dstype_parse(tbuf))) {
		xp_why(f->why, f->why_cap, "_gridns metadata: dataset %u has unknown type \"%s\"",
		       (unsigned)idx, tbuf);
		return GN_EFORMAT;
	}
	if (!(s = meta_find(rd, rdlen, "ttl=", NULL, &n)) || meta_u64(s, n, UINT32_MAX, &ttl) < 0) {
		xp_why(f->why, f->why_cap, "_gridns metadata: dataset %u has no valid ttl",
		       (unsigned)idx);
		return GN_EINVAL;
	}
	label[0] = 0;
	if ((s = meta_find(rd, rdlen, "label=", NULL, &n)) != NULL) {
		memcpy(label, s, n);
		label[n] = 0;
	}
	/* zimg_add_ds appends; slots[] remembers which index it is for. */
	if ((ret = zimg_add_ds(f->img, type, label, &ds)) < 0)
		return ret;
	ds->ttl = (uint32_t)ttl;
	slots[idx] = ds;
	while ((sub = meta_find(rd, rdlen, "sub=", sub, &n)) != NULL) {
		uint8_t key[DNAME_MAX];
		int kl = 0;
		if (!(n == 1 && sub[0] == '@') &&
		    (kl = dname_text_to_key((const char *)sub, n, key)) < 0) {
			xp_why(f->why, f->why_cap, "_gridns metadata: dataset %u: bad sub=%.*s",
			       (unsigned)idx, (int)n, (const char *)sub);
			return GN_EINVAL;
		}
		if ((ret = zimg_ds_add_sub(ds, key, (size_t)kl)) < 0)
			return ret;
		sub += n;
	}
	return 0;
}

/* Check versions, read the zone record, then build the datasets in index
 * order (xform_emit's order).  *has_meta = 0 when there is none. */
static int meta_build(struct xp_fin *f, int *has_meta)
{
	const uint8_t *zone_rd = NULL, *s;
	size_t zone_n = 0, n;
	uint64_t n_ds = 0, exp = 0;
	struct zimg_ds **slots = NULL, **order = NULL;
	int ret = 0;

	*has_meta = f->n_meta > 0;
	for (size_t i = 0; i < f->n_meta; i++) {
		const struct xp_rec *r = f->meta[i];
		const uint8_t *rd = r->buf + r->olen;
		if (!(s = meta_find(rd, r->rdlen, "v=", NULL, &n))) {
			xp_why(f->why, f->why_cap, "_gridns metadata record without v= version");
			return GN_EFORMAT;
		}
		if (n != 1 || s[0] != '0' + XFORM_VERSION) {
			xp_why(f->why, f->why_cap,
			       "transfer format version v=%.*s is not supported (this build reads "
			       "v=%d); upgrade gridns-zonesync on this host",
			       (int)(n > 16 ? 16 : n), (const char *)s, XFORM_VERSION);
			return GN_EFORMAT;
		}
		if (meta_has(rd, r->rdlen, "zone")) {
			zone_rd = rd;
			zone_n = r->rdlen;
		}
	}
	if (!*has_meta)
		return 0;
	if (!zone_rd || !(s = meta_find(zone_rd, zone_n, "datasets=", NULL, &n)) ||
	    meta_u64(s, n, XP_MAX_DS, &n_ds) < 0) {
		xp_why(f->why, f->why_cap, "_gridns metadata: no valid zone record (datasets=N)");
		return GN_EINVAL;
	}
	if ((s = meta_find(zone_rd, zone_n, "expires=", NULL, &n)) != NULL) {
		if (meta_u64(s, n, INT64_MAX, &exp) < 0) {
			xp_why(f->why, f->why_cap, "_gridns metadata: bad expires=");
			return GN_EINVAL;
		}
		f->img->ts_expires = (int64_t)exp;
	}
	if (f->n_meta != n_ds + 1) {
		xp_why(f->why, f->why_cap, "_gridns metadata: %zu records for %u datasets",
		       f->n_meta, (unsigned)n_ds);
		return GN_EINVAL;
	}
	if (n_ds && (!(slots = calloc(n_ds, sizeof(*slots))) ||
		     !(order = calloc(n_ds, sizeof(*order))))) {
		ret = GN_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < f->n_meta; i++) {
		const struct xp_rec *r = f->meta[i];
		const uint8_t *rd = r->buf + r->olen;
		if (rd == zone_rd)
			continue;
		if ((ret = meta_ds(f, rd, r->rdlen, slots, (uint32_t)n_ds)) < 0)
			goto out;
	}
	/* The datasets were appended in arrival order; put them in index order. */
	for (uint64_t i = 0; i < n_ds; i++)
		order[i] = slots[i];
	memcpy(f->img->ds, order, n_ds * sizeof(*order));
out:
	free(slots);
	free(order);
	return ret;
}

/* ---- entries ------------------------------------------------------------ */

/* Labels of a key: offsets and count. */
static int key_labels(const uint8_t *k, size_t kl, const uint8_t *lab[128])
{
	int n = 0;
	for (size_t i = 0; i < kl && n < 128; i += k[i] + 1u)
		lab[n++] = k + i;
	return n;
}

static int is_star(const uint8_t *l)
{
	return l[0] == 1 && l[1] == '*';
}

/* Reversed-address key (MSB first, maybe "*" last) -> lo + prefix length.
 * v6 = 0: decimal octets; 1: hex nibbles. */
static int parse_ip(const uint8_t *k, size_t kl, int v6, uint8_t lo[16], uint8_t *plen)
{
	const uint8_t *lab[128];
	int n = key_labels(k, kl, lab), wild = n > 0 && is_star(lab[n - 1]);
	int parts = n - wild, full = v6 ? 32 : 4;

	if (wild ? parts >= full : parts != full)
		return 0;
	memset(lo, 0, 16);
	for (int i = 0; i < parts; i++) {
		const uint8_t *l = lab[i];
		unsigned v = 0;
		if (v6) {
			if (l[0] != 1)
				return 0;
			if (l[1] >= '0' && l[1] <= '9')
				v = l[1] - '0';
			else if (l[1] >= 'a' && l[1] <= 'f')
				v = l[1] - 'a' + 10u;
			else
				return 0;
			lo[i / 2] |= (uint8_t)(i % 2 ? v : v << 4);
		} else {
			if (l[0] < 1 || l[0] > 3 || (l[0] > 1 && l[1] == '0'))
				return 0;
			for (int c = 1; c <= l[0]; c++) {
				if (l[c] < '0' || l[c] > '9')
					return 0;
				v = v * 10 + (unsigned)(l[c] - '0');
			}
			if (v > 255)
				return 0;
			lo[i] = (uint8_t)v;
		}
	}
	*plen = (uint8_t)(parts * (v6 ? 4 : 8));
	return 1;
}

static int fin_item(struct xp_fin *f, const struct xp_item *it)
{
	if (f->n_items == f->cap_items) {
		size_t nc = f->cap_items ? f->cap_items * 2 : 1024;
		struct xp_item *nv = realloc(f->items, nc * sizeof(*nv));
		if (!nv)
			return GN_ENOMEM;
		f->items = nv;
		f->cap_items = nc;
	}
	f->items[f->n_items++] = *it;
	return 0;
}

static int fin_key(struct xp_fin *f, const uint8_t *k, size_t kl, uint32_t *off)
{
	if (f->klen + kl > f->kcap) {
		size_t nc = f->kcap ? f->kcap * 2 : 65536;
		uint8_t *nv;
		while (nc < f->klen + kl)
			nc *= 2;
		if (!(nv = realloc(f->karena, nc)))
			return GN_ENOMEM;
		f->karena = nv;
		f->kcap = nc;
	}
	memcpy(f->karena + f->klen, k, kl);
	*off = (uint32_t)f->klen;
	f->klen += kl;
	return 0;
}

/* Offer record `ri` (relative key rk to the apex) to dataset `di`.
 * 1 taken, 0 not for this dataset, <0 error. */
static int offer(struct xp_fin *f, uint32_t di, uint32_t ri, const uint8_t *rk, size_t rkl)
{
	const struct zimg_ds *ds = f->img->ds[di];
	const struct xp_rec *r = &f->p->recs.v[ri];
	enum zimg_index ix = zimg_index_of(ds->type);

	/* Longest attachment point first: a name under "sub" belongs to the
	 * attachment "sub" rather than to the apex, or the records would be
	 * emitted again under every other attachment point. */
	for (long last = LONG_MAX;;) {
		uint32_t s = 0;
		long best = -1;
		/* rank: length first, then the earlier attachment point */
		for (uint32_t c = 0; c < ds->n_subs; c++) {
			long rank = (long)ds->sub_lens[c] * 65536 + (65535 - (long)(c & 0xffff));
			if (rank < last && rank > best) {
				best = rank;
				s = c;
			}
		}
		if (best < 0)
			break;
		last = best;
		size_t sl = ds->sub_lens[s];
		const uint8_t *k = rk + sl;
		size_t kl = rkl - sl;
		struct xp_item it = { .ds = di, .rec = ri };
		if (sl > rkl || memcmp(rk, ds->subs[s], sl) != 0)
			continue;
		if (ix == ZIX_RR)
			return zimg_ds_add_rr(f->img->ds[di], k, kl, r->type, r->ttl,
					      r->buf + r->olen, r->rdlen) < 0 ? GN_ENOMEM : 1;
		if (r->ttl != ds->ttl)
			continue;
		if (ix == ZIX_IP4 || ix == ZIX_IP6) {
			if ((r->type != XP_TYPE_A && r->type != XP_TYPE_TXT) ||
			    !parse_ip(k, kl, ix == ZIX_IP6, it.lo, &it.plen))
				continue;
			return fin_item(f, &it) < 0 ? GN_ENOMEM : 1;
		}
		if (r->type != XP_TYPE_A && r->type != XP_TYPE_TXT && r->type != XFORM_TYPE_EXCL)
			continue;
		{
			const uint8_t *lab[128];
			int n = key_labels(k, kl, lab);
			if (n > 0 && is_star(lab[n - 1])) {
				it.wild = 1;
				kl -= 2;
			}
			it.klen = (uint8_t)kl;
			if (fin_key(f, k, kl, &it.koff) < 0 || fin_item(f, &it) < 0)
				return GN_ENOMEM;
			return 1;
		}
	}
	return 0;
}

static struct xp_fin *g_sort_fin; /* qsort has no context argument in C11 */

static int item_cmp(const void *a, const void *b)
{
	const struct xp_item *x = a, *y = b;
	const struct zimg *img = g_sort_fin->img;
	int c;

	if (x->ds != y->ds)
		return x->ds < y->ds ? -1 : 1;
	if (zimg_index_of(img->ds[x->ds]->type) == ZIX_DOM) {
		size_t n = x->klen < y->klen ? x->klen : y->klen;
		c = memcmp(g_sort_fin->karena + x->koff, g_sort_fin->karena + y->koff, n);
		if (c)
			return c;
		if (x->klen != y->klen)
			return x->klen < y->klen ? -1 : 1;
		return (int)x->wild - (int)y->wild;
	}
	if ((c = memcmp(x->lo, y->lo, 16)) != 0)
		return c;
	return (int)x->plen - (int)y->plen;
}

static int same_entry(const struct xp_item *x, const struct xp_item *y)
{
	return item_cmp(x, y) == 0;
}

static int val_cmp(const void *a, const void *b)
{
	const struct zimg_val *x = a, *y = b;
	int c = memcmp(x->a, y->a, 4);
	if (c)
		return c;
	if (x->has_txt != y->has_txt)
		return x->has_txt ? 1 : -1;
	c = memcmp(x->txt, y->txt, x->txt_len < y->txt_len ? x->txt_len : y->txt_len);
	if (c)
		return c;
	return (int)x->txt_len - (int)y->txt_len;
}

/* Items [i,j) name one entry: build its value set.  *vs = valset index or
 * ZIMG_EXCL.  A and TXT pair in sorted order; extra TXTs pair with the last
 * address (all answers stay the same: A answers distinct addresses, TXT
 * answers every template). */
static int entry_valset(struct xp_fin *f, size_t i, size_t j, uint32_t *vs)
{
	struct zimg_ds *ds = f->img->ds[f->items[i].ds];
	struct zimg_val *a = calloc(j - i, sizeof(*a)), *t = calloc(j - i, sizeof(*t));
	size_t na = 0, nt = 0, nv;
	int excl = 0, ret = 0;
	int64_t v;

	if (!a || !t) {
		ret = GN_ENOMEM;
		goto out;
	}
	for (size_t k = i; k < j; k++) {
		const struct xp_rec *r = &f->p->recs.v[f->items[k].rec];
		const uint8_t *rd = r->buf + r->olen;
		if (r->type == XFORM_TYPE_EXCL) {
			excl = 1;
		} else if (r->type == XP_TYPE_A) {
			if (r->rdlen != 4)
				goto bad;
			memcpy(a[na++].a, rd, 4);
		} else {
			struct zimg_val *x = &t[nt++];
			size_t o = 0, w = 0;
			if (!(x->txt = malloc(r->rdlen + 1u))) {
				ret = GN_ENOMEM;
				goto out;
			}
			x->has_txt = true;
			while (o < r->rdlen) {
				size_t n = rd[o];
				if (o + 1 + n > r->rdlen)
					goto bad;
				memcpy(x->txt + w, rd + o + 1, n);
				w += n;
				o += 1 + n;
			}
			x->txt_len = (uint16_t)w;
		}
	}
	if (excl) {
		if (na || nt)
			goto bad;
		*vs = ZIMG_EXCL;
		goto out;
	}
	if (na == 0)
		goto bad;
	qsort(a, na, sizeof(*a), val_cmp);
	qsort(t, nt, sizeof(*t), val_cmp);
	{
		size_t w = 0;
		for (size_t k = 0; k < na; k++)
			if (w == 0 || memcmp(a[w - 1].a, a[k].a, 4) != 0)
				a[w++] = a[k];
		na = w;
		w = 0;
		for (size_t k = 0; k < nt; k++) {
			if (w && val_cmp(&t[w - 1], &t[k]) == 0) {
				free(t[k].txt);
				t[k].txt = NULL;
				continue;
			}
			t[w++] = t[k];
		}
		for (size_t k = w; k < nt; k++)
			t[k].txt = NULL;
		nt = w;
	}
	nv = na > nt ? na : nt;
	for (size_t k = 0; k < nv; k++) {
		/* t[] becomes the value list: address from a[], template kept. */
		if (k >= nt) {
			t[k].has_txt = false;
			t[k].txt = NULL;
			t[k].txt_len = 0;
		}
		memcpy(t[k].a, a[k < na ? k : na - 1].a, 4);
	}
	if ((v = zimg_ds_valset(ds, t, (uint32_t)nv)) < 0) {
		ret = (int)v;
		goto out;
	}
	*vs = (uint32_t)v;
	goto out;
bad:
	xp_why(f->why, f->why_cap, "dataset %s: an entry has malformed or inconsistent A/TXT/"
	       "exclusion records", ds->label);
	ret = GN_EINVAL;
out:
	if (t)
		for (size_t k = 0; k < j - i; k++)
			free(t[k].txt);
	free(a);
	free(t);
	return ret;
}

static void ip_hi(const uint8_t lo[16], int plen, int bits, uint8_t hi[16])
{
	memcpy(hi, lo, 16);
	for (int b = plen; b < bits; b++)
		hi[b / 8] |= (uint8_t)(0x80 >> (b % 8));
}

/* hi + 1 == lo over `bits` bits? */
static int ip_adjacent(const uint8_t hi[16], const uint8_t lo[16], int bytes)
{
	uint8_t n[16];
	unsigned carry = 1;
	memcpy(n, hi, 16);
	for (int i = bytes - 1; i >= 0 && carry; i--) {
		unsigned s = n[i] + carry;
		n[i] = (uint8_t)s;
		carry = s >> 8;
	}
	return !carry && memcmp(n, lo, (size_t)bytes) == 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Pending range of an IP dataset, merged while adjacent with equal values. */
struct run {
	int have;
	uint32_t ds, vs;
	uint8_t lo[16], hi[16];
};

static int run_flush(struct xp_fin *f, struct run *r)
{
	struct zimg_ds *ds;
	if (!r->have)
		return 0;
	r->have = 0;
	ds = f->img->ds[r->ds];
	if (zimg_index_of(ds->type) == ZIX_IP4)
		return zimg_ds_add_ip4(ds, be32(r->lo), be32(r->hi), r->vs);
	return zimg_ds_add_ip6(ds, r->lo, r->hi, r->vs);
}

static int build_entries(struct xp_fin *f)
{
	struct run run = { 0 };
	int ret = 0;

	g_sort_fin = f;
	qsort(f->items, f->n_items, sizeof(*f->items), item_cmp);
	for (size_t i = 0, j; i < f->n_items && ret >= 0; i = j) {
		const struct xp_item *it = &f->items[i];
		struct zimg_ds *ds = f->img->ds[it->ds];
		enum zimg_index ix = zimg_index_of(ds->type);
		uint32_t vs;
		for (j = i + 1; j < f->n_items && same_entry(it, &f->items[j]); j++)
			;
		if ((ret = entry_valset(f, i, j, &vs)) < 0)
			break;
		if (ix == ZIX_DOM) {
			uint32_t vs_wild = ZIMG_NONE, vs_exact = ZIMG_NONE;
			if (it->wild) {
				vs_wild = vs;
			} else {
				vs_exact = vs;
				/* the wildcard of the same name, if any, follows */
				size_t k = j;
				while (k < f->n_items && f->items[k].ds == it->ds &&
				       f->items[k].wild && f->items[k].klen == it->klen &&
				       memcmp(f->karena + f->items[k].koff, f->karena + it->koff,
					      it->klen) == 0)
					k++;
				if (k > j && (ret = entry_valset(f, j, k, &vs_wild)) < 0)
					break;
				j = k;
			}
			ret = zimg_ds_add_dom(ds, f->karena + it->koff, it->klen, vs_exact, vs_wild);
			continue;
		}
		{
			int bits = ix == ZIX_IP4 ? 32 : 128;
			uint8_t hi[16];
			if (vs == ZIMG_EXCL) {
				xp_why(f->why, f->why_cap, "dataset %s: exclusion record in an IP "
				       "dataset", ds->label);
				ret = GN_EINVAL;
				break;
			}
			ip_hi(it->lo, it->plen, bits, hi);
			if (run.have && run.ds == it->ds && run.vs == vs &&
			    ip_adjacent(run.hi, it->lo, bits / 8)) {
				memcpy(run.hi, hi, 16);
				continue;
			}
			if ((ret = run_flush(f, &run)) < 0)
				break;
			run = (struct run){ .have = 1, .ds = it->ds, .vs = vs };
			memcpy(run.lo, it->lo, 16);
			memcpy(run.hi, hi, 16);
		}
	}
	if (ret >= 0)
		ret = run_flush(f, &run);
	g_sort_fin = NULL;
	return ret < 0 ? ret : 0;
}

/* ---- finish ------------------------------------------------------------- */

static int fin_apex(struct xp_fin *f, const struct xp_rec *r)
{
	struct zimg *img = f->img;
	const uint8_t *rd = r->buf + r->olen;

	if (r->type == XP_TYPE_SOA) {
		int ml, rl;
		if (img->soa.present)
			return 0;
		if ((ml = dname_wire_len(rd)) < 1 || (size_t)ml >= r->rdlen ||
		    (rl = dname_wire_len(rd + ml)) < 1 || (size_t)(ml + rl + 20) != r->rdlen) {
			xp_why(f->why, f->why_cap, "malformed SOA");
			return GN_EINVAL;
		}
		memcpy(img->soa.mname, rd, (size_t)ml);
		memcpy(img->soa.rname, rd + ml, (size_t)rl);
		rd += ml + rl;
		img->soa.serial = be32(rd);
		img->soa.refresh = be32(rd + 4);
		img->soa.retry = be32(rd + 8);
		img->soa.expire = be32(rd + 12);
		img->soa.minimum = be32(rd + 16);
		img->soa.ttl = r->ttl;
		img->soa.present = true;
		return 1;
	}
	if (r->type == XP_TYPE_NS) {
		int nl = dname_wire_len(rd);
		if (nl < 1 || nl != r->rdlen) {
			xp_why(f->why, f->why_cap, "malformed apex NS");
			return GN_EINVAL;
		}
		if (img->n_ns < ZIMG_MAX_NS) {
			memcpy(img->ns[img->n_ns++], rd, (size_t)nl);
			if (!img->ns_ttl || r->ttl < img->ns_ttl)
				img->ns_ttl = r->ttl;
		}
		return 1;
	}
	return r->type == XP_TYPE_ZONEMD; /* checked by the caller, not stored */
}

static int fin_classify(struct xp_fin *f, int *has_meta)
{
	struct xform_parse *p = f->p;
	size_t meta_len = 8u + (size_t)p->apex_len;
	int ret = 0;

	if (!(f->meta = calloc(p->recs.n + 1, sizeof(*f->meta))))
		return GN_ENOMEM;
	for (size_t i = 0; i < p->recs.n && ret >= 0; i++) {
		const struct xp_rec *r = &p->recs.v[i];
		if (r->olen == p->apex_len)
			ret = fin_apex(f, r);
		else if (r->type == XP_TYPE_TXT && r->olen == meta_len &&
			 memcmp(r->buf, "\7" XFORM_META_LABEL, 8) == 0)
			f->meta[f->n_meta++] = r;
	}
	if (ret < 0)
		return ret;
	return meta_build(f, has_meta);
}

static int fin_records(struct xp_fin *f, int has_meta)
{
	struct xform_parse *p = f->p;
	struct zimg *img = f->img;
	size_t meta_len = 8u + (size_t)p->apex_len;
	struct zimg_ds *zds = NULL;
	int ret;

	if (!has_meta) {
		if ((ret = zimg_add_ds(img, ZDS_ZONE, "zone:transfer", &zds)) < 0)
			return ret;
		zds->ttl = img->soa.present ? img->soa.minimum : 0;
	}
	for (size_t i = 0; i < p->recs.n; i++) {
		const struct xp_rec *r = &p->recs.v[i];
		uint8_t key[DNAME_MAX];
		int kl, taken = 0;
		if (r->olen == p->apex_len &&
		    (r->type == XP_TYPE_SOA || r->type == XP_TYPE_NS || r->type == XP_TYPE_ZONEMD))
			continue;
		if (r->type == XP_TYPE_TXT && r->olen == meta_len &&
		    memcmp(r->buf, "\7" XFORM_META_LABEL, 8) == 0)
			continue;
		kl = dname_wire_to_key(r->buf, key);
		if (kl < img->keylen)
			return GN_EINVAL;
		if (zds) {
			if (zimg_ds_add_rr(zds, key + img->keylen, (size_t)kl - img->keylen,
					   r->type, r->ttl, r->buf + r->olen, r->rdlen) < 0)
				return GN_ENOMEM;
			zds->n_source_entries++;
			continue;
		}
		/* DNSBL datasets first: generic/zone ones accept any record and
		 * would swallow entries that an IP or dnset dataset describes. */
		for (int pass = 0; pass < 2 && !taken; pass++)
			for (uint32_t d = 0; d < img->n_ds && !taken; d++) {
				int rr_kind = zimg_index_of(img->ds[d]->type) == ZIX_RR;
				if (rr_kind != pass)
					continue;
				if ((taken = offer(f, d, (uint32_t)i, key + img->keylen,
						   (size_t)kl - img->keylen)) < 0)
					return taken;
			}
		if (!taken) {
			char t[DNAME_TEXT_MAX];
			if (dname_to_text(r->buf, t, sizeof(t)) < 0)
				strcpy(t, "?");
			xp_why(f->why, f->why_cap, "record %s type %u TTL %u belongs to no dataset "
			       "of the _gridns metadata", t, r->type, r->ttl);
			return GN_EINVAL;
		}
	}
	return 0;
}

int xform_parse_had_meta(const struct xform_parse *p)
{
	return p->had_meta;
}

int xform_parse_finish(struct xform_parse *p, struct zimg **out, char *why, size_t why_cap)
{
	struct xp_fin f = { .p = p, .why = why, .why_cap = why_cap };
	int ret, has_meta = 0;

	*out = NULL;
	xp_why(why, why_cap, "%s", "");
	if ((ret = xp_apply_dels(p, why, why_cap)) < 0)
		goto out;
	if (!(f.img = zimg_new(p->img->name))) {
		ret = GN_ENOMEM;
		goto out;
	}
	if ((ret = fin_classify(&f, &has_meta)) < 0 || (ret = fin_records(&f, has_meta)) < 0 ||
	    (ret = build_entries(&f)) < 0)
		goto out;
	if ((ret = zimg_finish(f.img)) < 0) {
		if (!why || !why[0])
			xp_why(why, why_cap, "the records do not form a valid image (see log)");
		goto out;
	}
	p->had_meta = has_meta;
	*out = f.img;
	f.img = NULL;
out:
	if (ret == GN_ENOMEM && why && !why[0])
		xp_why(why, why_cap, "out of memory");
	if (ret < 0 && why && !why[0])
		xp_why(why, why_cap, "%s", gn_strerror(ret));
	zimg_free(f.img);
	free(f.items);
	free(f.karena);
	free(f.meta);
	return ret;
}
