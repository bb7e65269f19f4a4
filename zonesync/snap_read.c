/* zonesync/snap_read.c - per-thread readers and the lookups of the query path.
 *
 * A reader keeps one read transaction and one cursor per database for its
 * whole life; begin/end only renew/reset them.  Lookups build their key in
 * the reader's scratch buffer and return pointers into the map: no
 * allocation, no copy, no lock.
 */
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/snap_int.h"

int snap_rd_new(snap_env *e, snap_rd **out)
{
	snap_rd *rd = calloc(1, sizeof(*rd));
	int ret = GN_ENOMEM, rc;

	*out = NULL;
	if (!rd)
		goto out;
	rd->env = e;
	rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &rd->txn);
	if (rc == MDB_READERS_FULL) {
		int dead = 0;
		mdb_reader_check(e->env, &dead);
		rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &rd->txn);
	}
	if (rc) {
		ret = snap_err(e, rc, "begin read");
		goto out;
	}
	for (int i = 0; i < DB_COUNT; i++) {
		if ((rc = mdb_cursor_open(rd->txn, e->dbi[i], &rd->cur[i])) != 0) {
			ret = snap_err(e, rc, "open cursor");
			goto out;
		}
	}
	mdb_txn_reset(rd->txn);
	*out = rd;
	rd = NULL;
	ret = 0;
out:
	snap_rd_free(rd);
	return ret;
}

void snap_rd_free(snap_rd *rd)
{
	if (!rd)
		return;
	for (int i = 0; i < DB_COUNT; i++)
		if (rd->cur[i])
			mdb_cursor_close(rd->cur[i]);
	if (rd->txn)
		mdb_txn_abort(rd->txn);
	free(rd);
}

int snap_rd_begin(snap_rd *rd)
{
	int rc;
	if (rd->active)
		snap_rd_end(rd);
	if ((rc = mdb_txn_renew(rd->txn)) != 0)
		return snap_err(rd->env, rc, "renew read");
	rd->fresh = 0; /* cursors follow on first use: snap_rd_cursor */
	rd->active = 1;
	rd->txnid = (uint64_t)mdb_txn_id(rd->txn);
	return 0;
}

void snap_rd_end(snap_rd *rd)
{
	if (rd->active) {
		mdb_txn_reset(rd->txn);
		rd->active = 0;
		rd->fresh = 0;
		rd->txnid = 0; /* no view: the value-set cache matches nothing */
	}
}

uint64_t snap_rd_version(const snap_rd *rd)
{
	return rd->active ? (uint64_t)mdb_txn_id(rd->txn) : 0;
}

/* LMDB errors on the read path other than "not found" are logged once per
 * call site by snap_err; they surface as <0 so callers answer SERVFAIL. */
static int rd_get(snap_rd *rd, int db, MDB_val *k, MDB_val *v, MDB_cursor_op op)
{
	int rc = 0;
	MDB_cursor *c = snap_rd_cursor(rd, db, &rc);
	if (!c)
		return rc;
	rc = mdb_cursor_get(c, k, v, op);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return snap_err(rd->env, rc, "lookup");
	return 1;
}

/* ---- zones ---- */

int snap_rd_zones(snap_rd *rd, int (*cb)(void *, const struct snap_zone *), void *arg)
{
	MDB_val k, v;
	struct snap_zone z;
	int r = rd_get(rd, DB_ZONES, &k, &v, MDB_FIRST);

	while (r == 1) {
		int ret = snap_zrec_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &z);
		if (ret < 0)
			return ret;
		if ((ret = cb(arg, &z)) != 0)
			return ret;
		r = rd_get(rd, DB_ZONES, &k, &v, MDB_NEXT);
	}
	return r;
}

int snap_rd_zone(snap_rd *rd, const uint8_t *key, size_t keylen, struct snap_zone *out)
{
	MDB_val k = { keylen, (void *)key }, v;
	int r;
	if (keylen == 0) {
		/* LMDB rejects empty keys; a root zone is stored as such. */
		k.mv_size = 0;
	}
	r = rd_get(rd, DB_ZONES, &k, &v, MDB_SET_KEY);
	if (r != 1)
		return r;
	r = snap_zrec_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, out);
	return r < 0 ? r : 1;
}

