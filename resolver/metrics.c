/* resolver/metrics.c - /metrics and /health of gridns-resolver, served by
 * common/httpd.  This file only says WHAT is exposed: the render reads the
 * workers' counters and contexts, a snapshot reader owned by the httpd
 * thread for per-zone gauges, and the snapshot environment's figures
 * (gridns_snapshot_*: map, file, reader table, free disk). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "resolver/answer.h"
#include "resolver/conf.h"
#include "resolver/health.h"
#include "resolver/metrics.h"
#include "resolver/server.h"

#define METRICS_MAX_CTX 1024

struct metrics {
	struct httpd *h;
	struct server *srv;
	snap_rd *rd;            /* used on the httpd thread, under rd_lock */
	snap_env *rd_env;       /* env rd belongs to */
	pthread_mutex_t rd_lock; /* render vs metrics_drop_snapshot (main thread) */
	struct health *health;  /* NULL: /health only says the process answers */
	double start_time;      /* unix time the process started serving */
};

static void metrics_render_locked(struct metrics *m, struct strbuf *b)
{
	struct answer_ctx *ctxs[METRICS_MAX_CTX];
	snap_env *env = server_snapshot(m->srv);
	size_t n;

	strbuf_printf(b, "# HELP gridns_build_info Version of the running gridns-resolver.\n"
		      "# TYPE gridns_build_info gauge\n"
		      "gridns_build_info{version=\"%s\",program=\"gridns-resolver\"} 1\n",
		      GRIDNS_VERSION);
	strbuf_printf(b, "# HELP gridns_process_start_time_seconds Unix time the resolver started.\n"
		      "# TYPE gridns_process_start_time_seconds gauge\n"
		      "gridns_process_start_time_seconds %.3f\n", m->start_time);
	server_metrics_write(m->srv, b);
	server_rec_metrics_write(m->srv, b);
	n = server_answer_ctxs(m->srv, ctxs, METRICS_MAX_CTX);
	health_metrics_write(m->health, b);
	/* The map, file, free list, reader table and free disk as this reader
	 * sees them.  Its own short read transaction, on this thread: the env
	 * cannot be closed meanwhile, since a reopen first waits for rd_lock
	 * (metrics_drop_snapshot), which the render holds. */
	snap_env_metrics_write(env, b);
	if (!env) {
		/* Same families with or without data: dashboards and alerts
		 * see zeros and absent zones, not a changed exposition. */
		answer_metrics_write(ctxs, n, NULL, b);
		return;
	}
	if (m->rd && m->rd_env != env) {
		snap_rd_free(m->rd);
		m->rd = NULL;
	}
	if (!m->rd) {
		int ret = snap_rd_new(env, &m->rd);
		if (ret < 0) {
			log_warn("metrics: cannot read the snapshot: %s", gn_strerror(ret));
			m->rd = NULL;
		} else {
			m->rd_env = env;
		}
	}
	answer_metrics_write(ctxs, n, m->rd, b);
}

/* The workers' contexts may be replaced by a restart and the snapshot
 * reader by a reopen: hold both locks for the whole render. */
static void metrics_render(struct metrics *m, struct strbuf *b)
{
	pthread_mutex_lock(&m->rd_lock);
	server_read_lock(m->srv);
	metrics_render_locked(m, b);
	server_read_unlock(m->srv);
	pthread_mutex_unlock(&m->rd_lock);
}

void metrics_drop_snapshot(struct metrics *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->rd_lock);
	/* MDB_NOTLS: a reset read transaction may be freed on this thread. */
	snap_rd_free(m->rd);
	m->rd = NULL;
	m->rd_env = NULL;
	pthread_mutex_unlock(&m->rd_lock);
}

static void metrics_render_cb(void *arg, struct strbuf *b)
{
	metrics_render(arg, b);
}

/* The self-check's JSON when there is one; otherwise the process answers,
 * which is all /health can say. */
static int metrics_health_cb(void *arg, struct strbuf *b)
{
	struct metrics *m = arg;
	if (!m->health)
		return 0;
	return health_render_json(m->health, b) ? 0 : 1;
}

int metrics_new(const struct addr *a, struct server *srv, struct health *h,
		struct metrics **out)
{
	struct httpd_opts o = { .name = "metrics", .health_type = "application/json" };
	struct metrics *m = calloc(1, sizeof(*m));
	struct timespec ts;
	int ret = GN_ENOMEM;

	*out = NULL;
	if (!m)
		return ret;
	m->srv = srv;
	m->health = h;
	clock_gettime(CLOCK_REALTIME, &ts);
	m->start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	pthread_mutex_init(&m->rd_lock, NULL);
	/* Bound now, before privileges are dropped. */
	if ((ret = httpd_new(a, &o, metrics_render_cb, metrics_health_cb, m, &m->h)) < 0) {
		metrics_free(m);
		return ret;
	}
	*out = m;
	return 0;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	httpd_free(m->h); /* joins the thread: no render runs after this */
	snap_rd_free(m->rd);
	pthread_mutex_destroy(&m->rd_lock);
	free(m);
}
