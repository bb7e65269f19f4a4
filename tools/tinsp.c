/* tools/tinsp.c - `gridns inspect`: what a node's snapshot holds and how
 * its LMDB environment is doing, read through zonesync's API (read-only,
 * never through the resolver).
 *
 *   gridns inspect --snapshot DIR [--reader-check] [--verify]
 *
 * Exit status: 0 all zones fresh (and verified), 1 a zone is expired or
 * fails verification, 2 the snapshot cannot be opened, 3 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/log.h"
#include "tools/tools.h"
#include "zonesync/snap.h"
#include "zonesync/zonemd.h"

struct tinsp {
	snap_rd *rd;
	int64_t now;
	int verify;
	int problems;
	unsigned zones;
};

static void tinsp_usage(FILE *f)
{
	fprintf(f, "usage: gridns inspect --snapshot DIR [--reader-check] [--verify]\n"
		   "  zones with type, serial, entries, age and expiry; LMDB map use, free\n"
		   "  pages and reader slots.\n"
		   "  --reader-check  clear reader slots left by killed processes first\n"
		   "  --verify        load every zone fully and print its SHA-384 digest\n"
		   "                  (RFC 8976 SIMPLE over the transfer form): equal digests\n"
		   "                  on publisher, relay and node mean equal data\n"
		   "exit: 0 ok, 1 a zone is expired or fails to verify, 2 cannot open, 3 usage\n");
}

static void tinsp_when(char *buf, size_t cap, int64_t now, int64_t t)
{
	if (!t)
		snprintf(buf, cap, "never");
	else if (t > now)
		snprintf(buf, cap, "in %llds", (long long)(t - now));
	else
		snprintf(buf, cap, "EXPIRED %llds ago", (long long)(now - t));
}

static int tinsp_zone(void *arg, const struct snap_zone *z)
{
	struct tinsp *t = arg;
	struct snap_ds ds;
	char types[128] = "", exp[64], name[300];
	uint64_t entries = 0;
	size_t o = 0;

	for (uint32_t i = 0; i < z->n_ds; i++) {
		if (snap_zone_ds(z, i, &ds) < 0) {
			printf("%.*s: dataset %u unreadable\n", (int)z->name_len, z->name, i);
			t->problems++;
			return 0;
		}
		entries += ds.n_entries;
		o += (size_t)snprintf(types + o, sizeof(types) - o, "%s%s", i ? "+" : "",
				      zimg_dstype_name(ds.type));
		if (o >= sizeof(types))
			o = sizeof(types) - 1;
	}
	tinsp_when(exp, sizeof(exp), t->now, z->ts_expires);
	if (z->ts_expires && z->ts_expires <= t->now)
		t->problems++;
	snprintf(name, sizeof(name), "%.*s", (int)z->name_len, z->name);
	printf("%-30s %-18s %10u %10llu %8llds  expires %s\n", name, types, z->serial,
	       (unsigned long long)entries, (long long)(t->now - z->loaded), exp);
	t->zones++;
	return 0;
}

/* A zone that loads whole and digests is readable end to end: every
 * range, name, value set and record decoded. */
static int tinsp_verify(void *arg, const struct snap_zone *z)
{
	struct tinsp *t = arg;
	uint8_t digest[ZONEMD_DIGEST_LEN];
	char name[300];
	struct zimg *img = NULL;
	int ret;

	snprintf(name, sizeof(name), "%.*s", (int)z->name_len, z->name);
	if ((ret = snap_load_zone(t->rd, name, &img)) < 0 ||
	    (ret = zonemd_digest_image(img, digest)) < 0) {
		printf("verify %-30s FAILED: %s\n", name, gn_strerror(ret));
		t->problems++;
	} else {
		printf("verify %-30s sha384 ", name);
		for (size_t i = 0; i < sizeof(digest); i++)
			printf("%02x", digest[i]);
		printf("\n");
	}
	zimg_free(img);
	return 0;
}

int tinsp_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "snapshot", required_argument, NULL, 's' },
		{ "reader-check", no_argument, NULL, 'r' },
		{ "verify", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tinsp t = { .now = (int64_t)time(NULL) };
	struct snap_env_stats st;
	const char *dir = NULL;
	snap_env *env = NULL;
	int ch, check = 0, ret = 2, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:rvh", opts, NULL)) != -1) {
		switch (ch) {
		case 's': dir = optarg; break;
		case 'r': check = 1; break;
		case 'v': t.verify = 1; break;
		case 'h': tinsp_usage(stdout); return 0;
		default: tinsp_usage(stderr); return 3;
		}
	}
	if (!dir || optind != argc) {
		tinsp_usage(stderr);
		return 3;
	}
	log_init("gridns inspect", LOG_LVL_WARN);
	/* Look, don't touch: stale reader slots are cleared only when asked. */
	if (snap_open(&env, dir, SNAP_RDONLY | SNAP_NO_READER_CHECK, NULL) < 0) {
		fprintf(stderr, "gridns inspect: cannot open the snapshot in %s\n", dir);
		goto out;
	}
	if (check) {
		if ((r = snap_reader_check(env)) < 0)
			goto out;
		printf("reader check: %d stale slot(s) cleared\n", r);
	}
	if (snap_env_stats(env, &st) < 0)
		goto out;
	printf("snapshot %s: map %.1f of %.1f MiB used (%.0f%%), %llu free pages (%.1f MiB "
	       "reusable), readers %u of %u slots, last write txn %llu\n",
	       dir, st.used_bytes / 1048576.0, st.map_size / 1048576.0,
	       st.map_size ? 100.0 * (double)st.used_bytes / (double)st.map_size : 0.0,
	       (unsigned long long)st.free_pages, st.free_pages * st.page_size / 1048576.0,
	       st.readers, st.max_readers, (unsigned long long)st.last_txnid);
	if (snap_rd_new(env, &t.rd) < 0 || snap_rd_begin(t.rd) < 0)
		goto out;
	printf("%-30s %-18s %10s %10s %9s\n", "ZONE", "TYPE", "SERIAL", "ENTRIES", "AGE");
	if (snap_rd_zones(t.rd, tinsp_zone, &t) < 0)
		goto out;
	if (t.verify && snap_rd_zones(t.rd, tinsp_verify, &t) < 0)
		goto out;
	if (t.zones == 0)
		printf("(no zones)\n");
	ret = t.problems ? 1 : 0;
out:
	snap_rd_free(t.rd);
	snap_close(env);
	return ret;
}
