/* zonesync/xform_parse_meta.c - the _gridns metadata records back into the
 * datasets of an image (format in xform.h): versions checked first, so a
 * future format is refused before anything is built from it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "zonesync/xform_parse_int.h"


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
		xform_parse_why(f->why, f->why_cap, "_gridns metadata: bad or out-of-range ds= index");
		return GN_EINVAL;
	}
	if (slots[idx]) {
		xform_parse_why(f->why, f->why_cap, "_gridns metadata: dataset %u described twice",
		       (unsigned)idx);
		return GN_EINVAL;
	}
	if (!(s = meta_find(rd, rdlen, "type=", NULL, &n)) || n >= sizeof(tbuf)) {
		xform_parse_why(f->why, f->why_cap, "_gridns metadata: dataset %u has no type", (unsigned)idx);
		return GN_EINVAL;
	}
	memcpy(tbuf, s, n);
	tbuf[n] = 0;
	if (!(type = zimg_dstype_parse(tbuf))) {
		xform_parse_why(f->why, f->why_cap, "_gridns metadata: dataset %u has unknown type \"%s\"",
		       (unsigned)idx, tbuf);
		return GN_EFORMAT;
	}
	if (!(s = meta_find(rd, rdlen, "ttl=", NULL, &n)) || meta_u64(s, n, UINT32_MAX, &ttl) < 0) {
		xform_parse_why(f->why, f->why_cap, "_gridns metadata: dataset %u has no valid ttl",
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
			xform_parse_why(f->why, f->why_cap, "_gridns metadata: dataset %u: bad sub=%.*s",
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
int xform_parse_meta_build(struct xp_fin *f, int *has_meta)
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
			xform_parse_why(f->why, f->why_cap, "_gridns metadata record without v= version");
			return GN_EFORMAT;
		}
		if (n != 1 || s[0] != '0' + XFORM_VERSION) {
			xform_parse_why(f->why, f->why_cap,
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
		xform_parse_why(f->why, f->why_cap, "_gridns metadata: no valid zone record (datasets=N)");
		return GN_EINVAL;
	}
	if ((s = meta_find(zone_rd, zone_n, "expires=", NULL, &n)) != NULL) {
		if (meta_u64(s, n, INT64_MAX, &exp) < 0) {
			xform_parse_why(f->why, f->why_cap, "_gridns metadata: bad expires=");
			return GN_EINVAL;
		}
		f->img->ts_expires = (int64_t)exp;
	}
	if (f->n_meta != n_ds + 1) {
		xform_parse_why(f->why, f->why_cap, "_gridns metadata: %zu records for %u datasets",
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
	if (n_ds) /* a zone of no dataset has no array to fill */
		memcpy(f->img->ds, order, n_ds * sizeof(*order));
out:
	free(slots);
	free(order);
	return ret;
}
