/* resolver/conf_zacl.c - the "zone-acl" list of the resolver configuration,
 * per-zone client actions in the style of rbldnsd's acl dataset:
 *
 *   zone-acl = (
 *     { zone = "bl.example"; networks = [ "192.0.2.0/24" ]; action = "refuse"; },
 *     { zone = "bl.example"; networks = [ "198.51.100.0/24" ];
 *       action = ":127.0.0.2:Blocked, see https://example.net/?$"; }
 *   );
 *
 * action: "ignore", "refuse", "empty", "pass" or ":A:TXT".  Every key is
 * checked (a typo is an error with FILE:LINE).  The rules are kept sorted
 * by the zone's key (answer_zacl_key_cmp), config order within a zone, so
 * the answer engine finds each zone's one contiguous run by the query's
 * key, whether or not the snapshot has the zone (first match wins, as in
 * rbldnsd).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/dname.h"
#include "common/err.h"
#include "resolver/conf.h"

static const char *const zacl_names[ANSWER_ZACL_N] = {
	[ANSWER_ZACL_PASS] = "pass", [ANSWER_ZACL_IGNORE] = "ignore",
	[ANSWER_ZACL_REFUSE] = "refuse", [ANSWER_ZACL_EMPTY] = "empty",
	[ANSWER_ZACL_FIXED] = NULL, /* ":A:TXT" */
};

static void zacl_where(const config_setting_t *s, const char *fallback, char *buf, size_t cap)
{
	const char *file = config_setting_source_file(s);
	snprintf(buf, cap, "%s:%u", file ? file : fallback, config_setting_source_line(s));
}

void conf_zacl_free(struct conf *c)
{
	for (size_t i = 0; i < c->n_zacl; i++) {
		/* conf owns what the rules point at (const for the engine). */
		free((char *)c->zacl[i].zone);
		free((void *)c->zacl[i].nets);
		free((char *)c->zacl[i].txt);
	}
	free(c->zacl);
	c->zacl = NULL;
	c->n_zacl = 0;
}

/* "bl.example." -> "bl.example", lowercase; must be a domain name. */
static int zacl_zone(struct answer_zacl *r, const config_setting_t *s, const char *where,
		     struct strbuf *errs)
{
	uint8_t key[DNAME_MAX];
	const char *v;
	char *d;
	size_t n;
	int kl;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		strbuf_printf(errs, "%s: zone-acl: zone must be a string\n", where);
		return GN_EINVAL;
	}
	v = config_setting_get_string(s);
	n = strlen(v);
	if (n > 1 && v[n - 1] == '.')
		n--;
	if (n == 0 || (kl = dname_text_to_key(v, strlen(v), key)) < 0) {
		strbuf_printf(errs, "%s: zone-acl: zone \"%s\" is not a domain name\n", where, v);
		return GN_EINVAL;
	}
	if (!(d = strndup(v, n)))
		return GN_ENOMEM;
	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	free((char *)r->zone);
	r->zone = d;
	/* The key is what queries are matched with (the text only names the
	 * zone in dumps and metrics); from the text as written, which
	 * dname_text_to_key lowercases and reads with or without the dot. */
	memcpy(r->key, key, (size_t)kl);
	r->keylen = (uint8_t)kl;
	return 0;
}

