/* zonesync/snap_zrec.c - the zone record: encode from an image, decode into
 * a view.  Layout in zonesync/snap_format.h.  Decoding checks every length
 * against the record size: a damaged record is GN_ECORRUPT, never a crash. */
#include <string.h>
#include "common/err.h"
#include "common/strbuf.h"
#include "zonesync/snap_int.h"

static void put8(struct strbuf *b, uint8_t v) { strbuf_add(b, (const char *)&v, 1); }
static void put16(struct strbuf *b, uint16_t v)
{
	uint8_t t[2];
	snap_be16(t, v);
	strbuf_add(b, (const char *)t, 2);
}
static void put32(struct strbuf *b, uint32_t v)
{
	uint8_t t[4];
	snap_be32(t, v);
	strbuf_add(b, (const char *)t, 4);
}
static void put64(struct strbuf *b, uint64_t v)
{
	uint8_t t[8];
	snap_be64(t, v);
	strbuf_add(b, (const char *)t, 8);
}
static void putname(struct strbuf *b, const uint8_t *wire)
{
	int n = dname_wire_len(wire);
	put8(b, (uint8_t)n);
	strbuf_add(b, (const char *)wire, (size_t)n);
}

static uint64_t zrec_ds_entries(const struct zimg_ds *ds)
{
	return ds->n_ip4 + ds->n_ip6 + ds->n_dom + ds->n_rr;
}

int snap_zrec_encode(const struct zimg *img, const uint32_t *dsids, int64_t loaded,
		     struct strbuf *b)
{
	static const uint8_t root[1] = { 0 };
	size_t nl = strlen(img->name), sl = img->source ? strlen(img->source) : 0;

	if (nl > 255 || sl > 65535)
		return GN_ERANGE;
	put16(b, SNAP_FORMAT);
	put32(b, img->soa.serial);
	put8(b, img->soa.present);
	put32(b, img->soa.ttl);
	put32(b, img->soa.refresh);
	put32(b, img->soa.retry);
	put32(b, img->soa.expire);
	put32(b, img->soa.minimum);
	putname(b, img->soa.present ? img->soa.mname : root);
	putname(b, img->soa.present ? img->soa.rname : root);
	put32(b, img->ns_ttl);
	put8(b, (uint8_t)img->n_ns);
	for (uint32_t i = 0; i < img->n_ns; i++)
		putname(b, img->ns[i]);
	put64(b, (uint64_t)loaded);
	put64(b, (uint64_t)img->ts_generated);
	put64(b, (uint64_t)img->ts_expires);
	put64(b, (uint64_t)img->src_mtime);
	put8(b, (uint8_t)nl);
	strbuf_add(b, img->name, nl);
	put16(b, (uint16_t)sl);
	strbuf_add(b, img->source ? img->source : "", sl);
	put32(b, img->n_ds);
	for (uint32_t i = 0; i < img->n_ds; i++) {
		const struct zimg_ds *ds = img->ds[i];
		size_t ll = ds->label ? strlen(ds->label) : 0;
		if (ll > 65535)
			ll = 65535;
		put32(b, dsids[i]);
		put8(b, (uint8_t)ds->type);
		put32(b, ds->ttl);
		put64(b, zrec_ds_entries(ds));
		put64(b, ds->n_source_entries);
		put16(b, (uint16_t)ll);
		strbuf_add(b, ds->label ? ds->label : "", ll);
		put32(b, ds->n_subs);
		for (uint32_t s = 0; s < ds->n_subs; s++) {
			put8(b, ds->sub_lens[s]);
			strbuf_add(b, (const char *)ds->subs[s], ds->sub_lens[s]);
		}
	}
	return b->err;
}

/* Bounds-checked reader over a record. */
struct zrd {
	const uint8_t *p, *end;
	int bad;
};

