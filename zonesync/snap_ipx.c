/* zonesync/snap_ipx.c - the interval index of an IP dataset (database ipx,
 * layout in zonesync/snap_format.h).
 *
 * A local DNSBL answer used to spend a third of its instructions descending
 * the ip4 B-tree (MDB_SET_RANGE, then MDB_PREV).  The ranges are written
 * once and read millions of times, so the writer also lays them out as
 * plain sorted arrays with a bucket table on the top address bits; LMDB
 * keeps such a value on consecutive overflow pages, and a lookup is a short
 * binary search over a few cache lines of it, in place.
 *
 * The index is derived data: the ip4/ip6 B-trees stay the source for dumps,
 * diffs and snap_ip4_any, and a dataset without an index (older writer,
 * older snapshot) is read through them.  Values are in native byte order
 * and may sit at any alignment (a small value lives inside a leaf page
 * after a 5-octet key), so every access is a memcpy load.
 */
#include "common/err.h"
#include "common/log.h"
#include "zonesync/snap_int.h"

#define IPX_HDR 16

static inline uint16_t ld16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t ld32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t ld64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void st16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void st32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void st64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* Buckets are taken from the top of a 64-bit word (an IPv4 address shifted
 * up, or the first half of an IPv6 one), so both families share the rule. */
static inline uint32_t ipx_bucket(uint64_t w, uint8_t bits)
{
	return bits ? (uint32_t)(w >> (64 - bits)) : 0;
}

/* About one range per bucket: the search inside a bucket then reads one
 * cache line of lo[] or two, and the table costs at most 4 octets per range
 * (so a small dataset's index stays small). */
static uint8_t ipx_bits(size_t n)
{
	uint8_t b = 0;
	while (b < SNAP_IPX_MAXBITS && ((size_t)2 << b) <= n)
		b++;
	return b;
}

static size_t ipx_arrays_off(uint8_t bits)
{
	size_t off = IPX_HDR + 4 * (((size_t)1 << bits) + 1);
	return (off + 7) & ~(size_t)7;
}

static size_t ipx_entry_size(uint8_t fam)
{
	return fam == 4 ? 12 : 36;
}

/* ---- writing ---- */

/* The lookup is only right for sorted, disjoint ranges.  zimg_finish
 * guarantees that for every image it passes; an image that skipped it is
 * still stored (the B-trees sort it) but left without an index. */
static int ipx_sorted4(const struct zimg_ds *ds)
{
	for (size_t i = 0; i < ds->n_ip4; i++)
		if (ds->ip4[i].lo > ds->ip4[i].hi || (i && ds->ip4[i].lo <= ds->ip4[i - 1].hi))
			return 0;
	return 1;
}

static int ipx_sorted6(const struct zimg_ds *ds)
{
	for (size_t i = 0; i < ds->n_ip6; i++)
		if (memcmp(ds->ip6[i].lo, ds->ip6[i].hi, 16) > 0 ||
		    (i && memcmp(ds->ip6[i].lo, ds->ip6[i - 1].hi, 16) <= 0))
			return 0;
	return 1;
}

static uint64_t ipx_top_word(const struct zimg_ds *ds, uint8_t fam, size_t i)
{
	return fam == 4 ? (uint64_t)ds->ip4[i].lo << 32 : snap_rd64(ds->ip6[i].lo);
}

