/* zonesync/pub_xfr.c - what the publisher answers: SOA, AXFR (RFC 5936)
 * and IXFR (RFC 1995), built straight into TCP messages of up to msg-size
 * octets, each signed when the request was.
 *
 * A transfer streams: AXFR records come from xform_emit over the zone image
 * (the same generator as `dump`), IXFR records from the journal, and every
 * full message is written as soon as it is packed, so memory per transfer
 * is the image (AXFR) plus one message, whatever the zone size.  Owner names
 * are compressed against the zone apex, which is most of every DNSBL name. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/cdb.h"
#include "zonesync/pub_int.h"
#include "zonesync/xform.h"

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* ---- the request ------------------------------------------------------ */

/* Skip a (possibly compressed) name; 0 or GN_EINVAL. */
static int pub_skip_name(const uint8_t *m, size_t len, size_t *off)
{
	size_t p = *off;
	for (int i = 0; i < 128; i++) {
		if (p >= len)
			return GN_EINVAL;
		if ((m[p] & 0xc0) == 0xc0) {
			*off = p + 2;
			return p + 2 <= len ? 0 : GN_EINVAL;
		}
		if (m[p] & 0xc0)
			return GN_EINVAL;
		if (m[p] == 0) {
			*off = p + 1;
			return 0;
		}
		p += 1u + m[p];
	}
	return GN_EINVAL;
}

int pub_q_parse(const uint8_t *msg, size_t len, struct pub_q *q)
{
	size_t off = 12, o = 0;

	memset(q, 0, sizeof(*q));
	if (len < 12)
		return GN_EINVAL;
	q->id = rd16(msg);
	q->flags = rd16(msg + 2);
	if (msg[2] & 0x80 || rd16(msg + 4) != 1)
		return GN_EINVAL; /* a response, or not exactly one question */
	/* The question name is never compressed (nothing precedes it). */
	for (;;) {
		uint8_t l;
		if (off >= len)
			return GN_EINVAL;
		l = msg[off];
		if (l & 0xc0 || off + 1 + l > len || o + 1 + l > DNAME_MAX)
			return GN_EINVAL;
		q->qname[o++] = l;
		for (uint8_t i = 0; i < l; i++)
			q->qname[o++] = dname_lower(msg[off + 1 + i]);
		off += 1u + l;
		if (l == 0)
			break;
	}
	q->qname_len = o;
	if (off + 4 > len)
		return GN_EINVAL;
	q->qtype = rd16(msg + off);
	q->qclass = rd16(msg + off + 2);
	off += 4;
	q->qsec = msg + 12;
	q->qsec_len = off - 12;
	/* IXFR: the client's SOA in the authority section gives its serial. */
	if (q->qtype == PUB_TYPE_IXFR && rd16(msg + 8) >= 1 && rd16(msg + 6) == 0) {
		if (pub_skip_name(msg, len, &off) < 0 || off + 10 > len)
			return GN_EINVAL;
		if (rd16(msg + off) == PUB_TYPE_SOA) {
			size_t rd = off + 10, end = rd + rd16(msg + off + 8);
			if (end > len || pub_skip_name(msg, end, &rd) < 0 ||
			    pub_skip_name(msg, end, &rd) < 0 || rd + 20 > end)
				return GN_EINVAL;
			q->serial = (uint32_t)msg[rd] << 24 | (uint32_t)msg[rd + 1] << 16 |
				    (uint32_t)msg[rd + 2] << 8 | msg[rd + 3];
			q->has_serial = true;
		}
	}
	return 0;
}

/* ---- the message writer ------------------------------------------------ */

struct pub_w {
	struct pub *p;
	const struct pub_q *q;
	const uint8_t *apex;
	int apex_labels;
	struct tsig_ctx *t;
	int fd;                 /* -1: one message into buf, no sending */
	struct pub_stream *collect; /* packing: full messages are kept here */
	uint32_t serial;        /* AXFR: the serial packed */
	uint8_t *buf;           /* 2 length octets + message */
	size_t len;             /* message length so far */
	size_t soft;            /* start a new message past this */
	size_t cap;             /* message capacity before the TSIG */
	uint16_t ancount;
	size_t apex_off;        /* where the apex name sits in this message */
	unsigned n_msgs;
	uint64_t bytes;
	int err;                /* sticky: the first failure */
	double deadline;        /* streaming: cut the transfer past this time */
};

