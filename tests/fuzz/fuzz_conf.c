/* tests/fuzz/fuzz_conf.c - the resolver's configuration parser
 * (conf_load_string over the option table, tiers included), and the
 * round trip through --dump-config: whatever loads must dump to text that
 * loads again without error.
 *
 * Inputs containing "@include" are skipped: that is libconfig reading any
 * file the fuzzer names (/dev/zero would hang the run), not our parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "common/strbuf.h"
#include "resolver/conf.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c, again;
	struct strbuf errs, dump;
	char *text = malloc(size + 1);

	if (!text)
		fz_die("malloc");
	memcpy(text, data, size);
	text[size] = '\0';
	if (strstr(text, "@include")) {
		free(text);
		return 0;
	}
	strbuf_init(&errs);
	strbuf_init(&dump);
	if (conf_init(&c) != 0)
		fz_die("conf_init");
	if (conf_load_string(&c, text, "fuzz", &errs) == 0) {
		conf_dump(&c, &dump);
		if (conf_init(&again) != 0)
			fz_die("conf_init");
		strbuf_reset(&errs);
		if (conf_load_string(&again, dump.len ? dump.p : "", "dump", &errs) != 0) {
			fprintf(stderr, "--- dump ---\n%s\n--- errors ---\n%s\n",
				dump.len ? dump.p : "", errs.len ? errs.p : "");
			fz_die("a loaded configuration does not reload from its own dump");
		}
		conf_deinit(&again);
	}
	conf_deinit(&c);
	strbuf_free(&errs);
	strbuf_free(&dump);
	free(text);
	return 0;
}
