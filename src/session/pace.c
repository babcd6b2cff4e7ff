#include "session/pace.h"

void parley_pace_init(struct parley_pace *p, int64_t now_ns)
{
	parley_bucket_init(&p->bucket, PARLEY_PACE_BURST_S, PARLEY_PACE_SLACK, now_ns);
	p->episode = false;
	p->episode_ns = 0;
	p->episode_dropped_s = 0;
	p->dropped_s = 0;
}

enum parley_pace_verdict parley_pace_admit(struct parley_pace *p, double seconds,
					   int64_t now_ns)
{
	if (parley_bucket_take(&p->bucket, seconds, now_ns)) {
		if (p->episode && parley_bucket_level(&p->bucket, now_ns) >= PARLEY_PACE_RECOVERED_S)
			p->episode = false; /* back to real time for a while: forgiven */
		return PARLEY_PACE_ACCEPT;
	}
	p->dropped_s += seconds;
	if (!p->episode) {
		p->episode = true;
		p->episode_ns = now_ns;
		p->episode_dropped_s = seconds;
		return PARLEY_PACE_DROP_REPORT;
	}
	p->episode_dropped_s += seconds;
	if (p->episode_dropped_s >= PARLEY_PACE_CLOSE_DROPPED_S ||
	    now_ns - p->episode_ns >= (int64_t)(PARLEY_PACE_CLOSE_AFTER_S * 1e9))
		return PARLEY_PACE_DROP_CLOSE;
	return PARLEY_PACE_DROP;
}
