/* zonesync/compile_val.c - rbldnsd A values, TXT templates and value sets.
 *
 * Values are kept RAW while a dataset is read and expanded once at its end,
 * because rbldnsd resolves $n and $= at answer time: a variable defined
 * after an entry still applies, and the first definition wins.  Expansion
 * leaves only the stored-template escapes of zimg.h: "$" = subject, "$$" =
 * literal '$'.  Everything rbldnsd would print literally (variable contents,
 * the entry text put into $=, an undefined "$7") is escaped here. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "zonesync/compile_int.h"

int cz_parse_a(const char *s, size_t len, uint8_t a[4])
{
	char buf[32];
	struct in_addr in;
	size_t i;

	if (len == 0 || len >= sizeof(buf))
		return GN_EINVAL;
	memcpy(buf, s, len);
	buf[len] = 0;
	for (i = 0; i < len; i++)
		if (buf[i] != '.' && (buf[i] < '0' || buf[i] > '9'))
			return GN_EINVAL;
	if (!strchr(buf, '.')) {
		/* observed: ":2:" means 127.0.0.2 */
		unsigned long v = strtoul(buf, NULL, 10);
		if (v == 0 || v > 255)
			return GN_EINVAL;
		a[0] = 127, a[1] = 0, a[2] = 0, a[3] = (uint8_t)v;
		return 0;
	}
	/* observed: "1.2" is 1.0.0.2 and "1.2.3" is 1.2.0.3 (inet_aton forms) */
	if (inet_aton(buf, &in) == 0 || in.s_addr == 0)
		return GN_EINVAL;
	memcpy(a, &in.s_addr, 4);
	return 0;
}

static size_t cz_trim_len(const char *p)
{
	size_t n = strlen(p);
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
		n--;
	return n;
}

static void cz_set_txt(struct cz_raw *out, const char *t, size_t n)
{
	if (n && t[0] == '=') {
		out->kind = CZ_TXT_EQ;
		t++, n--;
	} else {
		out->kind = n ? CZ_TXT_TMPL : CZ_TXT_NONE;
	}
	out->txt = (char *)t; /* borrowed until interned */
	out->len = (uint32_t)n;
}

/* ":A[:TXT]" at p.  Without the second colon the TXT comes from `def`. */
static int cz_parse_colon(const struct cz_raw *def, const char *p, struct cz_raw *out,
			  const char **why)
{
	const char *a = p + 1, *colon = strchr(a, ':');
	size_t alen = colon ? (size_t)(colon - a) : cz_trim_len(a);

	if (cz_parse_a(a, alen, out->a) < 0) {
		*why = "invalid A value";
		return GN_EINVAL;
	}
	if (!colon) {
		out->kind = def ? def->kind : CZ_TXT_NONE;
		out->txt = def ? def->txt : NULL;
		out->len = def ? def->len : 0;
		return 0;
	}
	const char *t = cz_skip_ws(colon + 1);
	cz_set_txt(out, t, cz_trim_len(t));
	if (out->kind == CZ_TXT_NONE)
		out->txt = NULL;
	return 0;
}

int cz_parse_value(struct cz_ds *d, const char *p, struct cz_raw *out, const char **why)
{
	const struct cz_raw *def = d->has_def ? &d->def : NULL;
	static const uint8_t a_default[4] = { 127, 0, 0, 2 };

	memset(out, 0, sizeof(*out));
	p = cz_skip_ws(p);
	if (*p == ':')
		return cz_parse_colon(def, p, out, why);
	if (*p == 0 || *p == '#' || *p == ';' || *p == '\r' || *p == '\n') {
		if (def) {
			*out = *def;
		} else {
			memcpy(out->a, a_default, 4);
			out->kind = CZ_TXT_NONE;
		}
		return 0;
	}
	/* bare text: TXT template with the scope's default A */
	memcpy(out->a, def ? def->a : a_default, 4);
	cz_set_txt(out, p, cz_trim_len(p));
	return 0;
}

int cz_parse_default(struct cz_ds *d, const char *p, struct cz_raw *out, const char **why)
{
	/* observed: a default line ":5" (no second colon) has no TXT; it does
	 * not inherit the previous default's */
	(void)d;
	memset(out, 0, sizeof(*out));
	return cz_parse_colon(NULL, p, out, why);
}