static void ipx_fill(uint8_t *p, uint8_t fam, uint8_t bits, size_t n, const struct zimg_ds *ds)
{
	size_t off = ipx_arrays_off(bits), nb = (size_t)1 << bits, i = 0;
	uint8_t *top = p + IPX_HDR, *lo = p + off;

	memset(p, 0, off);
	st32(p, SNAP_IPX_MAGIC);
	st16(p + 4, SNAP_IPX_VERSION);
	p[6] = fam;
	p[7] = bits;
	st32(p + 8, (uint32_t)n);
	for (size_t b = 0; b <= nb; b++) {
		while (i < n && ipx_bucket(ipx_top_word(ds, fam, i), bits) < b)
			i++;
		st32(top + 4 * b, (uint32_t)i);
	}
	for (i = 0; i < n; i++) {
		if (fam == 4) {
			st32(lo + 4 * i, ds->ip4[i].lo);
			st32(lo + 4 * (n + i), ds->ip4[i].hi);
			st32(lo + 4 * (2 * n + i), ds->ip4[i].vs);
		} else {
			const struct zimg_ip6 *r = &ds->ip6[i];
			st64(lo + 16 * i, snap_rd64(r->lo));
			st64(lo + 16 * i + 8, snap_rd64(r->lo + 8));
			st64(lo + 16 * (n + i), snap_rd64(r->hi));
			st64(lo + 16 * (n + i) + 8, snap_rd64(r->hi + 8));
			st32(lo + 32 * n + 4 * i, r->vs);
		}
	}
}

static int ipx_put1(snap_env *e, MDB_txn *txn, uint32_t dsid, uint8_t fam,
		    const struct zimg_ds *ds)
{
	size_t n = fam == 4 ? ds->n_ip4 : ds->n_ip6;
	uint8_t bits = ipx_bits(n), key[5];
	size_t size = ipx_arrays_off(bits) + n * ipx_entry_size(fam);
	MDB_val k = { sizeof(key), key }, v = { size, NULL };
	int rc;

	if (n > UINT32_MAX / 64 || !(fam == 4 ? ipx_sorted4(ds) : ipx_sorted6(ds)))
		return 0;
	snap_be32(key, dsid);
	key[4] = fam;
	/* Fresh dsids sort last, so this appends, as the other writes do. */
	rc = mdb_put(txn, e->dbi[DB_IPX], &k, &v, MDB_RESERVE | MDB_APPEND);
	if (rc == MDB_KEYEXIST) {
		v.mv_size = size;
		v.mv_data = NULL;
		rc = mdb_put(txn, e->dbi[DB_IPX], &k, &v, MDB_RESERVE);
	}
	if (rc == 0)
		ipx_fill(v.mv_data, fam, bits, n, ds);
	return rc;
}

int snap_ipx_put(snap_env *e, MDB_txn *txn, uint32_t dsid, const struct zimg_ds *ds)
{
	enum zimg_index ix = zimg_index_of(ds->type);
	int rc = 0;

	/* An IP dataset gets an index even when empty: "nothing listed" is
	 * then answered without a B-tree seek as well. */
	if (ds->n_ip4 || ix == ZIX_IP4)
		rc = ipx_put1(e, txn, dsid, 4, ds);
	if (rc == 0 && (ds->n_ip6 || ix == ZIX_IP6))
		rc = ipx_put1(e, txn, dsid, 6, ds);
	return rc;
}

/* ---- reading ---- */

/* The checks that make every later access of the query path stay inside
 * the value: the header, the exact size, and the ends of the bucket table.
 * The table's inner entries are checked per lookup (two comparisons), not
 * here: walking 65,537 of them per view would touch 64 pages that lookups
 * mostly never need. */
static uint8_t ipx_check(struct snap_ipx_slot *x, const uint8_t *p, size_t size, uint8_t fam)
{
	size_t off, nb;

	if (size < IPX_HDR || ld32(p) != SNAP_IPX_MAGIC)
		return IPX_BAD;
	if (ld16(p + 4) != SNAP_IPX_VERSION)
		return IPX_NONE; /* a later layout: the B-trees still answer */
	if (p[6] != fam || p[7] > SNAP_IPX_MAXBITS)
		return IPX_BAD;
	x->bits = p[7];
	x->n = ld32(p + 8);
	nb = (size_t)1 << x->bits;
	off = ipx_arrays_off(x->bits);
	if (size < off || (uint64_t)(size - off) != (uint64_t)x->n * ipx_entry_size(fam))
		return IPX_BAD;
	x->top = p + IPX_HDR;
	if (ld32(x->top) != 0 || ld32(x->top + 4 * nb) != x->n)
		return IPX_BAD;
	x->lo = p + off;
	x->hi = x->lo + (fam == 4 ? 4 : 16) * (size_t)x->n;
	x->vs = x->lo + (fam == 4 ? 8 : 32) * (size_t)x->n;
	return IPX_OK;
}

