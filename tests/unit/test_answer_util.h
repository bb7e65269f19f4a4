/* tests/unit/test_answer_util.h - a tiny DNS message builder and parser for
 * the answer engine's tests.  Independent of resolver/wire.c on purpose: the
 * engine's output is checked by code that does not share its bugs. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct t_rr {
	char owner[300];
	uint16_t type, klass;
	uint32_t ttl;
	uint16_t rdlen;
	const uint8_t *rdata;   /* into the message */
	size_t rdata_off;
	char text[1200];        /* A: dotted; names: text; TXT: strings joined by | */
	int n_strings;          /* TXT */
};

struct t_msg {
	uint16_t id, flags, qd, an, ns, ar;
	int rcode;              /* header rcode (4 bits) + OPT extension */
	char qname[300];
	uint16_t qtype, qclass;
	struct t_rr rr[128];    /* an, then ns, then ar */
	int n_rr;
	bool has_opt;
	uint16_t opt_udp;
	uint8_t opt_version;
	bool opt_do;
	int ede;                /* -1 none */
};

/* Build a query; returns its length.  edns_udp == 0: no OPT. */
static inline size_t t_query(uint8_t *buf, uint16_t id, const char *name, uint16_t type,
			     uint16_t edns_udp, uint8_t edns_version)
{
	size_t o = 12;
	memset(buf, 0, 12);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = 0x01; /* RD */
	buf[5] = 1;
	if (strcmp(name, ".") != 0) {
		const char *p = name;
		while (*p) {
			const char *dot = strchr(p, '.');
			size_t l = dot ? (size_t)(dot - p) : strlen(p);
			buf[o++] = (uint8_t)l;
			memcpy(buf + o, p, l);
			o += l;
			p += l;
			if (*p == '.')
				p++;
		}
	}
	buf[o++] = 0;
	buf[o++] = (uint8_t)(type >> 8);
	buf[o++] = (uint8_t)type;
	buf[o++] = 0;
	buf[o++] = 1;
	if (edns_udp) {
		buf[11] = 1;
		uint8_t opt[11] = { 0, 0, 41, (uint8_t)(edns_udp >> 8), (uint8_t)edns_udp,
				    0, edns_version, 0, 0, 0, 0 };
		memcpy(buf + o, opt, 11);
		o += 11;
	}
	return o;
}

/* Read a possibly compressed name into text; returns offset after it or 0. */
static inline size_t t_name(const uint8_t *m, size_t len, size_t o, char *out)
{
	size_t end = 0, w = 0;
	int hops = 0;
	out[0] = 0;
	for (;;) {
		if (o >= len)
			return 0;
		uint8_t c = m[o];
		if ((c & 0xc0) == 0xc0) {
			if (o + 1 >= len || ++hops > 64)
				return 0;
			if (!end)
				end = o + 2;
			o = (size_t)(c & 0x3f) << 8 | m[o + 1];
			continue;
		}
		if (c == 0) {
			if (!end)
				end = o + 1;
			break;
		}
		if (o + 1 + c > len || w + c + 2 > 290)
			return 0;
		if (w)
			out[w++] = '.';
		memcpy(out + w, m + o + 1, c);
		w += c;
		o += c + 1u;
	}
	if (!w)
		out[w++] = '.';
	out[w] = 0;
	return end;
}

