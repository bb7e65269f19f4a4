/* zonesync/xform.c - zone image -> transfer-form records (see xform.h).
 *
 * Moved here from dump.c so that the dump, the central database's diff and
 * (later) AXFR/IXFR all speak one form: if two of them disagreed, a follower
 * would serve something other than what `dump` shows the operator.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/xform.h"

#define XFORM_META_TTL 3600 /* metadata TTL when the zone has no SOA */

struct xctx {
	const struct zimg *img;
	int (*cb)(void *arg, const struct xform_rr *rr);
	void *arg;
	int32_t ds_index;
	const struct zimg_ds *ds;
	uint8_t suffix[DNAME_MAX]; /* wire of attachment point + apex */
	size_t suffix_len;
	uint8_t owner[DNAME_MAX];
	uint8_t *rd;               /* rdata scratch, 65535 octets */
};

static int x_err_range(const struct xctx *x, const char *what)
{
	log_err("zone %s: %s does not fit a DNS record (name > 255 or rdata > 65535 octets)",
		x->img->name, what);
	return GN_ERANGE;
}

static int x_put(struct xctx *x, const uint8_t *owner, size_t olen, uint16_t type, uint32_t ttl,
		 const uint8_t *rdata, size_t rdlen)
{
	struct xform_rr rr = {
		.owner = owner, .owner_len = (uint8_t)olen, .type = type,
		.rclass = XFORM_CLASS_IN, .ttl = ttl, .rdlen = (uint16_t)rdlen,
		.rdata = rdata, .ds = x->ds_index,
	};
	if (olen > DNAME_MAX || rdlen > 65535)
		return x_err_range(x, "a record");
	return x->cb(x->arg, &rr);
}

/* owner = prefix labels (no root) + current suffix */
static int x_owner(struct xctx *x, const uint8_t *pre, size_t prelen, size_t *olen)
{
	if (prelen + x->suffix_len > DNAME_MAX)
		return x_err_range(x, "an owner name");
	memmove(x->owner, pre, prelen);
	memcpy(x->owner + prelen, x->suffix, x->suffix_len);
	*olen = prelen + x->suffix_len;
	return 0;
}

/* TXT rdata: the template cut into 255-octet character-strings. */
static int x_txt_rdata(struct xctx *x, const char *t, size_t n, size_t *len)
{
	size_t o = 0, w = 0;
	do {
		size_t k = n - o > 255 ? 255 : n - o;
		if (w + 1 + k > 65535)
			return x_err_range(x, "a TXT template");
		x->rd[w++] = (uint8_t)k;
		memcpy(x->rd + w, t + o, k);
		w += k;
		o += k;
	} while (o < n);
	*len = w;
	return 0;
}

/* The A (+TXT) records of one value set at the owner in x->owner. */
static int x_vals(struct xctx *x, size_t olen, uint32_t vsid)
{
	const struct zimg_valset *vs = &x->ds->valsets[vsid];
	int r = 0;

	for (uint32_t i = 0; i < vs->count && r == 0; i++) {
		const struct zimg_val *v = &x->ds->vals[vs->first + i];
		size_t len;
		r = x_put(x, x->owner, olen, 1, x->ds->ttl, v->a, 4);
		if (r == 0 && v->has_txt && (r = x_txt_rdata(x, v->txt, v->txt_len, &len)) == 0)
			r = x_put(x, x->owner, olen, 16, x->ds->ttl, x->rd, len);
	}
	return r;
}

static int x_excl(struct xctx *x, size_t olen)
{
	return x_put(x, x->owner, olen, XFORM_TYPE_EXCL, x->ds->ttl, x->rd, 0);
}

/* Append one decimal/hex label to a wire prefix. */
static size_t x_label(uint8_t *p, size_t n, const char *fmt, unsigned v)
{
	char b[8];
	int k = snprintf(b, sizeof(b), fmt, v);
	p[n] = (uint8_t)k;
	memcpy(p + n + 1, b, (size_t)k);
	return n + 1 + (size_t)k;
}

/* IPv4: split [lo,hi] into CIDR blocks a/p; names sit at the next octet
 * boundary q >= p: one wildcard per /q when q < 32, else the address. */
static int x_ip4(struct xctx *x, const struct zimg_ip4 *e)
{
	uint64_t a = e->lo;
	uint8_t pre[32];
	int r = 0;

	while (a <= e->hi && r == 0) {
		int p = 32;
		while (p > 0) {
			uint64_t size = 1ULL << (33 - p);
			if ((a & (size - 1)) || a + size - 1 > e->hi)
				break;
			p--;
		}
		int q = (p + 7) / 8 * 8;
		uint64_t step = 1ULL << (32 - q), end = a + (1ULL << (32 - p));
		for (uint64_t b = a; b < end && r == 0; b += step) {
			uint32_t v = (uint32_t)b;
			size_t n = 0, olen;
			if (q < 32) {
				pre[0] = 1;
				pre[1] = '*';
				n = 2;
			}
			for (int o = q / 8; o >= 1; o--)
				n = x_label(pre, n, "%u", (v >> (32 - 8 * o)) & 255);
			if ((r = x_owner(x, pre, n, &olen)) == 0)
				r = x_vals(x, olen, e->vs);
		}
		a = end;
	}
	return r;
}