static void ipx_damaged(snap_rd *rd, struct snap_ipx_slot *x)
{
	x->state = IPX_BAD;
	log_err("snapshot %s: dataset %u: the IPv%u interval index is damaged (its "
		"queries answer SERVFAIL); delete the snapshot and reload it",
		rd->env->dir, x->dsid, x->fam);
}

int snap_ipx_get(snap_rd *rd, uint32_t dsid, uint8_t fam, struct snap_ipx_slot **out)
{
	struct snap_ipx_slot *x = &rd->ipx_cache[(dsid * 2u + (fam == 6)) % SNAP_IPX_CACHE];

	if (rd->no_ipx || !rd->env->has_ipx || !rd->active)
		return 0;
	if (x->txnid != rd->txnid || x->dsid != dsid || x->fam != fam) {
		uint8_t key[5];
		MDB_val k = { sizeof(key), key }, v;
		int rc;

		snap_be32(key, dsid);
		key[4] = fam;
		rc = mdb_get(rd->txn, rd->env->dbi[DB_IPX], &k, &v);
		if (rc && rc != MDB_NOTFOUND)
			return snap_err(rd->env, rc, "read interval index");
		x->txnid = rd->txnid;
		x->dsid = dsid;
		x->fam = fam;
		x->state = rc ? IPX_NONE : ipx_check(x, v.mv_data, v.mv_size, fam);
		if (x->state == IPX_BAD)
			ipx_damaged(rd, x);
	}
	if (x->state == IPX_BAD)
		return GN_ECORRUPT;
	*out = x;
	return x->state == IPX_OK;
}

/* [*s, *e) = the ranges whose lo lies in the bucket of w. */
static int ipx_span(snap_rd *rd, struct snap_ipx_slot *x, uint64_t w, uint32_t *s, uint32_t *e)
{
	size_t p = ipx_bucket(w, x->bits);

	*s = ld32(x->top + 4 * p);
	*e = ld32(x->top + 4 * p + 4);
	if (*s > *e || *e > x->n) {
		ipx_damaged(rd, x);
		return GN_ECORRUPT;
	}
	return 0;
}

int snap_ipx_find4(snap_rd *rd, struct snap_ipx_slot *x, uint32_t addr, uint32_t *vsid)
{
	uint32_t s, e;

	if (ipx_span(rd, x, (uint64_t)addr << 32, &s, &e) < 0)
		return GN_ECORRUPT;
	/* s becomes the first range of the bucket with lo > addr (or e); the
	 * one before it, possibly in an earlier bucket, is the only candidate. */
	while (s < e) {
		uint32_t m = s + (e - s) / 2;
		if (ld32(x->lo + 4 * (size_t)m) <= addr)
			s = m + 1;
		else
			e = m;
	}
	if (s == 0 || ld32(x->hi + 4 * (size_t)(s - 1)) < addr)
		return 0;
	*vsid = ld32(x->vs + 4 * (size_t)(s - 1));
	return 1;
}

int snap_ipx_find6(snap_rd *rd, struct snap_ipx_slot *x, const uint8_t addr[16], uint32_t *vsid)
{
	uint64_t ah = snap_rd64(addr), al = snap_rd64(addr + 8), h;
	uint32_t s, e;

	if (ipx_span(rd, x, ah, &s, &e) < 0)
		return GN_ECORRUPT;
	while (s < e) {
		uint32_t m = s + (e - s) / 2;
		h = ld64(x->lo + 16 * (size_t)m);
		if (h < ah || (h == ah && ld64(x->lo + 16 * (size_t)m + 8) <= al))
			s = m + 1;
		else
			e = m;
	}
	if (s == 0)
		return 0;
	h = ld64(x->hi + 16 * (size_t)(s - 1));
	if (h < ah || (h == ah && ld64(x->hi + 16 * (size_t)(s - 1) + 8) < al))
		return 0;
	*vsid = ld32(x->vs + 4 * (size_t)(s - 1));
	return 1;
}
