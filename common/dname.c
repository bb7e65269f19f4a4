/* common/dname.c - domain name conversions (wire, key, text). */
#include <string.h>
#include "common/dname.h"
#include "common/err.h"

int dname_from_text(const char *text, size_t len, uint8_t wire[DNAME_MAX])
{
	size_t w = 0, i = 0;

	if (len == 1 && text[0] == '.') {
		wire[0] = 0;
		return 1;
	}
	if (len == 0)
		return GN_EINVAL;
	while (i < len) {
		size_t lab = w++;
		uint8_t n = 0;
		if (w >= DNAME_MAX)
			return GN_EINVAL;
		while (i < len && text[i] != '.') {
			uint8_t c = (uint8_t)text[i++];
			if (c == '\\') {
				if (i >= len)
					return GN_EINVAL;
				if (i + 2 < len && text[i] >= '0' && text[i] <= '9') {
					int v = (text[i] - '0') * 100 + (text[i + 1] - '0') * 10 +
						(text[i + 2] - '0');
					if (v > 255 || text[i + 1] < '0' || text[i + 1] > '9' ||
					    text[i + 2] < '0' || text[i + 2] > '9')
						return GN_EINVAL;
					c = (uint8_t)v;
					i += 3;
				} else {
					c = (uint8_t)text[i++];
				}
			}
			if (n == DNAME_LABEL_MAX || w + 1 >= DNAME_MAX)
				return GN_EINVAL;
			wire[w++] = c;
			n++;
		}
		if (n == 0)
			return GN_EINVAL; /* empty label: ".." or leading dot */
		wire[lab] = n;
		if (i < len)
			i++; /* skip the dot; a trailing dot ends the loop */
	}
	wire[w++] = 0;
	return (int)w;
}

int dname_to_text(const uint8_t *wire, char *buf, size_t cap)
{
	size_t o = 0;
	const uint8_t *p = wire;

	if (cap < 2)
		return GN_ERANGE;
	if (*p == 0) {
		buf[0] = '.';
		buf[1] = 0;
		return 1;
	}
	while (*p) {
		uint8_t n = *p++;
		if (o && o + 1 < cap)
			buf[o++] = '.';
		for (uint8_t k = 0; k < n; k++, p++) {
			uint8_t c = *p;
			if (o + 5 >= cap)
				return GN_ERANGE;
			if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')') {
				buf[o++] = '\\';
				buf[o++] = (char)c;
			} else if (c <= 0x20 || c >= 0x7f) {
				buf[o++] = '\\';
				buf[o++] = (char)('0' + c / 100);
				buf[o++] = (char)('0' + c / 10 % 10);
				buf[o++] = (char)('0' + c % 10);
			} else {
				buf[o++] = (char)c;
			}
		}
	}
	buf[o] = 0;
	return (int)o;
}

int dname_wire_len(const uint8_t *wire)
{
	int n = 0;
	while (wire[n])
		n += wire[n] + 1;
	return n + 1;
}

int dname_labels(const uint8_t *wire)
{
	int n = 0;
	for (; *wire; wire += *wire + 1)
		n++;
	return n;
}

int dname_wire_to_key(const uint8_t *wire, uint8_t key[DNAME_MAX])
{
	const uint8_t *lab[128];
	int nl = 0, k = 0;

	for (const uint8_t *p = wire; *p && nl < 128; p += *p + 1)
		lab[nl++] = p;
	while (nl-- > 0) {
		const uint8_t *p = lab[nl];
		key[k++] = p[0];
		for (int i = 1; i <= p[0]; i++)
			key[k++] = dname_lower(p[i]);
	}
	return k;
}

int dname_key_to_wire(const uint8_t *key, size_t keylen, uint8_t wire[DNAME_MAX])
{
	size_t starts[128], nl = 0, i = 0, w = 0;

	while (i < keylen) {
		if (nl == 128 || key[i] == 0 || key[i] > DNAME_LABEL_MAX || i + 1 + key[i] > keylen)
			return GN_EINVAL;
		starts[nl++] = i;
		i += key[i] + 1u;
	}
	if (keylen + 1 > DNAME_MAX)
		return GN_EINVAL;
	while (nl-- > 0) {
		size_t s = starts[nl];
		memcpy(wire + w, key + s, key[s] + 1u);
		w += key[s] + 1u;
	}
	wire[w++] = 0;
	return (int)w;
}

int dname_text_to_key(const char *text, size_t len, uint8_t key[DNAME_MAX])
{
	uint8_t wire[DNAME_MAX];
	int r = dname_from_text(text, len, wire);
	if (r < 0)
		return r;
	return dname_wire_to_key(wire, key);
}

int dname_key_parent(const uint8_t *key, size_t keylen)
{
	size_t i = 0, last = 0;
	if (keylen == 0)
		return -1;
	while (i < keylen) {
		last = i;
		i += key[i] + 1u;
	}
	return (int)last;
}

int dname_key_labels(const uint8_t *key, size_t keylen)
{
	int n = 0;
	for (size_t i = 0; i < keylen; i += key[i] + 1u)
		n++;
	return n;
}

int dname_wire_equal(const uint8_t *a, const uint8_t *b)
{
	for (;;) {
		if (*a != *b)
			return 0;
		if (*a == 0)
			return 1;
		for (int n = *a; n > 0; n--)
			if (dname_lower(*++a) != dname_lower(*++b))
				return 0;
		a++;
		b++;
	}
}
