/* zonesync/snap_env.c - opening and closing the snapshot environment. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include "common/err.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "zonesync/snap_int.h"

static const char *const snap_db_names[DB_ALL] = {
	SNAP_DB_META, SNAP_DB_ZONES, SNAP_DB_IP4, SNAP_DB_IP6,
	SNAP_DB_DOM, SNAP_DB_RR, SNAP_DB_VALS, SNAP_DB_JOURNAL, SNAP_DB_IPX,
};

int snap_err(const snap_env *env, int rc, const char *what)
{
	const char *dir = env && env->dir ? env->dir : "?";
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_MAP_FULL:
		log_err("snapshot %s: %s: map full; raise the map size", dir, what);
		return GN_EMAPFULL;
	case MDB_READERS_FULL:
		log_err("snapshot %s: %s: reader table full", dir, what);
		return GN_EREADERS;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
		log_err("snapshot %s: %s: %s; delete the snapshot and reload it", dir, what,
			mdb_strerror(rc));
		return GN_ECORRUPT;
	case MDB_VERSION_MISMATCH:
		log_err("snapshot %s: %s: %s", dir, what, mdb_strerror(rc));
		return GN_EFORMAT;
	case MDB_NOTFOUND:
		return GN_ENOENT;
	case ENOMEM:
		return GN_ENOMEM;
	}
	log_err("snapshot %s: %s: %s", dir, what, mdb_strerror(rc));
	return rc > 0 ? -rc : GN_EIO;
}

/* Check (or, for a writer on an empty environment, stamp) the format. */
/* LMDB's default key order (mdb_cmp_memn: octets compared unsigned, then
 * the shorter key first), computed eight octets at a time.  The default
 * calls memcmp through a wrapper, ~45 instructions per comparison and ~24
 * comparisons per query (a third of the query path).  The ORDER is exactly
 * the default's, so files written by any program with the default
 * comparison read the same here and the other way round; LMDB requires
 * only that every user of a database sorts it the same way. */
