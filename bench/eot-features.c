/*
 * parley-eot-features: the end-of-turn model's cues for each line of
 * standard input, as the server computes them (text/eot_model.h,
 * text/eot_lm.h), one JSON object per line on standard output:
 *   {"words":N,"trailing":0|1,"reply":0|1,"number":0|1,"name":0|1,
 *    "lm_end":X,"lm_last":X,"p":P,"decision":"confident|unsure|..."}
 * bench/eot-fit.mjs fits the model's weights on them.
 *
 *   parley-eot-features [LM]   (default: pocketsphinx's en-us.lm.bin)
 */
#include <stdio.h>
#include <string.h>

#include <sphinxbase/err.h>

#include "text/eot_lm.h"
#include "text/eot_model.h"

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin";
	char why[256];
	err_set_logfp(NULL);
	struct parley_eot_lm *lm = parley_eot_lm_create(path, why, sizeof why);
	if (!lm) {
		fprintf(stderr, "parley-eot-features: %s\n", why);
		return 1;
	}
	char line[4096];
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		struct parley_eot_features f;
		parley_eot_features_of(line, &f);
		parley_eot_lm_cues(lm, line, &f);
		printf("{\"words\":%d,\"trailing\":%d,\"reply\":%d,\"number\":%d,\"name\":%d,"
		       "\"lm_end\":%.4f,\"lm_last\":%.4f,\"p\":%.4f,\"decision\":\"%s\"}\n",
		       f.words, f.trailing, f.reply, f.number, f.name, f.lm_end, f.lm_last,
		       parley_eot_p_finished(&f), parley_eot_decision_name(parley_eot_decide(&f)));
	}
	parley_eot_lm_destroy(lm);
	return 0;
}
