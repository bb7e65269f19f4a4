/* zonesync/pub_conf.c - the publisher's config file: one option table for
 * the scalar settings, plus the `keys` and `zones` lists.  Every problem is
 * reported as "FILE:LINE: reason", all of them, not just the first. */
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/conftab.h"
#include "common/dname.h"
#include "common/err.h"
#include "common/log.h"
#include "zonesync/pub.h"

/* Integers and strings are conftab's; the rest are parsed by pc_type_set. */
enum pc_type { PC_INT = CONFTAB_INT, PC_STR = CONFTAB_STR, PC_ADDR = CONFTAB_OWN, PC_ADDRS,
	       PC_LEVEL, PC_BOOL };

#define OFF(m) offsetof(struct pub_conf, m)
/* THE table; docs/publisher.md follows it row by row. */
static const struct conftab_opt pc_table[] = {
	{ "db", PC_STR, 0, 0, "", OFF(db),
	  "snapshot environment served: the central database (import --db) or a relay's snapshot" },
	{ "listen", PC_ADDRS, 0, 0, "127.0.0.1:53", OFF(listen),
	  "DNS addresses, UDP (SOA) and TCP (SOA, AXFR, IXFR)" },
	{ "metrics", PC_ADDR, 0, 0, "127.0.0.1:9154", OFF(metrics),
	  "HTTP address for /metrics and /health; \"\" disables" },
	{ "log-level", PC_LEVEL, 0, 0, "info", OFF(log_level), "err, warn, info or debug" },
	{ "map-size", PC_INT, 0, INT64_C(1) << 40, "0", OFF(map_size),
	  "LMDB map size used to open db, bytes; 0 = snapshot default (4 GiB)" },
	{ "transfers.max", PC_INT, 1, 1024, "32", OFF(max_transfers),
	  "transfers served at the same time; more wait in the queue" },
	{ "transfers.queue", PC_INT, 1, 1000000, "4096", OFF(queue_max),
	  "accepted transfer requests waiting for a slot (past it: SERVFAIL)" },
	{ "transfers.msg-size", PC_INT, 1024, 65535, "16384", OFF(msg_size),
	  "octets per AXFR/IXFR message (RFC 5936 allows up to 65535)" },
	{ "transfers.send-timeout-ms", PC_INT, 100, 3600000, "30000", OFF(send_timeout_ms),
	  "a transfer whose client reads nothing for this long is cut" },
	{ "transfers.max-time-s", PC_INT, 1, 86400, "1800", OFF(max_time_s),
	  "a transfer still running after this long is cut (a trickling reader holds a worker)" },
	{ "tcp.idle-timeout-ms", PC_INT, 100, 3600000, "10000", OFF(tcp_idle_ms),
	  "close a TCP connection that sends no complete query for this long" },
	{ "tcp.max-connections", PC_INT, 1, 1000000, "1024", OFF(tcp_max),
	  "open TCP connections, queued transfers included" },
	{ "poll-ms", PC_INT, 10, 60000, "200", OFF(poll_ms),
	  "how often zone serials are checked for a change (NOTIFY)" },
	{ "watch-ms", PC_INT, 100, 3600000, "1000", OFF(watch_ms),
	  "how often watched source files are checked" },
	{ "notify.jitter-ms", PC_INT, 0, 3600000, "100", OFF(notify_jitter_ms),
	  "NOTIFY waits a random delay up to this (RFC 1996 suggests more for big fan-out)" },
	{ "notify.rate", PC_INT, 1, 1000000, "200", OFF(notify_rate),
	  "NOTIFY messages sent per second, all zones and targets together" },
	{ "notify.retries", PC_INT, 0, 100, "5", OFF(notify_retries),
	  "re-sends of a NOTIFY that is not acknowledged" },
	{ "notify.timeout-ms", PC_INT, 10, 600000, "1000", OFF(notify_timeout_ms),
	  "first wait for a NOTIFY acknowledgement; doubled on each retry" },
	{ "notify.on-start", PC_BOOL, 0, 1, "true", OFF(notify_on_start),
	  "NOTIFY downstreams of every zone at start (an import made while we were down)" },
	{ "tsig.fudge", PC_INT, 1, 65535, "300", OFF(tsig_fudge),
	  "seconds of clock difference accepted in TSIG (RFC 8945 default 300)" },
	{ "tsig.skew-warn", PC_INT, 0, 65535, "60", OFF(skew_warn),
	  "log a warning when a peer's clock is off by more than this (before BADTIME)" },
	{ "watch.force", PC_BOOL, 0, 1, "false", OFF(import_force),
	  "watched imports skip the safety refusals (shrink, test points, type change)" },
};
#define PC_N (sizeof(pc_table) / sizeof(pc_table[0]))

