/* resolver/conf.c - the option table and the libconfig reader behind it. */
#include <errno.h>
#include <inttypes.h>
#include <libconfig.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include "common/conftab.h"
#include "common/dname.h"
#include "common/err.h"
#include "common/log.h"
#include "resolver/conf.h"
#include "resolver/health.h"

#define OFF(m) offsetof(struct conf, m)
#define KIB (INT64_C(1) << 10)
#define MIB (INT64_C(1) << 20)
#define GIB (INT64_C(1) << 30)

/* THE option table.  Keep rows of one group together (conf_dump relies on
 * it) and keep docs/resolver.md in step (tests/unit/test_conf.c checks).
 * Defaults are written as in the file, so they pass the same checks. */
static const struct conftab_opt conf_table[] = {
	{ "snapshot", CONF_STR, 0, 0, "", OFF(snapshot),
	  "snapshot directory written by gridns-zonesync (required)" },
	{ "listen", CONF_ADDRS, 0, 0, "127.0.0.1:53", OFF(listen),
	  "DNS addresses, UDP and TCP: \"IP:PORT\", \"[IPV6]:PORT\" or \"IP@PORT\"" },
	{ "workers", CONF_INT, 0, 256, "0", OFF(workers),
	  "worker threads, each with its own sockets; 0 = one per usable CPU" },
	{ "metrics", CONF_ADDR, 0, 0, "127.0.0.1:9153", OFF(metrics),
	  "HTTP address for /metrics and /health; \"\" disables" },
	{ "user", CONF_STR, 0, 0, "", OFF(user),
	  "drop to this user after binding; \"\" = keep the current user" },
	{ "chroot", CONF_STR, 0, 0, "", OFF(chroot),
	  "chroot here after binding, before dropping to user (root only); \"\" = none" },
	{ "log-level", CONF_LEVEL, 0, 0, "info", OFF(log_level),
	  "err, warn, info or debug" },
	{ "snapshot-map-size", CONF_SIZE, 0, 1024 * GIB, "0", OFF(snapshot_map_size),
	  "LMDB map size used to open the snapshot; 0 = snapshot default (4G)" },
	{ "udp.edns-payload", CONF_INT, 512, 4096, "1232", OFF(udp_edns_payload),
	  "largest UDP response we send (EDNS payload size we advertise)" },
	{ "udp.rcvbuf", CONF_SIZE, 64 * KIB, 1 * GIB, "8M", OFF(udp_rcvbuf),
	  "UDP socket receive buffer per socket, sized to absorb query bursts" },
	{ "udp.batch", CONF_INT, 1, 1024, "32", OFF(udp_batch),
	  "datagrams read per recvmmsg(2) and answered per snapshot view" },
	{ "tcp.max-connections", CONF_INT, 1, 65536, "256", OFF(tcp_max_connections),
	  "open TCP connections, all workers together" },
	{ "tcp.idle-timeout-ms", CONF_INT, 100, 3600 * 1000, "10000", OFF(tcp_idle_timeout_ms),
	  "close a TCP connection after this long without a complete query" },
	{ "tcp.max-pipeline", CONF_INT, 1, 1024, "64", OFF(tcp_max_pipeline),
	  "answers buffered per TCP connection before reading pauses" },
	{ "acl", CONF_NETS, 0, 0, "", OFF(acl),
	  "client networks that may query at all, local zones included (others: REFUSED); "
	  "empty = every client" },
	{ "recursion.allow", CONF_NETS, 0, 0, "127.0.0.0/8,::1", OFF(rec_allow),
	  "client networks that may query names outside local zones (others: REFUSED)" },
	{ "recursion.max-pending", CONF_INT, 1, 1 << 20, "1024", OFF(rec_max_pending),
	  "upstream queries in flight per worker; beyond it SERVFAIL (counted)" },
	{ "recursion.dnsbl-zones", CONF_NAMES, 0, 0, "", OFF(rec_dnsbl),
	  "zones answered upstream as DNSBLs: A outside 127/8 or in 127.255.255/24 is an error" },
	{ "cache.max-bytes", CONF_SIZE, 0, 64 * GIB, "64M", OFF(cache_max_bytes),
	  "packet cache for upstream answers, all workers together (split evenly)" },
	{ "cache.ttl-min", CONF_INT, 0, 86400, "0", OFF(cache_ttl_min),
	  "floor for cached TTLs, seconds" },
	{ "cache.ttl-max", CONF_INT, 0, 30 * 86400, "86400", OFF(cache_ttl_max),
	  "ceiling for cached TTLs, seconds" },
	{ "cache.negative-ttl-max", CONF_INT, 0, 30 * 86400, "3600", OFF(cache_negative_ttl_max),
	  "ceiling for cached NXDOMAIN/NODATA (RFC 2308), seconds" },
	{ "cache.serve-stale", CONF_BOOL, 0, 1, "false", OFF(cache_serve_stale),
	  "answer expired upstream data with EDE 3 when every tier fails (RFC 8767)" },
	{ "cache.stale-max-age", CONF_INT, 0, 30 * 86400, "86400", OFF(cache_stale_max_age),
	  "how long past expiry data may still be served stale, seconds" },
	{ "cache.stale-refresh-interval", CONF_INT, 1, 3600, "30",
	  OFF(cache_stale_refresh_interval),
	  "while serving stale, ask the tiers again at most this often, seconds" },
	{ "cache.prefetch", CONF_BOOL, 0, 1, "false", OFF(cache_prefetch),
	  "refresh a popular entry upstream when hit in the last 10% of its TTL" },
	{ "health.enable", CONF_BOOL, 0, 1, "true", OFF(health_enable),
	  "run the self-check: canary queries through our own sockets, /health, healing" },
	{ "health.interval-ms", CONF_INT, 200, 3600 * 1000, "5000", OFF(health_interval_ms),
	  "time between two canary rounds" },
	{ "health.timeout-ms", CONF_INT, 50, 60000, "2000", OFF(health_timeout_ms),
	  "how long a canary waits for its answers (covers the tiers for the tier canary)" },
	{ "health.rise", CONF_INT, 1, 100, "2", OFF(health_rise),
	  "consecutive passing rounds that bring a failing check up again" },
	{ "health.fall", CONF_INT, 1, 100, "3", OFF(health_fall),
	  "consecutive failing rounds that take a passing check down" },
	{ "health.max-heal-attempts", CONF_INT, 0, 1000, "3", OFF(health_max_heal),
	  "heal attempts for a faulty node before exiting with status 3; 0 = never exit" },
	{ "health.canary-names", CONF_NAMES, 0, 0, "", OFF(health_names),
	  "routing canaries \"NAME\" or \"NAME/TYPE\" (default A) that must answer NOERROR with data" },
	{ "health.tier-canary", CONF_STR, 0, 0, "", OFF(health_tier_canary),
	  "name under which a fresh random label is asked through the tiers; \"\" = none" },
	{ "rrl.responses-per-second", CONF_INT, 0, 1000000, "0", OFF(rrl_rate),
	  "UDP answers per second per client prefix and rcode class; 0 = rate limiting off" },
	{ "rrl.window", CONF_INT, 1, 3600, "15", OFF(rrl_window),
	  "seconds of excess a flooding prefix pays off before it is answered again" },
	{ "rrl.slip", CONF_INT, 0, 10, "2", OFF(rrl_slip),
	  "every slip-th limited answer is sent truncated (TC) instead of dropped; 0 = none" },
	{ "rrl.ipv4-prefix", CONF_INT, 8, 32, "24", OFF(rrl_v4_prefix),
	  "IPv4 client addresses sharing these leading bits share one budget" },
	{ "rrl.ipv6-prefix", CONF_INT, 16, 128, "56", OFF(rrl_v6_prefix),
	  "IPv6 client addresses sharing these leading bits share one budget" },
	{ "rrl.table-size", CONF_INT, 64, 1 << 24, "65536", OFF(rrl_table_size),
	  "rate-limit accounts per worker, allocated at start (32 bytes each)" },
};
#define CONF_N (sizeof(conf_table) / sizeof(conf_table[0]))

