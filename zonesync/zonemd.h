/* zonesync/zonemd.h - ZONEMD (RFC 8976): the zone's digest, scheme SIMPLE,
 * hash SHA-384, so a follower can check a transferred zone end to end
 * (whatever relays it crossed).
 *
 * The digest is SHA-384 over every record of the zone in RFC 4034 canonical
 * form and order (owner lowercased; names inside the RDATA of the RFC 4034
 * section 6.2 types lowercased, minus NSEC/RRSIG per RFC 6840 section 5.1;
 * duplicates once), excluding the apex ZONEMD records themselves (and apex
 * RRSIGs covering ZONEMD).  It is a full serial pass over the zone that
 * cannot be updated incrementally, and it holds a canonical copy of the
 * records while it sorts them, so it is OFF by default and enabled per zone
 * (users.md section 4).
 *
 * No global state; safe on any thread.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "zonesync/xform.h"
#include "zonesync/zimg.h"

#define ZONEMD_TYPE 63
#define ZONEMD_SCHEME_SIMPLE 1
#define ZONEMD_HASH_SHA384 1
#define ZONEMD_DIGEST_LEN 48
#define ZONEMD_RDATA_LEN (6 + ZONEMD_DIGEST_LEN) /* serial, scheme, hash, digest */

/* Digest of a set of records of the zone at `apex` (wire).  The records may
 * come in any order, with duplicates and with the apex ZONEMD among them;
 * they are copied (the array and its pointers are not changed).
 * Returns 0 or GN_ENOMEM / GN_EINVAL (a record that is not class IN or a
 * malformed name). */
int zonemd_digest_rrs(const uint8_t *apex, const struct xform_rr *rrs, size_t n,
		      uint8_t out[ZONEMD_DIGEST_LEN]);

/* Digest of an image in transfer form (xform_emit): what a receiver of the
 * zone computes over what it received. */
int zonemd_digest_image(const struct zimg *img, uint8_t out[ZONEMD_DIGEST_LEN]);

/* The RDATA of the apex ZONEMD record for `serial` and `digest`. */
void zonemd_rdata(uint32_t serial, const uint8_t digest[ZONEMD_DIGEST_LEN],
		  uint8_t rdata[ZONEMD_RDATA_LEN]);

/* Verify a received zone: among rrs[0..n) find the apex ZONEMD record(s),
 * and check that one with scheme SIMPLE and hash SHA-384 has the SOA's
 * `serial` and the digest of the records.  Returns 0 (verified),
 * GN_ENOENT (no ZONEMD record at the apex: nothing to verify), GN_EINVAL
 * (only unsupported schemes/hashes or malformed ZONEMD; RFC 8976 section 4
 * then treats the zone as unverifiable), or GN_ECORRUPT (serial or digest
 * mismatch).  *why gets a static reason for logs (may be NULL). */
int zonemd_verify_rrs(const uint8_t *apex, const struct xform_rr *rrs, size_t n, uint32_t serial,
		      const char **why);
