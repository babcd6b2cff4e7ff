/*
 * realtime_internal.h - what the files of the OpenAI Realtime protocol
 * (protocol/realtime*.c, docs/realtime.md) share; private to them.
 *
 * One struct rt per session (the session's `proto`, made by the wire's
 * proto_new): the dialect (GA or beta), the session settings only this
 * protocol knows (audio codings, text-only output, transcription events,
 * the names the client gave), the ids of the conversation's items and the
 * state of the response in progress. The files split the work:
 *   realtime.c          the wire: parse a client event, dispatch it, errors
 *   realtime_events.c   server events: ids, names by dialect, push
 *   realtime_session.c  session.update (parsed whole, applied all or nothing)
 *   realtime_session_json.c  the session object of session.created/updated
 *   realtime_audio.c    base64 and the audio codings (pcm16, G.711)
 *   realtime_input.c    the input buffer and the user's items (speech
 *                       events, commit, transcription events)
 *   realtime_items.c    conversation.item.create / truncate
 *   realtime_response.c the response state machine (answer_* -> response.*)
 *
 * Threads: the client event handlers (rt_session_update, rt_input_*,
 * rt_item_create/truncate, rt_response_create/cancel) run on the
 * transport's thread (wire.h's on_text), one event at a time, with no lock
 * held. The session events (rt_ev_*, the events table) run on any thread
 * (the listen strand, the LLM engine, the speech strand), some with the
 * session's lock held (session.h); each takes rt->lock itself. The
 * helpers below say which lock their caller holds.
 *
 * Locking: rt->lock guards every field below but the constant ones (beta,
 * model, session_id, conversation_id). Session events may run with the
 * session's lock held, so the order is session lock -> rt->lock -> the
 * out-queue's lock: code holding rt->lock never calls into the session
 * except parley_session_push() (the out-queue locks only itself) and
 * parley_session_settings_locked() from a locked event. Server events are
 * encoded and pushed with rt->lock held, so the state and the order of
 * the events agree.
 */
#ifndef PARLEY_PROTOCOL_REALTIME_INTERNAL_H
#define PARLEY_PROTOCOL_REALTIME_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/jsontext.h"
#include "session/session.h"
#include "session/settings.h"

#define RT_ID_MAX 40           /* "event_" + 21 base62, or a client's item id */
#define RT_CLIENT_ID_MAX 32    /* a client-chosen item id we keep (longer: refused) */
#define RT_EVENT_ID_MAX 512    /* a client's event_id (the API's limit) */
#define RT_TEXT_FRAME_MAX (1u << 20) /* largest client event: 1 MiB (~16 s of pcm16 24 kHz;
					     more than 5 s ahead of real time is dropped anyway) */

/* Server events (also the out-queue tags, for count_out). */
enum rt_ev {
	RT_EV_ERROR = 0,
	RT_EV_SESSION_CREATED,
	RT_EV_SESSION_UPDATED,
	RT_EV_SPEECH_STARTED,
	RT_EV_SPEECH_STOPPED,
	RT_EV_COMMITTED,
	RT_EV_CLEARED,
	RT_EV_ITEM_CREATED, /* beta */
	RT_EV_ITEM_ADDED,   /* GA */
	RT_EV_ITEM_DONE,    /* GA */
	RT_EV_ITEM_TRUNCATED,
	RT_EV_TRANSCRIPTION_DELTA,
	RT_EV_TRANSCRIPTION_COMPLETED,
	RT_EV_TRANSCRIPTION_FAILED,
	RT_EV_RESPONSE_CREATED,
	RT_EV_OUTPUT_ITEM_ADDED,
	RT_EV_OUTPUT_ITEM_DONE,
	RT_EV_CONTENT_PART_ADDED,
	RT_EV_CONTENT_PART_DONE,
	RT_EV_AUDIO_DELTA,
	RT_EV_AUDIO_DONE,
	RT_EV_AUDIO_TRANSCRIPT_DELTA,
	RT_EV_AUDIO_TRANSCRIPT_DONE,
	RT_EV_TEXT_DELTA,
	RT_EV_TEXT_DONE,
	RT_EV_RESPONSE_DONE,
	RT_EV_COUNT
};

/* Audio codings of the input and output buffers. */
enum rt_codec {
	RT_PCM16 = 0, /* 16-bit LE mono, 24 kHz */
	RT_ULAW,      /* G.711 mu-law, 8 kHz */
	RT_ALAW,      /* G.711 A-law, 8 kHz */
};

/* semantic_vad eagerness (reported back; mapped onto the speed setting). */
enum rt_eagerness { RT_EAGER_AUTO = 0, RT_EAGER_LOW, RT_EAGER_MEDIUM, RT_EAGER_HIGH };

