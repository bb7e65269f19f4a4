/* zonesync/snap.h - the node snapshot: one LMDB environment per host.
 *
 * Written only by zonesync (one writer at a time, LMDB's own lock), read by
 * the resolver's workers.  A zone is replaced, or a set of zones is replaced,
 * in ONE write transaction: readers see the old zones or the new ones, never
 * a mix, and never wait.  The on-disk layout is documented in
 * zonesync/snap_format.h; nothing outside zonesync/ depends on it.
 *
 * Threading: a snap_env is shared by all threads.  A snap_rd is owned by one
 * thread (LMDB read transactions are per thread); it keeps its transaction and
 * cursors for its whole life and only resets/renews them, so a lookup costs
 * no allocation, no lock and no copy: results point into the map and stay
 * valid until the next snap_rd_end()/snap_rd_begin() on that reader.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "zonesync/zimg.h"

typedef struct snap_env snap_env;
typedef struct snap_rd snap_rd;

#define SNAP_RDONLY 0x1 /* open for reading only (resolver, tools) */
#define SNAP_NO_READER_CHECK 0x2 /* leave stale reader slots alone (inspection) */

struct snap_opts {
	uint64_t map_size;    /* bytes; 0 = default (4 GiB) */
	unsigned max_readers; /* 0 = default (2048) */
};

/* Open (creating when writable) the environment in directory `dir`.
 * Clears stale reader slots left by killed processes.  Errors are logged
 * with the path.  Caller frees with snap_close. */
int snap_open(snap_env **out, const char *dir, unsigned flags, const struct snap_opts *o);
void snap_close(snap_env *env); /* NULL-safe */

/* What the environment looks like on disk, for operators (gridns inspect). */
struct snap_env_stats {
	uint64_t map_size;     /* configured map size, bytes */
	uint64_t used_bytes;   /* pages in use up to the high-water mark, bytes */
	uint64_t page_size;
	uint64_t free_pages;   /* pages on the free list, reusable by the writer */
	unsigned max_readers;  /* reader table size */
	unsigned readers;      /* slots in use (live or stale) */
	uint64_t last_txnid;   /* id of the last committed write */
};
/* Fill `out`.  Returns 0 or a snapshot error. */
int snap_env_stats(snap_env *env, struct snap_env_stats *out);
/* Clear reader slots left by processes that died; returns how many were
 * cleared, or <0. */
int snap_reader_check(snap_env *env);

/* The figures an operator watches to act before LMDB fails (map full,
 * reader table full, disk full): those of snap_env_stats that move, plus
 * the file and its filesystem (docs/monitoring/metrics.md).  Cheap enough
 * for every scrape: one short read transaction (the free-list walk), the
 * reader table read without its lock, fstat and fstatvfs. */
struct snap_env_health {
	uint64_t map_size;        /* this process's map, bytes */
	uint64_t used_bytes;      /* pages up to the high-water mark, bytes */
	uint64_t page_size;
	uint64_t free_pages;      /* on the free list (valid if free_known) */
	bool free_known;          /* false: no read txn (reader table full) */
	uint64_t file_bytes;      /* data.mdb as the filesystem sees it */
	uint64_t fs_free_bytes;   /* free space an unprivileged writer can use */
	unsigned max_readers;     /* reader table size */
	unsigned readers_in_use;  /* slots owned by a process, live or dead */
};
/* Fill `out`.  Any thread; the env must stay open for the call.  Returns 0
 * once the map and file figures are read (the free list may still be
 * unknown, see free_known), or <0 (logged) with `out` zeroed. */
int snap_env_health(snap_env *env, struct snap_env_health *out);
/* Append the gridns_snapshot_* gauges of `env` to a Prometheus exposition
 * (docs/monitoring/metrics.md).  env NULL, or a failed read, writes the
 * family headers without samples, so the exposition keeps its shape. */
struct strbuf;
void snap_env_metrics_write(snap_env *env, struct strbuf *out);

/* ---- writing ---------------------------------------------------------- */

/* Replace the zones in imgs[0..n) (each image replaces the zone of the same
 * name, or adds it) in one transaction.  `loaded_at` is stored as the zone's
 * load time.  On any error nothing is changed. */
