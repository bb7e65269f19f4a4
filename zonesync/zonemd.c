/* zonesync/zonemd.c - RFC 8976 SIMPLE/SHA-384 digests (see zonemd.h). */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "common/dname.h"
#include "common/err.h"
#include "zonesync/zonemd.h"

#define ZONEMD_TYPE_RRSIG 46

/* Canonical copies of the records, in one growing arena.  Offsets, not
 * pointers, until collection ends: the arena moves when it grows. */
struct zonemd_set {
	uint8_t *arena;
	size_t len, cap;
	size_t *offs;   /* start of each record: u8 owner_len, owner, u16 type,
	                 * u32 ttl, u16 rdlen, rdata */
	size_t n, cap_offs;
	const uint8_t *apex;
};

static int zs_reserve(struct zonemd_set *s, size_t need)
{
	if (s->len + need > s->cap) {
		size_t cap = s->cap ? s->cap : 1 << 16;
		uint8_t *p;
		while (cap < s->len + need)
			cap *= 2;
		if (!(p = realloc(s->arena, cap)))
			return GN_ENOMEM;
		s->arena = p;
		s->cap = cap;
	}
	if (s->n == s->cap_offs) {
		size_t cap = s->cap_offs ? s->cap_offs * 2 : 1024;
		size_t *o = realloc(s->offs, cap * sizeof(*o));
		if (!o)
			return GN_ENOMEM;
		s->offs = o;
		s->cap_offs = cap;
	}
	return 0;
}

/* Lowercase the uncompressed name at rd[*off..end); *off moves past it. */
static int zs_lower_name(uint8_t *rd, size_t end, size_t *off)
{
	size_t p = *off;
	for (;;) {
		uint8_t l;
		if (p >= end)
			return GN_EINVAL;
		l = rd[p];
		if (l & 0xc0 || p + 1 + l > end)
			return GN_EINVAL;
		for (size_t i = p + 1; i < p + 1 + l; i++)
			rd[i] = dname_lower(rd[i]);
		p += 1u + l;
		if (l == 0)
			break;
	}
	*off = p;
	return 0;
}

/* RFC 4034 section 6.2 item 3 (as amended by RFC 6840 section 5.1): the
 * types whose RDATA names are lowercased.  `pre` octets come before the
 * first name, `names` names follow (NAPTR: three strings first). */
static int zs_canon_rdata(uint16_t type, uint8_t *rd, size_t len)
{
	size_t off = 0;
	int names = 0;

	switch (type) {
	case 2: case 3: case 4: case 5: case 7: case 8: case 9: case 12: case 39:
		names = 1; break;                     /* NS MD MF CNAME MB MG MR PTR DNAME */
	case 6: case 14: case 17: names = 2; break; /* SOA MINFO RP */
	case 15: case 18: case 21: case 36:       /* MX AFSDB RT KX */
		off = 2; names = 1; break;
	case 26: off = 2; names = 2; break;       /* PX */
	case 33: off = 6; names = 1; break;       /* SRV */
	case 35:                                  /* NAPTR */
		off = 4;
		for (int i = 0; i < 3; i++) {
			if (off >= len)
				return GN_EINVAL;
			off += 1u + rd[off];
		}
		names = 1;
		break;
	default:
		return 0;
	}
	for (int i = 0; i < names; i++)
		if (zs_lower_name(rd, len, &off) < 0)
			return GN_EINVAL;
	return 0;
}

/* Is `name` at or below `apex`?  Records outside the zone are not part of
 * its digest (RFC 8976 section 3.3). */
static bool zs_in_zone(const uint8_t *name, const uint8_t *apex)
{
	int drop = dname_labels(name) - dname_labels(apex);

	if (drop < 0)
		return false;
	while (drop-- > 0)
		name += 1u + name[0];
	return dname_wire_equal(name, apex) != 0;
}

