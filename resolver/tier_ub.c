/* resolver/tier_ub.c - one libunbound context for one tier, configured so
 * that libunbound never outlives OUR decisions about an upstream.
 *
 * The failure we design against (users.md §2, unbound#451): unbound's infra
 * cache marks a silent server down and waits for the entry to expire (up to
 * an hour with a large RTO backoff); every query in between gets SERVFAIL or
 * waits for a two-minute probe.  Our breaker decides when a tier is skipped,
 * so inside libunbound a server must be re-tried quickly:
 *   infra-keep-probing: yes   keep sending (one at a time) to "down" servers
 *   infra-host-ttl: 10        forget RTT/lameness after 10 s, not 15 min
 *   infra-cache-max-rtt       cap the retransmit timeout at the tier timeout,
 *                             so a probe inside libunbound never waits minutes
 *   unknown-server-time-limit half the tier timeout (<= 376 ms): a second
 *                             server of the same tier (or a resend to the
 *                             only one) still fits in the tier's window
 * and the rest keeps libunbound out of gridns' way:
 *   do-not-query-localhost: no  grid/NOC on 127.0.0.1 (tests, co-located)
 *   small msg/rrset caches      gridns caches answers itself
 *   qname-minimisation: no      DNSBL zones served by rbldnsd answer
 *                               NXDOMAIN for empty non-terminals (users.md §1)
 *   prefetch/serve-expired: no  staleness is gridns' decision, not hidden here
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unbound.h>
#include "common/addr.h"
#include "common/err.h"
#include "common/log.h"
#include "resolver/tier_int.h"

struct ub_opt {
	const char *name; /* with the trailing colon libunbound wants */
	char val[32];
	bool optional;    /* older libunbound may not know it: warn, go on */
};

/* Set one option; names the tier and option in the message. */
static int ub_set(struct ub_ctx *ctx, const char *tier, const struct ub_opt *o)
{
	int r = ub_ctx_set_option(ctx, o->name, o->val);

	if (r == 0)
		return GN_OK;
	if (o->optional) {
		log_debug("tier %s: libunbound does not take option '%s %s' (%s); going on",
			  tier, o->name, o->val, ub_strerror(r));
		return GN_OK;
	}
	log_err("tier %s: libunbound rejected option '%s %s': %s",
		tier, o->name, o->val, ub_strerror(r));
	return GN_EINVAL;
}

/* "addr@port" in the spelling libunbound's forwarder parser reads (numeric
 * address, '@', port); IPv6 scope ids are kept. */
static int fwd_text(const char *server, char *buf, size_t cap)
{
	struct addr a;
	const char *why = NULL;
	char ip[INET6_ADDRSTRLEN + 20];
	int r = addr_parse(server, 53, &a, &why);

	if (r < 0)
		return r;
	if (a.u.sa.sa_family == AF_INET) {
		if (!inet_ntop(AF_INET, &a.u.in4.sin_addr, ip, sizeof(ip)))
			return GN_EINVAL;
	} else if (a.u.sa.sa_family == AF_INET6) {
		if (!inet_ntop(AF_INET6, &a.u.in6.sin6_addr, ip, sizeof(ip)))
			return GN_EINVAL;
		if (a.u.in6.sin6_scope_id) {
			size_t l = strlen(ip);
			snprintf(ip + l, sizeof(ip) - l, "%%%u", (unsigned)a.u.in6.sin6_scope_id);
		}
	} else {
		return GN_EINVAL;
	}
	if ((size_t)snprintf(buf, cap, "%s@%u", ip, (unsigned)addr_port(&a)) >= cap)
		return GN_ERANGE;
	return GN_OK;
}

int tier_ub_new(const struct tier_conf *c, struct ub_ctx **out)
{
	struct ub_ctx *ctx = NULL;
	uint32_t unknown = c->timeout_ms / 2, maxrtt = c->timeout_ms;
	bool rec = c->mode == TIER_RECURSIVE;
	int ret = GN_OK, r;

	*out = NULL;
	if (unknown < 20)
		unknown = 20;
	if (unknown > 376)
		unknown = 376;
	if (maxrtt < 50)
		maxrtt = 50; /* not below libunbound's default infra-cache-min-rtt */

	struct ub_opt opts[] = {
		{ "do-not-query-localhost:", "no", false },
		{ "infra-keep-probing:", "yes", false },
		{ "infra-host-ttl:", "10", false },
		{ "infra-cache-max-rtt:", "", false },
		{ "unknown-server-time-limit:", "", false },
		{ "msg-cache-size:", "", false },
		{ "rrset-cache-size:", "", false },
		{ "key-cache-size:", "1m", false },
		{ "neg-cache-size:", "256k", false },
		{ "outgoing-range:", "1024", false },
		{ "num-queries-per-thread:", "512", false },
		{ "qname-minimisation:", "no", false },
		{ "edns-buffer-size:", "1232", false },
		{ "prefetch:", "no", false },
		{ "serve-expired:", "no", false },
		{ "use-caps-for-id:", "no", false },
		{ "module-config:", "", false },
		{ "ede:", "yes", true },
	};
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		struct ub_opt *o = &opts[i];
		if (!strcmp(o->name, "infra-cache-max-rtt:"))
			snprintf(o->val, sizeof(o->val), "%u", (unsigned)maxrtt);
		else if (!strcmp(o->name, "unknown-server-time-limit:"))
			snprintf(o->val, sizeof(o->val), "%u", (unsigned)unknown);
		else if (!strcmp(o->name, "msg-cache-size:"))
			strcpy(o->val, rec ? "4m" : "1m");
		else if (!strcmp(o->name, "rrset-cache-size:"))
			strcpy(o->val, rec ? "8m" : "1m");
		else if (!strcmp(o->name, "module-config:"))
			strcpy(o->val, c->dnssec ? "validator iterator" : "iterator");
	}

	ctx = ub_ctx_create();
	if (!ctx) {
		log_err("tier %s: cannot create a libunbound context (out of memory?)", c->name);
		ret = GN_ENOMEM;
		goto out;
	}
	/* Threads, not a forked process: one background thread per context does
	 * the network work and hands results to our loop through ub_fd(). */
	r = ub_ctx_async(ctx, 1);
	if (r != 0) {
		log_err("tier %s: libunbound cannot run threaded: %s", c->name, ub_strerror(r));
		ret = GN_EINVAL;
		goto out;
	}
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		ret = ub_set(ctx, c->name, &opts[i]);
		if (ret < 0)
			goto out;
	}
	if (!rec) {
		for (size_t i = 0; i < c->n_servers; i++) {
			char fwd[INET6_ADDRSTRLEN + 32];
			ret = fwd_text(c->servers[i], fwd, sizeof(fwd));
			if (ret < 0) {
				log_err("tier %s: server '%s' is not a numeric addr@port: %s",
					c->name, c->servers[i], gn_strerror(ret));
				goto out;
			}
			r = ub_ctx_set_fwd(ctx, fwd);
			if (r != 0) {
				log_err("tier %s: libunbound rejected server %s: %s",
					c->name, fwd, ub_strerror(r));
				ret = GN_EINVAL;
				goto out;
			}
		}
	}
	if (c->dnssec) {
		r = ub_ctx_add_ta_file(ctx, c->trust_anchor);
		if (r != 0) {
			log_err("tier %s: cannot read trust-anchor file %s: %s",
				c->name, c->trust_anchor, ub_strerror(r));
			ret = GN_EINVAL;
			goto out;
		}
	}
	*out = ctx;
	ctx = NULL;
out:
	if (ctx)
		ub_ctx_delete(ctx);
	return ret;
}
