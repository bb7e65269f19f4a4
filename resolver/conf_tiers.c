/* resolver/conf_tiers.c - the "tiers" list of the resolver configuration:
 *
 *   tiers = (
 *     { name = "grid"; servers = [ "10.1.0.53@53", "10.1.0.54@53" ];
 *       timeout-ms = 300; hedge-after-ms = 100; },
 *     { name = "noc"; mode = "recursive"; timeout-ms = 2000; }
 *   );
 *
 * Order is the fallback order.  Every key is checked (a typo is an error
 * with FILE:LINE), and each tier is validated by tier_conf_check, which
 * knows the rules (recursive only last, servers for forward tiers...).
 */
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "resolver/conf.h"

enum tkey { TK_NAME, TK_SERVERS, TK_TIMEOUT, TK_HEDGE, TK_MODE, TK_DNSSEC, TK_ANCHOR,
	    TK_FALL, TK_RISE, TK_BACKOFF, TK_BACKOFF_MAX, TK__N };

static const struct {
	const char *name;
	int64_t min, max;
} tkeys[TK__N] = {
	[TK_NAME] = { "name", 0, 0 },
	[TK_SERVERS] = { "servers", 0, 0 },
	[TK_TIMEOUT] = { "timeout-ms", 1, 60000 },
	[TK_HEDGE] = { "hedge-after-ms", 0, 60000 },
	[TK_MODE] = { "mode", 0, 0 },
	[TK_DNSSEC] = { "dnssec", 0, 0 },
	[TK_ANCHOR] = { "trust-anchor", 0, 0 },
	[TK_FALL] = { "fall", 1, 1000 },
	[TK_RISE] = { "rise", 1, 1000 },
	[TK_BACKOFF] = { "backoff-ms", 10, 3600000 },
	[TK_BACKOFF_MAX] = { "backoff-max-ms", 10, 3600000 },
};

static void tier_where(const config_setting_t *s, const char *fallback, char *buf, size_t cap)
{
	const char *file = config_setting_source_file(s);
	snprintf(buf, cap, "%s:%u", file ? file : fallback, config_setting_source_line(s));
}

static void tier_clear(struct conf_tier *t)
{
	free(t->name);
	for (size_t i = 0; i < t->n_servers; i++)
		free(t->servers[i]);
	free(t->servers);
	free(t->trust_anchor);
	free(t->where);
	memset(t, 0, sizeof(*t));
}

void conf_tiers_free(struct conf *c)
{
	for (size_t i = 0; i < c->n_tiers; i++)
		tier_clear(&c->tiers[i]);
	free(c->tiers);
	c->tiers = NULL;
	c->n_tiers = 0;
}

static int tier_int(const config_setting_t *s, enum tkey k, const char *where, int64_t *out,
		    struct strbuf *errs)
{
	int64_t v;
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		strbuf_printf(errs, "%s: tiers: %s must be an integer\n", where, tkeys[k].name);
		return GN_EINVAL;
	}
	v = config_setting_get_int64(s);
	if (v < tkeys[k].min || v > tkeys[k].max) {
		strbuf_printf(errs, "%s: tiers: %s = %lld is out of range %lld..%lld\n", where,
			      tkeys[k].name, (long long)v, (long long)tkeys[k].min,
			      (long long)tkeys[k].max);
		return GN_EINVAL;
	}
	*out = v;
	return 0;
}

static int tier_str(const config_setting_t *s, const char *key, const char *where, char **out,
		    struct strbuf *errs)
{
	char *d;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		strbuf_printf(errs, "%s: tiers: %s must be a string\n", where, key);
		return GN_EINVAL;
	}
	if (!(d = strdup(config_setting_get_string(s))))
		return GN_ENOMEM;
	free(*out);
	*out = d;
	return 0;
}

static int tier_servers(struct conf_tier *t, const config_setting_t *s, const char *where,
			struct strbuf *errs)
{
	int type = config_setting_type(s), n;
	if (type == CONFIG_TYPE_STRING)
		n = 1;
	else if (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST)
		n = config_setting_length(s);
	else {
		strbuf_printf(errs, "%s: tiers: servers must be a string or a list of strings\n",
			      where);
		return GN_EINVAL;
	}
	if (!(t->servers = calloc((size_t)n + 1, sizeof(char *))))
		return GN_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = type == CONFIG_TYPE_STRING ? s :
					    config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			strbuf_printf(errs, "%s: tiers: servers: element %d must be a string\n",
				      where, i + 1);
			return GN_EINVAL;
		}
		if (!(t->servers[i] = strdup(config_setting_get_string(e))))
			return GN_ENOMEM;
		t->n_servers++;
	}
	return 0;
}

static int tier_read_one(struct conf_tier *t, const config_setting_t *g, const char *fallback,
			 struct strbuf *errs)
{
	char where[512];
	int ret = 0, n;
	int64_t v;

