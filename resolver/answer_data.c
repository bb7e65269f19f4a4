/* resolver/answer_data.c - answer one name from the datasets attached at its
 * (sub)zone node: DNSBL address and name sets, and generic / master-file
 * record sets.  Writes answer RRs; the caller builds the rest of the packet.
 *
 * Union semantics follow rbldnsd: every dataset attached at the node is
 * consulted in zone order and all of their answers are returned.
 */
#include <stdio.h>
#include <string.h>
#include "common/dname.h"
#include "resolver/answer_int.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

/* ---- query name -> address -------------------------------------------- */

/* The relative key as reversed IPv4 octets (key order is most significant
 * first).  Returns the number of octets (0..4), or -1 when the name cannot be
 * (part of) an address.  Like rbldnsd, an octet is 1-3 decimal digits <= 255
 * ("04" is 4). */
static int rel_ip4(const uint8_t *k, size_t kl, uint32_t *addr)
{
	int n = 0;
	uint32_t a = 0;

	for (size_t i = 0; i < kl; i += k[i] + 1u) {
		unsigned len = k[i], v = 0;
		if (n == 4 || len == 0 || len > 3)
			return -1;
		for (unsigned j = 1; j <= len; j++) {
			if (k[i + j] < '0' || k[i + j] > '9')
				return -1;
			v = v * 10 + (unsigned)(k[i + j] - '0');
		}
		if (v > 255)
			return -1;
		a |= (uint32_t)v << (24 - 8 * n);
		n++;
	}
	*addr = a;
	return n;
}

/* Reversed nibbles: returns the nibble count (0..32) or -1. */
static int rel_ip6(const uint8_t *k, size_t kl, uint8_t addr[16])
{
	int n = 0;

	memset(addr, 0, 16);
	for (size_t i = 0; i < kl; i += k[i] + 1u) {
		uint8_t c = k[i + 1], v;
		if (n == 32 || k[i] != 1)
			return -1;
		if (c >= '0' && c <= '9')
			v = (uint8_t)(c - '0');
		else if (c >= 'a' && c <= 'f') /* keys are lowercased */
			v = (uint8_t)(c - 'a' + 10);
		else
			return -1;
		addr[n / 2] |= (uint8_t)(n % 2 ? v : v << 4);
		n++;
	}
	return n;
}

/* IPv6 text as rbldnsd prints it (RFC 5952: lowercase, no leading zeros,
 * the longest run of two or more zero groups, first on a tie, as "::"). */
static size_t ip6_text(const uint8_t a[16], char *out)
{
	unsigned g[8];
	int best = -1, bestlen = 1, o = 0;

	for (int i = 0; i < 8; i++)
		g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
	for (int i = 0; i < 8;) {
		if (g[i]) {
			i++;
			continue;
		}
		int j = i;
		while (j < 8 && g[j] == 0)
			j++;
		if (j - i > bestlen) {
			best = i;
			bestlen = j - i;
		}
		i = j;
	}
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			o += sprintf(out + o, "::");
			i += bestlen - 1;
			continue;
		}
		if (i && i != best + bestlen)
			out[o++] = ':';
		o += sprintf(out + o, "%x", g[i]);
	}
	out[o] = 0;
	return (size_t)o;
}

/* ---- writing values ----------------------------------------------------- */

/* Is the RR just written (rdlen field at `at`) a copy of one already in the
 * answer for this owner?  Then it is dropped, as an RRset is a set. */
static bool seen_before(struct answer_q *q, size_t at)
{
	const uint8_t *b = q->w.buf;
	size_t len = rd16(b + at);

	for (unsigned i = 0; i < q->n_seen; i++) {
		size_t s = q->seen[i];
		if (rd16(b + s - 8) == rd16(b + at - 8) && rd16(b + s) == len &&
		    memcmp(b + s + 2, b + at + 2, len) == 0)
			return true;
	}
	if (q->n_seen < sizeof(q->seen) / sizeof(q->seen[0]))
		q->seen[q->n_seen++] = (uint32_t)at;
	return false;
}

/* Start an answer RR with the writer's limit raised to the buffer's real
 * size (see answer_q.phys_cap); answer_rr_end puts the limit back.  Returns
 * the client's limit. */
static size_t answer_rr_room(struct answer_q *q)
{
	size_t lim = q->w.cap;
	if (q->phys_cap > lim)
		q->w.cap = q->phys_cap;
	return lim;
}

