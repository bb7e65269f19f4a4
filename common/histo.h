/* common/histo.h - a latency histogram in Prometheus form.
 *
 * Fixed buckets from 50 µs to 5 s (1-2.5-5 steps per decade), plus +Inf,
 * with _sum and _count.  Exposition is always CUMULATIVE, _count always equals
 * the +Inf bucket, and the sum is in seconds: the three things other resolvers'
 * exporters got wrong (users.md §2: non-cumulative buckets, missing _sum and
 * _count, so histogram_quantile() failed).
 *
 * Threading: a `struct histo` has ONE writer thread (a worker records into its
 * own histo).  The writer uses relaxed atomic load + store (no locked
 * instruction on the hot path); any thread may read with histo_add_to() at
 * any time and sum the per-thread histos of one series.  Buckets are stored
 * per interval and made cumulative when rendered, so a reader racing a writer
 * still sees cumulative counts that never decrease between scrapes.
 */
#pragma once
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "common/strbuf.h"

/* Finite upper bounds; bucket HISTO_NB is +Inf. */
#define HISTO_NB 16

/* Upper bounds in nanoseconds (le= values), ascending. */
extern const uint64_t histo_bounds_ns[HISTO_NB];

/* One series written by one thread.  Zero-initialised storage is an empty
 * histogram (static, calloc or memset all work). */
struct histo {
	atomic_uint_fast64_t b[HISTO_NB + 1]; /* per-interval counts; [HISTO_NB] = above 5 s */
	atomic_uint_fast64_t sum_ns;          /* sum of observations, nanoseconds */
};

/* A plain (non-atomic) total that readers fill from one or more histos. */
struct histo_snap {
	uint64_t b[HISTO_NB + 1];
	uint64_t sum_ns;
};

/* Record one observation of `ns` nanoseconds.  Owner thread only. */
void histo_record_ns(struct histo *h, uint64_t ns);

/* Index of the bucket `ns` falls into (0..HISTO_NB). */
unsigned histo_bucket(uint64_t ns);

/* Add the current content of `h` to `acc` (relaxed reads; any thread). */
void histo_add_to(struct histo_snap *acc, const struct histo *h);

/* Total count in a snapshot (= the +Inf bucket). */
uint64_t histo_snap_count(const struct histo_snap *s);

/* Write "# HELP" and "# TYPE <name> histogram" once per metric family. */
void histo_write_header(struct strbuf *out, const char *name, const char *help);

/* Write one series: <name>_bucket{<labels>,le="..."} for every bound and
 * +Inf, then <name>_sum{<labels>} and <name>_count{<labels>}.  `labels` is
 * the inside of the braces without them, e.g. `tier="grid"`, already escaped
 * (see histo_escape_label); NULL or "" for none. */
void histo_write_series(struct strbuf *out, const char *name, const char *labels,
			const struct histo_snap *s);

/* Append `v` to `out` escaped as a Prometheus label value (\\, \", \n). */
void histo_escape_label(struct strbuf *out, const char *v);