static const char *const conf_levels[] = { "err", "warn", "info", "debug" };

static int conf_type_set(void *base, const struct conftab_opt *o, const char *s, bool append,
			 const char *origin, struct strbuf *errs);
static void conf_type_dump(const void *base, const struct conftab_opt *o, struct strbuf *out);

static const struct conftab conf_tab = { conf_table, CONF_N, conf_type_set, conf_type_dump };

static int conf_parse_int(const char *s, bool units, int64_t *out);

const struct conf_opt *conf_options(size_t *n)
{
	static struct conf_opt view[CONF_N];

	for (size_t i = 0; i < CONF_N; i++) {
		const struct conftab_opt *o = &conf_table[i];
		int64_t v = 0;

		/* A default that does not parse stays 0 here; conf_init fails on it. */
		if ((o->type == CONF_INT || o->type == CONF_SIZE) &&
		    conf_parse_int(o->def, o->type == CONF_SIZE, &v) < 0)
			v = 0;
		view[i] = (struct conf_opt){ o->name, (enum conf_type)o->type, o->min, o->max, v,
					     o->def, o->off, o->help };
	}
	*n = CONF_N;
	return view;
}

static void *conf_field(struct conf *c, const struct conftab_opt *o)
{
	return (char *)c + o->off;
}

