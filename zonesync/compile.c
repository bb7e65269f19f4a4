/* zonesync/compile.c - specs, files, lines, datasets and combined sections.
 *
 * Reads every file of a zone in spec order, hands "$" lines to
 * compile_special.c (and combined's $DATASET to cz_dataset_line) and data
 * lines to the dataset type's parser (compile_ip4.c ...).  A dataset is
 * expanded and flattened when it ends: at the end of its spec, or at the
 * next $DATASET or the end of the file in a combined file. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/compile_int.h"

/* ---- small helpers shared by the compile_*.c files ---------------------- */

const char *cz_skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int cz_grow(void **arr, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 64;
	while (nc < need)
		nc *= 2;
	void *p = realloc(*arr, nc * size);
	if (!p)
		return GN_ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

int cz_arena_put(struct cz_ds *d, const void *p, size_t n, uint32_t *off)
{
	if (n == 0) {
		/* The apex key: nothing to copy.  Callers still form arena + off,
		 * and NULL + 0 is undefined, so the arena exists from here on. */
		if (!d->arena && cz_grow((void **)&d->arena, &d->cap_arena, 1, 1) < 0)
			return GN_ENOMEM;
		*off = (uint32_t)d->n_arena;
		return 0;
	}
	if (d->n_arena + n > UINT32_MAX)
		return GN_ELIMIT;
	if (cz_grow((void **)&d->arena, &d->cap_arena, d->n_arena + n, 1) < 0)
		return GN_ENOMEM;
	memcpy(d->arena + d->n_arena, p, n);
	*off = (uint32_t)d->n_arena;
	d->n_arena += n;
	return 0;
}

static int cz_vbad(struct cz_ctx *c, const char *file, size_t line, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	c->img->n_errors++;
	if (c->o->strict) {
		log_err("%s:%zu: %s (strict mode: zone %s not compiled)", file, line, msg,
			c->img->name);
		return GN_EPARSE;
	}
	if (!c->o->quiet)
		log_warn("%s:%zu: %s; line ignored", file, line, msg);
	return 0;
}

int cz_bad(struct cz_ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ret = cz_vbad(c, c->file, c->line, fmt, ap);
	va_end(ap);
	return ret;
}

int cz_bad_at(struct cz_ctx *c, const struct cz_ds *d, uint32_t seq, const char *fmt, ...)
{
	const char *file = c->file;
	size_t line = 0;
	va_list ap;

	for (size_t i = d->n_src; i-- > 0;)
		if (d->src[i].seq0 < (int64_t)seq) {
			file = d->src[i].file;
			line = (size_t)((int64_t)seq - d->src[i].seq0);
			break;
		}
	va_start(ap, fmt);
	int ret = cz_vbad(c, file, line, fmt, ap);
	va_end(ap);
	return ret;
}

/* ---- datasets ----------------------------------------------------------- */

static struct cz_ds *cz_ds_new(enum zimg_dstype type, const char *label,
			       const struct cz_scope *parent)
{
	struct cz_ds *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->type = type;
	d->parent = parent;
	if (parent) {
		/* combined: the common section's $TTL and $MAXRANGE4 are defaults */
		d->sc.has_ttl = parent->has_ttl;
		d->sc.ttl = parent->ttl;
		d->sc.maxrange4 = parent->maxrange4;
	}
	d->label = strdup(label);
	if (!d->label) {
		free(d);
		return NULL;
	}
	return d;
}

static void cz_scope_free(struct cz_scope *s)
{
	for (int i = 0; i < 10; i++)
		free(s->var[i]);
	free(s->base);
}

static void cz_ds_free(struct cz_ds *d)
{
	if (!d)
		return;
	cz_scope_free(&d->sc);
	cz_rawtab_free(&d->raw);
	free(d->ip4);
	free(d->ip6);
	free(d->dn);
	free(d->rr);
	free(d->arena);
	free(d->src);
	free(d->subs);
	free(d->label);
	free(d);
}

static int cz_ds_src(struct cz_ds *d, const char *file, int64_t seq0)
{
	if (cz_grow((void **)&d->src, &d->cap_src, d->n_src + 1, sizeof(*d->src)) < 0)
		return GN_ENOMEM;
	d->src[d->n_src++] = (struct cz_src){ .seq0 = seq0, .file = file };
	return 0;
}

/* End of a dataset: create its zimg_ds, expand values, flatten. */
static int cz_ds_end(struct cz_ctx *c, struct cz_ds *d)
{
	struct zimg_val *vals = NULL;
	int ret;

	if (d->discard)
		return 0;
	ret = zimg_add_ds(c->img, d->type, d->label, &d->zds);
	if (ret < 0)
		return ret;
	d->zds->ttl = d->sc.has_ttl ? d->sc.ttl : c->default_ttl;
	d->zds->n_source_entries = d->n_source;
	for (size_t i = 0; i < d->n_subs; i++)
		if ((ret = zimg_ds_add_sub(d->zds, d->subs[i].key, d->subs[i].len)) < 0)
			return ret;
	ret = cz_expand_all(d, &vals);
	if (ret < 0)
		return ret;
	switch (zimg_index_of(d->type)) {
	case ZIX_IP4: ret = cz_ip4_finish(c, d, vals); break;
	case ZIX_IP6: ret = cz_ip6_finish(c, d, vals); break;
	case ZIX_DOM: ret = cz_dn_finish(c, d, vals); break;
	case ZIX_RR: ret = cz_generic_finish(c, d); break;
	}
	cz_vals_free(vals, d->raw.n);
	if (ret == 0 && !c->o->quiet) {
		const struct zimg_ds *z = d->zds;
		log_info("zone %s: %s: %zu entries -> %zu stored, %u value sets, ttl %u",
			 c->img->name, z->label, z->n_source_entries,
			 z->n_ip4 + z->n_ip6 + z->n_dom + z->n_rr, z->n_valsets, z->ttl);
	}
	return ret;
}

/* ---- line loop ---------------------------------------------------------- */

struct cz_comb {
	struct cz_scope common;
	struct cz_ds *cur;    /* nested dataset being read, or NULL */
	const char *spec_file;
	unsigned n_sets;
};

static int cz_dataset_line(struct cz_ctx *c, struct cz_comb *cb, const char *p)
{
	const char *t;
	size_t n = cz_tok(&p, &t);
	char type[32], label[160];
	enum zimg_dstype dt;
	int ret;

	if (cb->cur) {
		ret = cz_ds_end(c, cb->cur);
		cz_ds_free(cb->cur);
		cb->cur = NULL;
		if (ret < 0)
			return ret;
	}
	const char *colon = memchr(t, ':', n);
	size_t tn = colon ? (size_t)(colon - t) : n;
	if (tn == 0 || tn >= sizeof(type))
		return cz_bad(c, "$DATASET needs a type");
	memcpy(type, t, tn);
	type[tn] = 0;
	dt = zimg_dstype_parse(type);
	if (!dt || dt == ZDS_ZONE) {
		/* The section's lines cannot be read without a type: rbldnsd fails. */
		log_err("%s:%zu: $DATASET: unknown dataset type '%s' (zone %s)", c->file, c->line,
			type, c->img->name);
		c->fatal = GN_EPARSE;
		return GN_EPARSE;
	}
	snprintf(label, sizeof(label), "%.*s", (int)n, t);
	cb->cur = cz_ds_new(dt, label, &cb->common);
	if (!cb->cur)
		return GN_ENOMEM;
	if ((ret = cz_ds_src(cb->cur, c->file, -(int64_t)c->line)) < 0)
		return ret;
	cb->cur->seq = 0;
	while ((n = cz_tok(&p, &t)) > 0) {
		struct cz_sub s = { 0 };
		if (!(n == 1 && t[0] == '@')) {
			size_t m = n;
			while (m > 1 && t[m - 1] == '.')
				m--;
			int k = dname_text_to_key(t, m, s.key);
			if (k < 0)
				return cz_bad(c, "$DATASET: bad subzone '%.*s'", (int)n, t);
			s.len = (uint8_t)k;
		}
		if (cz_grow((void **)&cb->cur->subs, &cb->cur->cap_subs, cb->cur->n_subs + 1,
			    sizeof(s)) < 0)
			return GN_ENOMEM;
		cb->cur->subs[cb->cur->n_subs++] = s;
	}
	if (cb->cur->n_subs == 0) {
		cb->cur->discard = true;
		if (!c->o->quiet)
			log_warn("%s:%zu: no subzone(s) specified for dataset, data will be ignored",
				 c->file, c->line);
	}
	cb->n_sets++;
	return 0;
}

static int cz_data_line(struct cz_ctx *c, struct cz_ds *d, const char *p)
{
	bool excl = false;

	/* "::1" in an IPv6 dataset is an address, not a default line */
	if (*p == ':' && !(p[1] == ':' && zimg_index_of(d->type) == ZIX_IP6)) {
		struct cz_raw r;
		const char *why;
		if (d->type == ZDS_GENERIC)
			return cz_bad(c, "invalid/unrecognized entry");
		if (cz_parse_default(d, p, &r, &why) < 0)
			return cz_bad(c, "%s", why);
		int64_t i = cz_raw_intern(&d->raw, &r);
		if (i < 0)
			return (int)i;
		d->def = d->raw.v[i]; /* txt owned by the table, stable */
		d->has_def = true;
		if (!d->tset_has) {
			d->tset_def = d->def;
			d->tset_has = true;
		}
		return 0;
	}
	if (*p == '!') {
		excl = true;
		p++;
	}
	size_t before = d->n_ip4 + d->n_ip6 + d->n_dn + d->n_rr;
	int ret = GN_EINVAL;
	switch (zimg_index_of(d->type)) {
	case ZIX_IP4: ret = cz_ip4_line(c, d, p, excl); break;
	case ZIX_IP6: ret = cz_ip6_line(c, d, p, excl); break;
	case ZIX_DOM: ret = cz_dn_line(c, d, p, excl); break;
	case ZIX_RR:
		ret = excl ? cz_bad(c, "invalid/unrecognized entry") : cz_generic_line(c, d, p);
		break;
	}
	if (d->n_ip4 + d->n_ip6 + d->n_dn + d->n_rr > before)
		d->n_source++;
	return ret;
}

/* Read one file of a dataset (d) or of a combined dataset (cb). */
static int cz_file(struct cz_ctx *c, const char *path, struct cz_ds *d, struct cz_comb *cb)
{
	FILE *f;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	struct stat st;
	int ret = 0;

	f = fopen(path, "r");
	if (!f) {
		ret = errno == ENOENT ? GN_ENOENT : GN_EIO;
		log_err("%s: cannot open (%s); zone %s not compiled", path, strerror(errno),
			c->img->name);
		return ret;
	}
	if (fstat(fileno(f), &st) == 0 && (int64_t)st.st_mtime > c->img->src_mtime)
		c->img->src_mtime = (int64_t)st.st_mtime;
	c->file = path;
	c->line = 0;
	if (d) {
		d->has_def = false; /* a default line's scope is the rest of its file */
		if ((ret = cz_ds_src(d, path, (int64_t)d->seq)) < 0)
			goto out;
	}
	if (cb && cb->cur)
		cb->cur->has_def = false;
	while ((len = getline(&buf, &cap, f)) >= 0) {
		struct cz_ds *cur = d ? d : cb->cur;
		const char *p;
		c->line++;
		if (cur)
			cur->seq++;
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = 0;
		p = cz_skip_ws(buf);
		if (*p == 0)
			continue;
		if (p[0] == '$' || ((p[0] == '#' || p[0] == ';' || p[0] == ':') && p[1] == '$')) {
			p += p[0] == '$' ? 1 : 2;
			if (cb && strncmp(p, "DATASET", 7) == 0 && (p[7] == ' ' || p[7] == '\t' || !p[7]))
				ret = cz_dataset_line(c, cb, p + 7);
			else if (cur)
				ret = cz_special(c, cur, &cur->sc, p);
			else
				ret = cz_special(c, NULL, &cb->common, p);
		} else if (*p == '#' || *p == ';') {
			continue;
		} else if (!cur) {
			/* observed: rbldnsd refuses the whole zone for this */
			log_err("%s:%zu: data line before the first $DATASET of a combined file; "
				"zone %s not loaded", c->file, c->line, c->img->name);
			ret = GN_EPARSE;
		} else {
			ret = cz_data_line(c, cur, p);
		}
		if (ret < 0 || c->fatal)
			break;
	}
	if (ret == 0 && c->fatal)
		ret = c->fatal;
	if (ret == 0 && ferror(f)) {
		log_err("%s: read error (%s); zone %s not compiled", path, strerror(errno),
			c->img->name);
		ret = GN_EIO;
	}
out:
	free(buf);
	fclose(f);
	return ret;
}

/* ---- specs and zones ---------------------------------------------------- */

struct cz_spec {
	char zone[DNAME_TEXT_MAX];
	char type[32];
	const char *files; /* comma separated, into the caller's string */
};

static int cz_parse_spec(const char *spec, struct cz_spec *s)
{
	const char *c1 = strchr(spec, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c1 || !c2 || c1 == spec || (size_t)(c1 - spec) >= sizeof(s->zone) ||
	    (size_t)(c2 - c1 - 1) >= sizeof(s->type) || c2 == c1 + 1 || !c2[1]) {
		log_err("bad zone spec '%s': expected ZONE:TYPE:FILE[,FILE...]", spec);
		return GN_EINVAL;
	}
	/* zone names are case-insensitive: keep one spelling for the image */
	for (size_t i = 0; i < (size_t)(c1 - spec); i++)
		s->zone[i] = (char)dname_lower((uint8_t)spec[i]);
	s->zone[c1 - spec] = 0;
	memcpy(s->type, c1 + 1, (size_t)(c2 - c1 - 1));
	s->type[c2 - c1 - 1] = 0;
	s->files = c2 + 1;
	uint8_t key[DNAME_MAX];
	size_t zl = strlen(s->zone);
	while (zl > 1 && s->zone[zl - 1] == '.')
		s->zone[--zl] = 0;
	if (dname_text_to_key(s->zone, zl, key) < 0) {
		log_err("bad zone spec '%s': '%s' is not a domain name", spec, s->zone);
		return GN_EINVAL;
	}
	if (strcmp(s->type, "combined") != 0 && !zimg_dstype_parse(s->type)) {
		log_err("bad zone spec '%s': unknown dataset type '%s' (ip4set ip4tset ip4trie "
			"ip6tset ip6trie dnset generic combined zone)", spec, s->type);
		return GN_EINVAL;
	}
	return 0;
}

/* Compile one spec's files into the image. */
static int cz_spec(struct cz_ctx *c, const struct cz_spec *s, char *label)
{
	char *files = strdup(s->files), *save = NULL;
	struct cz_ds *d = NULL;
	struct cz_comb cb = { 0 };
	bool comb = strcmp(s->type, "combined") == 0;
	enum zimg_dstype t = comb ? 0 : zimg_dstype_parse(s->type);
	int ret = 0;

	if (!files)
		return GN_ENOMEM;
	if (t == ZDS_ZONE) {
		for (char *f = strtok_r(files, ",", &save); f && ret == 0; f = strtok_r(NULL, ",", &save))
			ret = cz_master_file(c, f);
		goto out;
	}
	if (!comb && !(d = cz_ds_new(t, label, NULL))) {
		ret = GN_ENOMEM;
		goto out;
	}
	for (char *f = strtok_r(files, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		if (*f == 0)
			continue;
		/* `files` outlives every dataset of this spec, so cz_src may
		 * point into it */
		if ((ret = cz_file(c, f, d, comb ? &cb : NULL)) < 0)
			goto out;
		if (cb.cur) {
			/* a $DATASET section ends with its file */
			ret = cz_ds_end(c, cb.cur);
			cz_ds_free(cb.cur);
			cb.cur = NULL;
			if (ret < 0)
				goto out;
		}
	}
	if (d)
		ret = cz_ds_end(c, d);
out:
	cz_ds_free(d);
	cz_ds_free(cb.cur);
	cz_scope_free(&cb.common);
	free(files);
	return ret;
}

int compile_zone(const char *const *specs, size_t n, const struct compile_opts *o,
		 struct zimg **out)
{
	struct compile_opts def_o = { 0 };
	struct cz_ctx c = { .o = o ? o : &def_o };
	struct cz_spec *sp = NULL;
	size_t srclen = 0;
	int ret = 0;

	*out = NULL;
	if (n == 0)
		return GN_EINVAL;
	c.default_ttl = c.o->default_ttl ? c.o->default_ttl : COMPILE_DEFAULT_TTL;
	sp = calloc(n, sizeof(*sp));
	if (!sp)
		return GN_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((ret = cz_parse_spec(specs[i], &sp[i])) < 0)
			goto out;
		if (strcasecmp(sp[i].zone, sp[0].zone) != 0) {
			log_err("zone specs name different zones: '%s' and '%s'", specs[0], specs[i]);
			ret = GN_EINVAL;
			goto out;
		}
		srclen += strlen(specs[i]) + 1;
	}
	c.img = zimg_new(sp[0].zone);
	if (!c.img || !(c.img->source = malloc(srclen + 1))) {
		ret = GN_ENOMEM;
		goto out;
	}
	c.img->source[0] = 0;
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(c.img->source, " ");
		strcat(c.img->source, specs[i]);
	}
	for (size_t i = 0; i < n; i++) {
		char label[1200];
		snprintf(label, sizeof(label), "%s:%s", sp[i].type, sp[i].files);
		if ((ret = cz_spec(&c, &sp[i], label)) < 0)
			goto out;
	}
	/* rbldnsd: serial 0 = the newest modification time of the zone's files */
	if (c.img->soa.present && c.img->soa.serial == 0)
		c.img->soa.serial = (uint32_t)c.img->src_mtime;
	if ((ret = zimg_finish(c.img)) < 0)
		goto out;
	if (c.img->n_errors && !c.o->quiet)
		log_warn("zone %s: %zu bad line(s) skipped", c.img->name, c.img->n_errors);
	*out = c.img;
	c.img = NULL;
out:
	zimg_free(c.img);
	free(sp);
	return ret;
}

