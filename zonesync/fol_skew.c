/* zonesync/fol_skew.c - the primaries' clock skew, as their TSIGs show it.
 *
 * TSIG carries the signer's time; a message further than the fudge (300 s)
 * from ours is BADTIME and replication stops.  Clocks drift slowly, so the
 * follower compares every trustworthy TSIG time it sees with its own clock
 * (transfer replies, and NOTIFYs) and raises the alarm long before that:
 * past `tsig.skew-warn` (60 s) it counts a warning and logs one line naming
 * the peer, as the publisher does for its clients (pub_acl.c).
 *
 * Trustworthy means: the MAC verified (whatever the time), or the peer
 * answered BADTIME itself (RFC 8945 5.2.3: its reply carries its time; our
 * tsig.c does not check that MAC, so an on-path forger could raise this
 * alarm, but it could as well cut the transfer).  A BADSIG/BADKEY message's
 * time proves nothing and is ignored.
 *
 * Figures are per peer, a peer being one configured primary address, plus
 * one "other" bucket for NOTIFY senders that are no primary: the metric's
 * label set is bounded by the configuration, never by who sends packets.
 * They are atomics (worker thread and loop write, httpd reads): no lock on
 * the transfer or NOTIFY paths.  The log is rate-limited per peer to one
 * line every FOL_SKEW_LOG_EVERY seconds: a host whose clock stays wrong
 * must not fill the log at every refresh and NOTIFY; the counter still
 * counts each one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/fol.h"

int fol_skew_init(struct fol *f)
{
	const struct fol_conf *c = f->conf;
	size_t cap = 1, n = 0;

	for (size_t i = 0; i < c->n_zones; i++)
		cap += c->zones[i].n_prim;
	if (!(f->peers = calloc(cap, sizeof(*f->peers))))
		return GN_ENOMEM;
	for (size_t i = 0; i < c->n_zones; i++)
		for (size_t k = 0; k < c->zones[i].n_prim; k++) {
			const struct fol_primary *p = &c->zones[i].prim[k];
			size_t j = 0;
			while (j < n && strcmp(f->peers[j].text, p->text) != 0)
				j++;
			if (j < n)
				continue;
			memcpy(f->peers[n].text, p->text, sizeof(p->text));
			f->peers[n].addr = p->addr;
			n++;
		}
	/* calloc gave "other" an unset address: it matches no sender by IP */
	snprintf(f->peers[n].text, sizeof(f->peers[n].text), "other");
	f->n_peers = n + 1;
	return 0;
}

void fol_skew_free(struct fol *f)
{
	if (!f)
		return;
	free(f->peers);
	f->peers = NULL;
	f->n_peers = 0;
}

struct fol_peer *fol_skew_peer_of(struct fol *f, const struct fol_primary *prim)
{
	for (size_t i = 0; i + 1 < f->n_peers; i++)
		if (strcmp(f->peers[i].text, prim->text) == 0)
			return &f->peers[i];
	return &f->peers[f->n_peers - 1];
}

/* The IPv4 address of sa (an IPv4-mapped IPv6 one included), or 0. */
static int as_v4(const struct sockaddr *sa, struct in_addr *out)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET) {
		*out = ((const struct sockaddr_in *)sa)->sin_addr;
		return 1;
	}
	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memcpy(out, s6->sin6_addr.s6_addr + 12, 4);
		return 1;
	}
	return 0;
}

/* Same host, any port: a NOTIFY leaves from an ephemeral port (and a
 * dual-stack listener sees IPv4 senders as ::ffff:a.b.c.d). */
static bool same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	struct in_addr a4, b4;

	if (as_v4(a, &a4) && as_v4(b, &b4))
		return a4.s_addr == b4.s_addr;
	if (a->sa_family != AF_INET6 || b->sa_family != AF_INET6)
		return false;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

struct fol_peer *fol_skew_peer_from(struct fol *f, const struct sockaddr *sa)
{
	for (size_t i = 0; i + 1 < f->n_peers; i++)
		if (same_host(&f->peers[i].addr.u.sa, sa))
			return &f->peers[i];
	return &f->peers[f->n_peers - 1];
}

enum fol_skew_note fol_skew_note(struct fol *f, struct fol_peer *p, const char *who,
				 int64_t skew, bool badtime, int64_t now)
{
	int64_t s = skew < 0 ? -skew : skew, until;
	uint64_t quiet;
	char more[80] = "";
	uint32_t warn = f->conf->skew_warn;

	atomic_store_explicit(&p->skew, s, memory_order_relaxed);
	atomic_store_explicit(&p->seen, true, memory_order_relaxed);
	/* skew-warn = 0 turns the early warning off; a BADTIME still counts:
	 * it is the alarm come true, and replication from p has stopped. */
	if (!badtime && (warn == 0 || s <= warn))
		return FOL_SKEW_OK;
	atomic_fetch_add_explicit(&p->warnings, 1, memory_order_relaxed);
	/* One thread wins the right to log (the CAS); the others count the
	 * line they did not write, for the next line to mention. */
	until = atomic_load_explicit(&p->quiet_until, memory_order_relaxed);
	if (now < until || !atomic_compare_exchange_strong(&p->quiet_until, &until,
							   now + FOL_SKEW_LOG_EVERY)) {
		atomic_fetch_add_explicit(&p->unlogged, 1, memory_order_relaxed);
		return FOL_SKEW_QUIET;
	}
	quiet = atomic_exchange_explicit(&p->unlogged, 0, memory_order_relaxed);
	if (quiet)
		snprintf(more, sizeof(more), " (%llu more since the last line about it)",
			 (unsigned long long)quiet);
	if (badtime)
		log_warn("clock of %s is %+lld s off ours, beyond the TSIG window (BADTIME: "
			 "transfers and NOTIFYs between us fail): check NTP on both hosts%s", who,
			 (long long)skew, more);
	else
		log_warn("clock of %s is %+lld s off ours (tsig.skew-warn %u s; TSIG fails beyond "
			 "%d s): check NTP on both hosts%s", who, (long long)skew, warn,
			 TSIG_DEFAULT_FUDGE, more);
	return FOL_SKEW_LOGGED;
}
