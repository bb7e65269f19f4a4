/* zonesync/compile_special.c - rbldnsd's "$" specials and time values.
 *
 * $SOA and $NS are zone-wide (the first one in spec/file order wins, later
 * ones are ignored silently, as rbldnsd does); $TTL, $MAXRANGE4, $n and $=
 * belong to the dataset or combined section the line is in; $TIMESTAMP
 * marks the zone and refuses data stamped in the future. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/compile_int.h"

int compile_parse_time(const char *s, size_t len, uint32_t *out)
{
	uint64_t total = 0;
	size_t i = 0;

	if (len == 0)
		return GN_EINVAL;
	while (i < len) {
		uint64_t v = 0;
		size_t st = i;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			v = v * 10 + (uint64_t)(s[i++] - '0');
			if (v > UINT32_MAX)
				return GN_EINVAL;
		}
		if (i == st)
			return GN_EINVAL;
		uint64_t mul = 1;
		if (i < len) {
			switch (s[i] | 0x20) {
			case 's': mul = 1; break;
			case 'm': mul = 60; break;
			case 'h': mul = 3600; break;
			case 'd': mul = 86400; break;
			case 'w': mul = 604800; break;
			default: return GN_EINVAL;
			}
			i++;
		}
		total += v * mul;
		if (total > UINT32_MAX)
			return GN_EINVAL;
	}
	*out = (uint32_t)total;
	return 0;
}

/* Next blank-separated token: *p advanced, returns its length (0 at end). */
size_t cz_tok(const char **p, const char **tok)
{
	const char *s = cz_skip_ws(*p), *e = s;
	while (*e && *e != ' ' && *e != '\t' && *e != '\r' && *e != '\n')
		e++;
	*tok = s;
	*p = e;
	return (size_t)(e - s);
}

/* An absolute name in a value ($SOA, $NS, MX): trailing dot optional. */
int cz_name_wire(const char *t, size_t n, uint8_t wire[DNAME_MAX])
{
	while (n > 1 && t[n - 1] == '.')
		n--;
	return dname_from_text(t, n, wire);
}

static int cz_soa(struct cz_ctx *c, const struct cz_scope *sc, const char *p)
{
	struct zimg_soa *s = &c->img->soa;
	const char *t;
	size_t n;
	uint32_t v[7];

	if (c->soa_done || c->img->soa.present)
		return 0; /* rbldnsd: the first $SOA of the zone wins, silently */
	for (int i = 0; i < 7; i++) {
		static const int field[7] = { 0, -1, -2, 3, 4, 5, 6 };
		n = cz_tok(&p, &t);
		if (n == 0)
			return cz_bad(c, "$SOA needs: ttl origin person serial refresh retry expire minttl");
		if (field[i] == -1 || field[i] == -2) {
			uint8_t *w = field[i] == -1 ? s->mname : s->rname;
			if (cz_name_wire(t, n, w) < 0)
				return cz_bad(c, "$SOA: bad domain name '%.*s'", (int)n, t);
			v[i] = 0;
		} else if (i == 3) {
			char *e;
			unsigned long long x = strtoull(t, &e, 10);
			if (e != t + n || x > UINT32_MAX)
				return cz_bad(c, "$SOA: bad serial '%.*s'", (int)n, t);
			v[i] = (uint32_t)x;
		} else if (compile_parse_time(t, n, &v[i]) < 0) {
			return cz_bad(c, "$SOA: bad time value '%.*s'", (int)n, t);
		}
	}
	n = cz_tok(&p, &t);
	if (n == 0 || compile_parse_time(t, n, &s->minimum) < 0)
		return cz_bad(c, "$SOA: bad or missing minttl");
	/* observed: ttl 0 takes the $TTL in force at this line, else the default */
	s->ttl = v[0] ? v[0] : sc->has_ttl ? sc->ttl : c->default_ttl;
	s->serial = v[3];
	s->refresh = v[4];
	s->retry = v[5];
	s->expire = v[6];
	s->present = true;
	c->soa_done = true;
	return 0;
}

static int cz_ns(struct cz_ctx *c, const struct cz_scope *sc, const char *p)
{
	struct zimg *img = c->img;
	const char *t;
	size_t n;
	uint32_t ttl;

	if (c->ns_done)
		return 0; /* the first $NS line of the zone wins */
	n = cz_tok(&p, &t);
	if (n == 0 || compile_parse_time(t, n, &ttl) < 0)
		return cz_bad(c, "$NS: bad ttl '%.*s'", (int)n, t);
	img->n_ns = 0;
	while ((n = cz_tok(&p, &t)) > 0) {
		if (t[0] == '-')
			continue; /* "-name": commented out */
		if (img->n_ns == ZIMG_MAX_NS)
			break;  /* rbldnsd keeps the first 32 */
		if (cz_name_wire(t, n, img->ns[img->n_ns]) < 0)
			return cz_bad(c, "$NS: bad domain name '%.*s'", (int)n, t);
		img->n_ns++;
	}
	img->ns_ttl = ttl ? ttl : sc->has_ttl ? sc->ttl : c->default_ttl;
	c->ns_done = true;
	return 0;
}

