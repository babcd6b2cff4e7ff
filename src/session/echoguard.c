/*
 * echoguard.c - the echo guard (echoguard.h): the reference on the
 * client's playback clock, the microphone on the arrival clock, the delay
 * between them measured from their envelopes, the canceller and the gate.
 */
#include "session/echoguard.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio/aec.h"
#include "audio/resample.h"
#include "audio/vad.h"

#define RATE PARLEY_VAD_RATE
#define FRAME PARLEY_VAD_FRAME
#define NS_PER_SAMPLE (1000000000 / RATE) /* 62500 */
#define REF_START_S 10       /* the reference ring at first, */
#define REF_MAX_S 120        /* and grown up to this: an answer's audio is sent ahead of
				playback, all of it when synthesis is quick */
#define REF_KEEP_MS 2000     /* kept behind what is playing: the echo's reach */
#define NSEG 64              /* playback segments remembered */
#define MAX_LAG_MS 1000      /* the delay searched: buffers, network, room */
#define TAIL_MS 250          /* the room's reverberation */
#define TAIL_FALL_DB 40.0    /* what the canceller leaves of the tail falls this much over
				TAIL_MS (the room's falls 60 dB, but the filter learns the
				tail last) */
#define AEC_TAIL_MS 260      /* the canceller's filter ... */
#define AEC_PRE_MS 40        /* ... starting this long before the measured delay */
#define BLOCK 64             /* envelope block: 4 ms */
#define BLOCK_MS 4
#define ENV_HZ 30.0          /* the envelopes' low-pass */
#define ENV_N 1024           /* envelope blocks kept: 4 s (> CORR_BLOCKS + MAX_LAG_BLOCKS) */
#define CORR_BLOCKS 500      /* correlated: 2 s */
#define MAX_LAG_BLOCKS (MAX_LAG_MS / BLOCK_MS)
#define MEASURE_EVERY 25     /* frames between delay measurements: 0.5 s */
#define START_REPORT_MS 1000 /* a tts_start this soon after a segment began is its start */
#define CLOCK_SLIP_MS 5      /* the microphone's clock moves while echo is heard */
#define MOVE_MS 40           /* a delay this far from the one in use moves it */
#define AGREE_MS 16          /* two measurements this close agree */
#define REMEASURE_ABOVE_DB -15.0 /* a residual ratio above this: measure the delay again */
#define MOVE_CORR 0.5         /* a new delay needs a peak this high, */
#define MOVE_BETTER 0.15      /* this much above the delay in use */
#define MIN_CORR 0.3         /* a peak below this measures nothing */
#define REF_AUDIBLE 100.0    /* reference level (int16 rms, or mean |x|) that can make an
				audible echo: about -50 dBFS */
#define FLOOR_START_DB -70.0
#define GATE_FLOOR_DB -90.0  /* quietest a gated frame is made */
#define RATIO_START_DB -20.0 /* before any measurement: as after a restart */
#define RATIO_UP 0.3         /* the tracked ratio follows louder frames, at most ... */
#define RATIO_UP_MAX_DB 6.0  /* ... this far at once (speech does not drag it up) */
#define RESTART_RATIO_DB -20.0 /* the ratio assumed when playback restarts */
#define RESTART_GAP_MS 300   /* after a pause this long */
#define RATIO_CREEP_DB 0.1   /* per frame, on frames above the gate */
#define RATIO_DOWN 0.03      /* and quieter ones, at most ... */
#define RATIO_DOWN_MAX_DB 10.0
#define DELAY_SLACK_MS 20    /* the measured delay's uncertainty */

/* Reference sample `at` (counted in ref_written) starts playing at t_ns;
 * the next ones follow at real time until the next segment's `at`. */
struct seg {
	uint64_t at;
	int64_t t_ns;
	bool restart; /* playback had stopped (RESTART_GAP_MS) */
};

struct parley_echoguard {
	atomic_bool on;
	pthread_mutex_t lock; /* guards the reference side, down to `play_end_ns` */
	int16_t *ref;         /* ref_cap samples, NULL until the first audio */
	size_t ref_cap;
	uint64_t ref_written;
	struct seg segs[NSEG]; /* oldest first from seg_head */
	size_t seg_head, nseg;
	int64_t play_end_ns;   /* when the reference written so far ends playing */
	struct parley_resampler *rs; /* to 16 kHz */
	int rs_rate;

