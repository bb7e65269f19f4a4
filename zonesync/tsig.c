/* zonesync/tsig.c - TSIG signing and verification on wire messages
 * (RFC 8945), over OpenSSL EVP_MAC "HMAC".  See tsig.h for the model. */
#include <libconfig.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "common/err.h"
#include "zonesync/tsig.h"

#define TSIG_HDR 12

static const struct {
	enum tsig_alg alg;
	const char *name;    /* on the wire and in configs */
	const char *digest;  /* OpenSSL digest name */
	size_t mac_len;
} tsig_algs[] = {
	{ TSIG_HMAC_MD5, "hmac-md5.sig-alg.reg.int", "MD5", 16 },
	{ TSIG_HMAC_SHA1, "hmac-sha1", "SHA1", 20 },
	{ TSIG_HMAC_SHA224, "hmac-sha224", "SHA224", 28 },
	{ TSIG_HMAC_SHA256, "hmac-sha256", "SHA256", 32 },
	{ TSIG_HMAC_SHA384, "hmac-sha384", "SHA384", 48 },
	{ TSIG_HMAC_SHA512, "hmac-sha512", "SHA512", 64 },
};
#define TSIG_N_ALGS (sizeof(tsig_algs) / sizeof(tsig_algs[0]))

enum tsig_alg tsig_alg_parse(const char *s)
{
	if (strcasecmp(s, "hmac-md5") == 0)
		return TSIG_HMAC_MD5;
	for (size_t i = 0; i < TSIG_N_ALGS; i++)
		if (strcasecmp(s, tsig_algs[i].name) == 0)
			return tsig_algs[i].alg;
	return TSIG_ALG_NONE;
}

const char *tsig_alg_name(enum tsig_alg alg)
{
	for (size_t i = 0; i < TSIG_N_ALGS; i++)
		if (tsig_algs[i].alg == alg)
			return tsig_algs[i].name;
	return "?";
}

static size_t tsig_alg_mac_len(enum tsig_alg alg)
{
	for (size_t i = 0; i < TSIG_N_ALGS; i++)
		if (tsig_algs[i].alg == alg)
			return tsig_algs[i].mac_len;
	return 0;
}

const char *tsig_error_name(uint16_t err)
{
	switch (err) {
	case TSIG_NOERROR: return "NOERROR";
	case TSIG_BADSIG: return "BADSIG";
	case TSIG_BADKEY: return "BADKEY";
	case TSIG_BADTIME: return "BADTIME";
	case TSIG_BADTRUNC: return "BADTRUNC";
	}
	return "error";
}

/* ---- keys ------------------------------------------------------------- */

