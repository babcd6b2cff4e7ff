/* inrate.c - see inrate.h. */
#include "session/inrate.h"

#include <stdio.h>
#include <string.h>

#include "session/internal.h"
#include "util/log.h"
#include "util/metrics.h"

/* Without a decision this long after the first frame, or this long
 * without audio, the inference is given up (the held audio is decoded at
 * the assumed rate). */
#define GIVE_UP_NS 3000000000LL
#define QUIET_NS 300000000LL

static const char *const rate_labels[] = {"8000",  "16000", "22050", "24000",
					  "32000", "44100", "48000", "none"};
#define NLABELS (sizeof rate_labels / sizeof rate_labels[0])
static struct parley_counter m_inferred[NLABELS];

int parley_inrate_register(void)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < NLABELS; i++)
		rc = parley_metrics_register_counter(
			"parley_input_rate_inferred_total",
			"sessions whose undeclared input rate was inferred from frame timestamps, "
			"by rate (none: no trustworthy rate, 48000 kept)",
			"rate", rate_labels[i], &m_inferred[i]);
	return rc;
}

static void conclude_locked(struct parley_session *s, struct parley_inrate_note *note)
{
	s->in.rate_pending = false;
	/* The held audio starts its wait now, not when it arrived. */
	if (parley_ring_len(&s->in.ring)) {
		s->in.waiting_since_ns = parley_now_ns();
		s->in.taken_waiting = 0;
	}
	note->concluded = true;
}

void parley_inrate_feed_locked(struct parley_session *s, int64_t client_ms, size_t n,
			       int64_t now, struct parley_inrate_note *note)
{
	if (!s->in.rate_pending)
		return;
	if (client_ms < 0) {
		note->why = "the frames carry no timestamps";
		conclude_locked(s, note);
		return;
	}
	if (!s->in.rate_first_ns)
		s->in.rate_first_ns = now;
	struct parley_rate_result res;
	enum parley_rate_verdict v =
		parley_rate_infer_add(&s->in.rate_infer, (uint32_t)client_ms, n, &res);
	if (v == PARLEY_RATE_PENDING) {
		if (now - s->in.rate_first_ns < GIVE_UP_NS)
			return;
		res.why = "the frame timestamps did not span a second in time";
		res.estimate = 0;
	}
	note->estimate = res.estimate;
	if (v == PARLEY_RATE_DECIDED) {
		note->rate = res.rate;
		note->old_rate = s->in.rate;
		s->in.rate = res.rate; /* the held audio is at this rate */
	} else {
		note->why = res.why;
	}
	conclude_locked(s, note);
}

void parley_inrate_quiet_locked(struct parley_session *s, int64_t now,
				struct parley_inrate_note *note)
{
	if (s->in.rate_pending && s->in.rate_first_ns && now - s->in.last_ns >= QUIET_NS) {
		note->why = "the audio stopped before a second of it had arrived";
		conclude_locked(s, note);
	}
}

void parley_inrate_report(struct parley_session *s, const struct parley_inrate_note *note)
{
	if (!note->concluded)
		return;
	unsigned long long id = (unsigned long long)s->id;
	if (!note->rate) {
		PARLEY_INFO("session %llu: input rate not inferred (%s%s); keeping 48000 Hz", id,
			    note->why ? note->why : "no reason",
			    note->estimate > 0 ? ", measured" : "");
		if (note->estimate > 0)
			PARLEY_DEBUG("session %llu: measured %.0f samples/s", id, note->estimate);
		parley_counter_add(&m_inferred[NLABELS - 1], 1);
		parley_inbox_schedule(s);
		return;
	}
	char label[16];
	snprintf(label, sizeof label, "%d", note->rate);
	for (size_t i = 0; i + 1 < NLABELS; i++)
		if (!strcmp(label, rate_labels[i]))
			parley_counter_add(&m_inferred[i], 1);
	if (note->rate != note->old_rate) {
		PARLEY_INFO("session %llu: undeclared input rate inferred from frame timestamps: "
			    "%d Hz (measured %.0f), not %d; decoding at %d Hz",
			    id, note->rate, note->estimate, note->old_rate, note->rate);
		s->events->input_rate_inferred(s);
	} else {
		PARLEY_DEBUG("session %llu: input rate confirmed by frame timestamps: %d Hz "
			     "(measured %.0f)", id, note->rate, note->estimate);
	}
	parley_inbox_schedule(s);
}
