/* common/conftab.c - option tables over libconfig. */
#include <errno.h>
#include <inttypes.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/conftab.h"
#include "common/err.h"

#define CONFTAB_NAME_MAX  256   /* a dotted key, group included */
#define CONFTAB_WHERE_MAX 512   /* "FILE:LINE" */

bool conftab_find(const struct conftab *t, const char *name, size_t *idx)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->opt[i].name, name) == 0) {
			*idx = i;
			return true;
		}
	return false;
}

/* Is `prefix` (without the dot) a group of the table, such as "udp"? */
static bool conftab_is_group(const struct conftab *t, const char *prefix)
{
	size_t n = strlen(prefix);

	for (size_t i = 0; i < t->n; i++)
		if (strncmp(t->opt[i].name, prefix, n) == 0 && t->opt[i].name[n] == '.')
			return true;
	return false;
}

void conftab_where(const config_setting_t *s, const char *fallback, char *buf, size_t cap)
{
	const char *file = s ? config_setting_source_file(s) : NULL;

	snprintf(buf, cap, "%s:%u", file ? file : fallback, s ? config_setting_source_line(s) : 0);
}

static int conftab_walk_in(const struct conftab *t, const config_setting_t *g, const char *prefix,
			   const struct conftab_keys *k, const struct conftab_read *rd)
{
	int ret = 0;

	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		char full[CONFTAB_NAME_MAX], where[CONFTAB_WHERE_MAX];
		size_t idx;
		int r = CONFTAB_UNKNOWN;

		/* Only a list's elements lack a name; the "?" stands in the
		 * message of the program that walks one. */
		snprintf(full, sizeof(full), "%s%s", prefix, name ? name : "?");
		conftab_where(s, rd->fallback, where, sizeof(where));
		if (conftab_find(t, full, &idx))
			r = k->opt ? k->opt(rd, idx, s, where) : 0;
		else if (*prefix == '\0' && k->extra)
			r = k->extra(rd, full, s, where);
		if (r == CONFTAB_UNKNOWN && conftab_is_group(t, full) && config_setting_is_group(s)) {
			char sub[sizeof(full) + 1];
			snprintf(sub, sizeof(sub), "%s.", full);
			r = conftab_walk_in(t, s, sub, k, rd);
		} else if (r == CONFTAB_UNKNOWN) {
			r = k->unknown(rd, s, where, full, conftab_is_group(t, full));
		}
		if (r < 0 && ret == 0)
			ret = r;
	}
	return ret;
}

int conftab_walk(const struct conftab *t, const config_setting_t *group,
		 const struct conftab_keys *k, const struct conftab_read *rd)
{
	return conftab_walk_in(t, group, "", k, rd);
}

int conftab_range(const struct conftab_opt *o, int64_t v, const char *where, struct strbuf *errs)
{
	if (v >= o->min && v <= o->max)
		return 0;
	strbuf_printf(errs, "%s: %s = %" PRId64 " is out of range %" PRId64 "..%" PRId64 "\n",
		      where, o->name, v, o->min, o->max);
	return GN_EINVAL;
}

int conftab_int(const struct conftab_opt *o, const char *text, const char *where,
		struct strbuf *errs, int64_t *out)
{
	char *end;
	long long v;
	int ret;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (end == text || *end != '\0' || errno != 0) {
		strbuf_printf(errs, "%s: %s: \"%s\" is not an integer\n", where, o->name, text);
		return GN_EINVAL;
	}
	if ((ret = conftab_range(o, v, where, errs)) < 0)
		return ret;
	*out = v;
	return 0;
}

int conftab_set(const struct conftab *t, void *base, size_t idx, const char *text, bool append,
		const char *where, struct strbuf *errs)
{
	const struct conftab_opt *o = &t->opt[idx];
	void *f = (char *)base + o->off;
	int64_t v;
	char *dup;
	int ret;

	switch (o->type) {
	case CONFTAB_INT:
		if ((ret = conftab_int(o, text, where, errs, &v)) < 0)
			return ret;
		*(int64_t *)f = v;
		return 0;
	case CONFTAB_STR:
		if (!(dup = strdup(text)))
			return GN_ENOMEM;
		free(*(char **)f);
		*(char **)f = dup;
		return 0;
	}
	/* An own type without a hook is a bug in the program's table. */
	if (!t->set)
		return GN_EINVAL;
	return t->set(base, o, text, append, where, errs);
}