static const uint8_t *take(struct zrd *r, size_t n)
{
	const uint8_t *p = r->p;
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	r->p += n;
	return p;
}
static uint8_t get8(struct zrd *r) { const uint8_t *p = take(r, 1); return p ? *p : 0; }
static uint16_t get16(struct zrd *r) { const uint8_t *p = take(r, 2); return p ? snap_rd16(p) : 0; }
static uint32_t get32(struct zrd *r) { const uint8_t *p = take(r, 4); return p ? snap_rd32(p) : 0; }
static uint64_t get64(struct zrd *r) { const uint8_t *p = take(r, 8); return p ? snap_rd64(p) : 0; }

/* A length-prefixed wire name that must be well formed within its length. */
static const uint8_t *getname(struct zrd *r)
{
	uint8_t n = get8(r);
	const uint8_t *p = take(r, n);
	if (!p || n == 0)
		goto bad;
	for (size_t i = 0; i < n;) {
		if (p[i] == 0)
			return i + 1 == n ? p : (r->bad = 1, NULL);
		if (p[i] > DNAME_LABEL_MAX)
			break;
		i += p[i] + 1u;
	}
bad:
	r->bad = 1;
	return NULL;
}

int snap_zrec_decode(const uint8_t *key, size_t keylen, const uint8_t *p, size_t n,
		     struct snap_zone *z)
{
	struct zrd r = { p, p + n, 0 };

	memset(z, 0, sizeof(*z));
	z->key = key;
	z->keylen = (uint8_t)keylen;
	z->format = get16(&r);
	if (!r.bad && z->format != SNAP_FORMAT)
		return GN_EFORMAT;
	z->serial = get32(&r);
	z->has_soa = get8(&r) != 0;
	z->soa_ttl = get32(&r);
	z->refresh = get32(&r);
	z->retry = get32(&r);
	z->expire = get32(&r);
	z->minimum = get32(&r);
	z->mname = getname(&r);
	z->rname = getname(&r);
	z->ns_ttl = get32(&r);
	z->n_ns = get8(&r);
	z->ns = r.p;
	for (uint32_t i = 0; i < z->n_ns && !r.bad; i++)
		getname(&r);
	z->loaded = (int64_t)get64(&r);
	z->ts_generated = (int64_t)get64(&r);
	z->ts_expires = (int64_t)get64(&r);
	z->src_mtime = (int64_t)get64(&r);
	z->name_len = get8(&r);
	z->name = (const char *)take(&r, z->name_len);
	z->source_len = get16(&r);
	z->source = (const char *)take(&r, z->source_len);
	z->n_ds = get32(&r);
	z->ds_raw = r.p;
	z->ds_raw_len = (uint32_t)(r.end - r.p);
	if (r.bad || z->n_ds > 4096)
		return GN_ECORRUPT;
	return 0;
}

int snap_zone_ns(const struct snap_zone *z, uint32_t i, const uint8_t **wire)
{
	const uint8_t *p = z->ns;
	if (i >= z->n_ns)
		return GN_ERANGE;
	while (i--)
		p += *p + 1u;
	*wire = p + 1;
	return 0;
}

int snap_zone_ds(const struct snap_zone *z, uint32_t idx, struct snap_ds *d)
{
	struct zrd r = { z->ds_raw, z->ds_raw + z->ds_raw_len, 0 };

	if (idx >= z->n_ds)
		return GN_ERANGE;
	for (uint32_t i = 0; i <= idx && !r.bad; i++) {
		d->dsid = get32(&r);
		d->type = (enum zimg_dstype)get8(&r);
		d->ttl = get32(&r);
		d->n_entries = get64(&r);
		d->n_source = get64(&r);
		d->label_len = get16(&r);
		d->label = (const char *)take(&r, d->label_len);
		d->n_subs = get32(&r);
		d->subs = r.p;
		for (uint32_t s = 0; s < d->n_subs && !r.bad; s++)
			take(&r, get8(&r));
	}
	return r.bad ? GN_ECORRUPT : 0;
}

int snap_zrec_dsids(const struct snap_zone *z, uint32_t *out, uint32_t max)
{
	struct snap_ds d;
	uint32_t i;
	for (i = 0; i < z->n_ds && i < max; i++) {
		int ret = snap_zone_ds(z, i, &d);
		if (ret < 0)
			return ret;
		out[i] = d.dsid;
	}
	return (int)i;
}
