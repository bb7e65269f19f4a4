/* tools/tbl.h - `gridns blcheck` input parsing, exposed for the unit tests. */
#pragma once
#include <stddef.h>

#define TBL_NAME_MAX 256

enum { TBL_LIST_IP = 1, TBL_LIST_DOMAIN = 2 };

/* One DNSBL from the lists file. */
struct tbl_list {
	char zone[TBL_NAME_MAX];
	int kind; /* TBL_LIST_IP or TBL_LIST_DOMAIN */
};

/* One single target after range expansion. */
struct tbl_target {
	char text[TBL_NAME_MAX]; /* address or domain, as queried */
	int kind;                /* TDNSBL_IP4, TDNSBL_IP6, TDNSBL_DOMAIN */
};

/* Read FILE: one "ZONE [ip|domain]" per line, '#' comments, blank lines.
 * On success *out (caller frees) holds *n >= 1 lists.  Errors are printed
 * as FILE:LINE: reason and returned as GN_EINVAL/GN_EIO/GN_ELIMIT. */
int tbl_parse_lists(const char *path, struct tbl_list **out, size_t *n);

/* Append the target(s) for one argument to out[*n..cap): an address, a
 * domain, or a range of at most 256 addresses.  Returns 0, GN_ERANGE for a
 * range that is too big, GN_ELIMIT when cap is reached, GN_EINVAL. */
int tbl_expand(const char *arg, struct tbl_target *out, size_t cap, size_t *n);