/* ---- raw value table ---------------------------------------------------- */

static uint64_t cz_raw_hash(const struct cz_raw *r)
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < 4; i++)
		h = (h ^ r->a[i]) * 1099511628211ull;
	h = (h ^ r->kind) * 1099511628211ull;
	for (uint32_t i = 0; i < r->len; i++)
		h = (h ^ (uint8_t)r->txt[i]) * 1099511628211ull;
	return h ^ (h >> 31);
}

static bool cz_raw_eq(const struct cz_raw *x, const struct cz_raw *y)
{
	return memcmp(x->a, y->a, 4) == 0 && x->kind == y->kind && x->len == y->len &&
	       (x->len == 0 || memcmp(x->txt, y->txt, x->len) == 0);
}

static int cz_rawtab_rehash(struct cz_rawtab *t)
{
	uint32_t ncap = t->scap ? t->scap * 2 : 64;
	uint32_t *ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return GN_ENOMEM;
	for (uint32_t i = 0; i < t->n; i++) {
		uint32_t j = (uint32_t)cz_raw_hash(&t->v[i]) & (ncap - 1);
		while (ns[j])
			j = (j + 1) & (ncap - 1);
		ns[j] = i + 1;
	}
	free(t->slot);
	t->slot = ns;
	t->scap = ncap;
	return 0;
}

int64_t cz_raw_intern(struct cz_rawtab *t, const struct cz_raw *r)
{
	int ret;
	if ((t->n + 1) * 2 > t->scap && (ret = cz_rawtab_rehash(t)) < 0)
		return ret;
	uint32_t j = (uint32_t)cz_raw_hash(r) & (t->scap - 1);
	while (t->slot[j]) {
		if (cz_raw_eq(&t->v[t->slot[j] - 1], r))
			return t->slot[j] - 1;
		j = (j + 1) & (t->scap - 1);
	}
	if (t->n == t->cap) {
		uint32_t ncap = t->cap ? t->cap * 2 : 16;
		struct cz_raw *nv = realloc(t->v, ncap * sizeof(*nv));
		if (!nv)
			return GN_ENOMEM;
		t->v = nv;
		t->cap = ncap;
	}
	struct cz_raw *d = &t->v[t->n];
	*d = *r;
	d->txt = NULL;
	if (r->len) {
		d->txt = malloc(r->len);
		if (!d->txt)
			return GN_ENOMEM;
		memcpy(d->txt, r->txt, r->len);
	}
	t->slot[j] = ++t->n;
	return t->n - 1;
}