static void ip6_add(uint8_t a[16], int bit_from_msb)
{
	/* a += 2^(127 - bit_from_msb) */
	int byte = bit_from_msb / 8, bit = 7 - bit_from_msb % 8;
	unsigned carry = 1u << bit;
	for (int i = byte; i >= 0 && carry; i--) {
		unsigned s = a[i] + carry;
		a[i] = (uint8_t)s;
		carry = s >> 8;
	}
}

static int ip6_aligned(const uint8_t a[16], int p) /* a has zero bits after p */
{
	for (int b = p; b < 128; b++)
		if (a[b / 8] & (0x80 >> (b % 8)))
			return 0;
	return 1;
}

static void ip6_last(const uint8_t a[16], int p, uint8_t last[16])
{
	memcpy(last, a, 16);
	for (int b = p; b < 128; b++)
		last[b / 8] |= (uint8_t)(0x80 >> (b % 8));
}

/* IPv6: as IPv4 with nibbles. */
static int x_ip6(struct xctx *x, const struct zimg_ip6 *e)
{
	uint8_t a[16], b[16], last[16], pre[80];
	int r = 0, done = 0;

	memcpy(a, e->lo, 16);
	while (!done && r == 0) {
		int p = 128;
		while (p > 0 && ip6_aligned(a, p - 1)) {
			ip6_last(a, p - 1, last);
			if (memcmp(last, e->hi, 16) > 0)
				break;
			p--;
		}
		int q = (p + 3) / 4 * 4;
		memcpy(b, a, 16);
		for (int i = 0; i < (1 << (q - p)) && r == 0; i++) {
			size_t n = 0, olen;
			if (q < 128) {
				pre[0] = 1;
				pre[1] = '*';
				n = 2;
			}
			for (int nib = q / 4 - 1; nib >= 0; nib--)
				n = x_label(pre, n, "%x", (b[nib / 2] >> (nib % 2 ? 0 : 4)) & 15);
			if ((r = x_owner(x, pre, n, &olen)) == 0)
				r = x_vals(x, olen, e->vs);
			if (q > 0)
				ip6_add(b, q - 1);
		}
		ip6_last(a, p, last);
		if (memcmp(last, e->hi, 16) >= 0) {
			done = 1;
		} else {
			memcpy(a, last, 16);
			ip6_add(a, 127);
		}
	}
	return r;
}

/* Relative key -> wire labels without the root octet, optionally after a
 * "*" label. */
static int x_rel(struct xctx *x, const uint8_t *key, size_t kl, int wild, uint8_t *pre,
		 size_t *n)
{
	uint8_t w[DNAME_MAX];
	int wl = dname_key_to_wire(key, kl, w);
	size_t o = 0;

	if (wl < 1 || (size_t)wl + 2 > DNAME_MAX + 1)
		return x_err_range(x, "a dataset name");
	if (wild) {
		pre[0] = 1;
		pre[1] = '*';
		o = 2;
	}
	memcpy(pre + o, w, (size_t)wl - 1);
	*n = o + (size_t)wl - 1;
	return 0;
}

static int x_dom(struct xctx *x, const struct zimg_dom *d)
{
	uint8_t pre[DNAME_MAX + 2];
	size_t n, olen;
	int r = 0;

	if (d->vs_exact != ZIMG_NONE) {
		if ((r = x_rel(x, d->key, d->keylen, 0, pre, &n)) < 0 ||
		    (r = x_owner(x, pre, n, &olen)) < 0)
			return r;
		r = d->vs_exact == ZIMG_EXCL ? x_excl(x, olen) : x_vals(x, olen, d->vs_exact);
	}
	if (r == 0 && d->vs_wild != ZIMG_NONE) {
		if ((r = x_rel(x, d->key, d->keylen, 1, pre, &n)) < 0 ||
		    (r = x_owner(x, pre, n, &olen)) < 0)
			return r;
		r = d->vs_wild == ZIMG_EXCL ? x_excl(x, olen) : x_vals(x, olen, d->vs_wild);
	}
	return r;
}

static int x_rr(struct xctx *x, const struct zimg_rr *rr)
{
	uint8_t pre[DNAME_MAX + 2];
	size_t n, olen;
	int r;

	if ((r = x_rel(x, rr->key, rr->keylen, 0, pre, &n)) < 0 ||
	    (r = x_owner(x, pre, n, &olen)) < 0)
		return r;
	return x_put(x, x->owner, olen, rr->type, rr->ttl, rr->rdata, rr->rdlen);
}