static int pc_type_set(void *base, const struct conftab_opt *r, const char *s, bool append,
		       const char *where, struct strbuf *errs);

static const struct conftab pc_tab = { pc_table, PC_N, pc_type_set, NULL };

static struct pub_opt pc_opts[PC_N];

const struct pub_opt *pub_conf_options(size_t *n)
{
	for (size_t i = 0; i < PC_N; i++)
		pc_opts[i] = (struct pub_opt){ pc_table[i].name, pc_table[i].def, pc_table[i].help };
	*n = PC_N;
	return pc_opts;
}

static void pc_zone_free(struct pub_zone_conf *z)
{
	free(z->name);
	free(z->allow);
	free(z->keys);
	free(z->notify);
	for (size_t i = 0; i < z->n_sources; i++)
		free(z->sources[i]);
	free(z->sources);
}

void pub_conf_deinit(struct pub_conf *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->db);
	free(c->listen);
	tsig_keytab_deinit(&c->keys);
	for (size_t i = 0; i < c->n_zones; i++)
		pc_zone_free(&c->zones[i]);
	free(c->zones);
	if (c->origin)
		for (size_t i = 0; i < PC_N; i++)
			free(c->origin[i]);
	free(c->origin);
	memset(c, 0, sizeof(*c));
}

/* The publisher's own types for conftab_set (INT and STR are conftab's). */
static int pc_type_set(void *base, const struct conftab_opt *r, const char *s, bool append,
		       const char *where, struct strbuf *errs)
{
	struct pub_conf *c = base;
	void *f = (char *)c + r->off;
	const char *why = NULL;
	struct addr a, *v2;
	int64_t v;
	int lvl;

	switch (r->type) {
	case PC_BOOL:
		/* the file's true/false arrive as 1/0, the command line's as words */
		if (!strcmp(s, "true") || !strcmp(s, "false"))
			v = !strcmp(s, "true");
		else if (conftab_int(r, s, where, errs, &v) < 0)
			return GN_EINVAL;
		*(int64_t *)f = v;
		return 0;
	case PC_LEVEL:
		if ((lvl = log_level_parse(s)) < 0) {
			strbuf_printf(errs, "%s: %s: unknown level \"%s\" (err, warn, info, debug)\n",
				      where, r->name, s);
			return GN_EINVAL;
		}
		*(int64_t *)f = lvl;
		return 0;
	case PC_ADDR:
		memset(&a, 0, sizeof(a));
		if (*s && addr_parse(s, 0, &a, &why) < 0) {
			strbuf_printf(errs, "%s: %s: bad address \"%s\": %s\n", where, r->name, s, why);
			return GN_EINVAL;
		}
		*(struct addr *)f = a;
		return 0;
	case PC_ADDRS:
		if (addr_parse(s, PUB_DEFAULT_PORT, &a, &why) < 0) {
			strbuf_printf(errs, "%s: %s: bad address \"%s\": %s\n", where, r->name, s, why);
			return GN_EINVAL;
		}
		if (!append)
			c->n_listen = 0;
		if (!(v2 = realloc(c->listen, (c->n_listen + 1) * sizeof(*v2))))
			return GN_ENOMEM;
		c->listen = v2;
		v2[c->n_listen++] = a;
		return 0;
	}
	return GN_EINVAL;
}