/* ---- values ---- */

int snap_valset_next(struct snap_valset *vs, struct snap_val *v)
{
	const uint8_t *p = vs->p;
	if (p >= vs->end)
		return 0;
	if (vs->end - p < 7)
		return GN_ECORRUPT;
	v->a = p;
	v->has_txt = p[4] != 0;
	v->txt_len = snap_rd16(p + 5);
	if ((size_t)(vs->end - p - 7) < v->txt_len)
		return GN_ECORRUPT;
	v->txt = (const char *)p + 7;
	vs->p = p + 7 + v->txt_len;
	return 1;
}

/* A listed address costs a second B-tree descent for its value set, yet a
 * blocklist has few value sets (most entries share one), so the pointers
 * found are kept per reader.  They stay valid while the view is the same
 * version: LMDB frees a page only in a write transaction committed after
 * every version that can reach it, and such a commit is a new version (txn
 * id).  A slot from another version is a miss. */
int snap_rd_valset(snap_rd *rd, uint32_t dsid, uint32_t vsid, struct snap_valset *vs)
{
	uint8_t key[8];
	MDB_val k = { 8, key }, v;
	struct snap_vs_slot *c = &rd->vs_cache[(dsid * 31u + vsid) % SNAP_VS_CACHE];
	int r;

	if (c->txnid == rd->txnid && rd->txnid != 0 && c->dsid == dsid && c->vsid == vsid) {
		vs->p = c->p;
		vs->end = c->end;
		return 1;
	}
	snap_be32(key, dsid);
	snap_be32(key + 4, vsid);
	r = rd_get(rd, DB_VALS, &k, &v, MDB_SET_KEY);
	if (r == 0)
		return GN_ECORRUPT; /* an entry names a value set that is not there */
	if (r < 0)
		return r;
	vs->p = v.mv_data;
	vs->end = vs->p + v.mv_size;
	c->txnid = rd->txnid;
	c->dsid = dsid;
	c->vsid = vsid;
	c->p = vs->p;
	c->end = vs->end;
	return 1;
}

/* ---- IP ranges ----
 * Keys are (dsid, lo); find the greatest lo <= addr within dsid. */
static int rd_range_floor(snap_rd *rd, int db, const uint8_t *key, size_t kl, MDB_val *k,
			  MDB_val *v)
{
	int r;
	k->mv_size = kl;
	k->mv_data = (void *)key;
	r = rd_get(rd, db, k, v, MDB_SET_RANGE);
	if (r < 0)
		return r;
	if (r == 1 && k->mv_size == kl && memcmp(k->mv_data, key, kl) == 0)
		return 1;
	r = rd_get(rd, db, k, v, r == 1 ? MDB_PREV : MDB_LAST);
	if (r != 1)
		return r;
	return k->mv_size == kl && memcmp(k->mv_data, key, 4) == 0 ? 1 : 0;
}

void snap_rd_use_index(snap_rd *rd, bool on)
{
	rd->no_ipx = !on;
}

static int ip4_find_btree(snap_rd *rd, uint32_t dsid, uint32_t addr, struct snap_valset *vs)
{
	uint8_t key[8];
	MDB_val k, v;
	int r;
	snap_be32(key, dsid);
	snap_be32(key + 4, addr);
	r = rd_range_floor(rd, DB_IP4, key, 8, &k, &v);
	if (r != 1)
		return r;
	if (v.mv_size != 8)
		return GN_ECORRUPT;
	if (snap_rd32(v.mv_data) < addr)
		return 0;
	return snap_rd_valset(rd, dsid, snap_rd32((uint8_t *)v.mv_data + 4), vs);
}

static int ip6_find_btree(snap_rd *rd, uint32_t dsid, const uint8_t addr[16],
			  struct snap_valset *vs)
{
	uint8_t key[20];
	MDB_val k, v;
	int r;
	snap_be32(key, dsid);
	memcpy(key + 4, addr, 16);
	r = rd_range_floor(rd, DB_IP6, key, 20, &k, &v);
	if (r != 1)
		return r;
	if (v.mv_size != 20)
		return GN_ECORRUPT;
	if (memcmp(v.mv_data, addr, 16) < 0)
		return 0;
	return snap_rd_valset(rd, dsid, snap_rd32((uint8_t *)v.mv_data + 16), vs);
}

