#include "audio/vad.h"

#include <math.h>
#include <string.h>

#define MIN_SPEECH_DB -50.0  /* quieter than this is never speech */
#define LOUD_OVER_FLOOR_DB 12.0
#define STAY_OVER_FLOOR_DB 8.0 /* hysteresis while speaking */
#define VOICED_MAX_ZCR 0.25
#define FLOOR_START_DB -70.0
#define FLOOR_RISE 0.02 /* per frame, toward louder non-speech frames */

void parley_vad_init(struct parley_vad *v)
{
	memset(v, 0, sizeof *v);
	v->floor_db = FLOOR_START_DB;
	parley_vad_set_threshold(v, 0.5);
}

void parley_vad_set_threshold(struct parley_vad *v, double threshold)
{
	double k = (threshold < 0 ? 0 : threshold > 1 ? 1 : threshold) - 0.5;
	v->loud_db = LOUD_OVER_FLOOR_DB + 16.0 * k;
	v->stay_db = STAY_OVER_FLOOR_DB + 12.0 * k;
	v->min_db = MIN_SPEECH_DB + 20.0 * k;
}

static int popcount(uint32_t x)
{
	int n = 0;
	while (x) {
		n += (int)(x & 1u);
		x >>= 1;
	}
	return n;
}

enum parley_vad_event parley_vad_frame(struct parley_vad *v, const int16_t *pcm)
{
	double sum = 0;
	int crossings = 0;
	for (int i = 0; i < PARLEY_VAD_FRAME; i++) {
		double s = pcm[i];
		sum += s * s;
		if (i && ((pcm[i] >= 0) != (pcm[i - 1] >= 0)))
			crossings++;
	}
	double rms = sqrt(sum / PARLEY_VAD_FRAME);
	double db = 20.0 * log10(rms / 32768.0 + 1e-9);
	double zcr = (double)crossings / PARLEY_VAD_FRAME;
	v->last_db = db;
	v->last_zcr = zcr;
	v->frames++;

	bool loud = db > v->min_db && db > v->floor_db + v->loud_db;
	bool voiced = loud && zcr < VOICED_MAX_ZCR;
	v->window = ((v->window << 1) | (voiced ? 1u : 0u)) & ((1u << PARLEY_VAD_START_WINDOW) - 1);

	if (v->speaking) {
		bool active = db > v->min_db && db > v->floor_db + v->stay_db;
		v->silence_ms = active ? 0 : v->silence_ms + PARLEY_VAD_FRAME_MS;
		if (voiced)
			v->voiced_frames++;
		if (db < v->floor_db)
			v->floor_db = db;
		return PARLEY_VAD_NONE;
	}

	/* Not speaking: track the floor. */
	if (db < v->floor_db)
		v->floor_db = db;
	else if (!voiced)
		v->floor_db += (db - v->floor_db) * FLOOR_RISE;

	if (popcount(v->window) >= PARLEY_VAD_START_VOICED) {
		v->speaking = true;
		v->silence_ms = 0;
		v->voiced_frames = popcount(v->window);
		return PARLEY_VAD_START;
	}
	return PARLEY_VAD_NONE;
}

void parley_vad_end(struct parley_vad *v)
{
	v->speaking = false;
	v->window = 0;
	v->silence_ms = 0;
	v->voiced_frames = 0;
}
