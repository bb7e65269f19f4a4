/* resolver/wire.h - DNS wire format for the answer engine: query parsing and
 * response writing, with no allocation and no library on the hot path.
 *
 * Parsing reads only inside [pkt, pkt+len) and never trusts a count or a
 * length field: every failure is a return code, never a read past the end
 * (the parser is fuzzed).  Writing goes into a caller buffer with a hard
 * limit; once a write does not fit, the writer is marked full and every later
 * write is a no-op, so callers check once per logical step and roll back to a
 * mark (wire_w_mark / wire_w_rollback).
 *
 * Owner names and RDATA names of well-known types (RFC 3597 section 4: NS,
 * CNAME, SOA, PTR, MX) are compressed against names already in the packet.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_HDR_LEN 12
#define WIRE_UDP_MIN 512     /* RFC 1035 / RFC 6891 floor */
#define WIRE_TCP_MAX 65535
#define WIRE_CMP_MAX 64      /* compression targets remembered per packet */

enum wire_type {
	WIRE_T_A = 1, WIRE_T_NS = 2, WIRE_T_CNAME = 5, WIRE_T_SOA = 6,
	WIRE_T_PTR = 12, WIRE_T_MX = 15, WIRE_T_TXT = 16, WIRE_T_AAAA = 28,
	WIRE_T_SRV = 33, WIRE_T_OPT = 41, WIRE_T_IXFR = 251, WIRE_T_AXFR = 252,
	WIRE_T_ANY = 255,
};
enum { WIRE_C_IN = 1, WIRE_C_CH = 3, WIRE_C_ANY = 255 };

enum wire_rcode {
	WIRE_R_NOERROR = 0, WIRE_R_FORMERR = 1, WIRE_R_SERVFAIL = 2,
	WIRE_R_NXDOMAIN = 3, WIRE_R_NOTIMP = 4, WIRE_R_REFUSED = 5,
	WIRE_R_BADVERS = 16, /* extended: needs OPT */
	WIRE_R_COUNT = 17,   /* size of per-rcode counter arrays */
};

/* Header flag bits (second 16-bit word). */
#define WIRE_F_QR 0x8000u
#define WIRE_F_AA 0x0400u
#define WIRE_F_TC 0x0200u
#define WIRE_F_RD 0x0100u
#define WIRE_F_RA 0x0080u
#define WIRE_F_AD 0x0020u
#define WIRE_F_CD 0x0010u
#define WIRE_OPCODE(flags) (((flags) >> 11) & 0xfu)

/* Sections, as indexes into wire_w.cnt. */
enum wire_sec { WIRE_S_QD = 0, WIRE_S_AN, WIRE_S_NS, WIRE_S_AR };

/* EDNS option code of Extended DNS Errors (RFC 8914) and the codes we use. */
#define WIRE_OPT_EDE 15
enum wire_ede {
	WIRE_EDE_OTHER = 0, WIRE_EDE_NOT_READY = 14, WIRE_EDE_PROHIBITED = 18,
	WIRE_EDE_NOT_AUTH = 20, WIRE_EDE_NOT_SUPPORTED = 21, WIRE_EDE_INVALID_DATA = 24,
};

/* A parsed query.  Pointers point into the packet passed to the parser. */
struct wire_query {
	uint16_t id;
	uint16_t flags;          /* header word 2 as received */
	uint8_t opcode;
	bool has_question;       /* question parsed (may be false on FORMERR) */
	const uint8_t *qname;    /* uncompressed wire name, as received (case kept) */
	uint8_t qname_len;       /* octets including the root label */
	uint16_t qtype, qclass;
	bool edns;               /* an OPT RR was present */
	uint8_t edns_version;
	uint16_t edns_udp;       /* advertised payload size, as sent */
	bool edns_do;
};

enum wire_parse_status {
	WIRE_PARSE_OK = 0,
	WIRE_PARSE_DROP = -1,    /* not answerable: too short for an ID, or QR set */
	WIRE_PARSE_FORMERR = -2, /* answer FORMERR (id and flags are valid) */
};

/* Parse a query: header, exactly one question, and the OPT RR if any.
 * Returns a wire_parse_status.  On FORMERR the fields read so far are set
 * (has_question tells whether the question can be echoed). */
int wire_parse_query(const uint8_t *pkt, size_t len, struct wire_query *q);

/* ---- response writer ----------------------------------------------------- */

struct wire_w {
	uint8_t *buf;
	size_t cap;              /* current write limit (<= capacity of buf) */
	size_t len;
	uint16_t cnt[4];         /* qd, an, ns, ar */
	bool full;               /* a write did not fit; later writes are no-ops */
	uint16_t n_cmp;
	uint16_t cmp[WIRE_CMP_MAX]; /* offsets of names usable as pointers */
	uint8_t cmp_len[WIRE_CMP_MAX]; /* their uncompressed wire lengths: a
	                            * cheap filter before comparing names */
};

struct wire_mark {
	size_t len;
	uint16_t cnt[4];
	uint16_t n_cmp;
};

void wire_w_init(struct wire_w *w, uint8_t *buf, size_t cap);
static inline struct wire_mark wire_w_mark(const struct wire_w *w)
{
	struct wire_mark m = { w->len, { w->cnt[0], w->cnt[1], w->cnt[2], w->cnt[3] }, w->n_cmp };
	return m;
}
/* Back to the mark; clears `full`. */
void wire_w_rollback(struct wire_w *w, const struct wire_mark *m);

