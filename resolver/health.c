/* resolver/health.c - the health thread: canary rounds, worker heartbeats,
 * systemd STATUS= and WATCHDOG=1 (the healing ladder is health_heal.c).
 *
 * One round: read the zone list through our own snapshot reader, ask every
 * canary of every zone over UDP and TCP on every listen address, check that
 * every worker's heartbeat moved, ask the tier canary once, then update the
 * check table (health_state.c) and let health_heal() decide whether to heal.  Why each step
 * exists is in docs/health.md.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "resolver/health_int.h"
#include "resolver/notify.h"
#include "resolver/server.h"
#include "resolver/tier.h"
#include "zonesync/snap.h"

#define HEALTH_ZONE_MAX 4096

static double health_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double health_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the zone list -------------------------------------------------------- */

struct zone_walk {
	struct health *h;
	int64_t now;
	int ret;
};

static struct hzone *zone_find_add(struct health *h, const char *name, size_t len)
{
	struct hzone *z;

	for (size_t i = 0; i < h->n_zones; i++)
		if (strlen(h->zones[i].name) == len && memcmp(h->zones[i].name, name, len) == 0)
			return &h->zones[i];
	if (h->n_zones == HEALTH_ZONE_MAX || len >= sizeof(z->name))
		return NULL;
	z = realloc(h->zones, (h->n_zones + 1) * sizeof(*z));
	if (!z)
		return NULL;
	h->zones = z;
	z = &h->zones[h->n_zones++];
	memset(z, 0, sizeof(*z));
	memcpy(z->name, name, len);
	return z;
}

static int zone_cb(void *arg, const struct snap_zone *sz)
{
	struct zone_walk *zw = arg;
	bool ip4 = false, ip6 = false, dom = false;
	struct hzone *z;

	for (uint32_t i = 0; i < sz->n_ds; i++) {
		struct snap_ds ds;
		bool apex = false;
		if (snap_zone_ds(sz, i, &ds) < 0)
			continue;
		/* Test points are asked at the apex only: a dataset attached
		 * below it (combined "$DATASET t sub") is not probed. */
		for (uint32_t k = 0, off = 0; k < ds.n_subs; k++) {
			if (ds.subs[off] == 0)
				apex = true;
			off += 1u + ds.subs[off];
		}
		if (!apex)
			continue;
		switch (zimg_index_of(ds.type)) {
		case ZIX_IP4: ip4 = true; break;
		case ZIX_IP6: ip6 = true; break;
		case ZIX_DOM: dom = true; break;
		default: break;
		}
	}
	if (!ip4 && !ip6 && !dom)
		return 0; /* a routing zone: probed through health.canary-names */
	z = zone_find_add(zw->h, sz->name, sz->name_len);
	if (!z) {
		zw->ret = GN_ENOMEM;
		return 0;
	}
	z->ip4 = ip4;
	z->ip6 = ip6;
	z->dom = dom;
	z->present = true;
	z->expired = sz->ts_expires && zw->now > sz->ts_expires;
	return 0;
}

/* Refresh the zone list from the snapshot the workers serve.  Zones that
 * left it stay in the list (present = false) and fail: a zone that vanishes
 * under a running node is exactly what must be noticed. */
static void health_zones(struct health *h)
{
	snap_env *env = server_snapshot(h->srv);
	struct zone_walk zw = { h, (int64_t)time(NULL), 0 };
	int ret;

	if (atomic_exchange(&h->forget, false)) {
		size_t j = 0;
		for (size_t i = 0; i < h->n_zones; i++)
			if (h->zones[i].present)
				h->zones[j++] = h->zones[i];
		if (j != h->n_zones)
			log_info("health: forgetting %zu zones no longer in the snapshot",
				 h->n_zones - j);
		h->n_zones = j;
	}
	if (atomic_load(&h->reopen_pending))
		return; /* the env is being replaced: do not touch it */
	if (h->rd && h->rd_env != env) {
		snap_rd_free(h->rd);
		h->rd = NULL;
	}
	if (!env)
		return;
	if (!h->rd) {
		if ((ret = snap_rd_new(env, &h->rd)) < 0) {
			log_warn("health: cannot read the snapshot: %s", gn_strerror(ret));
			h->rd = NULL;
			return;
		}
		h->rd_env = env;
	}
	if ((ret = snap_rd_begin(h->rd)) < 0) {
		log_warn("health: cannot read the snapshot: %s", gn_strerror(ret));
		return;
	}
	for (size_t i = 0; i < h->n_zones; i++)
		h->zones[i].present = false;
	ret = snap_rd_zones(h->rd, zone_cb, &zw);
	snap_rd_end(h->rd);
	if (ret < 0 || zw.ret < 0)
		log_warn("health: cannot list the zones: %s", gn_strerror(ret < 0 ? ret : zw.ret));
}