/* Apply text `s` to row i and remember where it came from. */
static int pc_apply(struct pub_conf *c, size_t i, const char *s, bool append, const char *where,
		    struct strbuf *errs)
{
	char *dup;
	int ret;

	if ((ret = conftab_set(&pc_tab, c, i, s, append, where, errs)) < 0)
		return ret;
	if (!(dup = strdup(where)))
		return GN_ENOMEM;
	free(c->origin[i]);
	c->origin[i] = dup;
	return 0;
}

int pub_conf_init(struct pub_conf *c)
{
	int ret;

	memset(c, 0, sizeof(*c));
	tsig_keytab_init(&c->keys);
	c->origin = calloc(PC_N, sizeof(char *));
	ret = c->origin ? conftab_defaults(&pc_tab, c) : GN_ENOMEM;
	if (ret < 0)
		pub_conf_deinit(c);
	return ret;
}

static int pc_read_one(const struct conftab_read *rd, size_t i, const config_setting_t *s,
		       const char *where)
{
	struct pub_conf *c = rd->dst;
	struct strbuf *errs = rd->errs;
	const struct conftab_opt *r = &pc_table[i];
	int t = config_setting_type(s), ret = 0;
	char num[32], ewhere[512];

	if ((r->type == PC_INT || r->type == PC_BOOL) &&
	    (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_BOOL)) {
		snprintf(num, sizeof(num), "%lld",
			 t == CONFIG_TYPE_BOOL ? (long long)config_setting_get_bool(s)
					       : config_setting_get_int64(s));
		return pc_apply(c, i, num, false, where, errs);
	}
	if (r->type != PC_INT && r->type != PC_BOOL && t == CONFIG_TYPE_STRING)
		return pc_apply(c, i, config_setting_get_string(s), false, where, errs);
	if (r->type == PC_ADDRS && (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST)) {
		c->n_listen = 0;
		for (int k = 0; k < config_setting_length(s); k++) {
			const config_setting_t *e = config_setting_get_elem(s, (unsigned)k);
			const char *v = config_setting_get_string(e);
			int r2;
			conftab_where(e, rd->fallback, ewhere, sizeof(ewhere));
			if (!v) {
				strbuf_printf(errs, "%s: %s: element %d must be a string\n", ewhere,
					      r->name, k + 1);
				ret = GN_EINVAL;
				continue;
			}
			if ((r2 = pc_apply(c, i, v, true, ewhere, errs)) < 0)
				ret = r2;
		}
		return ret;
	}
	strbuf_printf(errs, "%s: %s must be %s\n", where, r->name,
		      r->type == PC_INT ? "an integer" : r->type == PC_BOOL ? "true or false" :
		      r->type == PC_ADDRS ? "a string or a list of strings" : "a string");
	return GN_EINVAL;
}

/* A list of strings (or one string) -> callback per element. */
static int pc_strings(const config_setting_t *s, const char *what, const char *fallback,
		      struct strbuf *errs, int (*cb)(void *arg, const char *v, const char *where),
		      void *arg)
{
	char where[512];
	int t = config_setting_type(s), ret = 0;

	conftab_where(s, fallback, where, sizeof(where));
	if (t == CONFIG_TYPE_STRING)
		return cb(arg, config_setting_get_string(s), where);
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		strbuf_printf(errs, "%s: %s must be a string or a list of strings\n", where, what);
		return GN_EINVAL;
	}
	for (int k = 0; k < config_setting_length(s); k++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)k);
		const char *v = config_setting_get_string(e);
		int r;
		conftab_where(e, fallback, where, sizeof(where));
		if (!v) {
			strbuf_printf(errs, "%s: %s: element %d must be a string\n", where, what, k + 1);
			ret = GN_EINVAL;
			continue;
		}
		if ((r = cb(arg, v, where)) < 0)
			ret = r;
	}
	return ret;
}

