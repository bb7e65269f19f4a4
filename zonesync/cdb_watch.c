/* zonesync/cdb_watch.c - `import --watch`: re-import a zone when its source
 * files change (issue 3, "watched sources": feeds arrive by rsync).
 *
 * Polling, not inotify: it works on every file system (NFS included), it
 * sees rsync's temp-file-and-rename and in-place rewrites alike, and rbldnsd
 * operators already know its cost (rbldnsd checks mtimes every minute).  A
 * changed file is imported only once it has stopped changing for one more
 * poll, so a half-written file is never compiled.  Each zone is imported on
 * its own, so a big zone that did not change is not diffed again, and a zone
 * whose import fails or is refused is retried only when its files change
 * again (the refusal is logged once, not every poll).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/cdb.h"

struct w_file {
	char *path;
	struct stat st;  /* last seen; st_ino == 0 and st_size == -1: missing */
};

struct w_zone {
	char *name;
	const char **specs;
	size_t n_specs;
	struct w_file *files;
	size_t n_files;
	bool dirty;      /* changed since the last import attempt */
};

static bool w_same(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void w_stat(const char *path, struct stat *st)
{
	if (stat(path, st) < 0) {
		memset(st, 0, sizeof(*st));
		st->st_size = -1;
	}
}

/* Did any file of z change since last seen?  Updates what was seen. */
static bool w_changed(struct w_zone *z)
{
	bool changed = false;
	for (size_t i = 0; i < z->n_files; i++) {
		struct stat st;
		w_stat(z->files[i].path, &st);
		if (!w_same(&st, &z->files[i].st)) {
			changed = true;
			z->files[i].st = st;
		}
	}
	return changed;
}

static int w_add_file(struct w_zone *z, const char *p, size_t n)
{
	struct w_file *nf = realloc(z->files, (z->n_files + 1) * sizeof(*nf));
	if (!nf)
		return GN_ENOMEM;
	z->files = nf;
	if (!(nf[z->n_files].path = strndup(p, n)))
		return GN_ENOMEM;
	w_stat(nf[z->n_files].path, &nf[z->n_files].st);
	z->n_files++;
	return 0;
}

/* Group the specs by zone (case-insensitively, as zones are keyed). */
static int w_build(const char *const *specs, size_t n, struct w_zone **out, size_t *nz)
{
	struct w_zone *zs = calloc(n ? n : 1, sizeof(*zs));
	size_t k = 0;

	*out = zs;
	*nz = 0;
	if (!zs)
		return GN_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *c1 = strchr(specs[i], ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		struct w_zone *z = NULL;
		const char **ns;
		if (!c2) {
			log_err("'%s' is not ZONE:TYPE:FILE[,FILE...]", specs[i]);
			return GN_EINVAL;
		}
		for (size_t j = 0; j < k && !z; j++)
			if (strlen(zs[j].name) == (size_t)(c1 - specs[i]) &&
			    strncasecmp(zs[j].name, specs[i], (size_t)(c1 - specs[i])) == 0)
				z = &zs[j];
		if (!z) {
			z = &zs[k++];
			*nz = k;
			if (!(z->name = strndup(specs[i], (size_t)(c1 - specs[i]))))
				return GN_ENOMEM;
		}
		if (!(ns = realloc(z->specs, (z->n_specs + 1) * sizeof(*ns))))
			return GN_ENOMEM;
		z->specs = ns;
		z->specs[z->n_specs++] = specs[i];
		for (const char *p = c2 + 1; *p;) {
			size_t len = strcspn(p, ",");
			int r;
			if (len && (r = w_add_file(z, p, len)) < 0)
				return r;
			p += len + (p[len] == ',');
		}
	}
	return 0;
}

static void w_free(struct w_zone *zs, size_t nz)
{
	for (size_t i = 0; zs && i < nz; i++) {
		for (size_t j = 0; j < zs[i].n_files; j++)
			free(zs[i].files[j].path);
		free(zs[i].files);
		free(zs[i].specs);
		free(zs[i].name);
	}
	free(zs);
}

static void w_import(snap_env *env, struct w_zone *z, const struct cdb_opts *o)
{
	int r = cdb_import(env, z->specs, z->n_specs, o);
	if (r < 0)
		log_err("zone %s: import failed (%s); kept as it was, retried when its files "
			"change", z->name, gn_strerror(r));
}

int cdb_watch(snap_env *env, const char *const *specs, size_t n, const struct cdb_opts *o,
	      unsigned interval, volatile sig_atomic_t *stop)
{
	struct w_zone *zs = NULL;
	size_t nz = 0;
	int ret;

	if ((ret = w_build(specs, n, &zs, &nz)) < 0)
		goto out;
	log_info("watching %zu zone(s), checking their files every %us", nz, interval);
	for (size_t i = 0; i < nz; i++)
		w_import(env, &zs[i], o);
	while (!*stop) {
		struct timespec ts = { .tv_sec = interval ? interval : 1 };
		/* A signal ends the sleep early; *stop then ends the loop. */
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !*stop)
			;
		for (size_t i = 0; i < nz && !*stop; i++) {
			struct w_zone *z = &zs[i];
			if (w_changed(z)) {
				z->dirty = true; /* still changing: wait one more poll */
				continue;
			}
			if (z->dirty) {
				z->dirty = false;
				log_info("zone %s: source files changed, importing", z->name);
				w_import(env, z, o);
			}
		}
	}
	log_info("stopped watching");
	ret = 0;
out:
	w_free(zs, nz);
	return ret;
}
