/* zonesync/dump.h - print zones and records as RFC 1035 master-file lines.
 *
 * A zone is printed in its transfer form (zonesync/xform.h): the names and
 * records a stock authoritative server would need to answer like gridns
 * (reversed IPv4 octets and IPv6 nibbles, wildcards for octet/nibble-aligned
 * blocks, explicit names for finer ones, the _gridns metadata TXT).
 *
 * Two extensions, both plain DNS on the wire: TXT data keeps rbldnsd's "$"
 * placeholder (gridns substitutes the queried subject when answering), and
 * a dnset exclusion is an owner with one TYPE65280 record of empty rdata (a
 * private-use type): the name exists but has no A/TXT, so resolvers see
 * "not listed" and the exclusion survives a zone transfer. */
#pragma once
#include <stdio.h>
#include "zonesync/snap.h"
#include "zonesync/xform.h"

#define DUMP_EXCL_TYPE XFORM_TYPE_EXCL

/* Write zone `name` to `out`.  0, GN_ENOENT when the zone is absent, or <0. */
int dump_zone(snap_rd *rd, const char *name, FILE *out);
/* Write an image (header comments, $ORIGIN, records) to `out`. */
int dump_image(const struct zimg *img, FILE *out);
/* One record as a master-file line "OWNER.<TAB>TTL<TAB>IN<TAB>TYPE<TAB>RDATA",
 * preceded by `prefix` ("" for a dump, "-"/"+" for a changeset).  Rdata is
 * printed by ldns; types it does not know use RFC 3597 "\# len hex". */
int dump_rr(FILE *out, const char *prefix, const struct xform_rr *rr);