/* ---- building a round ------------------------------------------------------ */

static struct hacc *acc_add(struct health *h, const char *fmt, const char *arg)
{
	struct hacc *a;

	if (h->n_acc == h->cap_acc) {
		size_t cap = h->cap_acc ? h->cap_acc * 2 : 64;
		a = realloc(h->acc, cap * sizeof(*a));
		if (!a)
			return NULL;
		h->acc = a;
		h->cap_acc = cap;
	}
	a = &h->acc[h->n_acc++];
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), fmt, arg);
	a->ok = true;
	a->worker = -1;
	return a;
}

static void acc_fail(struct hacc *a, enum health_class cls, const char *fmt, const char *s1,
		     const char *s2)
{
	/* The first failure explains best; a fault outranks wrong data. */
	if (!a->ok && !(cls == HEALTH_FAULT && a->cls != HEALTH_FAULT))
		return;
	a->ok = false;
	a->cls = cls;
	if (snprintf(a->err, sizeof(a->err), fmt, s1, s2) >= (int)sizeof(a->err))
		memcpy(a->err + sizeof(a->err) - 4, "...", 4); /* say it was cut */
}

static int probe_add(struct health *h, size_t check, int kind, bool want, const char *point,
		     const char *qname_fmt, const char *zone, uint16_t qtype)
{
	struct health_probe *p;

	if (h->n_probes == h->cap_probes) {
		size_t cap = h->cap_probes ? h->cap_probes * 2 : 64;
		struct health_probe *np = realloc(h->probes, cap * sizeof(*np));
		struct health_probe *nw = np ? realloc(h->work, cap * sizeof(*nw)) : NULL;
		struct hprobe_meta *nm = NULL;
		if (np)
			h->probes = np;
		if (nw)
			h->work = nw;
		if (nw)
			nm = realloc(h->meta, cap * sizeof(*nm));
		if (!nm)
			return GN_ENOMEM;
		h->meta = nm;
		h->cap_probes = cap;
	}
	p = &h->probes[h->n_probes];
	memset(p, 0, sizeof(*p));
	snprintf(p->qname, sizeof(p->qname), qname_fmt, zone);
	p->qtype = qtype;
	h->meta[h->n_probes] = (struct hprobe_meta){ check, kind, want, point };
	h->n_probes++;
	return 0;
}

/* RFC 5782 test points, as query names under the zone. */
#define V6_NIBBLES(last) last ".0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"

static int health_build(struct health *h)
{
	int ret = 0;

	h->n_probes = h->n_acc = 0;
	for (size_t i = 0; i < h->n_zones && ret == 0; i++) {
		struct hzone *z = &h->zones[i];
		struct hacc *a = acc_add(h, "zone/%s", z->name);
		size_t ci = h->n_acc - 1;
		if (!a)
			return GN_ENOMEM;
		if (!z->present) {
			acc_fail(a, HEALTH_DATA, "zone is no longer in the snapshot (SIGHUP "
				 "forgets zones removed on purpose)%s%s", "", "");
			a->decisive = true;
			continue;
		}
		if (z->expired) {
			acc_fail(a, HEALTH_DATA, "zone data expired: its queries go to the "
				 "tiers%s%s", "", "");
			a->decisive = true;
			continue;
		}
		if (z->ip4 && ret == 0)
			ret = probe_add(h, ci, 0, true, "2.0.0.127", "2.0.0.127.%s", z->name, 1);
		if (z->ip4 && ret == 0)
			ret = probe_add(h, ci, 0, false, "1.0.0.127", "1.0.0.127.%s", z->name, 1);
		if (z->ip6 && ret == 0)
			ret = probe_add(h, ci, 0, true, "::ffff:7f00:2", V6_NIBBLES("2") ".%s",
					z->name, 1);
		if (z->ip6 && ret == 0)
			ret = probe_add(h, ci, 0, false, "::ffff:7f00:1", V6_NIBBLES("1") ".%s",
					z->name, 1);
		if (z->dom && ret == 0)
			ret = probe_add(h, ci, 0, true, "test", "test.%s", z->name, 1);
		if (z->dom && ret == 0)
			ret = probe_add(h, ci, 0, false, "invalid", "invalid.%s", z->name, 1);
	}
	for (size_t i = 0; i < h->c.n_names && ret == 0; i++) {
		char name[300];
		const char *slash = strrchr(h->names[i], '/');
		uint16_t qt = slash ? health_qtype_parse(slash + 1) : 1;
		size_t len = slash ? (size_t)(slash - h->names[i]) : strlen(h->names[i]);
		if (!acc_add(h, "name/%s", h->names[i]))
			return GN_ENOMEM;
		if (!qt || len >= sizeof(name)) {
			acc_fail(&h->acc[h->n_acc - 1], HEALTH_DATA,
				 "cannot ask %s: unknown type (use A, AAAA, MX, TXT, NS, SRV, "
				 "PTR, CNAME or SOA)%s", h->names[i], "");
			continue;
		}
		memcpy(name, h->names[i], len);
		name[len] = '\0';
		ret = probe_add(h, h->n_acc - 1, 1, true, NULL, "%s", name, qt);
	}
	return ret;
}