/* Point x->suffix at attachment `sub` (relative key) of the zone. */
static int x_suffix(struct xctx *x, const uint8_t *sub, size_t sl)
{
	uint8_t key[DNAME_MAX + 1];
	int wl;

	if ((size_t)x->img->keylen + sl > DNAME_MAX)
		return x_err_range(x, "an attachment point");
	memcpy(key, x->img->key, x->img->keylen);
	memcpy(key + x->img->keylen, sub, sl);
	if ((wl = dname_key_to_wire(key, x->img->keylen + sl, x->suffix)) < 1)
		return x_err_range(x, "an attachment point");
	x->suffix_len = (size_t)wl;
	return 0;
}

static int x_ds(struct xctx *x)
{
	const struct zimg_ds *ds = x->ds;
	int r = 0;

	for (uint32_t s = 0; s < ds->n_subs && r == 0; s++) {
		if ((r = x_suffix(x, ds->subs[s], ds->sub_lens[s])) < 0)
			return r;
		for (size_t i = 0; i < ds->n_ip4 && r == 0; i++)
			r = x_ip4(x, &ds->ip4[i]);
		for (size_t i = 0; i < ds->n_ip6 && r == 0; i++)
			r = x_ip6(x, &ds->ip6[i]);
		for (size_t i = 0; i < ds->n_dom && r == 0; i++)
			r = x_dom(x, &ds->dom[i]);
		for (size_t i = 0; i < ds->n_rr && r == 0; i++)
			r = x_rr(x, &ds->rr[i]);
	}
	return r;
}

/* Append one character-string to the rdata scratch; `trunc` cuts long
 * strings (labels are informational) instead of failing. */
