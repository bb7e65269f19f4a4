/* zonesync/fol_sched.c - when each zone is checked, and who does the work.
 *
 * The main thread runs a libev loop: one timer per zone (SOA refresh after
 * a success, retry after a failure, both with config overrides and a
 * floor), the NOTIFY listener, signals, and - in a relay - the embedded
 * publisher.  Checks are queued to ONE worker thread that transfers,
 * validates and applies (fol_apply.c): the LMDB writer is single anyway,
 * and the loop stays free to answer NOTIFY and serve downstream while a
 * large AXFR runs.  A zone is queued at most once; a NOTIFY that arrives
 * while its zone is being synced marks it to be checked again right after.
 *
 * Expiry needs no timer of its own: every success writes the instant past
 * which the resolver must stop serving the zone (ts_expires, see
 * fol_expiry); if no success comes, that instant simply passes.
 */
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/httpd.h"
#include "common/log.h"
#include "zonesync/fol.h"
#include "zonesync/pub.h"

struct fol_worker {
	pthread_t th;
	bool started, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t *queue;               /* zone indexes, FIFO ring */
	size_t head, n;
	size_t *done;                /* finished: zone index */
	enum fol_reason *done_r;
	bool *done_changed;
	size_t n_done;
	ev_async async;
};

struct fol_zone *fol_zone_find_wire(struct fol *f, const uint8_t *apex)
{
	for (size_t i = 0; i < f->n_zones; i++)
		if (dname_wire_equal(f->zones[i].apex, apex))
			return &f->zones[i];
	return NULL;
}