static void pub_w_begin(struct pub_w *w, int rcode)
{
	uint8_t *m = w->buf + 2;
	bool first = w->n_msgs == 0;

	wr16(m, w->q->id);
	/* QR, opcode and RD echoed, AA set */
	wr16(m + 2, (uint16_t)(0x8400 | (w->q->flags & 0x7900) | (rcode & 0xf)));
	wr16(m + 4, first ? 1 : 0);
	memset(m + 6, 0, 6);
	w->len = 12;
	w->ancount = 0;
	w->apex_off = 0;
	if (first) {
		memcpy(m + 12, w->q->qname, w->q->qname_len);
		wr16(m + 12 + w->q->qname_len, w->q->qtype);
		wr16(m + 14 + w->q->qname_len, w->q->qclass);
		w->len += w->q->qname_len + 4;
		if (dname_wire_equal(w->q->qname, w->apex))
			w->apex_off = 12;
	}
}

static int pub_send_all(struct pub_w *w, const uint8_t *b, size_t n)
{
	while (n) {
		ssize_t k = send(w->fd, b, n, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return GN_EIO; /* EAGAIN here is SO_SNDTIMEO: the client stalled */
		}
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Finish the current message: counts, TSIG, and (streaming) send it. */
static int pub_w_flush(struct pub_w *w)
{
	uint8_t *m = w->buf + 2;
	int r;

	if (w->err)
		return w->err;
	wr16(m + 6, w->ancount);
	if (w->t && w->t->key &&
	    (r = tsig_sign_reply(w->t, m, &w->len, PUB_MAX_MSG, (uint64_t)time(NULL))) < 0) {
		log_err("publisher: cannot sign a transfer message: %s", gn_strerror(r));
		return w->err = r;
	}
	w->n_msgs++;
	if (w->collect) {
		pub_stream_append(w->collect, m, w->len, &w->err);
		return w->err;
	}
	if (w->fd < 0)
		return 0;
	wr16(w->buf, (uint16_t)w->len);
	if (atomic_load(&w->p->stopping))
		return w->err = GN_EBUSY;
	if (w->deadline > 0 && pub_now() > w->deadline)
		return w->err = -ETIMEDOUT;
	if ((r = pub_send_all(w, w->buf, w->len + 2)) < 0)
		return w->err = r;
	w->bytes += w->len + 2;
	return 0;
}

/* Add one record, starting a new message when this one is full. */
static int pub_w_rr(struct pub_w *w, const uint8_t *owner, uint16_t type, uint32_t ttl,
		    const uint8_t *rdata, uint16_t rdlen)
{
	int ol = dname_wire_len(owner), drop = dname_labels(owner) - w->apex_labels;
	const uint8_t *suffix = owner;
	size_t prefix = (size_t)ol, need;
	bool ptr = false;
	uint8_t *m;

	if (w->err)
		return w->err;
	if (ol <= 0)
		return w->err = GN_EINVAL;
	if (drop >= 0) {
		for (int i = 0; i < drop; i++)
			suffix += 1u + *suffix;
		if (dname_wire_equal(suffix, w->apex))
			prefix = (size_t)(suffix - owner);
		else
			drop = -1;
	}
	for (int pass = 0; pass < 2; pass++) {
		ptr = drop >= 0 && w->apex_off;
		need = (ptr ? prefix + 2 : (size_t)ol) + 10 + rdlen;
		if (w->len + need <= (w->ancount ? w->soft : w->cap))
			break;
		if (w->ancount == 0 || (w->fd < 0 && !w->collect))
			return w->err = GN_ERANGE; /* one record larger than a message */
		if (pub_w_flush(w) < 0)
			return w->err;
		pub_w_begin(w, PUB_RC_NOERROR);
	}
	m = w->buf + 2;
	if (ptr) {
		memcpy(m + w->len, owner, prefix);
		wr16(m + w->len + prefix, (uint16_t)(0xc000 | w->apex_off));
		w->len += prefix + 2;
	} else {
		if (drop >= 0 && w->len + prefix < 0x3fff)
			w->apex_off = w->len + prefix;
		memcpy(m + w->len, owner, (size_t)ol);
		w->len += (size_t)ol;
	}
	wr16(m + w->len, type);
	wr16(m + w->len + 2, XFORM_CLASS_IN);
	wr32(m + w->len + 4, ttl);
	wr16(m + w->len + 8, rdlen);
	if (rdlen)
		memcpy(m + w->len + 10, rdata, rdlen);
	w->len += 10u + rdlen;
	w->ancount++;
	return 0;
}

static int pub_w_init(struct pub_w *w, struct pub *p, struct pub_zone *z, const struct pub_q *q,
		      struct tsig_ctx *t, int fd)
{
	memset(w, 0, sizeof(*w));
	w->p = p;
	w->q = q;
	w->apex = z->apex;
	w->apex_labels = dname_labels(z->apex);
	w->t = t;
	w->fd = fd;
	w->soft = (size_t)p->conf->msg_size;
	w->cap = PUB_MAX_MSG - PUB_TSIG_ROOM;
	if (w->soft > w->cap)
		w->soft = w->cap;
	if (!(w->buf = malloc(2 + PUB_MAX_MSG)))
		return GN_ENOMEM;
	pub_w_begin(w, PUB_RC_NOERROR);
	return 0;
}

/* ---- SOA ---------------------------------------------------------------- */

/* SOA RDATA of a stored zone; returns its length. */
static size_t pub_soa_rdata(const struct snap_zone *sz, uint8_t *out)
{
	int a = dname_wire_len(sz->mname), b = dname_wire_len(sz->rname);
	uint8_t *p = out;

	memcpy(p, sz->mname, (size_t)a);
	p += a;
	memcpy(p, sz->rname, (size_t)b);
	p += b;
	wr32(p, sz->serial);
	wr32(p + 4, sz->refresh);
	wr32(p + 8, sz->retry);
	wr32(p + 12, sz->expire);
	wr32(p + 16, sz->minimum);
	return (size_t)(p + 20 - out);
}

int pub_reply_small(struct pub *p, snap_rd *rd, struct pub_zone *z, const struct pub_q *q,
		    int rcode, bool with_soa, struct tsig_ctx *t, uint8_t *out, size_t cap,
		    size_t *len)
{
	struct pub_w w;
	struct snap_zone sz;
	uint8_t soa[2 * DNAME_MAX + 20];
	static const uint8_t root[1] = { 0 };
	int r = 0;

	memset(&w, 0, sizeof(w));
	w.p = p;
	w.q = q;
	w.apex = z ? z->apex : root;
	w.apex_labels = dname_labels(w.apex);
	w.fd = -1;
	if (cap < 1024)
		return GN_ERANGE;
	w.buf = out;          /* the writer keeps the message at buf + 2 */
	w.soft = w.cap = cap - 2 - PUB_TSIG_ROOM;
	pub_w_begin(&w, rcode);
	if (with_soa) {
		if (snap_rd_begin(rd) < 0 || (r = snap_rd_zone(rd, z->key, z->keylen, &sz)) <= 0 ||
		    !sz.has_soa) {
			snap_rd_end(rd);
			/* Configured but not in the database (yet): say so. */
			wr16(out + 2 + 2, (uint16_t)((rd16(out + 2 + 2) & ~0x040f) | PUB_RC_SERVFAIL));
			r = PUB_RC_SERVFAIL;
		} else {
			size_t n = pub_soa_rdata(&sz, soa);
			r = pub_w_rr(&w, z->apex, PUB_TYPE_SOA, sz.soa_ttl, soa, (uint16_t)n);
			snap_rd_end(rd);
			if (r < 0)
				return r;
		}
	}
	wr16(out + 2 + 6, w.ancount);
	if (t && t->key && t->error == 0)
		r = tsig_sign_reply(t, out + 2, &w.len, cap - 2, (uint64_t)time(NULL)) < 0 ? GN_ERANGE : r;
	else if (t && (t->error || t->q_key[0]) && rcode == PUB_RC_NOTAUTH)
		(void)tsig_sign_error(t, out + 2, &w.len, cap - 2, (uint64_t)time(NULL));
	memmove(out, out + 2, w.len);
	*len = w.len;
	return r < 0 ? r : r == PUB_RC_SERVFAIL ? PUB_RC_SERVFAIL : 0;
}

/* ---- ZONEMD digests --------------------------------------------------- */

bool pub_md_get(struct pub_zone *z, uint32_t serial, uint8_t d[ZONEMD_DIGEST_LEN])
{
	bool found = false;

	pthread_mutex_lock(&z->md_lock);
	for (unsigned i = 0; i < PUB_MD_HIST && !found; i++)
		if (z->md[i].valid && z->md[i].serial == serial) {
			memcpy(d, z->md[i].d, ZONEMD_DIGEST_LEN);
			found = true;
		}
	pthread_mutex_unlock(&z->md_lock);
	return found;
}

static void pub_md_put(struct pub_zone *z, uint32_t serial, const uint8_t d[ZONEMD_DIGEST_LEN])
{
	uint8_t tmp[ZONEMD_DIGEST_LEN];

	if (pub_md_get(z, serial, tmp))
		return;
	pthread_mutex_lock(&z->md_lock);
	z->md[z->md_next].serial = serial;
	z->md[z->md_next].valid = true;
	memcpy(z->md[z->md_next].d, d, ZONEMD_DIGEST_LEN);
	z->md_next = (z->md_next + 1) % PUB_MD_HIST;
	pthread_mutex_unlock(&z->md_lock);
}

/* The digest of a loaded image, from the history or computed now. */
static int pub_md_of_image(struct pub_zone *z, const struct zimg *img,
			   uint8_t d[ZONEMD_DIGEST_LEN])
{
	int r;
	if (pub_md_get(z, img->soa.serial, d))
		return 0;
	if ((r = zonemd_digest_image(img, d)) < 0) {
		log_err("publisher: zone %s: cannot compute ZONEMD: %s", z->zc->name, gn_strerror(r));
		return r;
	}
	pub_md_put(z, img->soa.serial, d);
	return 0;
}

static int pub_load(snap_rd *rd, struct pub_zone *z, struct zimg **img)
{
	int r;

	if ((r = snap_rd_begin(rd)) < 0)
		return r;
	r = snap_load_zone(rd, z->zc->name, img);
	snap_rd_end(rd);
	if (r == 0 && !(*img)->soa.present) {
		zimg_free(*img);
		*img = NULL;
		r = GN_ENOENT;
	}
	return r;
}

int pub_md_compute(struct pub *p, snap_rd *rd, struct pub_zone *z)
{
	uint8_t d[ZONEMD_DIGEST_LEN];
	struct zimg *img = NULL;
	struct snap_zone sz;
	bool known;
	int r;

	/* Cheap first: the stored serial's digest may be known already. */
	if ((r = snap_rd_begin(rd)) < 0)
		return r;
	r = snap_rd_zone(rd, z->key, z->keylen, &sz);
	known = r == 1 && pub_md_get(z, sz.serial, d);
	snap_rd_end(rd);
	if (r < 0 || known)
		return r < 0 ? r : 0;
	if ((r = pub_load(rd, z, &img)) == 0)
		r = pub_md_of_image(z, img, d);
	zimg_free(img);
	return r;
}

/* ---- AXFR --------------------------------------------------------------- */

struct pub_ax {
	struct pub_w *w;
	bool zonemd;
	uint8_t md[ZONEMD_RDATA_LEN];
	uint8_t soa[2 * DNAME_MAX + 20];
	uint16_t soa_len;
	uint32_t soa_ttl;
	bool soa_seen;
};

static int pub_ax_cb(void *arg, const struct xform_rr *rr)
{
	struct pub_ax *a = arg;
	int r = pub_w_rr(a->w, rr->owner, rr->type, rr->ttl, rr->rdata, rr->rdlen);

	if (r == 0 && !a->soa_seen && rr->type == PUB_TYPE_SOA && rr->ds == XFORM_DS_APEX) {
		/* xform_emit puts the SOA first; it also closes the transfer. */
		a->soa_seen = true;
		a->soa_ttl = rr->ttl;
		a->soa_len = rr->rdlen;
		memcpy(a->soa, rr->rdata, rr->rdlen);
		if (a->zonemd)
			r = pub_w_rr(a->w, a->w->apex, ZONEMD_TYPE, rr->ttl, a->md, ZONEMD_RDATA_LEN);
	}
	return r;
}

/* The whole zone (AXFR, or IXFR answered in full). */
static int pub_axfr(struct pub_w *w, snap_rd *rd, struct pub_zone *z)
{
	struct pub_ax a = { .w = w, .zonemd = z->zc->zonemd };
	struct zimg *img = NULL;
	uint8_t d[ZONEMD_DIGEST_LEN];
	int r;

	if ((r = pub_load(rd, z, &img)) < 0)
		goto out;
	if (a.zonemd) {
		if ((r = pub_md_of_image(z, img, d)) < 0)
			goto out;
		zonemd_rdata(img->soa.serial, d, a.md);
	}
	w->serial = img->soa.serial;
	if ((r = xform_emit(img, pub_ax_cb, &a)) != 0)
		goto out;
	if (!a.soa_seen) {
		r = GN_ECORRUPT;
		goto out;
	}
	if ((r = pub_w_rr(w, z->apex, PUB_TYPE_SOA, a.soa_ttl, a.soa, a.soa_len)) == 0)
		r = pub_w_flush(w);
out:
	zimg_free(img);
	return r;
}

/* ---- IXFR --------------------------------------------------------------- */

struct pub_ix {
	uint32_t from;          /* the client's serial */
	bool found;
	struct snap_chg *chg;   /* the changesets from `from` on, oldest first */
	size_t n, cap;
};

static int pub_ix_collect(void *arg, const struct snap_chg *c)
{
	struct pub_ix *x = arg;

	if (!x->found && c->serial_from == x->from)
		x->found = true;
	if (!x->found)
		return 0;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		struct snap_chg *n = realloc(x->chg, cap * sizeof(*n));
		if (!n)
			return GN_ENOMEM;
		x->chg = n;
		x->cap = cap;
	}
	x->chg[x->n++] = *c; /* pointers into the map: valid until snap_rd_end */
	return 0;
}

/* Write one changeset; with ZONEMD, its old and new digests follow the
 * old and new SOA (each version of the zone carries its own ZONEMD). */
static int pub_ix_chg(struct pub_w *w, struct pub_zone *z, const struct snap_chg *c,
		      const uint8_t *md_from, const uint8_t *md_to)
{
	struct snap_jrr_it it = { .p = c->recs, .end = c->recs + c->recs_len };
	struct snap_jrr rr;
	uint32_t i = 0;
	int r;

	while ((r = snap_jrr_next(&it, &rr)) == 1) {
		if ((r = pub_w_rr(w, rr.owner, rr.type, rr.ttl, rr.rdata, rr.rdlen)) < 0)
			return r;
		if (md_from && (i == 0 || i == c->n_del) && rr.type == PUB_TYPE_SOA &&
		    (r = pub_w_rr(w, z->apex, ZONEMD_TYPE, rr.ttl, i == 0 ? md_from : md_to,
				  ZONEMD_RDATA_LEN)) < 0)
			return r;
		i++;
	}
	return r < 0 ? r : 0;
}

/* IXFR from the journal.  *full is set when the journal does not reach
 * the client's serial (or a ZONEMD of the way is unknown): the caller then
 * sends the whole zone. */
static int pub_ixfr(struct pub *p, struct pub_w *w, snap_rd *rd, struct pub_zone *z, uint32_t from,
		    bool *full)
{
	struct pub_ix x = { .from = from };
	struct snap_zone sz;
	uint8_t soa[2 * DNAME_MAX + 20], (*md)[ZONEMD_RDATA_LEN] = NULL;
	size_t soa_len;
	int r;

	*full = false;
	/* The current version's digest is computed here if the poller has not
	 * yet (a client can ask within the poll interval of an import); older
	 * versions' digests exist only if this publisher saw them. */
	if (z->zc->zonemd && (r = pub_md_compute(p, rd, z)) < 0)
		return r;
	if ((r = snap_rd_begin(rd)) < 0)
		return r;
	if ((r = snap_rd_zone(rd, z->key, z->keylen, &sz)) <= 0 || !sz.has_soa) {
		r = r < 0 ? r : GN_ENOENT;
		goto out;
	}
	soa_len = pub_soa_rdata(&sz, soa);
	if (!cdb_serial_gt(sz.serial, from)) {
		/* Up to date (or ahead of us): the current SOA alone says so. */
		r = pub_w_rr(w, z->apex, PUB_TYPE_SOA, sz.soa_ttl, soa, (uint16_t)soa_len);
		if (r == 0)
			r = pub_w_flush(w);
		goto out;
	}
	if ((r = snap_journal_walk(rd, z->zc->name, pub_ix_collect, &x)) < 0)
		goto out;
	if (!x.found || x.n == 0 || x.chg[x.n - 1].serial_to != sz.serial) {
		*full = true;
		goto out;
	}
	if (z->zc->zonemd) {
		uint8_t d[ZONEMD_DIGEST_LEN];
		if (!(md = malloc((x.n + 1) * sizeof(*md)))) {
			r = GN_ENOMEM;
			goto out;
		}
		for (size_t i = 0; i <= x.n; i++) {
			uint32_t s = i < x.n ? x.chg[i].serial_from : x.chg[x.n - 1].serial_to;
			if (!pub_md_get(z, s, d)) {
				*full = true; /* that version's digest is not known here */
				goto out;
			}
			zonemd_rdata(s, d, md[i]);
		}
	}
	if ((r = pub_w_rr(w, z->apex, PUB_TYPE_SOA, sz.soa_ttl, soa, (uint16_t)soa_len)) < 0)
		goto out;
	for (size_t i = 0; i < x.n && r == 0; i++)
		r = pub_ix_chg(w, z, &x.chg[i], md ? md[i] : NULL, md ? md[i + 1] : NULL);
	if (r == 0)
		r = pub_w_rr(w, z->apex, PUB_TYPE_SOA, sz.soa_ttl, soa, (uint16_t)soa_len);
	if (r == 0)
		r = pub_w_flush(w);
out:
	snap_rd_end(rd);
	free(x.chg);
	free(md);
	return r;
}

/* ---- packed streams ----------------------------------------------------- */

int pub_stream_build(struct pub *p, snap_rd *rd, struct pub_zone *z, struct pub_stream *s)
{
	struct pub_q q = { .qtype = PUB_TYPE_AXFR, .qclass = XFORM_CLASS_IN };
	struct pub_w w;
	double t0 = pub_now();
	int r;

	q.qname_len = (size_t)dname_wire_len(z->apex);
	memcpy(q.qname, z->apex, q.qname_len);
	if ((r = pub_w_init(&w, p, z, &q, NULL, -1)) < 0)
		return r;
	w.collect = s;
	r = pub_axfr(&w, rd, z);
	s->serial = w.serial;
	free(w.buf);
	if (r == 0)
		log_info("publisher: zone %s serial %u packed for transfers: %zu message(s), %llu "
			 "octets, %.3f s", z->zc->name, s->serial, s->n,
			 (unsigned long long)s->bytes, pub_now() - t0);
	return r;
}

/* Send a packed stream as the answer to this client's query. */
static int pub_stream_send(struct pub_w *w, const struct pub_stream *s)
{
	uint8_t *m = w->buf + 2;
	int r;

	for (size_t i = 0; i < s->n; i++) {
		memcpy(m, s->msg[i], s->len[i]);
		wr16(m, w->q->id);
		m[2] = (uint8_t)(m[2] | ((w->q->flags >> 8) & 0x01)); /* RD echoed */
		if (rd16(m + 4) == 1) /* the question: AXFR, or the IXFR we answer in full */
			wr16(m + 12 + (size_t)dname_wire_len(m + 12), w->q->qtype);
		w->len = s->len[i];
		w->ancount = rd16(m + 6);
		if ((r = pub_w_flush(w)) < 0)
			return r;
	}
	return 0;
}

/* The whole zone to a client, from the shared stream. */
static int pub_full(struct pub *p, struct pub_w *w, snap_rd *rd, struct pub_zone *z)
{
	struct pub_stream *s = NULL;
	int r;

	if ((r = pub_stream_get(p, rd, z, &s)) < 0)
		return r;
	r = pub_stream_send(w, s);
	pub_stream_put(z, s);
	return r;
}

/* ---- a job -------------------------------------------------------------- */

enum pub_kind pub_xfr_serve(struct pub *p, snap_rd *rd, struct pub_job *j)
{
	struct pub_zone *z = j->z;
	struct pub_q q;
	struct pub_w w = { 0 };
	enum pub_kind kind = j->qtype == PUB_TYPE_AXFR ? PUB_K_AXFR : PUB_K_IXFR;
	double t0 = pub_now();
	bool full = false;
	int r;

	if ((r = pub_q_parse(j->query, j->query_len, &q)) < 0 ||
	    (r = pub_w_init(&w, p, z, &q, &j->tsig, j->fd)) < 0)
		goto out;
	w.deadline = t0 + (double)p->conf->max_time_s;
	if (kind == PUB_K_IXFR) {
		r = pub_ixfr(p, &w, rd, z, j->client_serial, &full);
		if (r == 0 && full) {
			kind = PUB_K_IXFR_FULL;
			log_info("publisher: IXFR of %s from %u for %s: journal does not reach back, "
				 "sending the full zone", z->zc->name, j->client_serial, j->peer);
			r = pub_full(p, &w, rd, z);
		}
	} else {
		r = pub_full(p, &w, rd, z);
	}
out:
	if (r == 0) {
		pub_count_xfr(z, kind, PUB_R_OK, w.bytes);
		log_info("publisher: %s of %s to %s: %u message(s), %llu octets, %.3f s%s%s",
			 pub_kind_name(kind), z->zc->name, j->peer, w.n_msgs,
			 (unsigned long long)w.bytes, pub_now() - t0, j->tsig.key ? ", key " : "",
			 j->tsig.key ? j->tsig.key->name : "");
	} else if (r == GN_EIO || r == GN_EBUSY || r == -ETIMEDOUT) {
		pub_count_xfr(z, kind, PUB_R_CUT, w.bytes);
		log_warn("publisher: %s of %s to %s cut after %llu octets: %s", pub_kind_name(kind),
			 z->zc->name, j->peer, (unsigned long long)w.bytes,
			 r == GN_EBUSY ? "shutting down" :
			 r == -ETIMEDOUT ? "still running after transfers.max-time-s" :
			 "client closed or stopped reading (transfers.send-timeout-ms)");
	} else {
		pub_count_xfr(z, kind, PUB_R_FAILED, w.bytes);
		log_err("publisher: %s of %s to %s failed: %s%s", pub_kind_name(kind), z->zc->name,
			j->peer, gn_strerror(r),
			r == GN_ENOENT ? " (zone not in the database, or has no SOA)" : "");
		/* Nothing sent yet: tell the client instead of a silent close. */
		if (w.buf && w.n_msgs == 0) {
			size_t len = 0;
			uint8_t buf[2 + 1024];
			if (pub_reply_small(p, rd, z, &q, PUB_RC_SERVFAIL, false, &j->tsig, buf,
					    sizeof(buf), &len) == 0) {
				memmove(buf + 2, buf, len);
				wr16(buf, (uint16_t)len);
				w.fd = j->fd;
				(void)pub_send_all(&w, buf, len + 2);
			}
		}
	}
	free(w.buf);
	return kind;
}