/* How a response ended. */
enum rt_end {
	RT_END_COMPLETED = 0,
	RT_END_TURN_DETECTED, /* cancelled: the user spoke */
	RT_END_CLIENT,        /* cancelled: response.cancel */
	RT_END_FAILED,
};

struct rt_response {
	bool active;
	char id[RT_ID_MAX];
	char item_id[RT_ID_MAX];
	bool text_only;     /* as the session was when it began */
	bool stopped;       /* stop_tts: no more audio for it */
	bool cancel_asked;  /* response.cancel was accepted for it */
	size_t sent;        /* bytes of the transcript sent as deltas */
	size_t audio_bytes; /* of audio sent (encoded) */
	char *said;         /* the transcript sent (owned), `sent` bytes */
	char prev_item[RT_ID_MAX]; /* the item before its item */
	uint64_t answer;    /* the session's answer (answer_started) */
	size_t in_chars;    /* conversation text when it began (usage) */
};

/* An assistant item and the session's answer it carries (truncate). */
struct rt_said {
	char item[RT_ID_MAX];
	uint64_t answer;
};

#define RT_SAID_MAX 8 /* assistant items truncate can name, newest first */

/* A committed user item awaiting its transcript. */
struct rt_pending {
	char id[RT_ID_MAX];
	double seconds; /* of audio, for the transcription's usage */
};

struct rt {
	pthread_mutex_t lock;
	/* constant after proto_new */
	bool beta;
	char model[128];
	char session_id[RT_ID_MAX];
	char conversation_id[RT_ID_MAX];

	uint64_t rng; /* xorshift state for ids */

	/* settings only this protocol knows (session.update) */
	enum rt_codec in_codec, out_codec;
	enum rt_codec out_next; /* the output codec session.update is switching to: the
				   codec of audio at its rate while the rates disagree */
	bool text_only;     /* output modalities ["text"] */
	bool transcription; /* send input transcription events */
	char tr_model[64], tr_language[16];
	char voice[PARLEY_VOICE_MAX + 1]; /* as the client named it */
	double speed;                     /* audio.output.speed as given */
	enum rt_eagerness eagerness;
	double temperature;  /* beta: reported back only */
	int max_tokens;      /* -1: "inf"; reported back only */
	char *instructions;  /* the session's own (owned), NULL: none */

	/* the conversation's items */
	char last_item[RT_ID_MAX];      /* previous_item_id of the next item ("" = null) */
	struct rt_said said[RT_SAID_MAX]; /* the latest assistant items, newest first */
	uint64_t *item_ids;             /* a hash of every item's id (a client's may not
					   repeat one), grown as items come */
	size_t nitems, items_cap;
	char open_user[RT_ID_MAX];      /* speech_started's item, until it is committed */
	int64_t open_ms;                /* its audio_start_ms */
	int64_t cut_ms;                 /* input clock of the last commit (usage seconds) */
	/* committed items awaiting user_final/failed, in commit order: a ring
	 * that grows (the session bounds the commits that wait) */
	struct rt_pending *pending;
	size_t pending_cap, pending_head, pending_n;
	size_t conv_chars; /* text in the conversation (usage estimates) */

	struct rt_response resp;
	bool cancel_next; /* response.cancel came before the answer's answer_started */
};

/* The proto of a session of this wire (never NULL for one). */
static inline struct rt *rt_of(struct parley_session *s)
{
	return parley_session_proto(s);
}

/* --- realtime_events.c (rt->lock held unless said) --- */

/* A seed for rt->rng from the system's random source. Any thread. */
uint64_t rt_seed(void);
/* A fresh id: prefix + 21 base62 characters, into out (RT_ID_MAX). */
void rt_new_id(struct rt *rt, const char *prefix, char *out);
/* Same, from the system's random source (no rt: refusals). Any thread. */
void rt_new_id_norng(const char *prefix, char *out);
/* The event's name in the session's dialect. */
const char *rt_ev_name(bool beta, enum rt_ev ev);
/* {"type": name, "event_id": new id}, NULL on OOM. */
json_t *rt_event(struct rt *rt, enum rt_ev ev);
/* Encodes ev (stolen) and pushes it; logs OOM. */
void rt_push(struct parley_session *s, json_t *ev, enum rt_ev tag);
/* Pushes a message already encoded (stolen, may be NULL: OOM is logged). */
void rt_push_msg(struct parley_session *s, struct parley_msg *m);
/* An id as JSON: a string, or null when empty. */
json_t *rt_id_json(const char *id);
/* An `error` event. type: "invalid_request_error" or "server_error";
 * code, param and client_event_id may be NULL. */
json_t *rt_error_event(struct rt *rt, const char *type, const char *code, const char *message,
		       const char *param, const char *client_event_id);
