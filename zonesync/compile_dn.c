/* zonesync/compile_dn.c - dnset and generic.
 *
 * dnset (observed, rbldnsd 1.0): "name" lists the name, "*.name" every name
 * below it, ".name" both; "!" excludes.  Several entries for one name all
 * answer (first-seen order, identical pairs once) and an exclusion wins, as
 * in ip4set.  Lookup: an exact entry decides; otherwise the closest ancestor
 * with a wildcard entry does (zimg.h).  A lone "*" is the literal name "*"
 * (observed), not a wildcard for the whole zone.
 *
 * generic (observed): "name [ttl] [IN] TYPE data" with TYPE A, TXT or MX
 * only (AAAA, NS, CNAME ... are rejected by rbldnsd and here).  "@" is the
 * apex, names are relative to the attachment point, values (MX target) are
 * absolute; a trailing dot changes nothing.  A TXT value is the rest of the
 * line with one pair of surrounding quotes removed; no $ substitution. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "common/err.h"
#include "zonesync/compile_int.h"

/* Relative name -> key; "@" (or empty) is the attachment point itself. */
static int cz_rel_key(const char *t, size_t n, uint8_t key[DNAME_MAX])
{
	while (n > 1 && t[n - 1] == '.')
		n--;
	if (n == 0 || (n == 1 && t[0] == '@'))
		return 0;
	return dname_text_to_key(t, n, key);
}

static int cz_dn_push(struct cz_ds *d, uint32_t koff, uint8_t klen, uint8_t wild, uint32_t rv)
{
	if (cz_grow((void **)&d->dn, &d->cap_dn, d->n_dn + 1, sizeof(*d->dn)) < 0)
		return GN_ENOMEM;
	d->dn[d->n_dn++] = (struct cz_dnent){ .koff = koff, .klen = klen, .wild = wild,
					     .rv = rv, .seq = d->seq };
	return 0;
}

int cz_dn_line(struct cz_ctx *c, struct cz_ds *d, const char *p, bool excl)
{
	const char *s = p, *why;
	uint8_t key[DNAME_MAX];
	bool exact = true, wild = false;
	uint32_t rv = CZ_EXCL, koff;
	struct cz_raw raw;
	int k, ret;

	/* observed: the name ends at a blank only ("a.com:3:x" is one name) */
	while (*p && *p != ' ' && *p != '\t')
		p++;
	size_t n = (size_t)(p - s);
	if (n >= 2 && s[0] == '*' && s[1] == '.') {
		s += 2, n -= 2;
		exact = false, wild = true;
	} else if (n >= 1 && s[0] == '.') {
		s++, n--;
		wild = true;
	}
	if (n == 0 && !wild)
		return cz_bad(c, "invalid domain name");
	k = n ? cz_rel_key(s, n, key) : 0;
	if (k < 0)
		return cz_bad(c, "invalid domain name '%.*s'", (int)n, s);
	if (!excl) {
		if (cz_parse_value(d, p, &raw, &why) < 0)
			return cz_bad(c, "%s", why);
		int64_t r = cz_raw_intern(&d->raw, &raw);
		if (r < 0)
			return (int)r;
		rv = (uint32_t)r;
	}
	if ((ret = cz_arena_put(d, key, (size_t)k, &koff)) < 0)
		return ret;
	if (exact && (ret = cz_dn_push(d, koff, (uint8_t)k, 0, rv)) < 0)
		return ret;
	if (wild && (ret = cz_dn_push(d, koff, (uint8_t)k, 1, rv)) < 0)
		return ret;
	return 0;
}

static int cz_dn_keycmp(const uint8_t *arena, const struct cz_dnent *a, const struct cz_dnent *b)
{
	size_t n = a->klen < b->klen ? a->klen : b->klen;
	int r = memcmp(arena + a->koff, arena + b->koff, n);
	if (r)
		return r;
	return a->klen < b->klen ? -1 : a->klen > b->klen;
}

