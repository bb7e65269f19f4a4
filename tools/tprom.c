/* tools/tprom.c - Prometheus text-format parser and histogram quantiles. */
#include "tools/tprom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define TPROM_HIST_MAX 256 /* distinct le values per histogram */

static int is_name0(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static int is_name(char c)
{
	return is_name0(c) || (c >= '0' && c <= '9');
}

static char *skip_blank(char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Parse the labels after '{' (p points just past it), unescaping values
 * in place.  Appends to set->l; returns the position after '}' or NULL. */
static char *parse_labels(struct tprom_set *set, char *p, uint16_t *nlab)
{
	*nlab = 0;
	for (;;) {
		p = skip_blank(p);
		if (*p == '}')
			return p + 1;
		if (!is_name0(*p) || *p == ':')
			return NULL;
		char *ln = p;
		while (is_name(*p) && *p != ':')
			p++;
		char c = *p;
		*p = '\0';
		if (c != '=') {
			/* Never step past c before knowing it is not the NUL. */
			if (c != ' ' && c != '\t')
				return NULL;
			p = skip_blank(p + 1);
			if (*p != '=')
				return NULL;
		}
		p = skip_blank(p + 1);
		if (*p != '"')
			return NULL;
		char *vstart = ++p, *r = p, *w = p;
		for (;;) {
			if (*r == '\0')
				return NULL; /* unterminated */
			if (*r == '"')
				break;
			if (*r == '\\') {
				r++;
				if (*r == 'n')
					*w++ = '\n';
				else if (*r == '\\' || *r == '"')
					*w++ = *r;
				else
					return NULL; /* the format knows only these three */
				r++;
				continue;
			}
			*w++ = *r++;
		}
		*w = '\0';
		p = r + 1;
		if (*nlab >= TPROM_LABELS_MAX)
			return NULL;
		if (set->nl == set->lcap) {
			size_t nc = set->lcap ? set->lcap * 2 : 256;
			struct tprom_label *nv = realloc(set->l, nc * sizeof(*nv));
			if (!nv)
				return NULL;
			set->l = nv;
			set->lcap = nc;
		}
		set->l[set->nl].name = (uint32_t)(ln - set->buf);
		set->l[set->nl].value = (uint32_t)(vstart - set->buf);
		set->nl++;
		(*nlab)++;
		p = skip_blank(p);
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p != '}')
			return NULL;
	}
}

/* Parse a float token the way the format writes them. */
static int parse_value(char *tok, double *v)
{
	char *end = NULL;

	if (!*tok)
		return GN_EINVAL;
	*v = strtod(tok, &end);
	return (end && *end == '\0') ? 0 : GN_EINVAL;
}

/* One line (NUL-terminated, no newline).  Returns 0 for a sample, blank
 * line or comment, GN_EINVAL for a bad line (its labels are rolled back). */
static int parse_line(struct tprom_set *set, char *p)
{
	size_t nl0 = set->nl;
	uint16_t nlab = 0;
	double v;

	p = skip_blank(p);
	if (*p == '\0' || *p == '#')
		return 0; /* HELP and TYPE carry nothing the tools need */
	if (!is_name0(*p))
		return GN_EINVAL;
	char *name = p;
	while (is_name(*p))
		p++;
	char c = *p;
	*p = '\0';
	p++;
	if (c == '{') {
		p = parse_labels(set, p, &nlab);
		if (!p)
			goto bad;
		if (*p != ' ' && *p != '\t')
			goto bad;
	} else if (c != ' ' && c != '\t') {
		goto bad;
	}
	p = skip_blank(p);
	char *tok = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	int more = *p != '\0';
	if (more)
		*p++ = '\0';
	if (parse_value(tok, &v) != 0)
		goto bad;
	/* Optional timestamp: an integer (ms); anything more is garbage. */
	p = skip_blank(p);
	if (more && *p) {
		if (*p == '-' || *p == '+')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			goto bad;
		while (*p >= '0' && *p <= '9')
			p++;
		if (*skip_blank(p))
			goto bad;
	}
	if (set->n >= TPROM_SAMPLES_MAX)
		goto bad;
	if (set->n == set->cap) {
		size_t nc = set->cap ? set->cap * 2 : 256;
		struct tprom_sample *ns = realloc(set->s, nc * sizeof(*ns));
		if (!ns)
			goto bad;
		set->s = ns;
		set->cap = nc;
	}
	set->s[set->n].name = (uint32_t)(name - set->buf);
	set->s[set->n].lab0 = (uint32_t)nl0;
	set->s[set->n].nlab = nlab;
	set->s[set->n].value = v;
	set->n++;
	return 0;
bad:
	set->nl = nl0;
	return GN_EINVAL;
}

int tprom_parse(const char *text, size_t len, struct tprom_set *set)
{
	memset(set, 0, sizeof(*set));
	if (len > TPROM_INPUT_MAX)
		return GN_ERANGE;
	set->buf = malloc(len + 1);
	if (!set->buf)
		return GN_ENOMEM;
	memcpy(set->buf, text, len);
	set->buf[len] = '\0';

	size_t off = 0;
	while (off < len) {
		char *line = set->buf + off;
		char *nl = memchr(line, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - line) : len - off;
		off += ll + (nl ? 1 : 0);
		set->lines++;
		line[ll] = '\0';
		if (ll && line[ll - 1] == '\r')
			line[--ll] = '\0';
		/* An embedded NUL would cut the line short silently: reject. */
		if (ll > TPROM_LINE_MAX || memchr(line, '\0', ll) || parse_line(set, line) != 0) {
			set->errors++;
			if (!set->first_error)
				set->first_error = set->lines;
		}
	}
	return 0;
}

void tprom_free(struct tprom_set *set)
{
	if (!set)
		return;
	free(set->buf);
	free(set->s);
	free(set->l);
	memset(set, 0, sizeof(*set));
}

const char *tprom_name(const struct tprom_set *set, const struct tprom_sample *s)
{
	return set->buf + s->name;
}

const char *tprom_label(const struct tprom_set *set, const struct tprom_sample *s,
			const char *name)
{
	for (uint16_t i = 0; i < s->nlab; i++) {
		const struct tprom_label *l = &set->l[s->lab0 + i];
		if (!strcmp(set->buf + l->name, name))
			return set->buf + l->value;
	}
	return NULL;
}

static int matches(const struct tprom_set *set, const struct tprom_sample *s, const char *name,
		   const char *lname, const char *lvalue)
{
	if (strcmp(set->buf + s->name, name))
		return 0;
	if (!lname)
		return 1;
	const char *v = tprom_label(set, s, lname);
	return v && lvalue && !strcmp(v, lvalue);
}

double tprom_sum(const struct tprom_set *set, const char *name, const char *lname,
		 const char *lvalue, size_t *found)
{
	double sum = 0;
	size_t k = 0;

	for (size_t i = 0; i < set->n; i++)
		if (matches(set, &set->s[i], name, lname, lvalue)) {
			sum += set->s[i].value;
			k++;
		}
	if (found)
		*found = k;
	return sum;
}

size_t tprom_label_values(const struct tprom_set *set, const char *name, const char *lname,
			  const char **out, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < set->n && k < max; i++) {
		if (strcmp(set->buf + set->s[i].name, name))
			continue;
		const char *v = tprom_label(set, &set->s[i], lname);
		if (!v)
			continue;
		size_t j = 0;
		while (j < k && strcmp(out[j], v))
			j++;
		if (j == k)
			out[k++] = v;
	}
	return k;
}