struct pc_zctx {
	struct pub_conf *c;
	struct pub_zone_conf *z;
	struct strbuf *errs;
};

static int pc_z_allow(void *arg, const char *v, const char *where)
{
	struct pc_zctx *x = arg;
	struct netacl_entry e, *n;
	const char *why = NULL;

	if (netacl_parse(v, &e, &why) < 0) {
		strbuf_printf(x->errs, "%s: zone %s: allow: bad network \"%s\": %s\n", where,
			      x->z->name ? x->z->name : "?", v, why);
		return GN_EINVAL;
	}
	if (!(n = realloc(x->z->allow, (x->z->n_allow + 1) * sizeof(*n))))
		return GN_ENOMEM;
	x->z->allow = n;
	n[x->z->n_allow++] = e;
	return 0;
}

static int pc_z_key(void *arg, const char *v, const char *where)
{
	struct pc_zctx *x = arg;
	const struct tsig_key *k = tsig_keytab_find(&x->c->keys, v), **n;

	if (!k) {
		strbuf_printf(x->errs, "%s: zone %s: keys: no key named \"%s\" in keys = ( ... )\n",
			      where, x->z->name ? x->z->name : "?", v);
		return GN_EINVAL;
	}
	if (!(n = realloc(x->z->keys, (x->z->n_keys + 1) * sizeof(*n))))
		return GN_ENOMEM;
	x->z->keys = n;
	n[x->z->n_keys++] = k;
	return 0;
}

static int pc_z_notify(void *arg, const char *v, const char *where)
{
	struct pc_zctx *x = arg;
	struct pub_target *n;
	struct addr a;
	const char *why = NULL;

	if (addr_parse(v, PUB_DEFAULT_PORT, &a, &why) < 0) {
		strbuf_printf(x->errs, "%s: zone %s: notify: bad address \"%s\": %s\n", where,
			      x->z->name ? x->z->name : "?", v, why);
		return GN_EINVAL;
	}
	if (!(n = realloc(x->z->notify, (x->z->n_notify + 1) * sizeof(*n))))
		return GN_ENOMEM;
	x->z->notify = n;
	n[x->z->n_notify].addr = a;
	if (addr_format(&a.u.sa, n[x->z->n_notify].text, sizeof(n->text)) < 0)
		snprintf(n[x->z->n_notify].text, sizeof(n->text), "%s", v);
	x->z->n_notify++;
	return 0;
}

static int pc_z_source(void *arg, const char *v, const char *where)
{
	struct pc_zctx *x = arg;
	const char *colon = strchr(v, ':');
	char **n;
	uint8_t a[DNAME_MAX], b[DNAME_MAX];

	/* The spec must be for this zone: a typo would import into another. */
	if (!colon || !x->z->name || dname_from_text(v, (size_t)(colon - v), a) < 0 ||
	    dname_from_text(x->z->name, strlen(x->z->name), b) < 0 || !dname_wire_equal(a, b)) {
		strbuf_printf(x->errs, "%s: zone %s: sources: \"%s\" is not ZONE:TYPE:FILE for this "
			      "zone\n", where, x->z->name ? x->z->name : "?", v);
		return GN_EINVAL;
	}
	if (!(n = realloc(x->z->sources, (x->z->n_sources + 1) * sizeof(*n))))
		return GN_ENOMEM;
	x->z->sources = n;
	if (!(n[x->z->n_sources] = strdup(v)))
		return GN_ENOMEM;
	x->z->n_sources++;
	return 0;
}

static int pc_zone(struct pub_conf *c, const config_setting_t *g, const char *fallback,
		   struct strbuf *errs)
{
	struct pub_zone_conf *z;
	struct pc_zctx x = { .c = c, .errs = errs };
	const config_setting_t *sources = NULL;
	char where[512];
	const char *name = NULL;
	uint8_t wire[DNAME_MAX];
	int ret = 0, r;

