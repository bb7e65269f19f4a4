/* zonesync/dump.h - print a stored zone as an RFC 1035 master file in its
 * query-facing form: the names and records a stock authoritative server
 * would need to answer like gridns (reversed IPv4 octets and IPv6 nibbles,
 * wildcards for octet/nibble-aligned blocks, explicit names for finer ones).
 *
 * Two extensions, both plain DNS on the wire: TXT data keeps rbldnsd's "$"
 * placeholder (gridns substitutes the queried subject when answering), and
 * a dnset exclusion is an owner with one TYPE65280 record of empty rdata (a
 * private-use type): the name exists but has no A/TXT, so resolvers see
 * "not listed" and the exclusion survives a zone transfer. */
#pragma once
#include <stdio.h>
#include "zonesync/snap.h"

#define DUMP_EXCL_TYPE 65280

/* Write zone `name` to `out`.  0, GN_ENOENT when the zone is absent, or <0. */
int dump_zone(snap_rd *rd, const char *name, FILE *out);