int snap_put_zones(snap_env *env, struct zimg *const *imgs, size_t n, int64_t loaded_at);
/* Remove a zone.  GN_ENOENT when absent. */
int snap_drop_zone(snap_env *env, const char *zone_name);

/* Rewrite only the zone record of `zone_name`: load time and expiry
 * (ts_expires), for a follower's refresh that found no change
 * (snap_touch.c).  `serial` must be the stored serial: GN_EBUSY when the zone
 * changed meanwhile, GN_ENOENT when absent.  Datasets are not touched. */
int snap_touch_zone(snap_env *env, const char *zone_name, uint32_t serial, int64_t loaded,
		    int64_t ts_expires);

/* ---- journal (central database) ----------------------------------------
 * A changeset turns serial_from into serial_to.  Its records are n_del
 * deletions then n_add additions, each encoded as
 *   u8 owner_len, owner (absolute wire), u16 type, u32 ttl, u16 rdlen, rdata
 * (class IN implied).  By convention (as an IXFR difference sequence carries
 * it) the first deletion is the old SOA and the first addition the new one. */
struct snap_chg {
	uint32_t serial_from, serial_to;
	int64_t time;          /* unix time of the import */
	uint32_t n_del, n_add;
	const uint8_t *recs;   /* n_del + n_add records */
	size_t recs_len;
};

/* One decoded journal record; pointers into the changeset. */
struct snap_jrr {
	const uint8_t *owner;
	uint8_t owner_len;
	uint16_t type;
	uint32_t ttl;
	uint16_t rdlen;
	const uint8_t *rdata;
};
/* Iterate records: set it->p/end to recs/recs+recs_len; returns 1 per
 * record, 0 at the end, GN_ECORRUPT on a malformed one. */
struct snap_jrr_it {
	const uint8_t *p, *end;
};
int snap_jrr_next(struct snap_jrr_it *it, struct snap_jrr *rr);

#define SNAP_JOURNAL_DEPTH 100            /* journal-max-depth default */
#define SNAP_JOURNAL_BYTES (64ULL << 20)  /* journal-max-bytes default */
struct snap_journal_limits {
	uint32_t max_depth;    /* changesets kept per zone; 0 = default */
	uint64_t max_bytes;    /* stored bytes kept per zone; 0 = default */
};

/* snap_put_zones plus, for each i with chgs[i] != NULL, the journal entry
 * chgs[i] of that zone, all in ONE write transaction; then each written
 * zone's journal is trimmed to `lim` (oldest changesets first) in the same
 * transaction.  A changeset must start at the zone's stored serial and end
 * at imgs[i]->soa.serial: GN_EBUSY when another writer changed the zone in
 * between (nothing written; import again).  chgs[i] == NULL replaces the
 * zone without a changeset and drops its journal (history no longer leads
 * to it).  chgs may be NULL altogether.  On any error nothing is changed. */
int snap_put_zones_journaled(snap_env *env, struct zimg *const *imgs,
			     const struct snap_chg *const *chgs, size_t n, int64_t loaded_at,
			     const struct snap_journal_limits *lim);

/* ---- reading ---------------------------------------------------------- */

int snap_rd_new(snap_env *env, snap_rd **out);
void snap_rd_free(snap_rd *rd); /* NULL-safe */
/* Start seeing the newest committed version (renews the read txn). */
int snap_rd_begin(snap_rd *rd);
/* Release the version (resets the txn so writers can reuse pages). */
void snap_rd_end(snap_rd *rd);
/* Version id of what the reader sees (LMDB txn id); changes on every commit.
 * Use it to rebuild derived tables only when the data changed. */
uint64_t snap_rd_version(const snap_rd *rd);

/* Zone metadata, decoded.  Pointers valid until snap_rd_end. */
struct snap_ds {
	uint32_t dsid;         /* unique id of this dataset generation */
	enum zimg_dstype type;
	uint32_t ttl;
	uint32_t n_subs;
	const uint8_t *subs;   /* n_subs x [len octet][relative key] */
	uint64_t n_entries;    /* stored ranges/names/records */
	uint64_t n_source;     /* entries read from source */
	const char *label;     /* not NUL-terminated */
	uint16_t label_len;
};

