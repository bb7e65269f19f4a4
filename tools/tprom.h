/* tools/tprom.h - a Prometheus text-format (0.0.4) parser for `gridns latency`.
 *
 * It reads what other programs send over the network, so it assumes
 * hostile input: every length is bounded (TPROM_LINE_MAX per line,
 * TPROM_LABELS_MAX labels per sample, TPROM_SAMPLES_MAX samples,
 * TPROM_INPUT_MAX octets), a bad line is counted and skipped (never fatal,
 * never a crash), and the parser allocates only the set it returns.
 *
 * Strings (metric names, label names, unescaped label values) live in one
 * private copy of the input, NUL-terminated in place, addressed by offset;
 * they stay valid until tprom_free().
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define TPROM_LINE_MAX    65536
#define TPROM_LABELS_MAX  64
#define TPROM_SAMPLES_MAX 1000000
#define TPROM_INPUT_MAX   (64u << 20)

struct tprom_label {
	uint32_t name;  /* offset of the label name in the set's buffer */
	uint32_t value; /* offset of the unescaped value */
};

struct tprom_sample {
	uint32_t name;  /* offset of the metric name */
	uint32_t lab0;  /* index of its first label in the set's label array */
	uint16_t nlab;  /* number of labels */
	double value;   /* NaN and +-Inf allowed */
};

struct tprom_set {
	char *buf;                  /* private copy of the input */
	struct tprom_sample *s;     /* samples in input order */
	size_t n, cap;
	struct tprom_label *l;      /* all labels, by sample */
	size_t nl, lcap;
	size_t lines;               /* lines read */
	size_t errors;              /* lines rejected */
	size_t first_error;         /* line number of the first rejected line, 0 if none */
};

/* Parse text[0..len).  Returns 0 (rejected lines are counted in errors),
 * GN_ERANGE when len exceeds TPROM_INPUT_MAX, GN_ENOMEM.  Free with
 * tprom_free() whatever the result. */
int tprom_parse(const char *text, size_t len, struct tprom_set *set);
void tprom_free(struct tprom_set *set);

/* Metric name of a sample. */
const char *tprom_name(const struct tprom_set *set, const struct tprom_sample *s);
/* Value of label `name` on sample s, or NULL when it has none. */
const char *tprom_label(const struct tprom_set *set, const struct tprom_sample *s,
			const char *name);

/* Sum of every sample called `name` whose label `lname` equals `lvalue`
 * (lname NULL: every sample of that name).  *found counts the samples. */
double tprom_sum(const struct tprom_set *set, const char *name, const char *lname,
		 const char *lvalue, size_t *found);

/* Distinct values of label `lname` on samples called `name`, in first-seen
 * order, at most max; returns how many.  Pointers live as long as the set. */
size_t tprom_label_values(const struct tprom_set *set, const char *name, const char *lname,
			  const char **out, size_t max);

/* histogram_quantile() as Prometheus computes it, from cumulative buckets:
 * le[] upper bounds (any order; the +Inf bucket required), cum[] counts.
 * Linear interpolation inside the bucket; the +Inf bucket answers the
 * highest finite bound.  NaN when there is no data.  Sorts in place. */
double tprom_quantile(double q, double *le, double *cum, size_t n);

/* Quantile q of histogram `family` (its _bucket series) restricted to
 * label lname=lvalue (NULL: all), summing series that share an le.
 * NaN when absent or empty. */
double tprom_hist_quantile(const struct tprom_set *set, const char *family, const char *lname,
			   const char *lvalue, double q);
