/* Fuzz target: JSON control messages (src/protocol/control.c). */
#include <stddef.h>
#include <stdint.h>

#include "protocol/control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct parley_control c;
	struct parley_proto_err err;
	if (parley_control_parse((const char *)data, size, &c, &err) == 0)
		parley_control_clear(&c);
	return 0;
}
