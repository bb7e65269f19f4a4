/* resolver/conf.h - gridns-resolver configuration.
 *
 * Every option is ONE row of the table in conf.c (name, type, bounds,
 * default, help).  The libconfig parser, the command-line overrides,
 * --dump-config and the key reference in docs/resolver.md all follow that
 * table, so adding an option is adding a row and a struct member.
 *
 * Loading never stops at the first problem: every error is appended to the
 * caller's strbuf as one "FILE:LINE: reason" line, so --check-config shows
 * them all at once.  Not thread-safe; the daemon loads once at start and
 * then only reads the struct.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/addr.h"
#include "common/conftab.h"
#include "common/netacl.h"
#include "common/strbuf.h"
#include "resolver/answer.h"
#include "resolver/tier.h"

#ifndef GRIDNS_VERSION
#define GRIDNS_VERSION "0.1.0"
#endif

/* Option value types: integers and strings are conftab's, the rest are
 * parsed and printed by conf.c. */
enum conf_type {
	CONF_INT = CONFTAB_INT,  /* integer within [min, max] */
	CONF_STR = CONFTAB_STR,  /* free string */
	CONF_SIZE = CONFTAB_OWN, /* byte count: integer, or string with K/M/G suffix (x1024) */
	CONF_ADDR,    /* string parsed by addr_parse; "" allowed when min == 0 */
	CONF_ADDRS,   /* list of CONF_ADDR strings (one string is a list of one) */
	CONF_LEVEL,   /* err|warn|info|debug */
	CONF_BOOL,    /* true/false (also yes/no, on/off, 1/0 as text) */
	CONF_NETS,    /* list of client networks "10.0.0.0/8", "::1" */
	CONF_NAMES,   /* list of domain names */
};

/* One row of the option table as docs and tests read it (conf_options). */
struct conf_opt {
	const char *name;     /* dotted path, "udp.rcvbuf" is key rcvbuf in group udp */
	enum conf_type type;
	int64_t min, max;     /* bounds for INT/SIZE */
	int64_t def_int;      /* INT/SIZE: the number def_str stands for */
	const char *def_str;  /* default as written in a file ("8M", "true", "a,b") */
	size_t off;           /* offset of the member in struct conf */
	const char *help;     /* one line for docs and --dump-config */
};

/* An address option: parsed and as written (for messages). */
struct conf_addr {
	struct addr a;          /* a.len == 0: disabled ("") */
	char *text;
};
/* A list-of-addresses option. */
struct conf_addrs {
	struct conf_addr *v;
	size_t n;
};

/* A list-of-networks option. */
struct conf_nets {
	struct netacl_entry *v;
	char **text;
	size_t n;
};
/* A list-of-names option. */
struct conf_names {
	char **v;
	size_t n;
};

/* One upstream tier ("tiers" list, read by conf_tiers.c). */
struct conf_tier {
	struct tier_conf tc;    /* pointers below are what tc points at */
	char *name;
	char **servers;
	size_t n_servers;
	char *trust_anchor;
	char *where;            /* "FILE:LINE" of the tier's group */
};