static const void *conf_cfield(const struct conf *c, const struct conftab_opt *o)
{
	return (const char *)c + o->off;
}

static void conf_addrs_clear(struct conf_addrs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].text);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void conf_nets_clear(struct conf_nets *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->text[i]);
	free(l->text);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void conf_names_clear(struct conf_names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void conf_deinit(struct conf *c)
{
	if (!c)
		return;
	free(c->snapshot);
	conf_addrs_clear(&c->listen);
	conf_nets_clear(&c->rec_allow);
	conf_nets_clear(&c->acl);
	conf_names_clear(&c->rec_dnsbl);
	conf_names_clear(&c->health_names);
	free(c->health_tier_canary);
	conf_tiers_free(c);
	conf_zacl_free(c);
	free(c->metrics.text);
	free(c->user);
	free(c->chroot);
	if (c->origin)
		for (size_t i = 0; i < CONF_N; i++)
			free(c->origin[i]);
	free(c->origin);
	free(c->source);
	memset(c, 0, sizeof(*c));
}

/* ---- setting one value ------------------------------------------------ */

static int conf_set_origin(struct conf *c, size_t idx, const char *origin)
{
	char *o = strdup(origin);
	if (!o)
		return GN_ENOMEM;
	free(c->origin[idx]);
	c->origin[idx] = o;
	return 0;
}

/* Strict decimal integer, optionally with a K/M/G (x1024) suffix. */
static int conf_parse_int(const char *s, bool units, int64_t *out)
{
	char *end;
	long long v;
	int64_t mul = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno == ERANGE)
		return GN_EINVAL;
	if (units && *end) {
		switch (*end) {
		case 'k': case 'K': mul = KIB; break;
		case 'm': case 'M': mul = MIB; break;
		case 'g': case 'G': mul = GIB; break;
		default: return GN_EINVAL;
		}
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'b' || *end == 'B')
			end++;
	}
	if (*end != '\0')
		return GN_EINVAL;
	if (v > INT64_MAX / mul || v < INT64_MIN / mul)
		return GN_EINVAL;
	*out = (int64_t)v * mul;
	return 0;
}