void cz_rawtab_free(struct cz_rawtab *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		free(t->v[i].txt);
	free(t->v);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

/* ---- template expansion ------------------------------------------------- */

struct cz_buf { char *p; size_t n, cap; int err; };

static void cz_put(struct cz_buf *b, const char *s, size_t n)
{
	if (b->err || n == 0)
		return;
	if (b->n + n > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 128;
		while (nc < b->n + n)
			nc *= 2;
		char *np = realloc(b->p, nc);
		if (!np) {
			b->err = GN_ENOMEM;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

/* Literal text: every '$' doubled so the answer prints it as is. */
static void cz_put_lit(struct cz_buf *b, const char *s, size_t n)
{
	size_t i = 0, st = 0;
	for (; i < n; i++)
		if (s[i] == '$') {
			cz_put(b, s + st, i + 1 - st);
			cz_put(b, "$", 1);
			st = i + 1;
		}
	cz_put(b, s + st, n - st);
}

/* observed: in combined, the common section's definition beats the
 * section's own (first definition wins, and the common section comes first) */
static const char *cz_var(const struct cz_ds *d, int k)
{
	if (d->parent && d->parent->var[k])
		return d->parent->var[k];
	return d->sc.var[k];
}

/* Expand template t; "$=" becomes `eq` (literal) or the subject when eq is
 * NULL. */
static void cz_tmpl(const struct cz_ds *d, struct cz_buf *b, const char *t, size_t n,
		    const char *eq, size_t eqlen)
{
	for (size_t i = 0; i < n; i++) {
		if (t[i] != '$') {
			cz_put(b, t + i, 1);
			continue;
		}
		char nx = i + 1 < n ? t[i + 1] : 0;
		if (nx == '$') {
			cz_put(b, "$$", 2);
			i++;
		} else if (nx >= '0' && nx <= '9') {
			const char *v = cz_var(d, nx - '0');
			if (v)
				cz_put_lit(b, v, strlen(v));
			else
				cz_put(b, "$$", 2), cz_put(b, &nx, 1); /* observed: kept as is */
			i++;
		} else if (nx == '=') {
			if (eq)
				cz_put_lit(b, eq, eqlen);
			else
				cz_put(b, "$", 1);
			i++;
		} else {
			cz_put(b, "$", 1);
		}
	}
}

int cz_expand(const struct cz_ds *d, const struct cz_raw *r, struct zimg_val *out)
{
	const char *base = d->parent && d->parent->base ? d->parent->base : d->sc.base;
	struct cz_buf b = { 0 };

	memset(out, 0, sizeof(*out));
	memcpy(out->a, r->a, 4);
	if (r->kind == CZ_TXT_EQ) {
		if (r->len == 0)
			return 0; /* observed: a lone "=" gives no TXT at all */
		cz_tmpl(d, &b, r->txt, r->len, r->txt, r->len);
	} else if (base) {
		/* observed: with $= set even an entry without TXT answers TXT */
		if (r->kind == CZ_TXT_TMPL)
			cz_tmpl(d, &b, base, strlen(base), r->txt, r->len);
		else
			cz_tmpl(d, &b, base, strlen(base), NULL, 0);
	} else if (r->kind == CZ_TXT_TMPL) {
		cz_tmpl(d, &b, r->txt, r->len, r->txt, r->len);
	} else {
		return 0;
	}
	if (b.err) {
		free(b.p);
		return b.err;
	}
	out->has_txt = true;
	/* Stored length is 16 bits; a 64 KiB TXT cannot be answered anyway. */
	out->txt_len = (uint16_t)(b.n > 65000 ? 65000 : b.n);
	out->txt = b.p ? b.p : malloc(1);
	if (!out->txt)
		return GN_ENOMEM;
	return 0;
}

int cz_expand_all(const struct cz_ds *d, struct zimg_val **vals)
{
	struct zimg_val *v = calloc(d->raw.n ? d->raw.n : 1, sizeof(*v));
	if (!v)
		return GN_ENOMEM;
	for (uint32_t i = 0; i < d->raw.n; i++) {
		int ret = cz_expand(d, &d->raw.v[i], &v[i]);
		if (ret < 0) {
			cz_vals_free(v, i);
			return ret;
		}
	}
	*vals = v;
	return 0;
}

void cz_vals_free(struct zimg_val *v, uint32_t n)
{
	if (!v)
		return;
	for (uint32_t i = 0; i < n; i++)
		free(v[i].txt);
	free(v);
}

static bool cz_val_eq(const struct zimg_val *x, const struct zimg_val *y)
{
	return memcmp(x->a, y->a, 4) == 0 && x->has_txt == y->has_txt &&
	       (!x->has_txt || (x->txt_len == y->txt_len && memcmp(x->txt, y->txt, x->txt_len) == 0));
}

int64_t cz_valset(struct cz_ds *d, const struct zimg_val *vals, const uint32_t *rv, uint32_t n)
{
	struct zimg_val one[8] = { 0 }, *arr = one;
	uint32_t m = 0;
	int64_t ret;

	if (n > 8) {
		arr = malloc(n * sizeof(*arr));
		if (!arr)
			return GN_ENOMEM;
	}
	/* observed: identical A+TXT pairs at one key answer once, first order */
	for (uint32_t i = 0; i < n; i++) {
		bool dup = false;
		for (uint32_t k = 0; k < m && !dup; k++)
			dup = cz_val_eq(&arr[k], &vals[rv[i]]);
		if (!dup)
			arr[m++] = vals[rv[i]];
	}
	ret = zimg_ds_valset(d->zds, arr, m);
	if (arr != one)
		free(arr);
	return ret;
}