static int meta_str(struct xctx *x, size_t *len, int trunc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int meta_str(struct xctx *x, size_t *len, int trunc, const char *fmt, ...)
{
	char b[1100];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (n < 0)
		return GN_EINVAL;
	if (n > 255) {
		if (!trunc)
			return x_err_range(x, "a metadata string");
		n = 255;
	}
	x->rd[(*len)++] = (uint8_t)n;
	memcpy(x->rd + *len, b, (size_t)n);
	*len += (size_t)n;
	return 0;
}

/* The dataset label without directories ("ip4set:/srv/a.txt,/srv/b.txt"
 * -> "ip4set:a.txt,b.txt"): the label travels in the metadata, and running
 * the same import from another directory must not look like a change. */
static void meta_label(const char *label, char *out, size_t cap)
{
	size_t o = 0, comp = 0;
	for (const char *p = label ? label : ""; *p && o + 1 < cap; p++) {
		if (*p == '/') {
			o = comp;
			continue;
		}
		out[o++] = *p;
		if (*p == ':' || *p == ',')
			comp = o;
	}
	out[o] = 0;
}

static int x_meta(struct xctx *x, uint32_t ttl)
{
	const struct zimg *img = x->img;
	uint8_t pre[16] = "\7" XFORM_META_LABEL;
	size_t olen, len = 0;
	int r;

	if ((r = x_suffix(x, (const uint8_t *)"", 0)) < 0 || (r = x_owner(x, pre, 8, &olen)) < 0)
		return r;
	x->ds_index = XFORM_DS_META;
	if ((r = meta_str(x, &len, 0, "v=%d", XFORM_VERSION)) < 0 ||
	    (r = meta_str(x, &len, 0, "zone")) < 0 ||
	    (r = meta_str(x, &len, 0, "datasets=%u", img->n_ds)) < 0)
		return r;
	/* $TIMESTAMP expiry changes what nodes may serve, so it travels;
	 * the generation time alone does not, so it would only churn serials. */
	if (img->ts_expires && (r = meta_str(x, &len, 0, "expires=%lld",
					      (long long)img->ts_expires)) < 0)
		return r;
	if ((r = x_put(x, x->owner, olen, 16, ttl, x->rd, len)) != 0)
		return r;
	for (uint32_t i = 0; i < img->n_ds; i++) {
		const struct zimg_ds *ds = img->ds[i];
		len = 0;
		if ((r = meta_str(x, &len, 0, "v=%d", XFORM_VERSION)) < 0 ||
		    (r = meta_str(x, &len, 0, "ds=%u", i)) < 0 ||
		    (r = meta_str(x, &len, 0, "type=%s", zimg_dstype_name(ds->type))) < 0 ||
		    (r = meta_str(x, &len, 0, "ttl=%u", ds->ttl)) < 0)
			return r;
		for (uint32_t s = 0; s < ds->n_subs; s++) {
			uint8_t w[DNAME_MAX];
			char t[DNAME_TEXT_MAX];
			if (ds->sub_lens[s] == 0) {
				strcpy(t, "@");
			} else if (dname_key_to_wire(ds->subs[s], ds->sub_lens[s], w) < 0 ||
				   dname_to_text(w, t, sizeof(t)) < 0) {
				return x_err_range(x, "an attachment point");
			}
			if ((r = meta_str(x, &len, 0, "sub=%s", t)) < 0)
				return r;
		}
		char label[256];
		meta_label(ds->label, label, sizeof(label));
		if ((r = meta_str(x, &len, 1, "label=%s", label)) < 0 ||
		    (r = x_put(x, x->owner, olen, 16, ttl, x->rd, len)) != 0)
			return r;
	}
	return 0;
}

static int x_apex(struct xctx *x)
{
	const struct zimg *img = x->img;
	int r;

	if ((r = x_suffix(x, (const uint8_t *)"", 0)) < 0)
		return r;
	x->ds_index = XFORM_DS_APEX;
	if (img->soa.present) {
		int ml = dname_wire_len(img->soa.mname), rl = dname_wire_len(img->soa.rname);
		size_t n = 0;
		if (ml < 1 || rl < 1)
			return x_err_range(x, "the SOA");
		memcpy(x->rd, img->soa.mname, (size_t)ml);
		n = (size_t)ml;
		memcpy(x->rd + n, img->soa.rname, (size_t)rl);
		n += (size_t)rl;
		const uint32_t v[5] = { img->soa.serial, img->soa.refresh, img->soa.retry,
					img->soa.expire, img->soa.minimum };
		for (int i = 0; i < 5; i++, n += 4) {
			x->rd[n] = (uint8_t)(v[i] >> 24);
			x->rd[n + 1] = (uint8_t)(v[i] >> 16);
			x->rd[n + 2] = (uint8_t)(v[i] >> 8);
			x->rd[n + 3] = (uint8_t)v[i];
		}
		if ((r = x_put(x, x->suffix, x->suffix_len, 6, img->soa.ttl, x->rd, n)) != 0)
			return r;
	}
	for (uint32_t i = 0; i < img->n_ns; i++) {
		int nl = dname_wire_len(img->ns[i]);
		if (nl < 1)
			return x_err_range(x, "an NS name");
		if ((r = x_put(x, x->suffix, x->suffix_len, 2, img->ns_ttl, img->ns[i],
			       (size_t)nl)) != 0)
			return r;
	}
	return 0;
}

int xform_emit(const struct zimg *img, int (*cb)(void *arg, const struct xform_rr *rr),
	       void *arg)
{
	struct xctx x = { .img = img, .cb = cb, .arg = arg };
	int ret;

	if (!(x.rd = malloc(65536)))
		return GN_ENOMEM;
	if ((ret = x_apex(&x)) != 0 ||
	    (ret = x_meta(&x, img->soa.present ? img->soa.ttl : XFORM_META_TTL)) != 0)
		goto out;
	for (uint32_t i = 0; i < img->n_ds; i++) {
		x.ds_index = (int32_t)i;
		x.ds = img->ds[i];
		if ((ret = x_ds(&x)) != 0)
			goto out;
	}
out:
	free(x.rd);
	return ret;
}

/* Offsets of the labels of a wire name; returns the label count. */
static int name_labels(const uint8_t *w, const uint8_t *lab[128])
{
	int n = 0;
	while (*w && n < 128) {
		lab[n++] = w;
		w += *w + 1;
	}
	return n;
}

int xform_name_cmp(const uint8_t *a, const uint8_t *b)
{
	const uint8_t *la[128], *lb[128];
	int na = name_labels(a, la), nb = name_labels(b, lb);

	for (int i = na - 1, j = nb - 1; i >= 0 && j >= 0; i--, j--) {
		unsigned x = la[i][0], y = lb[j][0];
		for (unsigned k = 0; k < x && k < y; k++) {
			uint8_t p = dname_lower(la[i][1 + k]), q = dname_lower(lb[j][1 + k]);
			if (p != q)
				return p < q ? -1 : 1;
		}
		if (x != y)
			return x < y ? -1 : 1;
	}
	return na < nb ? -1 : na > nb;
}

int xform_rr_cmp(const struct xform_rr *a, const struct xform_rr *b)
{
	int c = xform_name_cmp(a->owner, b->owner);
	if (c)
		return c;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	c = memcmp(a->rdata, b->rdata, a->rdlen < b->rdlen ? a->rdlen : b->rdlen);
	if (c)
		return c;
	if (a->rdlen != b->rdlen)
		return a->rdlen < b->rdlen ? -1 : 1;
	return a->ttl < b->ttl ? -1 : a->ttl > b->ttl;
}
