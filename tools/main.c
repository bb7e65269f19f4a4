/* tools/main.c - `gridns`: the operator tools, one subcommand each.
 *
 * Thin on purpose: it only picks the command; each lives in its own file
 * (tq.c, tchk.c, tbl.c, tlat.c, tinsp.c) in libtools.a so the unit tests link the
 * same code.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "tools/tools.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *what;
} cmds[] = {
	{ "query", tq_main, "is an IP or domain listed on these DNSBL zones?" },
	{ "check", tchk_main, "Nagios/Icinga plugin: RFC 5782 canaries against a resolver" },
	{ "blcheck", tbl_main, "check our own IPs, ranges or domains against many DNSBLs" },
	{ "latency", tlat_main, "scrape /metrics of many resolvers: tier latency, skips, cache, zone ages" },
	{ "inspect", tinsp_main, "a snapshot's zones, freshness and LMDB health (read-only)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: gridns COMMAND [options] (gridns COMMAND --help for more)\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].what);
	fprintf(f, "See docs/tools.md.\n");
}

int main(int argc, char **argv)
{
	log_init("gridns", LOG_LVL_WARN);
	if (argc < 2) {
		usage(stderr);
		return 3;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "gridns: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 3;
}