static int b64_val(int c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

int tsig_b64_decode(const char *in, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0, pad = 0;
	size_t n = 0;

	for (; *in; in++) {
		int v;
		if (*in == ' ' || *in == '\t' || *in == '\n' || *in == '\r')
			continue;
		if (*in == '=') {
			pad++;
			continue;
		}
		if (pad || (v = b64_val((unsigned char)*in)) < 0)
			return GN_EINVAL; /* data after padding, or not base64 */
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= cap)
				return GN_ERANGE;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits must be padding bits: 2 or 4 of them, at most 2 '='. */
	if (pad > 2 || bits >= 6)
		return GN_EINVAL;
	return (int)n;
}

int tsig_key_set(struct tsig_key *k, const char *name, const char *alg, const char *secret_b64,
		 const char **why)
{
	int len;

	memset(k, 0, sizeof(*k));
	if (why)
		*why = NULL;
	if ((k->alg = tsig_alg_parse(alg)) == TSIG_ALG_NONE) {
		if (why)
			*why = "unknown algorithm (use hmac-sha256, hmac-sha384, hmac-sha512, "
			       "hmac-sha224, hmac-sha1 or hmac-md5)";
		return GN_EINVAL;
	}
	if ((len = dname_from_text(name, strlen(name), k->wire)) < 0 || len <= 1) {
		if (why)
			*why = "key name is not a domain name";
		return GN_EINVAL;
	}
	k->wire_len = (uint8_t)len;
	for (int i = 0; i < len; i++)
		k->wire[i] = dname_lower(k->wire[i]);
	if (dname_to_text(k->wire, k->name, sizeof(k->name)) < 0) {
		if (why)
			*why = "key name is too long";
		return GN_EINVAL;
	}
	len = tsig_b64_decode(secret_b64, k->secret, sizeof(k->secret));
	if (len <= 0) {
		if (why)
			*why = len == GN_ERANGE ? "secret longer than 256 octets"
						: "secret is not base64 (or empty)";
		return GN_EINVAL;
	}
	k->secret_len = (size_t)len;
	return 0;
}

int tsig_key_parse(const char *spec, struct tsig_key *k, const char **why)
{
	char buf[2048], *a, *b, *c;

	if (strlen(spec) >= sizeof(buf)) {
		if (why)
			*why = "key specification too long";
		return GN_EINVAL;
	}
	strcpy(buf, spec);
	a = buf;
	if (!(b = strchr(a, ':'))) {
		if (why)
			*why = "expected NAME:ALGORITHM:SECRET";
		return GN_EINVAL;
	}
	*b++ = '\0';
	if (!(c = strchr(b, ':')))
		return tsig_key_set(k, a, "hmac-sha256", b, why);
	*c++ = '\0';
	/* kdig's -y writes the algorithm first; a key named like an
	 * algorithm would be odd enough to read it that way. */
	if (tsig_alg_parse(a) != TSIG_ALG_NONE)
		return tsig_key_set(k, b, a, c, why);
	return tsig_key_set(k, a, b, c, why);
}

void tsig_keytab_init(struct tsig_keytab *t)
{
	t->v = NULL;
	t->n = 0;
}

void tsig_keytab_deinit(struct tsig_keytab *t)
{
	if (!t)
		return;
	if (t->v)
		OPENSSL_cleanse(t->v, t->n * sizeof(*t->v)); /* secrets */
	free(t->v);
	tsig_keytab_init(t);
}

const struct tsig_key *tsig_keytab_find_wire(const struct tsig_keytab *t, const uint8_t *wire)
{
	for (size_t i = 0; i < t->n; i++)
		if (dname_wire_equal(t->v[i].wire, wire))
			return &t->v[i];
	return NULL;
}

const struct tsig_key *tsig_keytab_find(const struct tsig_keytab *t, const char *name)
{
	uint8_t wire[DNAME_MAX];

	if (dname_from_text(name, strlen(name), wire) < 0)
		return NULL;
	return tsig_keytab_find_wire(t, wire);
}

int tsig_keytab_add(struct tsig_keytab *t, const struct tsig_key *k)
{
	struct tsig_key *v;

	if (tsig_keytab_find_wire(t, k->wire))
		return GN_EEXIST;
	if (!(v = realloc(t->v, (t->n + 1) * sizeof(*v))))
		return GN_ENOMEM;
	t->v = v;
	v[t->n++] = *k;
	return 0;
}

static void tsig_where(const config_setting_t *s, const char *fallback, char *buf, size_t cap)
{
	const char *file = config_setting_source_file(s);
	snprintf(buf, cap, "%s:%u", file ? file : fallback, config_setting_source_line(s));
}

/* One element of the keys list into `k`; problems go to errs. */
static int tsig_load_one(const config_setting_t *e, const char *where, struct tsig_key *k,
			 struct strbuf *errs)
{
	const char *name = NULL, *alg = "hmac-sha256", *secret = NULL, *why = NULL;
	int ret;

	if (config_setting_type(e) == CONFIG_TYPE_STRING) {
		if ((ret = tsig_key_parse(config_setting_get_string(e), k, &why)) < 0)
			strbuf_printf(errs, "%s: keys: bad key \"NAME:ALGORITHM:SECRET\": %s\n", where,
				      why);
		return ret;
	}
	if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
		strbuf_printf(errs, "%s: keys: each key is a group { name = ...; algorithm = ...; "
			      "secret = ...; } or a string NAME:ALGORITHM:SECRET\n", where);
		return GN_EINVAL;
	}
	for (int i = 0; i < config_setting_length(e); i++) {
		const config_setting_t *f = config_setting_get_elem(e, (unsigned)i);
		const char *fn = config_setting_name(f), *v = config_setting_get_string(f);
		if (!fn)
			continue;
		if (!v) {
			strbuf_printf(errs, "%s: keys: %s must be a string\n", where, fn);
			return GN_EINVAL;
		}
		if (strcmp(fn, "name") == 0)
			name = v;
		else if (strcmp(fn, "algorithm") == 0)
			alg = v;
		else if (strcmp(fn, "secret") == 0)
			secret = v;
		else {
			strbuf_printf(errs, "%s: keys: unknown key field '%s' (name, algorithm, "
				      "secret)\n", where, fn);
			return GN_EINVAL;
		}
	}
	if (!name || !secret) {
		strbuf_printf(errs, "%s: keys: a key needs name and secret\n", where);
		return GN_EINVAL;
	}
	if ((ret = tsig_key_set(k, name, alg, secret, &why)) < 0)
		strbuf_printf(errs, "%s: keys: key %s: %s\n", where, name, why);
	return ret;
}

