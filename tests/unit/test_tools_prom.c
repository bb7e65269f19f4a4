/* tests/unit/test_tools_prom.c - the Prometheus text parser and the
 * histogram quantile math of `gridns latency` (tools/tprom). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "common/err.h"
#include "tools/tprom.h"

static void parse(const char *text, struct tprom_set *set)
{
	assert_int_equal(tprom_parse(text, strlen(text), set), 0);
}

static void test_basic(void **state)
{
	struct tprom_set set;
	const char *text =
		"# HELP gridns_x A thing.\n"
		"# TYPE gridns_x counter\n"
		"gridns_x 12\n"
		"gridns_y{a=\"1\",b=\"two\"} 3.5 1700000000000\n"
		"  gridns_z{ a = \"q\\\"x\\\\y\\nz\" , } +Inf\r\n"
		"gridns_n NaN\n"
		"gridns_m -Inf\n"
		"gridns_e 1e-3\n"
		"\n"
		"gridns_last{} 7";
	parse(text, &set);
	assert_int_equal(set.errors, 0);
	assert_int_equal(set.n, 7);
	assert_string_equal(tprom_name(&set, &set.s[0]), "gridns_x");
	assert_true(set.s[0].value == 12.0);
	assert_string_equal(tprom_label(&set, &set.s[1], "b"), "two");
	assert_null(tprom_label(&set, &set.s[1], "c"));
	assert_true(set.s[1].value == 3.5);
	assert_string_equal(tprom_label(&set, &set.s[2], "a"), "q\"x\\y\nz");
	assert_true(isinf(set.s[2].value) && set.s[2].value > 0);
	assert_true(isnan(set.s[3].value));
	assert_true(isinf(set.s[4].value) && set.s[4].value < 0);
	assert_true(fabs(set.s[5].value - 0.001) < 1e-12);
	assert_string_equal(tprom_name(&set, &set.s[6]), "gridns_last");
	assert_int_equal(set.s[6].nlab, 0);
	tprom_free(&set);
}

static void test_bad_lines(void **state)
{
	struct tprom_set set;
	const char *text =
		"ok 1\n"
		"1bad 1\n"                     /* name starts with a digit */
		"bad{a=\"1\" 1\n"              /* unterminated label set */
		"bad{a=\"1} 1\n"               /* unterminated value */
		"bad{a=\"\\q\"} 1\n"           /* unknown escape */
		"bad{=\"1\"} 1\n"              /* no label name */
		"bad{a\"1\"} 1\n"              /* no '=' */
		"bad 1 2 3\n"                  /* garbage after the timestamp */
		"bad 1x\n"                     /* bad value */
		"bad\n"                        /* no value */
		"bad{a=\"1\"}1\n"              /* no blank before the value */
		"bad 1 ts\n"                   /* bad timestamp */
		"ok2{x=\"y\"} 2\n";
	parse(text, &set);
	assert_int_equal(set.n, 2);
	assert_int_equal(set.errors, 11);
	assert_int_equal(set.first_error, 2);
	assert_string_equal(tprom_name(&set, &set.s[1]), "ok2");
	/* labels of rejected lines were rolled back */
	assert_int_equal(set.nl, 1);
	assert_string_equal(tprom_label(&set, &set.s[1], "x"), "y");
	tprom_free(&set);
}

