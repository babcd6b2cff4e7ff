/*
 * admission.c - who runs next on the shared LLM engine (engine.h): the
 * FIFOs of waiting requests, the bounds submit() and promote() check, and
 * the admission pass the engine thread runs: ordinary requests first come,
 * first served into free slots, then into slots taken from the running
 * speculations (newest first), and speculations only into free slots when
 * no ordinary request waits.
 *
 * Pure bookkeeping: every call here is made with e->lock held and does no
 * I/O, calls no backend and no callback; what a decision leads to (starting,
 * ending a preempted request, waking the engine thread) is engine.c's.
 */
#include <stdio.h>

#include "llm/internal.h"
#include "util/err.h"

/* Caller holds e->lock: takes r out of the running speculations. */
void parley_llm_unlink_spec_locked(struct parley_llm_engine *e, struct req *r)
{
	for (struct req **p = &e->spec_running; *p; p = &(*p)->snext) {
		if (*p == r) {
			*p = r->snext;
			r->snext = NULL;
			r->spec = false;
			e->admitted_spec--;
			return;
		}
	}
}

static void fifo_push(struct parley_llm_fifo *q, struct req *r)
{
	r->next = NULL;
	if (q->tail)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
	q->n++;
}

static struct req *fifo_pop(struct parley_llm_fifo *q)
{
	struct req *r = q->head;
	if (!r)
		return NULL;
	q->head = r->next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	r->next = NULL;
	return r;
}

/* Takes request id out of q; NULL when it is not there. */
struct req *parley_llm_fifo_take(struct parley_llm_fifo *q, uint64_t id)
{
	struct req *prev = NULL;
	for (struct req *r = q->head; r; prev = r, r = r->next) {
		if (r->id != id)
			continue;
		if (prev)
			prev->next = r->next;
		else
			q->head = r->next;
		if (q->tail == r)
			q->tail = prev;
		q->n--;
		r->next = NULL;
		return r;
	}
	return NULL;
}

/* Appends q's requests to the list at *tail (link: next); empties q. */
void parley_llm_fifo_drain(struct parley_llm_fifo *q, struct req ***tail)
{
	while (q->head) {
		struct req *r = fifo_pop(q);
		**tail = r;
		*tail = &r->next;
	}
}

static int ordinary_admitted(const struct parley_llm_engine *e)
{
	return e->admitted - e->admitted_spec;
}

/*
 * Admission (engine.h): ordinary requests into free slots, then into slots
 * taken from running speculations (newest first: the least work lost),
 * which go to *preempted (link: snext) for the caller to end; speculations
 * only into free slots with no ordinary request waiting. The admitted go
 * to *admit_tail (link: next).
 */
void parley_llm_admit_locked(struct parley_llm_engine *e, struct req ***admit_tail,
			 struct req **preempted)
{
	int max = e->cfg->llm_max_inflight;
	while (e->waiting.head) {
		if (e->admitted >= max) {
			struct req *v = e->spec_running;
			if (!v)
				break;
			parley_llm_unlink_spec_locked(e, v);
			v->admitted = false; /* its slot is the waiting request's now */
			e->admitted--;
			v->snext = *preempted;
			*preempted = v;
		}
		struct req *r = fifo_pop(&e->waiting);
		e->admitted++;
		r->admitted = true;
		**admit_tail = r;
		*admit_tail = &r->next;
	}
	while (!e->waiting.head && e->swaiting.head && e->admitted < max) {
		struct req *r = fifo_pop(&e->swaiting);
		e->admitted++;
		e->admitted_spec++;
		r->admitted = true;
		r->snext = e->spec_running;
		e->spec_running = r;
		**admit_tail = r;
		*admit_tail = &r->next;
	}
}

/* Caller holds e->lock: would parley_llm_admit_locked() admit anything now? */
bool parley_llm_admissible_locked(const struct parley_llm_engine *e)
{
	if (e->info.state != PARLEY_LLM_READY)
		return false;
	int max = e->cfg->llm_max_inflight;
	if (e->waiting.head)
		return e->admitted < max || e->spec_running;
	return e->swaiting.head && e->admitted < max;
}

int parley_llm_queue_locked(struct parley_llm_engine *e, struct req *r, bool spec, char *why,
			    size_t whylen)
{
	const struct parley_config *cfg = e->cfg;
	if (spec && e->swaiting.n >= (size_t)(cfg->llm_max_queue ? cfg->llm_max_queue : 1)) {
		/* --llm-max-queue 0 still lets one speculation wait for a free slot */
		snprintf(why, whylen, "%zu speculative answers are waiting", e->swaiting.n);
		return PARLEY_E_FULL;
	}
	if (!spec && e->waiting.n + (size_t)ordinary_admitted(e) >=
			     (size_t)cfg->llm_max_inflight + (size_t)cfg->llm_max_queue) {
		/* speculations are not counted: they give way */
		snprintf(why, whylen, "%d answers are being generated and %zu are waiting",
			 ordinary_admitted(e), e->waiting.n);
		return PARLEY_E_FULL;
	}
	r->id = ++e->next_id;
	r->spec = spec;
	fifo_push(spec ? &e->swaiting : &e->waiting, r);
	return 0;
}

int parley_llm_promote_locked(struct parley_llm_engine *e, uint64_t id)
{
	const struct parley_config *cfg = e->cfg;
	for (struct req *r = e->spec_running; r; r = r->snext) {
		if (r->id == id) {
			parley_llm_unlink_spec_locked(e, r);
			return 0;
		}
	}
	bool room = e->waiting.n + (size_t)ordinary_admitted(e) <
		    (size_t)cfg->llm_max_inflight + (size_t)cfg->llm_max_queue;
	struct req *r = room ? parley_llm_fifo_take(&e->swaiting, id) : NULL;
	if (r) {
		r->spec = false;
		fifo_push(&e->waiting, r);
		return 0;
	}
	if (!room) {
		for (r = e->swaiting.head; r && r->id != id; r = r->next)
			;
		if (r)
			return PARLEY_E_FULL;
	}
	return PARLEY_E_NOTFOUND;
}