/* Finish an answer RR: drop it if it is a duplicate (an RRset is a set,
 * and a copy must not cost the client a truncation), otherwise count it if
 * it fits the client's limit `lim`, or mark the answer full. */
static void answer_rr_end(struct answer_q *q, const struct wire_mark *m, size_t at,
			  size_t lim, struct answer_res *res)
{
	if (!q->w.full) {
		wire_w_rr_end(&q->w, at, WIRE_S_AN);
		if (!q->w.full && seen_before(q, at)) {
			wire_w_rollback(&q->w, m);
			q->w.cap = lim;
			return;
		}
	}
	q->w.cap = lim;
	if (!q->w.full && q->w.len <= lim) {
		res->answers++;
		return;
	}
	wire_w_rollback(&q->w, m);
	q->w.full = true;
}

/* TXT RDATA from a stored template: "$$" -> "$", "$" -> subject.  Output
 * longer than 255 octets continues in further character-strings of the same
 * RR (rbldnsd 1.0pre cuts it at 254 octets). */
static void txt_expand(struct wire_w *w, const char *t, size_t n, const char *subj, size_t sl)
{
	size_t lenpos = w->len;
	unsigned cur = 0;

	wire_w_bytes(w, "", 1);
	for (size_t i = 0; i < n && !w->full;) {
		const char *chunk;
		size_t cl;
		if (t[i] == '$') {
			if (i + 1 < n && t[i + 1] == '$') {
				chunk = "$";
				cl = 1;
				i += 2;
			} else {
				chunk = subj;
				cl = sl;
				i++;
			}
		} else {
			size_t j = i;
			while (j < n && t[j] != '$')
				j++;
			chunk = t + i;
			cl = j - i;
			i = j;
		}
		while (cl > 0 && !w->full) {
			if (cur == 255) {
				w->buf[lenpos] = 255;
				lenpos = w->len;
				cur = 0;
				wire_w_bytes(w, "", 1);
				continue;
			}
			size_t take = cl < 255 - cur ? cl : 255 - cur;
			wire_w_bytes(w, chunk, take);
			chunk += take;
			cl -= take;
			cur += (unsigned)take;
		}
	}
	if (!w->full)
		w->buf[lenpos] = (uint8_t)cur;
}

/* Only TXT answers quote the subject, so A queries (the bulk of DNSBL
 * traffic) skip formatting it: snprintf was ~1,700 instructions per listed
 * address, a quarter of the whole answer. */
static bool wants_txt(uint16_t qtype)
{
	return qtype == WIRE_T_TXT || qtype == WIRE_T_ANY;
}

static void put_vals(struct answer_q *q, struct snap_valset vs, const uint8_t *owner,
		     uint16_t qtype, uint32_t ttl, const char *subj, size_t sl,
		     struct answer_res *res)
{
	struct snap_val v;
	int r;
	bool want_a = qtype == WIRE_T_A || qtype == WIRE_T_ANY;
	bool want_txt = wants_txt(qtype);

	res->exists = true;
	while ((r = snap_valset_next(&vs, &v)) == 1) {
		if (want_a) {
			struct wire_mark m = wire_w_mark(&q->w);
			size_t lim = answer_rr_room(q);
			size_t at = wire_w_rr_begin(&q->w, owner, WIRE_T_A, WIRE_C_IN, ttl);
			wire_w_bytes(&q->w, v.a, 4);
			answer_rr_end(q, &m, at, lim, res);
		}
		if (want_txt && v.has_txt) {
			struct wire_mark m = wire_w_mark(&q->w);
			size_t lim = answer_rr_room(q);
			size_t at = wire_w_rr_begin(&q->w, owner, WIRE_T_TXT, WIRE_C_IN, ttl);
			txt_expand(&q->w, v.txt, v.txt_len, subj, sl);
			answer_rr_end(q, &m, at, lim, res);
		}
	}
	if (r < 0)
		res->err = true;
}

/* ---- DNSBL datasets ----------------------------------------------------- */

