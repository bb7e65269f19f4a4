/* zonesync/snap_int.h - internals shared by the snap_*.c files only. */
#pragma once
#include <lmdb.h>
#include <stdint.h>
#include <string.h>
#include "zonesync/snap.h"
#include "zonesync/snap_format.h"

/* DB_COUNT counts the databases of the query path (a snap_rd keeps one
 * cursor on each).  The journal comes after it: readers on the hot path
 * never touch it, and a read-only open of a snapshot without one works. */
enum {
	DB_META, DB_ZONES, DB_IP4, DB_IP6, DB_DOM, DB_RR, DB_VALS, DB_COUNT,
	DB_JOURNAL = DB_COUNT, DB_ALL
};

struct snap_env {
	MDB_env *env;
	MDB_dbi dbi[DB_ALL];
	unsigned flags;
	char *dir;
	int has_journal; /* 0: read-only open of a snapshot with no journal DB */
};

/* Value sets found in this reader's current snapshot version (see
 * snap_rd_valset).  Direct-mapped: a miss just asks LMDB. */
#define SNAP_VS_CACHE 64
struct snap_vs_slot {
	uint64_t txnid;    /* version the pointers belong to; 0 = empty */
	uint32_t dsid, vsid;
	const uint8_t *p, *end;
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
