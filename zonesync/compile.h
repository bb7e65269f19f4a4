/* zonesync/compile.h - source compilers: rbldnsd dataset files and RFC 1035
 * master files -> struct zimg, with rbldnsd's semantics applied at compile
 * time (see docs/formats.md for every accepted form and each deliberate
 * difference from rbldnsd).
 *
 * A spec is "ZONE:TYPE:FILE[,FILE...]" exactly as on rbldnsd's command line;
 * TYPE is ip4set, ip4tset, ip4trie, ip6tset, ip6trie, dnset, generic,
 * combined, or zone (an RFC 1035 master file, read with ldns).
 *
 * Bad lines are logged as "FILE:LINE: reason", skipped and counted in
 * img->n_errors; with opts.strict the first one fails the call with
 * GN_EPARSE.  Unreadable files, bad specs and a $TIMESTAMP in the future
 * always fail (rbldnsd refuses to load such a zone too).
 *
 * Not thread-safe per call (uses no globals, so separate calls may run on
 * separate threads).
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "zonesync/zimg.h"

#define COMPILE_DEFAULT_TTL 2100 /* rbldnsd's default: 35m */

struct compile_opts {
	bool strict;          /* any bad line is fatal: GN_EPARSE */
	uint32_t default_ttl; /* 0 = rbldnsd's default 35m (2100 s) */
	bool quiet;           /* do not log bad lines (tests) */
};

/* Compile ONE zone from n specs that all name the same zone, in order
 * (rbldnsd: a zone may be given several times with different datasets; the
 * first $SOA / $NS in that order wins).  On success *out is a finished image
 * (zimg_finish called) that the caller frees with zimg_free. */
int compile_zone(const char *const *specs, size_t n, const struct compile_opts *o,
		 struct zimg **out);

/* Group argv-style specs by zone name (keeping command-line order) and
 * compile each group; *out is an array of *n_out images, freed with
 * compile_free_all.  Fails whole on the first zone that fails. */
int compile_specs(const char *const *specs, size_t n, const struct compile_opts *o,
		  struct zimg ***out, size_t *n_out);
void compile_free_all(struct zimg **imgs, size_t n);

/* Parse an rbldnsd time value ("3600", "35m", "1h30m", "2w"; units s m h d w).
 * Returns 0 or GN_EINVAL.  Exposed for the config parsers and tests. */
int compile_parse_time(const char *s, size_t len, uint32_t *out);
