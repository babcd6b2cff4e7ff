/* The Realtime session.update: parsed and checked whole, then applied to
 * the session's setters and the protocol's settings all or nothing
 * (realtime_internal.h, docs/realtime.md "Session"). The session object it
 * answers with is realtime_session_json.c's. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/realtime_internal.h"
#include "tts/tts.h"
#include "util/err.h"
#include "util/utf8.h"
#include "util/log.h"

/* OpenAI's voice names: accepted, spoken with the server's default voice
 * unless the voice allow-list has one by that name. */
static const char *const openai_voices[] = { "alloy", "ash",  "ballad", "coral", "echo",
					     "sage",  "shimmer", "verse", "marin", "cedar" };

/* --- session.update --- */

enum {
	UP_INSTRUCTIONS = 1 << 0,
	UP_MODALITIES = 1 << 1,
	UP_IN_FORMAT = 1 << 2,
	UP_OUT_FORMAT = 1 << 3,
	UP_TRANSCRIPTION = 1 << 4,
	UP_TURNS = 1 << 5,
	UP_VOICE = 1 << 6,
	UP_SPEED = 1 << 7,
	UP_TEMPERATURE = 1 << 8,
	UP_MAX_TOKENS = 1 << 9,
};

/* A parsed, checked session.update: applied all or nothing. */
struct update {
	unsigned has;
	const char *instructions; /* borrowed from the event; NULL: the server's */
	bool text_only;
	enum rt_codec in, out;
	bool transcription;
	char tr_model[64], tr_language[16];
	struct parley_turns turns;
	enum rt_eagerness eagerness;
	char voice[PARLEY_VOICE_MAX + 1]; /* as named */
	bool openai_voice;                /* one of OpenAI's names */
	double speed, temperature;
	int max_tokens;
};

/* Parsing reports the first problem here and stops. */
struct perr {
	char param[96];
	char message[240];
	const char *code;
};

static int fail(struct perr *e, const char *code, const char *param, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct perr *e, const char *code, const char *param, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	snprintf(e->param, sizeof e->param, "%s", param);
	e->code = code;
	return PARLEY_E_INVAL;
}

static int parse_modalities(json_t *j, const char *param, struct update *u, struct perr *e)
{
	if (!json_is_array(j) || json_array_size(j) == 0 || json_array_size(j) > 2)
		return fail(e, "invalid_type", param,
			    "%s must be [\"audio\"] or [\"text\"] (beta: [\"text\", \"audio\"])",
			    param);
	bool audio = false;
	size_t i;
	json_t *v;
	json_array_foreach (j, i, v) {
		const char *m = json_string_value(v);
		if (!m || (strcmp(m, "audio") && strcmp(m, "text")))
			return fail(e, "invalid_value", param,
				    "%s: supported modalities are \"audio\" and \"text\"", param);
		audio |= strcmp(m, "audio") == 0;
	}
	u->text_only = !audio;
	u->has |= UP_MODALITIES;
	return 0;
}

/* GA {type, rate} or beta "pcm16". */
static int parse_format(const struct rt *rt, json_t *j, const char *param, enum rt_codec *c,
			struct perr *e)
{
	const char *name = NULL;
	if (rt->beta) {
		name = json_string_value(j);
		for (int k = 0; name && k < 3; k++) {
			if (strcmp(name, rt_beta_format[k]) == 0) {
				*c = (enum rt_codec)k;
				return 0;
			}
		}
		return fail(e, "invalid_value", param,
			    "%s: supported formats are \"pcm16\", \"g711_ulaw\" and \"g711_alaw\"",
			    param);
	}
	name = json_is_object(j) ? json_string_value(json_object_get(j, "type")) : NULL;
	for (int k = 0; name && k < 3; k++) {
		if (strcmp(name, rt_ga_format[k]))
			continue;
		json_t *rate = json_object_get(j, "rate");
		if (rate && !json_is_null(rate) &&
		    (!json_is_number(rate) || json_number_value(rate) != rt_codec_rate(k)))
			return fail(e, "invalid_value", param,
				    "%s.rate: %s is supported at %d Hz only", param, name,
				    rt_codec_rate(k));
		*c = (enum rt_codec)k;
		return 0;
	}
	return fail(e, "invalid_value", param,
		    "%s: supported formats are {\"type\": \"audio/pcm\", \"rate\": 24000}, "
		    "{\"type\": \"audio/pcmu\"} and {\"type\": \"audio/pcma\"}",
		    param);
}