static int cz_dn_cmp(const void *x, const void *y, void *arena)
{
	const struct cz_dnent *a = x, *b = y;
	int r = cz_dn_keycmp(arena, a, b);
	if (r)
		return r;
	if (a->wild != b->wild)
		return a->wild < b->wild ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Decide entries [i, j) of one (key, kind): exclusion wins, else all values. */
static int64_t cz_dn_decide(struct cz_ds *d, const struct zimg_val *vals, size_t i, size_t j,
			    uint32_t **rvs, size_t *cap)
{
	size_t m = 0;
	for (size_t k = i; k < j; k++)
		if (d->dn[k].rv == CZ_EXCL)
			return ZIMG_EXCL;
	if (cz_grow((void **)rvs, cap, j - i, sizeof(**rvs)) < 0)
		return GN_ENOMEM;
	for (size_t k = i; k < j; k++)
		(*rvs)[m++] = d->dn[k].rv;
	return cz_valset(d, vals, *rvs, (uint32_t)m);
}

int cz_dn_finish(struct cz_ctx *c, struct cz_ds *d, const struct zimg_val *vals)
{
	uint32_t *rvs = NULL;
	size_t cap = 0, n = d->n_dn;
	int ret = 0;

	(void)c;
	/* An empty dnset has d->dn == NULL, which qsort_r must not get. */
	if (n)
		qsort_r(d->dn, n, sizeof(*d->dn), cz_dn_cmp, d->arena);
	for (size_t i = 0; i < n;) {
		size_t j = i, mid;
		uint32_t vse = ZIMG_NONE, vsw = ZIMG_NONE;
		while (j < n && cz_dn_keycmp(d->arena, &d->dn[j], &d->dn[i]) == 0)
			j++;
		for (mid = i; mid < j && !d->dn[mid].wild; mid++)
			;
		if (mid > i) {
			int64_t v = cz_dn_decide(d, vals, i, mid, &rvs, &cap);
			if (v < 0 && v != (int64_t)ZIMG_EXCL) {
				ret = (int)v;
				goto out;
			}
			vse = (uint32_t)v;
		}
		if (j > mid) {
			int64_t v = cz_dn_decide(d, vals, mid, j, &rvs, &cap);
			if (v < 0) {
				ret = (int)v;
				goto out;
			}
			vsw = (uint32_t)v;
		}
		if ((ret = zimg_ds_add_dom(d->zds, d->arena + d->dn[i].koff, d->dn[i].klen, vse,
					   vsw)) < 0)
			goto out;
		i = j;
	}
out:
	free(rvs);
	return ret;
}

/* ---- generic ------------------------------------------------------------ */

static size_t cz_gtok(const char **p, const char **tok)
{
	const char *s = cz_skip_ws(*p), *e = s;
	while (*e && *e != ' ' && *e != '\t')
		e++;
	*tok = s;
	*p = e;
	return (size_t)(e - s);
}

int cz_generic_line(struct cz_ctx *c, struct cz_ds *d, const char *p)
{
	const char *t;
	size_t n;
	uint8_t key[DNAME_MAX], rd[2 + DNAME_MAX];
	uint8_t *rdata = rd;
	size_t rdlen = 0;
	uint32_t ttl = 0, koff, roff;
	uint16_t type;
	int k, ret = 0;

	n = cz_gtok(&p, &t);
	k = cz_rel_key(t, n, key);
	if (k < 0)
		return cz_bad(c, "invalid/unrecognized entry (bad name '%.*s')", (int)n, t);
	n = cz_gtok(&p, &t);
	if (n && t[0] >= '0' && t[0] <= '9') {
		if (compile_parse_time(t, n, &ttl) < 0)
			return cz_bad(c, "invalid/unrecognized entry (bad ttl '%.*s')", (int)n, t);
		n = cz_gtok(&p, &t);
	}
	if (n == 2 && strncasecmp(t, "IN", 2) == 0)
		n = cz_gtok(&p, &t);
	p = cz_skip_ws(p);
	if (n == 1 && (t[0] | 0x20) == 'a') {
		const char *v;
		size_t vn = cz_gtok(&p, &v);
		char buf[32];
		if (vn == 0 || vn >= sizeof(buf))
			return cz_bad(c, "invalid/unrecognized entry (bad A value)");
		memcpy(buf, v, vn);
		buf[vn] = 0;
		if (inet_pton(AF_INET, buf, rd) != 1)
			return cz_bad(c, "invalid/unrecognized entry (bad A value '%s')", buf);
		type = 1, rdlen = 4;
	} else if (n == 2 && strncasecmp(t, "MX", 2) == 0) {
		const char *v;
		size_t vn = cz_gtok(&p, &v);
		char *e;
		unsigned long pref = vn ? strtoul(v, &e, 10) : 0;
		if (vn == 0 || e != v + vn || pref > 65535)
			return cz_bad(c, "invalid/unrecognized entry (bad MX preference)");
		vn = cz_gtok(&p, &v);
		while (vn > 1 && v[vn - 1] == '.')
			vn--;
		int wl = vn ? dname_from_text(v, vn, rd + 2) : -1;
		if (wl < 0)
			return cz_bad(c, "invalid/unrecognized entry (bad MX host)");
		rd[0] = (uint8_t)(pref >> 8), rd[1] = (uint8_t)pref;
		type = 15, rdlen = 2 + (size_t)wl;
	} else if (n == 3 && strncasecmp(t, "TXT", 3) == 0) {
		size_t tl = strlen(p);
		while (tl && (p[tl - 1] == ' ' || p[tl - 1] == '\t' || p[tl - 1] == '\r'))
			tl--;
		if (tl && p[0] == '"') {
			p++, tl--;
			if (tl && p[tl - 1] == '"')
				tl--;
		}
		/* Kept whole (rbldnsd truncates at 255): split into strings. */
		size_t nstr = tl ? (tl + 254) / 255 : 1;
		rdlen = tl + nstr;
		if (rdlen > 65535)
			return cz_bad(c, "TXT value too long");
		rdata = malloc(rdlen);
		if (!rdata)
			return GN_ENOMEM;
		for (size_t o = 0, w = 0; w < rdlen;) {
			size_t chunk = tl - o > 255 ? 255 : tl - o;
			rdata[w++] = (uint8_t)chunk;
			memcpy(rdata + w, p + o, chunk);
			w += chunk, o += chunk;
		}
		type = 16;
	} else {
		return cz_bad(c, "invalid/unrecognized entry (type '%.*s' not supported in generic: "
			      "A, TXT, MX)", (int)n, t);
	}
	if ((ret = cz_arena_put(d, key, (size_t)k, &koff)) < 0 ||
	    (ret = cz_arena_put(d, rdata, rdlen, &roff)) < 0)
		goto out;
	if ((ret = cz_grow((void **)&d->rr, &d->cap_rr, d->n_rr + 1, sizeof(*d->rr))) < 0)
		goto out;
	d->rr[d->n_rr++] = (struct cz_rrent){ .koff = koff, .klen = (uint8_t)k, .type = type,
					     .ttl = ttl, .roff = roff, .rlen = (uint16_t)rdlen };
out:
	if (rdata != rd)
		free(rdata);
	return ret;
}

int cz_generic_finish(struct cz_ctx *c, struct cz_ds *d)
{
	(void)c;
	for (size_t i = 0; i < d->n_rr; i++) {
		const struct cz_rrent *r = &d->rr[i];
		int ret = zimg_ds_add_rr(d->zds, d->arena + r->koff, r->klen, r->type,
					 r->ttl ? r->ttl : d->zds->ttl, d->arena + r->roff, r->rlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}