static void ds_ip4(struct answer_q *q, const struct zt_ds *ds, const uint8_t *rel, size_t rl,
		   const uint8_t *owner, uint16_t qtype, struct answer_res *res)
{
	uint32_t a;
	struct snap_valset vs;
	int n = rel_ip4(rel, rl, &a), r;
	char subj[16];

	if (n <= 0)
		return;
	if (n < 4) {
		/* A partial address is an empty non-terminal when anything below
		 * it is listed (NODATA; rbldnsd says NXDOMAIN, which breaks
		 * QNAME minimisation, RFC 9156). */
		uint32_t span = 0xffffffffu >> (8 * n);
		r = snap_ip4_any(q->ctx->rd, ds->dsid, a, a | span);
		if (r < 0)
			res->err = true;
		else if (r > 0)
			res->exists = true;
		return;
	}
	r = snap_ip4_find(q->ctx->rd, ds->dsid, a, &vs);
	if (r < 0) {
		res->err = true;
		return;
	}
	if (r == 0)
		return;
	int sl = 0;
	if (wants_txt(qtype))
		sl = snprintf(subj, sizeof(subj), "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
			      (a >> 8) & 255, a & 255);
	put_vals(q, vs, owner, qtype, ds->ttl, subj, (size_t)sl, res);
}

static void ds_ip6(struct answer_q *q, const struct zt_ds *ds, const uint8_t *rel, size_t rl,
		   const uint8_t *owner, uint16_t qtype, struct answer_res *res)
{
	uint8_t a[16], hi[16];
	struct snap_valset vs;
	int n = rel_ip6(rel, rl, a), r;
	char subj[48];

	if (n <= 0)
		return;
	if (n < 32) {
		memcpy(hi, a, 16);
		for (int i = n; i < 32; i++)
			hi[i / 2] |= (uint8_t)(i % 2 ? 0x0f : 0xf0);
		r = snap_ip6_any(q->ctx->rd, ds->dsid, a, hi);
		if (r < 0)
			res->err = true;
		else if (r > 0)
			res->exists = true;
		return;
	}
	r = snap_ip6_find(q->ctx->rd, ds->dsid, a, &vs);
	if (r < 0) {
		res->err = true;
		return;
	}
	if (r == 0)
		return;
	size_t sl = wants_txt(qtype) ? ip6_text(a, subj) : 0;
	put_vals(q, vs, owner, qtype, ds->ttl, subj, sl, res);
}

static void ds_dom(struct answer_q *q, const struct zt_ds *ds, const uint8_t *rel, size_t rl,
		   const uint8_t *owner, uint16_t qtype, struct answer_res *res)
{
	struct snap_valset vs;
	uint8_t wire[DNAME_MAX];
	char subj[DNAME_TEXT_MAX];
	size_t ml = rl;
	int r, below;

	r = snap_dom_match_below(q->ctx->rd, ds->dsid, rel, rl, &vs, &ml, &below);
	if (r < 0) {
		res->err = true;
		return;
	}
	if (r == 0) {
		/* Not listed itself, but an empty non-terminal (NODATA) when
		 * entries exist below it, or when its own wildcard lists
		 * everything below it ("*.name" makes "name" exist, RFC 4592;
		 * snap_dom_below answers both in one seek).  A name excluded
		 * under an ANCESTOR's wildcard stays NXDOMAIN as in rbldnsd:
		 * the exclusion is about that name.  (A probe of a child name
		 * used to follow; it re-read exactly the keys read above and
		 * could not find anything snap_dom_below had not.) */
		r = below >= 0 ? below : snap_dom_below(q->ctx->rd, ds->dsid, rel, rl);
		if (r < 0)
			res->err = true;
		else if (r > 0)
			res->exists = true;
		return;
	}
	/* Subject, as rbldnsd: the listed entry's name relative to the
	 * dataset's attachment point (for "*.example.com", "example.com"). */
	int sl = 0;
	if (ml > rl)
		ml = rl;
	if (wants_txt(qtype) && ml > 0 && dname_key_to_wire(rel, ml, wire) > 0)
		sl = dname_to_text(wire, subj, sizeof(subj));
	if (sl < 0)
		sl = 0;
	put_vals(q, vs, owner, qtype, ds->ttl, subj, (size_t)sl, res);
}

/* ---- generic / master-file datasets ------------------------------------ */

static void note_target(struct answer_q *q, uint16_t type, const uint8_t *rd, size_t len)
{
	size_t skip = type == WIRE_T_NS ? 0 : type == WIRE_T_MX ? 2 : type == WIRE_T_SRV ? 6 : 1000;

	if (skip > len || q->n_targets >= sizeof(q->targets) / sizeof(q->targets[0]))
		return;
	/* 0 is "malformed" (damaged data), never "an empty name fits". */
	size_t nl = wire_name_len_in(rd + skip, rd + len);
	if (nl == 0 || nl != len - skip)
		return;
	memcpy(q->targets[q->n_targets++], rd + skip, len - skip);
}

