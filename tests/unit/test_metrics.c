/* Unit tests: Prometheus rendering (src/util/metrics.c) and readiness
 * (src/util/readiness.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/metrics.h"
#include "util/readiness.h"

static void contains(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("metrics output lacks '%s':\n%s", needle, text);
}

static void renders_families_once(void **state)
{
	static struct parley_counter a, b;
	static struct parley_gauge g;
	parley_metrics_reset();
	parley_metrics_register_counter("t_msgs_total", "messages", "kind", "audio", &a);
	parley_metrics_register_gauge("t_live", "live things", NULL, NULL, &g);
	parley_metrics_register_counter("t_msgs_total", "messages", "kind", "text", &b);
	parley_counter_add(&a, 3);
	parley_counter_add(&b, 1);
	parley_gauge_add(&g, 5);
	parley_gauge_add(&g, -2);

	size_t len;
	char *out = parley_metrics_render(&len);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	contains(out, "# HELP t_msgs_total messages\n# TYPE t_msgs_total counter\n"
		      "t_msgs_total{kind=\"audio\"} 3\nt_msgs_total{kind=\"text\"} 1\n");
	contains(out, "# TYPE t_live gauge\nt_live 3\n");
	/* the family's HELP appears exactly once */
	char *first = strstr(out, "# HELP t_msgs_total");
	assert_null(strstr(first + 1, "# HELP t_msgs_total"));
	free(out);
	parley_metrics_reset();
}

static void histogram_is_cumulative(void **state)
{
	static const double bounds[] = { 0.1, 1.0 };
	static struct parley_histogram h;
	parley_metrics_reset();
	parley_histogram_init(&h, bounds, 2);
	parley_metrics_register_histogram("t_latency_seconds", "latency", &h);
	parley_histogram_observe(&h, 0.05);
	parley_histogram_observe(&h, 0.1); /* le is inclusive */
	parley_histogram_observe(&h, 0.5);
	parley_histogram_observe(&h, 7.0);
	char *out = parley_metrics_render(NULL);
	contains(out, "# TYPE t_latency_seconds histogram\n");
	contains(out, "t_latency_seconds_bucket{le=\"0.1\"} 2\n");
	contains(out, "t_latency_seconds_bucket{le=\"1\"} 3\n");
	contains(out, "t_latency_seconds_bucket{le=\"+Inf\"} 4\n");
	contains(out, "t_latency_seconds_sum 7.650000\n");
	contains(out, "t_latency_seconds_count 4\n");
	free(out);
	parley_metrics_reset();
}

static void fractional_gauge_in_seconds(void **state)
{
	static struct parley_gauge_f g;
	parley_metrics_reset();
	assert_int_equal(parley_metrics_register_gauge_f("t_warmup_seconds", "warm-up", &g), 0);
	parley_gauge_f_set(&g, 0.2125);
	assert_true(parley_gauge_f_get(&g) == 0.2125);
	size_t len = 0;
	char *out = parley_metrics_render(&len);
	assert_non_null(out);
	contains(out, "# HELP t_warmup_seconds warm-up\n# TYPE t_warmup_seconds gauge\n");
	contains(out, "t_warmup_seconds 0.2125\n");
	free(out);
	parley_metrics_reset();
}

static void readiness(void **state)
{
	char why[128];
	parley_readiness_reset();
	assert_true(parley_readiness_check(why, sizeof why)); /* nothing to wait for */
	int a = parley_readiness_add("llm", "warming up");
	int b = parley_readiness_add("pool", NULL);
	assert_false(parley_readiness_check(why, sizeof why));
	assert_string_equal(why, "llm: warming up");
	parley_readiness_set(a, true, NULL);
	assert_false(parley_readiness_check(why, sizeof why));
	assert_string_equal(why, "pool: starting");
	parley_readiness_set(b, true, NULL);
	assert_true(parley_readiness_check(NULL, 0));
	parley_readiness_set(a, false, "backend down");
	assert_false(parley_readiness_check(why, sizeof why));
	assert_string_equal(why, "llm: backend down");
	parley_readiness_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(renders_families_once),
		cmocka_unit_test(histogram_is_cumulative),
		cmocka_unit_test(fractional_gauge_in_seconds),
		cmocka_unit_test(readiness),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
