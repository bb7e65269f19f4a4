/* tools/tbl.c - `gridns blcheck`: are our own outbound IPs, ranges or
 * domains on anybody's list?
 *
 * Every (target, list) pair becomes one A query; all of them go through
 * the resolver concurrently over one UDP socket (tdns_run), with bounded
 * timeouts and retries, then a TXT query for each listing.  Ranges are
 * expanded to single addresses, at most 256 per range (an IPv4 /24 or an
 * IPv6 /120): a bigger range is refused rather than silently sampled.
 */
#include <arpa/inet.h>
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

#define TBL_MAX_CHECKS 20000

static void tbl_usage(FILE *f)
{
	fprintf(f,
		"usage: gridns blcheck --server ADDR:PORT --lists FILE [--json] [--problems]\n"
		"                      [--timeout MS] [--tries N] [--inflight N] TARGET...\n"
		"  TARGET: an IPv4/IPv6 address, a range (192.0.2.0/24 at most, IPv6 /120 at\n"
		"  most) or a domain.  FILE: one list per line, 'ZONE [ip|domain]', # comments.\n"
		"  --problems: show only listed and unknown rows (the summary counts all)\n"
		"  exit: 0 nothing listed, 1 something listed, 2 nothing listed but some\n"
		"        answers unknown, 3 usage or input error\n");
}

int tbl_parse_lists(const char *path, struct tbl_list **out, size_t *n)
{
	FILE *f = fopen(path, "r");
	struct tbl_list *v = NULL;
	size_t cnt = 0, cap = 0;
	char line[1100];
	int ret = 0, lineno = 0;

	*out = NULL;
	*n = 0;
	if (!f) {
		fprintf(stderr, "gridns blcheck: cannot open %s: %m\n", path);
		return GN_EIO;
	}
	while (fgets(line, sizeof(line), f)) {
		char zone[300], type[32], extra[8];
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "%s:%d: line too long\n", path, lineno);
			ret = GN_EINVAL;
			goto out;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		int k = sscanf(line, "%299s %31s %7s", zone, type, extra);
		if (k <= 0)
			continue;
		if (k == 3) {
			fprintf(stderr, "%s:%d: expected 'ZONE [ip|domain]'\n", path, lineno);
			ret = GN_EINVAL;
			goto out;
		}
		int kind = TBL_LIST_IP;
		if (k == 2) {
			if (!strcmp(type, "ip") || !strcmp(type, "ip4") || !strcmp(type, "ip6"))
				kind = TBL_LIST_IP;
			else if (!strcmp(type, "domain") || !strcmp(type, "rhsbl"))
				kind = TBL_LIST_DOMAIN;
			else {
				fprintf(stderr, "%s:%d: unknown list type '%s' (ip or domain)\n", path,
					lineno, type);
				ret = GN_EINVAL;
				goto out;
			}
		}
		uint8_t wire[DNAME_MAX];
		if (dname_from_text(zone, strlen(zone), wire) < 0 || strlen(zone) >= TBL_NAME_MAX) {
			fprintf(stderr, "%s:%d: '%s' is not a valid zone name\n", path, lineno, zone);
			ret = GN_EINVAL;
			goto out;
		}
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct tbl_list *nv = nc > 4096 ? NULL : realloc(v, nc * sizeof(*v));
			if (!nv) {
				fprintf(stderr, "%s:%d: more than 4096 lists\n", path, lineno);
				ret = GN_ELIMIT;
				goto out;
			}
			v = nv;
			cap = nc;
		}
		memcpy(v[cnt].zone, zone, strlen(zone) + 1); /* length checked above */
		v[cnt++].kind = kind;
	}
	if (cnt == 0) {
		fprintf(stderr, "gridns blcheck: %s names no list\n", path);
		ret = GN_EINVAL;
	}