static int zacl_nets(struct answer_zacl *r, const config_setting_t *s, const char *fallback,
		     const char *where, struct strbuf *errs)
{
	int type = config_setting_type(s), n, ret = 0;
	struct netacl_entry *v;

	if (type == CONFIG_TYPE_STRING)
		n = 1;
	else if (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST)
		n = config_setting_length(s);
	else {
		strbuf_printf(errs, "%s: zone-acl: networks must be a string or a list of strings\n",
			      where);
		return GN_EINVAL;
	}
	if (n == 0) {
		strbuf_printf(errs, "%s: zone-acl: networks is empty (use \"0.0.0.0/0\" and "
				    "\"::/0\" for every client)\n", where);
		return GN_EINVAL;
	}
	if (!(v = calloc((size_t)n, sizeof(*v))))
		return GN_ENOMEM;
	free((void *)r->nets);
	r->nets = v;
	r->n_nets = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = type == CONFIG_TYPE_STRING ? s :
					    config_setting_get_elem(s, (unsigned)i);
		const char *why = NULL;
		char ew[512];
		zacl_where(e, fallback, ew, sizeof(ew));
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			strbuf_printf(errs, "%s: zone-acl: networks: element %d must be a string\n",
				      ew, i + 1);
			ret = GN_EINVAL;
			continue;
		}
		if (netacl_parse(config_setting_get_string(e), &v[r->n_nets], &why) < 0) {
			strbuf_printf(errs, "%s: zone-acl: networks: bad network \"%s\": %s\n", ew,
				      config_setting_get_string(e), why);
			ret = GN_EINVAL;
			continue;
		}
		r->n_nets++;
	}
	return ret;
}

/* "ignore", "refuse", "empty", "pass", or ":A:TXT" (A in 127.0.0.0/8, as
 * a DNSBL answer must be; TXT may be empty: then no TXT record). */
static int zacl_action(struct answer_zacl *r, const config_setting_t *s, const char *where,
		       struct strbuf *errs)
{
	const char *v, *colon;
	char ip[INET_ADDRSTRLEN];
	char *txt;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		strbuf_printf(errs, "%s: zone-acl: action must be a string\n", where);
		return GN_EINVAL;
	}
	v = config_setting_get_string(s);
	for (int k = 0; k < ANSWER_ZACL_N; k++)
		if (zacl_names[k] && strcmp(v, zacl_names[k]) == 0) {
			r->action = (enum answer_zacl_action)k;
			return 0;
		}
	if (v[0] != ':' || !(colon = strchr(v + 1, ':')) || (size_t)(colon - v - 1) >= sizeof(ip)) {
		strbuf_printf(errs, "%s: zone-acl: action \"%s\": use \"ignore\", \"refuse\", "
				    "\"empty\", \"pass\" or \":A:TXT\" (e.g. \":127.0.0.2:Blocked\")\n",
			      where, v);
		return GN_EINVAL;
	}
	memcpy(ip, v + 1, (size_t)(colon - v - 1));
	ip[colon - v - 1] = '\0';
	if (inet_pton(AF_INET, ip, r->a) != 1 || r->a[0] != 127) {
		strbuf_printf(errs, "%s: zone-acl: action \"%s\": \"%s\" is not an IPv4 address "
				    "in 127.0.0.0/8\n", where, v, ip);
		return GN_EINVAL;
	}
	if (strlen(colon + 1) > 1000) {
		strbuf_printf(errs, "%s: zone-acl: action \"%s\": TXT longer than 1000 octets\n",
			      where, v);
		return GN_EINVAL;
	}
	if (!(txt = strdup(colon + 1)))
		return GN_ENOMEM;
	free((char *)r->txt);
	r->txt = txt;
	r->action = ANSWER_ZACL_FIXED;
	return 0;
}

static int zacl_read_one(struct answer_zacl *r, const config_setting_t *g, const char *fallback,
			 struct strbuf *errs)
{
	char where[512];
	bool seen[3] = { false, false, false };
	static const char *const keys[3] = { "zone", "networks", "action" };
	int ret = 0, n;

	zacl_where(g, fallback, where, sizeof(where));
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		strbuf_printf(errs, "%s: zone-acl: each rule must be a group "
				    "{ zone = ...; networks = [ ... ]; action = ...; }\n", where);
		return GN_EINVAL;
	}
	n = config_setting_length(g);
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *key = config_setting_name(s);
		char kw[512];
		int r2;
		zacl_where(s, fallback, kw, sizeof(kw));
		if (key && strcmp(key, "zone") == 0) {
			r2 = zacl_zone(r, s, kw, errs);
			seen[0] = true;
		} else if (key && strcmp(key, "networks") == 0) {
			r2 = zacl_nets(r, s, fallback, kw, errs);
			seen[1] = true;
		} else if (key && strcmp(key, "action") == 0) {
			r2 = zacl_action(r, s, kw, errs);
			seen[2] = true;
		} else {
			strbuf_printf(errs, "%s: zone-acl: unknown option '%s'\n", kw, key ? key : "?");
			r2 = GN_EINVAL;
		}
		if (r2 < 0 && ret == 0)
			ret = r2;
	}
	for (int k = 0; k < 3; k++)
		if (!seen[k]) {
			strbuf_printf(errs, "%s: zone-acl: %s is missing\n", where, keys[k]);
			if (ret == 0)
				ret = GN_EINVAL;
		}
	return ret;
}

