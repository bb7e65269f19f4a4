/* zonesync/fol.h - the follower: keeps the node snapshot of each configured
 * zone in step with its primaries over AXFR/IXFR (and, as a relay, serves
 * it on through the embedded publisher).  docs/follower.md is the operator
 * view; this header is the map of the fol_*.c files:
 *
 *   fol_conf.c    the config file (libconfig, one option table, FILE:LINE)
 *   fol_state.c   per-zone sync state kept across restarts (state file)
 *   fol_xfr.c     the transfer client: one AXFR/IXFR exchange over TCP
 *   fol_apply.c   validation and the one-transaction apply (or touch)
 *   fol_sched.c   timers (refresh/retry/expire), the transfer worker thread
 *   fol_notify.c  the NOTIFY listener (UDP, TSIG + ACL)
 *   fol_skew.c    the primaries' clock skew as TSIG shows it (alarm, metrics)
 *   fol_metrics.c /metrics and `status --snapshot`
 *
 * Threads: the main thread runs the libev loop (timers, NOTIFY, the relay's
 * publisher); ONE worker thread runs transfers and applies them, so a large
 * AXFR never stalls NOTIFY handling or downstream service; the httpd thread
 * renders metrics.  Per-zone counters and state are under fol->lock; the
 * per-primary skew figures (fol_peer) are atomics, written by the worker and
 * the loop and read by the httpd thread without a lock.  The snapshot's
 * health figures (snap_env_metrics_write) are read by the httpd thread at
 * scrape time in a read transaction of its own, which LMDB runs beside the
 * worker's write transaction; f->env stays open until after httpd_free.
 */
#pragma once
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "common/addr.h"
#include "common/histo.h"
#include "common/netacl.h"
#include "common/strbuf.h"
#include "zonesync/snap.h"
#include "zonesync/tsig.h"
#include "zonesync/xform.h"

struct ev_loop;
struct httpd;
struct pub_conf;

/* ---- configuration (fol_conf.c) ----------------------------------------- */

enum fol_zonemd { FOL_ZONEMD_VERIFY = 0, FOL_ZONEMD_REQUIRE, FOL_ZONEMD_IGNORE };

struct fol_primary {
	struct addr addr;
	char text[ADDR_TEXT_MAX];
	const struct tsig_key *key;  /* into conf->keys; NULL = unsigned */
};

struct fol_zone_conf {
	char *name;                  /* lowercase, no trailing dot */
	struct fol_primary *prim;    /* tried in this order */
	size_t n_prim;
	uint32_t refresh, retry, expire; /* 0 = from the zone's SOA */
	double max_shrink;           /* guard: refuse losing more than this */
	bool guard;                  /* shrink / test point / type guard */
	enum fol_zonemd zonemd;
	int line;                    /* config line, for messages */
};

struct fol_conf {
	char *path;
	char *snapshot;
	char *state_file;            /* default <snapshot>/follower.state */
	uint64_t map_size;
	struct addr listen;          /* NOTIFY (UDP) */
	bool has_listen;
	struct addr metrics;
	bool has_metrics;
	int log_level;
	uint32_t refresh_min, retry_min; /* floors under SOA timers */
	uint32_t xfr_timeout;        /* seconds without progress in a transfer */
	uint32_t xfr_max_records;    /* records a zone may have; more is refused */
	uint32_t jdepth;             /* relay: journal depth kept */
	uint32_t skew_warn;          /* tsig.skew-warn: warn past this |skew| (s); 0 off */
	struct tsig_keytab keys;
	struct netacl_entry *notify_acl;
	size_t n_notify_acl;
	struct fol_zone_conf *zones;
	size_t n_zones;
	void *cfg;                   /* the libconfig tree */
	struct pub_conf *pub_conf;   /* relay: the `publisher` group */
};

/* Load and check `path`.  Every problem goes to `errs` as "FILE:LINE:
 * reason"; returns 0 or GN_EINVAL / GN_ENOMEM.  fol_conf_deinit frees. */
int fol_conf_load(const char *path, struct fol_conf *c, struct strbuf *errs);
void fol_conf_deinit(struct fol_conf *c);

/* ---- runtime ----------------------------------------------------------- */

/* Why a sync ended; metric label values (fol_reason_name). */
enum fol_reason {
	FOL_OK = 0,          /* applied */
	FOL_UPTODATE,        /* primary has our serial: expiry pushed forward */
	FOL_R_NETWORK,       /* connect / read / write failed */
	FOL_R_TIMEOUT,
	FOL_R_TSIG,          /* a message failed TSIG or was unsigned */
	FOL_R_REFUSED,       /* the primary answered with an error rcode */
	FOL_R_TRUNCATED,     /* stream ended before the closing SOA */
	FOL_R_MALFORMED,     /* bad message, bad IXFR sequence */
	FOL_R_BACKWARDS,     /* primary serial older than ours */
	FOL_R_INCONSISTENT,  /* IXFR does not apply to what we hold */
	FOL_R_FORMAT,        /* unknown _gridns version */
	FOL_R_ZONEMD,        /* digest mismatch or required and absent */
	FOL_R_GUARD,         /* shrink / test point / type guard */
	FOL_R_STORE,         /* snapshot write failed */
	FOL_R_COUNT
};
const char *fol_reason_name(enum fol_reason r);

