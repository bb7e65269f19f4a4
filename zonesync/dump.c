/* zonesync/dump.c - stored zone -> master file (see dump.h). */
#include <ldns/ldns.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/dump.h"

struct dctx {
	FILE *out;
	snap_rd *rd;
	const struct snap_zone *z;
	const struct snap_ds *ds;
	const uint8_t *sub;      /* attachment relative key */
	uint8_t sub_len;
	char suffix[2 * DNAME_TEXT_MAX + 8]; /* "sub.zone." */
};

static void dump_txt(FILE *out, const char *t, size_t n)
{
	/* Long templates become several character-strings, as answered. */
	for (size_t o = 0; o == 0 || o < n; o += 255) {
		size_t k = n - o > 255 ? 255 : n - o;
		fputs(o ? " \"" : "\"", out);
		for (size_t i = 0; i < k; i++) {
			unsigned char c = (unsigned char)t[o + i];
			if (c == '"' || c == '\\')
				fprintf(out, "\\%c", c);
			else if (c < 0x20 || c >= 0x7f)
				fprintf(out, "\\%03u", c);
			else
				fputc(c, out);
		}
		fputc('"', out);
		if (n == 0)
			break;
	}
}

static int dump_vals(struct dctx *d, const char *owner, struct snap_valset vs)
{
	struct snap_val v;
	int r;
	while ((r = snap_valset_next(&vs, &v)) == 1) {
		fprintf(d->out, "%s%s\t%u\tIN\tA\t%u.%u.%u.%u\n", owner, d->suffix, d->ds->ttl,
			v.a[0], v.a[1], v.a[2], v.a[3]);
		if (v.has_txt) {
			fprintf(d->out, "%s%s\t%u\tIN\tTXT\t", owner, d->suffix, d->ds->ttl);
			dump_txt(d->out, v.txt, v.txt_len);
			fputc('\n', d->out);
		}
	}
	return r;
}

/* IPv4: split [lo,hi] into CIDR blocks; octet-aligned blocks are wildcards,
 * finer ones are expanded to the next octet boundary. */
static int dump_ip4(struct dctx *d, uint32_t lo, uint32_t hi, struct snap_valset vs)
{
	uint64_t a = lo;
	char owner[64];
	int r = 0;

	while (a <= hi && r >= 0) {
		int p = 32;
		while (p > 0) {
			uint64_t size = 1ULL << (33 - p);
			if ((a & (size - 1)) || a + size - 1 > hi)
				break;
			p--;
		}
		/* block a/p */
		int q = (p + 7) / 8 * 8; /* names at /q */
		uint64_t step = 1ULL << (32 - q), end = a + (1ULL << (32 - p));
		for (uint64_t b = a; b < end && r >= 0; b += step) {
			uint32_t x = (uint32_t)b;
			int n = 0;
			if (q < 32)
				n = snprintf(owner, sizeof(owner), "*");
			for (int o = q / 8; o >= 1; o--)
				n += snprintf(owner + n, sizeof(owner) - (size_t)n, "%s%u",
					      n ? "." : "", (x >> (32 - 8 * o)) & 255);
			snprintf(owner + n, sizeof(owner) - (size_t)n, "%s", n ? "." : "");
			r = dump_vals(d, owner, vs);
		}
		a = end;
	}
	return r;
}

static void ip6_add(uint8_t a[16], int bit_from_msb)
{
	/* a += 2^(127 - bit_from_msb) */
	int byte = bit_from_msb / 8, bit = 7 - bit_from_msb % 8;
	unsigned carry = 1u << bit;
	for (int i = byte; i >= 0 && carry; i--) {
		unsigned s = a[i] + carry;
		a[i] = (uint8_t)s;
		carry = s >> 8;
	}
}

static int ip6_aligned(const uint8_t a[16], int p) /* a has zero bits after p */
{
	for (int b = p; b < 128; b++)
		if (a[b / 8] & (0x80 >> (b % 8)))
			return 0;
	return 1;
}

/* last address of block a/p <= hi ? */
static int ip6_fits(const uint8_t a[16], int p, const uint8_t hi[16])
{
	uint8_t last[16];
	memcpy(last, a, 16);
	for (int b = p; b < 128; b++)
		last[b / 8] |= (uint8_t)(0x80 >> (b % 8));
	return memcmp(last, hi, 16) <= 0;
}

