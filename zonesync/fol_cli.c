/* zonesync/fol_cli.c - `gridns-zonesync follower|relay -c FILE` and
 * `gridns-zonesync status --snapshot DIR`: argument parsing and wiring only. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/fol.h"

static void fol_usage(FILE *f)
{
	fprintf(f,
		"usage: gridns-zonesync follower -c FILE [--check-config]\n"
		"       gridns-zonesync relay -c FILE [--check-config]\n"
		"       gridns-zonesync status --snapshot DIR [--state FILE]\n"
		"See docs/follower.md.  Exit status: 0 ok, 1 error, 2 usage.\n");
}

bool fol_cli_handles(int argc, char **argv)
{
	if (!strcmp(argv[0], "follower") || !strcmp(argv[0], "relay"))
		return true;
	if (strcmp(argv[0], "status") != 0)
		return false;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--snapshot") || !strncmp(argv[i], "--snapshot=", 11))
			return true;
	return false;
}

static int run_daemon(const char *path, bool relay, bool check)
{
	struct fol_conf c;
	struct strbuf errs;
	struct fol *f = NULL;
	int ret;

	strbuf_init(&errs);
	ret = fol_conf_load(path, &c, &errs);
	if (ret == 0 && relay)
		ret = fol_relay_conf(&c, &errs);
	if (ret < 0 || errs.len) {
		fputs(errs.p ? errs.p : "", stderr);
		if (ret == 0)
			ret = GN_EINVAL;
		goto out;
	}
	if (check) {
		printf("%s: ok (%zu zone(s))\n", path, c.n_zones);
		goto out;
	}
	log_init(relay ? "gridns-relay" : "gridns-follower", (enum log_level)c.log_level);
	if ((ret = fol_new(&c, relay, &f)) < 0)
		goto out;
	ret = fol_run(f);
out:
	fol_free(f);
	fol_conf_deinit(&c);
	strbuf_free(&errs);
	return ret < 0 ? 1 : 0;
}

int fol_cli(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "snapshot", required_argument, NULL, 's' },
		{ "state", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *snapshot = NULL, *state = NULL;
	bool check = false;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'C': check = true; break;
		case 's': snapshot = optarg; break;
		case 'S': state = optarg; break;
		case 'h': fol_usage(stdout); return 0;
		default: fol_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fol_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[0], "status")) {
		int ret = fol_status_print(snapshot, state, stdout);
		if (ret < 0)
			log_err("status: %s: %s", snapshot, gn_strerror(ret));
		return ret < 0 ? 1 : 0;
	}
	if (!config) {
		fprintf(stderr, "gridns-zonesync %s: -c FILE is required\n", argv[0]);
		return 2;
	}
	return run_daemon(config, !strcmp(argv[0], "relay"), check);
}
