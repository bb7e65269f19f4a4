/* tools/tchk.c - `gridns check`: RFC 5782 canaries from outside, as a
 * Nagios/Icinga plugin.
 *
 * For each zone the test points must be listed (2.0.0.127, ::ffff:7f00:2,
 * "test") and not listed (1.0.0.127, ::ffff:7f00:1, "invalid").  Anything
 * else is CRITICAL: a resolver that stopped answering, a zone that went
 * empty, and a zone "listing the world" all reject or pass real mail
 * wrongly.  Plugin contract: ONE status line on stdout, perfdata after '|',
 * exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
 *
 * --restart-cmd is the automated form of the operators' old "restart DNS
 * when it returns bad data" script: run through /bin/sh -c, bounded in
 * time, only when the result is CRITICAL, and said so in the status line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "tools/tdns.h"
#include "tools/tdnsbl.h"
#include "tools/tools.h"
#include "tools/tutil.h"

#define TCHK_MAX_ZONES 64
#define TCHK_OK 0
#define TCHK_WARN 1
#define TCHK_CRIT 2
#define TCHK_UNKNOWN 3

/* A zone and how its test points are written. */
struct tchk_zone {
	const char *name;
	int kind; /* TDNSBL_IP4, TDNSBL_IP6 (same zone, IPv6 points), TDNSBL_DOMAIN */
};

/* The listed and the not-listed test point of each kind (RFC 5782 s. 5). */
static const char *tchk_point(int kind, int listed)
{
	switch (kind) {
	case TDNSBL_IP6:
		return listed ? "::ffff:7f00:2" : "::ffff:7f00:1";
	case TDNSBL_DOMAIN:
		return listed ? "test" : "invalid";
	default:
		return listed ? "127.0.0.2" : "127.0.0.1";
	}
}

static void tchk_usage(FILE *f)
{
	fprintf(f,
		"usage: gridns check --server ADDR:PORT --zone Z [--zone Z ...] [--ipv6]\n"
		"                    [--domain Z ...] [--timeout MS] [--warn MS --crit MS]\n"
		"                    [--restart-cmd CMD [--restart-timeout S]]\n"
		"  RFC 5782 canaries against a resolver, as a Nagios/Icinga plugin.\n"
		"  --zone Z       IPv4 DNSBL zone: 2.0.0.127 must be listed, 1.0.0.127 not\n"
		"  --ipv6         also ::ffff:7f00:2 / ::ffff:7f00:1 on every --zone\n"
		"  --domain Z     domain (RHSBL) zone: test must be listed, invalid not\n"
		"  --timeout MS   budget per canary, two tries (default 2000)\n"
		"  --warn/--crit  latency thresholds in ms for the slowest canary of a zone\n"
		"  --restart-cmd  run CMD via /bin/sh -c when CRITICAL (default limit 30 s)\n"
		"  exit: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (usage or local error)\n");
}

