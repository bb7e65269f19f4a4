/* resolver/health_int.h - internals shared by health.c (the thread and its
 * rounds) and health_heal.c (the healing ladder).  Not for other modules.
 *
 * Ownership: everything in struct health belongs to the health thread,
 * except `t` (under `lock`: the metrics thread renders it) and the atomics
 * the main thread reads or sets (request, reopen_pending, forget).
 */
#pragma once
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "resolver/health.h"
#include "zonesync/snap.h"

/* How long a restart may wait for a worker thread to stop. */
#define HEALTH_JOIN_MS 2000

/* A zone of the snapshot that carries DNSBL data at its apex. */
struct hzone {
	char name[256];
	bool ip4, ip6, dom;  /* dataset families attached at the apex */
	bool present;        /* seen in the last zone walk */
	bool expired;        /* its data expired: queries go to the tiers */
};

/* What a probe tests, to judge its answer and find its check. */
struct hprobe_meta {
	size_t check;        /* index into health.acc */
	int kind;            /* 0 dnsbl, 1 routing name */
	bool want_listed;
	const char *point;   /* "2.0.0.127", ... */
};

/* One check's results over all transports of a round. */
struct hacc {
	char name[HEALTH_NAME_MAX];
	bool ok;
	enum health_class cls;
	int worker;
	char err[HEALTH_ERR_MAX];
	double dur_s;
	bool decisive;       /* read from the snapshot: down at once, no `fall` */
};

struct health {
	struct health_conf c;
	char **names;            /* copies of c.names */
	char *tier_name;
	struct server *srv;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	int wake;                /* eventfd: health_free interrupts the sleep */

	pthread_mutex_t lock;    /* guards t: the metrics thread renders it */
	struct health_table t;

	/* Health thread only: */
	snap_rd *rd;
	snap_env *rd_env;
	struct hzone *zones;
	size_t n_zones;
	uint64_t *beats;         /* last heartbeat seen per worker */
	double beats_at;
	struct health_probe *probes, *work;
	struct hprobe_meta *meta;
	size_t n_probes, cap_probes;
	struct hacc *acc;
	size_t n_acc, cap_acc;
	unsigned heal_wait;      /* rounds to wait before judging the last heal step */
	unsigned up_heal_done;   /* restart_tiers done in this upstream episode */
	bool data_heal_done;     /* reopen done in this data episode */
	char status[512];
	uint64_t rnd;

	atomic_int request;      /* enum health_request for the main thread */
	atomic_bool reopen_pending;
	atomic_bool forget;
};

/* health_heal.c: one step of the healing ladder after a round. */
void health_heal(struct health *h);
