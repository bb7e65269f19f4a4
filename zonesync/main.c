/* zonesync/main.c - gridns-zonesync: the snapshot and data command line.
 * Thin: argument parsing and wiring; the work is in compile_*, snap_*, dump_*. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/compile.h"
#include "zonesync/dump.h"
#include "zonesync/snap.h"

#ifndef GRIDNS_VERSION
#define GRIDNS_VERSION "0.1.0"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gridns-zonesync COMMAND [options]\n"
		"\n"
		"  load --snapshot DIR [--strict] [--map-size BYTES] ZONE:TYPE:FILE[,FILE...] ...\n"
		"        compile rbldnsd datasets or master files (TYPE zone) and replace\n"
		"        those zones in the snapshot in one transaction\n"
		"  list --snapshot DIR        zones with type, serial, entries and age\n"
		"  dump --snapshot DIR ZONE   the zone as a master file (query-facing form)\n"
		"  drop --snapshot DIR ZONE   remove a zone\n"
		"\n"
		"TYPE: ip4set ip4tset ip4trie ip6tset ip6trie dnset generic combined zone\n"
		"Exit status: 0 ok, 1 error (nothing changed), 2 usage.\n");
}

struct cli {
	const char *snapshot;
	int strict;
	unsigned long long map_size;
};

static int open_snap(const struct cli *c, unsigned flags, snap_env **env)
{
	struct snap_opts o = { .map_size = c->map_size };
	if (!c->snapshot) {
		log_err("--snapshot DIR is required");
		return GN_EINVAL;
	}
	return snap_open(env, c->snapshot, flags, &o);
}

static int cmd_load(const struct cli *c, int argc, char **argv)
{
	struct compile_opts co = { .strict = c->strict != 0 };
	struct zimg **imgs = NULL;
	size_t n = 0;
	snap_env *env = NULL;
	int ret;

	if (argc < 1) {
		log_err("load: no ZONE:TYPE:FILE given");
		return GN_EINVAL;
	}
	/* Compile everything before touching the snapshot: a bad source
	 * changes nothing. */
	if ((ret = compile_specs((const char *const *)argv, (size_t)argc, &co, &imgs, &n)) < 0)
		goto out;
	if ((ret = open_snap(c, 0, &env)) < 0)
		goto out;
	if ((ret = snap_put_zones(env, imgs, n, (int64_t)time(NULL))) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		log_info("loaded %s: serial %u, %zu entries, %zu bad line(s) skipped",
			 imgs[i]->name, imgs[i]->soa.serial, zimg_count(imgs[i]),
			 imgs[i]->n_errors);
out:
	compile_free_all(imgs, n);
	snap_close(env);
	return ret;
}

struct list_arg {
	snap_rd *rd;
	int64_t now;
	int err;
};

static int list_one(void *arg, const struct snap_zone *z)
{
	struct list_arg *la = arg;
	struct snap_ds ds;
	char types[256] = "";
	uint64_t entries = 0;
	size_t o = 0;

	for (uint32_t i = 0; i < z->n_ds; i++) {
		if (snap_zone_ds(z, i, &ds) < 0) {
			la->err = GN_ECORRUPT;
			return 0;
		}
		entries += ds.n_entries;
		o += (size_t)snprintf(types + o, sizeof(types) - o, "%s%s", i ? "+" : "",
				      zimg_dstype_name(ds.type));
		if (o >= sizeof(types))
			o = sizeof(types) - 1;
	}
	printf("%-32.*s %-20s %10u %10llu %8llds\n", (int)z->name_len, z->name, types,
	       z->serial, (unsigned long long)entries, (long long)(la->now - z->loaded));
	return 0;
}

static int cmd_list(const struct cli *c)
{
	snap_env *env = NULL;
	struct list_arg la = { .now = (int64_t)time(NULL) };
	int ret;

	if ((ret = open_snap(c, SNAP_RDONLY, &env)) < 0 ||
	    (ret = snap_rd_new(env, &la.rd)) < 0 || (ret = snap_rd_begin(la.rd)) < 0)
		goto out;
	printf("%-32s %-20s %10s %10s %9s\n", "ZONE", "TYPE", "SERIAL", "ENTRIES", "AGE");
	ret = snap_rd_zones(la.rd, list_one, &la);
	if (ret == 0)
		ret = la.err;
out:
	snap_rd_free(la.rd);
	snap_close(env);
	return ret;
}

static int cmd_zone(const struct cli *c, const char *cmd, int argc, char **argv)
{
	snap_env *env = NULL;
	snap_rd *rd = NULL;
	int ret;

	if (argc != 1) {
		log_err("%s: exactly one ZONE expected", cmd);
		return GN_EINVAL;
	}
	if (strcmp(cmd, "drop") == 0) {
		if ((ret = open_snap(c, 0, &env)) == 0 &&
		    (ret = snap_drop_zone(env, argv[0])) == GN_ENOENT)
			log_err("drop: no zone %s in %s", argv[0], c->snapshot);
		goto out;
	}
	if ((ret = open_snap(c, SNAP_RDONLY, &env)) < 0 || (ret = snap_rd_new(env, &rd)) < 0 ||
	    (ret = snap_rd_begin(rd)) < 0)
		goto out;
	if ((ret = dump_zone(rd, argv[0], stdout)) == GN_ENOENT)
		log_err("dump: no zone %s in %s", argv[0], c->snapshot);
out:
	snap_rd_free(rd);
	snap_close(env);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "snapshot", required_argument, NULL, 's' },
		{ "strict", no_argument, NULL, 'S' },
		{ "map-size", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli c = { 0 };
	const char *cmd;
	int ch, ret;

	log_init("gridns-zonesync", LOG_LVL_INFO);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("gridns-zonesync %s\n", GRIDNS_VERSION);
		return 0;
	}
	optind = 2;
	while ((ch = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's': c.snapshot = optarg; break;
		case 'S': c.strict = 1; break;
		case 'm': c.map_size = strtoull(optarg, NULL, 0); break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("gridns-zonesync %s\n", GRIDNS_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (!strcmp(cmd, "load"))
		ret = cmd_load(&c, argc, argv);
	else if (!strcmp(cmd, "list"))
		ret = cmd_list(&c);
	else if (!strcmp(cmd, "dump") || !strcmp(cmd, "drop"))
		ret = cmd_zone(&c, cmd, argc, argv);
	else {
		fprintf(stderr, "gridns-zonesync: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	if (ret == GN_EINVAL && !c.snapshot)
		return 2;
	return ret < 0 ? 1 : 0;
}
