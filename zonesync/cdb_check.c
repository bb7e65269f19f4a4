/* zonesync/cdb_check.c - the import safety rules (see cdb.h).
 *
 * Each rule catches a failure that operators of rbldnsd feeds have been
 * bitten by (users.md section 1): a feed swapped for a tiny "misuse" file,
 * a list that silently stops listing the RFC 5782 test points, a zone
 * loaded with the wrong dataset type.  The rules compare the new image with
 * the current one only; a zone's first import has nothing to compare with.
 */
#include <stdarg.h>
#include <string.h>
#include "zonesync/cdb.h"

static void refuse(struct cdb_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(struct cdb_plan *p, const char *fmt, ...)
{
	size_t o = strlen(p->refusal);
	va_list ap;

	if (o + 3 >= sizeof(p->refusal))
		return;
	if (o) {
		strcpy(p->refusal + o, "; ");
		o += 2;
	}
	va_start(ap, fmt);
	vsnprintf(p->refusal + o, sizeof(p->refusal) - o, fmt, ap);
	va_end(ap);
}

static void types_text(const struct zimg *img, char *b, size_t cap)
{
	size_t o = 0;
	b[0] = 0;
	for (uint32_t i = 0; i < img->n_ds && o + 1 < cap; i++) {
		int n = snprintf(b + o, cap - o, "%s%s", i ? "+" : "",
				 zimg_dstype_name(img->ds[i]->type));
		if (n < 0)
			break;
		o += (size_t)n;
	}
	if (!img->n_ds)
		snprintf(b, cap, "(none)");
}

/* ---- RFC 5782 test points ----------------------------------------------- */

static bool ip4_listed(const struct zimg_ds *ds, uint32_t a)
{
	size_t lo = 0, hi = ds->n_ip4;
	while (lo < hi) {
		size_t m = lo + (hi - lo) / 2;
		if (ds->ip4[m].hi < a)
			lo = m + 1;
		else if (ds->ip4[m].lo > a)
			hi = m;
		else
			return true;
	}
	return false;
}

static bool ip6_listed(const struct zimg_ds *ds, const uint8_t a[16])
{
	size_t lo = 0, hi = ds->n_ip6;
	while (lo < hi) {
		size_t m = lo + (hi - lo) / 2;
		if (memcmp(ds->ip6[m].hi, a, 16) < 0)
			lo = m + 1;
		else if (memcmp(ds->ip6[m].lo, a, 16) > 0)
			hi = m;
		else
			return true;
	}
	return false;
}

static const struct zimg_dom *dom_find(const struct zimg_ds *ds, const uint8_t *k, size_t kl)
{
	for (size_t i = 0; i < ds->n_dom; i++) /* few lookups per import */
		if (ds->dom[i].keylen == kl && memcmp(ds->dom[i].key, k, kl) == 0)
			return &ds->dom[i];
	return NULL;
}

/* "test" is listed: an exact entry decides, else a wildcard at the
 * attachment point itself ("test" has no other ancestor there). */
static bool dom_test_listed(const struct zimg_ds *ds)
{
	const struct zimg_dom *d = dom_find(ds, (const uint8_t *)"\4test", 5);
	if (d && d->vs_exact != ZIMG_NONE)
		return d->vs_exact != ZIMG_EXCL;
	d = dom_find(ds, (const uint8_t *)"", 0);
	return d && d->vs_wild != ZIMG_NONE && d->vs_wild != ZIMG_EXCL;
}

static const uint8_t test6[16] = { [10] = 0xff, [11] = 0xff, [12] = 0x7f, [15] = 2 };

/* Does dataset ds list the test point of its kind?  -1: no test point
 * for this kind of dataset (generic, master file). */
static int ds_test(const struct zimg_ds *ds)
{
	switch (zimg_index_of(ds->type)) {
	case ZIX_IP4: return ip4_listed(ds, 0x7f000002u);
	case ZIX_IP6: return ip6_listed(ds, test6);
	case ZIX_DOM: return dom_test_listed(ds);
	default: return -1;
	}
}

static const char *test_name(enum zimg_index ix)
{
	return ix == ZIX_IP4 ? "127.0.0.2" : ix == ZIX_IP6 ? "::ffff:7f00:2" : "test";
}

/* Is the test point of kind ix listed at attachment `sub` in img? */
static bool img_test_at(const struct zimg *img, enum zimg_index ix, const uint8_t *sub, size_t sl)
{
	for (uint32_t i = 0; i < img->n_ds; i++) {
		const struct zimg_ds *ds = img->ds[i];
		if (zimg_index_of(ds->type) != ix || ds_test(ds) != 1)
			continue;
		for (uint32_t s = 0; s < ds->n_subs; s++)
			if (ds->sub_lens[s] == sl && memcmp(ds->subs[s], sub, sl) == 0)
				return true;
	}
	return false;
}

static void check_test_points(const struct zimg *old, const struct zimg *img, struct cdb_plan *p)
{
	for (uint32_t i = 0; i < old->n_ds; i++) {
		const struct zimg_ds *ds = old->ds[i];
		enum zimg_index ix = zimg_index_of(ds->type);
		if (ds_test(ds) != 1)
			continue;
		for (uint32_t s = 0; s < ds->n_subs; s++) {
			uint8_t w[DNAME_MAX];
			char t[DNAME_TEXT_MAX] = "the apex";
			if (img_test_at(img, ix, ds->subs[s], ds->sub_lens[s]))
				continue;
			if (ds->sub_lens[s] && (dname_key_to_wire(ds->subs[s], ds->sub_lens[s], w) < 0 ||
						dname_to_text(w, t, sizeof(t)) < 0))
				strcpy(t, "?");
			refuse(p, "the RFC 5782 test entry %s (listed at %s, serial %u) is not listed "
			       "by the new source", test_name(ix), t, p->serial_from);
		}
	}
}

void cdb_check(const struct zimg *old, const struct zimg *img, const struct cdb_opts *o,
	       struct cdb_plan *p)
{
	double max = o && o->max_shrink >= 0 ? o->max_shrink : CDB_DEFAULT_MAX_SHRINK;
	char a[256], b[256];

	if (!old)
		return;
	types_text(old, a, sizeof(a));
	types_text(img, b, sizeof(b));
	if (strcmp(a, b) != 0)
		refuse(p, "dataset types change from %s to %s", a, b);
	check_test_points(old, img, p);
	if (p->old_data > 0 && p->new_data < p->old_data &&
	    (double)(p->old_data - p->new_data) > max * (double)p->old_data)
		refuse(p, "data records drop from %zu to %zu (-%.1f%%), more than the allowed "
		       "%.1f%% (--max-shrink %g)", p->old_data, p->new_data,
		       100.0 * (double)(p->old_data - p->new_data) / (double)p->old_data,
		       100.0 * max, max);
}