	tier_where(g, fallback, where, sizeof(where));
	if (!(t->where = strdup(where)))
		return GN_ENOMEM;
	tier_conf_defaults(&t->tc);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		strbuf_printf(errs, "%s: tiers: each tier must be a group { name = ...; ... }\n",
			      where);
		return GN_EINVAL;
	}
	n = config_setting_length(g);
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *key = config_setting_name(s);
		int k, r = 0;
		tier_where(s, fallback, where, sizeof(where));
		for (k = 0; k < TK__N; k++)
			if (key && strcmp(key, tkeys[k].name) == 0)
				break;
		switch (k) {
		case TK_NAME: r = tier_str(s, key, where, &t->name, errs); break;
		case TK_SERVERS: r = tier_servers(t, s, where, errs); break;
		case TK_ANCHOR: r = tier_str(s, key, where, &t->trust_anchor, errs); break;
		case TK_MODE: {
			char *m = NULL;
			if ((r = tier_str(s, key, where, &m, errs)) == 0) {
				if (strcmp(m, "forward") == 0)
					t->tc.mode = TIER_FORWARD;
				else if (strcmp(m, "recursive") == 0)
					t->tc.mode = TIER_RECURSIVE;
				else {
					strbuf_printf(errs, "%s: tiers: mode \"%s\": use \"forward\" "
							    "or \"recursive\"\n", where, m);
					r = GN_EINVAL;
				}
			}
			free(m);
			break;
		}
		case TK_DNSSEC:
			if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
				strbuf_printf(errs, "%s: tiers: dnssec must be true or false\n", where);
				r = GN_EINVAL;
			} else {
				t->tc.dnssec = config_setting_get_bool(s);
			}
			break;
		case TK__N:
			strbuf_printf(errs, "%s: tiers: unknown option '%s'\n", where,
				      key ? key : "?");
			r = GN_EINVAL;
			break;
		default:
			if ((r = tier_int(s, (enum tkey)k, where, &v, errs)) == 0) {
				uint32_t u = (uint32_t)v;
				if (k == TK_TIMEOUT) t->tc.timeout_ms = u;
				else if (k == TK_HEDGE) t->tc.hedge_after_ms = u;
				else if (k == TK_FALL) t->tc.fall = u;
				else if (k == TK_RISE) t->tc.rise = u;
				else if (k == TK_BACKOFF) t->tc.backoff_ms = u;
				else t->tc.backoff_max_ms = u;
			}
		}
		if (r < 0 && ret == 0)
			ret = r;
	}
	t->tc.name = t->name;
	t->tc.servers = (const char *const *)t->servers;
	t->tc.n_servers = t->n_servers;
	t->tc.trust_anchor = t->trust_anchor;
	return ret;
}

int conf_tiers_read(struct conf *c, const struct config_setting_t *list, const char *fallback,
		    struct strbuf *errs)
{
	const config_setting_t *l = (const config_setting_t *)list;
	char where[512], why[256];
	int n, ret = 0, type = config_setting_type(l);

	tier_where(l, fallback, where, sizeof(where));
	conf_tiers_free(c);
	if (type != CONFIG_TYPE_LIST) {
		strbuf_printf(errs, "%s: tiers must be a list of groups: tiers = ( { ... }, ... );\n",
			      where);
		return GN_EINVAL;
	}
	n = config_setting_length(l);
	if (n > TIER_MAX) {
		strbuf_printf(errs, "%s: tiers: at most %d tiers\n", where, TIER_MAX);
		return GN_EINVAL;
	}
	if (n && !(c->tiers = calloc((size_t)n, sizeof(*c->tiers))))
		return GN_ENOMEM;
	for (int i = 0; i < n; i++) {
		int r = tier_read_one(&c->tiers[i], config_setting_get_elem(l, (unsigned)i),
				      fallback, errs);
		c->n_tiers++;
		if (r < 0 && ret == 0)
			ret = r;
	}
	for (size_t i = 0; ret == 0 && i < c->n_tiers; i++) {
		if (tier_conf_check(&c->tiers[i].tc, i + 1 == c->n_tiers, why, sizeof(why)) < 0) {
			strbuf_printf(errs, "%s: tiers: %s\n", c->tiers[i].where, why);
			ret = GN_EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (c->tiers[i].name && c->tiers[j].name &&
			    strcmp(c->tiers[i].name, c->tiers[j].name) == 0) {
				strbuf_printf(errs, "%s: tiers: name \"%s\" is used twice\n",
					      c->tiers[i].where, c->tiers[i].name);
				ret = GN_EINVAL;
			}
	}
	return ret;
}

void conf_tiers_dump(const struct conf *c, struct strbuf *out)
{
	if (c->n_tiers == 0) {
		strbuf_printf(out, "\n# upstream tiers, in fallback order (none: names outside "
				   "local zones are REFUSED)\n# tiers = ( { name = \"grid\"; servers = "
				   "[ \"10.0.0.53@53\" ]; timeout-ms = 300; } );\n");
		return;
	}
	strbuf_printf(out, "\n# upstream tiers, in fallback order\ntiers = (\n");
	for (size_t i = 0; i < c->n_tiers; i++) {
		const struct tier_conf *t = &c->tiers[i].tc;
		strbuf_printf(out, "\t{ name = \"%s\"; mode = \"%s\"; servers = [", t->name,
			      t->mode == TIER_RECURSIVE ? "recursive" : "forward");
		for (size_t k = 0; k < t->n_servers; k++)
			strbuf_printf(out, "%s\"%s\"", k ? ", " : " ", t->servers[k]);
		strbuf_printf(out, " ];\n\t  timeout-ms = %u; hedge-after-ms = %u; dnssec = %s; "
				   "trust-anchor = \"%s\";\n\t  fall = %u; rise = %u; backoff-ms = "
				   "%u; backoff-max-ms = %u; }%s\n",
			      t->timeout_ms, t->hedge_after_ms, t->dnssec ? "true" : "false",
			      t->trust_anchor ? t->trust_anchor : "", t->fall, t->rise,
			      t->backoff_ms, t->backoff_max_ms, i + 1 < c->n_tiers ? "," : "");
	}
	strbuf_printf(out, ");\n");
}