	/* the listen strand only */
	bool have_clock;
	int64_t mic_zero_ns;   /* arrival time of 16 kHz sample 0 */
	bool active;           /* the last frame was worked on */
	uint64_t seg_seen;     /* the segment whose start was last seen playing */
	uint64_t framed;       /* 16 kHz samples given to frame() */
	struct parley_aec *aec;
	int delay_ms;          /* -1: not measured */
	int candidate_ms;      /* a measurement that differs, waiting for a second */
	float env_mic[ENV_N], env_ref[ENV_N]; /* envelopes per block, ring */
	float ms_ref[ENV_N];   /* the reference's mean square per block (unfiltered), ring */
	double lp_mic[2], lp_ref[2]; /* the envelopes' filters */
	uint64_t nenv;         /* blocks ever pushed */
	int since_measure;
	double ratio_db;       /* residual / loudest reference that can echo, tracked */
	double floor_db;       /* the microphone's noise floor */
	double last_echo_ms;
	uint64_t frames, gated;
	double cpu_ms;
};

struct parley_echoguard *parley_echoguard_create(void)
{
	struct parley_echoguard *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	atomic_init(&g->on, false);
	pthread_mutex_init(&g->lock, NULL);
	g->delay_ms = -1;
	g->candidate_ms = -1;
	g->ratio_db = RATIO_START_DB;
	g->floor_db = FLOOR_START_DB;
	g->last_echo_ms = -1;
	return g;
}

