/* zonesync/fol_state.c - what a follower remembers across restarts besides
 * the zones themselves.
 *
 * The serial lives in the snapshot (the zone record), so it can never
 * disagree with the data.  The rest - last success, last attempt, the serial
 * the primary last advertised, the source's $TIMESTAMP expiry - lives in a
 * small text file next to the snapshot, written atomically (tmp, fsync,
 * rename, fsync of the directory).  A file rather than a new LMDB database:
 * it is written on every refresh, also when nothing changed, and keeping it
 * out of the snapshot means a refresh never takes the snapshot's writer lock
 * for bookkeeping.  Losing it costs nothing but history: the next sync
 * rebuilds it (docs/follower.md, "State").
 *
 * Format, one line per zone:
 *   zone NAME last_success=UNIX last_attempt=UNIX primary_serial=N|- src_expires=UNIX
 *        stock=0|1
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/fol.h"

int fol_state_load(struct fol *f)
{
	const char *path = f->conf->state_file;
	FILE *fp = fopen(path, "r");
	char line[1024];
	int lineno = 0;

	if (!fp) {
		if (errno == ENOENT)
			return 0; /* first start */
		log_err("follower state %s: %s", path, strerror(errno));
		return GN_EIO;
	}
	while (fgets(line, sizeof(line), fp)) {
		char name[300], ps[32];
		long long ls, la, se;
		int stock = 0;
		struct fol_zone *z = NULL;
		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "zone %299s last_success=%lld last_attempt=%lld primary_serial=%31s "
			   "src_expires=%lld stock=%d", name, &ls, &la, ps, &se, &stock) < 5) {
			/* a damaged line loses that zone's history only */
			log_warn("follower state %s:%d: unreadable line ignored", path, lineno);
			continue;
		}
		for (size_t i = 0; i < f->n_zones && !z; i++)
			if (strcmp(f->zones[i].conf->name, name) == 0)
				z = &f->zones[i];
		if (!z)
			continue;
		z->last_success = ls;
		z->last_attempt = la;
		z->src_expires = se;
		z->stock = stock != 0;
		z->primary_serial_known = strcmp(ps, "-") != 0;
		z->primary_serial = z->primary_serial_known ? (uint32_t)strtoul(ps, NULL, 10) : 0;
	}
	fclose(fp);
	return 0;
}

static int fsync_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int fd, ret = 0;

	if (!slash)
		strcpy(dir, ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path ? slash - path : 1), path);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) < 0)
		return GN_EIO;
	if (fsync(fd) < 0)
		ret = GN_EIO;
	close(fd);
	return ret;
}

int fol_state_save(struct fol *f)
{
	const char *path = f->conf->state_file;
	char tmp[4096];
	FILE *fp;
	int ret = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(fp = fopen(tmp, "w"))) {
		log_err("follower state %s: %s", tmp, strerror(errno));
		return GN_EIO;
	}
	fprintf(fp, "# gridns-zonesync follower state; written atomically, safe to delete\n");
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n_zones; i++) {
		const struct fol_zone *z = &f->zones[i];
		char ps[16] = "-";
		if (z->primary_serial_known)
			snprintf(ps, sizeof(ps), "%" PRIu32, z->primary_serial);
		fprintf(fp, "zone %s last_success=%lld last_attempt=%lld primary_serial=%s "
			"src_expires=%lld stock=%d\n", z->conf->name, (long long)z->last_success,
			(long long)z->last_attempt, ps, (long long)z->src_expires, z->stock ? 1 : 0);
	}
	pthread_mutex_unlock(&f->lock);
	if (fflush(fp) != 0 || fsync(fileno(fp)) != 0)
		ret = GN_EIO;
	if (fclose(fp) != 0)
		ret = GN_EIO;
	if (ret == 0 && rename(tmp, path) != 0)
		ret = GN_EIO;
	if (ret == 0)
		ret = fsync_dir(path);
	if (ret < 0) {
		log_err("follower state %s: cannot write: %s", path, strerror(errno));
		unlink(tmp);
	}
	return ret;
}

int fol_state_from_snapshot(struct fol *f)
{
	snap_rd *rd = NULL;
	int ret;

	if ((ret = snap_rd_new(f->env, &rd)) < 0 || (ret = snap_rd_begin(rd)) < 0)
		goto out;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n_zones && ret >= 0; i++) {
		struct fol_zone *z = &f->zones[i];
		uint8_t key[DNAME_MAX];
		struct snap_zone sz;
		int kl = dname_wire_to_key(z->apex, key), r;
		if ((r = snap_rd_zone(rd, key, (size_t)kl, &sz)) < 0) {
			ret = r;
			break;
		}
		z->have_zone = r == 1;
		if (r == 1) {
			z->serial = sz.serial;
			z->soa_refresh = sz.refresh;
			z->soa_retry = sz.retry;
			z->soa_expire = sz.expire;
			z->expires_at = sz.ts_expires;
		}
	}
	pthread_mutex_unlock(&f->lock);
	snap_rd_end(rd);
out:
	snap_rd_free(rd);
	if (ret < 0)
		log_err("snapshot %s: cannot read the zones: %s", f->conf->snapshot, gn_strerror(ret));
	return ret;
}