static int parse_transcription(json_t *j, const char *param, struct update *u, struct perr *e)
{
	u->has |= UP_TRANSCRIPTION;
	u->tr_model[0] = u->tr_language[0] = '\0';
	if (json_is_null(j)) {
		u->transcription = false;
		return 0;
	}
	if (!json_is_object(j))
		return fail(e, "invalid_type", param, "%s must be an object or null", param);
	u->transcription = true;
	const char *model = json_string_value(json_object_get(j, "model"));
	const char *lang = json_string_value(json_object_get(j, "language"));
	if (model && strlen(model) < sizeof u->tr_model)
		strcpy(u->tr_model, model);
	if (lang && strlen(lang) < sizeof u->tr_language)
		strcpy(u->tr_language, lang);
	return 0;
}

/* A number field of obj in [lo, hi] into *out, if present. */
static int num_field(json_t *obj, const char *key, const char *param, double lo, double hi,
		     double *out, struct perr *e)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return fail(e, "invalid_type", param, "%s.%s must be a number", param, key);
	double d = json_number_value(v);
	if (!(d >= lo && d <= hi))
		return fail(e, "invalid_value", param, "%s.%s must be between %g and %g", param,
			    key, lo, hi);
	*out = d;
	return 0;
}

static int bool_field(json_t *obj, const char *key, const char *param, bool *out,
		      struct perr *e)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return fail(e, "invalid_type", param, "%s.%s must be a boolean", param, key);
	*out = json_is_true(v);
	return 0;
}

static int parse_turns(json_t *j, const char *param, struct update *u, struct perr *e)
{
	u->has |= UP_TURNS;
	parley_turns_defaults(&u->turns);
	u->eagerness = RT_EAGER_AUTO;
	if (json_is_null(j)) {
		u->turns.mode = PARLEY_TURNS_MANUAL;
		return 0;
	}
	if (!json_is_object(j))
		return fail(e, "invalid_type", param, "%s must be an object or null", param);
	const char *type = json_string_value(json_object_get(j, "type"));
	if (!type || strcmp(type, "server_vad") == 0) {
		u->turns.mode = PARLEY_TURNS_FIXED;
		double thr = u->turns.threshold, prefix = u->turns.prefix_ms,
		       silence = u->turns.silence_ms;
		if (num_field(j, "threshold", param, 0, 1, &thr, e) ||
		    num_field(j, "prefix_padding_ms", param, 0, PARLEY_TURN_PREFIX_MAX, &prefix,
			      e) ||
		    num_field(j, "silence_duration_ms", param, PARLEY_TURN_SILENCE_MIN,
			      PARLEY_TURN_SILENCE_MAX, &silence, e))
			return PARLEY_E_INVAL;
		u->turns.threshold = thr;
		u->turns.prefix_ms = (int)prefix;
		u->turns.silence_ms = (int)silence;
	} else if (strcmp(type, "semantic_vad") == 0) {
		u->turns.mode = PARLEY_TURNS_ADAPTIVE;
		json_t *ea = json_object_get(j, "eagerness");
		const char *name = json_string_value(ea);
		if (ea && !json_is_null(ea)) {
			int k = 0;
			while (k < 4 && (!name || strcmp(name, rt_eagerness[k].name)))
				k++;
			if (k == 4)
				return fail(e, "invalid_value", param,
					    "%s.eagerness must be \"low\", \"medium\", \"high\" or "
					    "\"auto\"",
					    param);
			u->eagerness = (enum rt_eagerness)k;
		}
	} else {
		return fail(e, "invalid_value", param,
			    "%s.type must be \"server_vad\" or \"semantic_vad\" (or the whole "
			    "field null)",
			    param);
	}
	if (bool_field(j, "create_response", param, &u->turns.create_response, e) ||
	    bool_field(j, "interrupt_response", param, &u->turns.interrupt_response, e))
		return PARLEY_E_INVAL;
	return 0;
}

