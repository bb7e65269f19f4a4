/* zonesync/pub_acl.c - who may read a zone from the publisher.
 *
 * A request for zone Z is allowed when BOTH hold:
 *  - the client address is in Z's `allow` networks (when Z lists any), and
 *  - when Z lists `keys`, the request carries a valid TSIG made with one of
 *    them.  A request signed with a key we know but Z does not list is
 *    refused too (a key is a grant for named zones, not a pass for all).
 * A request with a TSIG that fails (unknown key, bad MAC, clock skew) gets
 * NOTAUTH with the TSIG error, as RFC 8945 asks, whatever Z's rules are: a
 * client that signs expects its signature to be checked.  Each refusal is
 * logged with peer, zone, key and reason, and counted by reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/pub_int.h"

static enum pub_deny pub_deny_of_tsig(const struct tsig_ctx *t)
{
	switch (t->error) {
	case TSIG_BADSIG: return PUB_D_BADSIG;
	case TSIG_BADKEY: return PUB_D_BADKEY;
	case TSIG_BADTIME: return PUB_D_BADTIME;
	case TSIG_BADTRUNC: return PUB_D_BADTRUNC;
	}
	return PUB_D_FORMERR;
}

#define PUB_DENY_LOG_PER_SEC 20

static void pub_deny(struct pub *p, struct pub_zone *z, enum pub_deny d, const char *peer,
		     const char *keyname, const char *reason)
{
	int64_t now = (int64_t)time(NULL);

	atomic_fetch_add_explicit(&z->denied[d], 1, memory_order_relaxed);
	if (now != p->deny_sec) {
		if (p->deny_dropped)
			log_warn("publisher: %u more refusal(s) not logged (more than %d a second; "
				 "see gridns_publisher_denied_total)", p->deny_dropped,
				 PUB_DENY_LOG_PER_SEC);
		p->deny_sec = now;
		p->deny_logged = p->deny_dropped = 0;
	}
	if (p->deny_logged >= PUB_DENY_LOG_PER_SEC) {
		p->deny_dropped++;
		return;
	}
	p->deny_logged++;
	log_warn("publisher: refused %s for zone %s (key %s): %s", peer, z->zc->name,
		 keyname && *keyname ? keyname : "none", reason);
}

/* Track the clock skew of good signatures: a drift that grows is an alarm
 * long before it becomes BADTIME and stops replication. */
static void pub_skew(struct pub *p, const struct tsig_ctx *t, const char *peer)
{
	int64_t s = t->skew < 0 ? -t->skew : t->skew, cur;

	if (!t->skew_seen)
		return;
	cur = atomic_load_explicit(&p->skew_max, memory_order_relaxed);
	while (s > cur && !atomic_compare_exchange_weak(&p->skew_max, &cur, s))
		;
	if (p->conf->skew_warn > 0 && s > p->conf->skew_warn) {
		atomic_fetch_add_explicit(&p->skew_warned, 1, memory_order_relaxed);
		log_warn("publisher: clock of %s is %+lld s off ours (TSIG fails beyond %lld s): "
			 "check NTP on both hosts", peer, (long long)t->skew,
			 (long long)p->conf->tsig_fudge);
	}
}

int pub_acl_check(struct pub *p, struct pub_zone *z, const struct sockaddr *peer,
		  const char *peer_text, const uint8_t *msg, size_t len, struct tsig_ctx *t,
		  enum pub_kind kind)
{
	const struct pub_zone_conf *zc = z->zc;
	char keyname[DNAME_TEXT_MAX] = "";
	int r;

	r = tsig_verify_query(&p->conf->keys, t, msg, len, (uint64_t)time(NULL), NULL);
	if (t->q_key[0])
		dname_to_text(t->q_key, keyname, sizeof(keyname));
	if (r == GN_EINVAL) {
		enum pub_deny d = pub_deny_of_tsig(t);
		char why[256];
		atomic_fetch_add_explicit(&p->tsig_fail[d], 1, memory_order_relaxed);
		if (t->error == TSIG_BADTIME)
			snprintf(why, sizeof(why), "TSIG %s: %s (peer clock %+lld s off ours)",
				 tsig_error_name(t->error), t->reason, (long long)t->skew);
		else
			snprintf(why, sizeof(why), "TSIG %s: %s",
				 t->error ? tsig_error_name(t->error) : "FORMERR", t->reason);
		pub_deny(p, z, d, peer_text, keyname, why);
		pub_count_xfr(z, kind, PUB_R_NOTAUTH, 0);
		return t->error ? PUB_RC_NOTAUTH : PUB_RC_FORMERR;
	}
	if (r == 0)
		pub_skew(p, t, peer_text);
	if (zc->n_allow && !netacl_match(zc->allow, zc->n_allow, peer)) {
		pub_deny(p, z, PUB_D_NETWORK, peer_text, keyname, "client address not in allow");
		goto refused;
	}
	if (zc->n_keys) {
		bool ok = false;
		if (!t->key) {
			pub_deny(p, z, PUB_D_UNSIGNED, peer_text, keyname,
				 "request not signed: this zone requires TSIG");
			goto refused;
		}
		for (size_t i = 0; i < zc->n_keys; i++)
			ok = ok || zc->keys[i] == t->key;
		if (!ok) {
			pub_deny(p, z, PUB_D_KEY, peer_text, keyname,
				 "key is valid but not listed in the zone's keys");
			goto refused;
		}
	}
	return PUB_RC_NOERROR;
refused:
	pub_count_xfr(z, kind, PUB_R_REFUSED, 0);
	return PUB_RC_REFUSED;
}
