/* tests/unit/test_histo.c - the Prometheus histogram: bucket edges,
 * cumulative exposition, _sum/_count, summing per-thread series. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "common/histo.h"
#include "common/strbuf.h"

static void test_bucket_edges(void **state)
{
	(void)state;
	assert_int_equal(histo_bucket(0), 0);
	assert_int_equal(histo_bucket(50000), 0);      /* le is inclusive */
	assert_int_equal(histo_bucket(50001), 1);
	assert_int_equal(histo_bucket(100000), 1);
	assert_int_equal(histo_bucket(999999), 4);
	assert_int_equal(histo_bucket(1000000), 4);
	assert_int_equal(histo_bucket(5000000000ull), HISTO_NB - 1);
	assert_int_equal(histo_bucket(5000000001ull), HISTO_NB); /* +Inf */
	for (unsigned i = 1; i < HISTO_NB; i++)
		assert_true(histo_bounds_ns[i] > histo_bounds_ns[i - 1]);
	assert_int_equal(histo_bounds_ns[0], 50000);
	assert_int_equal(histo_bounds_ns[HISTO_NB - 1], 5000000000ull);
}

/* Value of the line starting with `prefix` (whole prefix up to the space). */
static double value_of(const char *text, const char *prefix)
{
	const char *p = strstr(text, prefix);
	assert_non_null(p);
	p += strlen(prefix);
	assert_true(*p == ' ');
	return strtod(p + 1, NULL);
}

static void test_cumulative_render(void **state)
{
	struct histo *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct histo_snap s;
	struct strbuf out;
	(void)state;

	histo_record_ns(a, 40000);      /* 40 µs -> le 5e-05 */
	histo_record_ns(a, 3000000);    /* 3 ms -> le 0.005 */
	histo_record_ns(b, 3000000);
	histo_record_ns(b, 7000000000ull); /* 7 s -> +Inf only */
	memset(&s, 0, sizeof(s));
	histo_add_to(&s, a);
	histo_add_to(&s, b);
	assert_int_equal(histo_snap_count(&s), 4);

	strbuf_init(&out);
	histo_write_header(&out, "gridns_x_seconds", "test");
	histo_write_series(&out, "gridns_x_seconds", "tier=\"grid\"", &s);
	assert_int_equal(out.err, 0);
	assert_non_null(strstr(out.p, "# TYPE gridns_x_seconds histogram\n"));
	assert_true(value_of(out.p, "gridns_x_seconds_bucket{tier=\"grid\",le=\"5e-05\"}") == 1);
	assert_true(value_of(out.p, "gridns_x_seconds_bucket{tier=\"grid\",le=\"0.0025\"}") == 1);
	assert_true(value_of(out.p, "gridns_x_seconds_bucket{tier=\"grid\",le=\"0.005\"}") == 3);
	assert_true(value_of(out.p, "gridns_x_seconds_bucket{tier=\"grid\",le=\"5\"}") == 3);
	assert_true(value_of(out.p, "gridns_x_seconds_bucket{tier=\"grid\",le=\"+Inf\"}") == 4);
	assert_true(value_of(out.p, "gridns_x_seconds_count{tier=\"grid\"}") == 4);
	double sum = value_of(out.p, "gridns_x_seconds_sum{tier=\"grid\"}");
	assert_true(sum > 7.00603 && sum < 7.00605);

	/* Monotonic across scrapes: more data never lowers a bucket. */
	strbuf_reset(&out);
	histo_write_series(&out, "gridns_x_seconds", NULL, &s);
	assert_non_null(strstr(out.p, "gridns_x_seconds_bucket{le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(out.p, "gridns_x_seconds_count 4\n"));
	strbuf_free(&out);
	free(a);
	free(b);
}

static void test_escape(void **state)
{
	struct strbuf out;
	(void)state;
	strbuf_init(&out);
	histo_escape_label(&out, "a\"b\\c\nd");
	assert_string_equal(out.p, "a\\\"b\\\\c\\nd");
	strbuf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_edges),
		cmocka_unit_test(test_cumulative_render),
		cmocka_unit_test(test_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
