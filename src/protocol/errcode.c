#include "protocol/errcode.h"

static const char *const codes[PARLEY_PE_COUNT] = {
	[PARLEY_PE_INVALID_JSON] = "invalid_json",
	[PARLEY_PE_INVALID_MESSAGE] = "invalid_message",
	[PARLEY_PE_UNKNOWN_TYPE] = "unknown_type",
	[PARLEY_PE_MISSING_FIELD] = "missing_field",
	[PARLEY_PE_INVALID_FIELD] = "invalid_field",
	[PARLEY_PE_UNKNOWN_FIELD] = "unknown_field",
	[PARLEY_PE_OUT_OF_RANGE] = "out_of_range",
	[PARLEY_PE_MESSAGE_TOO_LARGE] = "message_too_large",
	[PARLEY_PE_INVALID_FRAME] = "invalid_frame",
	[PARLEY_PE_FRAME_TOO_LARGE] = "frame_too_large",
	[PARLEY_PE_AUDIO_OVERFLOW] = "audio_overflow",
	[PARLEY_PE_SERVER_FULL] = "server_full",
	[PARLEY_PE_LLM_BUSY] = "llm_busy",
	[PARLEY_PE_LLM_UNAVAILABLE] = "llm_unavailable",
	[PARLEY_PE_LLM_ERROR] = "llm_error",
	[PARLEY_PE_LLM_TIMEOUT] = "llm_timeout",
	[PARLEY_PE_OVERLOADED] = "overloaded",
	[PARLEY_PE_AUDIO_TOO_FAST] = "audio_too_fast",
	[PARLEY_PE_RATE_LIMITED] = "rate_limited",
	[PARLEY_PE_TOO_MANY_SESSIONS] = "too_many_sessions",
	[PARLEY_PE_INTERNAL] = "internal_error",
	[PARLEY_PE_STT_BUSY] = "stt_busy",
	[PARLEY_PE_STT_UNAVAILABLE] = "stt_unavailable",
	[PARLEY_PE_STT_TIMEOUT] = "stt_timeout",
	[PARLEY_PE_STT_ERROR] = "stt_error",
	[PARLEY_PE_TTS_BUSY] = "tts_busy",
	[PARLEY_PE_TTS_UNAVAILABLE] = "tts_unavailable",
	[PARLEY_PE_TTS_TIMEOUT] = "tts_timeout",
	[PARLEY_PE_TTS_ERROR] = "tts_error",
};

const char *parley_proto_error_code(enum parley_proto_error e)
{
	if ((unsigned)e < PARLEY_PE_COUNT)
		return codes[e];
	return "internal_error";
}