struct conf {
	char *snapshot;         /* snapshot directory (LMDB environment) */
	struct conf_addrs listen; /* DNS listen addresses (UDP and TCP) */
	int64_t workers;        /* worker threads; resolved from 0 by conf_finish */
	struct conf_addr metrics; /* metrics HTTP address */
	char *user;             /* drop to this user after binding; "" = stay */
	char *chroot;           /* chroot here after binding; "" = none */
	int64_t log_level;      /* enum log_level */
	int64_t snapshot_map_size; /* bytes; 0 = snapshot default */
	int64_t udp_edns_payload;
	int64_t udp_rcvbuf;
	int64_t udp_batch;
	int64_t tcp_max_connections;
	int64_t tcp_idle_timeout_ms;
	int64_t tcp_max_pipeline;
	struct conf_nets rec_allow;     /* clients that may recurse */
	struct conf_nets acl;           /* clients that may query at all; none = all */
	int64_t rec_max_pending;        /* upstream queries in flight per worker */
	struct conf_names rec_dnsbl;    /* zones whose upstream answers are DNSBL data */
	int64_t cache_max_bytes;        /* all workers together */
	int64_t cache_ttl_min, cache_ttl_max, cache_negative_ttl_max;
	int64_t cache_serve_stale;
	int64_t cache_stale_max_age, cache_stale_refresh_interval;
	int64_t cache_prefetch;
	int64_t health_enable;          /* self-check on (docs/health.md) */
	int64_t health_interval_ms, health_timeout_ms;
	int64_t health_rise, health_fall, health_max_heal;
	struct conf_names health_names; /* routing canaries "name[/TYPE]" */
	char *health_tier_canary;       /* parent of the tier canary's random label */
	int64_t rrl_rate, rrl_window, rrl_slip; /* UDP response-rate limiting; rate 0 = off */
	int64_t rrl_v4_prefix, rrl_v6_prefix, rrl_table_size;
	struct conf_tier *tiers;        /* in order: grid, then NOC, ... */
	size_t n_tiers;
	struct answer_zacl *zacl;       /* "zone-acl" rules, sorted by zone (conf_zacl.c) */
	size_t n_zacl;
	/* Where each option was last set ("FILE:LINE" or "command line"),
	 * indexed like the table; NULL = default.  Owned by the struct. */
	char **origin;
	char *source;           /* last file loaded (for messages), or NULL */
};

/* The option table; *n receives its length.  A view rebuilt on each call,
 * valid until the next: not thread-safe. */
const struct conf_opt *conf_options(size_t *n);

/* Fill `c` with the defaults.  Returns 0 or GN_ENOMEM. */
int conf_init(struct conf *c);
/* Release everything conf_init/load allocated (NULL-safe, idempotent). */
void conf_deinit(struct conf *c);

/* Read a libconfig file (or `text` for conf_load_string, named `name` in
 * messages) over the current values.  Returns 0, or GN_EINVAL/GN_ENOMEM
 * with one line per problem appended to `errs`. */
int conf_load_file(struct conf *c, const char *path, struct strbuf *errs);
int conf_load_string(struct conf *c, const char *text, const char *name, struct strbuf *errs);

/* Set one option from text, as the command line does: `key` is a table
 * name ("workers", "udp.rcvbuf").  For list options `append` adds to the
 * list instead of replacing it.  Errors are reported as "ORIGIN: reason". */
int conf_set(struct conf *c, const char *key, const char *value, bool append,
	     const char *origin, struct strbuf *errs);

/* Cross-option checks after all sources are applied: snapshot set, at
 * least one listen address, the user exists; resolves workers = 0 to the
 * number of usable CPUs.  Returns 0 or GN_EINVAL with lines in `errs`. */
int conf_finish(struct conf *c, struct strbuf *errs);

/* The "tiers" list (conf_tiers.c): read one libconfig list of groups,
 * replacing any tiers read before; free; dump.  Errors go to `errs` as
 * "FILE:LINE: reason". */
struct config_setting_t;
int conf_tiers_read(struct conf *c, const struct config_setting_t *list, const char *fallback,
		    struct strbuf *errs);
void conf_tiers_free(struct conf *c);
void conf_tiers_dump(const struct conf *c, struct strbuf *out);

/* The "zone-acl" list (conf_zacl.c), same contract as the tiers: read one
 * libconfig list of groups replacing earlier rules; free; dump. */
int conf_zacl_read(struct conf *c, const struct config_setting_t *list, const char *fallback,
		   struct strbuf *errs);
void conf_zacl_free(struct conf *c);
void conf_zacl_dump(const struct conf *c, struct strbuf *out);

/* Write the effective configuration in libconfig syntax, one commented
 * line per option (the --dump-config output; also a sample file). */
void conf_dump(const struct conf *c, struct strbuf *out);