static bool put_rrset(struct answer_q *q, const struct snap_rrset *set, const uint8_t *owner,
		      enum wire_sec sec, struct answer_res *res)
{
	const uint8_t *p = set->rdata;

	for (unsigned i = 0; i < set->count; i++) {
		if (set->end - p < 2 || (size_t)(set->end - p - 2) < rd16(p)) {
			res->err = true; /* damaged record: never a partial RRset */
			return false;
		}
		size_t len = rd16(p);
		wire_w_rr_rdata(&q->w, sec, owner, set->type, set->ttl, p + 2, len);
		if (!q->w.full && sec == WIRE_S_AN) {
			res->answers++;
			note_target(q, set->type, p + 2, len);
		}
		p += 2 + len;
	}
	return true;
}

static void ds_rr(struct answer_q *q, const struct zt_node *node, uint32_t dsi,
		  const uint8_t *rel, size_t rl, const uint8_t *owner, uint16_t qtype,
		  struct answer_res *res)
{
	const struct zt_ds *ds = &q->zone->ds[dsi];
	snap_rd *rd = q->ctx->rd;
	struct snap_rr_match m;
	struct snap_rrset set;
	int r = snap_rr_lookup(rd, ds->dsid, rel, rl, &m);

	if (r < 0) {
		res->err = true;
		return;
	}
	switch (m.status) {
	case SNAP_RR_NXDOMAIN:
		return;
	case SNAP_RR_ENT:
		res->exists = true;
		return;
	case SNAP_RR_DELEG:
		if (!res->deleg && node->keylen + (size_t)m.owner_len <= DNAME_MAX) {
			res->deleg = true;
			res->deleg_ds = dsi;
			memcpy(res->deleg_key, node->key, node->keylen);
			memcpy(res->deleg_key + node->keylen, m.owner, m.owner_len);
			res->deleg_keylen = (uint8_t)(node->keylen + m.owner_len);
			res->deleg_rel = node->keylen;
		}
		return;
	case SNAP_RR_NAME:
	case SNAP_RR_WILDCARD:
		break;
	}
	res->exists = true;
	if (!m.owner)
		return; /* "*" only as an empty non-terminal: NODATA */
	if (qtype == WIRE_T_ANY) {
		uint32_t cur = 0;
		bool minimal = q->ctx->conf.minimal_any;
		if (minimal && res->answers > 0)
			return;
		while ((r = snap_rrset_next(rd, ds->dsid, m.owner, m.owner_len, &cur, &set)) == 1) {
			if (!put_rrset(q, &set, owner, WIRE_S_AN, res) || minimal)
				return;
		}
		if (r < 0)
			res->err = true;
		return;
	}
	r = snap_rrset_get(rd, ds->dsid, m.owner, m.owner_len, qtype, &set);
	if (r == 0 && qtype != WIRE_T_CNAME) {
		r = snap_rrset_get(rd, ds->dsid, m.owner, m.owner_len, WIRE_T_CNAME, &set);
		if (r == 1 && set.count >= 1 && set.end - set.rdata >= 2) {
			size_t len = rd16(set.rdata);
			size_t nl = wire_name_len_in(set.rdata + 2, set.end);
			if (nl > 0 && nl == len && !res->has_cname) {
				memcpy(res->cname, set.rdata + 2, nl);
				res->has_cname = true;
			}
		}
	}
	if (r < 0) {
		res->err = true;
		return;
	}
	if (r == 1)
		put_rrset(q, &set, owner, WIRE_S_AN, res);
}

/* ---- the name ------------------------------------------------------------ */

void answer_lookup(struct answer_q *q, const struct zt_node *node, size_t rel_off,
		   const uint8_t *owner, uint16_t qtype, struct answer_res *res)
{
	const uint8_t *rel = q->key + rel_off;
	size_t rl = q->keylen - rel_off;

	answer_res_clear(res);
	q->n_seen = 0;
	if (rl == 0)
		res->exists = true; /* a (sub)zone apex always exists */
	for (uint32_t i = 0; i < node->n_ds && !res->err; i++) {
		const struct zt_ds *ds = &q->zone->ds[node->ds[i]];
		if (q->zacl_empty && ds->type != ZDS_GENERIC && ds->type != ZDS_ZONE)
			continue; /* zone-acl "empty": the blocklist data is not there */
		switch (zimg_index_of(ds->type)) {
		case ZIX_IP4:
			ds_ip4(q, ds, rel, rl, owner, qtype, res);
			break;
		case ZIX_IP6:
			ds_ip6(q, ds, rel, rl, owner, qtype, res);
			break;
		case ZIX_DOM:
			ds_dom(q, ds, rel, rl, owner, qtype, res);
			break;
		case ZIX_RR:
			ds_rr(q, node, node->ds[i], rel, rl, owner, qtype, res);
			break;
		default:
			break; /* a type this build does not know: no data */
		}
	}
}

