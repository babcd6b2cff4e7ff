/*
 * pocketsphinx.c - pocketsphinx decoders (Debian's pocketsphinx 5prealpha
 * with the en-us model) as decoder ops (stt/decoder.h); stt/embedded.c
 * turns them into the parley_stt_pocketsphinx engine. Fast defaults measured on
 * this project's machines: -fwdflat no -bestpath no -maxhmmpf 3000, about
 * 0.10x real time and ~27% WER on the librivox test clips.
 */
#include <pocketsphinx.h>
#include <sphinxbase/err.h>
#include <stdio.h>
#include <string.h>

#include "stt/decoder.h"
#include "util/log.h"

static int global_init(void)
{
	/* Logging is process-global; silence it once (no -logfn per decoder). */
	err_set_logfp(NULL);
	return 0;
}

static void *create(const struct parley_stt_settings *st)
{
	char maxhmmpf[16];
	snprintf(maxhmmpf, sizeof maxhmmpf, "%d", st->maxhmmpf);
	cmd_ln_t *cfg = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", st->hmm, "-lm", st->lm, "-dict",
				    st->dict, "-fwdflat", st->fwdflat ? "yes" : "no", "-bestpath",
				    st->bestpath ? "yes" : "no", "-maxhmmpf", maxhmmpf, "-samprate",
				    "16000", NULL);
	if (!cfg) {
		PARLEY_ERROR("pocketsphinx: bad configuration (model %s)", st->hmm);
		return NULL;
	}
	ps_decoder_t *ps = ps_init(cfg);
	cmd_ln_free_r(cfg); /* the decoder keeps its own reference */
	if (!ps)
		PARLEY_ERROR("pocketsphinx: cannot load the model (%s, %s, %s)", st->hmm, st->lm,
			     st->dict);
	return ps;
}

static void destroy(void *dec)
{
	if (dec)
		ps_free(dec);
}

static int start(void *dec)
{
	return ps_start_utt(dec) < 0 ? -1 : 0;
}

static int feed(void *dec, const int16_t *pcm, size_t n)
{
	return ps_process_raw(dec, pcm, n, FALSE, FALSE) < 0 ? -1 : 0;
}

static void copy_hyp(const char *hyp, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", hyp ? hyp : "");
}

static void partial(void *dec, char *out, size_t outlen)
{
	int32 score;
	copy_hyp(ps_get_hyp(dec, &score), out, outlen);
}

static void finish(void *dec, char *out, size_t outlen)
{
	int32 score;
	ps_end_utt(dec);
	copy_hyp(ps_get_hyp(dec, &score), out, outlen);
}

const struct parley_stt_decoder_ops parley_stt_ps_decoder = {
	.name = "pocketsphinx",
	.rate = 16000,
	.global_init = global_init,
	.create = create,
	.destroy = destroy,
	.start = start,
	.feed = feed,
	.partial = partial,
	.finish = finish,
};
