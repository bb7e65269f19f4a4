/* tools/tq.c - `gridns query`: is this IP or domain listed on these zones?
 *
 * One A query per zone (all in flight at once), then a TXT query for each
 * zone that lists the target, so the operator sees the reason text.  The
 * verdict per zone comes from tdnsbl_classify(): an unknown answer is shown
 * as unknown with its reason, never folded into "not listed".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "tools/tbl.h"
#include "tools/tdns.h"
#include "tools/tdnsbl.h"
#include "tools/tools.h"
#include "tools/tutil.h"

#define TQ_MAX_ZONES 256

static void tq_usage(FILE *f)
{
	fprintf(f,
		"usage: gridns query [--server ADDR:PORT] [--timeout MS] [--tries N]\n"
		"                    [--lists FILE] IP|DOMAIN [ZONE...]\n"
		"  Ask each DNSBL ZONE whether IP (v4 or v6) or DOMAIN is listed, through the\n"
		"  resolver at --server (default 127.0.0.1:53).  --lists adds the zones of a\n"
		"  blcheck lists file that fit the target (ip lists for IPs, domain lists for\n"
		"  domains).\n"
		"  exit: 0 not listed anywhere, 1 listed on at least one zone, 2 no zone lists it\n"
		"        but at least one answer is unknown, 3 usage error\n");
}

int tq_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "tries", required_argument, NULL, 'r' },
		{ "lists", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct addr server;
	struct tdns_opts o;
	struct tdns_query *qs = NULL, *txt = NULL;
	struct tdnsbl_result *res = NULL;
	struct tbl_list *ls = NULL;
	const char **zones = NULL;
	const char *target, *lists = NULL;
	uint8_t taddr[16];
	int ret = 3, c, refused = 0, refused_txt = 0;
	long v;
	size_t nz = 0, nl = 0, ntxt = 0;

	tdns_opts_default(&o);
	if (tutil_server("--server", "127.0.0.1:53", &server) != 0)
		return 3;
	while ((c = getopt_long(argc, argv, "s:t:r:l:h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (tutil_server("--server", optarg, &server) != 0)
				return 3;
			break;
		case 't':
			if (tutil_int(optarg, 1, 60000, &v) != 0) {
				fprintf(stderr, "gridns query: --timeout takes 1..60000 ms\n");
				return 3;
			}
			o.timeout_ms = (int)v;
			break;
		case 'r':
			if (tutil_int(optarg, 1, 10, &v) != 0) {
				fprintf(stderr, "gridns query: --tries takes 1..10\n");
				return 3;
			}
			o.tries = (int)v;
			break;
		case 'l':
			lists = optarg;
			break;
		case 'h':
			tq_usage(stdout);
			return 0;
		default:
			tq_usage(stderr);
			return 3;
		}
	}
	if (argc - optind < (lists ? 1 : 2)) {
		fprintf(stderr, "gridns query: need a target and at least one zone (or --lists)\n");
		tq_usage(stderr);
		return 3;
	}
	target = argv[optind];
	int kind = tdnsbl_parse_target(target, taddr);
	if (kind < 0) {
		fprintf(stderr, "gridns query: '%s' is not an IP address or a domain name\n", target);
		return 3;
	}
	if (lists && tbl_parse_lists(lists, &ls, &nl) != 0)
		return 3;
	zones = calloc(TQ_MAX_ZONES, sizeof(*zones));
	if (!zones) {
		fprintf(stderr, "gridns query: out of memory\n");
		ret = 2;
		goto out;
	}
	for (int i = optind + 1; i < argc && nz <= TQ_MAX_ZONES; i++)
		if (nz < TQ_MAX_ZONES)
			zones[nz++] = argv[i];
		else
			nz++;
	for (size_t i = 0; i < nl && nz <= TQ_MAX_ZONES; i++)
		if ((kind == TDNSBL_DOMAIN) == (ls[i].kind == TBL_LIST_DOMAIN)) {
			if (nz < TQ_MAX_ZONES)
				zones[nz++] = ls[i].zone;
			else
				nz++;
		}
	if (nz > TQ_MAX_ZONES || nz == 0) {
		fprintf(stderr, nz ? "gridns query: at most %d zones (use gridns blcheck for more)\n"
				   : "gridns query: no list in the file fits this kind of target\n",
			TQ_MAX_ZONES);
		goto out;
	}
	qs = calloc(nz, sizeof(*qs));
	txt = calloc(nz, sizeof(*txt));
	res = calloc(nz, sizeof(*res));
	if (!qs || !txt || !res) {
		fprintf(stderr, "gridns query: out of memory\n");
		ret = 2; /* nothing was asked: the answer is unknown */
		goto out;
	}
	for (size_t i = 0; i < nz; i++) {
		const char *zone = zones[i];
		if (tdnsbl_qname(target, zone, qs[i].qname, sizeof(qs[i].qname)) < 0) {
			fprintf(stderr, "gridns query: cannot build a query name from target '%s' and "
					"zone '%s' (not an IP or domain, or longer than 255 octets)\n",
				target, zone);
			goto out;
		}
		qs[i].qtype = TDNS_TYPE_A;
	}
	if (tdns_run(&server, qs, nz, &o, NULL, &refused) != 0) {
		fprintf(stderr, "gridns query: cannot send queries to the server (socket error)\n");
		ret = 2;
		goto out;
	}
	for (size_t i = 0; i < nz; i++) {
		tdnsbl_classify(&qs[i], refused, &res[i]);
		if (res[i].verdict == TDNSBL_LISTED) {
			memcpy(txt[ntxt].qname, qs[i].qname, sizeof(qs[i].qname));
			txt[ntxt++].qtype = TDNS_TYPE_TXT;
		}
	}
	/* TXT is decoration: if it fails the listing still stands. */
	if (ntxt && tdns_run(&server, txt, ntxt, &o, NULL, &refused_txt) != 0)
		ntxt = 0;

	int listed = 0, unknown = 0;
	size_t t = 0;
	for (size_t i = 0; i < nz; i++) {
		const char *zone = zones[i];
		printf("%-28s %-10s", zone, tdnsbl_verdict_name(res[i].verdict));
		if (res[i].verdict == TDNSBL_LISTED) {
			listed++;
			printf(" %s", res[i].reason);
			if (t < ntxt && txt[t].status == TDNS_ANSWERED && txt[t].txt[0])
				printf(" \"%s\"", txt[t].txt);
			t++;
		} else if (res[i].verdict == TDNSBL_UNKNOWN) {
			unknown++;
			printf(" %s", res[i].reason);
		}
		printf("  (%s)\n", qs[i].qname);
	}
	/* Precedence: a definite listing is the most actionable fact, then an
	 * unknown (coverage is degraded, not clean), then clean. */
	ret = listed ? 1 : unknown ? 2 : 0;
out:
	free(zones);
	free(ls);
	free(qs);
	free(txt);
	free(res);
	return ret;
}