out:
	fclose(f);
	if (ret != 0) {
		free(v);
		return ret;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int tbl_expand(const char *arg, struct tbl_target *out, size_t cap, size_t *n)
{
	char buf[TBL_NAME_MAX];
	uint8_t a[16];
	const char *slash = strchr(arg, '/');
	long plen;
	int fam, bits;

	if (strlen(arg) >= sizeof(buf))
		return GN_EINVAL;
	if (!slash) {
		int kind = tdnsbl_parse_target(arg, a);
		if (kind < 0)
			return GN_EINVAL;
		if (*n >= cap)
			return GN_ELIMIT;
		snprintf(out[*n].text, sizeof(out[*n].text), "%s", arg);
		out[(*n)++].kind = kind;
		return 0;
	}
	memcpy(buf, arg, (size_t)(slash - arg));
	buf[slash - arg] = '\0';
	if (inet_pton(AF_INET, buf, a) == 1) {
		fam = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, buf, a) == 1) {
		fam = AF_INET6;
		bits = 128;
	} else {
		return GN_EINVAL;
	}
	if (tutil_int(slash + 1, 0, bits, &plen) != 0)
		return GN_EINVAL;
	if (bits - plen > 8)
		return GN_ERANGE; /* more than 256 addresses */
	int count = 1 << (bits - plen);
	int last = bits / 8 - 1;
	/* Clear host bits (they live in the last octet only, as span <= 8). */
	a[last] &= (uint8_t)(0xff << (bits - plen));
	for (int i = 0; i < count; i++) {
		uint8_t x[16];
		memcpy(x, a, 16);
		x[last] = (uint8_t)(a[last] + i);
		if (*n >= cap)
			return GN_ELIMIT;
		if (!inet_ntop(fam, x, out[*n].text, sizeof(out[*n].text)))
			return GN_EINVAL;
		out[(*n)++].kind = fam == AF_INET ? TDNSBL_IP4 : TDNSBL_IP6;
	}
	return 0;
}

/* One (target, list) pair and its outcome. */
struct tbl_check {
	size_t target, list;
	struct tdnsbl_result res;
	int txt; /* index into the TXT batch + 1, 0 if none */
};

static void print_json(FILE *f, const char *srv, const struct tbl_target *tg,
		       const struct tbl_list *ls, const struct tbl_check *ck,
		       const struct tdns_query *qs, const struct tdns_query *tx, size_t n,
		       const int cnt[3], int problems)
{
	int first = 1;

	fprintf(f, "{\"server\":");
	tutil_json_str(f, srv);
	fprintf(f, ",\"results\":[");
	for (size_t i = 0; i < n; i++) {
		const struct tbl_check *c = &ck[i];
		if (problems && c->res.verdict == TDNSBL_NOT_LISTED)
			continue;
		fprintf(f, "%s\n{\"target\":", first ? "" : ",");
		first = 0;
		tutil_json_str(f, tg[c->target].text);
		fprintf(f, ",\"list\":");
		tutil_json_str(f, ls[c->list].zone);
		fprintf(f, ",\"query\":");
		tutil_json_str(f, qs[i].qname);
		fprintf(f, ",\"result\":");
		tutil_json_str(f, tdnsbl_verdict_name(c->res.verdict));
		if (c->res.verdict == TDNSBL_LISTED) {
			fprintf(f, ",\"codes\":[");
			int k = qs[i].n_a < TDNS_MAX_A ? qs[i].n_a : TDNS_MAX_A;
			for (int j = 0; j < k; j++) {
				char ip[16];
				tdnsbl_ip4_text(qs[i].a[j], ip);
				fprintf(f, "%s\"%s\"", j ? "," : "", ip);
			}
			fprintf(f, "]");
			if (c->txt && tx[c->txt - 1].status == TDNS_ANSWERED) {
				fprintf(f, ",\"txt\":");
				tutil_json_str(f, tx[c->txt - 1].txt);
			}
		} else if (c->res.verdict == TDNSBL_UNKNOWN) {
			fprintf(f, ",\"reason\":");
			tutil_json_str(f, c->res.reason);
			if (c->res.error_code) {
				char ip[16];
				tdnsbl_ip4_text(c->res.error_code, ip);
				fprintf(f, ",\"error_code\":\"%s\"", ip);
			}
		}
		fprintf(f, "}");
	}
	fprintf(f, "\n],\"summary\":{\"checks\":%zu,\"listed\":%d,\"not_listed\":%d,"
		   "\"unknown\":%d}}\n", n, cnt[TDNSBL_LISTED], cnt[TDNSBL_NOT_LISTED],
		cnt[TDNSBL_UNKNOWN]);
}

