/* zonesync/zimg.c - compiled zone image: builders, interning, invariants.
 *
 * Builders only append; zimg_finish sorts and checks once, so a compiler that
 * emits a million ranges pays O(n log n) in one place.  Value sets are
 * interned through a private open-addressing hash (ds->intern) because the
 * same A+TXT pair is repeated on most lines of a real dataset. */
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/zimg.h"

static const char *const zimg_names[] = {
	[ZDS_IP4SET] = "ip4set",   [ZDS_IP4TSET] = "ip4tset", [ZDS_IP4TRIE] = "ip4trie",
	[ZDS_IP6TSET] = "ip6tset", [ZDS_IP6TRIE] = "ip6trie", [ZDS_DNSET] = "dnset",
	[ZDS_GENERIC] = "generic", [ZDS_ZONE] = "zone",
};

enum zimg_index zimg_index_of(enum zimg_dstype t)
{
	switch (t) {
	case ZDS_IP4SET: case ZDS_IP4TSET: case ZDS_IP4TRIE: return ZIX_IP4;
	case ZDS_IP6TSET: case ZDS_IP6TRIE: return ZIX_IP6;
	case ZDS_DNSET: return ZIX_DOM;
	case ZDS_GENERIC: case ZDS_ZONE: return ZIX_RR;
	}
	return 0;
}

const char *zimg_dstype_name(enum zimg_dstype t)
{
	if ((int)t <= 0 || (size_t)t >= sizeof(zimg_names) / sizeof(zimg_names[0]))
		return NULL;
	return zimg_names[t];
}

enum zimg_dstype zimg_dstype_parse(const char *name)
{
	for (size_t i = 1; i < sizeof(zimg_names) / sizeof(zimg_names[0]); i++)
		if (zimg_names[i] && strcmp(zimg_names[i], name) == 0)
			return (enum zimg_dstype)i;
	return 0;
}

/* ---- valset interning --------------------------------------------------- */

struct zimg_intern {
	uint32_t *slot; /* valset index + 1; 0 = empty */
	uint32_t cap;   /* power of two */
	uint32_t used;
};

static uint64_t zimg_hash_vals(const struct zimg_val *v, uint32_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *p = v[i].a;
		for (int k = 0; k < 4; k++)
			h = (h ^ p[k]) * 1099511628211ull;
		h = (h ^ (v[i].has_txt ? 1u : 2u)) * 1099511628211ull;
		if (v[i].has_txt)
			for (uint16_t k = 0; k < v[i].txt_len; k++)
				h = (h ^ (uint8_t)v[i].txt[k]) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull;
	}
	return h ^ (h >> 29);
}

static bool zimg_val_eq(const struct zimg_val *a, const struct zimg_val *b)
{
	if (memcmp(a->a, b->a, 4) != 0 || a->has_txt != b->has_txt)
		return false;
	if (!a->has_txt)
		return true;
	return a->txt_len == b->txt_len && memcmp(a->txt, b->txt, a->txt_len) == 0;
}

static bool zimg_vs_eq(const struct zimg_ds *ds, uint32_t vs, const struct zimg_val *v, uint32_t n)
{
	const struct zimg_valset *s = &ds->valsets[vs];
	if (s->count != n)
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!zimg_val_eq(&ds->vals[s->first + i], &v[i]))
			return false;
	return true;
}

static int zimg_intern_grow(struct zimg_ds *ds, struct zimg_intern *in)
{
	uint32_t ncap = in->cap ? in->cap * 2 : 64;
	uint32_t *ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return GN_ENOMEM;
	for (uint32_t i = 0; i < in->cap; i++) {
		uint32_t idx = in->slot[i];
		if (!idx)
			continue;
		const struct zimg_valset *s = &ds->valsets[idx - 1];
		uint64_t h = zimg_hash_vals(&ds->vals[s->first], s->count);
		uint32_t j = (uint32_t)h & (ncap - 1);
		while (ns[j])
			j = (j + 1) & (ncap - 1);
		ns[j] = idx;
	}
	free(in->slot);
	in->slot = ns;
	in->cap = ncap;
	return 0;
}

static void zimg_intern_free(struct zimg_ds *ds)
{
	struct zimg_intern *in = ds->intern;
	if (!in)
		return;
	free(in->slot);
	free(in);
	ds->intern = NULL;
}

