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
#include "zonesync/xform_parse_int.h"

void xform_parse_why(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;
	if (!why || !cap)
		return;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
}

/* Length of the wire name at p within max octets (labels of 1..63 octets
 * and the root), or -1: records come from the network, and a name running
 * past its record must not be followed (found by tests/fuzz/fuzz_xfr_client). */
static int xp_name_len(const uint8_t *p, size_t max)
{
	size_t i = 0;
	while (i < max && i < DNAME_MAX) {
		if (p[i] == 0)
			return (int)i + 1;
		if (p[i] > DNAME_LABEL_MAX)
			return -1;
		i += p[i] + 1u;
	}
	return -1;
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
	int ol = xp_name_len(rr->owner, rr->owner_len);

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

/* Any total order serves to match deletions, and owners are stored
 * lowercased, so plain octet comparison gives the same equality as the
 * canonical order of xform_rr_cmp at a fraction of its cost (2M records of
 * a 1M-entry zone are sorted for every IXFR). */
int xform_parse_rec_cmp(const void *a, const void *b)
{
	const struct xp_rec *x = a, *y = b;
	int c;

	if (x->olen != y->olen)
		return x->olen < y->olen ? -1 : 1;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if (x->rdlen != y->rdlen)
		return x->rdlen < y->rdlen ? -1 : 1;
	if (x->ttl != y->ttl)
		return x->ttl < y->ttl ? -1 : 1;
	c = memcmp(x->buf, y->buf, (size_t)x->olen + x->rdlen);
	return c;
}

bool xform_parse_holds(const struct xp_fin *f, const uint8_t *key, size_t keylen,
		       const struct xp_rec *like)
{
	const struct xp_list *l = &f->p->recs;
	uint8_t w[DNAME_MAX];
	int wl = dname_key_to_wire(key, keylen, w);
	size_t lo = 0, hi = l->n;

	if (wl < 1)
		return false;
	/* binary search in xform_parse_rec_cmp order, owner and rdata compared
	 * in two pieces so no record has to be built */
	while (lo < hi) {
		size_t m = lo + (hi - lo) / 2;
		const struct xp_rec *r = &l->v[m];
		int c = r->olen != wl ? (r->olen < wl ? -1 : 1)
			: r->type != like->type ? (r->type < like->type ? -1 : 1)
			: r->rdlen != like->rdlen ? (r->rdlen < like->rdlen ? -1 : 1)
			: r->ttl != like->ttl ? (r->ttl < like->ttl ? -1 : 1) : 0;
		if (c == 0 && (c = memcmp(r->buf, w, (size_t)wl)) == 0 && like->rdlen)
			c = memcmp(r->buf + r->olen, like->buf + like->olen, like->rdlen);
		if (c == 0)
			return true;
		if (c < 0)
			lo = m + 1;
		else
			hi = m;
	}
	return false;
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

	if (p->dels_applied || d->n == 0) {
		/* nothing to match: an AXFR is not sorted at all (finish groups
		 * the entries it needs with its own, cheaper sort) */
		p->dels_applied = 1;
		return 0;
	}
	if (r->n) /* qsort wants a non-NULL base even for 0 items */
		qsort(r->v, r->n, sizeof(*r->v), xform_parse_rec_cmp);
	qsort(d->v, d->n, sizeof(*d->v), xform_parse_rec_cmp);
	while (j < d->n) {
		int c = i < r->n ? xform_parse_rec_cmp(&r->v[i], &d->v[j]) : 1;
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
			xform_parse_why(why, cap, "deletion of a record the zone does not hold (%s type %u)",
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
			xform_parse_why(why, cap, "deletion of the zone metadata record, which the zone "
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

/* ---- finish ------------------------------------------------------------- */

static int fin_apex(struct xp_fin *f, const struct xp_rec *r)
{
	struct zimg *img = f->img;
	const uint8_t *rd = r->buf + r->olen;

	if (r->type == XP_TYPE_SOA) {
		int ml, rl;
		if (img->soa.present)
			return 0;
		if ((ml = xp_name_len(rd, r->rdlen)) < 1 || (size_t)ml >= r->rdlen ||
		    (rl = xp_name_len(rd + ml, r->rdlen - (size_t)ml)) < 1 ||
		    (size_t)(ml + rl + 20) != r->rdlen) {
			xform_parse_why(f->why, f->why_cap, "malformed SOA");
			return GN_EINVAL;
		}
		memcpy(img->soa.mname, rd, (size_t)ml);
		memcpy(img->soa.rname, rd + ml, (size_t)rl);
		rd += ml + rl;
		img->soa.serial = xform_parse_be32(rd);
		img->soa.refresh = xform_parse_be32(rd + 4);
		img->soa.retry = xform_parse_be32(rd + 8);
		img->soa.expire = xform_parse_be32(rd + 12);
		img->soa.minimum = xform_parse_be32(rd + 16);
		img->soa.ttl = r->ttl;
		img->soa.present = true;
		return 1;
	}
	if (r->type == XP_TYPE_NS) {
		int nl = xp_name_len(rd, r->rdlen);
		if (nl < 1 || nl != r->rdlen) {
			xform_parse_why(f->why, f->why_cap, "malformed apex NS");
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
	return xform_parse_meta_build(f, has_meta);
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
				if ((taken = xform_parse_offer(f, d, (uint32_t)i, key + img->keylen,
						   (size_t)kl - img->keylen)) < 0)
					return taken;
			}
		if (!taken) {
			char t[DNAME_TEXT_MAX];
			if (dname_to_text(r->buf, t, sizeof(t)) < 0)
				strcpy(t, "?");
			xform_parse_why(f->why, f->why_cap, "record %s type %u TTL %u belongs to no dataset "
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
	xform_parse_why(why, why_cap, "%s", "");
	if ((ret = xp_apply_dels(p, why, why_cap)) < 0)
		goto out;
	if (!(f.img = zimg_new(p->img->name))) {
		ret = GN_ENOMEM;
		goto out;
	}
	if ((ret = fin_classify(&f, &has_meta)) < 0)
		goto out;
	/* A dataset attached at several points must have each entry at every
	 * one of them; checking that needs the records sorted (only then). */
	for (uint32_t i = 0; i < f.img->n_ds && !f.sorted; i++)
		if (f.img->ds[i]->n_subs > 1) {
			qsort(p->recs.v, p->recs.n, sizeof(*p->recs.v), xform_parse_rec_cmp);
			f.sorted = true;
		}
	if ((ret = fin_records(&f, has_meta)) < 0 ||
	    (ret = xform_parse_build_entries(&f)) < 0)
		goto out;
	if ((ret = zimg_finish(f.img)) < 0) {
		if (!why || !why[0])
			xform_parse_why(why, why_cap, "the records do not form a valid image (see log)");
		goto out;
	}
	p->had_meta = has_meta;
	*out = f.img;
	f.img = NULL;
out:
	if (ret == GN_ENOMEM && why && !why[0])
		xform_parse_why(why, why_cap, "out of memory");
	if (ret < 0 && why && !why[0])
		xform_parse_why(why, why_cap, "%s", gn_strerror(ret));
	zimg_free(f.img);
	free(f.items);
	free(f.karena);
	free(f.meta);
	return ret;
}