struct snap_zone {
	const uint8_t *key;    /* apex key */
	uint8_t keylen;
	const char *name;      /* text, not NUL-terminated */
	uint16_t name_len;
	uint16_t format;       /* snapshot format version of this record */
	uint32_t serial;
	bool has_soa;
	uint32_t soa_ttl, refresh, retry, expire, minimum;
	const uint8_t *mname, *rname; /* wire */
	uint32_t ns_ttl;
	uint32_t n_ns;
	const uint8_t *ns;     /* n_ns x [u8 len][wire]: use snap_zone_ns */
	int64_t loaded;        /* unix time of the load/apply */
	int64_t ts_generated, ts_expires, src_mtime;
	const char *source;
	uint16_t source_len;
	uint32_t n_ds;
	const uint8_t *ds_raw; /* decode with snap_zone_ds */
	uint32_t ds_raw_len;
};

/* Visit every zone in key order.  `cb` returning non-zero stops the walk and
 * becomes the return value. */
int snap_rd_zones(snap_rd *rd, int (*cb)(void *arg, const struct snap_zone *z), void *arg);
/* Find one zone by apex key.  Returns 1 found, 0 absent, <0 error. */
int snap_rd_zone(snap_rd *rd, const uint8_t *key, size_t keylen, struct snap_zone *out);
/* The i-th NS name of a zone (wire form, into the map). */
int snap_zone_ns(const struct snap_zone *z, uint32_t i, const uint8_t **wire);
/* Decode dataset i (0 <= i < z->n_ds).  Returns 0 or GN_ECORRUPT. */
int snap_zone_ds(const struct snap_zone *z, uint32_t i, struct snap_ds *out);

/* Value sets: encoded A+TXT pairs of one listed entry. */
struct snap_valset {
	const uint8_t *p;
	const uint8_t *end;
};
struct snap_val {
	const uint8_t *a;      /* 4 octets, network order */
	bool has_txt;
	uint16_t txt_len;
	const char *txt;       /* stored template, see zimg.h */
};
/* Iterate: returns 1 and fills `v` while values remain, 0 at the end,
 * GN_ECORRUPT on a malformed record. */
int snap_valset_next(struct snap_valset *vs, struct snap_val *v);

/* Whether IP lookups may use the interval index (snap_format.h, ipx);
 * on by default.  Off, they read the ip4/ip6 B-trees only, as for a
 * snapshot written before the index existed: for tests and comparisons. */
void snap_rd_use_index(snap_rd *rd, bool on);
/* IP datasets.  Return 1 listed (fills *vs), 0 not listed, <0 error. */
int snap_ip4_find(snap_rd *rd, uint32_t dsid, uint32_t addr, struct snap_valset *vs);
int snap_ip6_find(snap_rd *rd, uint32_t dsid, const uint8_t addr[16], struct snap_valset *vs);
/* Is any address in [lo,hi] listed?  (Empty non-terminal test for partial
 * reversed names.)  1 yes, 0 no, <0 error. */
int snap_ip4_any(snap_rd *rd, uint32_t dsid, uint32_t lo, uint32_t hi);
int snap_ip6_any(snap_rd *rd, uint32_t dsid, const uint8_t lo[16], const uint8_t hi[16]);

/* dnset.  `key` is relative to the attachment point.  Applies the exact /
 * closest-wildcard rule.  1 listed (fills *vs), 0 not listed, <0 error. */
int snap_dom_find(snap_rd *rd, uint32_t dsid, const uint8_t *key, size_t keylen,
		  struct snap_valset *vs);
/* snap_dom_find that also reports which entry decided: *match_len is the
 * length of the relative key that owns it (keylen for an exact entry, the
 * wildcard's base for a wildcard).  rbldnsd substitutes THAT name for "$" in
 * dnset TXT templates.  (Requested by resolver/answer_data.c, which falls back
 * to the queried name while it is not linked in.) */
int snap_dom_match(snap_rd *rd, uint32_t dsid, const uint8_t *key, size_t keylen,
		   struct snap_valset *vs, size_t *match_len);
/* snap_dom_match that also says, from its first seek, what snap_dom_below
 * would (*below 1 or 0), or -1 when only snap_dom_below can tell.  Saves a
 * B-tree descent for every unlisted name. */
