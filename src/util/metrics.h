/*
 * metrics.h - process-wide Prometheus metrics.
 *
 * Modules own their metric objects (usually static) and register each series
 * once at startup with parley_metrics_register_*(); updating a metric is a
 * lock-free atomic operation from any thread. parley_metrics_render() writes
 * the text exposition format (version 0.0.4), grouping series that share a
 * name under one HELP/TYPE header in registration order.
 *
 * Registration and rendering take one mutex; registration is expected at
 * startup, rendering from the event-loop thread on GET /metrics.
 */
#ifndef PARLEY_UTIL_METRICS_H
#define PARLEY_UTIL_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct parley_counter {
	atomic_uint_fast64_t value;
};

struct parley_gauge {
	atomic_int_fast64_t value;
};

/* A gauge with a fractional value (seconds, rates): the double's bits. */
struct parley_gauge_f {
	atomic_uint_fast64_t bits;
};

#define PARLEY_HISTOGRAM_MAX_BUCKETS 16

/* Observations in seconds; bounds ascending, +Inf implied. */
struct parley_histogram {
	const double *bounds;
	size_t nbounds;
	atomic_uint_fast64_t buckets[PARLEY_HISTOGRAM_MAX_BUCKETS]; /* non-cumulative */
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum_ns;
};

/* Latency buckets suited to voice stages: 5 ms .. 10 s. */
extern const double parley_latency_bounds[];
extern const size_t parley_latency_nbounds;

static inline void parley_counter_add(struct parley_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

static inline void parley_gauge_add(struct parley_gauge *g, int64_t n)
{
	atomic_fetch_add_explicit(&g->value, n, memory_order_relaxed);
}

static inline void parley_gauge_set(struct parley_gauge *g, int64_t v)
{
	atomic_store_explicit(&g->value, v, memory_order_relaxed);
}

static inline int64_t parley_gauge_get(struct parley_gauge *g)
{
	return atomic_load_explicit(&g->value, memory_order_relaxed);
}

/* Any thread. */
void parley_gauge_f_set(struct parley_gauge_f *g, double v);
double parley_gauge_f_get(struct parley_gauge_f *g);

/* Sets bounds (borrowed, must outlive the histogram); nbounds < MAX_BUCKETS. */
void parley_histogram_init(struct parley_histogram *h, const double *bounds, size_t nbounds);

/* Any thread. */
void parley_histogram_observe(struct parley_histogram *h, double seconds);

/*
 * Registration. Names follow Prometheus conventions: base units (seconds,
 * bytes) with the unit as suffix, counters end in _total (see
 * docs/protocol.md#metrics; `promtool check metrics` is run on a live
 * /metrics in the tests).
 * name, help, label and label_value are borrowed and must live
 * as long as the process (string literals). label may be NULL for an
 * unlabelled series. The metric object is borrowed likewise. Returns 0 or
 * PARLEY_E_NOMEM.
 */
int parley_metrics_register_counter(const char *name, const char *help, const char *label,
				    const char *label_value, struct parley_counter *c);
int parley_metrics_register_gauge(const char *name, const char *help, const char *label,
				  const char *label_value, struct parley_gauge *g);
int parley_metrics_register_gauge_f(const char *name, const char *help,
				    struct parley_gauge_f *g);
/* The same with a label (label and label_value as above). */
int parley_metrics_register_gauge_f_label(const char *name, const char *help, const char *label,
					  const char *label_value, struct parley_gauge_f *g);
int parley_metrics_register_histogram(const char *name, const char *help,
				      struct parley_histogram *h);
/* A counter with two labels ({label="v",label2="v2"}); as above. */
int parley_metrics_register_counter2(const char *name, const char *help, const char *label,
				     const char *label_value, const char *label2,
				     const char *label2_value, struct parley_counter *c);

/* Forgets every series of metric (for objects that do not live as long as
 * the process: call it before freeing them). Any thread. */
void parley_metrics_unregister(const void *metric);

/*
 * Renders every registered series. Returns a malloc'd NUL-terminated string
 * (caller frees with free()) and its length in *len, or NULL on OOM.
 */
char *parley_metrics_render(size_t *len);

/* Forgets all registrations (for tests and shutdown). */
void parley_metrics_reset(void);

#endif
