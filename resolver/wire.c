/* resolver/wire.c - DNS query parsing and response writing (see wire.h). */
#include <string.h>
#include "common/dname.h"
#include "resolver/wire.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

/* Skip a possibly compressed name in a received packet.  Only the octets at
 * `*off` are consumed (a pointer ends the name), so no pointer is followed and
 * a pointer loop cannot hurt: we never need the text of these names. */
static int skip_name(const uint8_t *p, size_t len, size_t *off)
{
	size_t o = *off, total = 0;

	for (;;) {
		if (o >= len)
			return -1;
		uint8_t c = p[o];
		if ((c & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return -1;
			*off = o + 2;
			return 0;
		}
		if (c & 0xc0)
			return -1; /* 0x40/0x80 label types are obsolete (RFC 6891 5) */
		total += c + 1u;
		if (total > DNAME_MAX)
			return -1;
		o += c + 1u;
		if (c == 0) {
			*off = o;
			return 0;
		}
	}
}

/* The question name must be uncompressed: nothing precedes it that a
 * pointer could legitimately refer to. */
static int parse_qname(const uint8_t *p, size_t len, size_t *off, uint8_t *qlen)
{
	size_t o = *off, total = 0;

	for (;;) {
		if (o >= len)
			return -1;
		uint8_t c = p[o];
		if (c > DNAME_LABEL_MAX)
			return -1;
		total += c + 1u;
		if (total > DNAME_MAX)
			return -1;
		if (o + 1 + c > len)
			return -1;
		o += c + 1u;
		if (c == 0)
			break;
	}
	*qlen = (uint8_t)total;
	*off = o;
	return 0;
}

/* Validate the OPT RR's option list: each option must fit its RDATA. */
static int check_opt_options(const uint8_t *p, size_t n)
{
	size_t o = 0;
	while (o < n) {
		if (o + 4 > n)
			return -1;
		size_t ol = rd16(p + o + 2);
		if (o + 4 + ol > n)
			return -1;
		o += 4 + ol;
	}
	return 0;
}

int wire_parse_query(const uint8_t *pkt, size_t len, struct wire_query *q)
{
	size_t off = WIRE_HDR_LEN;
	unsigned qd, an, ns, ar;

	memset(q, 0, sizeof(*q));
	if (len < 3)
		return WIRE_PARSE_DROP; /* no full ID + flags octet: nothing to answer */
	q->id = rd16(pkt);
	if (pkt[2] & 0x80)
		return WIRE_PARSE_DROP; /* a response: answering could loop */
	if (len < WIRE_HDR_LEN) {
		q->flags = (uint16_t)(pkt[2] << 8);
		q->opcode = (uint8_t)WIRE_OPCODE(q->flags);
		return WIRE_PARSE_FORMERR;
	}
	q->flags = rd16(pkt + 2);
	q->opcode = (uint8_t)WIRE_OPCODE(q->flags);
	qd = rd16(pkt + 4);
	an = rd16(pkt + 6);
	ns = rd16(pkt + 8);
	ar = rd16(pkt + 10);
	if (qd != 1)
		return WIRE_PARSE_FORMERR;
	if (parse_qname(pkt, len, &off, &q->qname_len) < 0 || off + 4 > len)
		return WIRE_PARSE_FORMERR;
	q->qname = pkt + WIRE_HDR_LEN;
	q->qtype = rd16(pkt + off);
	q->qclass = rd16(pkt + off + 2);
	off += 4;
	q->has_question = true;

	/* Skip answer and authority RRs (a query should have none; tolerated). */
	for (unsigned i = 0; i < an + ns; i++) {
		if (skip_name(pkt, len, &off) < 0 || off + 10 > len)
			return WIRE_PARSE_FORMERR;
		size_t rdlen = rd16(pkt + off + 8);
		if (rd16(pkt + off) == WIRE_T_OPT)
			return WIRE_PARSE_FORMERR; /* OPT only in additional */
		off += 10;
		if (off + rdlen > len)
			return WIRE_PARSE_FORMERR;
		off += rdlen;
	}
	for (unsigned i = 0; i < ar; i++) {
		size_t owner = off;
		if (skip_name(pkt, len, &off) < 0 || off + 10 > len)
			return WIRE_PARSE_FORMERR;
		uint16_t type = rd16(pkt + off);
		size_t rdlen = rd16(pkt + off + 8);
		if (off + 10 + rdlen > len)
			return WIRE_PARSE_FORMERR;
		if (type == WIRE_T_OPT) {
			/* RFC 6891 6.1.1: one OPT, owner root, else FORMERR. */
			if (q->edns || off != owner + 1 || pkt[owner] != 0)
				return WIRE_PARSE_FORMERR;
			if (check_opt_options(pkt + off + 10, rdlen) < 0)
				return WIRE_PARSE_FORMERR;
			q->edns = true;
			q->edns_udp = rd16(pkt + off + 2);
			q->edns_version = pkt[off + 5];
			q->edns_do = (pkt[off + 6] & 0x80) != 0;
		}
		off += 10 + rdlen;
	}
	/* Trailing octets after the last RR are ignored, as most servers do. */
	return WIRE_PARSE_OK;
}

/* ---- writer ------------------------------------------------------------ */

void wire_w_init(struct wire_w *w, uint8_t *buf, size_t cap)
{
	/* Field by field: the compression table is read only below n_cmp,
	 * and clearing its ~200 octets ran twice per query. */
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	memset(w->cnt, 0, sizeof(w->cnt));
	w->full = false;
	w->n_cmp = 0;
}

void wire_w_rollback(struct wire_w *w, const struct wire_mark *m)
{
	w->len = m->len;
	memcpy(w->cnt, m->cnt, sizeof(w->cnt));
	w->n_cmp = m->n_cmp;
	w->full = false;
}

static bool room(struct wire_w *w, size_t n)
{
	if (w->full || w->len + n > w->cap) {
		w->full = true;
		return false;
	}
	return true;
}

void wire_w_bytes(struct wire_w *w, const void *p, size_t n)
{
	if (n == 0)
		return; /* memcpy from NULL is undefined even for 0 octets */
	if (!room(w, n))
		return;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void wire_w_u16(struct wire_w *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	wire_w_bytes(w, b, 2);
}

void wire_w_u32(struct wire_w *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	wire_w_bytes(w, b, 4);
}

void wire_w_header(struct wire_w *w, uint16_t id, uint16_t flags)
{
	uint8_t h[WIRE_HDR_LEN] = { (uint8_t)(id >> 8), (uint8_t)id,
				    (uint8_t)(flags >> 8), (uint8_t)flags };
	wire_w_bytes(w, h, sizeof(h));
}

static void remember(struct wire_w *w, size_t off, size_t name_len)
{
	if (off < 0x4000 && w->n_cmp < WIRE_CMP_MAX) {
		w->cmp[w->n_cmp] = (uint16_t)off;
		w->cmp_len[w->n_cmp++] = (uint8_t)name_len;
	}
}

void wire_w_question(struct wire_w *w, const uint8_t *qname, size_t qname_len,
		     uint16_t qtype, uint16_t qclass)
{
	size_t at = w->len;
	/* memmove: the caller may answer in the query's own buffer, where the
	 * question already sits at the same offset. */
	if (!room(w, qname_len))
		return;
	memmove(w->buf + w->len, qname, qname_len);
	w->len += qname_len;
	wire_w_u16(w, qtype);
	wire_w_u16(w, qclass);
	if (w->full)
		return;
	w->cnt[WIRE_S_QD] = 1;
	for (size_t o = at; qname[o - at] != 0; o += qname[o - at] + 1u)
		remember(w, o, qname_len - (o - at));
}

/* Does the (uncompressed) name `n` equal the name written at buffer offset
 * `o`?  Pointers in the buffer were written by us and always point backward,
 * so following them terminates; the hop cap is belt and braces. */
static bool name_at_equal(const struct wire_w *w, const uint8_t *n, size_t o)
{
	for (int hops = 0; hops < 128;) {
		if (o >= w->len)
			return false;
		uint8_t c = w->buf[o];
		if ((c & 0xc0) == 0xc0) {
			if (o + 1 >= w->len)
				return false;
			size_t t = (size_t)(c & 0x3f) << 8 | w->buf[o + 1];
			if (t >= o)
				return false;
			o = t;
			hops++;
			continue;
		}
		if (c != *n || o + 1 + c > w->len)
			return false;
		if (c == 0)
			return true;
		for (unsigned i = 1; i <= c; i++)
			if (dname_lower(w->buf[o + i]) != dname_lower(n[i]))
				return false;
		o += c + 1u;
		n += c + 1u;
	}
	return false;
}

void wire_w_name(struct wire_w *w, const uint8_t *name)
{
	const uint8_t *suffix = name;
	size_t total = (size_t)dname_wire_len(name);
	int target = -1;

	/* Longest suffix already present wins: try suffixes from the whole name. */
	for (; *suffix; suffix += *suffix + 1u) {
		size_t sl = total - (size_t)(suffix - name);
		for (unsigned i = 0; i < w->n_cmp; i++) {
			if (w->cmp_len[i] == sl && name_at_equal(w, suffix, w->cmp[i])) {
				target = w->cmp[i];
				break;
			}
		}
		if (target >= 0)
			break;
	}
	if (target < 0 && w->len + total > w->cap) {
		w->full = true;
		return;
	}
	for (const uint8_t *l = name; l != suffix; l += *l + 1u) {
		size_t at = w->len;
		wire_w_bytes(w, l, *l + 1u);
		if (w->full)
			return;
		remember(w, at, total - (size_t)(l - name));
	}
	if (target >= 0)
		wire_w_u16(w, (uint16_t)(0xc000u | (unsigned)target));
	else
		wire_w_bytes(w, "", 1);
}

size_t wire_w_rr_begin(struct wire_w *w, const uint8_t *owner, uint16_t type,
		       uint16_t klass, uint32_t ttl)
{
	if (owner)
		wire_w_name(w, owner);
	else
		wire_w_u16(w, 0xc000u | WIRE_HDR_LEN);
	wire_w_u16(w, type);
	wire_w_u16(w, klass);
	wire_w_u32(w, ttl);
	size_t at = w->len;
	wire_w_u16(w, 0);
	return at;
}

void wire_w_rr_end(struct wire_w *w, size_t rdlen_at, enum wire_sec sec)
{
	if (w->full)
		return;
	size_t rdlen = w->len - rdlen_at - 2;
	if (rdlen > 0xffff) {
		w->full = true;
		return;
	}
	w->buf[rdlen_at] = (uint8_t)(rdlen >> 8);
	w->buf[rdlen_at + 1] = (uint8_t)rdlen;
	w->cnt[sec]++;
}

size_t wire_name_len_in(const uint8_t *p, const uint8_t *end)
{
	size_t n = 0;
	for (;;) {
		if (p + n >= end)
			return 0;
		uint8_t c = p[n];
		if (c > DNAME_LABEL_MAX || n + 1 + c > DNAME_MAX)
			return 0;
		n += c + 1u;
		if (c == 0)
			return p + n <= end ? n : 0;
	}
}

void wire_w_rr_rdata(struct wire_w *w, enum wire_sec sec, const uint8_t *owner,
		     uint16_t type, uint32_t ttl, const uint8_t *rdata, size_t rdlen)
{
	const uint8_t *end = rdata + rdlen;
	size_t at = wire_w_rr_begin(w, owner, type, WIRE_C_IN, ttl);
	size_t n1, n2;

	switch (type) {
	case WIRE_T_NS:
	case WIRE_T_CNAME:
	case WIRE_T_PTR:
		/* n1 == 0 is "malformed", not "fits an empty RDATA". */
		if ((n1 = wire_name_len_in(rdata, end)) > 0 && n1 == rdlen) {
			wire_w_name(w, rdata);
			goto done;
		}
		break;
	case WIRE_T_MX:
		if (rdlen > 2 && (n1 = wire_name_len_in(rdata + 2, end)) == rdlen - 2) {
			wire_w_bytes(w, rdata, 2);
			wire_w_name(w, rdata + 2);
			goto done;
		}
		break;
	case WIRE_T_SOA:
		if ((n1 = wire_name_len_in(rdata, end)) > 0 &&
		    (n2 = wire_name_len_in(rdata + n1, end)) > 0 && n1 + n2 + 20 == rdlen) {
			wire_w_name(w, rdata);
			wire_w_name(w, rdata + n1);
			wire_w_bytes(w, rdata + n1 + n2, 20);
			goto done;
		}
		break;
	default:
		break;
	}
	wire_w_bytes(w, rdata, rdlen);
done:
	wire_w_rr_end(w, at, sec);
}

void wire_w_txt_strings(struct wire_w *w, const char *txt, size_t len)
{
	size_t o = 0;
	do {
		size_t n = len - o > 255 ? 255 : len - o;
		uint8_t l = (uint8_t)n;
		wire_w_bytes(w, &l, 1);
		wire_w_bytes(w, txt + o, n);
		o += n;
	} while (o < len);
}

void wire_w_opt(struct wire_w *w, uint16_t udp, uint8_t ext_rcode, int ede,
		const char *ede_text)
{
	wire_w_opt_do(w, udp, ext_rcode, false, ede, ede_text);
}

void wire_w_opt_do(struct wire_w *w, uint16_t udp, uint8_t ext_rcode, bool do_bit, int ede,
		   const char *ede_text)
{
	size_t tl = ede_text ? strlen(ede_text) : 0;
	uint8_t vf[3] = { 0, do_bit ? 0x80 : 0, 0 }; /* version 0, DO, Z */

	wire_w_bytes(w, "", 1); /* root owner */
	wire_w_u16(w, WIRE_T_OPT);
	wire_w_u16(w, udp);
	wire_w_bytes(w, &ext_rcode, 1);
	wire_w_bytes(w, vf, 3);
	if (ede < 0) {
		wire_w_u16(w, 0);
	} else {
		wire_w_u16(w, (uint16_t)(6 + tl));
		wire_w_u16(w, WIRE_OPT_EDE);
		wire_w_u16(w, (uint16_t)(2 + tl));
		wire_w_u16(w, (uint16_t)ede);
		wire_w_bytes(w, ede_text, tl);
	}
	if (!w->full)
		w->cnt[WIRE_S_AR]++;
}

size_t wire_w_finish(struct wire_w *w)
{
	if (w->full || w->len < WIRE_HDR_LEN)
		return 0;
	for (int i = 0; i < 4; i++) {
		w->buf[4 + 2 * i] = (uint8_t)(w->cnt[i] >> 8);
		w->buf[5 + 2 * i] = (uint8_t)w->cnt[i];
	}
	return w->len;
}

/* ---- pre-built RRs ------------------------------------------------------ */

/* Expand the (possibly compressed) name at `o` of our own buffer into `out`
 * (lowercase).  Returns its length, 0 when it is not well formed. */
static size_t tmpl_expand(const struct wire_w *w, size_t o, uint8_t out[DNAME_MAX])
{
	size_t n = 0;

	for (int hops = 0; hops < 128 && o < w->len;) {
		uint8_t c = w->buf[o];
		if ((c & 0xc0) == 0xc0) {
			size_t t = o + 1 < w->len ? (size_t)(c & 0x3f) << 8 | w->buf[o + 1] : o;
			if (t >= o)
				return 0;
			o = t;
			hops++;
			continue;
		}
		if (c > DNAME_LABEL_MAX || o + 1 + c > w->len || n + 1 + c > DNAME_MAX)
			return 0;
		out[n++] = c;
		for (unsigned i = 1; i <= c; i++)
			out[n++] = dname_lower(w->buf[o + i]);
		if (c == 0)
			return n;
		o += c + 1u;
	}
	return 0;
}

/* Note the label that continues the name at `o` above the apex, if the name
 * is strictly below the apex.  False when the name is malformed or there are
 * too many such labels. */
static bool tmpl_risk(struct wire_tmpl *t, const struct wire_w *w, size_t o)
{
	uint8_t n[DNAME_MAX], apex[DNAME_MAX];
	size_t nl = tmpl_expand(w, o, n), al = t->apex_len, prev = 0, i = 0;

	if (nl == 0)
		return false;
	for (size_t k = 0; k < al; k++)
		apex[k] = dname_lower(w->buf[WIRE_HDR_LEN + k]);
	if (nl <= al || memcmp(n + nl - al, apex, al) != 0)
		return true; /* the apex itself, or not below it: the same in every answer */
	while (i < nl - al) {
		prev = i;
		i += n[i] + 1u;
	}
	if (i != nl - al)
		return true; /* apex octets inside a label: not a name suffix */
	for (unsigned r = 0; r < t->n_risk; r++)
		if (memcmp(t->risk[r], n + prev, n[prev] + 1u) == 0)
			return true;
	if (t->n_risk == WIRE_TMPL_RISK || n[prev] + 1u > sizeof(t->risk[0]))
		return false;
	memcpy(t->risk[t->n_risk++], n + prev, n[prev] + 1u);
	return true;
}

/* Walk one name of the block at *o: note its pointer and its risk. */
static bool tmpl_name(struct wire_tmpl *t, const struct wire_w *w, size_t start, size_t *o)
{
	size_t p = *o;

	if (!tmpl_risk(t, w, p))
		return false;
	for (;;) {
		if (p >= w->len)
			return false;
		uint8_t c = w->buf[p];
		if ((c & 0xc0) == 0xc0) {
			if (t->n_ptr == WIRE_TMPL_PTRS || p + 2 > w->len)
				return false;
			t->ptr_at[t->n_ptr++] = (uint16_t)(p - start);
			*o = p + 2;
			return true;
		}
		p += c + 1u;
		if (c == 0) {
			*o = p;
			return true;
		}
	}
}

bool wire_tmpl_make(struct wire_tmpl *t, const struct wire_w *w, const struct wire_mark *m,
		    enum wire_sec sec)
{
	size_t start = m->len, o = start;

	memset(t, 0, sizeof(*t));
	if (w->full || start < WIRE_HDR_LEN + 1 + 4 || w->len - start > WIRE_TMPL_MAX ||
	    w->n_cmp >= WIRE_CMP_MAX || w->n_cmp - m->n_cmp > WIRE_TMPL_PTRS)
		return false;
	for (int s = 0; s < 4; s++)
		if (s != (int)sec && w->cnt[s] != m->cnt[s])
			return false;
	t->apex_len = (uint8_t)(start - WIRE_HDR_LEN - 4);
	t->qend = (uint16_t)start;
	t->len = (uint16_t)(w->len - start);
	t->n_rr = (uint16_t)(w->cnt[sec] - m->cnt[sec]);
	for (unsigned i = 0; i < t->n_rr; i++) {
		if (!tmpl_name(t, w, start, &o) || o + 10 > w->len)
			return false;
		uint16_t type = rd16(w->buf + o);
		size_t end = o + 10 + rd16(w->buf + o + 8);
		o += 10;
		if (type == WIRE_T_NS) {
			if (!tmpl_name(t, w, start, &o))
				return false;
		} else if (type == WIRE_T_SOA) {
			if (!tmpl_name(t, w, start, &o) || !tmpl_name(t, w, start, &o))
				return false;
			o += 20;
		} else {
			return false; /* only the types the answer engine pre-builds */
		}
		if (o != end)
			return false;
	}
	if (o != w->len)
		return false;
	memcpy(t->bytes, w->buf + start, t->len);
	for (unsigned i = m->n_cmp; i < w->n_cmp; i++) {
		t->cmp_at[t->n_cmp] = (uint16_t)(w->cmp[i] - start);
		t->cmp_len[t->n_cmp++] = w->cmp_len[i];
	}
	t->ok = true;
	return true;
}

/* Does the label `l` equal a risky one (case-insensitively)? */
static bool tmpl_risky(const struct wire_tmpl *t, const uint8_t *l)
{
	for (unsigned r = 0; r < t->n_risk; r++) {
		const uint8_t *k = t->risk[r];
		unsigned i;
		if (k[0] != l[0])
			continue;
		for (i = 1; i <= l[0] && k[i] == dname_lower(l[i]); i++)
			;
		if (i > l[0])
			return true;
	}
	return false;
}

bool wire_w_tmpl(struct wire_w *w, const struct wire_tmpl *t, const uint8_t *qname,
		 size_t qname_len, unsigned q_ncmp, enum wire_sec sec)
{
	size_t start = w->len, delta, o = 0;

	if (!t->ok || w->n_cmp != q_ncmp || qname_len < t->apex_len ||
	    start + t->len > 0x4000 || w->n_cmp + t->n_cmp > WIRE_CMP_MAX)
		return false;
	delta = qname_len - t->apex_len;
	if (delta > 0) {
		/* The label next to the apex: the one a longer suffix would need. */
		while (o + qname[o] + 1u < delta)
			o += qname[o] + 1u;
		if (o + qname[o] + 1u != delta || tmpl_risky(t, qname + o))
			return false;
	}
	if (w->full)
		return true;
	if (start + t->len > w->cap) {
		w->full = true;
		return true;
	}
	uint8_t *b = w->buf + start;
	memcpy(b, t->bytes, t->len);
	for (unsigned i = 0; i < t->n_ptr; i++) {
		uint8_t *p = b + t->ptr_at[i];
		size_t v = (size_t)(p[0] & 0x3f) << 8 | p[1];
		/* Into the question: moved by |R|; into the block: by its start. */
		v = v < t->qend ? v + delta : v - t->qend + start;
		p[0] = (uint8_t)(0xc0 | v >> 8);
		p[1] = (uint8_t)v;
	}
	for (unsigned i = 0; i < t->n_cmp; i++) {
		w->cmp[w->n_cmp] = (uint16_t)(start + t->cmp_at[i]);
		w->cmp_len[w->n_cmp++] = t->cmp_len[i];
	}
	w->len = start + t->len;
	w->cnt[sec] = (uint16_t)(w->cnt[sec] + t->n_rr);
	return true;
}
