/* zonesync/xform_parse_int.h - internals shared by xform_parse.c (records,
 * deletions, finish), xform_parse_meta.c (the _gridns metadata) and
 * xform_parse_ent.c (DNSBL entries back into value sets, ranges, names). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "zonesync/xform_parse.h"

#define XP_TYPE_A 1
#define XP_TYPE_NS 2
#define XP_TYPE_SOA 6
#define XP_TYPE_TXT 16
#define XP_TYPE_ZONEMD 63
#define XP_MAX_DS 4096 /* as many as a zone record may hold */

/* One record copy: owner (lowercased wire) then rdata in buf. */
struct xp_rec {
	uint8_t *buf;
	uint8_t olen;
	uint16_t type;
	uint32_t ttl;
	uint16_t rdlen;
	uint32_t seq;          /* arrival order: the held zone comes first */
};

struct xp_list {
	struct xp_rec *v;
	size_t n, cap;
};

struct xform_parse {
	struct zimg *img;      /* the apex name lives here until finish */
	uint8_t apex[DNAME_MAX];
	int apex_len;
	struct xp_list recs, dels;
	int dels_applied;
	int had_meta;          /* set by finish */
	uint32_t seq;
};

/* An entry of an IP or dnset dataset, grouped by (ds, name) at finish. */
struct xp_item {
	uint32_t ds;
	uint32_t rec;          /* index into recs */
	uint32_t koff;         /* dnset: key offset in the key arena */
	uint8_t klen;
	uint8_t wild;
	uint8_t plen;          /* IP: prefix length in bits */
	uint8_t lo[16];        /* IP: first address, network order */
};

struct xp_fin {
	struct xform_parse *p;
	struct zimg *img;
	char *why;
	size_t why_cap;
	struct xp_item *items;
	size_t n_items, cap_items;
	uint8_t *karena;
	size_t klen, kcap;
	const struct xp_rec **meta;
	size_t n_meta;
	bool sorted;           /* p->recs sorted by xform_parse_rec_cmp */
};

/* printf into `why` (NULL-safe). */
void xform_parse_why(char *why, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Check the versions and build the datasets from the metadata records in
 * f->meta (xform_parse_meta.c).  *has_meta = 0 when there are none. */
int xform_parse_meta_build(struct xp_fin *f, int *has_meta);
/* Offer record `ri` (key relative to the apex) to dataset `di`: 1 taken,
 * 0 not for it, <0 error (xform_parse_ent.c). */
int xform_parse_offer(struct xp_fin *f, uint32_t di, uint32_t ri, const uint8_t *rk, size_t rkl);
/* Group the offered entries into value sets, ranges and names. */
int xform_parse_build_entries(struct xp_fin *f);
uint32_t xform_parse_be32(const uint8_t *p);
/* The order used to match records (octets; owners are lowercase). */
int xform_parse_rec_cmp(const void *a, const void *b);
/* Does the zone hold a record equal to `like` but owned by the name of
 * full key `key`?  Needs f->sorted. */
bool xform_parse_holds(const struct xp_fin *f, const uint8_t *key, size_t keylen,
		       const struct xp_rec *like);
