/* Fuzz target: request paths against the web root (src/server/path.c). The
 * result must always lie inside the root. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char uri[2048];
	if (size >= sizeof uri)
		size = sizeof uri - 1;
	memcpy(uri, data, size);
	uri[size] = '\0';
	static char root[4096];
	if (!root[0]) {
		char *r = realpath(PARLEY_FUZZ_WEB_ROOT, NULL);
		strcpy(root, r ? r : "/nonexistent");
		free(r);
	}
	char out[4096];
	if (parley_path_resolve(root, uri, out, sizeof out) == 0 &&
	    (strncmp(out, root, strlen(root)) != 0 || out[strlen(root)] != '/'))
		abort(); /* escaped the web root */
	return 0;
}