static int parse_voice(json_t *j, const char *param, struct update *u, struct perr *e)
{
	const char *v = json_string_value(j);
	if (!v || !v[0] || strlen(v) > PARLEY_VOICE_MAX)
		return fail(e, "invalid_value", param, "%s must be a voice name", param);
	strcpy(u->voice, v);
	u->openai_voice = false;
	for (size_t k = 0; k < sizeof openai_voices / sizeof openai_voices[0]; k++)
		u->openai_voice |= strcmp(v, openai_voices[k]) == 0;
	u->has |= UP_VOICE;
	return 0;
}

static int parse_speed(json_t *j, const char *param, struct update *u, struct perr *e)
{
	if (!json_is_number(j) || !(json_number_value(j) >= 0.25 && json_number_value(j) <= 1.5))
		return fail(e, "invalid_value", param, "%s must be a number from 0.25 to 1.5",
			    param);
	u->speed = json_number_value(j);
	u->has |= UP_SPEED;
	return 0;
}

static int parse_max_tokens(json_t *j, const char *param, struct update *u, struct perr *e)
{
	const char *inf = json_string_value(j);
	if (inf && strcmp(inf, "inf") == 0) {
		u->max_tokens = -1;
	} else if (json_is_integer(j) && json_integer_value(j) >= 1 &&
		   json_integer_value(j) <= 4096) {
		u->max_tokens = (int)json_integer_value(j);
	} else {
		return fail(e, "invalid_value", param, "%s must be 1..4096 or \"inf\"", param);
	}
	u->has |= UP_MAX_TOKENS;
	return 0;
}

static int parse_tools(json_t *tools, json_t *choice, struct perr *e)
{
	if (tools && !json_is_null(tools) && (!json_is_array(tools) || json_array_size(tools)))
		return fail(e, "unsupported_value", "session.tools",
			    "parley does not call tools: session.tools must be empty");
	const char *c = json_string_value(choice);
	if (choice && !json_is_null(choice) && (!c || (strcmp(c, "auto") && strcmp(c, "none"))))
		return fail(e, "unsupported_value", "session.tool_choice",
			    "parley does not call tools: tool_choice must be \"auto\" or \"none\"");
	return 0;
}

/* The fields both dialects name alike. */
static int parse_common(json_t *sess, struct update *u, struct perr *e)
{
	json_t *v = json_object_get(sess, "instructions");
	if (v) {
		if (!json_is_string(v))
			return fail(e, "invalid_type", "session.instructions",
				    "session.instructions must be a string");
		if (json_string_length(v) > PARLEY_INSTRUCTIONS_MAX)
			return fail(e, "invalid_value", "session.instructions",
				    "session.instructions is over %d bytes",
				    PARLEY_INSTRUCTIONS_MAX);
		u->instructions = json_string_length(v) ? json_string_value(v) : NULL;
		u->has |= UP_INSTRUCTIONS;
	}
	return parse_tools(json_object_get(sess, "tools"), json_object_get(sess, "tool_choice"), e);
}

static int parse_ga(const struct rt *rt, json_t *sess, struct update *u, struct perr *e)
{
	json_t *v;
	const char *type = json_string_value(json_object_get(sess, "type"));
	if (type && strcmp(type, "realtime"))
		return fail(e, "unsupported_value", "session.type",
			    "only \"realtime\" sessions are supported (not \"%.40s\")", type);
	if ((v = json_object_get(sess, "output_modalities")) &&
	    parse_modalities(v, "session.output_modalities", u, e))
		return PARLEY_E_INVAL;
	if ((v = json_object_get(sess, "max_output_tokens")) &&
	    parse_max_tokens(v, "session.max_output_tokens", u, e))
		return PARLEY_E_INVAL;
	json_t *audio = json_object_get(sess, "audio");
	if (audio && !json_is_object(audio))
		return fail(e, "invalid_type", "session.audio", "session.audio must be an object");
	json_t *in = json_object_get(audio, "input"), *out = json_object_get(audio, "output");
	if ((v = json_object_get(in, "format"))) {
		if (parse_format(rt, v, "session.audio.input.format", &u->in, e))
			return PARLEY_E_INVAL;
		u->has |= UP_IN_FORMAT;
	}
	if ((v = json_object_get(in, "transcription")) &&
	    parse_transcription(v, "session.audio.input.transcription", u, e))
		return PARLEY_E_INVAL;
	if ((v = json_object_get(in, "turn_detection")) &&
	    parse_turns(v, "session.audio.input.turn_detection", u, e))
		return PARLEY_E_INVAL;
	if ((v = json_object_get(out, "format"))) {
		if (parse_format(rt, v, "session.audio.output.format", &u->out, e))
			return PARLEY_E_INVAL;
		u->has |= UP_OUT_FORMAT;
	}
	if ((v = json_object_get(out, "voice")) && parse_voice(v, "session.audio.output.voice", u, e))
		return PARLEY_E_INVAL;
	if ((v = json_object_get(out, "speed")) && parse_speed(v, "session.audio.output.speed", u, e))
		return PARLEY_E_INVAL;
	return 0;
}