int conftab_defaults(const struct conftab *t, void *base)
{
	struct strbuf errs;
	int ret = 0;

	strbuf_init(&errs);
	for (size_t i = 0; i < t->n && ret == 0; i++)
		if (t->opt[i].def)
			ret = conftab_set(t, base, i, t->opt[i].def, false, "default", &errs);
	if (ret == 0 && errs.len)
		ret = GN_EINVAL;
	strbuf_free(&errs);
	return ret;
}

void conftab_quote(struct strbuf *out, const char *s)
{
	strbuf_add(out, "\"", 1);
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			strbuf_add(out, "\\", 1);
		strbuf_add(out, s, 1);
	}
	strbuf_add(out, "\"", 1);
}

void conftab_dump(const struct conftab *t, const void *base, struct strbuf *out)
{
	char group[64] = "";

	for (size_t i = 0; i < t->n; i++) {
		const struct conftab_opt *o = &t->opt[i];
		const void *f = (const char *)base + o->off;
		const char *dot = strchr(o->name, '.');
		const char *key = dot ? dot + 1 : o->name;
		size_t glen = dot ? (size_t)(dot - o->name) : 0;
		const char *ind = dot ? "\t" : "";

		if (group[0] && (glen != strlen(group) || strncmp(group, o->name, glen) != 0)) {
			strbuf_add(out, "};\n", 3);
			group[0] = '\0';
		}
		if (dot && !group[0] && glen < sizeof(group)) {
			memcpy(group, o->name, glen);
			group[glen] = '\0';
			strbuf_printf(out, "\n%s = {\n", group);
		}
		if (o->help)
			strbuf_printf(out, "%s# %s\n", ind, o->help);
		strbuf_printf(out, "%s%s = ", ind, key);
		if (o->type == CONFTAB_INT)
			strbuf_printf(out, "%" PRId64, *(const int64_t *)f);
		else if (o->type == CONFTAB_STR)
			conftab_quote(out, *(char *const *)f);
		else if (t->dump)
			t->dump(base, o, out);
		strbuf_add(out, ";\n", 2);
	}
	if (group[0])
		strbuf_add(out, "};\n", 3);
}

static int conftab_load(config_t *cfg, bool read_ok, const char *name, conftab_use_fn *use,
			void *arg, struct strbuf *errs)
{
	if (read_ok)
		return use(arg, cfg, name, errs);
	if (config_error_type(cfg) == CONFIG_ERR_FILE_IO)
		strbuf_printf(errs, "%s: cannot read the file: %s\n", name, strerror(errno));
	else
		strbuf_printf(errs, "%s:%d: %s\n", config_error_file(cfg) ? config_error_file(cfg) : name,
			      config_error_line(cfg), config_error_text(cfg));
	return GN_EINVAL;
}

int conftab_load_file(const char *path, conftab_use_fn *use, void *arg, struct strbuf *errs)
{
	config_t cfg;
	int ret;

	config_init(&cfg);
	/* libconfig leaves the reason of an unreadable file in errno. */
	errno = 0;
	ret = conftab_load(&cfg, config_read_file(&cfg, path) == CONFIG_TRUE, path, use, arg, errs);
	config_destroy(&cfg);
	return ret;
}

int conftab_load_string(const char *text, const char *name, conftab_use_fn *use, void *arg,
			struct strbuf *errs)
{
	config_t cfg;
	int ret;

	config_init(&cfg);
	ret = conftab_load(&cfg, config_read_string(&cfg, text) == CONFIG_TRUE, name, use, arg, errs);
	config_destroy(&cfg);
	return ret;
}