void parley_echoguard_destroy(struct parley_echoguard *g)
{
	if (!g)
		return;
	parley_aec_destroy(g->aec);
	parley_resampler_destroy(g->rs);
	free(g->ref);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

void parley_echoguard_set_on(struct parley_echoguard *g, bool on)
{
	if (atomic_exchange(&g->on, on) == on || on)
		return;
	pthread_mutex_lock(&g->lock); /* off: the reference goes */
	g->nseg = 0;
	g->play_end_ns = 0;
	pthread_mutex_unlock(&g->lock);
}

bool parley_echoguard_on(struct parley_echoguard *g)
{
	return atomic_load(&g->on);
}

/* Caller holds lock: a new segment (the oldest goes when full). */
static void seg_push_locked(struct parley_echoguard *g, int64_t t_ns, bool restart)
{
	if (g->nseg == NSEG) {
		g->seg_head = (g->seg_head + 1) % NSEG;
		g->nseg--;
	}
	g->segs[(g->seg_head + g->nseg) % NSEG] = (struct seg){ g->ref_written, t_ns, restart };
	g->nseg++;
}

/* Caller holds lock: the reference sample playing at now_ns (by the last
 * segment; ref_written when all has played). */
static uint64_t playing_locked(const struct parley_echoguard *g, int64_t now_ns)
{
	if (!g->nseg)
		return g->ref_written;
	const struct seg *sg = &g->segs[(g->seg_head + g->nseg - 1) % NSEG];
	uint64_t pos = sg->at + (uint64_t)(now_ns > sg->t_ns ? (now_ns - sg->t_ns) / NS_PER_SAMPLE : 0);
	return pos < g->ref_written ? pos : g->ref_written;
}

/* Caller holds lock: the ring holds `need` samples (grown, its samples
 * kept where their positions fall); false when it cannot. */
static bool ring_fit_locked(struct parley_echoguard *g, size_t need)
{
	if (need <= g->ref_cap)
		return true;
	size_t cap = g->ref_cap ? g->ref_cap : (size_t)RATE * REF_START_S;
	while (cap < need && cap < (size_t)RATE * REF_MAX_S)
		cap *= 2;
	if (cap > (size_t)RATE * REF_MAX_S)
		cap = (size_t)RATE * REF_MAX_S;
	if (cap <= g->ref_cap)
		return false;
	int16_t *ring = malloc(cap * sizeof *ring);
	if (!ring)
		return false;
	uint64_t from = g->ref_written > g->ref_cap ? g->ref_written - g->ref_cap : 0;
	for (uint64_t pos = from; pos < g->ref_written; pos++)
		ring[pos % cap] = g->ref[pos % g->ref_cap];
	free(g->ref);
	g->ref = ring;
	g->ref_cap = cap;
	return true;
}

/* Caller holds lock: n 16 kHz samples into the ring, grown first if they
 * would overwrite what is still to play or to echo (at the cap, the
 * oldest go). */
static void ring_write_locked(struct parley_echoguard *g, const int16_t *pcm, size_t n,
			      int64_t now_ns)
{
	uint64_t keep_from = playing_locked(g, now_ns);
	keep_from = keep_from > (uint64_t)RATE * REF_KEEP_MS / 1000
			    ? keep_from - (uint64_t)RATE * REF_KEEP_MS / 1000
			    : 0;
	if (!ring_fit_locked(g, (size_t)(g->ref_written + n - keep_from)) && !g->ref)
		return;
	for (size_t done = 0; done < n;) {
		size_t at = (size_t)(g->ref_written % g->ref_cap);
		size_t k = g->ref_cap - at < n - done ? g->ref_cap - at : n - done;
		memcpy(g->ref + at, pcm + done, k * sizeof *pcm);
		done += k;
		g->ref_written += k;
	}
}

void parley_echoguard_reference(struct parley_echoguard *g, const int16_t *pcm, size_t n,
				int rate, int64_t now_ns)
{
	if (!atomic_load(&g->on) || !n || rate <= 0)
		return;
	pthread_mutex_lock(&g->lock);
	if (!g->rs || g->rs_rate != rate) {
		parley_resampler_destroy(g->rs);
		g->rs = parley_resampler_create(rate, RATE);
		g->rs_rate = rate;
		if (!g->rs)
			goto out;
	}
	int16_t buf[2048];
	size_t step = (sizeof buf / sizeof buf[0] - 64) * (size_t)rate / RATE;
	if (!step)
		step = 1;
	if (now_ns >= g->play_end_ns) { /* nothing was playing: it starts now */
		seg_push_locked(g, now_ns,
				now_ns - g->play_end_ns >= (int64_t)RESTART_GAP_MS * 1000000);
		g->play_end_ns = now_ns;
	}
	for (size_t off = 0; off < n; off += step) {
		size_t k = n - off < step ? n - off : step;
		size_t m = parley_resampler_process(g->rs, pcm + off, k, buf,
						    sizeof buf / sizeof buf[0]);
		ring_write_locked(g, buf, m, now_ns);
		g->play_end_ns += (int64_t)m * NS_PER_SAMPLE; /* (silence if it did not fit) */
	}
out:
	pthread_mutex_unlock(&g->lock);
}

void parley_echoguard_stop(struct parley_echoguard *g, int64_t now_ns)
{
	pthread_mutex_lock(&g->lock);
	if (g->play_end_ns > now_ns) {
		seg_push_locked(g, now_ns, false); /* from now on: past what was written, silence */
		g->play_end_ns = now_ns;
	}
	pthread_mutex_unlock(&g->lock);
}

void parley_echoguard_playback_started(struct parley_echoguard *g, int64_t now_ns)
{
	pthread_mutex_lock(&g->lock);
	struct seg *sg = g->nseg ? &g->segs[(g->seg_head + g->nseg - 1) % NSEG] : NULL;
	if (sg && sg->at < g->ref_written && now_ns >= sg->t_ns &&
	    now_ns - sg->t_ns <= (int64_t)START_REPORT_MS * 1000000) {
		/* the client says when this segment began to play: later than sent */
		g->play_end_ns += now_ns - sg->t_ns;
		sg->t_ns = now_ns;
	}
	pthread_mutex_unlock(&g->lock);
}

/* Caller holds lock: the reference playing at t_ns, n samples on (16 kHz),
 * into out; silence where nothing played. */
static void ref_fill_locked(const struct parley_echoguard *g, int64_t t_ns, int16_t *out,
			    size_t n)
{
	memset(out, 0, n * sizeof *out);
	if (!g->ref)
		return;
	for (size_t k = 0; k < g->nseg; k++) {
		const struct seg *sg = &g->segs[(g->seg_head + k) % NSEG];
		uint64_t end = k + 1 < g->nseg ? g->segs[(g->seg_head + k + 1) % NSEG].at
					       : g->ref_written;
		int64_t seg_end_ns = k + 1 < g->nseg ? g->segs[(g->seg_head + k + 1) % NSEG].t_ns
						     : INT64_MAX;
		/* the frame's samples i with sg->t_ns <= t_ns + i*NS < seg_end_ns */
		for (size_t i = 0; i < n; i++) {
			int64_t t = t_ns + (int64_t)i * NS_PER_SAMPLE;
			if (t < sg->t_ns || t >= seg_end_ns)
				continue;
			uint64_t pos = sg->at + (uint64_t)((t - sg->t_ns) / NS_PER_SAMPLE);
			if (pos < end && pos + g->ref_cap >= g->ref_written)
				out[i] = g->ref[pos % g->ref_cap];
		}
	}
}

void parley_echoguard_mic_arrival(struct parley_echoguard *g, int64_t arrival_ns, size_t ahead)
{
	int64_t zero = arrival_ns - (int64_t)(g->framed + ahead) * NS_PER_SAMPLE;
	if (!g->have_clock) {
		g->mic_zero_ns = zero;
		g->have_clock = true;
	} else if (g->active || g->delay_ms >= 0) {
		/* Once the canceller learnt the room, the clock holds still to the
		 * sample: only an arrival earlier than the clock allows by more
		 * than jitter (audio was lost, or the clock was set on a late
		 * start) moves it. */
		if (zero < g->mic_zero_ns - (int64_t)CLOCK_SLIP_MS * 1000000)
			g->mic_zero_ns = zero;
	} else if (zero < g->mic_zero_ns) {
		g->mic_zero_ns = zero; /* the earliest arrival is the least delayed */
	}
	/* Later arrivals are jitter: the clock stays, so that the room the
	 * canceller learnt stays where it was for the next answer. */
}

static double mean_square(const int16_t *p, size_t n)
{
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (double)p[i] * p[i];
	return sum / (double)n;
}

static double db_of(double ms)
{
	return 10.0 * log10(ms / (32768.0 * 32768.0) + 1e-12);
}

/* One signal's envelope: |x| through two one-pole low-passes at ENV_HZ
 * (a voice's pitch, 80..300 Hz, would otherwise beat with the blocks),
 * read at the end of each block. */
static void envelope(double lp[2], const int16_t *x, float *ring, uint64_t at)
{
	const double a = 1.0 - exp(-2.0 * M_PI * ENV_HZ / RATE);
	for (size_t b = 0; b < FRAME / BLOCK; b++) {
		for (size_t i = b * BLOCK; i < (b + 1) * BLOCK; i++) {
			lp[0] += a * (fabs((double)x[i]) - lp[0]);
			lp[1] += a * (lp[0] - lp[1]);
		}
		ring[(at + b) % ENV_N] = (float)lp[1];
	}
}

/* The envelopes of this frame's microphone and lag-0 reference. */
static void env_push(struct parley_echoguard *g, const int16_t *mic, const int16_t *ref0)
{
	envelope(g->lp_mic, mic, g->env_mic, g->nenv);
	envelope(g->lp_ref, ref0, g->env_ref, g->nenv);
	for (size_t b = 0; b < FRAME / BLOCK; b++)
		g->ms_ref[(g->nenv + b) % ENV_N] = (float)mean_square(ref0 + b * BLOCK, BLOCK);
	g->nenv += FRAME / BLOCK;
}

/* The lag (blocks) whose reference envelope best matches the microphone's
 * over the last CORR_BLOCKS, or -1 when nothing stands out. Before the
 * first active block both rings hold zeros: nothing was played then. */
static int best_lag(const struct parley_echoguard *g, double *best_out, double *cur_out)
{
	*best_out = *cur_out = -1;
	if (g->nenv < CORR_BLOCKS / 2)
		return -1;
	uint64_t n = g->nenv < CORR_BLOCKS ? g->nenv : CORR_BLOCKS;
	uint64_t first = g->nenv - n + ENV_N; /* + ENV_N: no wrap below 0 */
	uint64_t last = g->nenv + ENV_N;
	int audible = 0;
	for (uint64_t j = first; j < last; j++)
		audible += g->env_ref[j % ENV_N] > REF_AUDIBLE;
	if (audible < (int)n / 4)
		return -1; /* too little was played to measure */
	double sm = 0, smm = 0;
	for (uint64_t j = first; j < last; j++) {
		double m = g->env_mic[j % ENV_N];
		sm += m;
		smm += m * m;
	}
	double vm = smm - sm * sm / (double)n;
	int best = -1;
	double best_c = MIN_CORR;
	for (int lag = 0; lag <= MAX_LAG_BLOCKS; lag++) {
		double sr = 0, srr = 0, smr = 0;
		for (uint64_t j = first; j < last; j++) {
			double m = g->env_mic[j % ENV_N], r = g->env_ref[(j - (uint64_t)lag) % ENV_N];
			sr += r;
			srr += r * r;
			smr += m * r;
		}
		double vr = srr - sr * sr / (double)n;
		if (vm <= 0 || vr <= 0)
			continue;
		double c = (smr - sm * sr / (double)n) / sqrt(vm * vr);
		if (g->delay_ms >= 0 && abs(lag * BLOCK_MS - g->delay_ms) <= AGREE_MS && c > *cur_out)
			*cur_out = c; /* how well the delay in use still matches */
		if (c > best_c) {
			best_c = c;
			best = lag;
		}
	}
	*best_out = best_c;
	return best;
}

/* Every MEASURE_EVERY frames while the canceller does not work well (the
 * residual ratio above REMEASURE_ABOVE_DB): the delay, adopted at once
 * the first time;
 * later a new one is adopted when two measurements in a row agree on it
 * and it leaves the canceller's margin (MOVE_MS: within it the filter
 * follows by itself, and a reset would make it learn the room again). */
static void measure(struct parley_echoguard *g)
{
	if (++g->since_measure < MEASURE_EVERY)
		return;
	if (g->delay_ms >= 0 && g->ratio_db < REMEASURE_ABOVE_DB)
		return; /* the canceller works: the delay is right */
	g->since_measure = 0;
	double c, cur;
	int lag = best_lag(g, &c, &cur);
	if (lag < 0)
		return;
	int ms = lag * BLOCK_MS;
	/* a move needs a clear peak, clearly better than the delay in use (a
	 * user speaking over the echo, or a repeated phrase, make others) */
	bool moved = g->delay_ms >= 0 && abs(ms - g->delay_ms) > MOVE_MS && c >= MOVE_CORR &&
		     c - cur >= MOVE_BETTER;
	if (g->delay_ms < 0 || (moved && abs(ms - g->candidate_ms) <= AGREE_MS)) {
		if (g->delay_ms >= 0 && g->aec) {
			parley_aec_reset(g->aec); /* the echo path moved in the filter */
			g->ratio_db = RATIO_START_DB; /* and is learnt again */
		}
		g->delay_ms = ms;
		g->candidate_ms = -1;
	} else {
		g->candidate_ms = moved ? ms : -1;
	}
}

/* The reference that can echo into the frame just pushed, as a mean
 * square: the loudest block within DELAY_SLACK_MS of the
 * measured delay, or later, weighted down as the room's tail decays
 * (TAIL_FALL_DB over TAIL_MS); before the delay is known, the loudest at any lag. */
static double echo_source(const struct parley_echoguard *g)
{
	int lo = g->delay_ms < 0 ? 0 : g->delay_ms - DELAY_SLACK_MS;
	int direct = g->delay_ms < 0 ? MAX_LAG_MS + TAIL_MS : g->delay_ms + DELAY_SLACK_MS;
	int hi = g->delay_ms < 0 ? direct : g->delay_ms + TAIL_MS;
	double top = 0;
	uint64_t last = g->nenv - 1;
	for (int lag = (lo < 0 ? 0 : lo) / BLOCK_MS; lag <= hi / BLOCK_MS + FRAME / BLOCK; lag++) {
		if ((uint64_t)lag > last || lag >= ENV_N)
			break;
		double e = g->ms_ref[(last - (uint64_t)lag) % ENV_N];
		int over = lag * BLOCK_MS - FRAME * 1000 / RATE - direct; /* past the direct path */
		if (over > 0)
			e *= pow(10.0, -TAIL_FALL_DB / 10.0 * over / TAIL_MS);
		if (e > top)
			top = e;
	}
	return top;
}

static double thread_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The gate: out (FRAME samples) against the echo predicted from the
 * reference `source` (mean square) that can echo into it: echo alone
 * unless it is PARLEY_ECHOGUARD_MARGIN_DB above the prediction and louder
 * than PARLEY_ECHOGUARD_SPEECH_DB (what the canceller leaves of a room's
 * tail stays below that). Echo alone is brought down to the noise floor.
 * The ratio is tracked on every frame with a source to predict from,
 * slowly on frames that pass. */
static void gate(struct parley_echoguard *g, int16_t *out, double source)
{
	double e = mean_square(out, FRAME);
	bool audible_source = source >= REF_AUDIBLE * REF_AUDIBLE;
	double obs = db_of(e) - db_of(source);
	bool echo = db_of(e) < PARLEY_ECHOGUARD_SPEECH_DB ||
		    (audible_source && obs < g->ratio_db + PARLEY_ECHOGUARD_MARGIN_DB);
	if (audible_source) {
		/* echo follows the echo; the near end's speech only creeps it up
		 * (the canceller worsening shows there first) */
		double gap = obs - g->ratio_db;
		if (gap > 0 && !echo)
			g->ratio_db += RATIO_CREEP_DB;
		else if (gap > 0)
			g->ratio_db += RATIO_UP * (gap < RATIO_UP_MAX_DB ? gap : RATIO_UP_MAX_DB);
		else
			g->ratio_db += RATIO_DOWN * (gap > -RATIO_DOWN_MAX_DB ? gap : -RATIO_DOWN_MAX_DB);
	}
	if (!echo)
		return;
	g->gated++;
	double target = pow(10.0, (g->floor_db > GATE_FLOOR_DB ? g->floor_db : GATE_FLOOR_DB) / 20.0) *
			32768.0;
	double rms = sqrt(e);
	if (rms <= target)
		return;
	double k = target / rms;
	for (size_t i = 0; i < FRAME; i++)
		out[i] = (int16_t)lrint(out[i] * k);
}

bool parley_echoguard_frame(struct parley_echoguard *g, int16_t *pcm, double clock_ms)
{
	int64_t t = g->mic_zero_ns + (int64_t)g->framed * NS_PER_SAMPLE;
	g->framed += FRAME;
	if (!atomic_load(&g->on) || !g->have_clock)
		return false;
	int reach_ms = (g->delay_ms < 0 ? MAX_LAG_MS : g->delay_ms + AEC_PRE_MS) + TAIL_MS;
	pthread_mutex_lock(&g->lock);
	bool active = g->nseg && g->segs[g->seg_head].t_ns <= t &&
		      t - (int64_t)reach_ms * 1000000 < g->play_end_ns;
	g->active = active;
	/* Playback (re)starts: the client's start is known to a few ms, not
	 * to the sample, so the canceller must find the room again: until it
	 * has, trust it less. */
	const struct seg *last_seg = g->nseg ? &g->segs[(g->seg_head + g->nseg - 1) % NSEG] : NULL;
	if (active && last_seg && last_seg->at != g->seg_seen) {
		g->seg_seen = last_seg->at;
		if (last_seg->restart && g->ratio_db < RESTART_RATIO_DB)
			g->ratio_db = RESTART_RATIO_DB;
	}
	if (!active) {
		pthread_mutex_unlock(&g->lock);
		double db = db_of(mean_square(pcm, FRAME)); /* the noise floor, as the VAD's */
		g->floor_db += db < g->floor_db ? db - g->floor_db : (db - g->floor_db) * 0.02;
		return false;
	}
	double t0 = thread_ms();
	int16_t ref0[FRAME], refd[FRAME];
	int delay = g->delay_ms; /* this frame's (measure() may change it) */
	ref_fill_locked(g, t, ref0, FRAME);
	if (delay >= 0)
		ref_fill_locked(g, t - (int64_t)(delay - AEC_PRE_MS) * 1000000, refd, FRAME);
	pthread_mutex_unlock(&g->lock);

	env_push(g, pcm, ref0);
	measure(g);
	int16_t out[FRAME];
	if (delay >= 0) {
		if (!g->aec)
			g->aec = parley_aec_create(AEC_TAIL_MS);
		if (g->aec)
			parley_aec_frame(g->aec, pcm, refd, out);
		else
			memcpy(out, pcm, sizeof out);
	} else {
		memcpy(out, pcm, sizeof out);
	}
	gate(g, out, echo_source(g));
	memcpy(pcm, out, sizeof out);
	g->frames++;
	g->last_echo_ms = clock_ms;
	g->cpu_ms += thread_ms() - t0;
	return true;
}

double parley_echoguard_last_echo_ms(const struct parley_echoguard *g)
{
	return g->last_echo_ms;
}

void parley_echoguard_stats(const struct parley_echoguard *g, struct parley_echoguard_stats *st)
{
	*st = (struct parley_echoguard_stats){
		.delay_ms = g->delay_ms,
		.frames = g->frames,
		.gated = g->gated,
		.cpu_ms = g->cpu_ms,
		.predicted_db = g->ratio_db,
	};
}
