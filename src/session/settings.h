/*
 * settings.h - what a client may set on its session, and the ranges the
 * session accepts, whatever wire protocol carries them: the sample rates of
 * its audio in and out, how assistant audio is framed, the voice, the
 * speaking rate and the turn-taking patience.
 *
 * A wire protocol validates its own messages against these ranges (its
 * errors are its own) and then calls the session's setters (session.h),
 * which check them again. A plain value type: copy it freely.
 */
#ifndef PARLEY_SESSION_SETTINGS_H
#define PARLEY_SESSION_SETTINGS_H

#define PARLEY_RATE_MIN 8000     /* input and output sample rates, Hz */
#define PARLEY_RATE_MAX 96000
#define PARLEY_TTS_RATE_MIN 0.5  /* speaking-rate multiplier */
#define PARLEY_TTS_RATE_MAX 2.0
#define PARLEY_SPEED_MIN 0.0     /* turn-taking patience */
#define PARLEY_SPEED_MAX 100.0
#define PARLEY_VOICE_MAX 64      /* bytes of a voice name */

/* How assistant audio travels: base64 inside a text message, or as raw
 * little-endian int16 in a binary message. The out-queue is sized for it. */
enum parley_audio_out {
	PARLEY_AUDIO_OUT_BASE64 = 0,
	PARLEY_AUDIO_OUT_BINARY,
};

/* A session's effective configuration. */
struct parley_settings {
	int input_sample_rate;
	int output_sample_rate;
	enum parley_audio_out audio_out;
	char voice[PARLEY_VOICE_MAX + 1]; /* "default", or as the voice allow-list spells it */
	double tts_rate;
	double speed; /* turn-taking patience 0..100 */
};

/* Built-in defaults for a new session's settings. Pure. */
void parley_settings_defaults(struct parley_settings *st);

#endif