static int dump_ip6(struct dctx *d, const uint8_t lo[16], const uint8_t hi[16],
		    struct snap_valset vs)
{
	uint8_t a[16];
	char owner[80];
	int r = 0, done = 0;

	memcpy(a, lo, 16);
	while (!done && r >= 0) {
		int p = 128;
		while (p > 0 && ip6_aligned(a, p - 1) && ip6_fits(a, p - 1, hi))
			p--;
		int q = (p + 3) / 4 * 4;
		uint8_t b[16];
		memcpy(b, a, 16);
		for (int i = 0; i < (1 << (q - p)) && r >= 0; i++) {
			int n = q < 128 ? snprintf(owner, sizeof(owner), "*") : 0;
			for (int nib = q / 4 - 1; nib >= 0; nib--) {
				unsigned v = (b[nib / 2] >> (nib % 2 ? 0 : 4)) & 15;
				n += snprintf(owner + n, sizeof(owner) - (size_t)n, "%s%x",
					      n ? "." : "", v);
			}
			snprintf(owner + n, sizeof(owner) - (size_t)n, "%s", n ? "." : "");
			r = dump_vals(d, owner, vs);
			if (q > 0)
				ip6_add(b, q - 1);
		}
		/* next block start = a + 2^(128-p); stop when it passes hi */
		uint8_t last[16];
		memcpy(last, a, 16);
		for (int bb = p; bb < 128; bb++)
			last[bb / 8] |= (uint8_t)(0x80 >> (bb % 8));
		if (memcmp(last, hi, 16) >= 0)
			done = 1;
		else {
			memcpy(a, last, 16);
			ip6_add(a, 127);
		}
	}
	return r;
}

/* Relative key -> "a.b." prefix text (empty for the attachment itself). */
static int key_prefix(const uint8_t *key, size_t kl, char *buf, size_t cap)
{
	uint8_t wire[DNAME_MAX];
	int n;
	buf[0] = 0;
	if (kl == 0)
		return 0;
	if (dname_key_to_wire(key, kl, wire) < 0 || (n = dname_to_text(wire, buf, cap - 2)) < 0)
		return GN_EINVAL;
	buf[n++] = '.';
	buf[n] = 0;
	return 0;
}

