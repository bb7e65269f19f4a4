/* zonesync/snap_int.h - internals shared by the snap_*.c files only. */
#pragma once
#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "zonesync/snap.h"
#include "zonesync/snap_format.h"

/* DB_COUNT counts the databases a snap_rd keeps a cursor on.  The journal
 * and the interval index come after it: the journal is off the query path,
 * the index is read with mdb_get once per view, and a read-only open of a
 * snapshot written before either existed works without them. */
enum {
	DB_META, DB_ZONES, DB_IP4, DB_IP6, DB_DOM, DB_RR, DB_VALS, DB_COUNT,
	DB_JOURNAL = DB_COUNT, DB_IPX, DB_ALL
};

struct snap_env {
	MDB_env *env;
	MDB_dbi dbi[DB_ALL];
	unsigned flags;
	char *dir;
	int has_journal; /* 0: read-only open of a snapshot with no journal DB */
	int has_ipx;     /* 0: read-only open of a snapshot with no ipx DB */
};

/* Value sets found in this reader's current snapshot version (see
 * snap_rd_valset).  Direct-mapped: a miss just asks LMDB. */
#define SNAP_VS_CACHE 64
struct snap_vs_slot {
	uint64_t txnid;    /* version the pointers belong to; 0 = empty */
	uint32_t dsid, vsid;
	const uint8_t *p, *end;
};

/* Interval indexes (ipx, snap_format.h) found in this reader's current
 * view, tagged like the value-set slots.  A slot also remembers "no usable
 * index" and "damaged index", so neither costs an mdb_get per query.  A
 * query path touches one or two IP datasets, hence so few slots. */
#define SNAP_IPX_CACHE 8
enum { IPX_NONE, IPX_OK, IPX_BAD };
struct snap_ipx_slot {
	uint64_t txnid;    /* version the pointers belong to; 0 = empty */
	uint32_t dsid;
	uint8_t fam;       /* 4 or 6 */
	uint8_t state;     /* IPX_*: NONE = use the B-tree */
	uint8_t bits;
	uint32_t n;
	const uint8_t *top, *lo, *hi, *vs; /* into the map; unaligned */
};

struct snap_rd {
	snap_env *env;
	MDB_txn *txn;
	MDB_cursor *cur[DB_COUNT];
	int active;
	unsigned fresh;    /* bit per DB_*: cursor renewed into the active view */
	uint64_t txnid;    /* of the active view */
	uint8_t kbuf[512]; /* key scratch: lookups build keys here */
	struct snap_vs_slot vs_cache[SNAP_VS_CACHE];
	struct snap_ipx_slot ipx_cache[SNAP_IPX_CACHE];
	bool no_ipx;       /* snap_rd_use_index(rd, false): B-trees only */
};

/* Translate an LMDB return code (logging what failed and where). */
int snap_err(const snap_env *env, int rc, const char *what);

/* The reader's cursor on `db`, renewed into the active view on first use:
 * a batch of DNSBL queries touches two or three of the seven databases, and
 * renewing all seven cost ~4,000 instructions per batch.  Every use of a
 * reader's cursor goes through here.  NULL with *err < 0 (logged) when the
 * renewal fails. */
static inline MDB_cursor *snap_rd_cursor(snap_rd *rd, int db, int *err)
{
	if (!(rd->fresh & (1u << db))) {
		int rc = mdb_cursor_renew(rd->txn, rd->cur[db]);
		if (rc) {
			*err = snap_err(rd->env, rc, "renew cursor");
			return NULL;
		}
		rd->fresh |= 1u << db;
	}
	return rd->cur[db];
}

static inline void snap_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);  p[3] = (uint8_t)v;
}
static inline uint32_t snap_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void snap_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v;
}
static inline uint16_t snap_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static inline void snap_be64(uint8_t *p, uint64_t v)
{
	snap_be32(p, (uint32_t)(v >> 32));
	snap_be32(p + 4, (uint32_t)v);
}
static inline uint64_t snap_rd64(const uint8_t *p)
{
	return (uint64_t)snap_rd32(p) << 32 | snap_rd32(p + 4);
}

/* Fetch value set vsid of dataset dsid: 1 found, <0 error (missing = corrupt). */
int snap_rd_valset(snap_rd *rd, uint32_t dsid, uint32_t vsid, struct snap_valset *vs);

/* Interval index (snap_ipx.c).  Write the ipx keys of dataset `ds` under
 * dsid in the caller's write transaction (nothing for a dataset with no IP
 * index; nothing either for ranges that are not sorted and disjoint, which
 * zimg_finish guarantees: such a dataset is read through the B-trees).
 * Returns an LMDB/errno code like mdb_put. */
int snap_ipx_put(snap_env *e, MDB_txn *txn, uint32_t dsid, const struct zimg_ds *ds);
/* The index of (dsid, fam) in the reader's active view: 1 usable (*out
 * set, valid until the view ends), 0 none (use the B-tree), <0 error
 * (GN_ECORRUPT for a damaged index, logged once per view). */
int snap_ipx_get(snap_rd *rd, uint32_t dsid, uint8_t fam, struct snap_ipx_slot **out);
/* Floor lookups in an index from snap_ipx_get: 1 listed (*vsid set), 0 not,
 * GN_ECORRUPT (logged; the slot then stays damaged for the view). */
int snap_ipx_find4(snap_rd *rd, struct snap_ipx_slot *x, uint32_t addr, uint32_t *vsid);
int snap_ipx_find6(snap_rd *rd, struct snap_ipx_slot *x, const uint8_t addr[16],
		   uint32_t *vsid);

/* Zone record codec (snap_zrec.c). */
struct strbuf;
int snap_zrec_encode(const struct zimg *img, const uint32_t *dsids, int64_t loaded,
		     struct strbuf *out);
int snap_zrec_decode(const uint8_t *key, size_t keylen, const uint8_t *p, size_t n,
		     struct snap_zone *z);
/* Collect the dsids of a zone record (for deletion). Returns count or <0. */
int snap_zrec_dsids(const struct snap_zone *z, uint32_t *out, uint32_t max);

/* Journal internals (snap_journal.c), inside a write transaction. */
int snap_journal_put(snap_env *e, MDB_txn *txn, const struct zimg *img,
		     const struct snap_chg *c);
int snap_journal_trim(snap_env *e, MDB_txn *txn, const uint8_t *key, size_t keylen,
		      uint32_t serial, const struct snap_journal_limits *lim);
int snap_journal_clear(snap_env *e, MDB_txn *txn, const uint8_t *key, size_t keylen);