/* Glue for one NS target: its A and AAAA records when they are in the same
 * dataset (below the cut, where nothing else would answer them). */
static void put_glue(struct answer_q *q, const struct zt_ds *ds, const uint8_t *rel_base,
		     size_t base_len, const uint8_t *target)
{
	static const uint16_t types[2] = { WIRE_T_A, WIRE_T_AAAA };
	uint8_t key[DNAME_MAX];
	struct snap_rrset set;
	struct answer_res dummy;
	int kl = dname_wire_to_key(target, key);

	if (kl < (int)base_len || memcmp(key, rel_base, base_len) != 0)
		return; /* out of bailiwick: the resolver finds it elsewhere */
	for (int t = 0; t < 2; t++) {
		memset(&dummy, 0, sizeof(dummy));
		struct wire_mark m = wire_w_mark(&q->w);
		if (snap_rrset_get(q->ctx->rd, ds->dsid, key + base_len, (size_t)kl - base_len,
				   types[t], &set) != 1)
			continue;
		if (!put_rrset(q, &set, target, WIRE_S_AR, &dummy) || q->w.full)
			wire_w_rollback(&q->w, &m); /* glue is optional: drop what does not fit */
	}
}

void answer_referral(struct answer_q *q, const struct answer_res *res)
{
	const struct zt_ds *ds = &q->zone->ds[res->deleg_ds];
	const uint8_t *rel = res->deleg_key + res->deleg_rel;
	size_t rl = res->deleg_keylen - res->deleg_rel;
	struct snap_rrset set;
	struct answer_res dummy;
	uint8_t owner[DNAME_MAX];
	const uint8_t *p;

	memset(&dummy, 0, sizeof(dummy));
	if (dname_key_to_wire(res->deleg_key, res->deleg_keylen, owner) < 0 ||
	    snap_rrset_get(q->ctx->rd, ds->dsid, rel, rl, WIRE_T_NS, &set) != 1)
		return;
	if (!put_rrset(q, &set, owner, WIRE_S_NS, &dummy) || q->w.full)
		return;
	p = set.rdata;
	for (unsigned i = 0; i < set.count && set.end - p >= 2; i++) {
		size_t len = rd16(p);
		if ((size_t)(set.end - p - 2) < len)
			break;
		if (len > 0 && wire_name_len_in(p + 2, p + 2 + len) == len)
			put_glue(q, ds, res->deleg_key, res->deleg_rel, p + 2);
		p += 2 + len;
	}
}

void answer_glue(struct answer_q *q)
{
	static const uint16_t types[2] = { WIRE_T_A, WIRE_T_AAAA };
	uint8_t key[DNAME_MAX];
	struct snap_rrset set;
	struct answer_res dummy;

	for (unsigned t = 0; t < q->n_targets; t++) {
		size_t rel_off;
		int kl = dname_wire_to_key(q->targets[t], key);
		const struct zt_node *node = zonetab_match(&q->ctx->zt, key, (size_t)kl, &rel_off);
		if (!node || &q->ctx->zt.zones[node->zone] != q->zone)
			continue; /* another zone's data: not ours to vouch for */
		for (uint32_t i = 0; i < node->n_ds; i++) {
			const struct zt_ds *ds = &q->zone->ds[node->ds[i]];
			if (zimg_index_of(ds->type) != ZIX_RR)
				continue;
			for (int k = 0; k < 2; k++) {
				struct wire_mark m = wire_w_mark(&q->w);
				memset(&dummy, 0, sizeof(dummy));
				if (snap_rrset_get(q->ctx->rd, ds->dsid, key + rel_off, (size_t)kl - rel_off,
						   types[k], &set) != 1)
					continue;
				if (!put_rrset(q, &set, q->targets[t], WIRE_S_AR, &dummy) || q->w.full) {
					wire_w_rollback(&q->w, &m);
					return; /* no room: the rest would not fit either */
				}
			}
		}
	}
}
