/* zonesync/snap_format.h - the on-disk layout of a snapshot (LMDB).
 *
 * Private to zonesync/.  Readers and writers may be different binaries of
 * different versions, so every change that an older binary would misread
 * bumps SNAP_FORMAT, and a reader refuses a format it does not know
 * (GN_EFORMAT) instead of guessing.  (Adding a database that older binaries
 * never open is not such a change: see ipx below.)
 *
 * All integers are BIG-ENDIAN so that LMDB's memcmp order is numeric order
 * (the one exception is the inside of an ipx value, below).
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
 *
 *   ipx    dsid, u8 family (4 or 6) -> interval index: the same ranges as
 *          ip4/ip6 for that dsid, as one array image (snap_ipx.c), so that a
 *          lookup reads a few cache lines of one contiguous value (LMDB keeps
 *          a big value on consecutive overflow pages) instead of descending
 *          a B-tree.  Written in the transaction that writes the dataset's
 *          ranges, deleted with the dsid's other keys.  Unlike every other
 *          value it is in the writer's NATIVE byte order and read with
 *          memcpy loads (no alignment assumed): an LMDB file is tied to one
 *          byte order and word size anyway.
 *            header (16 octets): u32 magic SNAP_IPX_MAGIC, u16 version
 *              SNAP_IPX_VERSION, u8 family, u8 bits b (0..16), u32 n,
 *              u32 reserved (0);
 *            u32 top[2^b + 1]: top[p] = index of the first range whose lo
 *              lies in bucket p or later (bucket = the top b bits of lo,
 *              of its first 64 bits for ip6), top[2^b] = n;
 *            zero padding to a multiple of 8 octets from the value start;
 *            family 4: u32 lo[n], u32 hi[n], u32 valset[n];
 *            family 6: u64 lo[2n], u64 hi[2n] (each address as two numeric
 *              halves, high half first), u32 valset[n].
 *          The ranges are sorted and disjoint as in ip4/ip6; a lookup
 *          searches lo[] between top[p] and top[p+1] for the last lo <=
 *          addr, else takes top[p] - 1, then checks hi.
 *
 * Why ipx needs no SNAP_FORMAT bump: it only adds a database and keys;
 * nothing that older binaries read changed.  An older reader never opens
 * ipx.  A newer reader falls back to the ip4/ip6 B-trees for a dsid without
 * an ipx key (data written by an older writer, or a read-only open of a
 * snapshot that has no ipx database).  An older writer does not write ipx
 * keys for its new dsids (read through the B-trees) and does not delete
 * the ipx keys of the dsids it replaces: those are never read again (dsids
 * are never reused) and only take space until the snapshot is rebuilt.
 * SNAP_IPX_VERSION guards the value layout itself: a reader that finds the
 * magic but not a version it knows uses the B-trees, so a later layout can
 * take the same key without breaking this reader.  A wrong magic, size or
 * bucket table is damage: GN_ECORRUPT.
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
#define SNAP_DB_IPX   "ipx"
#define SNAP_MAXDBS   12 /* 9 used; headroom costs a few bytes per txn */
#define SNAP_IPX_MAGIC   0x78506e67u /* "gnPx" in a little-endian dump */
#define SNAP_IPX_VERSION 1
#define SNAP_IPX_MAXBITS 16
#define SNAP_DEFAULT_MAP_SIZE (4ULL << 30)
#define SNAP_DEFAULT_READERS 2048
