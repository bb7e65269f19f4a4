/* zonesync/fol_conf.c - the follower / relay configuration file.
 *
 * libconfig syntax (as the resolver's config), read through two option
 * tables (global, per zone) so that docs/follower.md, the defaults and the
 * checks are one list each.  Every problem is reported as FILE:LINE: reason,
 * all at once, so --check-config shows the whole list in one run.
 */
#include <libconfig.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/conftab.h"
#include "common/err.h"
#include "common/log.h"
#include "zonesync/fol.h"

/* Strings are conftab's type; the follower reads every value itself
 * (opt_set), into members of several widths. */
enum opt_type { O_STR = CONFTAB_STR, O_UINT = CONFTAB_OWN, O_ADDR, O_LEVEL, O_FRAC, O_BOOL,
		O_ZONEMD };

#define G(m) offsetof(struct fol_conf, m)
#define Z(m) offsetof(struct fol_zone_conf, m)

/* Global keys.  "keys", "zones", "notify-allow" and "publisher" (relay)
 * are read by hand below.  A dotted name is a member of a group, written
 * `tsig = { skew-warn = 60; };` as in the publisher's file.  No help
 * column: nothing prints these tables, docs/follower.md is written by hand. */
static const struct conftab_opt g_opts[] = {
	{ "snapshot", O_STR, 0, 0, NULL, G(snapshot), NULL },
	{ "state-file", O_STR, 0, 0, "", G(state_file), NULL },
	{ "snapshot-map-size", O_UINT, 0, INT64_C(1) << 40, "0", G(map_size), NULL },
	{ "listen", O_ADDR, 0, 0, "", G(listen), NULL },
	{ "metrics", O_ADDR, 0, 0, "", G(metrics), NULL },
	{ "log-level", O_LEVEL, 0, 0, "info", G(log_level), NULL },
	{ "refresh-min", O_UINT, 1, 86400, "5", G(refresh_min), NULL },
	{ "retry-min", O_UINT, 1, 86400, "5", G(retry_min), NULL },
	{ "xfr-timeout", O_UINT, 1, 3600, "30", G(xfr_timeout), NULL },
	{ "xfr-max-records", O_UINT, 1000, 1000000000, "50000000", G(xfr_max_records), NULL },
	{ "journal-max-depth", O_UINT, 0, 100000, "0", G(jdepth), NULL },
	{ "tsig.skew-warn", O_UINT, 0, 65535, "60", G(skew_warn), NULL },
};

static const struct conftab_opt z_opts[] = {
	{ "refresh", O_UINT, 0, 86400 * 28, "0", Z(refresh), NULL },
	{ "retry", O_UINT, 0, 86400 * 28, "0", Z(retry), NULL },
	{ "expire", O_UINT, 0, 86400 * 365, "0", Z(expire), NULL },
	{ "max-shrink", O_FRAC, 0, 1, "0.5", Z(max_shrink), NULL },
	{ "guard", O_BOOL, 0, 1, "true", Z(guard), NULL },
	{ "zonemd", O_ZONEMD, 0, 0, "verify", Z(zonemd), NULL },
};

static const struct conftab g_tab = { g_opts, sizeof(g_opts) / sizeof(g_opts[0]), NULL, NULL };
static const struct conftab z_tab = { z_opts, sizeof(z_opts) / sizeof(z_opts[0]), NULL, NULL };

struct cctx {
	const char *path;
	struct strbuf *errs;
	int bad;
};