static void *worker_main(void *arg)
{
	struct fol *f = arg;
	struct fol_worker *w = f->worker;

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		size_t zi;
		enum fol_reason r;
		bool changed = false;
		if (w->n == 0) {
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		zi = w->queue[w->head];
		w->head = (w->head + 1) % f->n_zones;
		w->n--;
		pthread_mutex_unlock(&w->mu);
		r = fol_apply_sync(f, &f->zones[zi], &changed);
		if (fol_state_save(f) < 0)
			log_warn("follower state not saved; it is rebuilt by the next syncs");
		pthread_mutex_lock(&w->mu);
		w->done[w->n_done] = zi;
		w->done_r[w->n_done] = r;
		w->done_changed[w->n_done] = changed;
		w->n_done++;
		ev_async_send(f->loop, &w->async);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static uint32_t floor_u32(uint32_t v, uint32_t min)
{
	return v < min ? min : v;
}

/* Seconds until the next check of z after result r. */
static double next_delay(const struct fol *f, const struct fol_zone *z, enum fol_reason r)
{
	const struct fol_zone_conf *zc = z->conf;
	uint32_t v;

	if (r == FOL_OK || r == FOL_UPTODATE) {
		v = zc->refresh ? zc->refresh : z->have_zone ? z->soa_refresh : 0;
		return floor_u32(v ? v : 3600, f->conf->refresh_min);
	}
	/* Failures back off from retry-min, doubling up to the SOA retry: a
	 * blip heals in seconds, a dead primary is not hammered. */
	v = floor_u32(zc->retry ? zc->retry : z->have_zone ? z->soa_retry : 60, f->conf->retry_min);
	{
		double d = f->conf->retry_min;
		for (unsigned i = 1; i < z->fails && d < v; i++)
			d *= 2;
		return d < v ? d : v;
	}
}

static void enqueue(struct fol *f, struct fol_zone *z)
{
	struct fol_worker *w = f->worker;
	size_t zi = (size_t)(z - f->zones);

	if (z->queued) {
		z->again = true;
		return;
	}
	z->queued = true;
	ev_timer_stop(f->loop, z->timer);
	pthread_mutex_lock(&w->mu);
	w->queue[(w->head + w->n) % f->n_zones] = zi;
	w->n++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void fol_sched_now(struct fol *f, struct fol_zone *z)
{
	enqueue(f, z);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct fol *f = ev_userdata(loop);
	enqueue(f, t->data);
}

static void on_done(struct ev_loop *loop, ev_async *a, int revents)
{
	struct fol *f = ev_userdata(loop);
	struct fol_worker *w = f->worker;
	size_t n, idx[64];
	enum fol_reason rs[64];
	bool ch[64];

	do {
		pthread_mutex_lock(&w->mu);
		n = w->n_done < 64 ? w->n_done : 64;
		memcpy(idx, w->done, n * sizeof(*idx));
		memcpy(rs, w->done_r, n * sizeof(*rs));
		memcpy(ch, w->done_changed, n * sizeof(*ch));
		memmove(w->done, w->done + n, (w->n_done - n) * sizeof(*w->done));
		memmove(w->done_r, w->done_r + n, (w->n_done - n) * sizeof(*w->done_r));
		memmove(w->done_changed, w->done_changed + n,
			(w->n_done - n) * sizeof(*w->done_changed));
		w->n_done -= n;
		pthread_mutex_unlock(&w->mu);
		for (size_t i = 0; i < n; i++) {
			struct fol_zone *z = &f->zones[idx[i]];
			int64_t now = time(NULL);
			double d;
			z->queued = false;
			if (rs[i] == FOL_OK || rs[i] == FOL_UPTODATE)
				z->fails = 0;
			else
				z->fails++;
			d = next_delay(f, z, rs[i]);
			if (ch[i] && f->pub)
				pub_zone_changed(f->pub, z->conf->name);
			if (z->have_zone && z->expires_at && now >= z->expires_at)
				log_err("zone %s: EXPIRED (no successful refresh before its expire); "
					"the resolver treats it as absent and falls back; last error: %s",
					z->conf->name, z->last_error);
			if (z->again) {
				z->again = false;
				enqueue(f, z);
				continue;
			}
			z->next_check = now + (int64_t)d;
			ev_timer_set((ev_timer *)z->timer, d, 0.);
			ev_timer_start(loop, z->timer);
		}
	} while (n == 64);
}

/* LMDB frees a dead process's reader slots only when someone calls
 * mdb_reader_check; snap_open does at every start, but a resolver that
 * crashes over and over on a node whose processes all stay up would
 * otherwise fill the table (MDB_READERS_FULL: no reader can start, not
 * even after a heal).  The follower outlives the resolver restarts, so it
 * sweeps the table on a timer; the check is one lock probe per distinct
 * pid in the table. */
static void on_reader_check(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct fol *f = ev_userdata(loop);
	int n = snap_reader_check(f->env);

	if (n <= 0)
		return; /* an error is logged by snap_reader_check */
	log_warn("snapshot %s: cleared %d stale reader slot(s) left by dead processes",
		 f->conf->snapshot, n);
	atomic_fetch_add_explicit(&f->readers_cleared, (uint_fast64_t)n, memory_order_relaxed);
}

/* Seconds between reader checks: FOL_READER_CHECK_EVERY, or in a build
 * with test hooks GRIDNS_TEST_READER_CHECK_S, so a system test need not
 * wait a minute for the sweep it checks. */
static double reader_check_every(void)
{
	double every = FOL_READER_CHECK_EVERY;
#ifndef NDEBUG
	const char *v = getenv("GRIDNS_TEST_READER_CHECK_S");
	if (v && atof(v) > 0) {
		every = atof(v);
		log_warn("TEST HOOK: reader check every %.1f s", every);
	}
#endif
	return every;
}

static void on_signal(struct ev_loop *loop, ev_signal *s, int revents)
{
	log_info("signal %d: stopping", s->signum);
	ev_break(loop, EVBREAK_ALL);
}

static int worker_start(struct fol *f)
{
	struct fol_worker *w = calloc(1, sizeof(*w));
	size_t n = f->n_zones;

	if (!w)
		return GN_ENOMEM;
	f->worker = w;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->queue = calloc(n, sizeof(*w->queue));
	w->done = calloc(n, sizeof(*w->done));
	w->done_r = calloc(n, sizeof(*w->done_r));
	w->done_changed = calloc(n, sizeof(*w->done_changed));
	if (!w->queue || !w->done || !w->done_r || !w->done_changed)
		return GN_ENOMEM;
	ev_async_init(&w->async, on_done);
	ev_async_start(f->loop, &w->async);
	if (pthread_create(&w->th, NULL, worker_main, f) != 0) {
		log_err("cannot start the transfer thread");
		return GN_EIO;
	}
	w->started = true;
	return 0;
}

static void worker_stop(struct fol *f)
{
	struct fol_worker *w = f->worker;
	if (!w)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->th, NULL);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w->queue);
	free(w->done);
	free(w->done_r);
	free(w->done_changed);
	free(w);
	f->worker = NULL;
}

int fol_new(struct fol_conf *c, bool relay, struct fol **out)
{
	struct fol *f = calloc(1, sizeof(*f));
	struct snap_opts so = { .map_size = c->map_size };
	int ret;

	*out = NULL;
	if (!f)
		return GN_ENOMEM;
	f->conf = c;
	f->relay = relay;
	pthread_mutex_init(&f->lock, NULL);
	if (!(f->zones = calloc(c->n_zones, sizeof(*f->zones)))) {
		ret = GN_ENOMEM;
		goto out;
	}
	f->n_zones = c->n_zones;
	if ((ret = fol_skew_init(f)) < 0)
		goto out;
	for (size_t i = 0; i < c->n_zones; i++) {
		struct fol_zone *z = &f->zones[i];
		ev_timer *t = calloc(1, sizeof(*t));
		z->conf = &c->zones[i];
		z->apex_len = dname_from_text(z->conf->name, strlen(z->conf->name), z->apex);
		if (!t || z->apex_len < 1) {
			free(t);
			ret = t ? GN_EINVAL : GN_ENOMEM;
			goto out;
		}
		ev_timer_init(t, on_timer, 0., 0.);
		t->data = z;
		z->timer = t;
	}
	if ((ret = snap_open(&f->env, c->snapshot, 0, &so)) == GN_ECORRUPT) {
		/* The snapshot is a copy of what the primaries hold: a damaged
		 * one is put aside (for a post-mortem) and fetched again whole. */
		char *bad = NULL, *aside = NULL;
		if (asprintf(&bad, "%s/data.mdb", c->snapshot) > 0 &&
		    asprintf(&aside, "%s/data.mdb.corrupt", c->snapshot) > 0 &&
		    rename(bad, aside) == 0) {
			log_err("snapshot %s: damaged; moved aside to %s, fetching every zone "
				"again by AXFR", c->snapshot, aside);
			ret = snap_open(&f->env, c->snapshot, 0, &so);
		}
		free(bad);
		free(aside);
	}
	if (ret < 0)
		goto out;
	if ((ret = fol_state_load(f)) < 0 || (ret = fol_state_from_snapshot(f)) < 0)
		goto out;
	*out = f;
	f = NULL;
out:
	fol_free(f);
	return ret;
}

static int fol_health(void *arg, struct strbuf *out)
{
	struct fol *f = arg;
	int64_t now = time(NULL);
	int bad = 0;

	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n_zones; i++) {
		const struct fol_zone *z = &f->zones[i];
		if (!z->have_zone || (z->expires_at && now >= z->expires_at)) {
			strbuf_printf(out, "%szone %s %s", bad ? "; " : "", z->conf->name,
				      z->have_zone ? "expired" : "not loaded yet");
			bad = 1;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return bad;
}

int fol_run(struct fol *f)
{
	ev_signal sterm, sint;
	ev_timer rcheck;
	int ret = 0;

	if (!(f->loop = ev_loop_new(EVFLAG_AUTO))) {
		log_err("cannot create the event loop");
		return GN_ENOMEM;
	}
	ev_set_userdata(f->loop, f);
	ev_signal_init(&sterm, on_signal, SIGTERM);
	ev_signal_init(&sint, on_signal, SIGINT);
	ev_signal_start(f->loop, &sterm);
	ev_signal_start(f->loop, &sint);
	signal(SIGPIPE, SIG_IGN);
	{
		double every = reader_check_every();
		ev_timer_init(&rcheck, on_reader_check, every, every);
		ev_timer_start(f->loop, &rcheck);
	}
	if ((ret = worker_start(f)) < 0 || (ret = fol_notify_start(f)) < 0)
		goto out;
	if (f->conf->has_metrics) {
		struct httpd_opts ho = { .name = f->relay ? "relay metrics" : "follower metrics" };
		if ((ret = httpd_new(&f->conf->metrics, &ho, fol_metrics_render, fol_health, f,
				     &f->httpd)) < 0)
			goto out;
	}
	if (f->relay && (ret = fol_relay_start(f)) < 0)
		goto out;
	/* A (re)start checks every zone at once: an IXFR request carrying the
	 * serial we hold, so nothing we have is fetched again. */
	for (size_t i = 0; i < f->n_zones; i++)
		enqueue(f, &f->zones[i]);
	log_info("%s running: %zu zone(s), snapshot %s", f->relay ? "relay" : "follower",
		 f->n_zones, f->conf->snapshot);
	ev_run(f->loop, 0);
out:
	fol_relay_stop(f);
	httpd_free(f->httpd);
	f->httpd = NULL;
	fol_notify_stop(f);
	worker_stop(f);
	for (size_t i = 0; i < f->n_zones; i++)
		ev_timer_stop(f->loop, f->zones[i].timer);
	ev_timer_stop(f->loop, &rcheck);
	ev_loop_destroy(f->loop);
	f->loop = NULL;
	return ret;
}

void fol_free(struct fol *f)
{
	if (!f)
		return;
	for (size_t i = 0; f->zones && i < f->n_zones; i++)
		free(f->zones[i].timer);
	free(f->zones);
	fol_skew_free(f);
	snap_close(f->env);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
