/* resolver/health.h - the self-check of gridns-resolver: canary queries
 * through our own sockets, a rise/fall state machine per check, healing,
 * /health, and the systemd watchdog.  Operator view: docs/health.md.
 *
 * Threading: one health thread (health.c) owns the canary sockets, its own
 * snapshot reader and the check table.  The metrics thread renders /health
 * and the health metrics through health_render_json/health_metrics_write,
 * which take the table's mutex (never on the query path: the workers know
 * nothing of this module).  Healing calls server_restart_worker from the
 * health thread; reopening the snapshot is asked of the main thread, which
 * owns the env (health_take_request / health_request_done).
 *
 * Layers: health_state.c (check table, rise/fall, verdicts, JSON, metrics:
 * pure, unit-tested), health_canary.c (building, sending and reading the
 * canary queries), health.c (the thread: zone list, rounds, watchdog,
 * STATUS=), health_heal.c (the healing ladder); health_int.h is shared by
 * the last two only.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/addr.h"
#include "common/strbuf.h"

struct server;

/* Exit status when healing failed: the supervisor should restart us. */
#define HEALTH_EXIT_CODE 3

/* What a failing check says about the node, which decides what may help. */
enum health_class {
	HEALTH_FAULT = 0,  /* no answer, SERVFAIL, stuck worker: a restart may help */
	HEALTH_DATA,       /* answered, but the data is wrong (or gone, or expired) */
	HEALTH_UPSTREAM,   /* the tiers failed the tier canary */
	HEALTH_CLASS_N
};

/* ---- configuration ------------------------------------------------------ */

struct health_conf {
	bool enable;              /* false: no canaries, always healthy (watchdog still pings) */
	unsigned interval_ms;     /* between canary rounds */
	unsigned timeout_ms;      /* per canary query */
	unsigned rise, fall;      /* consecutive passes/failures that flip a check */
	unsigned max_heal;        /* heal attempts before exiting with HEALTH_EXIT_CODE */
	const char *const *names; /* routing canaries "name[/TYPE]" (TYPE default A) */
	size_t n_names;
	const char *tier_name;    /* tier canary parent name; NULL/"" = none */
};

/* ---- the check table (health_state.c) ----------------------------------- */

#define HEALTH_NAME_MAX 160
#define HEALTH_ERR_MAX 240

struct health_check {
	char name[HEALTH_NAME_MAX]; /* "zone/bl.example", "worker/0", "tiers", ... */
	bool known;          /* at least one result */
	bool up;             /* current state after rise/fall */
	bool seen;           /* reported in the current round */
	unsigned streak;     /* consecutive results against the current state */
	enum health_class cls; /* of the last failure */
	int worker;          /* worker to restart for this check, -1 = unknown */
	char err[HEALTH_ERR_MAX]; /* last error (kept while down) */
	double since;        /* unix time of the last state change */
	double dur_s;        /* duration of the last run, seconds */
};

struct health_table {
	struct health_check *v;
	size_t n, cap;
	unsigned rise, fall;
	bool round_done;     /* a full round has been reported */
	uint64_t heal[4];    /* heal actions, by enum health_action */
	unsigned heal_attempts; /* in the current unhealthy episode */
};

enum health_action {
	HEALTH_A_RESTART_WORKER = 0, HEALTH_A_REOPEN_SNAPSHOT, HEALTH_A_RESTART_TIERS,
	HEALTH_A_EXIT, HEALTH_A_N
};
const char *health_action_str(enum health_action a);
const char *health_class_str(enum health_class c);

void health_table_init(struct health_table *t, unsigned rise, unsigned fall);
void health_table_deinit(struct health_table *t);
/* Start a round: clears every check's `seen`. */
void health_table_round_begin(struct health_table *t);
/* Report one result.  The first result sets the state directly; after that
 * `fall` failures in a row take a check down and `rise` passes bring it up.
 * `err` may be NULL when ok.  Returns 0 or GN_ENOMEM. */
int health_table_report(struct health_table *t, const char *name, bool ok,
			enum health_class cls, const char *err, double dur_s, int worker,
			double now);
/* Take a check down now, without waiting `fall` rounds: for failures
 * read from the snapshot itself (a zone that left it), which no retry
 * can change - debouncing is for probes that may be flaky. */
void health_table_force_down(struct health_table *t, const char *name, double now);
/* Keep a check without a new result this round (nothing to judge yet).
 * Returns false when there is no such check. */
bool health_table_touch(struct health_table *t, const char *name);
/* End a round: checks not reported in it are dropped (health.c keeps
 * reporting zones that left the snapshot until SIGHUP, so those stay). */