/* Takes rt->lock itself: an error about a client event (message printf). */
void rt_client_error(struct parley_session *s, const char *event_id, const char *code,
		     const char *param, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* --- realtime_session.c, realtime_session_json.c --- */

/* session.update (on_text's thread, no lock held). */
void rt_session_update(struct parley_session *s, json_t *ev, const char *event_id);
/* Pushes session.created or .updated with the session in force (no lock
 * held: reads the session's turns, then takes rt->lock). */
void rt_session_push(struct parley_session *s, enum rt_ev kind);
/* Pushes session.created (the wire's hello; the transport's thread, no
 * lock held). */
void rt_session_hello(struct parley_session *s);
/* The dialect's name of a codec (beta) or its format object (GA); rt->lock
 * held (or rt not yet shared). */
json_t *rt_format_json(const struct rt *rt, enum rt_codec c);
/* The formats' names by codec, and semantic_vad's eagerness names with the
 * turn-taking patience each maps to (0 quick .. 100 patient). Constant. */
extern const char *const rt_ga_format[3];
extern const char *const rt_beta_format[3];
struct rt_eagerness_info {
	const char *name;
	double speed;
};
extern const struct rt_eagerness_info rt_eagerness[4];

/* --- realtime_audio.c (pure) --- */

/* Decodes base64 (standard alphabet, padding optional, no whitespace)
 * into a new buffer (caller frees) of *n bytes. PARLEY_E_INVAL on a bad
 * character or length, PARLEY_E_NOMEM. */
int rt_base64_decode(const char *in, size_t len, uint8_t **out, size_t *n);
/* Samples of `bytes` bytes in codec c (pcm16: bytes must be even). */
size_t rt_codec_samples(enum rt_codec c, size_t bytes);
/* Decodes bytes of codec c into pcm (room for rt_codec_samples()). */
void rt_codec_decode(enum rt_codec c, const uint8_t *in, size_t bytes, int16_t *pcm);
/* Encodes n samples into out (room for rt_codec_bytes(c, n)). */
size_t rt_codec_bytes(enum rt_codec c, size_t n);
void rt_codec_encode(enum rt_codec c, const int16_t *pcm, size_t n, uint8_t *out);
/* The codec's sample rate (24000, 8000). */
int rt_codec_rate(enum rt_codec c);

/* --- realtime_input.c --- */

/* input_audio_buffer.append / commit / clear (on_text's thread, no lock
 * held). */
void rt_input_append(struct parley_session *s, json_t *ev, const char *event_id);
void rt_input_commit(struct parley_session *s, json_t *ev, const char *event_id);
void rt_input_clear(struct parley_session *s, json_t *ev, const char *event_id);
/* An item joined the conversation: conversation.item.created (beta) or
 * .added + .done (GA). item is borrowed (NULL: nothing). rt->lock held. */
void rt_item_appeared(struct parley_session *s, struct rt *rt, json_t *item, const char *prev);
/* A message item {id, type, status, role, content: []} in the dialect
 * (NULL on OOM); rt->lock held. */
json_t *rt_message_item(const struct rt *rt, const char *id, const char *status,
			const char *role);
extern const struct parley_session_events rt_events_table; /* realtime_response.c */
/* The input side's session events (session.h): any thread, maybe with the
 * session's lock held; each takes rt->lock itself. */
void rt_ev_speech_started(struct parley_session *s, int64_t audio_ms);
void rt_ev_speech_stopped(struct parley_session *s, int64_t audio_ms);
void rt_ev_committed(struct parley_session *s, int64_t audio_ms, bool opened);
void rt_ev_user_partial(struct parley_session *s, const char *text);
void rt_ev_user_final(struct parley_session *s, const char *text, const char *whole);
void rt_ev_user_failed(struct parley_session *s, const char *why);

/* --- realtime_items.c --- */

/* conversation.item.create / truncate (on_text's thread, no lock held). */
void rt_item_create(struct parley_session *s, json_t *ev, const char *event_id);
void rt_item_truncate(struct parley_session *s, json_t *ev, const char *event_id);
/* An item with this id joined the conversation (rt->lock held; OOM: it is
 * not remembered, logged). */
void rt_item_note(struct rt *rt, const char *id);
/* Has an item with this id joined it? (rt->lock held) */
bool rt_item_known(const struct rt *rt, const char *id);

/* --- realtime_response.c --- */

/* response.create / cancel (on_text's thread, no lock held). */
void rt_response_create(struct parley_session *s, json_t *ev, const char *event_id);
void rt_response_cancel(struct parley_session *s, json_t *ev, const char *event_id);
/* The error event for a session problem (the session's error event: any
 * thread, no session lock; takes rt->lock itself). */
void rt_ev_error(struct parley_session *s, enum parley_session_problem p, const char *message);

#endif
