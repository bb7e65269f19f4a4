/* zonesync/xform.h - a zone image in TRANSFER FORM: the resource records a
 * stock authoritative server needs to answer exactly like gridns does.
 *
 * This is the form zones travel in (AXFR/IXFR), the form the central
 * database diffs and journals, and the form `gridns-zonesync dump` prints.
 * docs/distribution.md describes it; in short:
 *
 *  - apex: SOA (when the source has one) and the NS set;
 *  - metadata: a TXT RRset at _gridns.<zone> (see below) describing the
 *    datasets, so a receiver can rebuild the image from the records;
 *  - IPv4 datasets: reversed octets; a range is cut into CIDR blocks, an
 *    octet-aligned block is one wildcard ("*.2.0.192" for 192.0.2.0/24), a
 *    finer block is spelled out name by name down to the next octet;
 *  - IPv6 datasets: the same with nibbles;
 *  - dnset: the exact name and/or "*.name"; an exclusion is the name with
 *    one record of the private type XFORM_TYPE_EXCL and empty rdata (the
 *    name exists, has no A/TXT: "not listed", and survives a transfer);
 *  - generic / master-file datasets: their records as they are.
 *  Each listed entry answers A (and TXT when it has one) with the dataset's
 *  TTL.  TXT keeps rbldnsd's "$" placeholder for the queried subject;
 *  templates longer than 255 octets become several character-strings.
 *
 * Metadata (_gridns.<zone> TXT, TTL of the SOA, each record a list of
 * "key=value" character-strings; a record is self-describing because the
 * records of an RRset have no order):
 *    "v=1" "zone" "datasets=N" ["expires=UNIXTIME"]
 *    "v=1" "ds=I" "type=ip4set" "ttl=2100" "sub=@" ["sub=rel.name" ...] "label=..."
 * I is the dataset's index (0-based, its order in the zone), sub lists the
 * attachment points relative to the apex ("@" = the apex), label is the
 * dataset's label with directories stripped from its file names (importing
 * from another directory is not a change), cut to one character-string.
 *
 * Thread-safety: none needed; xform_emit keeps its state on the heap of the
 * call and reads the image only.
 */
#pragma once
#include <stdint.h>
#include "zonesync/zimg.h"

#define XFORM_VERSION 1         /* "v=" of the metadata records */
#define XFORM_TYPE_EXCL 65280   /* dnset exclusion marker (private use) */
#define XFORM_META_LABEL "_gridns"
#define XFORM_CLASS_IN 1
#define XFORM_DS_APEX (-1)      /* xform_rr.ds of SOA and apex NS */
#define XFORM_DS_META (-2)      /* xform_rr.ds of the _gridns metadata */

/* One resource record.  Every pointer is valid only during the callback. */
struct xform_rr {
	const uint8_t *owner;   /* absolute, uncompressed wire form, lowercase */
	uint8_t owner_len;
	uint16_t type;
	uint16_t rclass;        /* always XFORM_CLASS_IN */
	uint32_t ttl;
	uint16_t rdlen;
	const uint8_t *rdata;   /* uncompressed wire rdata */
	int32_t ds;             /* producing dataset index, or XFORM_DS_APEX/META */
};

/* Emit every record of `img` in a deterministic order: SOA, NS, metadata,
 * then each dataset in zone order, each attachment point in dataset order,
 * each entry in image order.  The same image always yields the same
 * sequence; the order is NOT the canonical order (sort with xform_rr_cmp).
 * `cb` returning non-zero stops the walk and becomes the return value.
 * Returns 0, GN_ENOMEM, or GN_ERANGE (a name longer than 255 octets or a
 * record longer than 65535, logged with the zone). */
int xform_emit(const struct zimg *img, int (*cb)(void *arg, const struct xform_rr *rr),
	       void *arg);

/* RFC 4034 section 6 canonical order of owner names (labels compared from
 * the right, case-folded octets, shorter label first). */
int xform_name_cmp(const uint8_t *a, const uint8_t *b);
/* Total order on records: canonical owner, type, rdata (octets, shorter
 * first), then TTL.  Records equal but for the TTL are adjacent, so a TTL
 * change diffs as "delete old, add new", as IXFR carries it. */
int xform_rr_cmp(const struct xform_rr *a, const struct xform_rr *b);