static int conf_set_addr(struct conf_addr *dst, const struct conftab_opt *o, const char *s,
			 const char *origin, struct strbuf *errs)
{
	struct conf_addr n = { 0 };
	const char *why = NULL;

	if (*s != '\0' || o->type == CONF_ADDRS) {
		if (addr_parse(s, 0, &n.a, &why) < 0) {
			strbuf_printf(errs, "%s: %s: bad address \"%s\": %s\n", origin, o->name, s, why);
			return GN_EINVAL;
		}
	}
	n.text = strdup(s);
	if (!n.text)
		return GN_ENOMEM;
	free(dst->text);
	*dst = n;
	return 0;
}

/* Parse first, then change the list: a bad address leaves it untouched. */
static int conf_addrs_add(struct conf_addrs *l, bool append, const struct conftab_opt *o,
			  const char *s, const char *origin, struct strbuf *errs)
{
	struct conf_addr n = { 0 };
	struct conf_addr *v;
	int ret;

	if ((ret = conf_set_addr(&n, o, s, origin, errs)) < 0)
		return ret;
	if (!append)
		conf_addrs_clear(l);
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v) {
		free(n.text);
		return GN_ENOMEM;
	}
	l->v = v;
	v[l->n++] = n;
	return 0;
}

/* A comma-separated text (command line, defaults) is several elements. */
static int conf_nets_add(struct conf_nets *l, bool append, const struct conftab_opt *o,
			 const char *s, const char *origin, struct strbuf *errs)
{
	struct netacl_entry e, *v;
	const char *why = NULL;
	char **t, *dup;

	if (!append)
		conf_nets_clear(l);
	if (*s == '\0')
		return 0;
	if (netacl_parse(s, &e, &why) < 0) {
		strbuf_printf(errs, "%s: %s: bad network \"%s\": %s\n", origin, o->name, s, why);
		return GN_EINVAL;
	}
	if (!(dup = strdup(s)))
		return GN_ENOMEM;
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (v)
		l->v = v;
	t = v ? realloc(l->text, (l->n + 1) * sizeof(*t)) : NULL;
	if (!t) {
		free(dup);
		return GN_ENOMEM;
	}
	l->text = t;
	l->v[l->n] = e;
	l->text[l->n++] = dup;
	return 0;
}

static int conf_names_add(struct conf_names *l, bool append, const struct conftab_opt *o,
			  const char *s, const char *origin, struct strbuf *errs)
{
	uint8_t key[DNAME_MAX];
	char **v, *dup;

	if (!append)
		conf_names_clear(l);
	if (*s == '\0')
		return 0;
	if (dname_text_to_key(s, strlen(s), key) < 0) {
		strbuf_printf(errs, "%s: %s: \"%s\" is not a domain name\n", origin, o->name, s);
		return GN_EINVAL;
	}
	if (!(dup = strdup(s)))
		return GN_ENOMEM;
	if (!(v = realloc(l->v, (l->n + 1) * sizeof(*v)))) {
		free(dup);
		return GN_ENOMEM;
	}
	l->v = v;
	v[l->n++] = dup;
	return 0;
}

/* Split "a,b,c" and add each; used for list defaults and the command line. */
static int conf_list_text(struct conf *c, const struct conftab_opt *o, const char *s, bool append,
			  const char *origin, struct strbuf *errs)
{
	char buf[1024];
	const char *p = s;
	int ret = 0, first = 1;

	do {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		int r;
		if (n >= sizeof(buf))
			n = sizeof(buf) - 1;
		memcpy(buf, p, n);
		buf[n] = '\0';
		if (o->type == CONF_NETS)
			r = conf_nets_add(conf_field(c, o), append || !first, o, buf, origin, errs);
		else
			r = conf_names_add(conf_field(c, o), append || !first, o, buf, origin, errs);
		if (r < 0)
			ret = r;
		first = 0;
		p = comma ? comma + 1 : NULL;
	} while (p);
	return ret;
}

