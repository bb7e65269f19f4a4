/* zonesync/xform_parse.h - transfer-form records -> zone image: the inverse
 * of xform_emit (xform.h).
 *
 * A follower receives a zone as records (AXFR, or its current image emitted
 * again plus an IXFR's deletions and additions) and must store the same
 * image the publisher holds, because the snapshot's query path is built on
 * images (flattened ranges, dnset keys), not on records.
 *
 * Rules (docs/follower.md, "From records to an image"):
 *  - the apex SOA and NS fill img->soa / img->ns; ZONEMD at the apex is
 *    dropped (it is checked before, and a relay computes its own);
 *  - with _gridns metadata, each record goes to the FIRST dataset (zone
 *    order) whose attachment point encloses it and whose kind accepts it:
 *    IP datasets take A/TXT with the dataset TTL at reversed-address names
 *    or octet/nibble wildcards, dnset takes A/TXT/TYPE65280 with the dataset
 *    TTL, generic/zone take anything; the A and TXT records at one name form
 *    one value set (A addresses and TXT templates paired in sorted order);
 *    adjacent address blocks with equal value sets merge into one range;
 *  - a metadata version other than XFORM_VERSION is refused (GN_EFORMAT);
 *  - without metadata (a stock zone) every other record goes into one
 *    ZDS_ZONE dataset, as `load ZONE:zone:FILE` would make it.
 * Round trip: xform_emit(xform_parse(xform_emit(img))) yields the same
 * record SET as xform_emit(img) (tests/unit/test_xform_parse.c).
 *
 * Records may be added and deleted in any order; deletions match a record
 * exactly (owner case-insensitively, type, TTL, rdata) and are applied at
 * finish time as a multiset difference, so an IXFR's sequence of
 * differences can be fed as it arrives.
 *
 * Not thread-safe; one parser per transfer.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "zonesync/xform.h"
#include "zonesync/zimg.h"

struct xform_parse;

/* New parser for zone `zone_name` (text).  NULL on allocation failure or a
 * bad name. */
struct xform_parse *xform_parse_new(const char *zone_name);
void xform_parse_free(struct xform_parse *p); /* NULL-safe */

/* Add / delete one record (copied; owner absolute wire form).  0, GN_ENOMEM,
 * or GN_EINVAL for a record outside the zone or of another class. */
int xform_parse_add(struct xform_parse *p, const struct xform_rr *rr);
int xform_parse_del(struct xform_parse *p, const struct xform_rr *rr);

/* Number of records currently held (additions minus nothing: deletions
 * apply at finish). */
size_t xform_parse_count(const struct xform_parse *p);

/* Visit the records left after deletions, in no particular order, e.g. to
 * compute a ZONEMD digest over the result (zonemd sorts).  Applies
 * the pending deletions first (GN_ENOENT, with *why set, when a deletion
 * matches no record: the history is inconsistent).  cb non-zero stops. */
int xform_parse_walk(struct xform_parse *p, int (*cb)(void *arg, const struct xform_rr *rr),
		     void *arg, char *why, size_t why_cap);

/* Build the image.  On success *out is a finished image (zimg_finish done)
 * that the caller frees with zimg_free.  On failure *out is NULL and `why`
 * holds a one-line reason for the operator:
 *   GN_ENOENT  a deletion matched no record (IXFR history inconsistent)
 *   GN_EFORMAT unknown metadata version
 *   GN_EINVAL  malformed metadata, or a record no dataset accepts
 *   GN_ENOMEM */
int xform_parse_finish(struct xform_parse *p, struct zimg **out, char *why, size_t why_cap);

/* After a successful finish: did the records carry _gridns metadata?  (A
 * follower emits a stock zone back without it when it applies an IXFR, so
 * that its records match the primary's.) */
int xform_parse_had_meta(const struct xform_parse *p);