static void test_limits(void **state)
{
	struct tprom_set set;
	size_t n = TPROM_LINE_MAX + 100;
	char *big = malloc(n + 64);

	/* An over-long line is rejected, the next one still read. */
	memset(big, 'a', n);
	strcpy(big + n, " 1\nok 2\n");
	parse(big, &set);
	assert_int_equal(set.errors, 1);
	assert_int_equal(set.n, 1);
	tprom_free(&set);
	free(big);

	/* Too many labels */
	char lab[4096] = "m{";
	for (int i = 0; i < TPROM_LABELS_MAX + 1; i++) {
		char one[32];
		snprintf(one, sizeof(one), "l%d=\"v\",", i);
		strcat(lab, one);
	}
	strcat(lab, "} 1\nok 1\n");
	parse(lab, &set);
	assert_int_equal(set.errors, 1);
	assert_int_equal(set.n, 1);
	tprom_free(&set);

	/* Embedded NUL: the line is rejected, not cut short. */
	static const char nul[] = "a{x=\"1\0\"} 1\nok 3\n";
	assert_int_equal(tprom_parse(nul, sizeof(nul) - 1, &set), 0);
	assert_int_equal(set.n, 1);
	assert_int_equal(set.errors, 1);
	tprom_free(&set);

	assert_int_equal(tprom_parse("", (size_t)TPROM_INPUT_MAX + 1, &set), GN_ERANGE);
	tprom_free(&set);
	tprom_free(NULL);
}

/* Random bytes and mutations of a valid exposition: never a crash (run
 * under ASan this is a small fuzzer). */
static void test_hostile(void **state)
{
	static const char seed[] =
		"# TYPE h histogram\nh_bucket{le=\"0.1\",t=\"a\\\"b\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
		"h_count 2\nx{a=\"1\",b=\"2\"} 3 123\n";
	static const char alpha[] = "{}=\",\\ \n\t#aZ_:0123456789.+-eInfNa\r";
	uint32_t rng = 12345;
	char buf[512];

	for (int iter = 0; iter < 20000; iter++) {
		size_t len;
		rng = rng * 1103515245u + 12345u;
		if (iter & 1) {
			len = sizeof(seed) - 1;
			memcpy(buf, seed, len);
			for (int k = 0; k < 4; k++) {
				rng = rng * 1103515245u + 12345u;
				size_t pos = (rng >> 8) % len;
				buf[pos] = alpha[(rng >> 20) % (sizeof(alpha) - 1)];
			}
			rng = rng * 1103515245u + 12345u;
			len = (rng >> 8) % (len + 1);
		} else {
			len = (rng >> 8) % sizeof(buf);
			for (size_t k = 0; k < len; k++) {
				rng = rng * 1103515245u + 12345u;
				buf[k] = (rng >> 24) & 1 ? alpha[(rng >> 8) % (sizeof(alpha) - 1)]
							 : (char)(rng >> 16);
			}
		}
		struct tprom_set set;
		char *copy = malloc(len ? len : 1);
		memcpy(copy, buf, len);
		assert_int_equal(tprom_parse(copy, len, &set), 0);
		for (size_t i = 0; i < set.n; i++) {
			(void)tprom_name(&set, &set.s[i]);
			(void)tprom_label(&set, &set.s[i], "le");
		}
		(void)tprom_hist_quantile(&set, "h", NULL, NULL, 0.5);
		tprom_free(&set);
		free(copy);
	}
}

static void test_quantile_math(void **state)
{
	/* 10 obs <= 0.1, 10 more <= 0.2, 0 more <= 0.4, 0 in +Inf */
	double le[] = { 0.1, 0.2, 0.4, INFINITY };
	double cum[] = { 10, 20, 20, 20 };
	double le2[4], cum2[4];

#define Q(q, want)                                                  \
	do {                                                        \
		memcpy(le2, le, sizeof(le));                        \
		memcpy(cum2, cum, sizeof(cum));                     \
		assert_true(fabs(tprom_quantile(q, le2, cum2, 4) - (want)) < 1e-9); \
	} while (0)
	Q(0.5, 0.1);   /* rank 10 hits the end of bucket 0 */
	Q(0.25, 0.05); /* rank 5: half-way through [0, 0.1] */
	Q(0.75, 0.15); /* rank 15: half-way through (0.1, 0.2] */
	Q(1.0, 0.2);
	Q(0.0, 0.0);
#undef Q
	/* Observations in +Inf answer the highest finite bound. */
	double le3[] = { 0.1, 0.2, INFINITY }, cum3[] = { 1, 2, 100 };
	assert_true(fabs(tprom_quantile(0.99, le3, cum3, 3) - 0.2) < 1e-12);
	/* Unsorted input, and a non-monotonic dip, are fixed up. */
	double le4[] = { INFINITY, 0.2, 0.1 }, cum4[] = { 4, 1, 2 };
	double v = tprom_quantile(0.5, le4, cum4, 3);
	assert_true(fabs(v - 0.1) < 1e-12); /* cum becomes 2, 2, 4: rank 2 at 0.1 */
	/* No +Inf, no data, out-of-range q */
	double le5[] = { 0.1, 0.2 }, cum5[] = { 1, 2 };
	assert_true(isnan(tprom_quantile(0.5, le5, cum5, 2)));
	double le6[] = { 0.1, INFINITY }, cum6[] = { 0, 0 };
	assert_true(isnan(tprom_quantile(0.5, le6, cum6, 2)));
	assert_true(isinf(tprom_quantile(2, le6, cum6, 2)));
	assert_true(isinf(tprom_quantile(-1, le6, cum6, 2)));
	assert_true(isnan(tprom_quantile(NAN, le6, cum6, 2)));
}

