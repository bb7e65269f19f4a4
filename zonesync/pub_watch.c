/* zonesync/pub_watch.c - watched sources: a zone with `sources` is
 * re-imported into the central database when one of its files changes
 * (feeds arrive by rsync, users.md section 4).
 *
 * The loop thread stats the files every watch-ms; a change is imported once
 * the files have held still for one more poll (a file being rewritten is
 * never compiled half-way).  The import itself (compile, diff, one write
 * transaction: cdb_import) runs as a job on a transfer worker, so a big
 * compile never stalls SOA answers or NOTIFY; the serial poll then sees the
 * new serial and NOTIFY goes out.  At start every watched zone is imported
 * once (an unchanged source writes nothing).  One import at a time. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/cdb.h"
#include "zonesync/pub_int.h"

struct pub_wfile {
	char *path;
	struct stat st;
};

struct pub_wzone {
	struct pub_zone *z;
	struct pub_wfile *f;
	size_t n_f;
	bool changed;            /* files moved since the last import */
	bool settled;            /* ... and held still for one poll */
	bool queued;             /* an import job is waiting or running */
};

static void pw_stat(const char *path, struct stat *st)
{
	if (stat(path, st) < 0) {
		memset(st, 0, sizeof(*st));
		st->st_size = -1;
	}
}

static bool pw_same(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The files of "ZONE:TYPE:FILE[,FILE...]" specs. */
static int pw_files(struct pub_wzone *w)
{
	const struct pub_zone_conf *zc = w->z->zc;

	for (size_t i = 0; i < zc->n_sources; i++) {
		const char *s = strchr(zc->sources[i], ':');
		s = s ? strchr(s + 1, ':') : NULL;
		while (s && *s) {
			const char *e;
			struct pub_wfile *nf;
			s++;
			e = strchr(s, ',');
			if (!e)
				e = s + strlen(s);
			if (e > s) {
				if (!(nf = realloc(w->f, (w->n_f + 1) * sizeof(*nf))))
					return GN_ENOMEM;
				w->f = nf;
				if (!(nf[w->n_f].path = strndup(s, (size_t)(e - s))))
					return GN_ENOMEM;
				pw_stat(nf[w->n_f].path, &nf[w->n_f].st);
				w->n_f++;
			}
			s = e;
		}
	}
	return 0;
}

static void pw_queue(struct pub *p, struct pub_wzone *w)
{
	struct pub_job *j = calloc(1, sizeof(*j));

	if (!j)
		return;
	j->kind = PUB_J_IMPORT;
	j->z = w->z;
	j->fd = -1;
	if (pub_queue_push(p, j) < 0) {
		free(j);
		return;
	}
	w->queued = true;
	w->changed = w->settled = false;
}

static void pw_poll_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct pub *p = t->data;

	for (size_t i = 0; i < p->n_wz; i++) {
		struct pub_wzone *w = &p->wz[i];
		bool moved = false;

		/* An import job clears import_busy when done (worker thread). */
		if (w->queued && !atomic_load(&p->import_busy))
			w->queued = false;
		for (size_t k = 0; k < w->n_f; k++) {
			struct stat st;
			pw_stat(w->f[k].path, &st);
			if (!pw_same(&st, &w->f[k].st)) {
				moved = true;
				w->f[k].st = st;
			}
		}
		if (moved) {
			w->changed = true;
			w->settled = false;
			continue;
		}
		if (w->changed)
			w->settled = true;
		if (w->settled && !w->queued && !atomic_exchange(&p->import_busy, true))
			pw_queue(p, w);
	}
}

void pub_watch_import(struct pub *p, struct pub_zone *z)
{
	const struct pub_zone_conf *zc = z->zc;
	struct cdb_opts o = { .force = p->conf->import_force != 0, .max_shrink = -1 };
	double t0 = pub_now();
	int r;

	log_info("publisher: zone %s: sources changed, importing", zc->name);
	r = cdb_import(p->env, (const char *const *)zc->sources, zc->n_sources, &o);
	if (r == 0) {
		atomic_fetch_add(&z->imports_ok, 1);
		log_info("publisher: zone %s: import done in %.3f s", zc->name, pub_now() - t0);
		pub_zone_changed(p, zc->name);
	} else {
		atomic_fetch_add(&z->imports_failed, 1);
		log_err("publisher: zone %s: import %s: %s; the old zone keeps being served", zc->name,
			r == GN_ELIMIT ? "refused by the safety rules (see above; watch.force)"
				       : "failed", gn_strerror(r));
	}
	atomic_store(&p->import_busy, false);
}

int pub_watch_init(struct pub *p)
{
	int r;

	for (size_t i = 0; i < p->n_zones; i++)
		if (p->zones[i].zc->n_sources)
			p->n_wz++;
	if (!p->n_wz)
		return 0;
	if (!(p->wz = calloc(p->n_wz, sizeof(*p->wz))))
		return GN_ENOMEM;
	for (size_t i = 0, k = 0; i < p->n_zones; i++) {
		if (!p->zones[i].zc->n_sources)
			continue;
		p->wz[k].z = &p->zones[i];
		if ((r = pw_files(&p->wz[k])) < 0)
			return r;
		/* Import once at start: the database then matches the files. */
		p->wz[k].changed = p->wz[k].settled = true;
		k++;
	}
	ev_init(&p->watch, pw_poll_cb);
	p->watch.repeat = (double)p->conf->watch_ms / 1000.0;
	p->watch.data = p;
	ev_timer_again(p->loop, &p->watch);
	pw_poll_cb(p->loop, &p->watch, 0);
	return 0;
}

void pub_watch_fini(struct pub *p)
{
	if (ev_is_active(&p->watch))
		ev_timer_stop(p->loop, &p->watch);
	for (size_t i = 0; p->wz && i < p->n_wz; i++) {
		for (size_t k = 0; k < p->wz[i].n_f; k++)
			free(p->wz[i].f[k].path);
		free(p->wz[i].f);
	}
	free(p->wz);
	p->wz = NULL;
	p->n_wz = 0;
}
