/* tests/fuzz/fuzz_zone.c - master-file import (compile type "zone", read
 * with ldns).  The whole input is the file. */
#include <stdint.h>
#include "fuzz_compile.h"

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
	fz_compile("zone", data, size, false);
	return 0;
}
