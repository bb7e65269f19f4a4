/* zonesync/snap_rr.c - record datasets (generic, master files): name
 * existence, closest encloser and wildcards (RFC 1034 4.3.2, RFC 4592),
 * RRset access, and ordered iteration of any dataset for dump/diff.
 *
 * rr keys are (dsid, owner key, 0x00, type); the 0x00 sorts a name's own
 * records before its descendants, so one seek tells "has records", "has
 * only descendants" (an empty non-terminal) or "does not exist".
 */
#include <string.h>
#include "common/err.h"
#include "zonesync/snap_int.h"

enum { NS_NONE = 0, NS_RECORDS = 1, NS_ENT = 2 };

static int rr_get(snap_rd *rd, MDB_val *k, MDB_val *v, MDB_cursor_op op)
{
	int rc = 0;
	MDB_cursor *c = snap_rd_cursor(rd, DB_RR, &rc);
	if (!c)
		return rc;
	rc = mdb_cursor_get(c, k, v, op);
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc ? snap_err(rd->env, rc, "lookup") : 1;
}

/* State of the name `key` (relative, length kl).  On NS_RECORDS, *owner
 * points at the owner key inside the map. */
static int rr_name_state(snap_rd *rd, uint32_t dsid, const uint8_t *key, size_t kl,
			 const uint8_t **owner)
{
	uint8_t pfx[4 + DNAME_MAX];
	MDB_val k = { 4 + kl, pfx }, v;
	int r;

	snap_be32(pfx, dsid);
	memcpy(pfx + 4, key, kl);
	r = rr_get(rd, &k, &v, MDB_SET_RANGE);
	if (r != 1)
		return r;
	if (k.mv_size <= 4 + kl || memcmp(k.mv_data, pfx, 4 + kl) != 0)
		return NS_NONE;
	if (((uint8_t *)k.mv_data)[4 + kl] == 0) {
		*owner = (uint8_t *)k.mv_data + 4;
		return NS_RECORDS;
	}
	return NS_ENT;
}

static int rr_value(const MDB_val *v, uint16_t type, struct snap_rrset *out)
{
	if (v->mv_size < 6)
		return GN_ECORRUPT;
	out->type = type;
	out->ttl = snap_rd32(v->mv_data);
	out->count = snap_rd16((uint8_t *)v->mv_data + 4);
	out->rdata = (uint8_t *)v->mv_data + 6;
	out->end = (uint8_t *)v->mv_data + v->mv_size;
	return 1;
}

int snap_rrset_get(snap_rd *rd, uint32_t dsid, const uint8_t *owner, size_t ol,
		   uint16_t type, struct snap_rrset *out)
{
	uint8_t key[4 + DNAME_MAX + 3];
	MDB_val k = { 4 + ol + 3, key }, v;
	int r;

	if (ol > DNAME_MAX)
		return 0;
	snap_be32(key, dsid);
	memcpy(key + 4, owner, ol);
	key[4 + ol] = 0;
	snap_be16(key + 4 + ol + 1, type);
	r = rr_get(rd, &k, &v, MDB_SET_KEY);
	if (r != 1)
		return r;
	return rr_value(&v, type, out);
}

int snap_rrset_next(snap_rd *rd, uint32_t dsid, const uint8_t *owner, size_t ol,
		    uint32_t *cursor, struct snap_rrset *out)
{
	uint8_t key[4 + DNAME_MAX + 3];
	MDB_val k = { 4 + ol + 3, key }, v;
	int r;

	if (*cursor > 0xffff || ol > DNAME_MAX)
		return 0;
	snap_be32(key, dsid);
	memcpy(key + 4, owner, ol);
	key[4 + ol] = 0;
	snap_be16(key + 4 + ol + 1, (uint16_t)*cursor);
	r = rr_get(rd, &k, &v, MDB_SET_RANGE);
	if (r != 1)
		return r;
	if (k.mv_size != 4 + ol + 3 || memcmp(k.mv_data, key, 4 + ol + 1) != 0)
		return 0;
	{
		uint16_t type = snap_rd16((uint8_t *)k.mv_data + 4 + ol + 1);
		*cursor = (uint32_t)type + 1;
		return rr_value(&v, type, out);
	}
}

int snap_rr_lookup(snap_rd *rd, uint32_t dsid, const uint8_t *key, size_t kl,
		   struct snap_rr_match *m)
{
	uint8_t wkey[DNAME_MAX + 2];
	const uint8_t *owner = NULL;
	struct snap_rrset ns;
	int r, pl;