static int snap_key_cmp(const MDB_val *a, const MDB_val *b)
{
	const uint8_t *x = a->mv_data, *y = b->mv_data;
	size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size, i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t u = snap_rd64(x + i), v = snap_rd64(y + i);
		if (u != v)
			return u < v ? -1 : 1;
	}
	for (; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

static int snap_check_format(snap_env *e, MDB_txn *txn, int writable)
{
	MDB_val k = { 6, (void *)"format" }, v;
	uint8_t buf[2];
	int rc = mdb_get(txn, e->dbi[DB_META], &k, &v);

	if (rc == MDB_NOTFOUND && writable) {
		snap_be16(buf, SNAP_FORMAT);
		v.mv_size = 2;
		v.mv_data = buf;
		return snap_err(e, mdb_put(txn, e->dbi[DB_META], &k, &v, 0), "write format");
	}
	if (rc != MDB_SUCCESS)
		return snap_err(e, rc, "read format");
	if (v.mv_size != 2 || snap_rd16(v.mv_data) != SNAP_FORMAT) {
		log_err("snapshot %s: format %u, this build reads format %d; "
			"reload the snapshot with this version's gridns-zonesync",
			e->dir, v.mv_size == 2 ? snap_rd16(v.mv_data) : 0, SNAP_FORMAT);
		return GN_EFORMAT;
	}
	return 0;
}

int snap_open(snap_env **out, const char *dir, unsigned flags, const struct snap_opts *o)
{
	snap_env *e = calloc(1, sizeof(*e));
	MDB_txn *txn = NULL;
	int ret = GN_ENOMEM, rc, dead = 0, writable = !(flags & SNAP_RDONLY);
	unsigned envflags = MDB_NOTLS | (writable ? 0 : MDB_RDONLY);
	uint64_t map = o && o->map_size ? o->map_size : SNAP_DEFAULT_MAP_SIZE;
	unsigned readers = o && o->max_readers ? o->max_readers : SNAP_DEFAULT_READERS;

	*out = NULL;
	if (!e || !(e->dir = strdup(dir)))
		goto out;
	e->flags = flags;
	if (writable && mkdir(dir, 0755) < 0 && errno != EEXIST) {
		ret = -errno;
		log_err("snapshot %s: cannot create directory: %s", dir, strerror(errno));
		goto out;
	}
	if ((rc = mdb_env_create(&e->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(e->env, SNAP_MAXDBS)) != 0 ||
	    (rc = mdb_env_set_maxreaders(e->env, readers)) != 0 ||
	    (rc = mdb_env_set_mapsize(e->env, map)) != 0) {
		ret = snap_err(e, rc, "create environment");
		goto out;
	}
	if ((rc = mdb_env_open(e->env, dir, envflags, 0644)) != 0) {
		if (rc == ENOENT)
			log_err("snapshot %s: no snapshot there yet (load one with "
				"gridns-zonesync load)", dir);
		ret = rc == ENOENT ? GN_ENOENT : snap_err(e, rc, "open");
		goto out;
	}
	/* A data file shorter than its own last page (truncated by a copy,
	 * a full disk under another program, an operator) would be read
	 * past its end through the map: SIGBUS in every reader.  Refuse it. */
	{
		MDB_envinfo ei;
		MDB_stat st;
		struct stat fs;
		char *path = NULL;
		if (mdb_env_info(e->env, &ei) == 0 && mdb_env_stat(e->env, &st) == 0 &&
		    asprintf(&path, "%s/data.mdb", dir) > 0 && stat(path, &fs) == 0 &&
		    (uint64_t)fs.st_size < ((uint64_t)ei.me_last_pgno + 1) * st.ms_psize) {
			log_err("snapshot %s: data.mdb is %lld octets but its last page ends at "
				"%llu: truncated; delete the snapshot and reload it", dir,
				(long long)fs.st_size,
				(unsigned long long)(ei.me_last_pgno + 1) * st.ms_psize);
			free(path);
			ret = GN_ECORRUPT;
			goto out;
		}
		free(path);
	}
	/* Reader slots of killed processes would otherwise pile up until
	 * MDB_READERS_FULL. */
	if (!(flags & SNAP_NO_READER_CHECK))
		mdb_reader_check(e->env, &dead);
	if (dead)
		log_warn("snapshot %s: cleared %d stale reader slot(s)", dir, dead);

	if ((rc = mdb_txn_begin(e->env, NULL, writable ? 0 : MDB_RDONLY, &txn)) != 0) {
		ret = snap_err(e, rc, "begin");
		goto out;
	}
	for (int i = 0; i < DB_ALL; i++) {
		rc = mdb_dbi_open(txn, snap_db_names[i], writable ? MDB_CREATE : 0, &e->dbi[i]);
		if (rc == MDB_NOTFOUND && (i == DB_JOURNAL || i == DB_IPX))
			continue; /* read-only, written before these existed */
		if (rc == MDB_NOTFOUND) {
			log_err("snapshot %s: empty (no zones loaded yet)", dir);
			ret = GN_ENOENT;
			goto out;
		}
		if (rc != 0) {
			ret = snap_err(e, rc, "open database");
			goto out;
		}
		if (i == DB_JOURNAL)
			e->has_journal = 1;
		if (i == DB_IPX)
			e->has_ipx = 1;
		/* Before any data access, as LMDB asks; it stays set for the
		 * environment's life (open databases are never reopened). */
		if ((rc = mdb_set_compare(txn, e->dbi[i], snap_key_cmp)) != 0) {
			ret = snap_err(e, rc, "set key order");
			goto out;
		}
	}
	if ((ret = snap_check_format(e, txn, writable)) < 0)
		goto out;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		ret = snap_err(e, rc, "commit");
		goto out;
	}
	*out = e;
	e = NULL;
	ret = 0;
out:
	if (txn)
		mdb_txn_abort(txn);
	snap_close(e);
	return ret;
}

void snap_close(snap_env *e)
{
	if (!e)
		return;
	if (e->env)
		mdb_env_close(e->env);
	free(e->dir);
	free(e);
}

int snap_reader_check(snap_env *e)
{
	int dead = 0, rc = mdb_reader_check(e->env, &dead);
	return rc ? snap_err(e, rc, "reader check") : dead;
}

/* The free list is LMDB's database 0: each record is an array of page
 * numbers whose first element is its length. */
static int snap_free_pages(snap_env *e, MDB_txn *txn, uint64_t *pages)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, 0, &c);

	*pages = 0;
	if (rc)
		return rc;
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0)
		if (v.mv_size >= sizeof(size_t))
			*pages += *(const size_t *)v.mv_data;
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int snap_env_stats(snap_env *e, struct snap_env_stats *out)
{
	MDB_envinfo info;
	MDB_stat st;
	MDB_txn *txn = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mdb_env_info(e->env, &info)) != 0 || (rc = mdb_env_stat(e->env, &st)) != 0)
		return snap_err(e, rc, "environment info");
	out->map_size = info.me_mapsize;
	out->page_size = st.ms_psize;
	out->used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	out->max_readers = info.me_maxreaders;
	out->readers = info.me_numreaders;
	out->last_txnid = info.me_last_txnid;
	if ((rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn)) != 0)
		return snap_err(e, rc, "begin read");
	rc = snap_free_pages(e, txn, &out->free_pages);
	mdb_txn_abort(txn);
	return rc ? snap_err(e, rc, "free list") : 0;
}

