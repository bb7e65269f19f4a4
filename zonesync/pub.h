/* zonesync/pub.h - the publisher: serves the zones of a snapshot environment
 * (the central database, or a relay's node snapshot) to secondaries over
 * the DNS's own transfer protocol, and tells them about new serials.
 *
 *   SOA      over UDP and TCP
 *   AXFR     RFC 5936: SOA first and last, messages up to msg-size octets
 *   IXFR     RFC 1995 from the environment's journal; a full zone (AXFR
 *            form) when the journal does not reach back; over UDP the SOA
 *   NOTIFY   RFC 1996 to each zone's downstreams on every new serial, with
 *            jitter, a global rate limit and bounded retries until acked
 *   TSIG     RFC 8945 on every message when the request was signed
 *   ZONEMD   RFC 8976 SIMPLE/SHA-384 added to transfers, per zone
 *
 * docs/publisher.md is the operator's view (config keys, ACL model,
 * metrics, alerts).  The files:
 *
 *   pub_conf.c    the config file: one option table + the zones list
 *   pub_acl.c     per-zone access: client networks and TSIG keys
 *   pub_server.c  pub_new/pub_free, UDP and TCP listeners, serial polling
 *   pub_queue.c   the transfer queue and its worker threads
 *   pub_cache.c   one packed AXFR stream per zone and serial, shared
 *   pub_xfr.c     answers: SOA, AXFR and IXFR message streams
 *   pub_notify.c  NOTIFY out
 *   pub_watch.c   watched sources: re-import on change (central DB only)
 *   pub_metrics.c counters and the /metrics exposition
 *   pub_cli.c     `gridns-zonesync publisher -c FILE`
 *
 * EMBEDDING (the relay): build a pub_conf (pub_conf_init + pub_conf_load or
 * by hand), open the snapshot environment, and call pub_new with the
 * caller's libev loop.  The publisher registers its watchers on that loop
 * and starts its transfer threads; it never runs the loop itself.  Call
 * pub_zone_changed after committing a new serial so NOTIFY goes out at once
 * (otherwise the 200 ms poll finds it).  pub_free before the loop and the
 * environment go away.
 *
 * Threads: everything except transfers and imports runs on the loop's
 * thread.  Transfers (and imports, and ZONEMD digests) run on up to
 * `transfers.max` worker threads, each with its own snapshot reader.
 * Counters are atomics, read by the metrics thread.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/addr.h"
#include "common/netacl.h"
#include "common/strbuf.h"
#include "zonesync/snap.h"
#include "zonesync/tsig.h"

struct ev_loop;
struct pub;

#define PUB_DEFAULT_PORT 53

/* One downstream to NOTIFY. */
struct pub_target {
	struct addr addr;
	char text[ADDR_TEXT_MAX];
};

struct pub_zone_conf {
	char *name;                   /* lowercase, no trailing dot */
	struct netacl_entry *allow;   /* client networks allowed SOA/AXFR/IXFR */
	size_t n_allow;
	const struct tsig_key **keys; /* TSIG keys accepted (into conf->keys);
	                               * n_keys > 0: a request MUST be signed
	                               * with one of them */
	size_t n_keys;
	struct pub_target *notify;    /* downstreams told about new serials */
	size_t n_notify;
	const struct tsig_key *notify_key; /* signs NOTIFY; NULL = unsigned */
	char **sources;               /* watched ZONE:TYPE:FILE specs (central DB) */
	size_t n_sources;
	bool zonemd;                  /* add ZONEMD to transfers */
	int line;                     /* config line, for messages */
};

struct pub_conf {
	char *path;                   /* config file, for messages */
	char *db;                     /* snapshot environment directory */
	struct addr *listen;          /* UDP + TCP */
	size_t n_listen;
	struct addr metrics;          /* /metrics; len 0 = disabled */
	int64_t log_level;
	int64_t map_size;             /* 0 = snapshot default */
	int64_t max_transfers;        /* concurrent transfers (worker threads) */
	int64_t queue_max;            /* accepted transfer requests waiting */
	int64_t msg_size;             /* octets per transfer message */
	int64_t tcp_idle_ms;          /* a TCP connection without a query */
	int64_t tcp_max;              /* open TCP connections, waiting ones too */
	int64_t send_timeout_ms;      /* a transfer stalls this long: dropped */
	int64_t max_time_s;           /* a transfer lasting longer is cut */
	int64_t poll_ms;              /* serial polling interval */
	int64_t watch_ms;             /* watched sources polling interval */
	int64_t notify_jitter_ms;     /* NOTIFY delay drawn from [0, jitter] */
	int64_t notify_rate;          /* NOTIFY messages per second, all zones */
	int64_t notify_retries;       /* re-sends of an unacknowledged NOTIFY */
	int64_t notify_timeout_ms;    /* first wait for an ack, doubled per retry */
	int64_t notify_on_start;      /* 1: NOTIFY every zone's serial at start */
	int64_t tsig_fudge;           /* seconds of clock skew accepted */
	int64_t skew_warn;            /* warn past this many seconds of skew */
	int64_t import_force;         /* watched imports: 1 = --force */
	struct tsig_keytab keys;
	struct pub_zone_conf *zones;
	size_t n_zones;
	char **origin;                /* where each table option was set */
};

/* The option table rows, for docs and --dump-config. */
struct pub_opt {
	const char *name;
	const char *def;              /* default, as text */
	const char *help;
};
const struct pub_opt *pub_conf_options(size_t *n);

/* Defaults (no zones, no keys).  0 or GN_ENOMEM. */
int pub_conf_init(struct pub_conf *c);
void pub_conf_deinit(struct pub_conf *c); /* NULL-safe, idempotent */
/* Read a libconfig file over the defaults and check it.  Every problem is
 * appended to `errs` as "FILE:LINE: reason"; returns 0 or GN_EINVAL.
 * `section` names a group holding the publisher settings ("publisher" in
 * a relay's file) or NULL for the root. */
int pub_conf_load(struct pub_conf *c, const char *path, const char *section,
		  struct strbuf *errs);
int pub_conf_load_string(struct pub_conf *c, const char *text, const char *name,
			 const char *section, struct strbuf *errs);
/* The zone's config, or NULL. */
const struct pub_zone_conf *pub_conf_zone(const struct pub_conf *c, const char *name);

/* Start serving `env` (not owned; must outlive the publisher) with `conf`
 * (not copied: must outlive the publisher too) on `loop`.  Binds every
 * listen address (a taken port is an error naming it) and the metrics
 * address.  0 or <0, logged. */
int pub_new(struct ev_loop *loop, const struct pub_conf *conf, snap_env *env, struct pub **out);
/* A new serial of `zone` may have been committed: check now and NOTIFY.
 * Safe from any thread. */
void pub_zone_changed(struct pub *p, const char *zone);
/* Stop listening, finish or cut running transfers, join the threads.
 * The caller must have stopped calling pub_metrics_render first. */
void pub_free(struct pub *p);
/* The UDP/TCP port bound for listen address i (tests bind port 0). */
uint16_t pub_port(const struct pub *p, size_t i);
/* Append the publisher's metric families to `out` (the relay adds them to
 * its own exposition).  Safe from any thread. */
void pub_metrics_render(struct pub *p, struct strbuf *out);

/* `gridns-zonesync publisher ...`: argv[0] is "publisher". */
int pub_cli(int argc, char **argv);