/* yyyy[:]mm[:]dd[[:]hh[[:]mi[[:]ss]]] with ':' or '-' delimiters. */
static int cz_stamp(const char *t, size_t n, int64_t *out)
{
	int f[6] = { 0, 0, 0, 0, 0, 0 }, nf = 0;
	static const int width[6] = { 4, 2, 2, 2, 2, 2 };
	size_t i = 0;

	while (i < n && nf < 6) {
		int digits = 0, v = 0;
		while (i < n && t[i] >= '0' && t[i] <= '9' && digits < width[nf]) {
			v = v * 10 + (t[i++] - '0');
			digits++;
		}
		if (digits == 0)
			return GN_EINVAL;
		f[nf++] = v;
		if (i < n && (t[i] == ':' || t[i] == '-'))
			i++;
	}
	if (i != n || nf < 3 || f[0] < 1970 || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 ||
	    f[3] > 23 || f[4] > 59 || f[5] > 59)
		return GN_EINVAL;
	struct tm tm = { .tm_year = f[0] - 1900, .tm_mon = f[1] - 1, .tm_mday = f[2],
			 .tm_hour = f[3], .tm_min = f[4], .tm_sec = f[5] };
	*out = (int64_t)timegm(&tm);
	return 0;
}

static int cz_timestamp(struct cz_ctx *c, const char *p)
{
	struct zimg *img = c->img;
	const char *t;
	size_t n = cz_tok(&p, &t);
	int64_t dstamp = 0, exp = 0;

	if (n == 0)
		return cz_bad(c, "$TIMESTAMP needs a data timestamp");
	if (!(n == 1 && (t[0] == '0' || t[0] == '-')) && cz_stamp(t, n, &dstamp) < 0)
		return cz_bad(c, "$TIMESTAMP: bad timestamp '%.*s'", (int)n, t);
	n = cz_tok(&p, &t);
	if (n && !(n == 1 && (t[0] == '0' || t[0] == '-'))) {
		if (t[0] == '+') {
			uint32_t rel;
			if (!dstamp || compile_parse_time(t + 1, n - 1, &rel) < 0)
				return cz_bad(c, "$TIMESTAMP: bad relative expiry '%.*s'", (int)n, t);
			exp = dstamp + rel;
		} else if (cz_stamp(t, n, &exp) < 0) {
			return cz_bad(c, "$TIMESTAMP: bad expiry '%.*s'", (int)n, t);
		}
	}
	if (dstamp) {
		int64_t now = (int64_t)time(NULL);
		if (dstamp > now) {
			/* rbldnsd refuses to load such data: so do we, whatever -s */
			log_err("%s:%zu: data timestamp is %lld s in the future; zone %s not loaded",
				c->file, c->line, (long long)(dstamp - now), img->name);
			c->fatal = GN_EPARSE;
			return GN_EPARSE;
		}
		if (dstamp > img->ts_generated)
			img->ts_generated = dstamp;
	}
	/* observed: with several $TIMESTAMP lines the earliest expiry applies */
	if (exp && (!img->ts_expires || exp < img->ts_expires))
		img->ts_expires = exp;
	return 0;
}

static int cz_maxrange(struct cz_ctx *c, struct cz_scope *sc, const char *p)
{
	const char *t;
	size_t n = cz_tok(&p, &t);
	unsigned long long v;
	char *e;

	if (n == 0)
		return cz_bad(c, "$MAXRANGE4 needs a size");
	if (t[0] == '/') {
		unsigned long len = strtoul(t + 1, &e, 10);
		if (e != t + n || n == 1 || len > 32)
			return cz_bad(c, "$MAXRANGE4: bad prefix length '%.*s'", (int)n, t);
		v = 1ull << (32 - len);
	} else {
		v = strtoull(t, &e, 10);
		if (e != t + n || v == 0)
			return cz_bad(c, "$MAXRANGE4: bad size '%.*s'", (int)n, t);
	}
	if (v > UINT32_MAX)
		v = UINT32_MAX;
	if (sc->maxrange4 && v > sc->maxrange4)
		return cz_bad(c, "ignoring attempt to increase $MAXRANGE4 from %u to %llu",
			      sc->maxrange4, v);
	sc->maxrange4 = (uint32_t)v;
	return 0;
}

static char *cz_rest(const char *p)
{
	p = cz_skip_ws(p);
	size_t n = strlen(p);
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
		n--;
	return strndup(p, n);
}

/* Specials common to all datasets.  `sc` is the scope the line belongs to
 * (a dataset, or a combined file's common section). */
int cz_special(struct cz_ctx *c, struct cz_ds *d, struct cz_scope *sc, const char *p)
{
	const char *kw;
	size_t n = cz_tok(&p, &kw);

	if (n == 3 && memcmp(kw, "SOA", 3) == 0)
		return cz_soa(c, sc, p); /* sc, not d: d is NULL in a combined common section */
	if (n == 2 && memcmp(kw, "NS", 2) == 0)
		return cz_ns(c, sc, p);
	if (n == 3 && memcmp(kw, "TTL", 3) == 0) {
		const char *t;
		size_t tn = cz_tok(&p, &t);
		if (tn == 0 || compile_parse_time(t, tn, &sc->ttl) < 0)
			return cz_bad(c, "$TTL: bad time value '%.*s'", (int)tn, t);
		sc->has_ttl = true; /* observed: the last $TTL applies to the whole dataset */
		return 0;
	}
	if (n == 9 && memcmp(kw, "TIMESTAMP", 9) == 0)
		return cz_timestamp(c, p);
	if (n == 9 && memcmp(kw, "MAXRANGE4", 9) == 0)
		return cz_maxrange(c, sc, p);
	if (n == 1 && kw[0] >= '0' && kw[0] <= '9') {
		int k = kw[0] - '0';
		if (d && d->type == ZDS_GENERIC)
			return 0; /* rbldnsd ignores $n in generic */
		if (sc->var[k])
			return 0; /* observed: the first definition wins */
		if (!(sc->var[k] = cz_rest(p)))
			return GN_ENOMEM;
		return 0;
	}
	if (n == 1 && kw[0] == '=') {
		if (sc->base)
			return 0;
		if (!(sc->base = cz_rest(p)))
			return GN_ENOMEM;
		return 0;
	}
	return cz_bad(c, "invalid or unrecognized special entry '$%.*s'", (int)n, kw);
}