/* Run cmd with a time limit; describe what happened in buf. */
static void tchk_restart(const char *cmd, int limit_s, char *buf, size_t cap)
{
	int status = 0;
	pid_t pid = fork();

	if (pid < 0) {
		snprintf(buf, cap, "restart command NOT run: fork failed: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		/* Own process group so a timeout kills its children too; its
		 * output goes to stderr, stdout is the plugin's one status line. */
		setsid();
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(2, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int64_t end = tdns_now_ns() + (int64_t)limit_s * 1000000000;
	pid_t w = 0;
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && tdns_now_ns() < end) {
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
	if (w == 0) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		(void)waitpid(pid, &status, 0);
		snprintf(buf, cap, "restart command killed after %d s", limit_s);
	} else if (w < 0) {
		snprintf(buf, cap, "restart command: wait failed: %s", strerror(errno));
	} else if (WIFEXITED(status)) {
		snprintf(buf, cap, "restart command ran, exit %d", WEXITSTATUS(status));
	} else {
		snprintf(buf, cap, "restart command ran, killed by signal %d",
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	}
}

/* Append "; text" style messages to the problem list. */
static void add_msg(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void add_msg(char *buf, size_t cap, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used && used + 2 < cap) {
		memcpy(buf + used, "; ", 3);
		used += 2;
	}
	if (used + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, cap - used, fmt, ap);
	va_end(ap);
}

/* Judge one canary; returns the plugin state it causes. */
static int judge(const struct tchk_zone *z, int want_listed, const struct tdns_query *q,
		 int refused, char *msg, size_t cap)
{
	struct tdnsbl_result r;
	const char *pt = tchk_point(z->kind, want_listed);

	tdnsbl_classify(q, refused, &r);
	if (r.verdict == TDNSBL_UNKNOWN) {
		add_msg(msg, cap, "%s: %s unknown (%s)", z->name, pt, r.reason);
		return TCHK_CRIT;
	}
	if (want_listed && r.verdict != TDNSBL_LISTED) {
		add_msg(msg, cap, "%s: test point %s not listed (zone empty, expired or missing)",
			z->name, pt);
		return TCHK_CRIT;
	}
	if (!want_listed && r.verdict == TDNSBL_LISTED) {
		add_msg(msg, cap, "%s: listing the world (%s listed as %s)", z->name, pt, r.reason);
		return TCHK_CRIT;
	}
	return TCHK_OK;
}

int tchk_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", required_argument, NULL, 's' },
		{ "zone", required_argument, NULL, 'z' },
		{ "domain", required_argument, NULL, 'd' },
		{ "ipv6", no_argument, NULL, '6' },
		{ "timeout", required_argument, NULL, 't' },
		{ "warn", required_argument, NULL, 'w' },
		{ "crit", required_argument, NULL, 'c' },
		{ "restart-cmd", required_argument, NULL, 'R' },
		{ "restart-timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tchk_zone zones[TCHK_MAX_ZONES * 2];
	struct tdns_query *qs = NULL;
	struct tdns_opts o;
	struct addr server;
	const char *restart = NULL;
	char msg[2048] = "", perf[2048] = "", rmsg[160] = "", srv[ADDR_TEXT_MAX];
	long v, warn = -1, crit = -1, timeout = 2000, rlimit = 30;
	int nz = 0, ipv6 = 0, have_server = 0, c, refused = 0, state = TCHK_OK;

	while ((c = getopt_long(argc, argv, "s:z:d:6t:w:c:R:T:h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (tutil_server("--server", optarg, &server) != 0)
				return TCHK_UNKNOWN;
			have_server = 1;
			break;
		case 'z':
		case 'd':
			if (nz >= TCHK_MAX_ZONES) {
				printf("GRIDNS UNKNOWN - more than %d zones\n", TCHK_MAX_ZONES);
				return TCHK_UNKNOWN;
			}
			zones[nz].name = optarg;
			zones[nz++].kind = c == 'z' ? TDNSBL_IP4 : TDNSBL_DOMAIN;
			break;
		case '6':
			ipv6 = 1;
			break;
		case 't':
		case 'w':
		case 'c':
		case 'T':
			/* --warn/--crit 0 flag any latency: handy to test a wiring. */
			if (tutil_int(optarg, (c == 'w' || c == 'c') ? 0 : 1, c == 'T' ? 3600 : 60000,
				      &v) != 0) {
				printf("GRIDNS UNKNOWN - bad number for -%c: '%s'\n", c, optarg);
				return TCHK_UNKNOWN;
			}
			*(c == 't' ? &timeout : c == 'w' ? &warn : c == 'c' ? &crit : &rlimit) = v;
			break;
		case 'R':
			restart = optarg;
			break;
		case 'h':
			tchk_usage(stdout);
			return TCHK_OK;
		default:
			tchk_usage(stderr);
			printf("GRIDNS UNKNOWN - bad command line\n");
			return TCHK_UNKNOWN;
		}
	}
	if (!have_server || nz == 0 || optind != argc) {
		tchk_usage(stderr);
		printf("GRIDNS UNKNOWN - need --server and at least one --zone or --domain%s\n",
		       optind != argc ? " (stray arguments)" : "");
		return TCHK_UNKNOWN;
	}
	if (warn >= 0 && crit >= 0 && warn > crit) {
		printf("GRIDNS UNKNOWN - --warn %ld is above --crit %ld\n", warn, crit);
		return TCHK_UNKNOWN;
	}
	if (ipv6) {
		int n4 = nz;
		for (int i = 0; i < n4; i++)
			if (zones[i].kind == TDNSBL_IP4)
				zones[nz++] = (struct tchk_zone){ zones[i].name, TDNSBL_IP6 };
	}
	qs = calloc((size_t)nz * 2, sizeof(*qs));
	if (!qs) {
		printf("GRIDNS UNKNOWN - out of memory\n");
		return TCHK_UNKNOWN;
	}
	for (int i = 0; i < nz * 2; i++) {
		const struct tchk_zone *z = &zones[i / 2];
		qs[i].qtype = TDNS_TYPE_A;
		if (tdnsbl_qname(tchk_point(z->kind, !(i & 1)), z->name, qs[i].qname,
				 sizeof(qs[i].qname)) < 0) {
			printf("GRIDNS UNKNOWN - '%s' is not a valid zone name\n", z->name);
			state = TCHK_UNKNOWN;
			goto out;
		}
	}
	tdns_opts_default(&o);
	o.tries = 2;
	o.timeout_ms = (int)(timeout / 2 > 0 ? timeout / 2 : 1);
	if (tdns_run(&server, qs, (size_t)nz * 2, &o, NULL, &refused) != 0) {
		printf("GRIDNS UNKNOWN - cannot send queries (socket error)\n");
		state = TCHK_UNKNOWN;
		goto out;
	}
	for (int i = 0; i < nz; i++) {
		const struct tchk_zone *z = &zones[i];
		struct tdnsbl_result r1, r2;
		int zs;
		tdnsbl_classify(&qs[2 * i], refused, &r1);
		tdnsbl_classify(&qs[2 * i + 1], refused, &r2);
		if (r1.verdict == TDNSBL_UNKNOWN && r2.verdict == TDNSBL_UNKNOWN &&
		    !strcmp(r1.reason, r2.reason)) {
			/* One line for one cause: the status line must stay readable. */
			add_msg(msg, sizeof(msg), "%s: both test points unknown (%s)", z->name,
				r1.reason);
			zs = TCHK_CRIT;
		} else {
			int s1 = judge(z, 1, &qs[2 * i], refused, msg, sizeof(msg));
			int s2 = judge(z, 0, &qs[2 * i + 1], refused, msg, sizeof(msg));
			zs = s1 > s2 ? s1 : s2;
		}
		double ms = -1;
		for (int k = 0; k < 2; k++)
			if (qs[2 * i + k].status == TDNS_ANSWERED && qs[2 * i + k].rtt_ms > ms)
				ms = qs[2 * i + k].rtt_ms;
		if (ms >= 0 && crit >= 0 && ms > (double)crit) {
			add_msg(msg, sizeof(msg), "%s: %.1f ms > critical %ld ms", z->name, ms, crit);
			zs = TCHK_CRIT;
		} else if (ms >= 0 && warn >= 0 && ms > (double)warn) {
			add_msg(msg, sizeof(msg), "%s: %.1f ms > warning %ld ms", z->name, ms, warn);
			if (zs < TCHK_WARN)
				zs = TCHK_WARN;
		}
		if (zs > state)
			state = zs;
		/* Perfdata: one series per zone and family; U when unanswered. */
		size_t pl = strlen(perf);
		char val[32], w[24] = "", cr[24] = "";
		if (ms >= 0)
			snprintf(val, sizeof(val), "%.3fms", ms);
		else
			snprintf(val, sizeof(val), "U");
		if (warn >= 0)
			snprintf(w, sizeof(w), "%ld", warn);
		if (crit >= 0)
			snprintf(cr, sizeof(cr), "%ld", crit);
		snprintf(perf + pl, sizeof(perf) - pl, "%s'%s%s_time'=%s;%s;%s;0;", pl ? " " : "",
			 z->name, z->kind == TDNSBL_IP6 ? "_ipv6" : "", val, w, cr);
	}
	if (state == TCHK_CRIT && restart)
		tchk_restart(restart, (int)rlimit, rmsg, sizeof(rmsg));
	if (addr_format(&server.u.sa, srv, sizeof(srv)) < 0)
		snprintf(srv, sizeof(srv), "server");
	if (state == TCHK_OK)
		printf("GRIDNS OK - %d zone check%s correct via %s | %s\n", nz, nz == 1 ? "" : "s",
		       srv, perf);
	else
		printf("GRIDNS %s - %s%s%s via %s | %s\n", state == TCHK_WARN ? "WARNING" : "CRITICAL",
		       msg, rmsg[0] ? "; " : "", rmsg, srv, perf);
out:
	free(qs);
	return state;
}
