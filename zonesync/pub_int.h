/* zonesync/pub_int.h - publisher internals shared by the pub_*.c files.
 *
 * Ownership and threads:
 *  - struct pub and the per-zone pub_zone live for the publisher's life;
 *    conf fields are read-only.
 *  - The loop thread owns the listeners, TCP connections still reading a
 *    query, NOTIFY state, watch state and p->rd.
 *  - A transfer request leaves the loop as a pub_job (it owns the socket
 *    from then on) and is served by one worker thread with its own reader.
 *  - Counters are relaxed atomics; the ZONEMD digest history is under
 *    zone->md_lock.
 */
#pragma once
#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "common/histo.h"
#include "common/httpd.h"
#include "zonesync/pub.h"
#include "zonesync/zonemd.h"

#define PUB_TYPE_SOA 6
#define PUB_TYPE_IXFR 251
#define PUB_TYPE_AXFR 252
#define PUB_OP_QUERY 0
#define PUB_OP_NOTIFY 4
#define PUB_RC_NOERROR 0
#define PUB_RC_FORMERR 1
#define PUB_RC_SERVFAIL 2
#define PUB_RC_NOTIMP 4
#define PUB_RC_REFUSED 5
#define PUB_RC_NOTAUTH 9
#define PUB_MAX_MSG 65535
#define PUB_TSIG_ROOM 512       /* octets kept free for the TSIG RR */
#define PUB_MD_HIST 64          /* ZONEMD digests remembered per zone */

/* What was asked, for metrics. */
enum pub_kind { PUB_K_SOA, PUB_K_AXFR, PUB_K_IXFR, PUB_K_IXFR_FULL, PUB_K_N };
/* How it ended. */
enum pub_result {
	PUB_R_OK,          /* served completely */
	PUB_R_REFUSED,     /* ACL: network or key not allowed, unsigned */
	PUB_R_NOTAUTH,     /* TSIG failed */
	PUB_R_FAILED,      /* our side: zone absent, database error */
	PUB_R_CUT,         /* client went away or stopped reading */
	PUB_R_N
};
/* Why a request was refused (ACL) or failed TSIG. */
enum pub_deny {
	PUB_D_NETWORK, PUB_D_UNSIGNED, PUB_D_KEY, PUB_D_BADSIG, PUB_D_BADKEY,
	PUB_D_BADTIME, PUB_D_BADTRUNC, PUB_D_FORMERR, PUB_D_N
};

struct pub_md {
	uint32_t serial;
	bool valid;
	uint8_t d[ZONEMD_DIGEST_LEN];
};

/* One version of a zone packed as AXFR messages (pub_cache.c): built once
 * per serial, shared by every transfer of that serial.  Each message is
 * stored without TSIG, with ID 0 and the question of an AXFR in the first;
 * a transfer copies it, sets its ID, flags and qtype, and signs it. */
struct pub_stream {
	uint32_t serial;
	int refs;                     /* under zone->md_lock */
	size_t n, cap;
	uint8_t **msg;
	uint16_t *len;
	uint64_t bytes;
};

struct pub_ntarget;  /* pub_notify.c */
struct pub_wzone;    /* pub_watch.c */

struct pub_zone {
	const struct pub_zone_conf *zc;
	uint8_t apex[DNAME_MAX];      /* wire, lowercase */
	uint8_t key[DNAME_MAX];
	uint8_t keylen;
	/* Published by the poller (loop thread), read by metrics. */
	_Atomic uint32_t serial;
	atomic_bool present;
	atomic_uint_fast64_t last_change; /* unix time the serial last changed */
	/* Counters. */
	atomic_uint_fast64_t xfr[PUB_K_N][PUB_R_N];
	atomic_uint_fast64_t bytes[PUB_K_N];
	atomic_uint_fast64_t denied[PUB_D_N];
	atomic_uint_fast64_t notify_sent, notify_acked, notify_failed;
	atomic_uint_fast64_t imports_ok, imports_failed;
	/* ZONEMD digests by serial and the packed AXFR stream (workers). */
	pthread_mutex_t md_lock;
	pthread_cond_t stream_cond;   /* a stream build finished */
	struct pub_stream *stream;    /* the newest packed version, or NULL */
	bool building;                /* a worker is packing one */
	struct pub_md md[PUB_MD_HIST];
	unsigned md_next;
	atomic_bool md_queued;        /* a digest job is waiting */
	/* Loop thread only. */
	bool seen;                    /* the poller has seen a serial */
	struct pub_ntarget *nt;       /* one per zc->notify */
};