int compile_specs(const char *const *specs, size_t n, const struct compile_opts *o,
		  struct zimg ***out, size_t *n_out)
{
	struct zimg **imgs = NULL;
	const char **group = NULL;
	bool *used = NULL;
	size_t n_img = 0;
	int ret = 0;

	*out = NULL;
	*n_out = 0;
	imgs = calloc(n ? n : 1, sizeof(*imgs));
	group = calloc(n ? n : 1, sizeof(*group));
	used = calloc(n ? n : 1, sizeof(*used));
	if (!imgs || !group || !used) {
		ret = GN_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct cz_spec si, sj;
		size_t ng = 0;
		if (used[i])
			continue;
		if ((ret = cz_parse_spec(specs[i], &si)) < 0)
			goto out;
		for (size_t j = i; j < n; j++) {
			if (used[j])
				continue;
			if ((ret = cz_parse_spec(specs[j], &sj)) < 0)
				goto out;
			if (strcasecmp(si.zone, sj.zone) == 0) {
				group[ng++] = specs[j];
				used[j] = true;
			}
		}
		if ((ret = compile_zone(group, ng, o, &imgs[n_img])) < 0)
			goto out;
		n_img++;
	}
	*out = imgs;
	*n_out = n_img;
	imgs = NULL;
out:
	if (imgs)
		compile_free_all(imgs, n_img);
	free(group);
	free(used);
	return ret;
}

void compile_free_all(struct zimg **imgs, size_t n)
{
	if (!imgs)
		return;
	for (size_t i = 0; i < n; i++)
		zimg_free(imgs[i]);
	free(imgs);
}