static void cerr(struct cctx *c, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void cerr(struct cctx *c, const config_setting_t *s, const char *fmt, ...)
{
	char msg[512], where[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conftab_where(s, c->path, where, sizeof(where));
	strbuf_printf(c->errs, "%s: %s\n", where, msg);
	c->bad = 1;
}

/* Set one option from its setting (or its default when s is NULL). */
static void opt_set(struct cctx *c, void *base, const struct conftab_opt *o,
		    const config_setting_t *s)
{
	char *field = (char *)base + o->off, where[512];
	const char *text = o->def;
	long long iv = 0;
	double dv = 0;

	if (s) {
		int t = config_setting_type(s);
		if (o->type == O_UINT && t == CONFIG_TYPE_INT64)
			iv = config_setting_get_int64(s);
		else if (o->type == O_UINT && t == CONFIG_TYPE_INT)
			iv = config_setting_get_int(s);
		else if (o->type == O_FRAC && (t == CONFIG_TYPE_FLOAT || t == CONFIG_TYPE_INT))
			dv = t == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
						    : config_setting_get_int(s);
		else if (o->type == O_BOOL && t == CONFIG_TYPE_BOOL)
			iv = config_setting_get_bool(s);
		else if ((o->type == O_STR || o->type == O_ADDR || o->type == O_LEVEL ||
			  o->type == O_ZONEMD) && t == CONFIG_TYPE_STRING)
			text = config_setting_get_string(s);
		else {
			cerr(c, s, "%s: wrong type", o->name);
			return;
		}
	} else if (o->type == O_UINT || o->type == O_BOOL) {
		iv = o->type == O_BOOL ? strcmp(o->def, "true") == 0 : strtoll(o->def, NULL, 10);
	} else if (o->type == O_FRAC) {
		dv = strtod(o->def, NULL);
	}
	switch (o->type) {
	case O_STR:
		if (!text) {
			cerr(c, NULL, "%s is required", o->name);
			return;
		}
		free(*(char **)field);
		*(char **)field = strdup(text);
		break;
	case O_UINT:
		conftab_where(s, c->path, where, sizeof(where));
		if (conftab_range(o, iv, where, c->errs) < 0) {
			c->bad = 1;
			return;
		}
		if (o->off == G(map_size))
			*(uint64_t *)field = (uint64_t)iv;
		else
			*(uint32_t *)field = (uint32_t)iv;
		break;
	case O_FRAC:
		if (dv < 0 || dv > 1) {
			cerr(c, s, "%s = %g must be between 0 and 1", o->name, dv);
			return;
		}
		*(double *)field = dv;
		break;
	case O_BOOL:
		*(bool *)field = iv != 0;
		break;
	case O_LEVEL: {
		int l = log_level_parse(text);
		if (l < 0)
			cerr(c, s, "%s: \"%s\" is not err, warn, info or debug", o->name, text);
		else
			*(int *)field = l;
		break;
	}
	case O_ZONEMD:
		if (strcmp(text, "verify") == 0)
			*(enum fol_zonemd *)field = FOL_ZONEMD_VERIFY;
		else if (strcmp(text, "require") == 0)
			*(enum fol_zonemd *)field = FOL_ZONEMD_REQUIRE;
		else if (strcmp(text, "ignore") == 0)
			*(enum fol_zonemd *)field = FOL_ZONEMD_IGNORE;
		else
			cerr(c, s, "zonemd: \"%s\" is not verify, require or ignore", text);
		break;
	case O_ADDR: {
		const char *why = NULL;
		struct fol_conf *fc = base;
		bool *has = o->off == G(listen) ? &fc->has_listen : &fc->has_metrics;
		*has = false;
		if (*text == '\0')
			break;
		if (addr_parse(text, 0, (struct addr *)field, &why) < 0) {
			cerr(c, s, "%s: bad address \"%s\": %s", o->name, text, why ? why : "");
			break;
		}
		*has = true;
		break;
	}
	}
}

/* The keys conftab_walk meets beside the table's: accepted when listed. */
struct known {
	struct cctx *c;
	const char *const *extra;    /* keys read by hand, NULL-terminated */
};

static int known_extra(const struct conftab_read *rd, const char *name,
		       const config_setting_t *s, const char *where)
{
	const struct known *k = rd->dst;

	for (size_t i = 0; k->extra[i]; i++)
		if (strcmp(k->extra[i], name) == 0)
			return 0;
	return CONFTAB_UNKNOWN;
}

static int known_unknown(const struct conftab_read *rd, const config_setting_t *s,
			 const char *where, const char *full, bool not_group)
{
	const struct known *k = rd->dst;

	if (not_group)
		cerr(k->c, s, "%s must be a group: %s = { ... };", full, full);
	else
		cerr(k->c, s, "unknown key \"%s\"", full);
	return GN_EINVAL;
}

/* Values are read by opt_set afterwards, by path: the walk only checks. */
static const struct conftab_keys known_keys = { NULL, known_extra, known_unknown };

/* Known keys only: a typo must not silently become a default.  `extra`
 * (keys read by hand) applies at the top only; the dotted rows' groups
 * ("tsig" of "tsig.skew-warn") are checked inside. */
static void check_known(struct cctx *c, const config_setting_t *grp, const struct conftab *t,
			const char *const *extra)
{
	struct known k = { c, extra };
	struct conftab_read rd = { &k, c->path, c->errs };

	if (conftab_walk(t, grp, &known_keys, &rd) < 0)
		c->bad = 1;
}

/* "ADDR" or "ADDR key NAME". */
static void zone_primary(struct cctx *c, struct fol_conf *fc, struct fol_zone_conf *z,
			 const config_setting_t *s, const char *zone_key)
{
	const char *text = config_setting_get_string(s), *why = NULL;
	struct fol_primary *p = &z->prim[z->n_prim];
	char buf[512], *sp, *key = NULL;

	if (!text || strlen(text) >= sizeof(buf)) {
		cerr(c, s, "zone %s: a primary is a string \"ADDR@PORT [key NAME]\"", z->name);
		return;
	}
	strcpy(buf, text);
	if ((sp = strchr(buf, ' ')) != NULL) {
		*sp++ = 0;
		while (*sp == ' ')
			sp++;
		if (strncmp(sp, "key ", 4) != 0) {
			cerr(c, s, "zone %s: primary \"%s\": expected \"key NAME\" after the address",
			     z->name, text);
			return;
		}
		key = sp + 4;
		while (*key == ' ')
			key++;
	} else if (zone_key) {
		key = (char *)zone_key;
	}
	if (addr_parse(buf, 53, &p->addr, &why) < 0) {
		cerr(c, s, "zone %s: primary \"%s\": %s", z->name, buf, why ? why : "bad address");
		return;
	}
	if (addr_format(&p->addr.u.sa, p->text, sizeof(p->text)) < 0)
		snprintf(p->text, sizeof(p->text), "%.70s", buf);
	if (key && *key && !(p->key = tsig_keytab_find(&fc->keys, key))) {
		cerr(c, s, "zone %s: primary %s: no key named \"%s\" in keys", z->name, buf, key);
		return;
	}
	z->n_prim++;
}

static void load_zone(struct cctx *c, struct fol_conf *fc, const config_setting_t *zs,
		      struct fol_zone_conf *z)
{
	static const char *const extra[] = { "name", "primaries", "key", NULL };
	const config_setting_t *ps = config_setting_get_member(zs, "primaries");
	const char *name = NULL, *zone_key = NULL;
	uint8_t w[DNAME_MAX];

	z->line = (int)config_setting_source_line(zs);
	if (!config_setting_lookup_string(zs, "name", &name) ||
	    dname_from_text(name, strlen(name), w) < 1) {
		cerr(c, zs, "zone: name = \"zone.name\" is required and must be a domain name");
		name = "?";
	}
	z->name = strdup(name);
	for (char *p = z->name; p && *p; p++)
		*p = (char)dname_lower((uint8_t)*p);
	if (z->name) {
		size_t n = strlen(z->name);
		while (n > 1 && z->name[n - 1] == '.')
			z->name[--n] = 0;
	}
	config_setting_lookup_string(zs, "key", &zone_key);
	check_known(c, zs, &z_tab, extra);
	for (size_t i = 0; i < z_tab.n; i++)
		opt_set(c, z, &z_opts[i], config_setting_get_member(zs, z_opts[i].name));
	if (!ps || !config_setting_is_aggregate(ps) || config_setting_length(ps) < 1) {
		cerr(c, ps ? ps : zs, "zone %s: primaries = [\"ADDR@PORT [key NAME]\", ...] "
		     "needs at least one primary", z->name ? z->name : "?");
		return;
	}
	z->prim = calloc((size_t)config_setting_length(ps), sizeof(*z->prim));
	if (!z->prim) {
		c->bad = 1;
		return;
	}
	for (int i = 0; i < config_setting_length(ps); i++)
		zone_primary(c, fc, z, config_setting_get_elem(ps, (unsigned)i), zone_key);
}

static void load_acl(struct cctx *c, struct fol_conf *fc, const config_setting_t *s)
{
	int n = config_setting_length(s);
	if (!config_setting_is_aggregate(s)) {
		cerr(c, s, "notify-allow: a list of networks is expected");
		return;
	}
	fc->notify_acl = calloc((size_t)n + 1, sizeof(*fc->notify_acl));
	if (!fc->notify_acl) {
		c->bad = 1;
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *t = config_setting_get_string(e), *why = NULL;
		if (!t || netacl_parse(t, &fc->notify_acl[fc->n_notify_acl], &why) < 0) {
			cerr(c, e, "notify-allow: \"%s\": %s", t ? t : "?", why ? why : "not a string");
			continue;
		}
		fc->n_notify_acl++;
	}
}

int fol_conf_load(const char *path, struct fol_conf *fc, struct strbuf *errs)
{
	static const char *const extra[] = { "keys", "zones", "notify-allow", "publisher", NULL };
	struct cctx c = { .path = path, .errs = errs };
	config_t *cfg = calloc(1, sizeof(*cfg));
	const config_setting_t *root, *s;
	int ret = 0;

	memset(fc, 0, sizeof(*fc));
	tsig_keytab_init(&fc->keys);
	if (!cfg || !(fc->path = strdup(path)))
		return GN_ENOMEM;
	config_init(cfg);
	fc->cfg = cfg;
	if (!config_read_file(cfg, path)) {
		strbuf_printf(errs, "%s:%d: %s\n", config_error_file(cfg) ? config_error_file(cfg) : path,
			      config_error_line(cfg), config_error_text(cfg));
		return GN_EINVAL;
	}
	root = config_root_setting(cfg);
	check_known(&c, root, &g_tab, extra);
	/* config_lookup reads "tsig.skew-warn" as a path */
	for (size_t i = 0; i < g_tab.n; i++)
		opt_set(&c, fc, &g_opts[i], config_lookup(cfg, g_opts[i].name));
	if ((s = config_setting_get_member(root, "keys")) != NULL &&
	    (ret = tsig_keytab_load(&fc->keys, s, path, errs)) < 0)
		c.bad = 1;
	if ((s = config_setting_get_member(root, "notify-allow")) != NULL)
		load_acl(&c, fc, s);
	else if ((fc->notify_acl = calloc(2, sizeof(*fc->notify_acl))) != NULL) {
		/* default: loopback only, the safe guess for a node */
		const char *why;
		netacl_parse("127.0.0.0/8", &fc->notify_acl[0], &why);
		netacl_parse("::1", &fc->notify_acl[1], &why);
		fc->n_notify_acl = 2;
	}
	s = config_setting_get_member(root, "zones");
	if (!s || !config_setting_is_list(s) || config_setting_length(s) < 1) {
		cerr(&c, s, "zones = ( { name = \"...\"; primaries = [ ... ]; }, ... ) is required");
	} else {
		int n = config_setting_length(s);
		if (!(fc->zones = calloc((size_t)n, sizeof(*fc->zones)))) {
			ret = GN_ENOMEM;
			goto out;
		}
		for (int i = 0; i < n; i++) {
			load_zone(&c, fc, config_setting_get_elem(s, (unsigned)i), &fc->zones[i]);
			fc->n_zones++;
			for (int k = 0; k < i; k++)
				if (fc->zones[k].name && fc->zones[i].name &&
				    strcmp(fc->zones[k].name, fc->zones[i].name) == 0)
					cerr(&c, config_setting_get_elem(s, (unsigned)i),
					     "zone %s is configured twice (first at line %d)",
					     fc->zones[i].name, fc->zones[k].line);
		}
	}
	if (!c.bad && fc->snapshot && (!fc->state_file || !*fc->state_file)) {
		size_t n = strlen(fc->snapshot) + 32;
		free(fc->state_file);
		if (!(fc->state_file = malloc(n))) {
			ret = GN_ENOMEM;
			goto out;
		}
		snprintf(fc->state_file, n, "%s/follower.state", fc->snapshot);
	}
out:
	if (ret == 0 && (c.bad || errs->err))
		ret = errs->err ? GN_ENOMEM : GN_EINVAL;
	return ret;
}

void fol_conf_deinit(struct fol_conf *fc)
{
	if (!fc)
		return;
	for (size_t i = 0; i < fc->n_zones; i++) {
		free(fc->zones[i].name);
		free(fc->zones[i].prim);
	}
	free(fc->zones);
	free(fc->notify_acl);
	fol_relay_conf_free(fc);
	tsig_keytab_deinit(&fc->keys);
	free(fc->snapshot);
	free(fc->state_file);
	free(fc->path);
	if (fc->cfg) {
		config_destroy(fc->cfg);
		free(fc->cfg);
	}
	memset(fc, 0, sizeof(*fc));
}