int snap_dom_match_below(snap_rd *rd, uint32_t dsid, const uint8_t *key, size_t keylen,
			 struct snap_valset *vs, size_t *match_len, int *below);
/* Does any entry exist strictly below `key` (a wildcard entry at `key`
 * counts: it is the name "*.key")?  1 yes, 0 no, <0 error. */
int snap_dom_below(snap_rd *rd, uint32_t dsid, const uint8_t *key, size_t keylen);

/* Generic / master-file datasets (RFC 1034 4.3.2, RFC 4592). */
enum snap_rr_status {
	SNAP_RR_NXDOMAIN = 0, /* no such name, no wildcard */
	SNAP_RR_NAME = 1,     /* the name owns records (maybe not of qtype) */
	SNAP_RR_ENT = 2,      /* empty non-terminal */
	SNAP_RR_WILDCARD = 3, /* synthesised from "*.<closest encloser>" */
	SNAP_RR_DELEG = 4,    /* at or below a zone cut (NS below apex) */
};
struct snap_rr_match {
	enum snap_rr_status status;
	const uint8_t *owner;  /* relative key whose records answer (the name,
	                        * the wildcard "*.ce", or the cut); into the map */
	uint8_t owner_len;
	uint8_t ce_len;        /* NXDOMAIN/WILDCARD: closest encloser key length */
};
int snap_rr_lookup(snap_rd *rd, uint32_t dsid, const uint8_t *key, size_t keylen,
		   struct snap_rr_match *m);
/* One RRset: rdata is `count` x [u16 rdlen big-endian][rdata]. */
struct snap_rrset {
	uint16_t type;
	uint16_t count;
	uint32_t ttl;
	const uint8_t *rdata;
	const uint8_t *end;
};
/* The RRset of `type` at relative owner key: 1 found, 0 none, <0 error. */
int snap_rrset_get(snap_rd *rd, uint32_t dsid, const uint8_t *owner, size_t ownerlen,
		   uint16_t type, struct snap_rrset *out);
/* All RRsets at an owner, in type order (for ANY): call with *cursor = 0 first;
 * returns 1 per RRset, 0 at the end. */
int snap_rrset_next(snap_rd *rd, uint32_t dsid, const uint8_t *owner, size_t ownerlen,
		    uint32_t *cursor, struct snap_rrset *out);

/* The journal of zone `name`, oldest first: the chain of changesets that
 * ends at the zone's stored serial.  `cb` gets each changeset (pointers valid
 * until snap_rd_end); non-zero stops the walk and is returned.  A zone
 * without journal (or absent) calls nothing and returns 0. */
int snap_journal_walk(snap_rd *rd, const char *zone_name,
		      int (*cb)(void *arg, const struct snap_chg *c), void *arg);
struct snap_journal_info {
	uint32_t depth;        /* changesets reachable from the current serial */
	uint64_t bytes;        /* their stored size */
	uint32_t oldest_from;  /* oldest serial an IXFR can start from (depth > 0) */
};
int snap_journal_info(snap_rd *rd, const char *zone_name, struct snap_journal_info *out);

/* Read zone `name` back into a finished image (caller frees with zimg_free).
 * 0, GN_ENOENT when absent, or <0.  Not for the query path. */
int snap_load_zone(snap_rd *rd, const char *name, struct zimg **out);

/* Iterate a dataset's stored entries in order (for dump/diff; not hot path).
 * Call with *it zeroed; returns 1 per entry, 0 at the end. */
struct snap_ent_it {
	uint32_t dsid;
	enum zimg_index ix;
	bool started;
	uint8_t last_key[300];
	size_t last_len;
	/* filled per entry, pointers valid until snap_rd_end: */
	uint32_t ip4_lo, ip4_hi;
	uint8_t ip6_lo[16], ip6_hi[16];
	const uint8_t *key; uint8_t keylen;         /* dom and rr owner */
	struct snap_valset vs, vs_wild;             /* ip and dom; vs_wild dom only */
	bool has_exact, excl_exact, has_wild, excl_wild;
	struct snap_rrset rrset;                    /* rr */
};
int snap_ent_next(snap_rd *rd, struct snap_ent_it *it);