static inline uint16_t t_u16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t t_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parse a whole response; returns 0 or -1 when malformed. */
static inline int t_parse(const uint8_t *m, size_t len, struct t_msg *r)
{
	size_t o = 12;
	memset(r, 0, sizeof(*r));
	r->ede = -1;
	if (len < 12)
		return -1;
	r->id = t_u16(m);
	r->flags = t_u16(m + 2);
	r->rcode = r->flags & 0xf;
	r->qd = t_u16(m + 4);
	r->an = t_u16(m + 6);
	r->ns = t_u16(m + 8);
	r->ar = t_u16(m + 10);
	if (r->qd > 1)
		return -1;
	if (r->qd) {
		if (!(o = t_name(m, len, o, r->qname)) || o + 4 > len)
			return -1;
		r->qtype = t_u16(m + o);
		r->qclass = t_u16(m + o + 2);
		o += 4;
	}
	for (int i = 0; i < r->an + r->ns + r->ar; i++) {
		struct t_rr *rr;
		if (r->n_rr >= 128)
			return -1;
		rr = &r->rr[r->n_rr++];
		if (!(o = t_name(m, len, o, rr->owner)) || o + 10 > len)
			return -1;
		rr->type = t_u16(m + o);
		rr->klass = t_u16(m + o + 2);
		rr->ttl = t_u32(m + o + 4);
		rr->rdlen = t_u16(m + o + 8);
		o += 10;
		if (o + rr->rdlen > len)
			return -1;
		rr->rdata = m + o;
		rr->rdata_off = o;
		switch (rr->type) {
		case 1:
			if (rr->rdlen != 4)
				return -1;
			snprintf(rr->text, sizeof(rr->text), "%u.%u.%u.%u", rr->rdata[0],
				 rr->rdata[1], rr->rdata[2], rr->rdata[3]);
			break;
		case 2: case 5: case 12:
			/* empty RDATA: damaged data passed through as stored */
			if (rr->rdlen && !t_name(m, len, o, rr->text))
				return -1;
			break;
		case 15: {
			char n[300];
			if (!t_name(m, len, o + 2, n))
				return -1;
			snprintf(rr->text, sizeof(rr->text), "%u %s", t_u16(rr->rdata), n);
			break;
		}
		case 6: {
			char a[300], b[300];
			size_t p = t_name(m, len, o, a);
			if (!p || !(p = t_name(m, len, p, b)) || p + 20 > len)
				return -1;
			snprintf(rr->text, sizeof(rr->text), "%s %s %u %u %u %u %u", a, b,
				 t_u32(m + p), t_u32(m + p + 4), t_u32(m + p + 8),
				 t_u32(m + p + 12), t_u32(m + p + 16));
			break;
		}
		case 16: {
			size_t p = 0, w = 0;
			while (p < rr->rdlen) {
				uint8_t l = rr->rdata[p];
				if (p + 1 + l > rr->rdlen || w + l + 2 >= sizeof(rr->text))
					return -1;
				if (rr->n_strings++)
					rr->text[w++] = '|';
				memcpy(rr->text + w, rr->rdata + p + 1, l);
				w += l;
				p += 1 + l;
			}
			rr->text[w] = 0;
			break;
		}
		case 41:
			r->has_opt = true;
			r->opt_udp = rr->klass;
			r->rcode |= (int)(rr->ttl >> 24) << 4;
			r->opt_version = (uint8_t)(rr->ttl >> 16);
			r->opt_do = (rr->ttl & 0x8000) != 0;
			for (size_t p = 0; p + 4 <= rr->rdlen;) {
				uint16_t code = t_u16(rr->rdata + p), ol = t_u16(rr->rdata + p + 2);
				if (p + 4 + ol > rr->rdlen)
					return -1;
				if (code == 15 && ol >= 2)
					r->ede = t_u16(rr->rdata + p + 4);
				p += 4 + ol;
			}
			break;
		default:
			break;
		}
		o += rr->rdlen;
	}
	return o == len ? 0 : -1;
}

/* Index of the first RR in section sec (0 an, 1 ns, 2 ar) with this type and
 * text, or -1. */
static inline int t_find(const struct t_msg *r, int sec, uint16_t type, const char *text)
{
	int lo = sec == 0 ? 0 : sec == 1 ? r->an : r->an + r->ns;
	int hi = sec == 0 ? r->an : sec == 1 ? r->an + r->ns : r->an + r->ns + r->ar;
	for (int i = lo; i < hi; i++)
		if (r->rr[i].type == type && (!text || strcmp(r->rr[i].text, text) == 0))
			return i;
	return -1;
}