static void print_table(FILE *f, const struct tbl_target *tg, const struct tbl_list *ls,
			const struct tbl_check *ck, const struct tdns_query *tx, size_t n,
			const int cnt[3], int problems)
{
	fprintf(f, "%-40s %-28s %-10s %s\n", "TARGET", "LIST", "RESULT", "DETAIL");
	for (size_t i = 0; i < n; i++) {
		const struct tbl_check *c = &ck[i];
		if (problems && c->res.verdict == TDNSBL_NOT_LISTED)
			continue;
		fprintf(f, "%-40s %-28s %-10s", tg[c->target].text, ls[c->list].zone,
			tdnsbl_verdict_name(c->res.verdict));
		if (c->res.verdict != TDNSBL_NOT_LISTED)
			fprintf(f, " %s", c->res.reason);
		if (c->txt && tx[c->txt - 1].status == TDNS_ANSWERED && tx[c->txt - 1].txt[0])
			fprintf(f, " \"%s\"", tx[c->txt - 1].txt);
		fputc('\n', f);
	}
	fprintf(f, "%zu checks: %d listed, %d not listed, %d unknown\n", n, cnt[TDNSBL_LISTED],
		cnt[TDNSBL_NOT_LISTED], cnt[TDNSBL_UNKNOWN]);
}