/* Ask the probes on every listen address, UDP and TCP; judge each answer. */
static void health_ask(struct health *h)
{
	char why[HEALTH_ERR_MAX], where[ADDR_TEXT_MAX + 8];
	size_t n_listen = 0;

	while (server_listen_addr(h->srv, n_listen))
		n_listen++;
	if (!h->n_probes)
		return;
	for (size_t l = 0; l < n_listen; l++) {
		struct addr to;
		health_canary_target(server_listen_addr(h->srv, l), &to);
		for (int tcp = 0; tcp < 2; tcp++) {
			char txt[ADDR_TEXT_MAX];
			if (addr_format(&to.u.sa, txt, sizeof(txt)) < 0)
				snprintf(txt, sizeof(txt), "?");
			snprintf(where, sizeof(where), "%s %s", tcp ? "tcp" : "udp", txt);
			memcpy(h->work, h->probes, h->n_probes * sizeof(*h->work));
			if (tcp)
				health_canary_tcp(&to, h->work, h->n_probes, h->c.timeout_ms);
			else
				health_canary_udp(&to, h->work, h->n_probes, h->c.timeout_ms);
			for (size_t i = 0; i < h->n_probes; i++) {
				const struct hprobe_meta *m = &h->meta[i];
				struct hacc *a = &h->acc[m->check];
				enum health_class cls = HEALTH_FAULT;
				bool ok;
				double d = h->work[i].dur_ns / 1e9;
				if (d > a->dur_s)
					a->dur_s = d;
				ok = m->kind == 0 ? health_judge_dnsbl(&h->work[i].ans, m->want_listed,
								       m->point, &cls, why, sizeof(why))
						  : health_judge_name(&h->work[i].ans, &cls, why,
								      sizeof(why));
				if (!ok)
					acc_fail(a, cls, "%s: %s", where, why);
			}
		}
	}
}

/* Each tier on its own: "tier/<name>" fails while any worker's circuit
 * breaker has the tier down.  The breakers probe down tiers with real
 * queries, so this is every tier's own answer, as seen by the workers;
 * the tier canary above proves the path as a whole. */
static void health_each_tier(struct health *h, double now)
{
	struct tier_stats *ts = server_tier_stats(h->srv);
	size_t n = tier_stats_count(ts);

	for (size_t i = 0; i < n; i++) {
		unsigned down = tier_stats_down_workers(ts, i);
		char name[64], why[HEALTH_ERR_MAX];
		snprintf(name, sizeof(name), "tier/%s", tier_stats_name(ts, i));
		snprintf(why, sizeof(why), "circuit breaker open on %u of %u worker(s)", down,
			 tier_stats_workers(ts));
		pthread_mutex_lock(&h->lock);
		(void)health_table_report(&h->t, name, down == 0, HEALTH_UPSTREAM,
					  down ? why : NULL, 0, -1, now);
		pthread_mutex_unlock(&h->lock);
	}
}

/* The tier canary: a label nobody asked before, so no cache can answer it. */
static void health_tier(struct health *h, double now)
{
	struct health_probe p;
	struct addr to;
	enum health_class cls = HEALTH_UPSTREAM;
	char why[HEALTH_ERR_MAX];
	bool ok;

	if (!h->tier_name || !*h->tier_name || !server_listen_addr(h->srv, 0))
		return;
	h->rnd ^= h->rnd << 13;
	h->rnd ^= h->rnd >> 7;
	h->rnd ^= h->rnd << 17;
	memset(&p, 0, sizeof(p));
	snprintf(p.qname, sizeof(p.qname), "hc-%012llx.%s",
		 (unsigned long long)(h->rnd & 0xffffffffffffULL), h->tier_name);
	p.qtype = 1;
	p.rd = true;
	health_canary_target(server_listen_addr(h->srv, 0), &to);
	health_canary_udp(&to, &p, 1, h->c.timeout_ms);
	ok = health_judge_tier(&p.ans, &cls, why, sizeof(why));
	pthread_mutex_lock(&h->lock);
	(void)health_table_report(&h->t, "tiers", ok, cls, why, p.dur_ns / 1e9, -1, now);
	pthread_mutex_unlock(&h->lock);
}