static int dump_rrset(struct dctx *d, const char *owner, const struct snap_rrset *s)
{
	const uint8_t *p = s->rdata;
	for (uint16_t i = 0; i < s->count; i++) {
		uint8_t wire[4 + 6 + 65535];
		size_t pos = 0;
		ldns_rr *rr = NULL;
		uint16_t rdlen;
		char *txt;
		if (s->end - p < 2 || (size_t)(s->end - p - 2) < (rdlen = (uint16_t)(p[0] << 8 | p[1])))
			return GN_ECORRUPT;
		/* root owner + type/class/ttl/rdlen + rdata: let ldns print it */
		wire[0] = 0;
		wire[1] = (uint8_t)(s->type >> 8); wire[2] = (uint8_t)s->type;
		wire[3] = 0; wire[4] = 1;
		wire[5] = (uint8_t)(s->ttl >> 24); wire[6] = (uint8_t)(s->ttl >> 16);
		wire[7] = (uint8_t)(s->ttl >> 8); wire[8] = (uint8_t)s->ttl;
		memcpy(wire + 9, p, (size_t)rdlen + 2);
		if (ldns_wire2rr(&rr, wire, 11u + rdlen, &pos, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK) {
			fprintf(d->out, "; unprintable %u record at %s%s\n", s->type, owner, d->suffix);
		} else {
			ldns_rdf *rd = NULL;
			txt = NULL;
			fprintf(d->out, "%s%s\t%u\tIN\t", owner, d->suffix, s->ttl);
			{
				char *t = ldns_rr_type2str(s->type);
				fprintf(d->out, "%s\t", t ? t : "?");
				free(t);
			}
			for (size_t k = 0; k < ldns_rr_rd_count(rr); k++) {
				rd = ldns_rr_rdf(rr, k);
				txt = ldns_rdf2str(rd);
				fprintf(d->out, "%s%s", k ? " " : "", txt ? txt : "?");
				free(txt);
			}
			fputc('\n', d->out);
			ldns_rr_free(rr);
		}
		p += 2u + rdlen;
	}
	return 0;
}

static int dump_excl(struct dctx *d, const char *owner)
{
	fprintf(d->out, "%s%s\t%u\tIN\tTYPE%d\t\\# 0\n", owner, d->suffix, d->ds->ttl,
		DUMP_EXCL_TYPE);
	return 0;
}

static int dump_ds(struct dctx *d)
{
	struct snap_ent_it it;
	char pre[DNAME_TEXT_MAX + 4], w[DNAME_TEXT_MAX + 8];
	int r;

	memset(&it, 0, sizeof(it));
	it.dsid = d->ds->dsid;
	it.ix = zimg_index_of(d->ds->type);
	while ((r = snap_ent_next(d->rd, &it)) == 1) {
		switch (it.ix) {
		case ZIX_IP4:
			r = dump_ip4(d, it.ip4_lo, it.ip4_hi, it.vs);
			break;
		case ZIX_IP6:
			r = dump_ip6(d, it.ip6_lo, it.ip6_hi, it.vs);
			break;
		case ZIX_DOM:
			if ((r = key_prefix(it.key, it.keylen, pre, sizeof(pre))) < 0)
				break;
			if (it.has_exact)
				r = it.excl_exact ? dump_excl(d, pre) : dump_vals(d, pre, it.vs);
			if (r >= 0 && it.has_wild) {
				snprintf(w, sizeof(w), "*.%s", pre);
				r = it.excl_wild ? dump_excl(d, w) : dump_vals(d, w, it.vs_wild);
			}
			break;
		case ZIX_RR:
			if ((r = key_prefix(it.key, it.keylen, pre, sizeof(pre))) < 0)
				break;
			r = dump_rrset(d, pre, &it.rrset);
			break;
		}
		if (r < 0)
			return r;
	}
	return r;
}

int dump_zone(snap_rd *rd, const char *name, FILE *out)
{
	uint8_t key[DNAME_MAX];
	char apex[DNAME_TEXT_MAX], sub[DNAME_TEXT_MAX + 4], m[DNAME_TEXT_MAX], rn[DNAME_TEXT_MAX];
	struct snap_zone z;
	struct snap_ds ds;
	struct dctx d = { .out = out, .rd = rd, .z = &z };
	int kl = dname_text_to_key(name, strlen(name), key), r;

	if (kl < 0) {
		log_err("dump: '%s' is not a valid zone name", name);
		return GN_EINVAL;
	}
	if ((r = snap_rd_zone(rd, key, (size_t)kl, &z)) <= 0)
		return r == 0 ? GN_ENOENT : r;
	snprintf(apex, sizeof(apex), "%.*s.", (int)z.name_len, z.name);
	fprintf(out, "; zone %s serial %u, %u dataset(s), from %.*s\n", apex, z.serial, z.n_ds,
		(int)z.source_len, z.source);
	fprintf(out, "$ORIGIN %s\n", apex);
	if (z.has_soa) {
		dname_to_text(z.mname, m, sizeof(m));
		dname_to_text(z.rname, rn, sizeof(rn));
		fprintf(out, "%s\t%u\tIN\tSOA\t%s. %s. %u %u %u %u %u\n", apex, z.soa_ttl, m, rn,
			z.serial, z.refresh, z.retry, z.expire, z.minimum);
	} else {
		fprintf(out, "; no $SOA in the source: not a complete zone for other servers\n");
	}
	for (uint32_t i = 0; i < z.n_ns; i++) {
		const uint8_t *w;
		if (snap_zone_ns(&z, i, &w) == 0 && dname_to_text(w, m, sizeof(m)) >= 0)
			fprintf(out, "%s\t%u\tIN\tNS\t%s.\n", apex, z.ns_ttl, m);
	}
	for (uint32_t i = 0; i < z.n_ds; i++) {
		if ((r = snap_zone_ds(&z, i, &ds)) < 0)
			return r;
		d.ds = &ds;
		fprintf(out, "; dataset %s %.*s\n", zimg_dstype_name(ds.type),
			(int)ds.label_len, ds.label);
		const uint8_t *s = ds.subs;
		for (uint32_t k = 0; k < ds.n_subs; k++, s += *s + 1u) {
			if ((r = key_prefix(s + 1, *s, sub, sizeof(sub))) < 0)
				return r;
			snprintf(d.suffix, sizeof(d.suffix), "%s%s", sub, apex);
			if ((r = dump_ds(&d)) < 0)
				return r;
		}
	}
	return 0;
}
