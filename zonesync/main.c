/* zonesync/main.c - gridns-zonesync: the snapshot and data command line.
 * Thin: argument parsing and wiring; the work is in compile_*, snap_*, dump_*. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/cdb.h"
#include "zonesync/compile.h"
#include "zonesync/dump.h"
#include "zonesync/pub.h"
#include "zonesync/fol.h"
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
		"central database (publisher side; see docs/distribution.md):\n"
		"  import --db DIR [--force] [--max-shrink F] [--strict] [--watch SECONDS]\n"
		"         [--journal-max-depth N] [--journal-max-bytes N] ZONE:TYPE:FILE[,FILE...] ...\n"
		"        compile, diff against the stored zones, and write the changed zones\n"
		"        with new serials and journaled changesets in one transaction;\n"
		"        refuses a shrink beyond F (default 0.5), lost RFC 5782 test entries\n"
		"        and dataset type changes unless --force; with --watch SECONDS it\n"
		"        keeps running and re-imports a zone when its files change\n"
		"  diff --db DIR ZONE:TYPE:FILE...   print what import would change\n"
		"  status --db DIR            zones with serial, entries, age and journal\n"
		"  journal --db DIR [-v] ZONE the zone's changesets (-v: with records)\n"
		"  publisher -c FILE [--check-config] [--db DIR]   serve the database over\n"
		"        AXFR/IXFR/SOA with TSIG, NOTIFY downstreams (docs/publisher.md)\n"
		"\n"
		"node side (see docs/follower.md):\n"
		"  follower -c FILE [--check-config]   keep the node snapshot in step with\n"
		"        the primaries (AXFR/IXFR, TSIG, NOTIFY), zones expire past SOA expire\n"
		"  relay -c FILE [--check-config]      a follower that also publishes\n"
		"  status --snapshot DIR [--state FILE]  per-zone serial, primary serial,\n"
		"        last sync and expiry of a follower's snapshot\n"
		"\n"
		"TYPE: ip4set ip4tset ip4trie ip6tset ip6trie dnset generic combined zone\n"
		"Exit status: 0 ok (import: written or unchanged), 1 error or import refused\n"
		"(nothing changed), 2 usage.\n");
}

struct cli {
	const char *snapshot;
	int strict;
	unsigned long long map_size;
	const char *db;         /* central database commands */
	int force, verbose;
	double max_shrink;
	unsigned long long jdepth, jbytes;
	unsigned watch;         /* import --watch SECONDS; 0 = import once */
};

static volatile sig_atomic_t stop_watch;

static void on_stop(int sig)
{
	(void)sig;
	stop_watch = 1;
}

/* SIGTERM/SIGINT end a watch after the current import, never inside one:
 * an interrupted LMDB write would be rolled back anyway, but a clean stop
 * logs what it did. */
static int watch(snap_env *env, const struct cli *c, const struct cdb_opts *o, int argc,
		 char **argv)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0) {
		log_err("import --watch: cannot install signal handlers");
		return GN_EIO;
	}
	return cdb_watch(env, (const char *const *)argv, (size_t)argc, o, c->watch, &stop_watch);
}

static int open_db(const struct cli *c, unsigned flags, snap_env **env)
{
	struct snap_opts o = { .map_size = c->map_size };
	if (!c->db) {
		log_err("--db DIR is required");
		return GN_EINVAL;
	}
	return snap_open(env, c->db, flags, &o);
}

