/* tools/tutil.h - small helpers shared by the operator commands. */
#pragma once
#include <stdio.h>
#include "common/addr.h"

/* Parse a decimal integer in [min, max].  Returns 0 or GN_EINVAL. */
int tutil_int(const char *s, long min, long max, long *out);

/* Parse a DNS server "ADDR:PORT" (port 53 if none) and print a usage-level
 * message naming `opt` on failure.  Returns 0 or GN_EINVAL. */
int tutil_server(const char *opt, const char *text, struct addr *out);

/* Write s as a JSON string literal (quotes, escapes) to f.  Octets outside
 * printable ASCII become \u00XX, so the output is valid JSON whatever s holds. */
void tutil_json_str(FILE *f, const char *s);
