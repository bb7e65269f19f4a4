/* zonesync/tsig.h - TSIG (RFC 8945): keys, signing and verification of DNS
 * messages on the wire, including multi-message TCP streams (AXFR/IXFR).
 *
 * Implemented directly over OpenSSL's HMAC (EVP_MAC), on raw wire messages:
 * no ldns_pkt round trip, so a 16 KiB transfer message is hashed where it
 * lies, and the exact bytes signed are the bytes sent.
 *
 * Who calls what:
 *   client (follower, NOTIFY sender)      server (publisher, NOTIFY receiver)
 *   tsig_ctx_init(c, key, fudge)
 *   tsig_sign_query(c, q)          ->     tsig_verify_query(tab, c, q)
 *                                         tsig_sign_reply(c, r1), (c, r2) ...
 *   tsig_verify_reply(c, r1), (c, r2) <-
 * The context chains the MACs: the first reply is digested with the
 * request's MAC and all TSIG variables, each later message of the stream
 * with the previous MAC and the timers only (RFC 8945 section 5.3.1).  We
 * sign EVERY message we send and REQUIRE a TSIG on every message we receive
 * (the RFC allows up to 99 unsigned ones in between; accepting them would let
 * an attacker splice records into the unsigned ones).
 *
 * Time: every function takes `now` (unix seconds) so tests pin the clock.
 * A message whose time is further away than the smaller of its own fudge
 * and the context's `fudge` is BADTIME (a peer cannot widen our window); the
 * measured skew (peer time - our time) is left in the context on every
 * verification, good or bad, so the caller can export it and alarm before
 * clocks drift far enough to break replication (users.md section 4: BADTIME
 * once clocks are more than 5 minutes apart).
 *
 * Thread-safety: keys and key tables are read-only after loading and may be
 * shared; a tsig_ctx belongs to one exchange on one thread.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/dname.h"
#include "common/strbuf.h"

#define TSIG_RR_TYPE 250
#define TSIG_CLASS_ANY 255
#define TSIG_SECRET_MAX 256
#define TSIG_MAC_MAX 64            /* SHA-512 */
#define TSIG_DEFAULT_FUDGE 300     /* seconds, RFC 8945 recommendation */

/* TSIG error codes (RFC 8945 section 3, IANA DNS RCODEs). */
#define TSIG_NOERROR 0
#define TSIG_BADSIG 16
#define TSIG_BADKEY 17
#define TSIG_BADTIME 18
#define TSIG_BADTRUNC 22

enum tsig_alg {
	TSIG_ALG_NONE = 0,
	TSIG_HMAC_MD5,
	TSIG_HMAC_SHA1,
	TSIG_HMAC_SHA224,
	TSIG_HMAC_SHA256,
	TSIG_HMAC_SHA384,
	TSIG_HMAC_SHA512,
};

struct tsig_key {
	char name[DNAME_TEXT_MAX];    /* text, lowercase, no trailing dot */
	uint8_t wire[DNAME_MAX];      /* lowercase wire form of the name */
	uint8_t wire_len;
	enum tsig_alg alg;
	uint8_t secret[TSIG_SECRET_MAX];
	size_t secret_len;
};

/* A set of keys, looked up by name.  Owns its array. */
struct tsig_keytab {
	struct tsig_key *v;
	size_t n;
};

/* "hmac-sha256" ... ("hmac-md5" and "hmac-md5.sig-alg.reg.int" both read
 * as MD5); TSIG_ALG_NONE when unknown.  Case-insensitive. */
enum tsig_alg tsig_alg_parse(const char *s);
/* Canonical name as it goes on the wire ("hmac-sha256"); "?" when unknown. */
const char *tsig_alg_name(enum tsig_alg alg);

/* Fill `k` from its parts; the secret is base64.  Returns 0 or GN_EINVAL
 * with a static reason in *why (may be NULL). */
int tsig_key_set(struct tsig_key *k, const char *name, const char *alg, const char *secret_b64,
		 const char **why);
/* One key from text: "name:alg:secret" (ours), "alg:name:secret" (kdig's
 * -y form, recognised by a known algorithm first) or "name:secret"
 * (hmac-sha256).  Returns 0 or GN_EINVAL with *why. */
int tsig_key_parse(const char *spec, struct tsig_key *k, const char **why);

void tsig_keytab_init(struct tsig_keytab *t);
void tsig_keytab_deinit(struct tsig_keytab *t); /* NULL-safe, idempotent */
/* Add a copy of `k`.  GN_EEXIST when a key of that name is there already. */
int tsig_keytab_add(struct tsig_keytab *t, const struct tsig_key *k);
/* Find by text name (trailing dot and case ignored) or by wire name. */
const struct tsig_key *tsig_keytab_find(const struct tsig_keytab *t, const char *name);
const struct tsig_key *tsig_keytab_find_wire(const struct tsig_keytab *t, const uint8_t *wire);