int tbl_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", required_argument, NULL, 's' },
		{ "lists", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "problems", no_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "tries", required_argument, NULL, 'r' },
		{ "inflight", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct addr server;
	struct tdns_opts o;
	struct tbl_list *ls = NULL;
	struct tbl_target *tg = NULL;
	struct tbl_check *ck = NULL;
	struct tdns_query *qs = NULL, *tx = NULL;
	const char *lists = NULL;
	char srv[ADDR_TEXT_MAX];
	size_t nl = 0, nt = 0, n = 0, ntx = 0;
	int ret = 3, c, json = 0, problems = 0, have_server = 0, refused = 0, dummy = 0, cnt[3] = { 0, 0, 0 };
	long v;

	tdns_opts_default(&o);
	o.inflight = 100;
	while ((c = getopt_long(argc, argv, "s:l:jpt:r:i:h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (tutil_server("--server", optarg, &server) != 0)
				return 3;
			have_server = 1;
			break;
		case 'l':
			lists = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'p':
			problems = 1;
			break;
		case 't':
		case 'r':
		case 'i':
			if (tutil_int(optarg, 1, c == 't' ? 60000 : c == 'r' ? 10 : 4096, &v) != 0) {
				fprintf(stderr, "gridns blcheck: bad value '%s' for --%s\n", optarg,
					c == 't' ? "timeout" : c == 'r' ? "tries" : "inflight");
				return 3;
			}
			*(c == 't' ? &o.timeout_ms : c == 'r' ? &o.tries : &o.inflight) = (int)v;
			break;
		case 'h':
			tbl_usage(stdout);
			return 0;
		default:
			tbl_usage(stderr);
			return 3;
		}
	}
	if (!have_server || !lists || optind >= argc) {
		fprintf(stderr, "gridns blcheck: need --server, --lists and at least one target\n");
		tbl_usage(stderr);
		return 3;
	}
	if (tbl_parse_lists(lists, &ls, &nl) != 0)
		goto out;
	tg = calloc(TBL_MAX_CHECKS, sizeof(*tg));
	if (!tg)
		goto oom;
	for (int i = optind; i < argc; i++) {
		int r = tbl_expand(argv[i], tg, TBL_MAX_CHECKS, &nt);
		if (r == GN_ERANGE) {
			fprintf(stderr, "gridns blcheck: range %s is bigger than 256 addresses (IPv4 /24, "
					"IPv6 /120): split it into /24s (or /120s)\n", argv[i]);
			goto out;
		}
		if (r != 0) {
			fprintf(stderr, "gridns blcheck: %s: %s\n", argv[i],
				r == GN_ELIMIT ? "too many targets" : "not an IP, range or domain");
			goto out;
		}
	}
	/* Pairs: IP targets on IP lists, domains on domain lists. */
	for (size_t t = 0; t < nt; t++)
		for (size_t l = 0; l < nl; l++)
			if ((tg[t].kind == TDNSBL_DOMAIN) == (ls[l].kind == TBL_LIST_DOMAIN))
				n++;
	if (n == 0) {
		fprintf(stderr, "gridns blcheck: no target matches a list type (IP targets need ip "
				"lists, domains need domain lists)\n");
		goto out;
	}
	if (n > TBL_MAX_CHECKS) {
		fprintf(stderr, "gridns blcheck: %zu checks (targets x lists) is more than %d: "
				"split the run\n", n, TBL_MAX_CHECKS);
		goto out;
	}
	ck = calloc(n, sizeof(*ck));
	qs = calloc(n, sizeof(*qs));
	if (!ck || !qs)
		goto oom;
	n = 0;
	for (size_t t = 0; t < nt; t++)
		for (size_t l = 0; l < nl; l++) {
			if ((tg[t].kind == TDNSBL_DOMAIN) != (ls[l].kind == TBL_LIST_DOMAIN))
				continue;
			ck[n].target = t;
			ck[n].list = l;
			qs[n].qtype = TDNS_TYPE_A;
			if (tdnsbl_qname(tg[t].text, ls[l].zone, qs[n].qname, sizeof(qs[n].qname)) < 0) {
				fprintf(stderr, "gridns blcheck: %s on %s makes a name longer than 255 "
						"octets\n", tg[t].text, ls[l].zone);
				goto out;
			}
			n++;
		}
	if (tdns_run(&server, qs, n, &o, NULL, &refused) != 0) {
		fprintf(stderr, "gridns blcheck: cannot send queries to the server (socket error)\n");
		ret = 2;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		tdnsbl_classify(&qs[i], refused, &ck[i].res);
		cnt[ck[i].res.verdict]++;
		if (ck[i].res.verdict == TDNSBL_LISTED)
			ntx++;
	}
	if (ntx) {
		tx = calloc(ntx, sizeof(*tx));
		if (!tx)
			goto oom;
		ntx = 0;
		for (size_t i = 0; i < n; i++)
			if (ck[i].res.verdict == TDNSBL_LISTED) {
				memcpy(tx[ntx].qname, qs[i].qname, sizeof(tx[ntx].qname));
				tx[ntx].qtype = TDNS_TYPE_TXT;
				ck[i].txt = (int)++ntx;
			}
		/* TXT only explains a listing; its failure changes no verdict. */
		if (tdns_run(&server, tx, ntx, &o, NULL, &dummy) != 0)
			for (size_t i = 0; i < ntx; i++)
				tx[i].status = TDNS_TIMEOUT;
	}
	if (addr_format(&server.u.sa, srv, sizeof(srv)) < 0)
		snprintf(srv, sizeof(srv), "?");
	if (json)
		print_json(stdout, srv, tg, ls, ck, qs, tx, n, cnt, problems);
	else
		print_table(stdout, tg, ls, ck, tx, n, cnt, problems);
	ret = cnt[TDNSBL_LISTED] ? 1 : cnt[TDNSBL_UNKNOWN] ? 2 : 0;
	goto out;
oom:
	fprintf(stderr, "gridns blcheck: out of memory\n");
out:
	free(ls);
	free(tg);
	free(ck);
	free(qs);
	free(tx);
	return ret;
}