/* The interval index when the dataset has one (snap_ipx.c), else the
 * B-tree floor: both give the same answer for the same ranges. */
int snap_ip4_find(snap_rd *rd, uint32_t dsid, uint32_t addr, struct snap_valset *vs)
{
	struct snap_ipx_slot *x;
	uint32_t vsid;
	int r = snap_ipx_get(rd, dsid, 4, &x);

	if (r == 0)
		return ip4_find_btree(rd, dsid, addr, vs);
	if (r == 1)
		r = snap_ipx_find4(rd, x, addr, &vsid);
	return r == 1 ? snap_rd_valset(rd, dsid, vsid, vs) : r;
}

int snap_ip6_find(snap_rd *rd, uint32_t dsid, const uint8_t addr[16], struct snap_valset *vs)
{
	struct snap_ipx_slot *x;
	uint32_t vsid;
	int r = snap_ipx_get(rd, dsid, 6, &x);

	if (r == 0)
		return ip6_find_btree(rd, dsid, addr, vs);
	if (r == 1)
		r = snap_ipx_find6(rd, x, addr, &vsid);
	return r == 1 ? snap_rd_valset(rd, dsid, vsid, vs) : r;
}

/* Any stored range intersecting [lo,hi]: the range holding lo, or the first
 * range starting after lo, if it starts at or before hi. */
static int rd_range_any(snap_rd *rd, int db, const uint8_t *key, size_t kl,
			const uint8_t *hi, size_t al)
{
	MDB_val k = { kl, (void *)key }, v;
	int r = rd_get(rd, db, &k, &v, MDB_SET_RANGE);
	if (r < 0)
		return r;
	if (r == 1 && k.mv_size == kl && memcmp(k.mv_data, key, 4) == 0 &&
	    memcmp((uint8_t *)k.mv_data + 4, hi, al) <= 0)
		return 1;
	r = rd_get(rd, db, &k, &v, r == 1 ? MDB_PREV : MDB_LAST);
	if (r != 1)
		return r;
	if (k.mv_size != kl || memcmp(k.mv_data, key, 4) != 0 || v.mv_size < al)
		return 0;
	return memcmp(v.mv_data, key + 4, al) >= 0;
}

int snap_ip4_any(snap_rd *rd, uint32_t dsid, uint32_t lo, uint32_t hi)
{
	uint8_t key[8], h[4];
	snap_be32(key, dsid);
	snap_be32(key + 4, lo);
	snap_be32(h, hi);
	return rd_range_any(rd, DB_IP4, key, 8, h, 4);
}

int snap_ip6_any(snap_rd *rd, uint32_t dsid, const uint8_t lo[16], const uint8_t hi[16])
{
	uint8_t key[20];
	snap_be32(key, dsid);
	memcpy(key + 4, lo, 16);
	return rd_range_any(rd, DB_IP6, key, 20, hi, 16);
}

/* ---- dnset ---- */

static int rd_dom_get(snap_rd *rd, uint32_t dsid, const uint8_t *key, size_t kl,
		      uint32_t *exact, uint32_t *wild)
{
	MDB_val k = { 4 + kl, rd->kbuf }, v;
	int r;
	snap_be32(rd->kbuf, dsid);
	memcpy(rd->kbuf + 4, key, kl);
	r = rd_get(rd, DB_DOM, &k, &v, MDB_SET_KEY);
	if (r != 1)
		return r;
	if (v.mv_size != 8)
		return GN_ECORRUPT;
	*exact = snap_rd32(v.mv_data);
	*wild = snap_rd32((uint8_t *)v.mv_data + 4);
	return 1;
}

/* rd_dom_get by MDB_SET_RANGE, which also tells from the same seek whether
 * entries exist below the key (*below, as snap_dom_below: 1, 0, or -1 when
 * that takes one step more: an entry at the key without a wildcard). */
