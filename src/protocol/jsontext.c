/* Text of any origin as a JSON string (jsontext.h). */
#include <stdlib.h>

#include "protocol/jsontext.h"
#include "util/utf8.h"

json_t *parley_json_text(const char *s, size_t len)
{
	if (parley_utf8_valid(s, len))
		return json_stringn(s, len);
	size_t n = 0;
	char *clean = parley_utf8_sanitize(s, len, &n);
	json_t *j = clean ? json_stringn(clean, n) : NULL;
	free(clean);
	return j;
}
