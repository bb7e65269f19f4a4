/* tests/fuzz/fuzz_dataset.c - every rbldnsd dataset parser.  The first input
 * octet picks the type (and strict mode), the rest is the dataset file. */
#include <stdint.h>
#include "fuzz_compile.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const types[] = {
	"ip4set", "ip4tset", "ip4trie", "ip6tset", "ip6trie", "dnset", "generic", "combined",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	fz_compile(types[data[0] & 7], data + 1, size - 1, (data[0] & 8) != 0);
	return 0;
}
