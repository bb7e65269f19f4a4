/* zonesync/snap_journal.c - the central database's journal of changesets.
 *
 * Layout in snap_format.h.  A zone's history is the chain of changesets
 * that ends at its stored serial, found by key (zone, serial_to) and
 * followed through serial_from.  Walking the chain rather than the key
 * order keeps the journal right across RFC 1982 serial wrap, and makes any
 * entry that does not lead to the current zone (a zone replaced without a
 * changeset, a broken history) unreachable, so it can never be served as
 * an IXFR; trimming then deletes it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/snap_int.h"

#define J_HDR 24            /* u32 from, u32 to, i64 time, u32 n_del, u32 n_add */
#define J_MAX_CHAIN 100000  /* longest history walked; bounds a corrupt loop */

int snap_jrr_next(struct snap_jrr_it *it, struct snap_jrr *rr)
{
	const uint8_t *p = it->p;
	size_t left;

	if (p >= it->end)
		return 0;
	left = (size_t)(it->end - p);
	if (left < 1 || left < 1u + p[0] + 8u)
		return GN_ECORRUPT;
	rr->owner_len = p[0];
	rr->owner = p + 1;
	p += 1 + rr->owner_len;
	rr->type = snap_rd16(p);
	rr->ttl = snap_rd32(p + 2);
	rr->rdlen = snap_rd16(p + 6);
	p += 8;
	if ((size_t)(it->end - p) < rr->rdlen || rr->owner_len == 0 ||
	    dname_wire_len(rr->owner) != rr->owner_len)
		return GN_ECORRUPT;
	rr->rdata = p;
	it->p = p + rr->rdlen;
	return 1;
}

static size_t j_key(uint8_t *k, const uint8_t *zkey, size_t zl, uint32_t serial)
{
	k[0] = (uint8_t)zl;
	memcpy(k + 1, zkey, zl);
	snap_be32(k + 1 + zl, serial);
	return 1 + zl + 4;
}

static int j_decode(const MDB_val *v, struct snap_chg *c)
{
	const uint8_t *p = v->mv_data;
	if (v->mv_size < J_HDR)
		return GN_ECORRUPT;
	c->serial_from = snap_rd32(p);
	c->serial_to = snap_rd32(p + 4);
	c->time = (int64_t)snap_rd64(p + 8);
	c->n_del = snap_rd32(p + 16);
	c->n_add = snap_rd32(p + 20);
	c->recs = p + J_HDR;
	c->recs_len = v->mv_size - J_HDR;
	return 0;
}

/* Every record well formed and exactly n_del + n_add of them. */
static int j_check(const struct snap_chg *c)
{
	struct snap_jrr_it it = { c->recs, c->recs + c->recs_len };
	struct snap_jrr rr;
	uint64_t n = 0;
	int r;

	while ((r = snap_jrr_next(&it, &rr)) == 1)
		n++;
	if (r < 0 || n != (uint64_t)c->n_del + c->n_add)
		return GN_EINVAL;
	return 0;
}

int snap_journal_put(snap_env *e, MDB_txn *txn, const struct zimg *img, const struct snap_chg *c)
{
	uint8_t key[1 + DNAME_MAX + 4];
	MDB_val k, v;
	uint8_t *p;
	int rc;

	if (j_check(c) < 0 || c->serial_from == c->serial_to) {
		log_err("snapshot %s: zone %s: malformed changeset %u -> %u refused", e->dir,
			img->name, c->serial_from, c->serial_to);
		return GN_EINVAL;
	}
	k.mv_size = j_key(key, img->key, img->keylen, c->serial_to);
	k.mv_data = key;
	v.mv_size = J_HDR + c->recs_len;
	v.mv_data = NULL;
	/* MDB_RESERVE: the changeset is written straight into the map, not
	 * built in a second buffer first (changesets can be large). */
	if ((rc = mdb_put(txn, e->dbi[DB_JOURNAL], &k, &v, MDB_RESERVE)) != 0)
		return snap_err(e, rc, "journal put");
	p = v.mv_data;
	snap_be32(p, c->serial_from);
	snap_be32(p + 4, c->serial_to);
	snap_be64(p + 8, (uint64_t)c->time);
	snap_be32(p + 16, c->n_del);
	snap_be32(p + 20, c->n_add);
	if (c->recs_len)
		memcpy(p + J_HDR, c->recs, c->recs_len);
	return 0;
}

struct j_link {
	uint32_t serial_to;
	MDB_val v;
};

/* The chain ending at `serial`, newest first, at most `max` links.
 * *out is malloc'd (caller frees). */
static int j_chain(snap_env *e, MDB_txn *txn, const uint8_t *zkey, size_t zl, uint32_t serial,
		   size_t max, struct j_link **out, size_t *n)
{
	uint8_t key[1 + DNAME_MAX + 4];
	struct j_link *l = NULL;
	size_t cap = 0;
	int ret = 0;

	*out = NULL;
	*n = 0;
	while (*n < max) {
		MDB_val k, v;
		struct snap_chg c;
		int rc, loop = 0;
		k.mv_size = j_key(key, zkey, zl, serial);
		k.mv_data = key;
		rc = mdb_get(txn, e->dbi[DB_JOURNAL], &k, &v);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc) {
			ret = snap_err(e, rc, "journal read");
			goto out;
		}
		if (j_decode(&v, &c) < 0 || c.serial_to != serial) {
			log_err("snapshot %s: journal entry for serial %u is corrupt; "
				"it ends the zone's history", e->dir, serial);
			break;
		}
		for (size_t i = 0; i < *n && !loop; i++)
			loop = l[i].serial_to == serial;
		if (loop)
			break;
		if (*n == cap) {
			struct j_link *nl;
			cap = cap ? cap * 2 : 32;
			if (!(nl = realloc(l, cap * sizeof(*l)))) {
				ret = GN_ENOMEM;
				goto out;
			}
			l = nl;
		}
		l[*n].serial_to = serial;
		l[*n].v = v;
		(*n)++;
		serial = c.serial_from;
	}
	*out = l;
	l = NULL;
