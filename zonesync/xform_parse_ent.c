/* zonesync/xform_parse_ent.c - DNSBL entries back into an image: each
 * record goes to the first dataset whose attachment point and kind accept
 * it; one sort groups the records of a name into a value set; adjacent
 * address blocks with equal value sets merge into one range (as the
 * compilers store them, so the image emits the same records again). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "zonesync/xform_parse_int.h"


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
	/* The arena exists from the first key on, even an empty (apex) one:
	 * every key is addressed as karena + offset, and arithmetic on a NULL
	 * pointer is undefined even with offset 0. */
	if (!f->karena || f->klen + kl > f->kcap) {
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
/* An entry of a dataset attached at several points is emitted under each
 * of them; a record is that entry's only if its twins under the other
 * points exist too.  Otherwise a name "a.x" at the apex of a dataset also
 * attached at "x" would be read as the entry "a" of "x", and the image
 * would list "a" at the apex: a listing the publisher never made (found by
 * tests/fuzz/fuzz_xfr_client with FUZZ_XFORM_ROUNDTRIP=1). */
static bool at_every_sub(const struct xp_fin *f, const struct zimg_ds *ds, const uint8_t *k,
			 size_t kl, const struct xp_rec *r)
{
	uint8_t key[2 * DNAME_MAX + 2];
	const struct zimg *img = f->img;

	for (uint32_t s = 0; s < ds->n_subs; s++) {
		size_t n = (size_t)img->keylen + ds->sub_lens[s] + kl;
		if (n > DNAME_MAX - 1)
			return false;
		memcpy(key, img->key, img->keylen);
		memcpy(key + img->keylen, ds->subs[s], ds->sub_lens[s]);
		memcpy(key + img->keylen + ds->sub_lens[s], k, kl);
		if (!xform_parse_holds(f, key, n, r))
			return false;
	}
	return true;
}

int xform_parse_offer(struct xp_fin *f, uint32_t di, uint32_t ri, const uint8_t *rk, size_t rkl)
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
		if (sl > rkl || memcmp(rk, ds->subs[s], sl) != 0)
			continue;
		const uint8_t *k = rk + sl;
		size_t kl = rkl - sl;
		struct xp_item it = { .ds = di, .rec = ri };
		if (ds->n_subs > 1 && !at_every_sub(f, ds, k, kl, r))
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

/* qsort_r (glibc, _GNU_SOURCE): the order needs the finish context, and a
 * global would make two parsers on two threads race. */
static int item_cmp(const void *a, const void *b, void *arg)
{
	const struct xp_fin *sf = arg;
	const struct xp_item *x = a, *y = b;
	const struct zimg *img = sf->img;
	int c;

	if (x->ds != y->ds)
		return x->ds < y->ds ? -1 : 1;
	if (zimg_index_of(img->ds[x->ds]->type) == ZIX_DOM) {
		size_t n = x->klen < y->klen ? x->klen : y->klen;
		c = memcmp(sf->karena + x->koff, sf->karena + y->koff, n);
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

static int same_entry(struct xp_fin *f, const struct xp_item *x, const struct xp_item *y)
{
	return item_cmp(x, y, f) == 0;
}

static int val_cmp(const void *a, const void *b)
{
	const struct zimg_val *x = a, *y = b;
	int c = memcmp(x->a, y->a, 4);
	if (c)
		return c;
	if (x->has_txt != y->has_txt)
		return x->has_txt ? 1 : -1;
	if (!x->has_txt)
		return 0;
	/* an empty template may have no buffer: memcmp only what exists */
	if (x->txt_len && y->txt_len &&
	    (c = memcmp(x->txt, y->txt, x->txt_len < y->txt_len ? x->txt_len : y->txt_len)) != 0)
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
	xform_parse_why(f->why, f->why_cap, "dataset %s: an entry has malformed or inconsistent A/TXT/"
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

uint32_t xform_parse_be32(const uint8_t *p)
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
		return zimg_ds_add_ip4(ds, xform_parse_be32(r->lo), xform_parse_be32(r->hi), r->vs);
	return zimg_ds_add_ip6(ds, r->lo, r->hi, r->vs);
}

int xform_parse_build_entries(struct xp_fin *f)
{
	struct run run = { 0 };
	int ret = 0;

	if (f->n_items) /* qsort wants a non-NULL base even for 0 items */
		qsort_r(f->items, f->n_items, sizeof(*f->items), item_cmp, f);
	for (size_t i = 0, j; i < f->n_items && ret >= 0; i = j) {
		const struct xp_item *it = &f->items[i];
		struct zimg_ds *ds = f->img->ds[it->ds];
		enum zimg_index ix = zimg_index_of(ds->type);
		uint32_t vs;
		for (j = i + 1; j < f->n_items && same_entry(f, it, &f->items[j]); j++)
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
				xform_parse_why(f->why, f->why_cap, "dataset %s: exclusion record in an IP "
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
	return ret < 0 ? ret : 0;
}
