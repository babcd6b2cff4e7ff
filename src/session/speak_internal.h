/*
 * speak_internal.h - the speaker's queue and pump and the calls between its two
 * files; included by speak.c and speak_audio.c only.
 *
 * speak.c is the speaker's queue and pump: answer text cut into pieces,
 * queued with the final answer and errors, and one synthesis (struct say)
 * started at a time, in order, on the session's TTS strand. speak_audio.c
 * is what becomes of a synthesis's audio: the engine's sink (directly on
 * an embedded engine's worker, or through the inbox for a remote engine on
 * the HTTP pool's thread), the streaming resampler and the 100 ms chunks
 * queued under the generation check, and the synthesis's end.
 *
 * Threads and locks: struct parley_speak_queue is guarded by s->lock; struct
 * say's fields say which are guarded by s->lock and which belong to the
 * one thread that takes its audio. Engine calls are never made with
 * s->lock held.
 *
 * Lifetime: each synthesis (struct say) holds a session reference until its
 * end callback, which may come after the session closed. Its job handle is
 * released exactly once, by whichever of the end callback and the pump
 * (start() returning, cancel()) is last to be done with it (`uses`).
 */
#ifndef PARLEY_SESSION_SPEAK_INTERNAL_H
#define PARLEY_SESSION_SPEAK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session/internal.h"
#include "tts/tts.h"

struct item;
struct say;

/* A remote engine's callback on its way to the TTS strand (speak_audio.c). */
struct note {
	struct note *next;
	struct say *y;
	bool end;                       /* the end, else audio */
	enum parley_speech_end how;     /* end */
	enum parley_speech_cause cause; /* end */
	bool has_message;               /* end: message is set */
	char message[128];              /* end: the engine's message (<= 120 bytes) */
	int rate;                       /* audio: pcm[0..n) at rate Hz */
	size_t n, bytes;
	int16_t *pcm;                   /* audio: allocated with the note */
};

/* One synthesis job: one sub-piece of a piece. */
struct say {
	struct parley_session *s;   /* a reference, dropped at end */
	uint64_t gen;
	struct parley_tts_voice voice;
	int out_rate;
	struct parley_tts_job *job; /* guarded by s->lock: NULL until start() returned */
	int uses;                   /* guarded by s->lock: the pump is inside start/cancel */
	bool ended, released;       /* guarded by s->lock */
	bool remote;                /* the sink goes through the inbox */
	bool overrun;               /* guarded by s->lock: the inbox was full, the rest is dropped */
	struct note fin;            /* a remote engine's end, posted in the inbox */
	/* the thread that takes the audio (the embedded engine's worker, or the
	 * TTS strand draining the inbox), one callback at a time */
	struct parley_resampler *rs;
	int in_rate;
	int16_t *buf;               /* output-rate samples not yet queued (< one chunk) */
	size_t nbuf, cap;
	bool stale;                 /* the answer was superseded: drop the rest */
};

/* The speaker's queue and pump (s->spk.q); every field guarded by s->lock. */
struct parley_speak_queue {
	struct item *head, *tail;
	struct say *running;  /* the current answer's synthesis, or NULL */
	bool pump_queued;
	int64_t piece_ms;     /* audio queued for the piece at the head */
	bool failed;          /* synthesis failed in answer failed_gen: */
	uint64_t failed_gen;  /* the rest of it is text only */
	struct note *in_head, *in_tail; /* the inbox, oldest first */
	size_t in_bytes;      /* audio bytes in the inbox */
	bool drain_queued;    /* a drain job owns the inbox until it finds it empty */
};

/* --- speak.c: the queue and the pump --- */

/* Caller holds s->lock. The class of the speaker's next job: urgent until
 * the answer's first piece has been spoken, normal after. */
enum parley_job_class parley_speak_class_locked(const struct parley_session *s);

/* Caller holds s->lock. Queues the pump unless it is queued (a closed
 * session's only when even_closing: parley_speak_stop()). */
void parley_speak_kick_locked(struct parley_session *s, bool even_closing);

/* Caller holds s->lock: synthesis failed in answer gen; true if the
 * client should be told (once per answer). */
bool parley_speak_note_failure_locked(struct parley_speak_queue *sp, uint64_t gen);

/* --- speak_audio.c: a synthesis's audio and end --- */

/* The sink for synthesis y's job (y is its arg, until the end callback).
 * Its callbacks run on an embedded engine's worker or the HTTP pool's
 * thread. */
struct parley_tts_sink parley_speak_sink(struct say *y);

/* Caller holds s->lock: true when y's job handle is to be released now
 * (ended, start() returned, the pump is not using it); the caller then
 * frees y with parley_speak_say_free() after unlocking. */
bool parley_speak_release_due_locked(struct say *y);

/* Releases y's job and frees y (takes ownership; not under s->lock). */
void parley_speak_say_free(struct say *y);

#endif
