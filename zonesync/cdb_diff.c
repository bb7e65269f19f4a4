/* zonesync/cdb_diff.c - the minimal changeset between two zone images.
 *
 * Both images are emitted in transfer form, each record encoded as the
 * journal stores it, sorted in canonical order and de-duplicated (an RRset
 * is a set, RFC 2181 5); one merge pass then yields the deletions and
 * additions.  The SOA is left out of the data diff: it changes with every
 * serial, and the changeset carries the old and the new one first.
 */
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/cdb.h"
#include "zonesync/xform.h"

bool cdb_serial_gt(uint32_t a, uint32_t b)
{
	/* RFC 1982 3.2 with SERIAL_BITS = 32; a - b of exactly 2^31 is
	 * undefined there, and "not greater" is the safe answer. */
	uint32_t d = a - b;
	return d != 0 && d < 0x80000000u;
}

uint32_t cdb_next_serial(uint32_t cur, uint32_t src)
{
	uint32_t s = cdb_serial_gt(src, cur) ? src : cur + 1;
	return s ? s : 1;
}

int cdb_default_soa(struct zimg *img)
{
	char t[DNAME_TEXT_MAX + 16];
	int n;

	if (img->soa.present)
		return 0;
	if (img->n_ns) {
		memcpy(img->soa.mname, img->ns[0], (size_t)dname_wire_len(img->ns[0]));
	} else if (dname_key_to_wire(img->key, img->keylen, img->soa.mname) < 0) {
		return GN_EINVAL;
	}
	n = snprintf(t, sizeof(t), "hostmaster.%s", img->name);
	if (n < 0 || (size_t)n >= sizeof(t) || dname_from_text(t, (size_t)n, img->soa.rname) < 0)
		return GN_EINVAL;
	img->soa.present = true;
	img->soa.ttl = 3600;
	img->soa.serial = 0;
	img->soa.refresh = 3600;
	img->soa.retry = 600;
	img->soa.expire = 604800;
	img->soa.minimum = 2100;
	log_warn("zone %s: the source has no $SOA; using a default one (add $SOA to the source "
		 "to choose the timers)", img->name);
	return 0;
}

/* ---- record lists ------------------------------------------------------- */

struct rlist {
	struct strbuf buf;      /* encoded records, back to back */
	const uint8_t **rec;    /* sorted pointers into buf */
	size_t n;
	size_t data;            /* records emitted by datasets */
	const uint8_t *soa;     /* the SOA record (into buf), excluded from rec */
};

static void rec_put(struct strbuf *b, const struct xform_rr *rr)
{
	uint8_t h[8];
	strbuf_add(b, (const char *)&rr->owner_len, 1);
	strbuf_add(b, (const char *)rr->owner, rr->owner_len);
	h[0] = (uint8_t)(rr->type >> 8); h[1] = (uint8_t)rr->type;
	h[2] = (uint8_t)(rr->ttl >> 24); h[3] = (uint8_t)(rr->ttl >> 16);
	h[4] = (uint8_t)(rr->ttl >> 8);  h[5] = (uint8_t)rr->ttl;
	h[6] = (uint8_t)(rr->rdlen >> 8); h[7] = (uint8_t)rr->rdlen;
	strbuf_add(b, (const char *)h, 8);
	if (rr->rdlen)
		strbuf_add(b, (const char *)rr->rdata, rr->rdlen);
}

static size_t rec_len(const uint8_t *p)
{
	size_t o = 1u + p[0];
	return o + 8 + (size_t)(p[o + 6] << 8 | p[o + 7]);
}

static void rec_decode(const uint8_t *p, struct xform_rr *rr)
{
	const uint8_t *q = p + 1 + p[0];
	rr->owner_len = p[0];
	rr->owner = p + 1;
	rr->type = (uint16_t)(q[0] << 8 | q[1]);
	rr->rclass = XFORM_CLASS_IN;
	rr->ttl = (uint32_t)q[2] << 24 | (uint32_t)q[3] << 16 | (uint32_t)q[4] << 8 | q[5];
	rr->rdlen = (uint16_t)(q[6] << 8 | q[7]);
	rr->rdata = q + 8;
	rr->ds = 0;
}

static int rec_cmp(const void *a, const void *b)
{
	struct xform_rr x, y;
	rec_decode(*(const uint8_t *const *)a, &x);
	rec_decode(*(const uint8_t *const *)b, &y);
	return xform_rr_cmp(&x, &y);
}

static int rl_collect(void *arg, const struct xform_rr *rr)
{
	struct rlist *l = arg;
	/* The SOA goes first in the buffer, where rl_build finds it. */
	if (rr->ds >= 0)
		l->data++;
	rec_put(&l->buf, rr);
	return l->buf.err ? GN_ENOMEM : 0;
}

static int rl_build(struct rlist *l, const struct zimg *img)
{
	const uint8_t *p, *end;
	size_t cap = 0, w = 0;
	int r;

	if ((r = xform_emit(img, rl_collect, l)) != 0)
		return r;
	p = (const uint8_t *)l->buf.p;
	end = p + l->buf.len;
	for (const uint8_t *q = p; q < end; q += rec_len(q))
		cap++;
	if (cap && !(l->rec = malloc(cap * sizeof(*l->rec))))
		return GN_ENOMEM;
	for (const uint8_t *q = p; q < end; q += rec_len(q)) {
		struct xform_rr rr;
		rec_decode(q, &rr);
		if (q == p && rr.type == 6) { /* xform_emit puts the SOA first */
			l->soa = q;
			continue;
		}
		l->rec[w++] = q;
	}
	qsort(l->rec, w, sizeof(*l->rec), rec_cmp);
	l->n = 0;
	for (size_t i = 0; i < w; i++)
		if (l->n == 0 || rec_cmp(&l->rec[l->n - 1], &l->rec[i]) != 0)
			l->rec[l->n++] = l->rec[i];
	return 0;
}