	memset(m, 0, sizeof(*m));
	if (kl > DNAME_MAX)
		return GN_EINVAL;
	/* A zone cut (NS below the apex) on the way down wins over anything
	 * below it: the answer is a referral. */
	for (size_t i = 0; i < kl;) {
		i += key[i] + 1u;
		if (i > kl)
			return GN_EINVAL;
		r = snap_rrset_get(rd, dsid, key, i, 2 /* NS */, &ns);
		if (r < 0)
			return r;
		if (r == 1) {
			m->status = SNAP_RR_DELEG;
			m->owner = key;
			m->owner_len = (uint8_t)i;
			return 0;
		}
	}
	r = rr_name_state(rd, dsid, key, kl, &owner);
	if (r < 0)
		return r;
	if (r == NS_RECORDS || r == NS_ENT || kl == 0) {
		/* The apex exists even when it owns nothing in this dataset. */
		m->status = r == NS_RECORDS ? SNAP_RR_NAME : SNAP_RR_ENT;
		m->owner = r == NS_RECORDS ? owner : key;
		m->owner_len = (uint8_t)kl;
		return 0;
	}
	/* Closest encloser: the longest existing ancestor (the apex always
	 * exists). */
	for (pl = dname_key_parent(key, kl); pl > 0; pl = dname_key_parent(key, (size_t)pl)) {
		r = rr_name_state(rd, dsid, key, (size_t)pl, &owner);
		if (r < 0)
			return r;
		if (r != NS_NONE)
			break;
	}
	if (pl < 0)
		pl = 0;
	m->ce_len = (uint8_t)pl;
	memcpy(wkey, key, (size_t)pl);
	wkey[pl] = 1;
	wkey[pl + 1] = '*';
	owner = NULL;
	r = rr_name_state(rd, dsid, wkey, (size_t)pl + 2, &owner);
	if (r < 0)
		return r;
	if (r == NS_NONE) {
		m->status = SNAP_RR_NXDOMAIN;
		return 0;
	}
	m->status = SNAP_RR_WILDCARD;
	if (r == NS_RECORDS) {
		m->owner = owner;
		m->owner_len = (uint8_t)(pl + 2);
	} else {
		/* "*" exists only as an empty non-terminal: NODATA at the
		 * wildcard; there are no records to point at. */
		m->owner = NULL;
		m->owner_len = 0;
	}
	return 0;
}

/* ---- iteration for dump/diff ---- */

static int ent_db(enum zimg_index ix)
{
	switch (ix) {
	case ZIX_IP4: return DB_IP4;
	case ZIX_IP6: return DB_IP6;
	case ZIX_DOM: return DB_DOM;
	case ZIX_RR:  return DB_RR;
	}
	return -1;
}

int snap_ent_next(snap_rd *rd, struct snap_ent_it *it)
{
	int db = ent_db(it->ix), r;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t pfx[4];
	const uint8_t *kd, *vd;

	if (db < 0)
		return GN_EINVAL;
	r = 0;
	if (!(c = snap_rd_cursor(rd, db, &r)))
		return r;
	snap_be32(pfx, it->dsid);
	if (!it->started) {
		k.mv_size = 4;
		k.mv_data = pfx;
		r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		it->started = true;
	} else {
		k.mv_size = it->last_len;
		k.mv_data = it->last_key;
		r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (r == 0 && k.mv_size == it->last_len &&
		    memcmp(k.mv_data, it->last_key, it->last_len) == 0)
			r = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	if (r == MDB_NOTFOUND)
		return 0;
	if (r)
		return snap_err(rd->env, r, "iterate");
	if (k.mv_size < 4 || memcmp(k.mv_data, pfx, 4) != 0)
		return 0;
	if (k.mv_size > sizeof(it->last_key))
		return GN_ECORRUPT;
	memcpy(it->last_key, k.mv_data, k.mv_size);
	it->last_len = k.mv_size;
	kd = k.mv_data;
	vd = v.mv_data;
	switch (it->ix) {
	case ZIX_IP4:
		if (k.mv_size != 8 || v.mv_size != 8)
			return GN_ECORRUPT;
		it->ip4_lo = snap_rd32(kd + 4);
		it->ip4_hi = snap_rd32(vd);
		return snap_rd_valset(rd, it->dsid, snap_rd32(vd + 4), &it->vs);
	case ZIX_IP6:
		if (k.mv_size != 20 || v.mv_size != 20)
			return GN_ECORRUPT;
		memcpy(it->ip6_lo, kd + 4, 16);
		memcpy(it->ip6_hi, vd, 16);
		return snap_rd_valset(rd, it->dsid, snap_rd32(vd + 16), &it->vs);
	case ZIX_DOM: {
		uint32_t ex, wi;
		if (v.mv_size != 8)
			return GN_ECORRUPT;
		it->key = kd + 4;
		it->keylen = (uint8_t)(k.mv_size - 4);
		ex = snap_rd32(vd);
		wi = snap_rd32(vd + 4);
		it->has_exact = ex != ZIMG_NONE;
		it->excl_exact = ex == ZIMG_EXCL;
		it->has_wild = wi != ZIMG_NONE;
		it->excl_wild = wi == ZIMG_EXCL;
		if (it->has_exact && !it->excl_exact &&
		    (r = snap_rd_valset(rd, it->dsid, ex, &it->vs)) < 0)
			return r;
		if (it->has_wild && !it->excl_wild &&
		    (r = snap_rd_valset(rd, it->dsid, wi, &it->vs_wild)) < 0)
			return r;
		/* Copy: the valset lookups moved other cursors, not this key. */
		it->key = it->last_key + 4;
		return 1;
	}
	case ZIX_RR:
		if (k.mv_size < 4 + 3)
			return GN_ECORRUPT;
		it->key = it->last_key + 4;
		it->keylen = (uint8_t)(k.mv_size - 4 - 3);
		return rr_value(&v, snap_rd16(kd + k.mv_size - 2), &it->rrset);
	}
	return GN_EINVAL;
}
