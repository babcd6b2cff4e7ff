/*
 * request.h - one answer's LLM request (request.c), as the engine's
 * callbacks see it. Part of the answerer (answerer.h); the turn-taker's
 * speculation (speculate.c) starts requests HELD. Included through
 * session/internal.h only.
 *
 * An ordinary request is CURRENT from the start: its tokens go to the
 * client while gen == the answerer's generation. A speculation starts
 * HELD: everything it produces is kept in `held` (and its end in
 * `ended`/`end`) and nothing reaches the client. When its turn is
 * confirmed it is CONFIRMING while the engine promotes it (still held),
 * then either adopted (parley_request_adopt_locked(): CURRENT, the held
 * text replayed as if it had just arrived) or DISCARDED: it is cancelled
 * and its late callbacks do nothing but free it.
 *
 * Ownership: the request holds a session reference. Whoever is last frees
 * it (parley_request_free()): the end callback, unless the request is HELD
 * or CONFIRMING then (the turn-taker's speculation slot, or the confirming
 * thread, owns an ended one); the discarder or the adopter of one that had
 * already ended.
 */
#ifndef PARLEY_SESSION_REQUEST_H
#define PARLEY_SESSION_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llm/engine.h"
#include "util/buf.h"

struct parley_session;

enum parley_request_state {
	PARLEY_REQUEST_CURRENT = 0,
	PARLEY_REQUEST_HELD,
	PARLEY_REQUEST_CONFIRMING,
	PARLEY_REQUEST_DISCARDED,
};

struct parley_request {
	struct parley_session *s;         /* one reference */
	int64_t submitted_ns;
	/* guarded by s->lock: */
	uint64_t gen;                     /* CURRENT: the answerer's generation it answers */
	enum parley_request_state state;
	int64_t first_token_ns;
	struct parley_buf held;           /* text produced while not CURRENT */
	bool ended;                       /* the end came while not CURRENT: */
	enum parley_llm_end end;          /* how */
	uint64_t id;                      /* a speculation's request id (0 until submitted) */
	uint64_t seq;                     /* a speculation's number */
	char *norm;                       /* a speculation's user text, normalised (textnorm.h) */
	int64_t speech_end_ns;            /* a speculation's: when the user stopped */
};

/* A new request of s (takes a session reference), CURRENT; NULL on OOM.
 * parley_request_free() drops the reference and frees it (accepts NULL).
 * Any thread, without s->lock. */
struct parley_request *parley_request_new(struct parley_session *s);
void parley_request_free(struct parley_request *a);

/* The engine's callbacks for a request (ud: struct parley_request); the
 * LLM engine's thread, each taking s->lock. */
void parley_request_token(void *ud, const char *text, size_t len);
void parley_request_end(void *ud, enum parley_llm_end end, enum parley_llm_cause cause,
			const char *message);

/* Caller holds s->lock: a CONFIRMING speculation becomes the answer to the
 * user turn text[0..len): the answer in flight is superseded (its request
 * id returned for the caller to cancel after unlocking), the turn joins the
 * history, and what the speculation held is replayed to the client (and,
 * if it had ended, its end). The caller frees it after unlocking when
 * a->ended. */
uint64_t parley_request_adopt_locked(struct parley_session *s, struct parley_request *a,
				     const char *text, size_t len, int64_t speech_end_ns);

/* Starts an answer to the conversation, with the user turn text[0..len)
 * added first unless text is NULL; the turn was admitted. if_idle
 * (respond()): PARLEY_E_BUSY when an answer is open. Returns 0 (problems
 * after answer_started end it FAILED and are reported), PARLEY_E_BUSY,
 * PARLEY_E_CLOSED (closing) or PARLEY_E_NOMEM (reported unless if_idle:
 * respond()'s caller reports it). Without s->lock. */
int parley_request_submit(struct parley_session *s, const char *text, size_t len,
			  int64_t speech_end_ns, bool if_idle);

#endif
