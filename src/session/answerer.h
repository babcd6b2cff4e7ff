/*
 * answerer.h - the answerer: the conversation's history, the answer in
 * flight and its LLM request. Included through session/internal.h only.
 *
 * An answer is what the assistant says in one response: open from
 * answer_started (a turn was submitted, respond() was called, a
 * speculation was adopted) until its one answer_final, whose outcome says
 * how it ended (session.h). answer.c keeps that life and the history;
 * request.c is the answer's LLM request on the shared engine (request.h);
 * respond.c the calls a client makes on answers (typed messages, respond,
 * cancel, truncate, instructions). The answer's text goes to the speaker
 * (speaker.h) when it is spoken, or straight to the client.
 *
 * `gen` bumps whenever an answer is superseded (a newer turn,
 * clear_history, barge-in, cancel, the session closing): the late
 * callbacks of a superseded request and the speaker's jobs of a
 * superseded answer compare it and stay silent.
 *
 * Threads and locks: struct parley_answerer is guarded by s->lock, the
 * conversation lock. The LLM engine is called only without it.
 */
#ifndef PARLEY_SESSION_ANSWERER_H
#define PARLEY_SESSION_ANSWERER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "session/history.h"
#include "session/request.h"
#include "session/session.h"
#include "util/buf.h"

struct parley_session;

/* Stage timestamps of the current turn (CLOCK_MONOTONIC ns, 0 = not yet). */
struct parley_turn_times {
	int64_t speech_end;  /* last loud frame of the user's turn */
	int64_t final;       /* final transcript (or typed turn received) */
	int64_t first_token;
	int64_t first_audio;
};

/* A session's answerer; every field guarded by s->lock. */
struct parley_answerer {
	struct parley_history history;
	uint64_t gen;                /* bumps when an answer is superseded */
	uint64_t llm_req;            /* request in flight, 0 = none */
	int submitting;              /* turns between supersede and knowing their llm_req */
	uint64_t ended_gen;          /* the last answer generation that ended */
	struct parley_buf text;      /* the current answer's text */
	bool in_history;             /* the last answer completed into history */
	struct parley_turn_times times;
	char *instructions;          /* the session's system prompt, or NULL */
	bool open;                   /* answer_started sent, its answer_final not yet */
	uint64_t hist_id;            /* the current answer's history entry, 0 none */
	uint64_t seq;                /* answers started */
	uint64_t id;                 /* the current answer's number, 0 none */
	uint64_t user_hist_id;       /* the entry of the last user message added */
};

/* answer.c: set up at creation (answers of at most max_bytes, a history
 * of history_chars) and torn down at the last unref. */
void parley_answerer_init(struct parley_answerer *a, size_t max_bytes, size_t history_chars);
void parley_answerer_destroy(struct parley_answerer *a);

/* answer.c, caller holds s->lock: the current answer begins:
 * answer_started, and whether it is spoken (the speaker's). */
void parley_answer_started_locked(struct parley_session *s);
/* answer.c, caller holds s->lock: the current answer ends: its one
 * answer_final (nothing if none is open). */
void parley_answer_final_locked(struct parley_session *s, const char *text, size_t len,
				enum parley_answer_outcome how);
/* answer.c, caller holds s->lock: what a cut answer keeps (cancel,
 * barge-in): spoken, what the user heard; text only, the text sent.
 * malloc'd, caller frees; NULL on OOM. */
char *parley_answer_kept_locked(struct parley_session *s, int64_t now_ns);
/* answer.c, caller holds s->lock: the answer's entry in the history
 * becomes text (cut), or is added if it has none. */
void parley_answer_cut_history_locked(struct parley_session *s, const char *text);
/* answer.c, caller holds s->lock: a barge-in interrupted the answer; the
 * user heard `heard`: the history keeps that (cut), the answer ends
 * INTERRUPTED with it (one whose answer_final was sent while its audio
 * still played is cut again: session.h), and it is superseded. Returns
 * its request id (0 if none) for the caller to cancel after unlocking. */
uint64_t parley_answer_interrupted_locked(struct parley_session *s, const char *heard);
/* answer.c, caller holds s->lock: supersedes the answer in flight (an
 * open one ends CANCELLED, what was sent; keep_partial: the history keeps
 * its text, cut); returns its request id (0 if none) for the caller to
 * cancel after unlocking. */
uint64_t parley_answer_supersede_locked(struct parley_session *s, bool keep_partial);
/* answer.c: cancels the answer in flight without touching the history
 * (the session is closing), and the speculation. Any thread, without
 * s->lock. */
void parley_answer_cancel(struct parley_session *s);
/* answer.c, caller holds s->lock: the first audio of the current answer
 * was sent: its stage times are logged and observed (once per answer). */
void parley_answer_first_audio_locked(struct parley_session *s);

/* answer.c: a user message text[0..len) joins the history without an
 * answer (0, or PARLEY_E_NOMEM). Any thread, without s->lock. */
int parley_answer_add_user(struct parley_session *s, const char *text, size_t len);
/* answer.c, the same with s->lock held (request.c). */
int parley_answer_add_user_locked(struct parley_session *s, const char *text, size_t len);

/* answer.c, caller holds s->lock: the history entry of the last user
 * message added (0 none). */
uint64_t parley_answer_user_entry_locked(const struct parley_session *s);
/* answer.c, caller holds s->lock: the user entry `entry` now reads text
 * (a merged turn); PARLEY_E_NOTFOUND if it left the history. */
int parley_answer_rewrite_user_locked(struct parley_session *s, uint64_t entry, const char *text);

/* answer.c, caller holds s->lock: small questions of the other parts. */
uint64_t parley_answer_gen_locked(const struct parley_session *s);  /* the generation */
bool parley_answer_open_locked(const struct parley_session *s);     /* an answer is open */
bool parley_answer_generating_locked(const struct parley_session *s); /* a request is in
								       flight or being submitted */
bool parley_answer_requesting_locked(const struct parley_session *s); /* a request is in
									flight */
bool parley_answer_has_text_locked(const struct parley_session *s); /* its text so far */
/* The system prompt of the session's requests (borrowed while locked). */
const char *parley_answer_prompt_locked(struct parley_session *s);
/* The messages of a request: the history (with the prompt) plus, unless
 * NULL, text as a user turn that does not join the history. NULL on OOM. */
json_t *parley_answer_messages_locked(struct parley_session *s, const char *text);

#endif