/* import and diff differ only in writing. */
static int cmd_import(const struct cli *c, int dry_run, int argc, char **argv)
{
	struct cdb_opts o = {
		.force = c->force != 0, .strict = c->strict != 0, .max_shrink = c->max_shrink,
		.lim = { .max_depth = (uint32_t)c->jdepth, .max_bytes = c->jbytes },
		.dry_run = dry_run != 0, .out = stdout,
	};
	snap_env *env = NULL;
	int ret;

	if (argc < 1) {
		log_err("%s: no ZONE:TYPE:FILE given", dry_run ? "diff" : "import");
		return GN_EINVAL;
	}
	/* diff writes nothing, not even a new database: before the first
	 * import every zone is simply new. */
	if (dry_run && c->db) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/data.mdb", c->db);
		if (access(path, F_OK) == 0 && (ret = open_db(c, SNAP_RDONLY, &env)) < 0)
			goto out;
	} else if ((ret = open_db(c, 0, &env)) < 0) {
		goto out;
	}
	if (c->watch && !dry_run)
		ret = watch(env, c, &o, argc, argv);
	else
		ret = cdb_import(env, (const char *const *)argv, (size_t)argc, &o);
out:
	snap_close(env);
	return ret;
}

static int cmd_db_show(const struct cli *c, const char *cmd, int argc, char **argv)
{
	snap_env *env = NULL;
	int ret;

	if (strcmp(cmd, "journal") == 0 && argc != 1) {
		log_err("journal: exactly one ZONE expected");
		return GN_EINVAL;
	}
	if ((ret = open_db(c, SNAP_RDONLY, &env)) < 0)
		goto out;
	if (strcmp(cmd, "status") == 0)
		ret = cdb_status(env, stdout, 0);
	else if ((ret = cdb_journal_print(env, argv[0], c->verbose != 0, stdout)) == GN_ENOENT)
		log_err("journal: no zone %s in %s", argv[0], c->db);
out:
	snap_close(env);
	return ret;
}

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
		{ "db", required_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ "max-shrink", required_argument, NULL, 'x' },
		{ "journal-max-depth", required_argument, NULL, 'D' },
		{ "journal-max-bytes", required_argument, NULL, 'B' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "watch", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli c = { .max_shrink = -1 };
	char *end;
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
	/* follower, relay and `status --snapshot` parse their own options */
	if (fol_cli_handles(argc - 1, argv + 1))
		return fol_cli(argc - 1, argv + 1);
	if (!strcmp(cmd, "publisher"))
		return pub_cli(argc - 1, argv + 1);
	optind = 2;
	while ((ch = getopt_long(argc, argv, "s:hv", opts, NULL)) != -1) {
		switch (ch) {
		case 's': c.snapshot = optarg; break;
		case 'S': c.strict = 1; break;
		case 'm': c.map_size = strtoull(optarg, NULL, 0); break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("gridns-zonesync %s\n", GRIDNS_VERSION); return 0;
		case 'd': c.db = optarg; break;
		case 'f': c.force = 1; break;
		case 'v': c.verbose = 1; break;
		case 'x':
			c.max_shrink = strtod(optarg, &end);
			if (*end || !(c.max_shrink >= 0 && c.max_shrink <= 1)) {
				fprintf(stderr, "gridns-zonesync: --max-shrink wants a fraction "
					"from 0 to 1, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'w': {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v == 0 || v > 86400) {
				fprintf(stderr, "gridns-zonesync: --watch wants seconds from 1 to "
					"86400, not '%s'\n", optarg);
				return 2;
			}
			c.watch = (unsigned)v;
			break;
		}
		case 'D':
		case 'B': {
			unsigned long long v = strtoull(optarg, &end, 10);
			if (*end || v == 0) {
				fprintf(stderr, "gridns-zonesync: --journal-max-%s wants a positive "
					"number, not '%s'\n", ch == 'D' ? "depth" : "bytes", optarg);
				return 2;
			}
			*(ch == 'D' ? &c.jdepth : &c.jbytes) = v;
			break;
		}
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
	else if (!strcmp(cmd, "import") || !strcmp(cmd, "diff"))
		ret = cmd_import(&c, !strcmp(cmd, "diff"), argc, argv);
	else if (!strcmp(cmd, "status") || !strcmp(cmd, "journal"))
		ret = cmd_db_show(&c, cmd, argc, argv);
	else {
		fprintf(stderr, "gridns-zonesync: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	if (ret == GN_EINVAL && !c.snapshot && !c.db)
		return 2;
	return ret < 0 ? 1 : 0;
}