	conftab_where(g, fallback, where, sizeof(where));
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		strbuf_printf(errs, "%s: zones: each zone is a group { name = \"...\"; ... }\n", where);
		return GN_EINVAL;
	}
	if (!(z = realloc(c->zones, (c->n_zones + 1) * sizeof(*z))))
		return GN_ENOMEM;
	c->zones = z;
	z = &c->zones[c->n_zones++];
	memset(z, 0, sizeof(*z));
	z->line = config_setting_source_line(g);
	x.z = z;
	if (config_setting_lookup_string(g, "name", &name) != CONFIG_TRUE ||
	    dname_from_text(name, strlen(name), wire) < 0 || wire[0] == 0) {
		strbuf_printf(errs, "%s: zones: a zone needs name = \"zone.name\";\n", where);
		return GN_EINVAL;
	}
	{
		char text[DNAME_TEXT_MAX];
		for (int i = 0; i < dname_wire_len(wire); i++)
			wire[i] = dname_lower(wire[i]);
		if (dname_to_text(wire, text, sizeof(text)) < 0 || !(z->name = strdup(text)))
			return GN_ENOMEM;
	}
	for (size_t i = 0; i + 1 < c->n_zones; i++)
		if (strcmp(c->zones[i].name, z->name) == 0) {
			strbuf_printf(errs, "%s: zone %s is listed twice (first at line %d)\n", where,
				      z->name, c->zones[i].line);
			ret = GN_EINVAL;
		}
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *n = config_setting_name(s), *v;
		char w2[512];

		conftab_where(s, fallback, w2, sizeof(w2));
		r = 0;
		if (!strcmp(n, "name")) {
			continue;
		} else if (!strcmp(n, "allow")) {
			r = pc_strings(s, "allow", fallback, errs, pc_z_allow, &x);
		} else if (!strcmp(n, "keys")) {
			r = pc_strings(s, "keys", fallback, errs, pc_z_key, &x);
		} else if (!strcmp(n, "notify")) {
			r = pc_strings(s, "notify", fallback, errs, pc_z_notify, &x);
		} else if (!strcmp(n, "sources")) {
			sources = s;
		} else if (!strcmp(n, "notify-key")) {
			if (!(v = config_setting_get_string(s)) ||
			    !(z->notify_key = tsig_keytab_find(&c->keys, v))) {
				strbuf_printf(errs, "%s: zone %s: notify-key must name a key of keys = "
					      "( ... )\n", w2, z->name);
				r = GN_EINVAL;
			}
		} else if (!strcmp(n, "zonemd")) {
			if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
				strbuf_printf(errs, "%s: zone %s: zonemd must be true or false\n", w2,
					      z->name);
				r = GN_EINVAL;
			} else {
				z->zonemd = config_setting_get_bool(s) != 0;
			}
		} else {
			strbuf_printf(errs, "%s: zone %s: unknown setting '%s' (name, allow, keys, "
				      "notify, notify-key, sources, zonemd)\n", w2, z->name, n);
			r = GN_EINVAL;
		}
		if (r < 0 && ret == 0)
			ret = r;
	}
	if (sources && (r = pc_strings(sources, "sources", fallback, errs, pc_z_source, &x)) < 0 &&
	    ret == 0)
		ret = r;
	/* Default deny: a zone must say who may transfer it. */
	if (z->n_allow == 0 && z->n_keys == 0) {
		strbuf_printf(errs, "%s: zone %s: no access rule: set allow = [ \"NET/LEN\", ... ] "
			      "and/or keys = [ \"KEY\" ]\n", where, z->name);
		ret = GN_EINVAL;
	}
	return ret;
}


/* "keys" and "zones" are read after the scalars, keys before zones. */
static int pc_read_extra(const struct conftab_read *rd, const char *name,
			 const config_setting_t *s, const char *where)
{
	return !strcmp(name, "keys") || !strcmp(name, "zones") ? 0 : CONFTAB_UNKNOWN;
}

