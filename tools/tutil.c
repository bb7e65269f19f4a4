/* tools/tutil.c - small helpers shared by the operator commands. */
#include "tools/tutil.h"

#include <errno.h>
#include <stdlib.h>

#include "common/err.h"

int tutil_int(const char *s, long min, long max, long *out)
{
	char *end = NULL;
	long v;

	if (!s || !*s)
		return GN_EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return GN_EINVAL;
	*out = v;
	return 0;
}

int tutil_server(const char *opt, const char *text, struct addr *out)
{
	const char *why = NULL;

	if (addr_parse(text, 53, out, &why) != 0) {
		fprintf(stderr, "gridns: %s %s: %s (use a numeric address such as 127.0.0.1:53 "
				"or [::1]:53)\n", opt, text, why ? why : "bad address");
		return GN_EINVAL;
	}
	return 0;
}

void tutil_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f) /* keep the output valid UTF-8 JSON */
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}