static int zs_add(struct zonemd_set *s, const struct xform_rr *rr)
{
	int ol = dname_wire_len(rr->owner);
	uint8_t *p;
	int ret;

	if (rr->rclass != XFORM_CLASS_IN || ol <= 0 || ol != rr->owner_len)
		return GN_EINVAL;
	if (!zs_in_zone(rr->owner, s->apex))
		return 0;
	/* The apex ZONEMD (and its signatures) are what we compute. */
	if (dname_wire_equal(rr->owner, s->apex) &&
	    (rr->type == ZONEMD_TYPE ||
	     (rr->type == ZONEMD_TYPE_RRSIG && rr->rdlen >= 2 &&
	      (rr->rdata[0] << 8 | rr->rdata[1]) == ZONEMD_TYPE)))
		return 0;
	if ((ret = zs_reserve(s, 1u + (size_t)ol + 8 + rr->rdlen)) < 0)
		return ret;
	s->offs[s->n++] = s->len;
	p = s->arena + s->len;
	*p++ = (uint8_t)ol;
	for (int i = 0; i < ol; i++)
		p[i] = dname_lower(rr->owner[i]);
	p += ol;
	*p++ = (uint8_t)(rr->type >> 8); *p++ = (uint8_t)rr->type;
	*p++ = (uint8_t)(rr->ttl >> 24); *p++ = (uint8_t)(rr->ttl >> 16);
	*p++ = (uint8_t)(rr->ttl >> 8); *p++ = (uint8_t)rr->ttl;
	*p++ = (uint8_t)(rr->rdlen >> 8); *p++ = (uint8_t)rr->rdlen;
	if (rr->rdlen)
		memcpy(p, rr->rdata, rr->rdlen);
	if ((ret = zs_canon_rdata(rr->type, p, rr->rdlen)) < 0)
		return ret;
	s->len += 1u + (size_t)ol + 8 + rr->rdlen;
	return 0;
}