enum fol_kind { FOL_K_AXFR = 0, FOL_K_IXFR, FOL_K_COUNT };

struct fol_zone {
	const struct fol_zone_conf *conf;
	uint8_t apex[DNAME_MAX];     /* wire, lowercase */
	int apex_len;
	/* persisted (fol_state.c) */
	int64_t last_success, last_attempt;
	uint32_t primary_serial;
	bool primary_serial_known;
	int64_t src_expires;         /* $TIMESTAMP expiry from the metadata; 0 none */
	bool stock;                  /* the primary sends no _gridns metadata */
	/* mirror of the snapshot's zone record */
	bool have_zone;
	uint32_t serial;
	uint32_t soa_refresh, soa_retry, soa_expire;
	int64_t expires_at;          /* what the resolver obeys (ts_expires) */
	/* scheduling (main thread) */
	void *timer;                 /* ev_timer */
	bool queued, again;
	int64_t next_check;
	unsigned fails;              /* consecutive failed syncs */
	/* counters (under fol->lock) */
	uint64_t xfr[FOL_K_COUNT][FOL_R_COUNT];
	uint64_t failures[FOL_R_COUNT];
	uint64_t bytes;
	struct histo apply;          /* written by the worker only */
	char last_error[256];
};

struct fol {
	struct fol_conf *conf;
	snap_env *env;
	struct ev_loop *loop;
	struct fol_zone *zones;
	size_t n_zones;
	pthread_mutex_t lock;
	struct fol_worker *worker;   /* fol_sched.c */
	struct fol_notify *notify;   /* fol_notify.c */
	struct httpd *httpd;
	void *pub;                   /* relay: the embedded publisher */
	bool relay;
	struct fol_peer *peers;      /* fol_skew.c: distinct primaries + "other" */
	size_t n_peers;
	/* Stale reader slots cleared by the periodic check (fol_sched.c);
	 * written by the loop, read by the httpd thread. */
	atomic_uint_fast64_t readers_cleared;
};

/* Seconds between two stale reader slot checks (mdb_reader_check) of the
 * running follower: a crashed resolver's slots are freed within this long
 * instead of waiting for the next process start. */
#define FOL_READER_CHECK_EVERY 60

struct fol_zone *fol_zone_find_wire(struct fol *f, const uint8_t *apex);

/* ---- state file (fol_state.c) ------------------------------------------ */

/* Read the state file into the zones (unknown zones ignored; a missing file
 * is a first start).  0 or <0 with a log line naming the file and line. */
int fol_state_load(struct fol *f);
/* Write it atomically (tmp + fsync + rename + fsync dir). */
int fol_state_save(struct fol *f);
/* Refresh the snapshot mirror of every zone (serial, SOA timers, expiry). */
int fol_state_from_snapshot(struct fol *f);

/* ---- transfer client (fol_xfr.c) --------------------------------------- */

enum fol_xev {
	FOL_X_FULL,      /* a record of a full zone (AXFR, or IXFR in AXFR form) */
	FOL_X_DEL,       /* IXFR: a deletion (SOAs included) */
	FOL_X_ADD,       /* IXFR: an addition (SOAs included) */
};

struct fol_xfr_req {
	const uint8_t *apex;
	enum fol_kind kind;
	uint32_t serial;             /* IXFR: the version we hold */
	const struct fol_primary *prim;
	unsigned timeout_s;
	/* each record of the answer; non-zero stops the transfer */
	int (*cb)(void *arg, enum fol_xev ev, const struct xform_rr *rr);
	void *arg;
};

struct fol_xfr_res {
	enum fol_reason reason;      /* FOL_OK: records were delivered */
	bool uptodate;               /* single SOA: primary is not newer */
	bool incremental;            /* IXFR deltas were delivered */
	uint32_t serial;             /* primary's SOA serial */
	uint64_t bytes;
	unsigned rcode;
	/* Clock skew (primary's time - ours) of the exchange: the largest
	 * |skew| among its messages whose time can be trusted (a valid TSIG,
	 * or one that failed on time alone) or that told us BADTIME. */
	int64_t skew;
	bool skew_seen;
	bool badtime;                /* a message failed on time (either side) */
	char why[256];
};

