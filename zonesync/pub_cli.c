/* zonesync/pub_cli.c - `gridns-zonesync publisher -c FILE`: load the config,
 * open the database, run the publisher on the default libev loop until
 * SIGINT/SIGTERM. */
#include <ev.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/pub.h"

static void pub_cli_usage(FILE *f)
{
	fprintf(f,
		"usage: gridns-zonesync publisher -c FILE [--check-config] [--db DIR]\n"
		"  -c, --config FILE   publisher configuration (docs/publisher.md)\n"
		"      --check-config  report every problem in FILE as FILE:LINE and exit\n"
		"      --db DIR        serve this database instead of the file's db\n");
}

static void pub_cli_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_info("publisher: signal %d, stopping", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

int pub_cli(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'k' },
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *db = NULL;
	struct pub_conf c;
	struct strbuf errs;
	struct ev_loop *loop = NULL;
	snap_env *env = NULL;
	struct pub *p = NULL;
	ev_signal sint, sterm;
	bool check = false, writable = false;
	int ch, ret;

	strbuf_init(&errs);
	if ((ret = pub_conf_init(&c)) < 0)
		return 1;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'k': check = true; break;
		case 'd': db = optarg; break;
		case 'h': pub_cli_usage(stdout); ret = 0; goto out;
		default: pub_cli_usage(stderr); ret = 2; goto out;
		}
	}
	if (!path || optind != argc) {
		pub_cli_usage(stderr);
		ret = 2;
		goto out;
	}
	if (db) {
		free(c.db);
		c.db = strdup(db);
	}
	ret = pub_conf_load(&c, path, NULL, &errs);
	if (db && c.db && strcmp(c.db, db) != 0) {
		free(c.db);
		c.db = strdup(db);
	}
	if (errs.len)
		fputs(errs.p, stderr);
	if (ret < 0 || check) {
		if (check && ret == 0)
			printf("%s: ok (%zu zone(s), %zu key(s))\n", path, c.n_zones, c.keys.n);
		ret = ret < 0 ? 1 : 0;
		goto out;
	}
	log_init("gridns-zonesync", (enum log_level)c.log_level);
	for (size_t i = 0; i < c.n_zones; i++)
		writable = writable || c.zones[i].n_sources > 0;
	{
		struct snap_opts so = { .map_size = (uint64_t)c.map_size };
		/* Read-only unless we import watched sources ourselves. */
		if ((ret = snap_open(&env, c.db, writable ? 0 : SNAP_RDONLY, &so)) < 0) {
			log_err("publisher: cannot open the database %s: %s", c.db, gn_strerror(ret));
			ret = 1;
			goto out;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	loop = ev_default_loop(EVFLAG_AUTO);
	if ((ret = pub_new(loop, &c, env, &p)) < 0) {
		ret = 1;
		goto out;
	}
	ev_signal_init(&sint, pub_cli_stop, SIGINT);
	ev_signal_init(&sterm, pub_cli_stop, SIGTERM);
	ev_signal_start(loop, &sint);
	ev_signal_start(loop, &sterm);
	log_info("publisher: ready, database %s", c.db);
	ev_run(loop, 0);
	ev_signal_stop(loop, &sint);
	ev_signal_stop(loop, &sterm);
	ret = 0;
out:
	pub_free(p);
	snap_close(env);
	pub_conf_deinit(&c);
	strbuf_free(&errs);
	return ret;
}
