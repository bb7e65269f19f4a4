/* zonesync/compile_int.h - internals shared by the compile_*.c files.
 * Not part of the module's API: only zonesync/compile*.c include it.
 *
 * Shape of a compile: compile.c reads lines and handles the specials; each
 * dataset type's file parses its data lines into a flat array of entries that
 * reference RAW values (A + TXT exactly as written).  Templates are expanded
 * only when the dataset ends, because rbldnsd binds $n and $= at query time
 * (a variable defined after an entry still applies to it; the first
 * definition wins).  The type's finish step then resolves rbldnsd's rules
 * with one sort and one sweep. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "zonesync/compile.h"
#include "zonesync/zimg.h"

#define CZ_EXCL 0xffffffffu /* entry value: exclusion */

enum cz_txt {
	CZ_TXT_NONE = 0, /* no TXT (":6:", or nothing given and no default) */
	CZ_TXT_TMPL,     /* a template as written */
	CZ_TXT_EQ,       /* "=..." : bypasses the $= base template */
};

/* A value as written in the source, before template expansion. */
struct cz_raw {
	uint8_t a[4];
	uint8_t kind; /* enum cz_txt */
	uint32_t len;
	char *txt;    /* owned by the table */
};

struct cz_rawtab {
	struct cz_raw *v;
	uint32_t n, cap;
	uint32_t *slot; /* hash: index + 1 */
	uint32_t scap;
};

struct cz_ip4ent { uint32_t lo, hi, rv, seq; };
__extension__ typedef unsigned __int128 cz_u128;
struct cz_ip6ent { cz_u128 lo, hi; uint32_t rv, seq; };
struct cz_dnent {
	uint32_t koff;  /* offset of the key in the dataset's key arena */
	uint8_t klen;
	uint8_t wild;   /* 0 exact, 1 wildcard */
	uint32_t rv, seq;
};
struct cz_rrent {
	uint32_t koff;
	uint8_t klen;
	uint16_t type;
	uint32_t ttl;   /* 0: the dataset's $TTL, known only at its end */
	uint32_t roff;  /* rdata in the arena */
	uint16_t rlen;
};

/* Where a sequence number came from, to name file:line after sorting. */
struct cz_src { int64_t seq0; const char *file; };
struct cz_sub { uint8_t key[DNAME_MAX]; uint8_t len; };

/* Template scope: a plain dataset has one; a combined nested dataset falls
 * back to the combined file's common section for $n and $=. */
struct cz_scope {
	char *var[10];
	char *base;    /* $= */
	bool has_ttl;
	uint32_t ttl;  /* last $TTL seen */
	uint32_t maxrange4; /* 0 = unlimited */
};

struct cz_ds {
	enum zimg_dstype type;
	struct zimg_ds *zds;
	struct cz_scope sc;
	const struct cz_scope *parent; /* combined common section or NULL */
	bool has_def;                  /* current file-scope default seen */
	struct cz_raw def;             /* ":A:TXT" line, scope: rest of file */
	bool tset_has;                 /* ip4tset/ip6tset: first default line */
	struct cz_raw tset_def;
	struct cz_rawtab raw;
	struct cz_ip4ent *ip4; size_t n_ip4, cap_ip4;
	struct cz_ip6ent *ip6; size_t n_ip6, cap_ip6;
	struct cz_dnent *dn; size_t n_dn, cap_dn;
	struct cz_rrent *rr; size_t n_rr, cap_rr;
	uint8_t *arena; size_t n_arena, cap_arena;
	struct cz_src *src; size_t n_src, cap_src;
	uint32_t seq;      /* line ordinal inside this dataset */
	bool discard;      /* combined section without subzones */
	char *label;
	size_t n_source;   /* data lines accepted */
	struct cz_sub *subs; size_t n_subs, cap_subs;
};

struct cz_ctx {
	const struct compile_opts *o;
	struct zimg *img;
	const char *file;
	size_t line;
	bool soa_done, ns_done;
	uint32_t default_ttl;
	int fatal;         /* set by a fatal condition ($TIMESTAMP in the future) */
};

/* compile.c */
/* Report a bad line; returns GN_EPARSE when strict (caller aborts), else 0. */
int cz_bad(struct cz_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cz_bad_at(struct cz_ctx *c, const struct cz_ds *d, uint32_t seq, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int cz_grow(void **arr, size_t *cap, size_t need, size_t size);
int cz_arena_put(struct cz_ds *d, const void *p, size_t n, uint32_t *off);
const char *cz_skip_ws(const char *p);

/* compile_special.c */
/* Next blank-separated token: *p advanced, returns its length (0 at end). */
size_t cz_tok(const char **p, const char **tok);
/* An absolute name in a value ($SOA, $NS): trailing dot optional. */
int cz_name_wire(const char *t, size_t n, uint8_t wire[DNAME_MAX]);
/* A "$" line (p just after the '$' or "#$"); sc is the scope it belongs to
 * (d's own, or a combined file's common section when d is NULL). */
int cz_special(struct cz_ctx *c, struct cz_ds *d, struct cz_scope *sc, const char *p);

/* compile_val.c */
/* Parse an rbldnsd A value ("2" = 127.0.0.2, else inet_aton forms). */
int cz_parse_a(const char *s, size_t len, uint8_t a[4]);
/* Parse the value part of an entry line (after the key and blanks) into *out
 * using the current default.  Returns 0 or GN_EINVAL (with *why set). */
int cz_parse_value(struct cz_ds *d, const char *p, struct cz_raw *out, const char **why);
/* Parse a ":A:TXT" default line (p points at the ':'). */
int cz_parse_default(struct cz_ds *d, const char *p, struct cz_raw *out, const char **why);
/* Intern a raw value; returns its index or a negative error. */
int64_t cz_raw_intern(struct cz_rawtab *t, const struct cz_raw *r);
void cz_rawtab_free(struct cz_rawtab *t);
/* Expand raw value i of the dataset into a stored zimg_val (txt malloc'ed). */
int cz_expand(const struct cz_ds *d, const struct cz_raw *r, struct zimg_val *out);
/* Expand every raw value; *vals has d->raw.n entries, free with cz_vals_free. */
int cz_expand_all(const struct cz_ds *d, struct zimg_val **vals);
void cz_vals_free(struct zimg_val *v, uint32_t n);
/* Intern the valset made of raw indexes rv[0..n) (duplicates dropped, order
 * kept).  Returns the valset index or a negative error. */
int64_t cz_valset(struct cz_ds *d, const struct zimg_val *vals, const uint32_t *rv, uint32_t n);

/* compile_ip4.c */
int cz_ip4_line(struct cz_ctx *c, struct cz_ds *d, const char *p, bool excl);
int cz_ip4_finish(struct cz_ctx *c, struct cz_ds *d, const struct zimg_val *vals);
/* compile_ip6.c */
int cz_ip6_line(struct cz_ctx *c, struct cz_ds *d, const char *p, bool excl);
int cz_ip6_finish(struct cz_ctx *c, struct cz_ds *d, const struct zimg_val *vals);
/* compile_dn.c */
int cz_dn_line(struct cz_ctx *c, struct cz_ds *d, const char *p, bool excl);
int cz_dn_finish(struct cz_ctx *c, struct cz_ds *d, const struct zimg_val *vals);
int cz_generic_line(struct cz_ctx *c, struct cz_ds *d, const char *p);
int cz_generic_finish(struct cz_ctx *c, struct cz_ds *d);
/* compile_master.c */
int cz_master_file(struct cz_ctx *c, const char *path);
