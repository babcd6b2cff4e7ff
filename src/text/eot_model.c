#include "text/eot_model.h"

#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "text/turn_rules.h"

/*
 * The weights of p(finished) = 1 / (1 + exp(-z)),
 *   z = BIAS + W_LM_END * lm_end + W_LM_LAST * lm_last
 *     + W_WORDS * min(words, WORDS_CAP) + W_NUMBER * number + W_NAME * name.
 * Fitted by bench/eot-fit.mjs (logistic regression, L2 0.01, on the TUNE
 * part of bench/lib/eotset.mjs only: its 30 finished sentences against
 * their 30 first parts, cut where the pause falls, as the recogniser heard
 * them in `node bench/turn-end.mjs --split tune`). Re-run it after changing
 * a cue; its output is these lines.
 */
#define BIAS (-8.946)
#define W_LM_END (-0.027)
#define W_LM_LAST 0.313
#define W_WORDS 1.364
#define W_NUMBER (-0.552)
#define W_NAME (-0.307)
#define WORDS_CAP 12

/* Number words: a number goes on ("five five five ...", "twenty ... five"). */
static const char *const numbers[] = {
	"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
	"eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
	"eighteen", "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy",
	"eighty", "ninety", "hundred", "thousand", "million", "billion",
};

/* Titles and common English first names (the most frequent given names in
 * the US and UK): a surname often follows ("call John ... Smith"). */
static const char *const names[] = {
	"doctor", "dr", "mister", "mr", "mrs", "missus", "ms", "saint", "professor", "captain",
	"aaron", "adam", "alan", "albert", "alex", "alexander", "alice", "amanda", "amy", "andrew",
	"angela", "ann", "anna", "anne", "anthony", "arthur", "barbara", "ben", "benjamin", "betty",
	"bill", "bob", "brian", "carl", "carol", "caroline", "catherine", "charles", "charlie",
	"charlotte", "chris", "christian", "christine", "christopher", "claire", "daniel", "david",
	"deborah", "dennis", "diana", "donald", "dorothy", "edward", "elizabeth", "ella", "ellen",
	"emily", "emma", "eric", "frank", "gary", "george", "grace", "gregory", "hannah", "harry",
	"helen", "henry", "jack", "jacob", "james", "jane", "janet", "jason", "jeff", "jennifer",
	"jessica", "jim", "joan", "joe", "john", "jonathan", "joseph", "joshua", "joyce", "julia",
	"julie", "karen", "kate", "katherine", "kelly", "kenneth", "kevin", "laura", "linda", "lisa",
	"lucy", "margaret", "maria", "marie", "mark", "martha", "martin", "mary", "matthew",
	"megan", "melissa", "michael", "michelle", "nancy", "nicholas", "nicole", "oliver", "olivia",
	"pamela", "patricia", "patrick", "paul", "peter", "philip", "rachel", "raymond", "rebecca",
	"richard", "robert", "ronald", "rose", "ruth", "ryan", "samuel", "sandra", "sarah", "scott",
	"sharon", "sophie", "stephen", "steven", "susan", "thomas", "timothy", "tom", "victoria",
	"walter", "william", "zoe",
};

static bool listed(const char *const *list, size_t n, const char *w)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(list[i], w) == 0)
			return true;
	}
	return false;
}

#define LISTED(list, w) listed(list, sizeof list / sizeof list[0], w)

static bool word_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '\'';
}

void parley_eot_features_of(const char *text, struct parley_eot_features *f)
{
	memset(f, 0, sizeof *f);
	f->lm_end = PARLEY_EOT_LM_END_NONE;
	f->lm_last = PARLEY_EOT_LM_LAST_NONE;
	if (!text)
		return;
	char last[32] = "";
	for (size_t i = 0; text[i];) {
		if (!word_char(text[i])) {
			i++;
			continue;
		}
		size_t s = i;
		while (text[i] && word_char(text[i]))
			i++;
		size_t n = i - s < sizeof last - 1 ? i - s : sizeof last - 1;
		memcpy(last, text + s, n);
		last[n] = '\0';
		f->words++;
	}
	if (!f->words)
		return;
	f->trailing = parley_turn_trails_off(text);
	f->reply = parley_turn_is_reply(text);
	f->number = isdigit((unsigned char)last[0]) || LISTED(numbers, last);
	f->name = LISTED(names, last);
}

double parley_eot_p_finished(const struct parley_eot_features *f)
{
	double words = f->words < WORDS_CAP ? f->words : WORDS_CAP;
	double z = BIAS + W_LM_END * f->lm_end + W_LM_LAST * f->lm_last + W_WORDS * words +
		   W_NUMBER * f->number + W_NAME * f->name;
	return 1.0 / (1.0 + exp(-z));
}

enum parley_eot_decision parley_eot_decide(const struct parley_eot_features *f)
{
	if (!f->words)
		return PARLEY_EOT_NO_WORDS;
	if (f->trailing)
		return PARLEY_EOT_TRAILING;
	double p = parley_eot_p_finished(f);
	if (f->reply || p >= PARLEY_EOT_SURE)
		return PARLEY_EOT_SURE_END;
	if (p >= PARLEY_EOT_CONFIDENT ||
	    (f->lm_end >= PARLEY_EOT_LM_ENDS && f->words >= PARLEY_EOT_LM_WORDS && !f->number &&
	     !f->name))
		return PARLEY_EOT_CONFIDENT_END;
	return PARLEY_EOT_UNSURE;
}

int parley_eot_silence_ms(enum parley_eot_decision d, int since_change_ms, double speed)
{
	bool quick = d == PARLEY_EOT_SURE_END || d == PARLEY_EOT_CONFIDENT_END;
	double ms = d == PARLEY_EOT_SURE_END	  ? PARLEY_EOT_FASTEST_MS
		    : d == PARLEY_EOT_CONFIDENT_END ? PARLEY_EOT_FAST_MS
		    : d == PARLEY_EOT_UNSURE	  ? PARLEY_EOT_UNSURE_MS
		    : d == PARLEY_EOT_TRAILING	  ? PARLEY_TURN_TRAILING_MS
						  : PARLEY_TURN_UNSURE_MS;
	/* A transcript still catching up with the speech may lack its last
	 * word: no confident end until it has not changed for the settling
	 * time (the recogniser's time, not scaled by patience). Asked again
	 * every frame, the answer drops to the short wait once settled. */
	return parley_turn_pause_ms(ms, speed,
				    quick && since_change_ms >= 0 &&
					    since_change_ms < PARLEY_EOT_SETTLE_MS);
}

const char *parley_eot_decision_name(enum parley_eot_decision d)
{
	switch (d) {
	case PARLEY_EOT_SURE_END:
		return "sure";
	case PARLEY_EOT_CONFIDENT_END:
		return "confident";
	case PARLEY_EOT_UNSURE:
		return "unsure";
	case PARLEY_EOT_TRAILING:
		return "trailing";
	case PARLEY_EOT_NO_WORDS:
		break;
	}
	return "no words";
}
