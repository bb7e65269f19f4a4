/* zonesync/cdb_show.c - `status` and `journal`: the central database for a
 * person.  Read-only; one read transaction, so every line describes the
 * same version. */
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/cdb.h"

struct st_arg {
	snap_rd *rd;
	FILE *out;
	int64_t now;
	int err;
};

static int st_one(void *arg, const struct snap_zone *z)
{
	struct st_arg *a = arg;
	struct snap_journal_info ji;
	struct snap_ds ds;
	char name[DNAME_TEXT_MAX], oldest[16] = "-";
	uint64_t entries = 0;
	int r;

	snprintf(name, sizeof(name), "%.*s", (int)z->name_len, z->name);
	for (uint32_t i = 0; i < z->n_ds; i++) {
		if ((r = snap_zone_ds(z, i, &ds)) < 0) {
			a->err = r;
			return 0;
		}
		entries += ds.n_entries;
	}
	if ((r = snap_journal_info(a->rd, name, &ji)) < 0) {
		a->err = r;
		return 0;
	}
	if (ji.depth)
		snprintf(oldest, sizeof(oldest), "%u", ji.oldest_from);
	fprintf(a->out, "%-32s %10u %10llu %9llds %7u %12llu %10s\n", name, z->serial,
		(unsigned long long)entries, (long long)(a->now - z->loaded), ji.depth,
		(unsigned long long)ji.bytes, oldest);
	return 0;
}

int cdb_status(snap_env *env, FILE *out, int64_t now)
{
	struct st_arg a = { .out = out, .now = now ? now : (int64_t)time(NULL) };
	int ret;

	if ((ret = snap_rd_new(env, &a.rd)) < 0 || (ret = snap_rd_begin(a.rd)) < 0)
		goto out;
	fprintf(out, "%-32s %10s %10s %10s %7s %12s %10s\n", "ZONE", "SERIAL", "ENTRIES", "AGE",
		"JOURNAL", "BYTES", "OLDEST");
	ret = snap_rd_zones(a.rd, st_one, &a);
	if (ret == 0)
		ret = a.err;
out:
	snap_rd_free(a.rd);
	return ret;
}

struct jp_arg {
	FILE *out;
	bool verbose;
	uint32_t n;
};

static int jp_one(void *arg, const struct snap_chg *c)
{
	struct jp_arg *a = arg;
	time_t t = (time_t)c->time;
	struct tm tm;
	char when[32] = "?";

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* The counts leave out the two SOAs every changeset carries. */
	fprintf(a->out, "%u -> %u  %s  -%u +%u  %zu bytes\n", c->serial_from, c->serial_to, when,
		c->n_del ? c->n_del - 1 : 0, c->n_add ? c->n_add - 1 : 0, c->recs_len + 24);
	a->n++;
	if (a->verbose)
		return cdb_print_records(a->out, c->recs, c->recs_len, c->n_del);
	return 0;
}

int cdb_journal_print(snap_env *env, const char *zone, bool verbose, FILE *out)
{
	struct jp_arg a = { .out = out, .verbose = verbose };
	uint8_t key[DNAME_MAX];
	struct snap_zone z;
	snap_rd *rd = NULL;
	int kl = dname_text_to_key(zone, strlen(zone), key), ret;

	if (kl < 0) {
		log_err("journal: '%s' is not a valid zone name", zone);
		return GN_EINVAL;
	}
	if ((ret = snap_rd_new(env, &rd)) < 0 || (ret = snap_rd_begin(rd)) < 0)
		goto out;
	if ((ret = snap_rd_zone(rd, key, (size_t)kl, &z)) <= 0) {
		ret = ret == 0 ? GN_ENOENT : ret;
		goto out;
	}
	fprintf(out, "; zone %s, serial %u\n", zone, z.serial);
	if ((ret = snap_journal_walk(rd, zone, jp_one, &a)) < 0)
		goto out;
	if (!a.n)
		fprintf(out, "; no changesets (followers of older serials need an AXFR)\n");
out:
	snap_rd_free(rd);
	return ret;
}
