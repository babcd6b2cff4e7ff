#include "util/ratelimit.h"

void parley_bucket_init(struct parley_bucket *b, double capacity, double rate_per_s,
			int64_t now_ns)
{
	b->capacity = capacity;
	b->rate = rate_per_s;
	b->tokens = capacity;
	b->last_ns = now_ns;
}

static void refill(struct parley_bucket *b, int64_t now_ns)
{
	if (now_ns <= b->last_ns)
		return;
	b->tokens += (double)(now_ns - b->last_ns) / 1e9 * b->rate;
	if (b->tokens > b->capacity)
		b->tokens = b->capacity;
	b->last_ns = now_ns;
}

bool parley_bucket_take(struct parley_bucket *b, double amount, int64_t now_ns)
{
	refill(b, now_ns);
	if (b->tokens < amount)
		return false;
	b->tokens -= amount;
	return true;
}

double parley_bucket_level(struct parley_bucket *b, int64_t now_ns)
{
	refill(b, now_ns);
	return b->tokens;
}

double parley_bucket_wait_s(struct parley_bucket *b, double amount, int64_t now_ns)
{
	refill(b, now_ns);
	if (b->tokens >= amount)
		return 0;
	if (b->rate <= 0 || amount > b->capacity)
		return 1e18;
	return (amount - b->tokens) / b->rate;
}