static int conf_parse_bool(const char *s)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* The resolver's own types for conftab_set (INT and STR are conftab's). */
static int conf_type_set(void *base, const struct conftab_opt *o, const char *s, bool append,
			 const char *origin, struct strbuf *errs)
{
	struct conf *c = base;
	void *f = conf_field(c, o);
	int64_t v;
	int lvl;

	switch (o->type) {
	case CONF_SIZE:
		if (conf_parse_int(s, true, &v) < 0) {
			strbuf_printf(errs, "%s: %s: \"%s\" is not a size (bytes, or a number with K, "
				      "M or G)\n", origin, o->name, s);
			return GN_EINVAL;
		}
		if (conftab_range(o, v, origin, errs) < 0)
			return GN_EINVAL;
		*(int64_t *)f = v;
		return 0;
	case CONF_LEVEL:
		lvl = log_level_parse(s);
		if (lvl < 0) {
			strbuf_printf(errs, "%s: %s: unknown level \"%s\" (use err, warn, info or debug)\n",
				      origin, o->name, s);
			return GN_EINVAL;
		}
		*(int64_t *)f = lvl;
		return 0;
	case CONF_ADDR:
		return conf_set_addr(f, o, s, origin, errs);
	case CONF_ADDRS:
		return conf_addrs_add(f, append, o, s, origin, errs);
	case CONF_BOOL:
		if ((lvl = conf_parse_bool(s)) < 0) {
			strbuf_printf(errs, "%s: %s: \"%s\" is not true or false\n", origin, o->name, s);
			return GN_EINVAL;
		}
		*(int64_t *)f = lvl;
		return 0;
	case CONF_NETS:
	case CONF_NAMES:
		return conf_list_text(c, o, s, append, origin, errs);
	}
	return GN_EINVAL;
}

/* Apply a textual value to option row `idx` and remember where it came
 * from.  Shared by the command line and the string/size forms in files. */
static int conf_apply_text(struct conf *c, size_t idx, const char *s, bool append,
			   const char *origin, struct strbuf *errs)
{
	int ret = conftab_set(&conf_tab, c, idx, s, append, origin, errs);

	return ret < 0 ? ret : conf_set_origin(c, idx, origin);
}

int conf_init(struct conf *c)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->origin = calloc(CONF_N, sizeof(char *));
	ret = c->origin ? conftab_defaults(&conf_tab, c) : GN_ENOMEM;
	if (ret < 0)
		conf_deinit(c);
	return ret;
}

int conf_set(struct conf *c, const char *key, const char *value, bool append,
	     const char *origin, struct strbuf *errs)
{
	size_t idx;

	if (!conftab_find(&conf_tab, key, &idx)) {
		strbuf_printf(errs, "%s: unknown option '%s'\n", origin, key);
		return GN_EINVAL;
	}
	return conf_apply_text(c, idx, value, append, origin, errs);
}

/* ---- libconfig -------------------------------------------------------- */

static const char *conf_type_name(int t)
{
	switch (t) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a float";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	}
	return "an unknown type";
}