/* Header with zero counts; counts are stored by wire_w_finish. */
void wire_w_header(struct wire_w *w, uint16_t id, uint16_t flags);
/* Question exactly as received (the name's case is echoed, RFC 1035 7.1
 * clients match it); remembered as compression target. */
void wire_w_question(struct wire_w *w, const uint8_t *qname, size_t qname_len,
		     uint16_t qtype, uint16_t qclass);
/* A name, compressed when a suffix is already in the packet. */
void wire_w_name(struct wire_w *w, const uint8_t *name);
void wire_w_u16(struct wire_w *w, uint16_t v);
void wire_w_u32(struct wire_w *w, uint32_t v);
void wire_w_bytes(struct wire_w *w, const void *p, size_t n);

/* RR framing: begin writes owner/type/class/ttl and a length placeholder and
 * returns the offset of the placeholder; end patches RDLENGTH and counts the
 * RR in `sec`.  A NULL owner means "the question name" (pointer to offset 12). */
size_t wire_w_rr_begin(struct wire_w *w, const uint8_t *owner, uint16_t type,
		       uint16_t klass, uint32_t ttl);
void wire_w_rr_end(struct wire_w *w, size_t rdlen_at, enum wire_sec sec);

/* A whole RR from stored uncompressed RDATA; names inside NS/CNAME/PTR/MX/SOA
 * RDATA are re-emitted compressed.  Malformed stored RDATA is copied as is. */
void wire_w_rr_rdata(struct wire_w *w, enum wire_sec sec, const uint8_t *owner,
		     uint16_t type, uint32_t ttl, const uint8_t *rdata, size_t rdlen);

/* TXT RDATA of `len` octets split into 255-octet character-strings. */
void wire_w_txt_strings(struct wire_w *w, const char *txt, size_t len);

/* The OPT pseudo-RR (RFC 6891) in the additional section: our payload size,
 * the upper 8 bits of the extended rcode, version 0, and an optional EDE
 * option (ede < 0: none). */
void wire_w_opt(struct wire_w *w, uint16_t udp, uint8_t ext_rcode, int ede,
		const char *ede_text);
/* The same with the DO bit: an authoritative answer copies the query's DO
 * (RFC 3225 section 3), even with no DNSSEC data to add. */
void wire_w_opt_do(struct wire_w *w, uint16_t udp, uint8_t ext_rcode, bool do_bit, int ede,
		   const char *ede_text);

/* Store the section counts into the header; returns the packet length or 0
 * when the writer is full. */
size_t wire_w_finish(struct wire_w *w);

/* Length of an RDATA name starting at p within [p, end): 0 when malformed
 * (used to walk stored RDATA safely). */
size_t wire_name_len_in(const uint8_t *p, const uint8_t *end);

/* ---- pre-built RRs ------------------------------------------------------- */

/* A zone's fixed authority RRs (the negative-answer SOA, the NS set) written
 * once per zone table and replayed into each answer by copying them and
 * shifting their compression pointers.  Compressing them name by name cost
 * about a fifth of a DNSBL answer.
 *
 * The block is recorded after a question holding only the zone's apex; a
 * real question `R.apex` only moves the apex (and the block) by |R|.  The
 * replay gives exactly the octets wire_w_name would write, so it refuses
 * (returns false, the caller writes the RRs itself) whenever they could
 * differ: names other than the question's are already in the packet; the
 * label of R next to the apex is one the block's names continue with (the
 * question would then hold a longer suffix of theirs); the packet is past
 * the 16 KiB pointer range; or the compression table would overflow. */
#define WIRE_TMPL_MAX 512
#define WIRE_TMPL_PTRS 24
#define WIRE_TMPL_RISK 8

struct wire_tmpl {
	bool ok;                         /* recorded; false: always refuse */
	uint8_t apex_len;                /* the apex's wire length */
	uint16_t qend;                   /* where the block started when recorded */
	uint16_t len;                    /* octets in bytes[] */
	uint16_t n_rr;                   /* RRs in the block */
	uint8_t n_ptr, n_cmp, n_risk;
	uint16_t ptr_at[WIRE_TMPL_PTRS]; /* block offsets of compression pointers */
	uint16_t cmp_at[WIRE_TMPL_PTRS]; /* names the block adds as targets */
	uint8_t cmp_len[WIRE_TMPL_PTRS];
	uint8_t risk[WIRE_TMPL_RISK][64]; /* labels (length + lowercase) that
	                                   * continue a block name above the apex */
	uint8_t bytes[WIRE_TMPL_MAX];
};

/* Record what was written to `w` since `m` (section `sec` only) as a block.
 * `w` must hold a header and a question of the apex alone, in that order,
 * before `m`.  Returns t->ok. */
bool wire_tmpl_make(struct wire_tmpl *t, const struct wire_w *w, const struct wire_mark *m,
		    enum wire_sec sec);
/* Replay `t` into `w`, whose question is `qname` (qname_len octets, ending
 * in the apex) and which held q_ncmp compression targets after it.
 * Returns false when the caller must write the RRs itself (nothing was
 * written); true when done, or when they did not fit (w->full, as the
 * writer marks any write that does not fit). */
bool wire_w_tmpl(struct wire_w *w, const struct wire_tmpl *t, const uint8_t *qname,
		 size_t qname_len, unsigned q_ncmp, enum wire_sec sec);
