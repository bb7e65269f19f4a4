/* tests/fuzz/fuzz_tprom.c - the Prometheus text parser of `gridns latency`
 * (tools/tprom.h): it reads whatever a metrics endpoint sends.  Parse, then
 * use the result the way the latency command does: names and labels of
 * every sample, sums, label values, and histogram quantiles. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "common/err.h"
#include "tools/tprom.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tprom_set set;
	const char *vals[16];

	memset(&set, 0, sizeof(set));
	int r = tprom_parse((const char *)data, size, &set);
	if (r != 0 && r != GN_ERANGE && r != GN_ENOMEM)
		fz_die("tprom_parse: undocumented result");
	if (r == 0) {
		if (set.errors > set.lines)
			fz_die("more rejected lines than lines");
		for (size_t i = 0; i < set.n; i++) {
			const struct tprom_sample *s = &set.s[i];
			const char *name = tprom_name(&set, s);
			if (!name || (size_t)s->lab0 + s->nlab > set.nl)
				fz_die("sample out of its set");
			(void)strlen(name);
			for (uint16_t k = 0; k < s->nlab; k++) {
				const char *ln = set.buf + set.l[s->lab0 + k].name;
				const char *v = tprom_label(&set, s, ln);
				if (!v)
					fz_die("a sample's own label is not found");
				(void)strlen(v);
			}
			if (i < 4) {
				size_t found = 0;
				(void)tprom_sum(&set, name, NULL, NULL, &found);
				if (found == 0)
					fz_die("tprom_sum misses a sample by its own name");
				(void)tprom_label_values(&set, name, "le", vals, 16);
			}
		}
		/* The families `gridns latency` reads, and whatever the input names. */
		(void)tprom_hist_quantile(&set, "gridns_query_duration_seconds", NULL, NULL, 0.99);
		if (set.n) {
			char fam[256];
			snprintf(fam, sizeof(fam), "%s", tprom_name(&set, &set.s[0]));
			char *b = strstr(fam, "_bucket");
			if (b)
				*b = '\0';
			(void)tprom_hist_quantile(&set, fam, NULL, NULL, 0.5);
			(void)tprom_hist_quantile(&set, fam, "zone", "bl.example.test", 0.99);
		}
	}
	tprom_free(&set);
	return 0;
}