/* Report every check of the round: canaries, heartbeats, tier canary. */
static void health_round(struct health *h)
{
	unsigned nw = server_workers(h->srv);
	double now = health_now(), mono = health_mono();
	/* Judge heartbeats only over a span of several beats. */
	bool beats_valid = h->beats_at > 0 && mono - h->beats_at >= 3 * 0.1;
	int ret = 0;

	if (h->c.enable) {
		health_zones(h);
		ret = health_build(h);
		if (ret < 0)
			log_warn("health: cannot build the canary round: %s", gn_strerror(ret));
		health_ask(h);
	}
	pthread_mutex_lock(&h->lock);
	health_table_round_begin(&h->t);
	if (h->c.enable) {
		/* Without a snapshot every local query is SERVFAIL: safe, but
		 * not a node a load balancer should pick. */
		bool open = server_snapshot(h->srv) != NULL || atomic_load(&h->reopen_pending);
		(void)health_table_report(&h->t, "snapshot", open, HEALTH_DATA,
					  open ? NULL : "snapshot not open: local zones answer SERVFAIL "
					  "until gridns-zonesync creates it", 0, -1, now);
	}
	for (size_t i = 0; h->c.enable && i < h->n_acc; i++) {
		(void)health_table_report(&h->t, h->acc[i].name, h->acc[i].ok, h->acc[i].cls,
					  h->acc[i].err, h->acc[i].dur_s, h->acc[i].worker, now);
		if (h->acc[i].decisive)
			health_table_force_down(&h->t, h->acc[i].name, now);
	}
	for (unsigned i = 0; h->c.enable && i < nw; i++) {
		uint64_t b = server_worker_beat(h->srv, i);
		char name[32], err[128];
		bool ok = !beats_valid || b != h->beats[i];
		snprintf(name, sizeof(name), "worker/%u", i);
		if (!beats_valid && health_table_touch(&h->t, name))
			continue; /* too soon to tell: keep the state, count nothing */
		snprintf(err, sizeof(err), "event loop stuck: no heartbeat for %.1f s",
			 mono - h->beats_at);
		(void)health_table_report(&h->t, name, ok, HEALTH_FAULT, ok ? NULL : err, 0, (int)i,
					  now);
		h->beats[i] = b;
	}
	if (h->c.enable && (beats_valid || !h->beats_at))
		h->beats_at = mono;
	pthread_mutex_unlock(&h->lock);
	if (h->c.enable) {
		health_tier(h, now);
		health_each_tier(h, now);
	}
	pthread_mutex_lock(&h->lock);
	health_table_round_end(&h->t);
	pthread_mutex_unlock(&h->lock);
}

/* ---- the thread -------------------------------------------------------------- */

static void health_status(struct health *h)
{
	char buf[sizeof(h->status)], msg[sizeof(h->status) + 16];
	bool healthy;
	int r;

	pthread_mutex_lock(&h->lock);
	health_table_summary(&h->t, buf, sizeof(buf));
	healthy = health_table_healthy(&h->t);
	pthread_mutex_unlock(&h->lock);
	if (strcmp(buf, h->status) != 0) {
		memcpy(h->status, buf, sizeof(buf));
		if (healthy)
			log_info("health: %s", buf);
		else if (strncmp(buf, "starting", 8) != 0)
			log_warn("health: %s", buf);
	}
	/* Every round, not only on change: the main thread's own STATUS=
	 * (snapshot opened) must not hide the health summary for long. */
	snprintf(msg, sizeof(msg), "STATUS=%s", buf);
	if ((r = notify_send(msg)) < 0)
		log_debug("sd_notify(STATUS) failed: %s", strerror(-r));
}