static int parse_beta(const struct rt *rt, json_t *sess, struct update *u, struct perr *e)
{
	json_t *v;
	if ((v = json_object_get(sess, "modalities")) &&
	    parse_modalities(v, "session.modalities", u, e))
		return PARLEY_E_INVAL;
	if ((v = json_object_get(sess, "max_response_output_tokens")) &&
	    parse_max_tokens(v, "session.max_response_output_tokens", u, e))
		return PARLEY_E_INVAL;
	if ((v = json_object_get(sess, "input_audio_format"))) {
		if (parse_format(rt, v, "session.input_audio_format", &u->in, e))
			return PARLEY_E_INVAL;
		u->has |= UP_IN_FORMAT;
	}
	if ((v = json_object_get(sess, "output_audio_format"))) {
		if (parse_format(rt, v, "session.output_audio_format", &u->out, e))
			return PARLEY_E_INVAL;
		u->has |= UP_OUT_FORMAT;
	}
	if ((v = json_object_get(sess, "input_audio_transcription")) &&
	    parse_transcription(v, "session.input_audio_transcription", u, e))
		return PARLEY_E_INVAL;
	if ((v = json_object_get(sess, "turn_detection")) &&
	    parse_turns(v, "session.turn_detection", u, e))
		return PARLEY_E_INVAL;
	if ((v = json_object_get(sess, "voice")) && parse_voice(v, "session.voice", u, e))
		return PARLEY_E_INVAL;
	if ((v = json_object_get(sess, "speed")) && parse_speed(v, "session.speed", u, e))
		return PARLEY_E_INVAL;
	if ((v = json_object_get(sess, "temperature"))) {
		if (!json_is_number(v) || !(json_number_value(v) >= 0.6 && json_number_value(v) <= 1.2))
			return fail(e, "invalid_value", "session.temperature",
				    "session.temperature must be a number from 0.6 to 1.2");
		u->temperature = json_number_value(v);
		u->has |= UP_TEMPERATURE;
	}
	return 0;
}

/* Applies a checked update, all or nothing: everything that can be
 * refused is checked first (the voice against the allow-list, the
 * instructions' UTF-8), then the one step that can fail (out of memory:
 * the instructions' copies) goes before anything changes; the setters
 * after it cannot fail on values the parser checked. */