double tprom_quantile(double q, double *le, double *cum, size_t n)
{
	if (isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	/* Insertion sort by bound: histograms have a few dozen buckets. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && le[j] < le[j - 1]; j--) {
			double t = le[j];
			le[j] = le[j - 1];
			le[j - 1] = t;
			t = cum[j];
			cum[j] = cum[j - 1];
			cum[j - 1] = t;
		}
	if (n < 2 || !isinf(le[n - 1]) || le[n - 1] < 0)
		return NAN;
	/* Counts scraped from different workers at slightly different moments
	 * can dip; Prometheus forces them monotonic, and so do we. */
	for (size_t i = 1; i < n; i++)
		if (cum[i] < cum[i - 1] || isnan(cum[i]))
			cum[i] = cum[i - 1];
	double total = cum[n - 1];
	if (!(total > 0))
		return NAN;
	double rank = q * total;
	size_t b = 0;
	while (b < n - 1 && cum[b] < rank)
		b++;
	if (b == n - 1)
		return le[n - 2];
	if (b == 0 && le[0] <= 0)
		return le[0];
	double start = 0, end = le[b], count = cum[b];
	if (b > 0) {
		start = le[b - 1];
		count -= cum[b - 1];
		rank -= cum[b - 1];
	}
	if (!(count > 0))
		return end;
	return start + (end - start) * (rank / count);
}

double tprom_hist_quantile(const struct tprom_set *set, const char *family, const char *lname,
			   const char *lvalue, double q)
{
	char bname[256];
	double le[TPROM_HIST_MAX], cum[TPROM_HIST_MAX];
	size_t n = 0;

	if ((size_t)snprintf(bname, sizeof(bname), "%s_bucket", family) >= sizeof(bname))
		return NAN;
	for (size_t i = 0; i < set->n; i++) {
		const struct tprom_sample *s = &set->s[i];
		if (!matches(set, s, bname, lname, lvalue))
			continue;
		const char *les = tprom_label(set, s, "le");
		char *end = NULL;
		double b;
		if (!les)
			continue;
		b = strtod(les, &end);
		if (!end || *end || isnan(b))
			continue;
		size_t j = 0;
		while (j < n && le[j] != b)
			j++;
		if (j == n) {
			if (n == TPROM_HIST_MAX)
				continue;
			le[n] = b;
			cum[n++] = 0;
		}
		cum[j] += s->value;
	}
	return tprom_quantile(q, le, cum, n);
}
