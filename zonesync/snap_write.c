/* zonesync/snap_write.c - replacing zones in one write transaction.
 *
 * The whole replacement (new datasets under fresh dsids, the zone record,
 * deletion of the old dsids' keys) is one LMDB transaction, so a reader sees
 * the old zone or the new one and a crash at any point leaves the old one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "zonesync/snap_int.h"

struct wctx {
	snap_env *e;
	MDB_txn *txn;
	uint8_t key[512];
	struct strbuf val;
};

/* Append when the key sorts last (fresh dsids always do); otherwise a
 * normal put.  MDB_APPEND returns MDB_KEYEXIST for an out-of-order key. */
static int wput(struct wctx *w, int db, const uint8_t *k, size_t kl, const void *v, size_t vl)
{
	MDB_val mk = { kl, (void *)k }, mv = { vl, (void *)v };
	int rc = mdb_put(w->txn, w->e->dbi[db], &mk, &mv, MDB_APPEND);
	if (rc == MDB_KEYEXIST)
		rc = mdb_put(w->txn, w->e->dbi[db], &mk, &mv, 0);
	return rc;
}

/* Delete every key of `db` that starts with dsid. */
static int wdel_dsid(struct wctx *w, int db, uint32_t dsid)
{
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t pfx[4];
	int rc = mdb_cursor_open(w->txn, w->e->dbi[db], &c);

	if (rc)
		return rc;
	snap_be32(pfx, dsid);
	k.mv_size = 4;
	k.mv_data = pfx;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= 4 && memcmp(k.mv_data, pfx, 4) == 0) {
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
		if (rc == EINVAL || rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int wvals(struct wctx *w, uint32_t dsid, const struct zimg_ds *ds)
{
	int rc = 0;
	snap_be32(w->key, dsid);
	for (uint32_t s = 0; s < ds->n_valsets && rc == 0; s++) {
		const struct zimg_valset *vs = &ds->valsets[s];
		strbuf_reset(&w->val);
		for (uint32_t i = 0; i < vs->count; i++) {
			const struct zimg_val *v = &ds->vals[vs->first + i];
			uint8_t hdr[7];
			memcpy(hdr, v->a, 4);
			hdr[4] = v->has_txt;
			snap_be16(hdr + 5, v->has_txt ? v->txt_len : 0);
			strbuf_add(&w->val, (const char *)hdr, 7);
			if (v->has_txt)
				strbuf_add(&w->val, v->txt, v->txt_len);
		}
		if (w->val.err)
			return ENOMEM;
		snap_be32(w->key + 4, s);
		rc = wput(w, DB_VALS, w->key, 8, w->val.len ? w->val.p : "", w->val.len);
	}
	return rc;
}

static int wip(struct wctx *w, uint32_t dsid, const struct zimg_ds *ds)
{
	uint8_t v[36];
	int rc = 0;
	snap_be32(w->key, dsid);
	for (size_t i = 0; i < ds->n_ip4 && rc == 0; i++) {
		snap_be32(w->key + 4, ds->ip4[i].lo);
		snap_be32(v, ds->ip4[i].hi);
		snap_be32(v + 4, ds->ip4[i].vs);
		rc = wput(w, DB_IP4, w->key, 8, v, 8);
	}
	for (size_t i = 0; i < ds->n_ip6 && rc == 0; i++) {
		memcpy(w->key + 4, ds->ip6[i].lo, 16);
		memcpy(v, ds->ip6[i].hi, 16);
		snap_be32(v + 16, ds->ip6[i].vs);
		rc = wput(w, DB_IP6, w->key, 20, v, 20);
	}
	for (size_t i = 0; i < ds->n_dom && rc == 0; i++) {
		memcpy(w->key + 4, ds->dom[i].key, ds->dom[i].keylen);
		snap_be32(v, ds->dom[i].vs_exact);
		snap_be32(v + 4, ds->dom[i].vs_wild);
		rc = wput(w, DB_DOM, w->key, 4u + ds->dom[i].keylen, v, 8);
	}
	return rc;
}

static int rr_cmp(const void *a, const void *b)
{
	const struct zimg_rr *x = *(const struct zimg_rr *const *)a;
	const struct zimg_rr *y = *(const struct zimg_rr *const *)b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	if (x->keylen != y->keylen)
		return x->keylen < y->keylen ? -1 : 1;
	return (int)x->type - (int)y->type;
}

/* Group records into RRsets keyed (dsid, owner, 0, type). */
static int wrr(struct wctx *w, uint32_t dsid, const struct zimg_ds *ds)
{
	const struct zimg_rr **rr;
	int rc = 0;

	if (ds->n_rr == 0)
		return 0;
	if (!(rr = malloc(ds->n_rr * sizeof(*rr))))
		return ENOMEM;
	for (size_t i = 0; i < ds->n_rr; i++)
		rr[i] = &ds->rr[i];
	qsort(rr, ds->n_rr, sizeof(*rr), rr_cmp);
	snap_be32(w->key, dsid);
	for (size_t i = 0, j; i < ds->n_rr && rc == 0; i = j) {
		uint8_t hdr[6];
		uint16_t count = 0;
		uint32_t ttl = rr[i]->ttl;
		size_t kl = 4u + rr[i]->keylen;
		strbuf_reset(&w->val);
		strbuf_add(&w->val, "\0\0\0\0\0\0", 6);
		for (j = i; j < ds->n_rr && rr_cmp(&rr[i], &rr[j]) == 0; j++) {
			uint8_t l[2];
			/* RFC 2181 5.2: one TTL per RRset; keep the smallest. */
			if (rr[j]->ttl < ttl)
				ttl = rr[j]->ttl;
			snap_be16(l, rr[j]->rdlen);
			strbuf_add(&w->val, (const char *)l, 2);
			strbuf_add(&w->val, (const char *)rr[j]->rdata, rr[j]->rdlen);
			count++;
		}
		if (w->val.err) {
			rc = ENOMEM;
			break;
		}
		snap_be32(hdr, ttl);
		snap_be16(hdr + 4, count);
		memcpy(w->val.p, hdr, 6);
		memcpy(w->key + 4, rr[i]->key, rr[i]->keylen);
		w->key[kl] = 0;
		snap_be16(w->key + kl + 1, rr[i]->type);
		rc = wput(w, DB_RR, w->key, kl + 3, w->val.p, w->val.len);
	}
	free(rr);
	return rc;
}

static int wnext_dsid(struct wctx *w, uint32_t *dsid)
{
	MDB_val k = { 9, (void *)"next-dsid" }, v;
	uint8_t buf[4];
	int rc = mdb_get(w->txn, w->e->dbi[DB_META], &k, &v);

	if (rc == MDB_NOTFOUND)
		*dsid = 1;
	else if (rc)
		return rc;
	else if (v.mv_size != 4)
		return MDB_CORRUPTED;
	else
		*dsid = snap_rd32(v.mv_data);
	snap_be32(buf, *dsid + 1);
	v.mv_size = 4;
	v.mv_data = buf;
	return mdb_put(w->txn, w->e->dbi[DB_META], &k, &v, 0);
}

/* Delete the zone record at `key` and every key of its datasets. */
static int wdrop(struct wctx *w, const uint8_t *key, size_t keylen, int *found)
{
	MDB_val k = { keylen, (void *)key }, v;
	struct snap_zone z;
	uint32_t ids[4096];
	int n, rc = mdb_get(w->txn, w->e->dbi[DB_ZONES], &k, &v);

	*found = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	*found = 1;
	if (snap_zrec_decode(key, keylen, v.mv_data, v.mv_size, &z) < 0 ||
	    (n = snap_zrec_dsids(&z, ids, 4096)) < 0) {
		/* A record we cannot read is replaced anyway; its data stays
		 * unreferenced until the snapshot is rebuilt. */
		log_warn("snapshot %s: unreadable zone record replaced", w->e->dir);
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		for (int db = DB_IP4; db <= DB_VALS; db++)
			if ((rc = wdel_dsid(w, db, ids[i])) != 0)
				return rc;
		if ((rc = wdel_dsid(w, DB_IPX, ids[i])) != 0)
			return rc;
	}
	return mdb_del(w->txn, w->e->dbi[DB_ZONES], &k, NULL);
}

static int wzone(struct wctx *w, const struct zimg *img, int64_t loaded)
{
	uint32_t *ids = NULL;
	int rc, found;

	if ((rc = wdrop(w, img->key, img->keylen, &found)) != 0)
		return rc;
	if (img->n_ds && !(ids = calloc(img->n_ds, sizeof(*ids))))
		return ENOMEM;
	for (uint32_t i = 0; i < img->n_ds; i++) {
		if ((rc = wnext_dsid(w, &ids[i])) != 0 ||
		    (rc = wvals(w, ids[i], img->ds[i])) != 0 ||
		    (rc = wip(w, ids[i], img->ds[i])) != 0 ||
		    (rc = snap_ipx_put(w->e, w->txn, ids[i], img->ds[i])) != 0 ||
		    (rc = wrr(w, ids[i], img->ds[i])) != 0)
			goto out;
	}
	strbuf_reset(&w->val);
	if (snap_zrec_encode(img, ids, loaded, &w->val) < 0) {
		rc = ENOMEM;
		goto out;
	}
	{
		MDB_val k = { img->keylen, (void *)img->key }, v = { w->val.len, w->val.p };
		rc = mdb_put(w->txn, w->e->dbi[DB_ZONES], &k, &v, 0);
	}
out:
	free(ids);
	return rc;
}

int snap_put_zones(snap_env *e, struct zimg *const *imgs, size_t n, int64_t loaded)
{
	/* Without changesets every zone's journal is cleared: no history
	 * leads to the new content, so none may be served as an IXFR. */
	return snap_put_zones_journaled(e, imgs, NULL, n, loaded, NULL);
}

int snap_drop_zone(snap_env *e, const char *zone_name)
{
	struct wctx w = { .e = e };
	uint8_t key[DNAME_MAX];
	int kl = dname_text_to_key(zone_name, strlen(zone_name), key);
	int ret = 0, rc, found = 0;

	if (kl < 0)
		return GN_EINVAL;
	if ((rc = mdb_txn_begin(e->env, NULL, 0, &w.txn)) != 0)
		return snap_err(e, rc, "begin write");
	if ((rc = wdrop(&w, key, (size_t)kl, &found)) != 0) {
		ret = snap_err(e, rc, zone_name);
		goto out;
	}
	if (!found) {
		ret = GN_ENOENT;
		goto out;
	}
	if ((ret = snap_journal_clear(e, w.txn, key, (size_t)kl)) < 0)
		goto out;
	rc = mdb_txn_commit(w.txn);
	w.txn = NULL;
	if (rc)
		ret = snap_err(e, rc, "commit");
out:
	if (w.txn)
		mdb_txn_abort(w.txn);
	return ret;
}

/* The changeset must start where the stored zone is: the caller computed
 * it from a read transaction, and another writer may have committed since. */
static int wcheck_from(struct wctx *w, const struct zimg *img, const struct snap_chg *c)
{
	MDB_val k = { img->keylen, (void *)img->key }, v;
	struct snap_zone z;
	int rc = mdb_get(w->txn, w->e->dbi[DB_ZONES], &k, &v);

	if (c->serial_to != img->soa.serial) {
		log_err("snapshot %s: zone %s: changeset ends at serial %u but the zone has %u",
			w->e->dir, img->name, c->serial_to, img->soa.serial);
		return GN_EINVAL;
	}
	if (rc && rc != MDB_NOTFOUND)
		return snap_err(w->e, rc, img->name);
	if (rc == MDB_NOTFOUND ||
	    snap_zrec_decode(img->key, img->keylen, v.mv_data, v.mv_size, &z) < 0 ||
	    z.serial != c->serial_from) {
		log_err("snapshot %s: zone %s changed while importing (changeset starts at "
			"serial %u, stored serial is %s); nothing written, import again",
			w->e->dir, img->name, c->serial_from,
			rc == MDB_NOTFOUND ? "none" : "different");
		return GN_EBUSY;
	}
	return 0;
}

int snap_put_zones_journaled(snap_env *e, struct zimg *const *imgs,
			     const struct snap_chg *const *chgs, size_t n, int64_t loaded,
			     const struct snap_journal_limits *lim)
{
	struct wctx w = { .e = e };
	int ret = 0, rc;

	if (e->flags & SNAP_RDONLY)
		return GN_EINVAL;
	strbuf_init(&w.val);
	if ((rc = mdb_txn_begin(e->env, NULL, 0, &w.txn)) != 0) {
		ret = snap_err(e, rc, "begin write");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct snap_chg *c = chgs ? chgs[i] : NULL;
		if (c && (ret = wcheck_from(&w, imgs[i], c)) < 0)
			goto out;
		if ((rc = wzone(&w, imgs[i], loaded)) != 0) {
			ret = snap_err(e, rc, imgs[i]->name);
			goto out;
		}
		if (!c)
			ret = snap_journal_clear(e, w.txn, imgs[i]->key, imgs[i]->keylen);
		else if ((ret = snap_journal_put(e, w.txn, imgs[i], c)) == 0)
			ret = snap_journal_trim(e, w.txn, imgs[i]->key, imgs[i]->keylen,
						c->serial_to, lim);
		if (ret < 0)
			goto out;
	}
	rc = mdb_txn_commit(w.txn);
	w.txn = NULL;
	if (rc)
		ret = snap_err(e, rc, "commit");
out:
	if (w.txn)
		mdb_txn_abort(w.txn);
	strbuf_free(&w.val);
	return ret;
}