/* Run one exchange.  Blocking with poll(2) deadlines: at most timeout_s
 * without progress.  Returns 0 (see res->reason) or GN_ENOMEM. */
int fol_xfr_run(const struct fol_xfr_req *q, struct fol_xfr_res *res);

/* ---- apply (fol_apply.c) ----------------------------------------------- */

/* One full sync of zone z from its primaries (worker thread): IXFR from the
 * stored serial first, AXFR when IXFR fails or does not apply; validate;
 * write in one transaction, or push the expiry forward when up to date.
 * Updates z's counters and state under f->lock.  Returns the reason. */
enum fol_reason fol_apply_sync(struct fol *f, struct fol_zone *z, bool *changed);

/* Expiry the resolver obeys: min(source $TIMESTAMP expiry, now + expire). */
int64_t fol_expiry(const struct fol_zone *z, uint32_t soa_expire, int64_t src_expires, int64_t now);

/* ---- scheduling (fol_sched.c) ------------------------------------------ */

int fol_new(struct fol_conf *c, bool relay, struct fol **out);
/* Run until SIGTERM/SIGINT. */
int fol_run(struct fol *f);
void fol_free(struct fol *f);
/* Check zone z now (NOTIFY, start).  Main thread. */
void fol_sched_now(struct fol *f, struct fol_zone *z);

/* ---- relay (fol_relay.c) ------------------------------------------------ */

/* Load the `publisher` group of the config (relay only).  0 or <0 with
 * FILE:LINE problems in errs. */
int fol_relay_conf(struct fol_conf *c, struct strbuf *errs);
void fol_relay_conf_free(struct fol_conf *c);
int fol_relay_start(struct fol *f);
void fol_relay_stop(struct fol *f); /* no-op when not started */

/* ---- NOTIFY listener (fol_notify.c) ------------------------------------ */

int fol_notify_start(struct fol *f);
void fol_notify_stop(struct fol *f);

/* ---- clock skew of the peers (fol_skew.c) ------------------------------- */

/* One configured primary (by address; zones sharing a primary share it),
 * or the last entry, "other": NOTIFY senders that are no primary.  The
 * metric label set is therefore bounded by the configuration. */
struct fol_peer {
	char text[ADDR_TEXT_MAX];     /* label value: the primary as formatted */
	struct addr addr;             /* unset (len 0) for "other" */
	_Atomic int64_t skew;         /* |skew| (s) of the last TSIG that showed it */
	atomic_bool seen;             /* skew is meaningful */
	atomic_uint_fast64_t warnings; /* past tsig.skew-warn, BADTIME included */
	_Atomic int64_t quiet_until;  /* log rate limit: no new line before */
	atomic_uint_fast64_t unlogged; /* warnings not logged since the last line */
};

/* Seconds between two skew log lines about the same peer: the counter
 * counts every one, the log says it once per this while it lasts. */
#define FOL_SKEW_LOG_EVERY 600

enum fol_skew_note {
	FOL_SKEW_OK = 0,       /* within tsig.skew-warn: gauge updated only */
	FOL_SKEW_LOGGED,       /* counted and logged */
	FOL_SKEW_QUIET,        /* counted; a line about this peer is recent */
};

/* Build f->peers from the configured primaries.  0 or GN_ENOMEM. */
int fol_skew_init(struct fol *f);
void fol_skew_free(struct fol *f); /* NULL-safe */
/* The peer of a configured primary (never NULL once initialised). */
struct fol_peer *fol_skew_peer_of(struct fol *f, const struct fol_primary *prim);
/* The peer a NOTIFY sender is (same IP as a primary, any port), else "other". */
struct fol_peer *fol_skew_peer_from(struct fol *f, const struct sockaddr *sa);
/* Record skew (peer time - ours, s) seen from peer p at `now`; `who` names
 * the sender in the log (the NOTIFY source for "other"), `badtime` says the
 * message failed on time.  Safe from any thread. */
enum fol_skew_note fol_skew_note(struct fol *f, struct fol_peer *p, const char *who,
				 int64_t skew, bool badtime, int64_t now);

/* ---- metrics and status (fol_metrics.c) -------------------------------- */

void fol_metrics_render(void *arg, struct strbuf *out);
/* `gridns-zonesync status --snapshot DIR [--state FILE]`: the same for a
 * person.  0 or <0. */
int fol_status_print(const char *snapshot, const char *state_file, FILE *out);

/* `gridns-zonesync follower|relay -c FILE [--check-config]` and
 * `gridns-zonesync status --snapshot DIR [--state FILE]`: argv[0] is the
 * command.  Returns the process exit status. */
int fol_cli(int argc, char **argv);
/* Is this a command fol_cli handles?  (status without --snapshot is the
 * central database's.) */
bool fol_cli_handles(int argc, char **argv);