static void *health_main(void *arg)
{
	struct health *h = arg;
	uint64_t wd_usec = 0;
	double wd_every = 0, next_round = health_mono() + 0.2, next_wd = 0;

	/* The watchdog interval is systemd's WatchdogSec=; ping at half. */
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		wd_every = wd_usec / 2e6;
		log_info("health: systemd watchdog every %.1f s (pinged while not faulty)",
			 wd_usec / 1e6);
	}
	while (!atomic_load(&h->stop)) {
		double now = health_mono(), wake = next_round;
		struct pollfd p = { .fd = h->wake, .events = POLLIN };

		if (now >= next_round) {
			health_round(h);
			health_heal(h);
			health_status(h);
			next_round = health_mono() + h->c.interval_ms / 1000.0;
		}
		if (wd_every > 0 && health_mono() >= next_wd) {
			bool fault;
			pthread_mutex_lock(&h->lock);
			fault = health_table_down_class(&h->t, HEALTH_FAULT);
			pthread_mutex_unlock(&h->lock);
			/* No ping while faulty: if healing fails, systemd's
			 * watchdog restarts us even if the exit never comes. */
			if (!fault)
				(void)notify_send("WATCHDOG=1");
			next_wd = health_mono() + wd_every;
		}
		if (wd_every > 0 && next_wd < wake)
			wake = next_wd;
		now = health_mono();
		if (wake > now)
			(void)poll(&p, 1, (int)((wake - now) * 1000) + 1);
	}
	snap_rd_free(h->rd);
	h->rd = NULL;
	return NULL;
}

/* ---- lifecycle and the other threads' entry points --------------------------- */

int health_new(const struct health_conf *c, struct server *srv, struct health **out)
{
	struct health *h;
	int ret = GN_ENOMEM;

	*out = NULL;
	if (!(h = calloc(1, sizeof(*h))))
		return GN_ENOMEM;
	h->c = *c;
	h->srv = srv;
	h->wake = -1;
	pthread_mutex_init(&h->lock, NULL);
	health_table_init(&h->t, c->rise, c->fall);
	h->rnd = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid() << 20 ^ 0x9e3779b97f4a7c15ULL;
	if (!(h->beats = calloc(server_workers(srv) + 1, sizeof(*h->beats))))
		goto out;
	if (c->n_names && !(h->names = calloc(c->n_names, sizeof(*h->names))))
		goto out;
	for (size_t i = 0; i < c->n_names; i++)
		if (!(h->names[i] = strdup(c->names[i])))
			goto out;
	if (c->tier_name && !(h->tier_name = strdup(c->tier_name)))
		goto out;
	h->c.names = NULL;
	h->c.tier_name = NULL;
	if ((h->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		log_err("health: eventfd: %s", strerror(errno));
		ret = GN_EIO;
		goto out;
	}
	atomic_init(&h->stop, false);
	atomic_init(&h->request, HEALTH_REQ_NONE);
	atomic_init(&h->reopen_pending, false);
	atomic_init(&h->forget, false);
	*out = h;
	ret = 0;
out:
	if (ret < 0)
		health_free(h);
	return ret;
}

int health_start(struct health *h)
{
	int err = pthread_create(&h->thread, NULL, health_main, h);
	if (err) {
		log_err("health: cannot start the self-check thread: %s", strerror(err));
		return GN_EIO;
	}
	h->started = true;
	return 0;
}

void health_free(struct health *h)
{
	uint64_t one = 1;

	if (!h)
		return;
	if (h->started) {
		atomic_store(&h->stop, true);
		if (write(h->wake, &one, sizeof(one)) < 0)
			log_debug("health: wake-up write failed: %s", strerror(errno));
		pthread_join(h->thread, NULL);
	}
	if (h->wake >= 0)
		close(h->wake);
	for (size_t i = 0; h->names && i < h->c.n_names; i++)
		free(h->names[i]);
	free(h->names);
	free(h->tier_name);
	free(h->beats);
	free(h->zones);
	free(h->probes);
	free(h->work);
	free(h->meta);
	free(h->acc);
	health_table_deinit(&h->t);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

enum health_request health_take_request(struct health *h)
{
	return h ? (enum health_request)atomic_exchange(&h->request, HEALTH_REQ_NONE)
		 : HEALTH_REQ_NONE;
}

void health_request_done(struct health *h)
{
	if (h)
		atomic_store(&h->reopen_pending, false);
}

void health_forget_missing(struct health *h)
{
	if (h)
		atomic_store(&h->forget, true);
}

bool health_render_json(struct health *h, struct strbuf *out)
{
	bool healthy;

	pthread_mutex_lock(&h->lock);
	healthy = health_table_healthy(&h->t);
	health_table_json(&h->t, out);
	pthread_mutex_unlock(&h->lock);
	return healthy;
}

void health_metrics_write(struct health *h, struct strbuf *out)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	health_table_metrics(&h->t, out);
	pthread_mutex_unlock(&h->lock);
}