static int conf_read_one(const struct conftab_read *rd, size_t idx, const config_setting_t *s,
			 const char *where)
{
	struct conf *c = rd->dst;
	struct strbuf *errs = rd->errs;
	const struct conftab_opt *o = &conf_table[idx];
	int t = config_setting_type(s);
	char num[32];
	const char *want;
	int ret = 0;

	switch (o->type) {
	case CONF_INT:
	case CONF_SIZE:
		if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
			snprintf(num, sizeof(num), "%lld", config_setting_get_int64(s));
			return conf_apply_text(c, idx, num, false, where, errs);
		}
		if (t == CONFIG_TYPE_STRING && o->type == CONF_SIZE)
			return conf_apply_text(c, idx, config_setting_get_string(s), false, where, errs);
		want = o->type == CONF_SIZE ? "an integer or a size string like \"8M\"" : "an integer";
		break;
	case CONF_STR:
	case CONF_LEVEL:
	case CONF_ADDR:
		if (t == CONFIG_TYPE_STRING)
			return conf_apply_text(c, idx, config_setting_get_string(s), false, where, errs);
		want = "a string";
		break;
	case CONF_BOOL:
		if (t == CONFIG_TYPE_BOOL)
			return conf_apply_text(c, idx, config_setting_get_bool(s) ? "true" : "false",
					       false, where, errs);
		want = "true or false";
		break;
	case CONF_ADDRS:
	case CONF_NETS:
	case CONF_NAMES:
		if (t == CONFIG_TYPE_STRING)
			return conf_apply_text(c, idx, config_setting_get_string(s), false, where, errs);
		if (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) {
			int n = config_setting_length(s);
			char ewhere[512];
			if (o->type == CONF_ADDRS)
				conf_addrs_clear(conf_field(c, o));
			else if (o->type == CONF_NETS)
				conf_nets_clear(conf_field(c, o));
			else
				conf_names_clear(conf_field(c, o));
			if ((ret = conf_set_origin(c, idx, where)) < 0)
				return ret;
			for (int i = 0; i < n; i++) {
				const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
				int r;
				conftab_where(e, rd->fallback, ewhere, sizeof(ewhere));
				if (config_setting_type(e) != CONFIG_TYPE_STRING) {
					strbuf_printf(errs, "%s: %s: element %d must be a string, not %s\n",
						      ewhere, o->name, i + 1,
						      conf_type_name(config_setting_type(e)));
					ret = GN_EINVAL;
					continue;
				}
				r = conf_apply_text(c, idx, config_setting_get_string(e), true, ewhere, errs);
				if (r < 0)
					ret = r;
			}
			return ret;
		}
		want = "a string or a list of strings";
		break;
	default:
		want = "?";
	}
	strbuf_printf(errs, "%s: %s must be %s, not %s\n", where, o->name, want, conf_type_name(t));
	return GN_EINVAL;
}

/* The lists read by their own modules, in file order with the options. */
static int conf_read_extra(const struct conftab_read *rd, const char *name,
			   const config_setting_t *s, const char *where)
{
	if (strcmp(name, "tiers") == 0)
		return conf_tiers_read(rd->dst, s, rd->fallback, rd->errs);
	if (strcmp(name, "zone-acl") == 0)
		return conf_zacl_read(rd->dst, s, rd->fallback, rd->errs);
	return CONFTAB_UNKNOWN;
}

static int conf_read_unknown(const struct conftab_read *rd, const config_setting_t *s,
			     const char *where, const char *full, bool not_group)
{
	if (not_group)
		strbuf_printf(rd->errs, "%s: %s must be a group: %s = { ... };\n", where, full, full);
	else
		strbuf_printf(rd->errs, "%s: unknown option '%s'\n", where, full);
	return GN_EINVAL;
}

static const struct conftab_keys conf_keys = { conf_read_one, conf_read_extra, conf_read_unknown };

static int conf_use(void *arg, config_t *cfg, const char *name, struct strbuf *errs)
{
	struct conftab_read rd = { arg, name, errs };
	struct conf *c = arg;
	char *src;

	if (!(src = strdup(name)))
		return GN_ENOMEM;
	free(c->source);
	c->source = src;
	return conftab_walk(&conf_tab, config_root_setting(cfg), &conf_keys, &rd);
}

int conf_load_file(struct conf *c, const char *path, struct strbuf *errs)
{
	return conftab_load_file(path, conf_use, c, errs);
}

int conf_load_string(struct conf *c, const char *text, const char *name, struct strbuf *errs)
{
	return conftab_load_string(text, name, conf_use, c, errs);
}

/* ---- cross checks ----------------------------------------------------- */