/* Load keys from a libconfig setting (the `keys` list of a config file):
 * each element is either a group { name = "..."; algorithm = "hmac-sha256";
 * secret = "base64"; } or a string in tsig_key_parse form.  Every problem is
 * appended to `errs` as "FILE:LINE: reason"; `fallback` names the file when
 * libconfig does not know it.  Returns 0 or GN_EINVAL / GN_ENOMEM. */
struct config_setting_t;
int tsig_keytab_load(struct tsig_keytab *t, const struct config_setting_t *keys,
		     const char *fallback, struct strbuf *errs);

/* One exchange (a query and its replies). */
struct tsig_ctx {
	const struct tsig_key *key; /* NULL: this exchange is not signed */
	uint16_t fudge;
	uint8_t mac[TSIG_MAC_MAX];  /* the MAC the next message chains from */
	uint16_t mac_len;           /* 0 before the query is signed/verified */
	unsigned n_replies;         /* reply messages signed/verified so far */
	int64_t skew;               /* peer time - our time, last TSIG seen */
	bool skew_seen;             /* skew is meaningful */
	uint16_t error;             /* TSIG error of the last failure, or the
	                             * error code a peer put in its TSIG */
	const char *reason;         /* static text of the last failure */
	/* The request's key and algorithm names as they came (server side),
	 * so an error reply can name an unknown key (RFC 8945 section 5.3.2). */
	uint8_t q_key[DNAME_MAX];
	uint8_t q_alg[DNAME_MAX];
	uint16_t q_id;
};

/* Start an exchange with `key` (NULL for unsigned) and `fudge` (0 =
 * TSIG_DEFAULT_FUDGE). */
void tsig_ctx_init(struct tsig_ctx *c, const struct tsig_key *key, uint16_t fudge);

/* Append a TSIG RR to the query msg[0..*len) (buffer `cap`), bump ARCOUNT,
 * and remember the MAC for the replies.  0, or GN_ERANGE when it does not
 * fit, GN_EINVAL on a malformed message or without key. */
int tsig_sign_query(struct tsig_ctx *c, uint8_t *msg, size_t *len, size_t cap, uint64_t now);

/* Server: verify the TSIG of a received query against `tab`.
 * Returns 0 (signed and valid: c->key is set and replies must be signed
 * with tsig_sign_reply), GN_ENOENT (no TSIG: c->key stays NULL), or
 * GN_EINVAL (malformed or failed: c->error is TSIG_BADKEY / BADSIG /
 * BADTIME / BADTRUNC or 0 for FORMERR, c->reason says why; answer with
 * NOTAUTH and tsig_sign_error).  *tsig_off receives the offset of the TSIG
 * RR (the unsigned message is msg[0..*tsig_off) with ARCOUNT - 1). */
int tsig_verify_query(const struct tsig_keytab *tab, struct tsig_ctx *c, const uint8_t *msg,
		      size_t len, uint64_t now, size_t *tsig_off);

/* Server: sign one reply message of the exchange (the first chains from
 * the query's MAC with all variables, later ones from the previous MAC with
 * the timers).  Returns as tsig_sign_query. */
int tsig_sign_reply(struct tsig_ctx *c, uint8_t *msg, size_t *len, size_t cap, uint64_t now);

/* Server: append the TSIG of an error reply after tsig_verify_query failed:
 * BADTIME replies are signed and carry our time in "other data"; BADKEY,
 * BADSIG and BADTRUNC replies carry an empty MAC (the client cannot check a
 * MAC made with a key we do not share).  The caller sets RCODE NOTAUTH. */
int tsig_sign_error(struct tsig_ctx *c, uint8_t *msg, size_t *len, size_t cap, uint64_t now);

/* Client: verify one reply message of the exchange.  Every message must be
 * signed.  Returns 0, or GN_EINVAL with c->error / c->reason (a reply whose
 * TSIG carries an error from the peer fails with that error).  *tsig_off
 * as in tsig_verify_query (may be NULL). */
int tsig_verify_reply(struct tsig_ctx *c, const uint8_t *msg, size_t len, uint64_t now,
		      size_t *tsig_off);

/* "BADSIG" ... for logs and metric labels; "error" for unknown values. */
const char *tsig_error_name(uint16_t err);

/* Base64 (RFC 4648) decode into out[0..cap); returns length or GN_EINVAL /
 * GN_ERANGE.  Whitespace is skipped.  Exposed for tests and config. */
int tsig_b64_decode(const char *in, uint8_t *out, size_t cap);
