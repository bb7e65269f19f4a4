/* zonesync/snap_format.h - the on-disk layout of a snapshot (LMDB).
 *
 * Private to zonesync/.  Readers and writers may be different binaries of
 * different versions, so every change here bumps SNAP_FORMAT, and a reader
 * refuses a format it does not know (GN_EFORMAT) instead of guessing.
 *
 * All integers are BIG-ENDIAN so that LMDB's memcmp order is numeric order.
 * Every data key starts with a 4-octet dataset id (dsid).  A dsid names one
 * generation of one dataset: replacing a zone writes its datasets under new
 * dsids, points the zone record at them and deletes the old dsids' keys, all
 * in one write transaction.  New dsids are always the largest, so bulk loads
 * append at the end of each B-tree (MDB_APPEND).
 *
 * Named databases:
 *   meta   "format" -> u16 SNAP_FORMAT
 *          "next-dsid" -> u32
 *   zones  apex key (common/dname.h) -> zone record:
 *            u16 format, u32 serial,
 *            u8 has_soa, u32 soa_ttl, refresh, retry, expire, minimum,
 *            u8 len + mname wire, u8 len + rname wire,
 *            u32 ns_ttl, u8 n_ns, n_ns x (u8 len + wire),
 *            i64 loaded, ts_generated, ts_expires, src_mtime,
 *            u8 len + name text, u16 len + source text,
 *            u32 n_ds, n_ds x dataset:
 *              u32 dsid, u8 type, u32 ttl, u64 n_entries, u64 n_source,
 *              u16 len + label, u32 n_subs, n_subs x (u8 len + relative key)
 *   ip4    dsid, u32 lo          -> u32 hi, u32 valset
 *   ip6    dsid, 16 lo           -> 16 hi, u32 valset
 *   dom    dsid, relative key    -> u32 vs_exact, u32 vs_wild
 *   rr     dsid, relative key, 0x00, u16 type
 *                                -> u32 ttl, u16 count, count x (u16 rdlen, rdata)
 *          (the 0x00 can never start a label, so a name's own records sort
 *          before its descendants and "name exists" / "name has children"
 *          are both one seek)
 *   vals   dsid, u32 valset      -> repeated (4 octets A, u8 has_txt,
 *                                   u16 txt_len, txt)
 *   journal (central database only; empty on nodes)
 *          u8 zone keylen, zone apex key, u32 serial_to
 *                                -> changeset: u32 serial_from, u32 serial_to,
 *                                   i64 time, u32 n_del, u32 n_add, then
 *                                   n_del + n_add records, each
 *                                   (u8 owner len, owner wire, u16 type,
 *                                   u32 ttl, u16 rdlen, rdata); class IN.
 *          The first deleted record is the old SOA and the first added the
 *          new SOA, as in an IXFR difference sequence.  A zone's history is
 *          the CHAIN that ends at its stored serial (follow serial_from to
 *          the key whose serial_to equals it), not key order: serials wrap
 *          (RFC 1982), so key order is not age order.  Entries off the chain
 *          are garbage and are deleted by the next journaled write.
 *
 * Ranges in ip4/ip6 are disjoint and only listed ranges are stored, so a
 * lookup is "greatest lo <= addr, then addr <= hi".
 */
#pragma once

#define SNAP_FORMAT 1
#define SNAP_DB_META  "meta"
#define SNAP_DB_ZONES "zones"
#define SNAP_DB_IP4   "ip4"
#define SNAP_DB_IP6   "ip6"
#define SNAP_DB_DOM   "dom"
#define SNAP_DB_RR    "rr"
#define SNAP_DB_VALS  "vals"
#define SNAP_DB_JOURNAL "journal"
#define SNAP_MAXDBS   12 /* 8 used; headroom costs a few bytes per txn */
#define SNAP_DEFAULT_MAP_SIZE (4ULL << 30)
#define SNAP_DEFAULT_READERS 2048
