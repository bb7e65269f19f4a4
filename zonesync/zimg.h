/* zonesync/zimg.h - compiled zone image: what a compiler produces from source
 * files and what the snapshot writer stores.
 *
 * A zone image is the zone's data with every rbldnsd rule already applied:
 * IP datasets are FLATTENED into sorted, disjoint, inclusive address ranges
 * that are listed (exclusions are holes, most-specific/longest-prefix rules
 * and $MAXRANGE4 are resolved); TXT templates have $1..$9 and the $= base
 * template already expanded, so the only query-time substitution left is the
 * subject (see "Stored TXT templates").  Lookups on the node are then one
 * ordered-key seek, whatever the dataset type was.
 *
 * Names inside datasets (dnset keys, generic/zone owners) are KEYS relative
 * to the attachment point (see common/dname.h): full key = attachment key
 * followed by the relative key.
 *
 * Ownership: the image owns every pointer in it; zimg_free releases all.
 * Not thread-safe; one compiler fills one image.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "common/dname.h"

#define ZIMG_NONE 0xffffffffu /* dnset: no entry of that kind */
#define ZIMG_EXCL 0xfffffffeu /* dnset: explicit exclusion (not listed) */

/* Dataset types.  Values are stored in snapshots: append only, never renumber. */
enum zimg_dstype {
	ZDS_IP4SET = 1,
	ZDS_IP4TSET = 2,
	ZDS_IP4TRIE = 3,
	ZDS_IP6TSET = 4,
	ZDS_IP6TRIE = 5,
	ZDS_DNSET = 6,
	ZDS_GENERIC = 7,
	ZDS_ZONE = 8, /* RFC 1035 master file */
};

/* Which index a dataset type uses. */
enum zimg_index { ZIX_IP4 = 1, ZIX_IP6, ZIX_DOM, ZIX_RR };
enum zimg_index zimg_index_of(enum zimg_dstype t);
/* "ip4set" ... "zone"; NULL when unknown. */
const char *zimg_dstype_name(enum zimg_dstype t);
/* Parse a type name; returns 0 when unknown ("combined" is not a dstype). */
enum zimg_dstype zimg_dstype_parse(const char *name);

/* Stored TXT templates: a "$$" emits one literal '$'; any other '$' emits the
 * subject.  Everything else is literal.  txt_len may exceed 255 (rbldnsd
 * truncates at 255; we keep it): the answer splits it into 255-octet strings.
 * The subject, as rbldnsd 1.0 was observed to print it:
 *  - IP datasets: the QUERIED address, IPv4 dotted, IPv6 in RFC 5952 short
 *    form ("2001:db8:1:2::1", "::1").
 *  - dnset: the name of the ENTRY THAT MATCHED, lowercased, relative to the
 *    attachment point, without "*.": the queried name for an exact entry,
 *    the wildcard's base name for a wildcard ("*.wild.com" answers
 *    "a.b.wild.com" with "wild.com").
 * Known limit of this encoding: a subject immediately followed by a literal
 * '$' cannot be written ("$$$" reads as literal '$' then subject); only a
 * "$=" base template ending a subject right before "$$" produces it.
 * A valset may repeat an A address with different TXTs; rbldnsd answers an A
 * query with each distinct address once. */
struct zimg_val {
	uint8_t a[4];   /* A record, network order */
	bool has_txt;   /* false: no TXT record for this entry */
	uint16_t txt_len;
	char *txt;      /* not NUL-terminated necessarily; owned */
};

/* A value set: the A+TXT pairs one listed entry answers with (ip4set can
 * list the same address several times with different values: all answer). */
struct zimg_valset {
	uint32_t first; /* index into ds->vals */
	uint32_t count;
};

struct zimg_ip4 {
	uint32_t lo, hi; /* host byte order, inclusive */
	uint32_t vs;     /* valset index */
};

struct zimg_ip6 {
	uint8_t lo[16], hi[16]; /* network order, inclusive */
	uint32_t vs;
};

/* dnset entry.  Lookup rule (verified against rbldnsd): an exact entry for the
 * queried name decides; otherwise the closest ancestor with a wildcard entry
 * decides.  vs_* is a valset index, ZIMG_NONE or ZIMG_EXCL. */
struct zimg_dom {
	uint8_t *key;    /* relative key, owned */
	uint8_t keylen;
	uint32_t vs_exact; /* "name" */
	uint32_t vs_wild;  /* "*.name" (".name" sets both) */
};