void health_table_round_end(struct health_table *t);
/* Remove one check (SIGHUP forgets zones that were removed on purpose). */
void health_table_drop(struct health_table *t, const char *name);
/* All checks up (and a first round done)? */
bool health_table_healthy(const struct health_table *t);
/* Is any check of class `cls` down? */
bool health_table_down_class(const struct health_table *t, enum health_class cls);
/* One line for sd_notify STATUS= and logs. */
void health_table_summary(const struct health_table *t, char *buf, size_t cap);
/* The /health body (application/json): healthy, status, failing checks with
 * class and last error, check count, heal attempts. */
void health_table_json(const struct health_table *t, struct strbuf *out);
/* gridns_healthy, gridns_health_check_up, gridns_health_check_duration_seconds,
 * gridns_heal_actions_total. */
void health_table_metrics(const struct health_table *t, struct strbuf *out);

/* ---- verdicts on canary answers (health_state.c) ------------------------ */

/* One canary answer as read off the wire. */
struct health_answer {
	int err;             /* 0 = answered; else -errno (send/recv), GN_EBUSY (timeout),
			      * GN_EINVAL (malformed reply), GN_ERANGE (name too long) */
	int rcode;
	unsigned n_answer;   /* records of the asked type in the answer section */
	unsigned n_a127;     /* A records inside 127.0.0.0/8 */
	bool tc;             /* truncated */
};

/* DNSBL test point verdict: `want_listed` (2.0.0.127, ::ffff:7f00:2, test)
 * or not (1.0.0.127, ::ffff:7f00:1, invalid).  Returns true when ok; else
 * fills cls and why ("1.0.0.127 is listed: the zone is listing the world"). */
bool health_judge_dnsbl(const struct health_answer *a, bool want_listed, const char *point,
			enum health_class *cls, char *why, size_t cap);
/* Routing canary: NOERROR with data. */
bool health_judge_name(const struct health_answer *a, enum health_class *cls, char *why,
		       size_t cap);
/* Tier canary: any valid answer (NOERROR or NXDOMAIN) from the tiers. */
bool health_judge_tier(const struct health_answer *a, enum health_class *cls, char *why,
		       size_t cap);

/* ---- canary queries (health_canary.c) ----------------------------------- */

/* One query to send: name in text, type; filled in with its answer. */
struct health_probe {
	char qname[300];
	uint16_t qtype;
	bool rd;             /* set RD (tier canary) */
	struct health_answer ans;
	uint64_t dur_ns;
};

/* Ask every probe over UDP (a fresh socket per probe, so the kernel spreads
 * them over the workers' SO_REUSEPORT sockets) or over TCP (one connection,
 * pipelined) to `to`, waiting at most timeout_ms in all.  Fills each
 * probe's `ans`.  Returns 0 (per-probe errors are in ans.err). */
int health_canary_udp(const struct addr *to, struct health_probe *p, size_t n,
		      unsigned timeout_ms);
int health_canary_tcp(const struct addr *to, struct health_probe *p, size_t n,
		      unsigned timeout_ms);
/* Where to send canaries for a listen address: a wildcard becomes loopback. */
void health_canary_target(const struct addr *listen, struct addr *to);
/* Parse a reply into `a` (exposed for the unit test). */
void health_canary_parse(const uint8_t *pkt, size_t len, uint16_t id, uint16_t qtype,
			 struct health_answer *a);
/* Build a query; returns its length or 0 when the name does not fit. */
size_t health_canary_query(const char *qname, uint16_t qtype, bool rd, uint16_t id,
			   uint8_t *buf, size_t cap);
/* "A", "MX", ... -> type code; 0 when unknown. */
uint16_t health_qtype_parse(const char *s);

/* ---- the health thread (health.c) --------------------------------------- */

struct health;

enum health_request { HEALTH_REQ_NONE = 0, HEALTH_REQ_REOPEN = 1, HEALTH_REQ_EXIT = 2 };

/* Create (not started).  Strings in `c` are copied.  Caller frees with
 * health_free. */
int health_new(const struct health_conf *c, struct server *srv, struct health **out);
/* Start the thread.  Returns 0 or GN_EIO. */
int health_start(struct health *h);
/* Stop and join the thread, free everything.  NULL-safe.  Call before
 * server_free and before the snapshot env is closed. */
void health_free(struct health *h);

/* Main thread: what the health thread asks of it (cleared by reading). */
enum health_request health_take_request(struct health *h);
/* Main thread: the reopen asked for is finished (env handed to the server). */
void health_request_done(struct health *h);
/* Main thread (SIGHUP): forget zones that disappeared from the snapshot. */
void health_forget_missing(struct health *h);

/* Metrics thread: the /health body; returns true when healthy. */
bool health_render_json(struct health *h, struct strbuf *out);
/* Metrics thread: the health families (NULL h: nothing). */
void health_metrics_write(struct health *h, struct strbuf *out);
