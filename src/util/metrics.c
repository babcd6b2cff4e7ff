#include "util/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

const double parley_latency_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					 0.5,   1.0,  2.5,   5.0,  10.0 };
const size_t parley_latency_nbounds = sizeof parley_latency_bounds / sizeof parley_latency_bounds[0];

enum series_type { SERIES_COUNTER, SERIES_GAUGE, SERIES_HISTOGRAM, SERIES_GAUGE_F };

struct series {
	const char *name;
	const char *help;
	const char *label;
	const char *label_value;
	const char *label2; /* a second label, or NULL */
	const char *label2_value;
	enum series_type type;
	void *metric;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct series *g_series; /* guarded by g_lock */
static size_t g_nseries, g_cap;

void parley_histogram_init(struct parley_histogram *h, const double *bounds, size_t nbounds)
{
	memset(h, 0, sizeof *h);
	h->bounds = bounds;
	h->nbounds = nbounds < PARLEY_HISTOGRAM_MAX_BUCKETS ? nbounds : PARLEY_HISTOGRAM_MAX_BUCKETS - 1;
}

void parley_histogram_observe(struct parley_histogram *h, double seconds)
{
	size_t i = 0;
	while (i < h->nbounds && seconds > h->bounds[i])
		i++;
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	if (seconds > 0)
		atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)(seconds * 1e9), memory_order_relaxed);
}

void parley_gauge_f_set(struct parley_gauge_f *g, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof bits);
	atomic_store_explicit(&g->bits, bits, memory_order_relaxed);
}

double parley_gauge_f_get(struct parley_gauge_f *g)
{
	uint64_t bits = atomic_load_explicit(&g->bits, memory_order_relaxed);
	double v;
	memcpy(&v, &bits, sizeof v);
	return v;
}

static int add_series(struct series s)
{
	int rc = 0;
	pthread_mutex_lock(&g_lock);
	if (g_nseries == g_cap) {
		size_t cap = g_cap ? g_cap * 2 : 64;
		struct series *n = realloc(g_series, cap * sizeof *n);
		if (!n) {
			rc = PARLEY_E_NOMEM;
			goto out;
		}
		g_series = n;
		g_cap = cap;
	}
	g_series[g_nseries++] = s;
out:
	pthread_mutex_unlock(&g_lock);
	return rc;
}

int parley_metrics_register_counter(const char *name, const char *help, const char *label,
				    const char *label_value, struct parley_counter *c)
{
	return add_series((struct series){ name, help, label, label_value, NULL, NULL, SERIES_COUNTER, c });
}

int parley_metrics_register_gauge(const char *name, const char *help, const char *label,
				  const char *label_value, struct parley_gauge *g)
{
	return add_series((struct series){ name, help, label, label_value, NULL, NULL, SERIES_GAUGE, g });
}

int parley_metrics_register_gauge_f(const char *name, const char *help,
				    struct parley_gauge_f *g)
{
	return add_series((struct series){ name, help, NULL, NULL, NULL, NULL, SERIES_GAUGE_F, g });
}

int parley_metrics_register_gauge_f_label(const char *name, const char *help, const char *label,
					  const char *label_value, struct parley_gauge_f *g)
{
	return add_series((struct series){ name, help, label, label_value, NULL, NULL, SERIES_GAUGE_F, g });
}

int parley_metrics_register_histogram(const char *name, const char *help,
				      struct parley_histogram *h)
{
	return add_series((struct series){ name, help, NULL, NULL, NULL, NULL, SERIES_HISTOGRAM, h });
}

int parley_metrics_register_counter2(const char *name, const char *help, const char *label,
				     const char *label_value, const char *label2,
				     const char *label2_value, struct parley_counter *c)
{
	return add_series((struct series){ name, help, label, label_value, label2, label2_value,
					   SERIES_COUNTER, c });
}

void parley_metrics_unregister(const void *metric)
{
	pthread_mutex_lock(&g_lock);
	size_t kept = 0;
	for (size_t i = 0; i < g_nseries; i++)
		if (g_series[i].metric != metric)
			g_series[kept++] = g_series[i];
	g_nseries = kept;
	pthread_mutex_unlock(&g_lock);
}

void parley_metrics_reset(void)
{
	pthread_mutex_lock(&g_lock);
	free(g_series);
	g_series = NULL;
	g_nseries = g_cap = 0;
	pthread_mutex_unlock(&g_lock);
}

static void render_labels(FILE *f, const struct series *s)
{
	if (s->label && s->label2)
		fprintf(f, "{%s=\"%s\",%s=\"%s\"}", s->label, s->label_value, s->label2,
			s->label2_value);
	else if (s->label)
		fprintf(f, "{%s=\"%s\"}", s->label, s->label_value);
}

static void render_histogram(FILE *f, const struct series *s)
{
	struct parley_histogram *h = s->metric;
	uint64_t cum = 0;
	for (size_t i = 0; i < h->nbounds; i++) {
		cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
		fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", s->name, h->bounds[i],
			(unsigned long long)cum);
	}
	cum += atomic_load_explicit(&h->buckets[h->nbounds], memory_order_relaxed);
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", s->name, (unsigned long long)cum);
	fprintf(f, "%s_sum %.6f\n", s->name,
		(double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9);
	/* _count equals the +Inf bucket by definition; use the same snapshot. */
	fprintf(f, "%s_count %llu\n", s->name, (unsigned long long)cum);
}

char *parley_metrics_render(size_t *len)
{
	static const char *const type_names[] = { "counter", "gauge", "histogram", "gauge" };
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return NULL;

	pthread_mutex_lock(&g_lock);
	for (size_t i = 0; i < g_nseries; i++) {
		const struct series *s = &g_series[i];
		int first = 1;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(g_series[j].name, s->name) == 0) {
				first = 0;
				break;
			}
		}
		if (first) {
			fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help, s->name,
				type_names[s->type]);
			/* Emit every series of this name now, so families stay together. */
			for (size_t j = i; j < g_nseries; j++) {
				const struct series *t = &g_series[j];
				if (strcmp(t->name, s->name) != 0)
					continue;
				switch (t->type) {
				case SERIES_COUNTER:
					fputs(t->name, f);
					render_labels(f, t);
					fprintf(f, " %llu\n",
						(unsigned long long)atomic_load_explicit(
							&((struct parley_counter *)t->metric)->value,
							memory_order_relaxed));
					break;
				case SERIES_GAUGE:
					fputs(t->name, f);
					render_labels(f, t);
					fprintf(f, " %lld\n",
						(long long)atomic_load_explicit(
							&((struct parley_gauge *)t->metric)->value,
							memory_order_relaxed));
					break;
				case SERIES_GAUGE_F:
					fputs(t->name, f);
					render_labels(f, t);
					fprintf(f, " %.9g\n",
						parley_gauge_f_get((struct parley_gauge_f *)t->metric));
					break;
				case SERIES_HISTOGRAM:
					render_histogram(f, t);
					break;
				}
			}
		}
	}
	pthread_mutex_unlock(&g_lock);

	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	if (len)
		*len = size;
	return buf;
}
