/* tests/fuzz/fuzz_compile.h - the body shared by the source-compiler
 * targets: write the input to a file, compile it as one zone of the given
 * dataset type, and when that succeeds emit its transfer form (the path
 * every compiled zone takes to the central database and the followers). */
#pragma once
#include <stdint.h>
#include <stdio.h>
#include "common/err.h"
#include "zonesync/compile.h"
#include "zonesync/xform.h"
#include "zonesync/zimg.h"
#include "fuzz_util.h"

static inline int fz_count_rr(void *arg, const struct xform_rr *rr)
{
	size_t *n = arg;
	if (rr->owner_len == 0 || rr->owner_len > 255)
		fz_die("xform record with an impossible owner length");
	(*n)++;
	return 0;
}

static inline void fz_compile(const char *type, const uint8_t *data, size_t size, bool strict)
{
	char path[128], spec[256];
	const char *sp = spec;
	struct compile_opts o = { .quiet = true, .strict = strict };
	struct zimg *img = NULL;
	size_t n_rr = 0;

	snprintf(path, sizeof(path), "%s/input", fz_scratch());
	fz_write(path, data, size);
	snprintf(spec, sizeof(spec), "fz.example.test:%s:%s", type, path);
	if (compile_zone(&sp, 1, &o, &img) != 0)
		return;
	int r = xform_emit(img, fz_count_rr, &n_rr);
	if (r != 0 && r != GN_ERANGE && r != GN_ENOMEM)
		fz_die("xform_emit: undocumented result");
	zimg_free(img);
}