static int apply(struct parley_session *s, struct rt *rt, const struct update *u,
		 struct perr *e)
{
	const char *voice = NULL;
	if (u->has & UP_VOICE) {
		/* A parley voice by that name first (the openai TTS backend may
		 * have "alloy"), else OpenAI's names speak with the default voice. */
		struct parley_tts_voice v;
		voice = parley_tts_voice_lookup(u->voice, &v) == 0 ? u->voice
			: u->openai_voice				 ? "default"
									 : NULL;
		if (!voice)
			return fail(e, "invalid_value",
				    rt->beta ? "session.voice" : "session.audio.output.voice",
				    "unknown voice '%s' (voices: %s, or one of OpenAI's names for the "
				    "server's default voice)",
				    u->voice, parley_tts_all_voices());
	}
	if ((u->has & UP_INSTRUCTIONS) && u->instructions &&
	    !parley_utf8_valid(u->instructions, strlen(u->instructions)))
		return fail(e, "invalid_value", "session.instructions",
			    "session.instructions is not valid UTF-8");
	char *instructions = NULL;
	if ((u->has & UP_INSTRUCTIONS) && u->instructions) {
		instructions = strdup(u->instructions);
		if (!instructions)
			return fail(e, "server_error", "session", "out of memory");
	}
	int rc = (u->has & UP_INSTRUCTIONS) ? parley_session_set_instructions(s, u->instructions) : 0;
	if (rc) { /* out of memory: nothing changed */
		free(instructions);
		return fail(e, rc == PARLEY_E_NOMEM ? "server_error" : "invalid_value", "session",
			    "session.update: %s", parley_strerror(rc));
	}
	/* From here on nothing fails: the values are in the setters' ranges
	 * (the parser checked them, the voice was looked up). */
	if (voice)
		parley_session_set_voice(s, voice);
	if (u->has & UP_IN_FORMAT) /* appends come from this thread: none races the switch */
		parley_session_set_input_rate(s, rt_codec_rate(u->in));
	if (u->has & UP_OUT_FORMAT) {
		/* Audio events come from other threads: while the session's rate
		 * and rt->out_codec disagree, an audio delta is encoded in the
		 * codec of the rate it is at (out_next), never mislabelled. */
		pthread_mutex_lock(&rt->lock);
		rt->out_next = u->out;
		pthread_mutex_unlock(&rt->lock);
		parley_session_set_output_rate(s, rt_codec_rate(u->out));
	}
	if (u->has & UP_SPEED)
		parley_session_set_tts_rate(s, fmax(u->speed, PARLEY_TTS_RATE_MIN));
	if (u->has & UP_TURNS) {
		parley_session_set_turns(s, &u->turns);
		if (u->turns.mode == PARLEY_TURNS_ADAPTIVE)
			parley_session_set_speed(s, rt_eagerness[u->eagerness].speed);
	}
	if (u->has & UP_MODALITIES)
		parley_session_set_spoken(s, !u->text_only);

	pthread_mutex_lock(&rt->lock);
	if (u->has & UP_INSTRUCTIONS) {
		free(rt->instructions);
		rt->instructions = instructions;
	}
	if (u->has & UP_MODALITIES)
		rt->text_only = u->text_only;
	if (u->has & UP_IN_FORMAT)
		rt->in_codec = u->in;
	if (u->has & UP_OUT_FORMAT)
		rt->out_codec = u->out;
	if (u->has & UP_TRANSCRIPTION) {
		rt->transcription = u->transcription;
		strcpy(rt->tr_model, u->tr_model);
		strcpy(rt->tr_language, u->tr_language);
	}
	if (u->has & UP_TURNS)
		rt->eagerness = u->eagerness;
	if (u->has & UP_VOICE)
		strcpy(rt->voice, u->voice);
	if (u->has & UP_SPEED)
		rt->speed = u->speed;
	if (u->has & UP_TEMPERATURE)
		rt->temperature = u->temperature;
	if (u->has & UP_MAX_TOKENS)
		rt->max_tokens = u->max_tokens;
	pthread_mutex_unlock(&rt->lock);
	return 0;
}

void rt_session_update(struct parley_session *s, json_t *ev, const char *event_id)
{
	struct rt *rt = rt_of(s);
	json_t *sess = json_object_get(ev, "session");
	struct update u = { 0 };
	struct perr e = { .code = NULL };
	if (!json_is_object(sess)) {
		rt_client_error(s, event_id, "missing_required_parameter", "session",
				"session.update needs a 'session' object");
		return;
	}
	int rc = parse_common(sess, &u, &e);
	if (!rc)
		rc = rt->beta ? parse_beta(rt, sess, &u, &e) : parse_ga(rt, sess, &u, &e);
	if (!rc)
		rc = apply(s, rt, &u, &e);
	if (rc) {
		rt_client_error(s, event_id, e.code, e.param, "%s", e.message);
		return;
	}
	PARLEY_DEBUG("session %llu: realtime session updated",
		     (unsigned long long)parley_session_id(s));
	rt_session_push(s, RT_EV_SESSION_UPDATED);
}