out:
	free(l);
	return ret;
}

/* Delete the zone's entries whose serial_to is not in keep[0..nkeep). */
static int j_delete_except(snap_env *e, MDB_txn *txn, const uint8_t *zkey, size_t zl,
			   const struct j_link *keep, size_t nkeep)
{
	uint8_t pfx[1 + DNAME_MAX];
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	pfx[0] = (uint8_t)zl;
	memcpy(pfx + 1, zkey, zl);
	if ((rc = mdb_cursor_open(txn, e->dbi[DB_JOURNAL], &cur)) != 0)
		return snap_err(e, rc, "journal cursor");
	k.mv_size = 1 + zl;
	k.mv_data = pfx;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == 1 + zl + 4 && memcmp(k.mv_data, pfx, 1 + zl) == 0) {
		uint32_t s = snap_rd32((const uint8_t *)k.mv_data + 1 + zl);
		int kept = 0;
		for (size_t i = 0; i < nkeep && !kept; i++)
			kept = keep[i].serial_to == s;
		if (kept) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			continue;
		}
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
		if (rc == EINVAL || rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : snap_err(e, rc, "journal trim");
}

int snap_journal_trim(snap_env *e, MDB_txn *txn, const uint8_t *key, size_t keylen,
		      uint32_t serial, const struct snap_journal_limits *lim)
{
	uint32_t depth = lim && lim->max_depth ? lim->max_depth : SNAP_JOURNAL_DEPTH;
	uint64_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : SNAP_JOURNAL_BYTES;
	struct j_link *l = NULL;
	uint64_t bytes = 0;
	size_t n = 0, keep = 0;
	int ret;

	if ((ret = j_chain(e, txn, key, keylen, serial, depth, &l, &n)) < 0)
		goto out;
	/* Newest first: keep while within both limits.  A changeset that
	 * alone exceeds max_bytes is not kept: followers take an AXFR. */
	while (keep < n && bytes + l[keep].v.mv_size <= max_bytes)
		bytes += l[keep++].v.mv_size;
	ret = j_delete_except(e, txn, key, keylen, l, keep);
out:
	free(l);
	return ret;
}

int snap_journal_clear(snap_env *e, MDB_txn *txn, const uint8_t *key, size_t keylen)
{
	if (!e->has_journal)
		return 0;
	return j_delete_except(e, txn, key, keylen, NULL, 0);
}

/* The zone's current serial, as the reader sees it: 1 found, 0 absent. */
static int j_zone(snap_rd *rd, const char *name, uint8_t *key, int *kl, uint32_t *serial)
{
	struct snap_zone z;
	int r;

	if ((*kl = dname_text_to_key(name, strlen(name), key)) < 0)
		return GN_EINVAL;
	if ((r = snap_rd_zone(rd, key, (size_t)*kl, &z)) != 1)
		return r;
	*serial = z.serial;
	return 1;
}

int snap_journal_walk(snap_rd *rd, const char *zone_name,
		      int (*cb)(void *arg, const struct snap_chg *c), void *arg)
{
	uint8_t key[DNAME_MAX];
	struct j_link *l = NULL;
	uint32_t serial = 0;
	size_t n = 0;
	int kl, ret;

	if (!rd->env->has_journal)
		return 0;
	if ((ret = j_zone(rd, zone_name, key, &kl, &serial)) != 1)
		return ret;
	if ((ret = j_chain(rd->env, rd->txn, key, (size_t)kl, serial, J_MAX_CHAIN, &l, &n)) < 0)
		goto out;
	for (size_t i = n; i-- > 0 && ret == 0;) {
		struct snap_chg c;
		if ((ret = j_decode(&l[i].v, &c)) == 0)
			ret = cb(arg, &c);
	}
out:
	free(l);
	return ret;
}

int snap_journal_info(snap_rd *rd, const char *zone_name, struct snap_journal_info *out)
{
	uint8_t key[DNAME_MAX];
	struct j_link *l = NULL;
	uint32_t serial = 0;
	size_t n = 0;
	int kl, ret;

	memset(out, 0, sizeof(*out));
	if (!rd->env->has_journal)
		return 0;
	if ((ret = j_zone(rd, zone_name, key, &kl, &serial)) != 1)
		return ret;
	if ((ret = j_chain(rd->env, rd->txn, key, (size_t)kl, serial, J_MAX_CHAIN, &l, &n)) < 0)
		goto out;
	out->depth = (uint32_t)n;
	for (size_t i = 0; i < n; i++)
		out->bytes += l[i].v.mv_size;
	if (n) {
		struct snap_chg c;
		if ((ret = j_decode(&l[n - 1].v, &c)) < 0)
			goto out;
		out->oldest_from = c.serial_from;
	}
out:
	free(l);
	return ret;
}