static void rl_free(struct rlist *l)
{
	strbuf_free(&l->buf);
	free(l->rec);
}

static void rec_copy(struct strbuf *b, const uint8_t *p)
{
	strbuf_add(b, (const char *)p, rec_len(p));
}

/* Encode img's SOA record as the journal stores it. */
static void soa_rec(struct strbuf *b, const struct zimg *img)
{
	uint8_t rd[2 * DNAME_MAX + 20], owner[DNAME_MAX];
	int ml = dname_wire_len(img->soa.mname), rl = dname_wire_len(img->soa.rname);
	int ol = dname_key_to_wire(img->key, img->keylen, owner);
	const uint32_t v[5] = { img->soa.serial, img->soa.refresh, img->soa.retry,
				img->soa.expire, img->soa.minimum };
	struct xform_rr rr = { .owner = owner, .owner_len = (uint8_t)ol, .type = 6,
			       .rclass = XFORM_CLASS_IN, .ttl = img->soa.ttl, .rdata = rd };
	size_t n;

	memcpy(rd, img->soa.mname, (size_t)ml);
	memcpy(rd + ml, img->soa.rname, (size_t)rl);
	n = (size_t)(ml + rl);
	for (int i = 0; i < 5; i++, n += 4) {
		rd[n] = (uint8_t)(v[i] >> 24); rd[n + 1] = (uint8_t)(v[i] >> 16);
		rd[n + 2] = (uint8_t)(v[i] >> 8); rd[n + 3] = (uint8_t)v[i];
	}
	rr.rdlen = (uint16_t)n;
	rec_put(b, &rr);
}

/* SOA fields other than the serial: a change there is a change of the zone. */
static bool soa_differs(const struct zimg *a, const struct zimg *b)
{
	return a->soa.ttl != b->soa.ttl || a->soa.refresh != b->soa.refresh ||
	       a->soa.retry != b->soa.retry || a->soa.expire != b->soa.expire ||
	       a->soa.minimum != b->soa.minimum ||
	       !dname_wire_equal(a->soa.mname, b->soa.mname) ||
	       !dname_wire_equal(a->soa.rname, b->soa.rname);
}

int cdb_plan_zone(struct zimg *old, struct zimg *img, const struct cdb_opts *o,
		  struct cdb_plan *p)
{
	struct rlist a, b;
	struct strbuf dels, adds;
	uint32_t src;
	size_t i = 0, j = 0;
	int ret;

	memset(p, 0, sizeof(*p));
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	strbuf_init(&p->recs);
	strbuf_init(&a.buf);
	strbuf_init(&b.buf);
	strbuf_init(&dels);
	strbuf_init(&adds);
	p->zone = img->name;
	if ((ret = cdb_default_soa(img)) < 0 || (old && (ret = cdb_default_soa(old)) < 0))
		goto out;
	src = img->soa.serial;
	if ((ret = rl_build(&b, img)) < 0)
		goto out;
	p->new_data = b.data;
	if (!old) {
		p->is_new = p->changed = true;
		p->serial_to = img->soa.serial = src ? src : 1;
		ret = 0;
		goto out;
	}
	if ((ret = rl_build(&a, old)) < 0)
		goto out;
	p->old_data = a.data;
	p->serial_from = old->soa.serial;
	while (i < a.n || j < b.n) {
		int c = i == a.n ? 1 : j == b.n ? -1 : rec_cmp(&a.rec[i], &b.rec[j]);
		if (c < 0) {
			rec_copy(&dels, a.rec[i++]);
			p->n_del++;
		} else if (c > 0) {
			rec_copy(&adds, b.rec[j++]);
			p->n_add++;
		} else {
			i++;
			j++;
		}
	}
	if (dels.err || adds.err) {
		ret = GN_ENOMEM;
		goto out;
	}
	p->changed = p->n_del || p->n_add || soa_differs(old, img);
	if (!p->changed) {
		p->n_del = p->n_add = 0;
		p->serial_to = img->soa.serial = old->soa.serial;
		ret = 0;
		goto out;
	}
	p->serial_to = img->soa.serial = cdb_next_serial(old->soa.serial, src);
	/* IXFR order: old SOA, deletions, new SOA, additions. */
	soa_rec(&p->recs, old);
	strbuf_add(&p->recs, dels.p ? dels.p : "", dels.len);
	soa_rec(&p->recs, img);
	strbuf_add(&p->recs, adds.p ? adds.p : "", adds.len);
	p->n_del++;
	p->n_add++;
	ret = p->recs.err ? GN_ENOMEM : 0;
	if (ret == 0)
		cdb_check(old, img, o, p);
out:
	rl_free(&a);
	rl_free(&b);
	strbuf_free(&dels);
	strbuf_free(&adds);
	return ret;
}

void cdb_plan_free(struct cdb_plan *p)
{
	if (p)
		strbuf_free(&p->recs);
}