int tsig_keytab_load(struct tsig_keytab *t, const struct config_setting_t *keys,
		     const char *fallback, struct strbuf *errs)
{
	const config_setting_t *s = (const config_setting_t *)keys;
	char where[512];
	int ret = 0;

	tsig_where(s, fallback, where, sizeof(where));
	if (config_setting_type(s) != CONFIG_TYPE_LIST && config_setting_type(s) != CONFIG_TYPE_ARRAY) {
		strbuf_printf(errs, "%s: keys must be a list: keys = ( { name = ...; ... } );\n", where);
		return GN_EINVAL;
	}
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct tsig_key k;
		int r;

		tsig_where(e, fallback, where, sizeof(where));
		if ((r = tsig_load_one(e, where, &k, errs)) == 0 &&
		    (r = tsig_keytab_add(t, &k)) == GN_EEXIST)
			strbuf_printf(errs, "%s: keys: key %s is defined twice\n", where, k.name);
		OPENSSL_cleanse(&k, sizeof(k));
		if (r < 0 && ret == 0)
			ret = r == GN_ENOMEM ? r : GN_EINVAL;
	}
	return ret;
}

/* ---- wire helpers ----------------------------------------------------- */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint64_t rd48(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 6; i++)
		v = v << 8 | p[i];
	return v;
}
static void wr48(uint8_t *p, uint64_t v)
{
	for (int i = 5; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Read a possibly compressed name at msg[*off] into lowercase wire form;
 * *off moves past it.  Pointer chains are bounded by the message size. */
static int tsig_read_name(const uint8_t *msg, size_t len, size_t *off, uint8_t out[DNAME_MAX])
{
	size_t p = *off, o = 0, hops = 0;
	bool jumped = false;

	for (;;) {
		uint8_t l;
		if (p >= len)
			return GN_EINVAL;
		l = msg[p];
		if ((l & 0xc0) == 0xc0) {
			if (p + 1 >= len || ++hops > 64)
				return GN_EINVAL;
			if (!jumped)
				*off = p + 2;
			jumped = true;
			p = (size_t)((l & 0x3f) << 8 | msg[p + 1]);
			continue;
		}
		if (l & 0xc0)
			return GN_EINVAL;
		if (p + 1 + l > len || o + 1 + l > DNAME_MAX)
			return GN_EINVAL;
		out[o++] = l;
		for (uint8_t i = 0; i < l; i++)
			out[o++] = dname_lower(msg[p + 1 + i]);
		p += 1u + l;
		if (l == 0)
			break;
	}
	if (!jumped)
		*off = p;
	return (int)o;
}

static int tsig_skip_name(const uint8_t *msg, size_t len, size_t *off)
{
	uint8_t tmp[DNAME_MAX];
	return tsig_read_name(msg, len, off, tmp) < 0 ? GN_EINVAL : 0;
}

/* The parsed TSIG RR of a message. */
struct tsig_rr {
	size_t off;             /* where the RR starts */
	uint8_t key[DNAME_MAX]; /* owner, lowercase */
	uint8_t alg[DNAME_MAX]; /* algorithm name, lowercase */
	uint64_t time;
	uint16_t fudge, mac_len, orig_id, error, other_len;
	const uint8_t *mac, *other;
};

/* Find the TSIG RR, which must be the last record of the message.
 * GN_ENOENT when the message has none, GN_EINVAL when malformed. */
static int tsig_find(const uint8_t *msg, size_t len, struct tsig_rr *t)
{
	size_t off = TSIG_HDR, rd, end;
	unsigned qd, rrs;
	uint16_t type, rdlen;
	int n;

	if (len < TSIG_HDR)
		return GN_EINVAL;
	qd = rd16(msg + 4);
	rrs = (unsigned)rd16(msg + 6) + rd16(msg + 8) + rd16(msg + 10);
	if (rd16(msg + 10) == 0)
		return GN_ENOENT;
	for (unsigned i = 0; i < qd; i++) {
		if (tsig_skip_name(msg, len, &off) < 0 || off + 4 > len)
			return GN_EINVAL;
		off += 4;
	}
	for (unsigned i = 0; i + 1 < rrs; i++) {
		if (tsig_skip_name(msg, len, &off) < 0 || off + 10 > len)
			return GN_EINVAL;
		off += 10u + rd16(msg + off + 8);
		if (off > len)
			return GN_EINVAL;
	}
	t->off = off;
	if (tsig_read_name(msg, len, &off, t->key) < 0 || off + 10 > len)
		return GN_EINVAL;
	type = rd16(msg + off);
	rdlen = rd16(msg + off + 8);
	rd = off + 10;
	end = rd + rdlen;
	if (type != TSIG_RR_TYPE)
		return GN_ENOENT;
	if (end != len || rd16(msg + off + 2) != TSIG_CLASS_ANY)
		return GN_EINVAL;
	/* The algorithm name is never compressed (RFC 8945 section 4.2). */
	off = rd;
	if ((n = tsig_read_name(msg, end, &off, t->alg)) < 0 || off + 10 > end)
		return GN_EINVAL;
	t->time = rd48(msg + off);
	t->fudge = rd16(msg + off + 6);
	t->mac_len = rd16(msg + off + 8);
	off += 10;
	if (off + t->mac_len + 6 > end)
		return GN_EINVAL;
	t->mac = msg + off;
	off += t->mac_len;
	t->orig_id = rd16(msg + off);
	t->error = rd16(msg + off + 2);
	t->other_len = rd16(msg + off + 4);
	off += 6;
	if (off + t->other_len != end)
		return GN_EINVAL;
	t->other = msg + off;
	return 0;
}

/* ---- the MAC ---------------------------------------------------------- */

/* What goes into one digest besides the message. */
struct tsig_vars {
	const uint8_t *prior;   /* request MAC or previous MAC, or NULL */
	uint16_t prior_len;
	bool timers_only;       /* later message of a stream */
	const uint8_t *key, *alg; /* lowercase wire names */
	uint64_t time;
	uint16_t fudge, error, other_len;
	const uint8_t *other;
	uint16_t orig_id;
};

static size_t tsig_name_len(const uint8_t *w)
{
	int n = dname_wire_len(w);
	return n > 0 ? (size_t)n : 1;
}

/* HMAC over [prior MAC] + message (with original ID, ARCOUNT as sent
 * without TSIG) + variables.  msg[0..len) excludes the TSIG RR and its
 * ARCOUNT is `arcount`. */
static int tsig_mac(const struct tsig_key *k, const uint8_t *msg, size_t len, uint16_t arcount,
		    const struct tsig_vars *v, uint8_t *out, size_t *out_len)
{
	const char *digest = NULL;
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	uint8_t hdr[TSIG_HDR], buf[2 * DNAME_MAX + 32], *p = buf;
	int ret = GN_ENOMEM;

	for (size_t i = 0; i < TSIG_N_ALGS; i++)
		if (tsig_algs[i].alg == k->alg)
			digest = tsig_algs[i].digest;
	if (!digest || len < TSIG_HDR)
		return GN_EINVAL;
	memcpy(hdr, msg, TSIG_HDR);
	wr16(hdr, v->orig_id);
	wr16(hdr + 10, arcount);
	if (v->timers_only) {
		wr48(p, v->time);
		wr16(p + 6, v->fudge);
		p += 8;
	} else {
		size_t kl = tsig_name_len(v->key), al = tsig_name_len(v->alg);
		memcpy(p, v->key, kl);
		p += kl;
		wr16(p, TSIG_CLASS_ANY);
		memset(p + 2, 0, 4); /* TTL */
		p += 6;
		memcpy(p, v->alg, al);
		p += al;
		wr48(p, v->time);
		wr16(p + 6, v->fudge);
		wr16(p + 8, v->error);
		wr16(p + 10, v->other_len);
		p += 12;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!(mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) || !(ctx = EVP_MAC_CTX_new(mac)))
		goto out;
	ret = GN_EINVAL;
	if (!EVP_MAC_init(ctx, k->secret, k->secret_len, params))
		goto out;
	if (v->prior) {
		uint8_t l[2];
		wr16(l, v->prior_len);
		if (!EVP_MAC_update(ctx, l, 2) || !EVP_MAC_update(ctx, v->prior, v->prior_len))
			goto out;
	}
	if (!EVP_MAC_update(ctx, hdr, TSIG_HDR) ||
	    !EVP_MAC_update(ctx, msg + TSIG_HDR, len - TSIG_HDR) ||
	    !EVP_MAC_update(ctx, buf, (size_t)(p - buf)) ||
	    (!v->timers_only && v->other_len && !EVP_MAC_update(ctx, v->other, v->other_len)) ||
	    !EVP_MAC_final(ctx, out, out_len, TSIG_MAC_MAX))
		goto out;
	ret = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ret;
}

/* Append the TSIG RR built from `v` and `mac` to msg; bump ARCOUNT. */
static int tsig_append(uint8_t *msg, size_t *len, size_t cap, const struct tsig_vars *v,
		       const uint8_t *mac, uint16_t mac_len)
{
	size_t kl = tsig_name_len(v->key), al = tsig_name_len(v->alg);
	size_t rdlen = al + 10 + mac_len + 6 + v->other_len, need = kl + 10 + rdlen;
	uint8_t *p = msg + *len;

	if (*len < TSIG_HDR || rd16(msg + 10) == 0xffff)
		return GN_EINVAL;
	if (*len + need > cap || rdlen > 0xffff)
		return GN_ERANGE;
	memcpy(p, v->key, kl);
	p += kl;
	wr16(p, TSIG_RR_TYPE);
	wr16(p + 2, TSIG_CLASS_ANY);
	memset(p + 4, 0, 4);
	wr16(p + 8, (uint16_t)rdlen);
	p += 10;
	memcpy(p, v->alg, al);
	p += al;
	wr48(p, v->time);
	wr16(p + 6, v->fudge);
	wr16(p + 8, mac_len);
	p += 10;
	if (mac_len)
		memcpy(p, mac, mac_len);
	p += mac_len;
	wr16(p, v->orig_id);
	wr16(p + 2, v->error);
	wr16(p + 4, v->other_len);
	p += 6;
	if (v->other_len)
		memcpy(p, v->other, v->other_len);
	*len += need;
	wr16(msg + 10, (uint16_t)(rd16(msg + 10) + 1));
	return 0;
}

void tsig_ctx_init(struct tsig_ctx *c, const struct tsig_key *key, uint16_t fudge)
{
	memset(c, 0, sizeof(*c));
	c->key = key;
	c->fudge = fudge ? fudge : TSIG_DEFAULT_FUDGE;
}

static int tsig_alg_wire(enum tsig_alg alg, uint8_t out[DNAME_MAX])
{
	const char *n = tsig_alg_name(alg);
	return dname_from_text(n, strlen(n), out);
}

/* Sign msg with c->key: `prior` chaining as the caller decides. */
static int tsig_sign(struct tsig_ctx *c, uint8_t *msg, size_t *len, size_t cap, uint64_t now,
		     bool with_prior, bool timers_only, uint16_t error)
{
	uint8_t alg[DNAME_MAX], mac[TSIG_MAC_MAX], other[6];
	struct tsig_vars v = { 0 };
	size_t mac_len = 0;
	int ret;

	if (!c->key || *len < TSIG_HDR)
		return GN_EINVAL;
	if (tsig_alg_wire(c->key->alg, alg) < 0)
		return GN_EINVAL;
	v.prior = with_prior ? c->mac : NULL;
	v.prior_len = c->mac_len;
	v.timers_only = timers_only;
	v.key = c->key->wire;
	v.alg = alg;
	v.time = now;
	v.fudge = c->fudge;
	v.error = error;
	v.orig_id = rd16(msg);
	if (error == TSIG_BADTIME) {
		/* RFC 8945 section 5.2.3: our time in "other data". */
		wr48(other, now);
		v.other = other;
		v.other_len = 6;
	}
	if ((ret = tsig_mac(c->key, msg, *len, rd16(msg + 10), &v, mac, &mac_len)) < 0)
		return ret;
	if ((ret = tsig_append(msg, len, cap, &v, mac, (uint16_t)mac_len)) < 0)
		return ret;
	memcpy(c->mac, mac, mac_len);
	c->mac_len = (uint16_t)mac_len;
	return 0;
}

int tsig_sign_query(struct tsig_ctx *c, uint8_t *msg, size_t *len, size_t cap, uint64_t now)
{
	int ret = tsig_sign(c, msg, len, cap, now, false, false, 0);
	c->n_replies = 0;
	return ret;
}

int tsig_sign_reply(struct tsig_ctx *c, uint8_t *msg, size_t *len, size_t cap, uint64_t now)
{
	int ret = tsig_sign(c, msg, len, cap, now, true, c->n_replies > 0, 0);
	if (ret == 0)
		c->n_replies++;
	return ret;
}

int tsig_sign_error(struct tsig_ctx *c, uint8_t *msg, size_t *len, size_t cap, uint64_t now)
{
	struct tsig_vars v = { 0 };

	if (c->error == TSIG_BADTIME && c->key)
		return tsig_sign(c, msg, len, cap, now, true, false, TSIG_BADTIME);
	if (!c->q_key[0] && !c->key)
		return GN_EINVAL; /* FORMERR: no TSIG to answer with */
	v.key = c->key ? c->key->wire : c->q_key;
	v.alg = c->q_alg[0] ? c->q_alg : (const uint8_t *)"\0";
	v.time = now;
	v.fudge = c->fudge;
	v.error = c->error;
	v.orig_id = rd16(msg);
	return tsig_append(msg, len, cap, &v, NULL, 0);
}

/* Check a parsed TSIG `t` of msg against c->key, chaining as told. */
static int tsig_check(struct tsig_ctx *c, const uint8_t *msg, const struct tsig_rr *t,
		      uint64_t now, bool with_prior, bool timers_only)
{
	uint8_t alg[DNAME_MAX], mac[TSIG_MAC_MAX];
	struct tsig_vars v = { 0 };
	size_t mac_len = 0, want = tsig_alg_mac_len(c->key->alg);
	int ret;

	c->skew = (int64_t)t->time - (int64_t)now;
	c->skew_seen = true;
	if (tsig_alg_wire(c->key->alg, alg) < 0 || !dname_wire_equal(alg, t->alg) ||
	    !dname_wire_equal(c->key->wire, t->key)) {
		c->error = TSIG_BADKEY;
		c->reason = "key name or algorithm does not match a configured key";
		return GN_EINVAL;
	}
	if (t->mac_len != want) {
		/* Truncated MACs (RFC 8945 section 5.2.2.1) are not accepted:
		 * nobody we talk to needs them, and they weaken the check. */
		c->error = t->mac_len < want ? TSIG_BADTRUNC : TSIG_BADSIG;
		c->reason = "MAC length does not match the algorithm (truncated MAC)";
		return GN_EINVAL;
	}
	v.prior = with_prior ? c->mac : NULL;
	v.prior_len = c->mac_len;
	v.timers_only = timers_only;
	v.key = t->key;
	v.alg = t->alg;
	v.time = t->time;
	v.fudge = t->fudge;
	v.error = t->error;
	v.other_len = t->other_len;
	v.other = t->other;
	v.orig_id = t->orig_id;
	if ((ret = tsig_mac(c->key, msg, t->off, (uint16_t)(rd16(msg + 10) - 1), &v, mac,
			    &mac_len)) < 0) {
		c->error = TSIG_BADSIG;
		c->reason = "cannot compute the MAC";
		return ret;
	}
	if (mac_len != t->mac_len || CRYPTO_memcmp(mac, t->mac, mac_len) != 0) {
		c->error = TSIG_BADSIG;
		c->reason = "MAC does not verify (wrong secret, or the message was altered)";
		return GN_EINVAL;
	}
	/* The MAC is good: from here on it is the one the stream chains from. */
	memcpy(c->mac, t->mac, t->mac_len);
	c->mac_len = t->mac_len;
	/* The window is the narrower of the message's fudge and ours: a peer
	 * must not widen it (a huge fudge would make old messages replayable). */
	if ((uint64_t)(c->skew < 0 ? -c->skew : c->skew) > (t->fudge < c->fudge ? t->fudge : c->fudge)) {
		c->error = TSIG_BADTIME;
		c->reason = "time signed is outside the fudge window (clock skew)";
		return GN_EINVAL;
	}
	return 0;
}

int tsig_verify_query(const struct tsig_keytab *tab, struct tsig_ctx *c, const uint8_t *msg,
		      size_t len, uint64_t now, size_t *tsig_off)
{
	struct tsig_rr t;
	int ret;

	tsig_ctx_init(c, NULL, c->fudge);
	if (len >= 2)
		c->q_id = rd16(msg);
	if ((ret = tsig_find(msg, len, &t)) < 0) {
		c->reason = ret == GN_ENOENT ? "unsigned" : "malformed message or TSIG record";
		return ret;
	}
	if (tsig_off)
		*tsig_off = t.off;
	memcpy(c->q_key, t.key, tsig_name_len(t.key));
	memcpy(c->q_alg, t.alg, tsig_name_len(t.alg));
	if (!(c->key = tsig_keytab_find_wire(tab, t.key))) {
		c->error = TSIG_BADKEY;
		c->reason = "unknown key";
		return GN_EINVAL;
	}
	ret = tsig_check(c, msg, &t, now, false, false);
	if (ret < 0 && c->error != TSIG_BADTIME)
		c->key = NULL; /* the error reply cannot be signed */
	c->n_replies = 0;
	return ret;
}

int tsig_verify_reply(struct tsig_ctx *c, const uint8_t *msg, size_t len, uint64_t now,
		      size_t *tsig_off)
{
	struct tsig_rr t;
	int ret;

	c->error = 0;
	if (!c->key) {
		c->reason = "no key for this exchange";
		return GN_EINVAL;
	}
	if ((ret = tsig_find(msg, len, &t)) < 0) {
		c->reason = ret == GN_ENOENT ? "reply is not signed (every message must be)"
					     : "malformed message or TSIG record";
		return GN_EINVAL;
	}
	if (tsig_off)
		*tsig_off = t.off;
	if (t.error) {
		c->error = t.error;
		c->reason = "the peer rejected our signature";
		c->skew = (int64_t)t.time - (int64_t)now;
		c->skew_seen = true;
		return GN_EINVAL;
	}
	if ((ret = tsig_check(c, msg, &t, now, true, c->n_replies > 0)) < 0)
		return ret;
	c->n_replies++;
	return 0;
}
