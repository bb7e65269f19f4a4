/* resolver/zonetab.h - the answer engine's in-memory table of local zones and
 * of the (sub)zone attachment points of their datasets.
 *
 * rbldnsd answers a query from the ONE most specific (sub)zone that encloses
 * the name: a plain zone's apex, or a combined dataset's subzone.  The table
 * holds one node per such point (full key, see common/dname.h), sorted by key,
 * with the datasets attached there in zone order; a lookup is a binary search
 * per label boundary of the query, longest first.
 *
 * Built from a snapshot view by zonetab_build (allocates; called only when the
 * snapshot version changed), then read-only: lookups allocate nothing and
 * copy nothing.  Everything needed after the snapshot view is released (SOA,
 * NS, dataset ids) is copied in, so the table outlives the view.
 * Owned by one answer context (one thread).
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/dname.h"
#include "zonesync/snap.h"

struct zt_ds {
	uint32_t dsid;
	enum zimg_dstype type;
	uint32_t ttl;
};

struct zt_zone {
	char *name;                /* text, NUL-terminated */
	uint8_t key[DNAME_MAX];
	uint8_t keylen;
	uint8_t apex[DNAME_MAX];   /* apex wire name (lowercase) */
	bool has_soa;
	uint32_t soa_ttl, serial, refresh, retry, expire, minimum;
	uint8_t mname[DNAME_MAX], rname[DNAME_MAX];
	uint32_t ns_ttl;
	uint32_t n_ns;
	uint8_t (*ns)[DNAME_MAX];  /* n_ns wire names */
	int64_t ts_expires;        /* 0 = none */
	int64_t loaded;
	uint32_t n_ds;
	struct zt_ds *ds;
	uint32_t slot;             /* metrics slot in the owning context */
	struct wire_tmpl *tmpl;    /* ZT_TMPL_COUNT pre-built authority blocks,
	                            * made by the answer engine; NULL: none */
};

/* The pre-built blocks of a zone (see wire.h, struct wire_tmpl). */
enum { ZT_TMPL_NEG_SOA, ZT_TMPL_AUTH_NS, ZT_TMPL_COUNT };
struct wire_tmpl;

struct zt_node {
	uint8_t key[DNAME_MAX];    /* full key of the attachment point */
	uint8_t keylen;
	uint32_t zone;             /* index into zonetab.zones */
	bool apex;                 /* the base zone's apex (SOA/NS live here) */
	uint32_t n_ds;
	uint32_t *ds;              /* indexes into the zone's ds[], zone order */
};

struct zonetab {
	bool built;                /* a table was built at least once */
	uint64_t version;          /* snapshot version it was built from */
	struct zt_zone *zones;
	size_t n_zones;
	struct zt_node *nodes;     /* sorted by key (memcmp, shorter first) */
	size_t n_nodes;
	int max_labels;            /* deepest node, bounds the lookup */
};

/* Build a new table from the reader's current view into `out` (zeroed by the
 * caller).  Returns 0, GN_ENOMEM, or a snapshot error; on error `out` holds
 * nothing to free. */
int zonetab_build(struct zonetab *out, snap_rd *rd);
void zonetab_free(struct zonetab *zt); /* leaves *zt zeroed */

/* Most specific node enclosing `key` (the query name's key), or NULL.
 * *rel_off is set to the offset in `key` where the name relative to the node
 * starts. */
const struct zt_node *zonetab_match(const struct zonetab *zt, const uint8_t *key,
				    size_t keylen, size_t *rel_off);
