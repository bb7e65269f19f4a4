/* zonesync/snap_load.c - read a stored zone back into a zone image.
 *
 * Not on the query path: used to diff a zone against a new compile, to apply
 * a changeset to what a node holds, and by tools.  The image is the same one
 * the compilers produce (valset indexes may differ; the values per entry do
 * not), so "store then load" is the identity the tests check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "zonesync/snap.h"

#define LOAD_MAX_VALS 4096

static int load_valset(struct zimg_ds *ds, struct snap_valset vs, struct zimg_val *tmp,
		       uint32_t *vsid)
{
	struct snap_val v;
	uint32_t n = 0;
	int64_t id;
	int r;

	while ((r = snap_valset_next(&vs, &v)) == 1) {
		if (n == LOAD_MAX_VALS)
			return GN_ERANGE;
		memcpy(tmp[n].a, v.a, 4);
		tmp[n].has_txt = v.has_txt;
		tmp[n].txt_len = v.txt_len;
		tmp[n].txt = (char *)v.txt;
		n++;
	}
	if (r < 0)
		return r;
	if ((id = zimg_ds_valset(ds, tmp, n)) < 0)
		return (int)id;
	*vsid = (uint32_t)id;
	return 0;
}

static int load_rrset(struct zimg_ds *ds, const uint8_t *key, size_t kl,
		      const struct snap_rrset *s)
{
	const uint8_t *p = s->rdata;
	for (uint16_t i = 0; i < s->count; i++) {
		uint16_t len;
		int r;
		if (s->end - p < 2)
			return GN_ECORRUPT;
		len = (uint16_t)(p[0] << 8 | p[1]);
		if ((size_t)(s->end - p - 2) < len)
			return GN_ECORRUPT;
		if ((r = zimg_ds_add_rr(ds, key, kl, s->type, s->ttl, p + 2, len)) < 0)
			return r;
		p += 2u + len;
	}
	return 0;
}

static int load_ds(snap_rd *rd, const struct snap_ds *sd, struct zimg_ds *ds,
		   struct zimg_val *tmp)
{
	struct snap_ent_it it;
	const uint8_t *s = sd->subs;
	uint32_t a, b;
	int r;

	ds->ttl = sd->ttl;
	ds->n_source_entries = sd->n_source;
	for (uint32_t i = 0; i < sd->n_subs; i++, s += *s + 1u)
		if ((r = zimg_ds_add_sub(ds, s + 1, *s)) < 0)
			return r;
	memset(&it, 0, sizeof(it));
	it.dsid = sd->dsid;
	it.ix = zimg_index_of(sd->type);
	while ((r = snap_ent_next(rd, &it)) == 1) {
		switch (it.ix) {
		case ZIX_IP4:
			if ((r = load_valset(ds, it.vs, tmp, &a)) == 0)
				r = zimg_ds_add_ip4(ds, it.ip4_lo, it.ip4_hi, a);
			break;
		case ZIX_IP6:
			if ((r = load_valset(ds, it.vs, tmp, &a)) == 0)
				r = zimg_ds_add_ip6(ds, it.ip6_lo, it.ip6_hi, a);
			break;
		case ZIX_DOM:
			a = it.excl_exact ? ZIMG_EXCL : ZIMG_NONE;
			b = it.excl_wild ? ZIMG_EXCL : ZIMG_NONE;
			r = 0;
			if (it.has_exact && !it.excl_exact)
				r = load_valset(ds, it.vs, tmp, &a);
			if (r == 0 && it.has_wild && !it.excl_wild)
				r = load_valset(ds, it.vs_wild, tmp, &b);
			if (r == 0)
				r = zimg_ds_add_dom(ds, it.key, it.keylen, a, b);
			break;
		case ZIX_RR:
			r = load_rrset(ds, it.key, it.keylen, &it.rrset);
			break;
		}
		if (r < 0)
			return r;
	}
	return r;
}

int snap_load_zone(snap_rd *rd, const char *name, struct zimg **out)
{
	uint8_t key[DNAME_MAX];
	struct zimg_val *tmp = NULL;
	struct zimg *img = NULL;
	struct snap_zone z;
	struct snap_ds sd;
	int kl = dname_text_to_key(name, strlen(name), key), ret;

	*out = NULL;
	if (kl < 0)
		return GN_EINVAL;
	if ((ret = snap_rd_zone(rd, key, (size_t)kl, &z)) <= 0)
		return ret == 0 ? GN_ENOENT : ret;
	ret = GN_ENOMEM;
	if (!(tmp = malloc(LOAD_MAX_VALS * sizeof(*tmp))) || !(img = zimg_new(name)))
		goto out;
	img->soa.present = z.has_soa;
	img->soa.serial = z.serial;
	img->soa.ttl = z.soa_ttl;
	img->soa.refresh = z.refresh;
	img->soa.retry = z.retry;
	img->soa.expire = z.expire;
	img->soa.minimum = z.minimum;
	if (z.mname)
		memcpy(img->soa.mname, z.mname, (size_t)dname_wire_len(z.mname));
	if (z.rname)
		memcpy(img->soa.rname, z.rname, (size_t)dname_wire_len(z.rname));
	img->ns_ttl = z.ns_ttl;
	for (uint32_t i = 0; i < z.n_ns && i < ZIMG_MAX_NS; i++) {
		const uint8_t *w;
		if ((ret = snap_zone_ns(&z, i, &w)) < 0)
			goto out;
		memcpy(img->ns[i], w, (size_t)dname_wire_len(w));
		img->n_ns++;
	}
	img->ts_generated = z.ts_generated;
	img->ts_expires = z.ts_expires;
	img->src_mtime = z.src_mtime;
	if (!(img->source = strndup(z.source ? z.source : "", z.source_len)))
		goto out;
	for (uint32_t i = 0; i < z.n_ds; i++) {
		struct zimg_ds *ds;
		char label[1024];
		if ((ret = snap_zone_ds(&z, i, &sd)) < 0)
			goto out;
		snprintf(label, sizeof(label), "%.*s", (int)sd.label_len, sd.label);
		if ((ret = zimg_add_ds(img, sd.type, label, &ds)) < 0 ||
		    (ret = load_ds(rd, &sd, ds, tmp)) < 0)
			goto out;
	}
	if ((ret = zimg_finish(img)) < 0)
		goto out;
	*out = img;
	img = NULL;
	ret = 0;
out:
	zimg_free(img);
	free(tmp);
	return ret;
}