/* Decode the arena record at `o` into an xform_rr for xform_rr_cmp. */
static void zs_view(const uint8_t *arena, size_t o, struct xform_rr *rr)
{
	const uint8_t *p = arena + o;
	rr->owner_len = p[0];
	rr->owner = p + 1;
	p += 1u + rr->owner_len;
	rr->type = (uint16_t)(p[0] << 8 | p[1]);
	rr->ttl = (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 8 | p[5];
	rr->rdlen = (uint16_t)(p[6] << 8 | p[7]);
	rr->rdata = p + 8;
	rr->rclass = XFORM_CLASS_IN;
	rr->ds = 0;
}

/* qsort has no context argument in C11; the arena rides in a thread-local. */
static _Thread_local const uint8_t *zs_sort_arena;

static int zs_cmp(const void *a, const void *b)
{
	struct xform_rr x, y;
	zs_view(zs_sort_arena, *(const size_t *)a, &x);
	zs_view(zs_sort_arena, *(const size_t *)b, &y);
	return xform_rr_cmp(&x, &y);
}

/* Same record for ZONEMD purposes: owner, type and rdata (TTL aside). */
static bool zs_same(const struct xform_rr *a, const struct xform_rr *b)
{
	return a->type == b->type && a->rdlen == b->rdlen && a->owner_len == b->owner_len &&
	       memcmp(a->owner, b->owner, a->owner_len) == 0 &&
	       (a->rdlen == 0 || memcmp(a->rdata, b->rdata, a->rdlen) == 0);
}

static int zs_finish(struct zonemd_set *s, uint8_t out[ZONEMD_DIGEST_LEN])
{
	EVP_MD_CTX *md = NULL;
	struct xform_rr prev = { 0 }, cur;
	unsigned int olen = 0;
	int ret = GN_ENOMEM;

	zs_sort_arena = s->arena;
	if (s->n)
		qsort(s->offs, s->n, sizeof(*s->offs), zs_cmp);
	zs_sort_arena = NULL;
	if (!(md = EVP_MD_CTX_new()))
		goto out;
	ret = GN_EINVAL;
	if (!EVP_DigestInit_ex(md, EVP_sha384(), NULL))
		goto out;
	for (size_t i = 0; i < s->n; i++) {
		static const uint8_t class_in[2] = { 0, 1 };
		const uint8_t *p = s->arena + s->offs[i];
		zs_view(s->arena, s->offs[i], &cur);
		if (i > 0 && zs_same(&prev, &cur))
			continue; /* RFC 8976 section 3.3.1.1: duplicates count once */
		prev = cur;
		/* owner | type | class | ttl | rdlength | rdata */
		if (!EVP_DigestUpdate(md, cur.owner, cur.owner_len) ||
		    !EVP_DigestUpdate(md, p + 1 + cur.owner_len, 2) ||
		    !EVP_DigestUpdate(md, class_in, 2) ||
		    !EVP_DigestUpdate(md, p + 1 + cur.owner_len + 2, 6u + cur.rdlen))
			goto out;
	}
	if (!EVP_DigestFinal_ex(md, out, &olen) || olen != ZONEMD_DIGEST_LEN)
		goto out;
	ret = 0;
out:
	EVP_MD_CTX_free(md);
	return ret;
}

static void zs_free(struct zonemd_set *s)
{
	free(s->arena);
	free(s->offs);
}

int zonemd_digest_rrs(const uint8_t *apex, const struct xform_rr *rrs, size_t n,
		      uint8_t out[ZONEMD_DIGEST_LEN])
{
	struct zonemd_set s = { .apex = apex };
	int ret = 0;

	for (size_t i = 0; i < n && ret == 0; i++)
		ret = zs_add(&s, &rrs[i]);
	if (ret == 0)
		ret = zs_finish(&s, out);
	zs_free(&s);
	return ret;
}

static int zs_emit_cb(void *arg, const struct xform_rr *rr)
{
	return zs_add(arg, rr);
}

int zonemd_digest_image(const struct zimg *img, uint8_t out[ZONEMD_DIGEST_LEN])
{
	uint8_t apex[DNAME_MAX];
	struct zonemd_set s = { .apex = apex };
	int ret;

	if ((ret = dname_key_to_wire(img->key, img->keylen, apex)) < 0)
		return ret;
	if ((ret = xform_emit(img, zs_emit_cb, &s)) == 0)
		ret = zs_finish(&s, out);
	zs_free(&s);
	return ret;
}

void zonemd_rdata(uint32_t serial, const uint8_t digest[ZONEMD_DIGEST_LEN],
		  uint8_t rdata[ZONEMD_RDATA_LEN])
{
	rdata[0] = (uint8_t)(serial >> 24);
	rdata[1] = (uint8_t)(serial >> 16);
	rdata[2] = (uint8_t)(serial >> 8);
	rdata[3] = (uint8_t)serial;
	rdata[4] = ZONEMD_SCHEME_SIMPLE;
	rdata[5] = ZONEMD_HASH_SHA384;
	memcpy(rdata + 6, digest, ZONEMD_DIGEST_LEN);
}

int zonemd_verify_rrs(const uint8_t *apex, const struct xform_rr *rrs, size_t n, uint32_t serial,
		      const char **why)
{
	uint8_t digest[ZONEMD_DIGEST_LEN];
	bool seen = false, supported = false, computed = false;
	const char *reason = "no ZONEMD record at the apex";
	int ret = GN_ENOENT;

	for (size_t i = 0; i < n; i++) {
		const struct xform_rr *rr = &rrs[i];
		uint32_t s;

		if (rr->type != ZONEMD_TYPE || !dname_wire_equal(rr->owner, apex))
			continue;
		seen = true;
		if (rr->rdlen < 6 || rr->rdata[4] != ZONEMD_SCHEME_SIMPLE ||
		    rr->rdata[5] != ZONEMD_HASH_SHA384)
			continue;
		supported = true;
		s = (uint32_t)rr->rdata[0] << 24 | (uint32_t)rr->rdata[1] << 16 |
		    (uint32_t)rr->rdata[2] << 8 | rr->rdata[3];
		if (s != serial) {
			reason = "ZONEMD serial differs from the SOA serial";
			ret = GN_ECORRUPT;
			continue;
		}
		if (rr->rdlen != ZONEMD_RDATA_LEN) {
			reason = "ZONEMD SHA-384 digest has the wrong length";
			ret = GN_ECORRUPT;
			continue;
		}
		if (!computed) {
			int r = zonemd_digest_rrs(apex, rrs, n, digest);
			if (r < 0) {
				if (why)
					*why = "cannot compute the zone digest";
				return r;
			}
			computed = true;
		}
		if (CRYPTO_memcmp(digest, rr->rdata + 6, ZONEMD_DIGEST_LEN) == 0) {
			if (why)
				*why = "verified";
			return 0;
		}
		reason = "ZONEMD digest does not match the zone's records";
		ret = GN_ECORRUPT;
	}
	if (seen && !supported) {
		reason = "only unsupported ZONEMD schemes or hash algorithms";
		ret = GN_EINVAL;
	}
	if (why)
		*why = reason;
	return ret;
}
