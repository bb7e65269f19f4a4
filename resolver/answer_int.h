/* resolver/answer_int.h - private to resolver/answer*.c: the context and the
 * per-query state shared by the answer engine's files.
 *
 * Counters: each context is written only by its owner thread, so updates are
 * a relaxed load + relaxed store (no locked instruction on the hot path);
 * the metrics thread reads them with relaxed loads and sums contexts.
 */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "resolver/answer.h"
#include "resolver/wire.h"
#include "resolver/zonetab.h"

/* Zones ever seen by one context; beyond this, per-zone counters are not kept
 * (the global ones still are). */
#define ANSWER_ZSLOTS 1024
#define ANSWER_NO_SLOT UINT32_MAX
#define ANSWER_CNAME_MAX 8

struct answer_zslot {
	atomic_bool used;          /* set (release) after name is written */
	char name[DNAME_TEXT_MAX]; /* never changes once used */
	atomic_uint_fast64_t queries, listed, unlisted, errors;
};

/* One zone of the zone-acl rules.  The rules hold whether or not the
 * snapshot has the zone, so they are found by the query's key in this
 * table (sorted like the rules, built once by answer_ctx_new), not through
 * the snapshot's zone table; their counters live here for the same reason:
 * a zone absent from the snapshot has no counter slot. */
struct answer_zz {
	const struct answer_zacl *rules; /* its run of the conf's rules (key in [0]) */
	uint32_t n_rules;
	atomic_uint_fast64_t acts[ANSWER_ZACL_N]; /* actions taken, by action */
};

struct answer_ctx {
	snap_env *env;
	snap_rd *rd;
	struct answer_conf conf;
	struct zonetab zt;
	bool in_batch;
	bool view_ok;              /* batch_begin succeeded and the table matches */
	bool build_failing;        /* last table rebuild failed (logged once) */
	int64_t now;               /* unix time, read once per batch */
	atomic_uint_fast64_t queries, dropped;
	atomic_uint_fast64_t rcode[WIRE_R_COUNT];
	struct answer_zslot *slots; /* ANSWER_ZSLOTS */
	struct answer_zz *zz;      /* zone-acl zones, sorted by key; NULL: none */
	uint32_t n_zz;
	int zz_max_labels;         /* deepest rule zone, bounds the search */
	const uint8_t *ignored;    /* packet the last call dropped by zone-acl */
};

static inline void answer_inc(atomic_uint_fast64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* What one name lookup found, over all datasets attached at its node. */
struct answer_res {
	bool err;                  /* a snapshot read failed: SERVFAIL */
	bool exists;               /* the name exists (NODATA when no answer) */
	uint16_t answers;          /* RRs written to the answer section */
	bool has_cname;            /* a CNAME was answered; target below */
	uint8_t cname[DNAME_MAX];  /* its target (wire) */
	bool deleg;                /* below a zone cut in an RR dataset */
	uint32_t deleg_ds;         /* index into the zone's ds[] */
	uint8_t deleg_key[DNAME_MAX]; /* full key of the cut */
	uint8_t deleg_keylen;
	uint8_t deleg_rel;         /* where the dataset-relative part starts */
};

/* Reset what a lookup reports.  The name buffers (~500 octets) are left
 * alone: they are read only under has_cname / deleg, and clearing them was
 * two 500-octet memsets per query. */
static inline void answer_res_clear(struct answer_res *res)
{
	res->err = false;
	res->exists = false;
	res->answers = 0;
	res->has_cname = false;
	res->deleg = false;
	res->deleg_ds = 0;
	res->deleg_keylen = 0;
	res->deleg_rel = 0;
}

/* Per-query state. */
struct answer_q {
	struct answer_ctx *ctx;
	struct wire_query wq;
	struct wire_w w;
	const struct zt_zone *zone;
	uint8_t key[DNAME_MAX];    /* key of the name being looked up */
	size_t keylen;
	unsigned q_ncmp;           /* compression targets after the question */
	/* Answer RRs written so far (rdata offsets) for duplicate suppression
	 * across datasets, as an RRset never holds the same record twice. */
	uint16_t n_seen;
	uint32_t seen[64];         /* offset of RR type field in w.buf */
	/* Octets the response buffer really holds (>= w.cap, the client's
	 * limit): an answer RR is written against this first, so a duplicate
	 * that would cross the limit is dropped instead of truncating all. */
	size_t phys_cap;
	bool zacl_empty;           /* zone-acl "empty": skip DNSBL datasets */
	/* NS/MX/SRV targets of answer RRs, for additional-section glue. */
	uint8_t n_targets;
	uint8_t targets[8][DNAME_MAX];
};

/* Look up one name (key at q->key, relative part from rel_off) at `node` and
 * write what answers `qtype` into the answer section with owner `owner`
 * (NULL: the question name).  answer_data.c */
void answer_lookup(struct answer_q *q, const struct zt_node *node, size_t rel_off,
		   const uint8_t *owner, uint16_t qtype, struct answer_res *res);

/* Referral for a cut found by answer_lookup: NS RRset in authority. */
void answer_referral(struct answer_q *q, const struct answer_res *res);

/* Additional-section A/AAAA for the NS/MX/SRV targets noted while answering,
 * when they are in the same zone; whatever does not fit is left out. */
void answer_glue(struct answer_q *q);
