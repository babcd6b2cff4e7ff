#include "text/turn_rules.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const char *const trailing[] = {
	"and", "but", "so", "because", "or", "nor", "the", "a", "an", "to", "of", "with",
	"for", "in", "on", "at", "from", "about", "if", "that", "which", "who", "then",
	"than", "my", "your", "our", "their", "his", "her", "its", "is", "are", "was",
	"were", "um", "uh", "er", "erm", "ah", "hmm", "like", "i", "we", "you", "when",
	"while", "although", "though", "since", "unless",
};

int parley_turn_trails_off(const char *text)
{
	if (!text)
		return 0;
	size_t end = strlen(text);
	while (end && !isalpha((unsigned char)text[end - 1]))
		end--;
	size_t start = end;
	while (start && (isalpha((unsigned char)text[start - 1]) || text[start - 1] == '\''))
		start--;
	size_t n = end - start;
	if (!n)
		return 0;
	for (size_t i = 0; i < sizeof trailing / sizeof trailing[0]; i++) {
		if (strlen(trailing[i]) == n && strncasecmp(text + start, trailing[i], n) == 0)
			return 1;
	}
	return 0;
}

int parley_turn_silence_ms(const struct parley_turn_cues *c, double speed)
{
	const char *text = c ? c->text : NULL;
	if (speed < 0)
		speed = 0;
	if (speed > 100)
		speed = 100;
	double ms = parley_turn_trails_off(text) ? PARLEY_TURN_TRAILING_MS : PARLEY_TURN_BASE_MS;
	ms *= 0.5 + speed / 100.0;
	if (ms < PARLEY_TURN_MIN_MS)
		ms = PARLEY_TURN_MIN_MS;
	if (ms > PARLEY_TURN_MAX_MS)
		ms = PARLEY_TURN_MAX_MS;
	return (int)ms;
}