int conf_zacl_read(struct conf *c, const struct config_setting_t *list, const char *fallback,
		   struct strbuf *errs)
{
	const config_setting_t *l = (const config_setting_t *)list;
	char where[512];
	int n, ret = 0;

	zacl_where(l, fallback, where, sizeof(where));
	conf_zacl_free(c);
	if (config_setting_type(l) != CONFIG_TYPE_LIST) {
		strbuf_printf(errs, "%s: zone-acl must be a list of groups: "
				    "zone-acl = ( { zone = ...; networks = [ ... ]; action = ...; } );\n",
			      where);
		return GN_EINVAL;
	}
	n = config_setting_length(l);
	if (n && !(c->zacl = calloc((size_t)n, sizeof(*c->zacl))))
		return GN_ENOMEM;
	for (int i = 0; i < n; i++) {
		int r = zacl_read_one(&c->zacl[i], config_setting_get_elem(l, (unsigned)i), fallback,
				      errs);
		c->n_zacl++;
		if (r < 0 && ret == 0)
			ret = r;
	}
	if (ret < 0) {
		conf_zacl_free(c);
		return ret;
	}
	/* Stable insertion sort by key: config order stays within a zone. */
	for (size_t i = 1; i < c->n_zacl; i++) {
		struct answer_zacl t = c->zacl[i];
		size_t j = i;
		for (; j > 0 && answer_zacl_key_cmp(&c->zacl[j - 1], &t) > 0; j--)
			c->zacl[j] = c->zacl[j - 1];
		c->zacl[j] = t;
	}
	return 0;
}

static void zacl_dump_net(struct strbuf *out, const struct netacl_entry *e)
{
	char t[INET6_ADDRSTRLEN];
	if (!inet_ntop(e->family, e->addr, t, sizeof(t)))
		snprintf(t, sizeof(t), "?");
	strbuf_printf(out, "\"%s/%u\"", t, e->plen);
}

void conf_zacl_dump(const struct conf *c, struct strbuf *out)
{
	if (c->n_zacl == 0) {
		strbuf_printf(out, "\n# per-zone client actions (none: every allowed client is "
				   "answered alike)\n# zone-acl = ( { zone = \"bl.example\"; networks "
				   "= [ \"192.0.2.0/24\" ]; action = \"refuse\"; } );\n");
		return;
	}
	strbuf_printf(out, "\n# per-zone client actions, first match of the zone wins\n"
			   "zone-acl = (\n");
	for (size_t i = 0; i < c->n_zacl; i++) {
		const struct answer_zacl *r = &c->zacl[i];
		strbuf_printf(out, "\t{ zone = \"%s\"; networks = [", r->zone);
		for (size_t k = 0; k < r->n_nets; k++) {
			strbuf_add(out, k ? ", " : " ", k ? 2 : 1);
			zacl_dump_net(out, &r->nets[k]);
		}
		strbuf_printf(out, " ]; action = \"");
		if (r->action == ANSWER_ZACL_FIXED) {
			strbuf_printf(out, ":%u.%u.%u.%u:", r->a[0], r->a[1], r->a[2], r->a[3]);
			for (const char *p = r->txt; p && *p; p++) {
				if (*p == '"' || *p == '\\')
					strbuf_add(out, "\\", 1);
				strbuf_add(out, p, 1);
			}
		} else {
			strbuf_printf(out, "%s", zacl_names[r->action]);
		}
		strbuf_printf(out, "\"; }%s\n", i + 1 < c->n_zacl ? "," : "");
	}
	strbuf_printf(out, ");\n");
}