/* One resource record of a generic or master-file dataset. */
struct zimg_rr {
	uint8_t *key;    /* relative owner key, owned; "*" label allowed (RFC 4592) */
	uint8_t keylen;
	uint16_t type;
	uint32_t ttl;
	uint16_t rdlen;
	uint8_t *rdata;  /* uncompressed wire rdata, owned */
};

struct zimg_ds {
	enum zimg_dstype type;
	char *label;       /* for logs and `list`: "ip4set:file1,file2" or $DATASET name */
	uint32_t ttl;      /* answer TTL for entries of this dataset */
	/* Attachment points, relative keys to the zone apex; a plain dataset has
	 * one attachment of length 0 (the apex).  combined's "$DATASET t sub @"
	 * gives several. */
	uint8_t **subs;
	uint8_t *sub_lens;
	uint32_t n_subs;

	struct zimg_val *vals;         uint32_t n_vals, cap_vals;
	struct zimg_valset *valsets;   uint32_t n_valsets, cap_valsets;
	struct zimg_ip4 *ip4;          size_t n_ip4, cap_ip4;    /* sorted, disjoint */
	struct zimg_ip6 *ip6;          size_t n_ip6, cap_ip6;    /* sorted, disjoint */
	struct zimg_dom *dom;          size_t n_dom, cap_dom;    /* sorted by key, unique */
	struct zimg_rr *rr;            size_t n_rr, cap_rr;      /* sorted by (key,type) */
	size_t n_source_entries;       /* entries read from source, for `list` */
	void *intern;                  /* builder-private valset index (zimg.c);
	                                * released by zimg_finish / zimg_free */
};

struct zimg_soa {
	bool present;
	uint32_t ttl;
	uint8_t mname[DNAME_MAX]; /* wire */
	uint8_t rname[DNAME_MAX]; /* wire */
	uint32_t serial, refresh, retry, expire, minimum;
};

#define ZIMG_MAX_NS 32
struct zimg {
	char *name;                 /* zone name, text, no trailing dot */
	uint8_t key[DNAME_MAX];     /* zone apex key */
	uint8_t keylen;
	struct zimg_soa soa;
	uint32_t ns_ttl;
	uint32_t n_ns;
	uint8_t ns[ZIMG_MAX_NS][DNAME_MAX]; /* wire names */
	int64_t ts_generated;       /* $TIMESTAMP dstamp, unix time; 0 = unset */
	int64_t ts_expires;         /* $TIMESTAMP expires, unix time; 0 = unset */
	int64_t src_mtime;          /* newest source file mtime */
	char *source;               /* the zone spec(s) it was built from */
	struct zimg_ds **ds;
	uint32_t n_ds;
	size_t n_errors;            /* bad lines skipped */
};

/* Lifecycle.  zimg_new returns NULL on allocation failure. */
struct zimg *zimg_new(const char *zone_name);
void zimg_free(struct zimg *img); /* NULL-safe */

/* Builders: return 0 or GN_ENOMEM / GN_EINVAL. */
int zimg_add_ds(struct zimg *img, enum zimg_dstype type, const char *label,
		struct zimg_ds **out);
int zimg_ds_add_sub(struct zimg_ds *ds, const uint8_t *relkey, size_t len);
/* Intern one valset made of `n` vals (copied); identical sets share an index.
 * Returns the valset index (>= 0) or a negative error. */
int64_t zimg_ds_valset(struct zimg_ds *ds, const struct zimg_val *vals, uint32_t n);
int zimg_ds_add_ip4(struct zimg_ds *ds, uint32_t lo, uint32_t hi, uint32_t vs);
int zimg_ds_add_ip6(struct zimg_ds *ds, const uint8_t lo[16], const uint8_t hi[16], uint32_t vs);
int zimg_ds_add_dom(struct zimg_ds *ds, const uint8_t *key, size_t keylen,
		    uint32_t vs_exact, uint32_t vs_wild);
int zimg_ds_add_rr(struct zimg_ds *ds, const uint8_t *key, size_t keylen, uint16_t type,
		   uint32_t ttl, const uint8_t *rdata, uint16_t rdlen);
/* Sort and check the invariants above (ranges disjoint, keys unique).
 * Returns 0 or GN_EINVAL with a log line naming the dataset. */
int zimg_finish(struct zimg *img);
/* Total listed entries (ranges + names + records) for display. */
size_t zimg_count(const struct zimg *img);