static void test_hist_from_text(void **state)
{
	struct tprom_set set;
	/* Two series of the same source (as two exporters or workers would
	 * give) are summed by le; another source is left out. */
	const char *text =
		"lat_bucket{source=\"grid\",w=\"1\",le=\"0.001\"} 50\n"
		"lat_bucket{source=\"grid\",w=\"1\",le=\"0.01\"} 90\n"
		"lat_bucket{source=\"grid\",w=\"1\",le=\"+Inf\"} 100\n"
		"lat_bucket{source=\"grid\",w=\"2\",le=\"0.001\"} 50\n"
		"lat_bucket{source=\"grid\",w=\"2\",le=\"0.01\"} 90\n"
		"lat_bucket{source=\"grid\",w=\"2\",le=\"+Inf\"} 100\n"
		"lat_bucket{source=\"noc\",le=\"0.001\"} 0\n"
		"lat_bucket{source=\"noc\",le=\"0.01\"} 0\n"
		"lat_bucket{source=\"noc\",le=\"+Inf\"} 10\n"
		"lat_count{source=\"grid\",w=\"1\"} 100\n"
		"lat_count{source=\"grid\",w=\"2\"} 100\n"
		"lat_count{source=\"noc\"} 10\n";
	parse(text, &set);
	assert_true(fabs(tprom_hist_quantile(&set, "lat", "source", "grid", 0.5) - 0.001) < 1e-12);
	/* rank 198 of 200: in (0.01, +Inf] -> 0.01 */
	assert_true(fabs(tprom_hist_quantile(&set, "lat", "source", "grid", 0.99) - 0.01) < 1e-12);
	/* rank 126 of 200: 100 below 0.001, 80 in (0.001, 0.01] -> 0.001 + 0.009*26/80 */
	assert_true(fabs(tprom_hist_quantile(&set, "lat", "source", "grid", 0.63) -
			 (0.001 + 0.009 * 26.0 / 80.0)) < 1e-12);
	assert_true(fabs(tprom_hist_quantile(&set, "lat", "source", "noc", 0.5) - 0.01) < 1e-12);
	assert_true(isnan(tprom_hist_quantile(&set, "lat", "source", "none", 0.5)));
	assert_true(isnan(tprom_hist_quantile(&set, "nothing", NULL, NULL, 0.5)));

	size_t found = 0;
	assert_true(tprom_sum(&set, "lat_count", "source", "grid", &found) == 200);
	assert_int_equal(found, 2);
	assert_true(tprom_sum(&set, "lat_count", NULL, NULL, &found) == 210);
	const char *vals[4];
	assert_int_equal(tprom_label_values(&set, "lat_count", "source", vals, 4), 2);
	assert_string_equal(vals[0], "grid");
	assert_string_equal(vals[1], "noc");
	assert_int_equal(tprom_label_values(&set, "lat_count", "source", vals, 1), 1);
	tprom_free(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_quantile_math),
		cmocka_unit_test(test_hist_from_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