enum pub_job_kind { PUB_J_XFR, PUB_J_DIGEST, PUB_J_IMPORT };

struct pub_job {
	struct pub_job *next;
	enum pub_job_kind kind;
	struct pub_zone *z;
	/* XFR */
	int fd;
	uint16_t qtype;
	uint32_t client_serial;       /* IXFR */
	uint8_t *query;               /* the request as received (owned) */
	size_t query_len;
	struct tsig_ctx tsig;         /* verified request; key NULL = unsigned */
	char peer[ADDR_TEXT_MAX];
	double queued_at;
};

/* One transfer worker; its histograms have it as their only writer. */
struct pub_worker {
	struct pub *p;
	pthread_t thread;
	struct histo dur[PUB_K_N];    /* transfer durations by kind */
	struct histo wait;            /* time transfers waited in the queue */
};

struct pub_listener {
	int udp, tcp;
	ev_io uio, tio;
	uint16_t port;
};

struct pub {
	struct ev_loop *loop;
	const struct pub_conf *conf;
	snap_env *env;
	snap_rd *rd;                  /* loop thread */
	uint64_t rd_version;
	bool polled;                  /* the first serial poll is done */
	/* Sockets whose transfer ended, closed by the loop thread (pub_queue.c):
	 * libev saw them, so only the loop's thread may close them, or an fd
	 * number reused by accept could meet a stale epoll event. */
	pthread_mutex_t close_lock;
	int *closing;
	size_t n_closing, cap_closing;
	ev_async closer;
	struct pub_zone *zones;
	size_t n_zones;
	struct pub_listener *ls;
	size_t n_ls;
	ev_timer poll;
	ev_async changed;
	ev_timer watch;
	struct httpd *httpd;
	double start_time;
	/* The transfer queue (pub_queue.c). */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct pub_job *qhead, *qtail;
	atomic_bool stopping;
	void *conns;                  /* struct pub_conn list (pub_server.c) */
	struct pub_worker *workers;
	size_t n_workers;
	atomic_uint_fast64_t queued;  /* jobs waiting */
	atomic_uint_fast64_t active;  /* jobs being served */
	atomic_uint_fast64_t tcp_open;
	atomic_uint_fast64_t queue_full;
	atomic_uint_fast64_t unknown_zone;
	atomic_uint_fast64_t tsig_fail[PUB_D_N];
	_Atomic int64_t skew_max;     /* largest |skew| seen in a valid TSIG */
	atomic_uint_fast64_t skew_warned;
	atomic_bool import_busy;
	/* Refusal log lines per second (loop thread): a flood of bad requests
	 * must not flood the log; the counters still count every one. */
	int64_t deny_sec;
	ev_tstamp refuse_logged;      /* last "TCP connections refused" line */
	atomic_uint_fast64_t tcp_refused;
	unsigned deny_logged, deny_dropped;
	/* NOTIFY (pub_notify.c, loop thread). */
	int nfd4, nfd6;
	ev_io nio4, nio6;
	double tokens;
	ev_tstamp tokens_at;
	/* Watched sources (pub_watch.c, loop thread). */
	struct pub_wzone *wz;
	size_t n_wz;
};

/* pub_server.c */
struct pub_zone *pub_zone_by_wire(struct pub *p, const uint8_t *wire);
double pub_now(void);

