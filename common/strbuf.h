/* common/strbuf.h - a growable text buffer (metrics exposition, dumps).
 * Not for the query path.  A failed allocation sets `err` and later appends
 * become no-ops, so callers check once at the end. */
#pragma once
#include <stddef.h>

struct strbuf {
	char *p;     /* NUL-terminated while len > 0 */
	size_t len;
	size_t cap;
	int err;     /* GN_ENOMEM after a failed growth */
};

void strbuf_init(struct strbuf *b);
void strbuf_free(struct strbuf *b);       /* keeps the struct reusable */
void strbuf_reset(struct strbuf *b);      /* len = 0, keeps memory */
void strbuf_add(struct strbuf *b, const char *s, size_t n);
void strbuf_printf(struct strbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