static int rd_dom_seek(snap_rd *rd, uint32_t dsid, const uint8_t *key, size_t kl,
		       uint32_t *exact, uint32_t *wild, int *below)
{
	MDB_val k = { 4 + kl, rd->kbuf }, v;
	int r;
	snap_be32(rd->kbuf, dsid);
	memcpy(rd->kbuf + 4, key, kl);
	r = rd_get(rd, DB_DOM, &k, &v, MDB_SET_RANGE);
	if (r < 0)
		return r;
	if (r == 0) {
		*below = 0;
		return 0;
	}
	if (k.mv_size == 4 + kl && memcmp(k.mv_data, rd->kbuf, 4 + kl) == 0) {
		if (v.mv_size != 8)
			return GN_ECORRUPT;
		*exact = snap_rd32(v.mv_data);
		*wild = snap_rd32((uint8_t *)v.mv_data + 4);
		*below = *wild != ZIMG_NONE ? 1 : -1;
		return 1;
	}
	*below = k.mv_size > 4 + kl && memcmp(k.mv_data, rd->kbuf, 4 + kl) == 0;
	return 0;
}

static int rd_dom_decide(snap_rd *rd, uint32_t dsid, uint32_t vsid, struct snap_valset *vs)
{
	if (vsid == ZIMG_EXCL)
		return 0;
	return snap_rd_valset(rd, dsid, vsid, vs);
}

int snap_dom_match(snap_rd *rd, uint32_t dsid, const uint8_t *key, size_t keylen,
		   struct snap_valset *vs, size_t *match_len)
{
	int below;
	return snap_dom_match_below(rd, dsid, key, keylen, vs, match_len, &below);
}

int snap_dom_match_below(snap_rd *rd, uint32_t dsid, const uint8_t *key, size_t keylen,
			 struct snap_valset *vs, size_t *match_len, int *below)
{
	uint32_t ex = ZIMG_NONE, wi = ZIMG_NONE;
	int r, pl;

	*match_len = 0;
	*below = -1;
	if (keylen > DNAME_MAX)
		return 0;
	r = rd_dom_seek(rd, dsid, key, keylen, &ex, &wi, below);
	if (r < 0)
		return r;
	if (r == 1 && ex != ZIMG_NONE) {
		*match_len = keylen;
		return rd_dom_decide(rd, dsid, ex, vs);
	}
	/* Closest ancestor carrying a wildcard decides. */
	for (pl = dname_key_parent(key, keylen); pl >= 0;
	     pl = dname_key_parent(key, (size_t)pl)) {
		r = rd_dom_get(rd, dsid, key, (size_t)pl, &ex, &wi);
		if (r < 0)
			return r;
		if (r == 1 && wi != ZIMG_NONE) {
			*match_len = (size_t)pl;
			return rd_dom_decide(rd, dsid, wi, vs);
		}
		if (pl == 0)
			break;
	}
	return 0;
}

int snap_dom_find(snap_rd *rd, uint32_t dsid, const uint8_t *key, size_t keylen,
		  struct snap_valset *vs)
{
	size_t ml;
	return snap_dom_match(rd, dsid, key, keylen, vs, &ml);
}

int snap_dom_below(snap_rd *rd, uint32_t dsid, const uint8_t *key, size_t keylen)
{
	MDB_val k = { 4 + keylen, rd->kbuf }, v;
	int r;
	snap_be32(rd->kbuf, dsid);
	memcpy(rd->kbuf + 4, key, keylen);
	r = rd_get(rd, DB_DOM, &k, &v, MDB_SET_RANGE);
	if (r == 1 && k.mv_size == 4 + keylen && memcmp(k.mv_data, rd->kbuf, 4 + keylen) == 0) {
		/* A wildcard entry at the name is "*.name": a child in DNS terms,
		 * so the name is an empty non-terminal, not NXDOMAIN. */
		if (v.mv_size == 8 && snap_rd32((uint8_t *)v.mv_data + 4) != ZIMG_NONE)
			return 1;
		r = rd_get(rd, DB_DOM, &k, &v, MDB_NEXT);
	}
	if (r != 1)
		return r;
	return k.mv_size > 4 + keylen && memcmp(k.mv_data, rd->kbuf, 4 + keylen) == 0;
}