/* pub_acl.c: decide a request.  Verifies TSIG into *t (tsig_ctx_init'ed by
 * the caller's fudge), counts and logs a refusal.  Returns PUB_RC_NOERROR
 * when allowed, else the RCODE to answer with (*t says whether the error
 * reply gets a TSIG). */
int pub_acl_check(struct pub *p, struct pub_zone *z, const struct sockaddr *peer,
		  const char *peer_text, const uint8_t *msg, size_t len, struct tsig_ctx *t,
		  enum pub_kind kind);

/* pub_xfr.c */
struct pub_q {
	uint16_t id, flags;
	uint8_t qname[DNAME_MAX];     /* lowercase */
	size_t qname_len;
	const uint8_t *qsec;          /* question section as received */
	size_t qsec_len;
	uint16_t qtype, qclass;
	bool has_serial;              /* IXFR: SOA in authority */
	uint32_t serial;
};
/* 0, or GN_EINVAL (answer FORMERR when the header could be read). */
int pub_q_parse(const uint8_t *msg, size_t len, struct pub_q *q);
/* A short reply (error or SOA) into out[0..cap); *len set.  With
 * with_soa, the zone's current SOA from `rd` goes in the answer. */
int pub_reply_small(struct pub *p, snap_rd *rd, struct pub_zone *z, const struct pub_q *q,
		    int rcode, bool with_soa, struct tsig_ctx *t, uint8_t *out, size_t cap,
		    size_t *len);
/* Serve one transfer job on a worker (blocking socket); returns the kind
 * it turned out to be (an IXFR may be answered in full). */
enum pub_kind pub_xfr_serve(struct pub *p, snap_rd *rd, struct pub_job *j);
/* Compute and remember the ZONEMD digest of the zone's current version. */
int pub_md_compute(struct pub *p, snap_rd *rd, struct pub_zone *z);
/* The remembered digest of (z, serial): true when known. */
bool pub_md_get(struct pub_zone *z, uint32_t serial, uint8_t d[ZONEMD_DIGEST_LEN]);

/* Pack the zone's current version (AXFR form, SOA first and last, ZONEMD
 * when configured) into `s` (pub_xfr.c). */
int pub_stream_build(struct pub *p, snap_rd *rd, struct pub_zone *z, struct pub_stream *s);

/* pub_cache.c: the zone's stream for its current serial, built or shared;
 * release with pub_stream_put.  pub_stream_drop frees the cached one. */
int pub_stream_get(struct pub *p, snap_rd *rd, struct pub_zone *z, struct pub_stream **out);
void pub_stream_put(struct pub_zone *z, struct pub_stream *s);
void pub_stream_append(struct pub_stream *s, const uint8_t *msg, size_t len, int *err);
void pub_stream_free(struct pub_stream *s);
void pub_stream_drop(struct pub_zone *z);

/* pub_queue.c */
int pub_queue_start(struct pub *p);
/* Loop thread: close the sockets workers handed back. */
void pub_queue_close_cb(struct ev_loop *loop, ev_async *a, int revents);
void pub_queue_stop(struct pub *p);
/* Hand a job to the workers (the queue owns it).  GN_ELIMIT when full. */
int pub_queue_push(struct pub *p, struct pub_job *j);
void pub_job_free(struct pub_job *j);

/* pub_notify.c (loop thread) */
int pub_notify_init(struct pub *p);
void pub_notify_fini(struct pub *p);
void pub_notify_serial(struct pub *p, struct pub_zone *z, uint32_t serial);

/* pub_watch.c (loop thread) */
int pub_watch_init(struct pub *p);
void pub_watch_fini(struct pub *p);
/* Worker side of an import job. */
void pub_watch_import(struct pub *p, struct pub_zone *z);

/* pub_metrics.c */
const char *pub_kind_name(enum pub_kind k);
const char *pub_deny_name(enum pub_deny d);
void pub_count_xfr(struct pub_zone *z, enum pub_kind k, enum pub_result r, uint64_t bytes);
