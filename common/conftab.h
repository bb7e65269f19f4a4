/* common/conftab.h - option tables over libconfig, the reader behind the
 * resolver's, the publisher's and the follower's configuration files.
 *
 * A program lists its scalar options as rows {name, type, bounds, default,
 * offset, help} and keeps its own struct.  This module
 *   - walks a libconfig group against the table (conftab_walk), so that a
 *     key which is no row, no group of rows and none of the program's own
 *     keys is an error: a typo must never silently become a default;
 *   - sets a row from text (conftab_set) and applies the defaults
 *     (conftab_defaults): integers with their range check and strings here,
 *     every other type through the table's `set` hook;
 *   - prints the effective values in libconfig syntax (conftab_dump);
 *   - reads a file or a text and reports what libconfig cannot parse
 *     (conftab_load_file, conftab_load_string).
 * Types live in the program that has them: the three programs word the
 * same type's messages differently, and a test compares every text.
 *
 * Errors are appended to the caller's strbuf, one "WHERE: reason\n" line
 * each, WHERE being "FILE:LINE" (or the origin the caller names, such as
 * "default" or "command line --workers"); nothing stops at the first one.
 * No global state; a table is read-only and may be shared between threads,
 * a struct being filled belongs to one.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/strbuf.h"

struct config_setting_t;
struct config_t;

/* The types this module knows; a program numbers its own from
 * CONFTAB_OWN and handles them in its `set` and `dump` hooks. */
enum conftab_type {
	CONFTAB_INT,   /* int64_t within [min, max], a decimal integer */
	CONFTAB_STR,   /* char *, owned by the struct: the program frees it */
	CONFTAB_OWN,
};

/* One row of an option table. */
struct conftab_opt {
	const char *name;  /* dotted: "udp.rcvbuf" is key rcvbuf of group udp */
	int type;          /* enum conftab_type, or the program's >= CONFTAB_OWN */
	int64_t min, max;  /* bounds of integer types */
	const char *def;   /* default, as a user writes it in the file, so that
	                    * it passes the same parser and checks; NULL: none,
	                    * the member stays as the program left it */
	size_t off;        /* offset of the member in the program's struct */
	const char *help;  /* one line for the docs and the dump; NULL: none */
};

/* A table and the program's hooks for its own types. */
struct conftab {
	const struct conftab_opt *opt;
	size_t n;
	/* Set row `o`'s member of `base` from `text` (type >= CONFTAB_OWN).
	 * `append`: a list option grows instead of being replaced.  Returns 0,
	 * or <0 with a line in `errs`.  NULL when no row has an own type that
	 * conftab_set is asked to set. */
	int (*set)(void *base, const struct conftab_opt *o, const char *text, bool append,
		   const char *where, struct strbuf *errs);
	/* Print row `o`'s value of `base` in libconfig syntax (type >=
	 * CONFTAB_OWN).  NULL when the table is never dumped. */
	void (*dump)(const void *base, const struct conftab_opt *o, struct strbuf *out);
};

/* Returned by conftab_keys.extra for a key that is not the program's. */
enum { CONFTAB_UNKNOWN = 1 };

/* One reading of one file, handed to every hook of the walk. */
struct conftab_read {
	void *dst;             /* what the hooks fill: the program's struct */
	const char *fallback;  /* the file's name where libconfig knows none
	                        * (a text read from memory) */
	struct strbuf *errs;   /* the hooks' messages go here */
};

/* What conftab_walk does with each key it meets.  `where` is the key's
 * "FILE:LINE". */
struct conftab_keys {
	/* A row of the table: read `s` into row `idx`.  0 or <0.  NULL: the
	 * walk only checks the keys, the program reads the values itself. */
	int (*opt)(const struct conftab_read *rd, size_t idx, const struct config_setting_t *s,
		   const char *where);
	/* A key of the top level that is no row: one the program reads by hand
	 * ("tiers", "zones"): 0 or <0 when it is one, CONFTAB_UNKNOWN when not.
	 * NULL: there are none. */
	int (*extra)(const struct conftab_read *rd, const char *name,
		     const struct config_setting_t *s, const char *where);
	/* Report `full` (dotted), a key nobody knows; `not_group`: it names a
	 * group of rows but is no group.  Returns <0. */
	int (*unknown)(const struct conftab_read *rd, const struct config_setting_t *s,
		       const char *where, const char *full, bool not_group);
};

/* Row `name` ("udp.rcvbuf") of `t`: true with its index in *idx. */
bool conftab_find(const struct conftab *t, const char *name, size_t *idx);

/* Walk the keys of `group` (the root, or a group of a list) in file order,
 * descending into the groups of dotted rows.  Returns 0 or the first error
 * a hook returned; every key is visited either way. */
int conftab_walk(const struct conftab *t, const struct config_setting_t *group,
		 const struct conftab_keys *k, const struct conftab_read *rd);

/* Set row `idx` of `base` from `text`, as the file, the command line and
 * the defaults do.  Returns 0, GN_ENOMEM, or GN_EINVAL with a line in
 * `errs`. */
int conftab_set(const struct conftab *t, void *base, size_t idx, const char *text, bool append,
		const char *where, struct strbuf *errs);

/* Apply every row's default to `base` (zeroed by the caller).  Returns 0,
 * GN_ENOMEM, or GN_EINVAL when a default does not pass its own checks,
 * which is a bug in the table. */
int conftab_defaults(const struct conftab *t, void *base);

/* A decimal integer for row `o` within [min, max].  Returns 0 with *out,
 * or GN_EINVAL with "WHERE: NAME: "TEXT" is not an integer" or the range
 * line of conftab_range in `errs`. */
int conftab_int(const struct conftab_opt *o, const char *text, const char *where,
		struct strbuf *errs, int64_t *out);
/* Is `v` within row `o`'s [min, max]?  0, or GN_EINVAL with
 * "WHERE: NAME = V is out of range MIN..MAX" in `errs`. */
int conftab_range(const struct conftab_opt *o, int64_t v, const char *where, struct strbuf *errs);

/* "FILE:LINE" of setting `s` into buf; `fallback` is the file when
 * libconfig knows none.  s == NULL (a default, a missing key): line 0. */
void conftab_where(const struct config_setting_t *s, const char *fallback, char *buf, size_t cap);

/* Append `s` as a libconfig string: quoted, '"' and '\' escaped; NULL is "". */
void conftab_quote(struct strbuf *out, const char *s);

/* Append every row of `base` in libconfig syntax: the help as a comment
 * above each key, dotted rows inside their `group = { ... };`.  Rows of one
 * group must be adjacent in the table. */
void conftab_dump(const struct conftab *t, const void *base, struct strbuf *out);

/* Read the file `path` (or `text`, called `name` in messages) and hand the
 * tree to `use` with the name to report.  A file that cannot be read or
 * parsed is one line in `errs` ("NAME: cannot read the file: ..." or
 * "FILE:LINE: what libconfig says") and GN_EINVAL; otherwise `use`'s
 * return.  The tree is gone when these return. */
typedef int conftab_use_fn(void *arg, struct config_t *cfg, const char *name,
			   struct strbuf *errs);
int conftab_load_file(const char *path, conftab_use_fn *use, void *arg, struct strbuf *errs);
int conftab_load_string(const char *text, const char *name, conftab_use_fn *use, void *arg,
			struct strbuf *errs);
