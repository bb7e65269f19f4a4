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
 *   infra-cache-max-rtt       NOT lowered: libunbound treats a server whose
 *                             retransmit timeout reached this cap as useless
 *                             and answers SERVFAIL without sending; with the
 *                             cap at the tier timeout (tried: 200 and 1000 ms)
 *                             a grid back after a 3-8 s outage was still
 *                             refused locally 5 s later.  With the default
 *                             (120 s) and the 10 s host TTL the entry is
 *                             forgotten before the RTO gets near the cap.
 *   unknown-server-time-limit  = timeout-ms (forward tiers): libunbound
 *   infra-cache-min-rtt          resends to a server it thinks timed out and
 *                               then DISCARDS the late reply to the first
 *                               send.  Measured here: with the limit below an
 *                               upstream's latency (a grid answering in
 *                               150 ms, limit 100 or 250 ms) every send "timed
 *                               out" just before its reply came and the query
 *                               took 350-450 ms instead of 150.  An operator's
 *                               timeout-ms means "the tier has this long to
 *                               answer", so libunbound waits that long for
 *                               each send.  Recursive tiers keep the
 *                               defaults (many authorities, unbound's tuning).
 * and the rest keeps libunbound out of gridns' way:
 *   do-not-query-localhost: no  grid/NOC on 127.0.0.1 (tests, co-located)
 *   small msg/rrset caches      gridns caches answers itself
 *   qname-minimisation: no      DNSBL zones served by rbldnsd answer
 *                               NXDOMAIN for empty non-terminals (users.md §1)
 *   prefetch/serve-expired: no  staleness is gridns' decision, not hidden here
 *   local-zone: X transparent   (forward tiers) libunbound answers the RFC 6761
 *                               and AS112 names (test., RFC 1918 reverse, ...)
 *                               itself with NXDOMAIN; a forward tier must pass
 *                               them to its upstream, which may serve them
 *                               (internal reverse zones, lab zones under test.).
 *                               localhost, loopback reverse and onion stay local.
 *                               ("nodefault" set through ub_ctx_set_option has
 *                               no effect in libunbound 1.17; an empty
 *                               transparent zone resolves normally.)
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

/* Set one option to `val`; names the tier and option in the message. */
static int ub_set_str(struct ub_ctx *ctx, const char *tier, const struct ub_opt *o,
		      const char *val)
{
	int r = ub_ctx_set_option(ctx, o->name, val);

	if (r == 0)
		return GN_OK;
	if (o->optional) {
		log_debug("tier %s: libunbound does not take option '%s %s' (%s); going on",
			  tier, o->name, val, ub_strerror(r));
		return GN_OK;
	}
	log_err("tier %s: libunbound rejected option '%s %s': %s",
		tier, o->name, val, ub_strerror(r));
	return GN_EINVAL;
}

static int ub_set(struct ub_ctx *ctx, const char *tier, const struct ub_opt *o)
{
	return ub_set_str(ctx, tier, o, o->val);
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

/* libunbound's default local zones that a forward tier hands upstream. */
static const char *const fwd_nodefault[] = {
	"home.arpa.", "test.", "invalid.",
	"10.in-addr.arpa.", "168.192.in-addr.arpa.", "0.in-addr.arpa.",
	"254.169.in-addr.arpa.", "2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.",
	"113.0.203.in-addr.arpa.", "255.255.255.255.in-addr.arpa.",
	"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
	"d.f.ip6.arpa.", "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.",
	"b.e.f.ip6.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa.",
};

static int fwd_local_zones_off(struct ub_ctx *ctx, const char *tier)
{
	struct ub_opt o = { "local-zone:", "", false };
	char v[128];
	int ret;

	for (size_t i = 0; i < sizeof(fwd_nodefault) / sizeof(fwd_nodefault[0]); i++) {
		snprintf(v, sizeof(v), "%s transparent", fwd_nodefault[i]);
		ret = ub_set_str(ctx, tier, &o, v);
		if (ret < 0)
			return ret;
	}
	/* 16..31.172.in-addr.arpa and 64..127.100.in-addr.arpa */
	for (int k = 16; k <= 127; k++) {
		if (k > 31 && k < 64)
			continue;
		snprintf(v, sizeof(v), "%d.%s.in-addr.arpa. transparent", k, k <= 31 ? "172" : "100");
		ret = ub_set_str(ctx, tier, &o, v);
		if (ret < 0)
			return ret;
	}
	return GN_OK;
}

int tier_ub_new(const struct tier_conf *c, struct ub_ctx **out)
{
	struct ub_ctx *ctx = NULL;
	char tmo[16];
	bool rec = c->mode == TIER_RECURSIVE;
	int ret = GN_OK, r;

	*out = NULL;
	snprintf(tmo, sizeof(tmo), "%u", (unsigned)c->timeout_ms);

	struct ub_opt opts[] = {
		{ "do-not-query-localhost:", "no", false },
		{ "infra-keep-probing:", "yes", false },
		{ "infra-host-ttl:", "10", false },
		{ "unknown-server-time-limit:", "", false },
		{ "infra-cache-min-rtt:", "", false },
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
		if (!strcmp(o->name, "unknown-server-time-limit:") ||
		    !strcmp(o->name, "infra-cache-min-rtt:"))
			strcpy(o->val, rec ? "" : tmo);
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
		if (!opts[i].val[0])
			continue; /* libunbound's default */
		ret = ub_set(ctx, c->name, &opts[i]);
		if (ret < 0)
			goto out;
	}
	if (!rec) {
		ret = fwd_local_zones_off(ctx, c->name);
		if (ret < 0)
			goto out;
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
	/* libunbound applies its settings at the first query; a bad one would
	 * only show as "initialization failure" on live traffic.  Resolve
	 * localhost (a built-in local zone: nothing is sent) to fail here,
	 * at start-up, with the tier named. */
	{
		struct ub_result *res = NULL;
		r = ub_resolve(ctx, "localhost.", 1, 1, &res);
		if (res)
			ub_resolve_free(res);
		if (r != 0) {
			log_err("tier %s: libunbound failed to start with this tier's settings: %s",
				c->name, ub_strerror(r));
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