static int pc_read_unknown(const struct conftab_read *rd, const config_setting_t *s,
			   const char *where, const char *full, bool not_group)
{
	strbuf_printf(rd->errs, "%s: unknown option '%s'\n", where, full);
	return GN_EINVAL;
}

static const struct conftab_keys pc_keys = { pc_read_one, pc_read_extra, pc_read_unknown };

struct pc_load_arg {
	struct pub_conf *c;
	const char *section;
};

static int pc_use(void *arg, config_t *cfg, const char *name, struct strbuf *errs)
{
	const struct pc_load_arg *la = arg;
	struct pub_conf *c = la->c;
	const char *section = la->section;
	struct conftab_read rd = { c, name, errs };
	const config_setting_t *root, *keys, *zones;
	int ret, r;

	free(c->path);
	if (!(c->path = strdup(name)))
		return GN_ENOMEM;
	root = section ? config_lookup(cfg, section) : config_root_setting(cfg);
	if (!root || config_setting_type(root) != CONFIG_TYPE_GROUP) {
		strbuf_printf(errs, "%s: no %s = { ... }; group\n", name, section ? section : "root");
		return GN_EINVAL;
	}
	ret = conftab_walk(&pc_tab, root, &pc_keys, &rd);
	/* A relay's publisher group may share the keys of the file's root. */
	keys = config_setting_get_member(root, "keys");
	if (!keys && section)
		keys = config_lookup(cfg, "keys");
	if (keys &&
	    (r = tsig_keytab_load(&c->keys, keys, name, errs)) < 0 && ret == 0)
		ret = r;
	if ((zones = config_setting_get_member(root, "zones"))) {
		if (config_setting_type(zones) != CONFIG_TYPE_LIST) {
			char where[512];
			conftab_where(zones, name, where, sizeof(where));
			strbuf_printf(errs, "%s: zones must be a list: zones = ( { name = ...; }, ... );\n",
				      where);
			ret = GN_EINVAL;
		} else {
			for (int i = 0; i < config_setting_length(zones); i++)
				if ((r = pc_zone(c, config_setting_get_elem(zones, (unsigned)i), name,
						 errs)) < 0 && ret == 0)
					ret = r;
		}
	}
	if (!c->db || !*c->db) {
		strbuf_printf(errs, "%s: db is not set (db = \"DIR\"; the central database or a "
			      "relay snapshot)\n", name);
		ret = GN_EINVAL;
	}
	if (c->n_listen == 0) {
		strbuf_printf(errs, "%s: listen is empty: give at least one address\n", name);
		ret = GN_EINVAL;
	}
	if (c->n_zones == 0) {
		strbuf_printf(errs, "%s: no zones = ( ... ); nothing would be served\n", name);
		ret = GN_EINVAL;
	}
	return ret;
}

int pub_conf_load(struct pub_conf *c, const char *path, const char *section, struct strbuf *errs)
{
	struct pc_load_arg la = { c, section };

	return conftab_load_file(path, pc_use, &la, errs);
}

int pub_conf_load_string(struct pub_conf *c, const char *text, const char *name,
			 const char *section, struct strbuf *errs)
{
	struct pc_load_arg la = { c, section };

	return conftab_load_string(text, name, pc_use, &la, errs);
}

const struct pub_zone_conf *pub_conf_zone(const struct pub_conf *c, const char *name)
{
	uint8_t a[DNAME_MAX], b[DNAME_MAX];

	if (dname_from_text(name, strlen(name), a) < 0)
		return NULL;
	for (size_t i = 0; i < c->n_zones; i++)
		if (dname_from_text(c->zones[i].name, strlen(c->zones[i].name), b) > 0 &&
		    dname_wire_equal(a, b))
			return &c->zones[i];
	return NULL;
}