/* Grow an array of `size`-byte elements to hold at least `need`. */
static int zimg_grow(void **arr, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	void *p = realloc(*arr, ncap * size);
	if (!p)
		return GN_ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int zimg_grow32(void **arr, uint32_t *cap, size_t need, size_t size)
{
	size_t c = *cap;
	if (need > UINT32_MAX - 1)
		return GN_ELIMIT;
	int ret = zimg_grow(arr, &c, need, size);
	if (ret == 0)
		*cap = (uint32_t)(c > UINT32_MAX ? UINT32_MAX : c);
	return ret;
}

int64_t zimg_ds_valset(struct zimg_ds *ds, const struct zimg_val *vals, uint32_t n)
{
	struct zimg_intern *in = ds->intern;
	int ret;

	if (n == 0)
		return GN_EINVAL;
	if (!in) {
		in = calloc(1, sizeof(*in));
		if (!in)
			return GN_ENOMEM;
		ds->intern = in;
	}
	if ((in->used + 1) * 2 > in->cap) {
		ret = zimg_intern_grow(ds, in);
		if (ret < 0)
			return ret;
	}
	uint64_t h = zimg_hash_vals(vals, n);
	uint32_t j = (uint32_t)h & (in->cap - 1);
	while (in->slot[j]) {
		if (zimg_vs_eq(ds, in->slot[j] - 1, vals, n))
			return in->slot[j] - 1;
		j = (j + 1) & (in->cap - 1);
	}
	ret = zimg_grow32((void **)&ds->vals, &ds->cap_vals, (size_t)ds->n_vals + n, sizeof(*ds->vals));
	if (ret < 0)
		return ret;
	ret = zimg_grow32((void **)&ds->valsets, &ds->cap_valsets, (size_t)ds->n_valsets + 1,
			  sizeof(*ds->valsets));
	if (ret < 0)
		return ret;
	uint32_t first = ds->n_vals;
	for (uint32_t i = 0; i < n; i++) {
		struct zimg_val *d = &ds->vals[first + i];
		*d = vals[i];
		d->txt = NULL;
		if (vals[i].has_txt) {
			d->txt = malloc(vals[i].txt_len ? vals[i].txt_len : 1);
			if (!d->txt) {
				for (uint32_t k = 0; k < i; k++)
					free(ds->vals[first + k].txt);
				return GN_ENOMEM;
			}
			memcpy(d->txt, vals[i].txt, vals[i].txt_len);
		}
	}
	ds->n_vals += n;
	ds->valsets[ds->n_valsets] = (struct zimg_valset){ .first = first, .count = n };
	in->slot[j] = ++ds->n_valsets;
	in->used++;
	return ds->n_valsets - 1;
}

/* ---- lifecycle ---------------------------------------------------------- */

struct zimg *zimg_new(const char *zone_name)
{
	struct zimg *img = calloc(1, sizeof(*img));
	size_t len = strlen(zone_name);
	int k;

	if (!img)
		return NULL;
	while (len > 1 && zone_name[len - 1] == '.')
		len--;
	img->name = strndup(zone_name, len);
	if (!img->name) {
		free(img);
		return NULL;
	}
	k = dname_text_to_key(img->name, len, img->key);
	if (k < 0) {
		/* An invalid name is reported by the caller's own checks; keep
		 * the image usable as the root so it can still be freed. */
		k = 0;
	}
	img->keylen = (uint8_t)k;
	return img;
}

static void zimg_ds_free(struct zimg_ds *ds)
{
	if (!ds)
		return;
	free(ds->label);
	for (uint32_t i = 0; i < ds->n_subs; i++)
		free(ds->subs[i]);
	free(ds->subs);
	free(ds->sub_lens);
	for (uint32_t i = 0; i < ds->n_vals; i++)
		free(ds->vals[i].txt);
	free(ds->vals);
	free(ds->valsets);
	free(ds->ip4);
	free(ds->ip6);
	for (size_t i = 0; i < ds->n_dom; i++)
		free(ds->dom[i].key);
	free(ds->dom);
	for (size_t i = 0; i < ds->n_rr; i++) {
		free(ds->rr[i].key);
		free(ds->rr[i].rdata);
	}
	free(ds->rr);
	zimg_intern_free(ds);
	free(ds);
}

void zimg_free(struct zimg *img)
{
	if (!img)
		return;
	for (uint32_t i = 0; i < img->n_ds; i++)
		zimg_ds_free(img->ds[i]);
	free(img->ds);
	free(img->name);
	free(img->source);
	free(img);
}

/* ---- builders ----------------------------------------------------------- */

int zimg_add_ds(struct zimg *img, enum zimg_dstype type, const char *label,
		struct zimg_ds **out)
{
	struct zimg_ds *ds, **nds;

	if (!zimg_dstype_name(type))
		return GN_EINVAL;
	ds = calloc(1, sizeof(*ds));
	if (!ds)
		return GN_ENOMEM;
	ds->type = type;
	ds->label = strdup(label ? label : zimg_dstype_name(type));
	nds = realloc(img->ds, (img->n_ds + 1) * sizeof(*nds));
	if (!ds->label || !nds) {
		if (nds)
			img->ds = nds;
		zimg_ds_free(ds);
		return GN_ENOMEM;
	}
	img->ds = nds;
	img->ds[img->n_ds++] = ds;
	if (out)
		*out = ds;
	return 0;
}

int zimg_ds_add_sub(struct zimg_ds *ds, const uint8_t *relkey, size_t len)
{
	uint8_t **ns;
	uint8_t *nl, *k;

	if (len >= DNAME_MAX)
		return GN_EINVAL;
	for (uint32_t i = 0; i < ds->n_subs; i++)
		if (ds->sub_lens[i] == len && (len == 0 || memcmp(ds->subs[i], relkey, len) == 0))
			return 0; /* attaching twice at one point changes nothing */
	k = malloc(len ? len : 1);
	if (!k)
		return GN_ENOMEM;
	/* The apex is (NULL, 0); memcpy/memcmp with NULL is UB even for 0 octets. */
	if (len)
		memcpy(k, relkey, len);
	ns = realloc(ds->subs, (ds->n_subs + 1) * sizeof(*ns));
	if (!ns) {
		free(k);
		return GN_ENOMEM;
	}
	ds->subs = ns;
	nl = realloc(ds->sub_lens, ds->n_subs + 1);
	if (!nl) {
		free(k);
		return GN_ENOMEM;
	}
	ds->sub_lens = nl;
	ds->subs[ds->n_subs] = k;
	ds->sub_lens[ds->n_subs] = (uint8_t)len;
	ds->n_subs++;
	return 0;
}

int zimg_ds_add_ip4(struct zimg_ds *ds, uint32_t lo, uint32_t hi, uint32_t vs)
{
	if (lo > hi || vs >= ds->n_valsets)
		return GN_EINVAL;
	if (zimg_grow((void **)&ds->ip4, &ds->cap_ip4, ds->n_ip4 + 1, sizeof(*ds->ip4)) < 0)
		return GN_ENOMEM;
	ds->ip4[ds->n_ip4++] = (struct zimg_ip4){ .lo = lo, .hi = hi, .vs = vs };
	return 0;
}

int zimg_ds_add_ip6(struct zimg_ds *ds, const uint8_t lo[16], const uint8_t hi[16], uint32_t vs)
{
	if (memcmp(lo, hi, 16) > 0 || vs >= ds->n_valsets)
		return GN_EINVAL;
	if (zimg_grow((void **)&ds->ip6, &ds->cap_ip6, ds->n_ip6 + 1, sizeof(*ds->ip6)) < 0)
		return GN_ENOMEM;
	struct zimg_ip6 *e = &ds->ip6[ds->n_ip6++];
	memcpy(e->lo, lo, 16);
	memcpy(e->hi, hi, 16);
	e->vs = vs;
	return 0;
}

static bool zimg_vs_ok(const struct zimg_ds *ds, uint32_t vs)
{
	return vs == ZIMG_NONE || vs == ZIMG_EXCL || vs < ds->n_valsets;
}

int zimg_ds_add_dom(struct zimg_ds *ds, const uint8_t *key, size_t keylen,
		    uint32_t vs_exact, uint32_t vs_wild)
{
	uint8_t *k;

	if (keylen >= DNAME_MAX || !zimg_vs_ok(ds, vs_exact) || !zimg_vs_ok(ds, vs_wild))
		return GN_EINVAL;
	if (zimg_grow((void **)&ds->dom, &ds->cap_dom, ds->n_dom + 1, sizeof(*ds->dom)) < 0)
		return GN_ENOMEM;
	k = malloc(keylen ? keylen : 1);
	if (!k)
		return GN_ENOMEM;
	memcpy(k, key, keylen);
	ds->dom[ds->n_dom++] = (struct zimg_dom){
		.key = k, .keylen = (uint8_t)keylen, .vs_exact = vs_exact, .vs_wild = vs_wild,
	};
	return 0;
}

int zimg_ds_add_rr(struct zimg_ds *ds, const uint8_t *key, size_t keylen, uint16_t type,
		   uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
	uint8_t *k, *r;

	if (keylen >= DNAME_MAX)
		return GN_EINVAL;
	if (zimg_grow((void **)&ds->rr, &ds->cap_rr, ds->n_rr + 1, sizeof(*ds->rr)) < 0)
		return GN_ENOMEM;
	k = malloc(keylen ? keylen : 1);
	r = malloc(rdlen ? rdlen : 1);
	if (!k || !r) {
		free(k);
		free(r);
		return GN_ENOMEM;
	}
	memcpy(k, key, keylen);
	memcpy(r, rdata, rdlen);
	ds->rr[ds->n_rr++] = (struct zimg_rr){
		.key = k, .keylen = (uint8_t)keylen, .type = type, .ttl = ttl,
		.rdlen = rdlen, .rdata = r,
	};
	return 0;
}

/* ---- finish ------------------------------------------------------------- */

static int zimg_keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

static int zimg_ip4_cmp(const void *x, const void *y)
{
	const struct zimg_ip4 *a = x, *b = y;
	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

static int zimg_ip6_cmp(const void *x, const void *y)
{
	const struct zimg_ip6 *a = x, *b = y;
	return memcmp(a->lo, b->lo, 16);
}

static int zimg_dom_cmp(const void *x, const void *y)
{
	const struct zimg_dom *a = x, *b = y;
	return zimg_keycmp(a->key, a->keylen, b->key, b->keylen);
}

static int zimg_rr_cmp(const void *x, const void *y)
{
	const struct zimg_rr *a = x, *b = y;
	int c = zimg_keycmp(a->key, a->keylen, b->key, b->keylen);
	if (c)
		return c;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	return zimg_keycmp(a->rdata, a->rdlen, b->rdata, b->rdlen);
}

static int zimg_finish_ds(struct zimg *img, struct zimg_ds *ds)
{
	int ret;

	zimg_intern_free(ds);
	if (ds->n_subs == 0) {
		/* A plain dataset serves the apex. */
		ret = zimg_ds_add_sub(ds, (const uint8_t *)"", 0);
		if (ret < 0)
			return ret;
	}
	if (ds->n_ip4) {
		qsort(ds->ip4, ds->n_ip4, sizeof(*ds->ip4), zimg_ip4_cmp);
		for (size_t i = 1; i < ds->n_ip4; i++)
			if (ds->ip4[i].lo <= ds->ip4[i - 1].hi) {
				log_err("zone %s, dataset %s: IPv4 ranges overlap at entry %zu",
					img->name, ds->label, i);
				return GN_EINVAL;
			}
	}
	if (ds->n_ip6) {
		qsort(ds->ip6, ds->n_ip6, sizeof(*ds->ip6), zimg_ip6_cmp);
		for (size_t i = 1; i < ds->n_ip6; i++)
			if (memcmp(ds->ip6[i].lo, ds->ip6[i - 1].hi, 16) <= 0) {
				log_err("zone %s, dataset %s: IPv6 ranges overlap at entry %zu",
					img->name, ds->label, i);
				return GN_EINVAL;
			}
	}
	if (ds->n_dom) {
		qsort(ds->dom, ds->n_dom, sizeof(*ds->dom), zimg_dom_cmp);
		for (size_t i = 1; i < ds->n_dom; i++)
			if (zimg_dom_cmp(&ds->dom[i - 1], &ds->dom[i]) == 0) {
				log_err("zone %s, dataset %s: duplicate name key at entry %zu",
					img->name, ds->label, i);
				return GN_EINVAL;
			}
	}
	if (ds->n_rr) {
		/* Identical records collapse (RFC 2181 5: an RRset is a set); one
		 * RRset gets one TTL, the smallest given (RFC 2181 5.2). */
		size_t w = 0;
		qsort(ds->rr, ds->n_rr, sizeof(*ds->rr), zimg_rr_cmp);
		for (size_t i = 0; i < ds->n_rr; i++) {
			if (w && zimg_rr_cmp(&ds->rr[w - 1], &ds->rr[i]) == 0) {
				if (ds->rr[i].ttl < ds->rr[w - 1].ttl)
					ds->rr[w - 1].ttl = ds->rr[i].ttl;
				free(ds->rr[i].key);
				free(ds->rr[i].rdata);
				continue;
			}
			ds->rr[w++] = ds->rr[i];
		}
		ds->n_rr = w;
		for (size_t i = 0; i < w;) {
			size_t j = i;
			uint32_t ttl = ds->rr[i].ttl;
			while (j < w && ds->rr[j].type == ds->rr[i].type &&
			       zimg_keycmp(ds->rr[j].key, ds->rr[j].keylen, ds->rr[i].key,
					   ds->rr[i].keylen) == 0) {
				if (ds->rr[j].ttl < ttl)
					ttl = ds->rr[j].ttl;
				j++;
			}
			for (size_t k = i; k < j; k++)
				ds->rr[k].ttl = ttl;
			i = j;
		}
	}
	return 0;
}

int zimg_finish(struct zimg *img)
{
	for (uint32_t i = 0; i < img->n_ds; i++) {
		int ret = zimg_finish_ds(img, img->ds[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

size_t zimg_count(const struct zimg *img)
{
	size_t n = 0;
	for (uint32_t i = 0; i < img->n_ds; i++) {
		const struct zimg_ds *ds = img->ds[i];
		n += ds->n_ip4 + ds->n_ip6 + ds->n_dom + ds->n_rr;
	}
	return n;
}