static int64_t conf_cpus(void)
{
	cpu_set_t set;
	long n;

	/* The affinity mask is what we may run on (containers, taskset);
	 * the online count can be far larger. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}

static const char *conf_origin(const struct conf *c, const char *key)
{
	size_t idx;
	if (conftab_find(&conf_tab, key, &idx) && c->origin[idx])
		return c->origin[idx];
	return c->source ? c->source : "configuration";
}

/* chroot: an absolute directory that holds the snapshot, since after the
 * chroot the snapshot is opened (and reopened by the self-check) by its
 * path inside it.  A plain prefix test on the paths as written: symlinks
 * or ".." would fool it, and then the snapshot simply is not found inside
 * (SERVFAIL, logged), which is why we insist on the plain spelling. */
static int conf_chroot_check(const struct conf *c, struct strbuf *errs)
{
	const char *r = c->chroot, *s = c->snapshot ? c->snapshot : "";
	size_t n = strlen(r);

	while (n > 1 && r[n - 1] == '/')
		n--;
	if (r[0] != '/' || strstr(r, "/..")) {
		strbuf_printf(errs, "%s: chroot \"%s\" must be an absolute path without \"..\"\n",
			      conf_origin(c, "chroot"), r);
		return GN_EINVAL;
	}
	if (n == 1 || strncmp(s, r, n) != 0 || s[n] != '/' || !s[n + 1] || strstr(s, "/..")) {
		strbuf_printf(errs, "%s: snapshot \"%s\" is not inside chroot \"%s\": after "
			      "the chroot it must be reachable as a path below it\n",
			      conf_origin(c, "chroot"), s, r);
		return GN_EINVAL;
	}
	/* libunbound reads a trust anchor file when a tier context is first
	 * used or made anew by healing, i.e. after the chroot, by a path that
	 * no longer leads there.  Refused rather than failing later. */
	for (size_t i = 0; i < c->n_tiers; i++)
		if (c->tiers[i].trust_anchor && *c->tiers[i].trust_anchor) {
			strbuf_printf(errs, "%s: tiers: trust-anchor is read after the chroot, where "
				      "\"%s\" cannot be found: chroot and trust-anchor cannot be "
				      "combined\n", c->tiers[i].where ? c->tiers[i].where :
				      conf_origin(c, "chroot"), c->tiers[i].trust_anchor);
			return GN_EINVAL;
		}
	return 0;
}

int conf_finish(struct conf *c, struct strbuf *errs)
{
	int ret = 0;

	if (!c->snapshot || !*c->snapshot) {
		strbuf_printf(errs, "%s: snapshot is not set (snapshot = \"DIR\"; or --snapshot DIR)\n",
			      conf_origin(c, "snapshot"));
		ret = GN_EINVAL;
	}
	if (c->listen.n == 0) {
		strbuf_printf(errs, "%s: listen is empty: give at least one address\n",
			      conf_origin(c, "listen"));
		ret = GN_EINVAL;
	}
	for (size_t i = 0; i < c->listen.n; i++)
		for (size_t j = 0; j < i; j++)
			if (c->listen.v[i].a.len == c->listen.v[j].a.len &&
			    memcmp(&c->listen.v[i].a.u, &c->listen.v[j].a.u, c->listen.v[i].a.len) == 0) {
				strbuf_printf(errs, "%s: listen: \"%s\" is given twice\n",
					      conf_origin(c, "listen"), c->listen.v[i].text);
				ret = GN_EINVAL;
			}
	/* The self-check asks its canaries from the listen addresses: an acl
	 * that refuses them would make a healthy node heal itself to death. */
	for (size_t i = 0; c->acl.n && c->health_enable && i < c->listen.n; i++) {
		const struct addr *a = &c->listen.v[i].a;
		bool any = a->u.sa.sa_family == AF_INET ?
			   a->u.in4.sin_addr.s_addr == htonl(INADDR_ANY) :
			   IN6_IS_ADDR_UNSPECIFIED(&a->u.in6.sin6_addr);
		if (!any && !netacl_match(c->acl.v, c->acl.n, &a->u.sa)) {
			strbuf_printf(errs, "%s: acl does not include the listen address \"%s\": "
				      "the self-check queries from it and would be refused\n",
				      conf_origin(c, "acl"), c->listen.v[i].text);
			ret = GN_EINVAL;
		}
	}
	if (c->user && *c->user) {
		errno = 0;
		if (!getpwnam(c->user)) {
			strbuf_printf(errs, "%s: user \"%s\" does not exist%s%s\n",
				      conf_origin(c, "user"), c->user,
				      errno ? ": " : "", errno ? strerror(errno) : "");
			ret = GN_EINVAL;
		}
	}
	if (c->chroot && *c->chroot)
		ret = conf_chroot_check(c, errs) < 0 ? GN_EINVAL : ret;
	for (size_t i = 0; i < c->health_names.n; i++) {
		const char *slash = strrchr(c->health_names.v[i], '/');
		if (slash && !health_qtype_parse(slash + 1)) {
			strbuf_printf(errs, "%s: health.canary-names: \"%s\": unknown type \"%s\" "
				      "(use A, AAAA, MX, TXT, NS, SRV, PTR, CNAME or SOA)\n",
				      conf_origin(c, "health.canary-names"), c->health_names.v[i],
				      slash + 1);
			ret = GN_EINVAL;
		}
	}
	if (c->workers == 0)
		c->workers = conf_cpus();
	if (c->workers > 256)
		c->workers = 256;
	return ret;
}

/* ---- dump ------------------------------------------------------------- */

static void conf_dump_size(struct strbuf *out, int64_t v)
{
	if (v != 0 && v % GIB == 0)
		strbuf_printf(out, "\"%" PRId64 "G\"", v / GIB);
	else if (v != 0 && v % MIB == 0)
		strbuf_printf(out, "\"%" PRId64 "M\"", v / MIB);
	else if (v != 0 && v % KIB == 0)
		strbuf_printf(out, "\"%" PRId64 "K\"", v / KIB);
	else
		strbuf_printf(out, "%" PRId64, v);
}

/* List options as written: [ "a", "b" ].  `at` gives element k's text. */
static void conf_dump_list(struct strbuf *out, const void *l, size_t n,
			   const char *(*at)(const void *l, size_t k))
{
	strbuf_add(out, "[ ", 2);
	for (size_t k = 0; k < n; k++) {
		if (k)
			strbuf_add(out, ", ", 2);
		conftab_quote(out, at(l, k));
	}
	strbuf_add(out, " ]", 2);
}

static const char *conf_net_text(const void *l, size_t k)
{
	return ((const struct conf_nets *)l)->text[k];
}

static const char *conf_name_text(const void *l, size_t k)
{
	return ((const struct conf_names *)l)->v[k];
}

static const char *conf_addr_text(const void *l, size_t k)
{
	return ((const struct conf_addrs *)l)->v[k].text;
}

/* The resolver's own types for conftab_dump. */
static void conf_type_dump(const void *base, const struct conftab_opt *o, struct strbuf *out)
{
	const void *f = conf_cfield(base, o);

	switch (o->type) {
	case CONF_SIZE:
		conf_dump_size(out, *(const int64_t *)f);
		break;
	case CONF_LEVEL:
		conftab_quote(out, conf_levels[*(const int64_t *)f & 3]);
		break;
	case CONF_ADDR:
		conftab_quote(out, ((const struct conf_addr *)f)->text);
		break;
	case CONF_BOOL:
		strbuf_printf(out, "%s", *(const int64_t *)f ? "true" : "false");
		break;
	case CONF_NETS:
		conf_dump_list(out, f, ((const struct conf_nets *)f)->n, conf_net_text);
		break;
	case CONF_NAMES:
		conf_dump_list(out, f, ((const struct conf_names *)f)->n, conf_name_text);
		break;
	case CONF_ADDRS:
		conf_dump_list(out, f, ((const struct conf_addrs *)f)->n, conf_addr_text);
		break;
	}
}

void conf_dump(const struct conf *c, struct strbuf *out)
{
	strbuf_printf(out, "# gridns-resolver configuration (libconfig syntax), version %s\n",
		      GRIDNS_VERSION);
	conftab_dump(&conf_tab, c, out);
	conf_tiers_dump(c, out);
	conf_zacl_dump(c, out);
}