/* ---- monitoring (docs/monitoring/metrics.md, "Snapshot") ---------------- */

/* mdb_reader_list is LMDB's only public view of the reader table: it
 * formats one line per slot a process owns ("PID THREAD TXNID"), after a
 * header line, or says there is none.  Only the slot lines start with a
 * number. */
static int count_reader_line(const char *msg, void *ctx)
{
	int pid;

	if (sscanf(msg, "%d", &pid) == 1 && pid > 0)
		(*(unsigned *)ctx)++;
	return 0;
}

int snap_env_health(snap_env *e, struct snap_env_health *out)
{
	MDB_envinfo info;
	MDB_stat st;
	MDB_txn *txn = NULL;
	struct stat fst;
	struct statvfs vfs;
	mdb_filehandle_t fd;
	int rc, ret = 0;

	memset(out, 0, sizeof(*out));
	if ((rc = mdb_env_info(e->env, &info)) != 0 || (rc = mdb_env_stat(e->env, &st)) != 0 ||
	    (rc = mdb_env_get_fd(e->env, &fd)) != 0) {
		ret = snap_err(e, rc, "environment info");
		goto out;
	}
	/* The open descriptor, not the path: a chrooted resolver reopened the
	 * snapshot by another name, and the file is what fills the disk. */
	if (fstat(fd, &fst) < 0 || fstatvfs(fd, &vfs) < 0) {
		int err = errno;
		log_err("snapshot %s: data.mdb: %s", e->dir, strerror(err));
		ret = -err;
		goto out;
	}
	if ((rc = mdb_reader_list(e->env, count_reader_line, &out->readers_in_use)) < 0) {
		ret = snap_err(e, rc, "reader list");
		goto out;
	}
	out->map_size = info.me_mapsize;
	out->page_size = st.ms_psize;
	out->used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	out->max_readers = info.me_maxreaders;
	out->file_bytes = (uint64_t)fst.st_size;
	out->fs_free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	/* The free list needs a read transaction, so it is the one figure a
	 * full reader table hides; the others still tell the operator why. */
	if ((rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn)) != 0) {
		(void)snap_err(e, rc, "begin read (free list)");
		goto out;
	}
	if ((rc = snap_free_pages(e, txn, &out->free_pages)) != 0)
		(void)snap_err(e, rc, "free list");
	else
		out->free_known = true;
out:
	if (txn)
		mdb_txn_abort(txn);
	if (ret < 0)
		memset(out, 0, sizeof(*out));
	return ret;
}

static void gauge(struct strbuf *o, const char *name, const char *help, bool have, uint64_t v)
{
	strbuf_printf(o, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	if (have)
		strbuf_printf(o, "%s %" PRIu64 "\n", name, v);
}

void snap_env_metrics_write(snap_env *e, struct strbuf *o)
{
	struct snap_env_health h = { 0 };
	bool ok = e && snap_env_health(e, &h) == 0;

	gauge(o, "gridns_snapshot_map_size_bytes",
	      "LMDB map size of the snapshot in this process: the most data.mdb may grow to.",
	      ok, h.map_size);
	gauge(o, "gridns_snapshot_used_bytes",
	      "Snapshot pages up to the high-water mark; a write past the map size fails.",
	      ok, h.used_bytes);
	gauge(o, "gridns_snapshot_freelist_bytes",
	      "Pages on the snapshot's free list, inside the used part, reusable by the writer.",
	      ok && h.free_known, h.free_pages * h.page_size);
	gauge(o, "gridns_snapshot_file_bytes", "Size of the snapshot's data.mdb on disk.", ok,
	      h.file_bytes);
	gauge(o, "gridns_snapshot_filesystem_free_bytes",
	      "Free space (for an unprivileged writer) on the filesystem holding the snapshot.",
	      ok, h.fs_free_bytes);
	gauge(o, "gridns_snapshot_reader_slots_in_use",
	      "LMDB reader table slots owned by a process (live, or left by one that died).", ok,
	      h.readers_in_use);
	gauge(o, "gridns_snapshot_reader_slots_max", "LMDB reader table size of the snapshot.",
	      ok, h.max_readers);
}
