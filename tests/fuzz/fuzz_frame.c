/* Fuzz target: binary audio frames (src/audio/frame.c) into a session-sized
 * ring (src/audio/ring.c). */
#include <stddef.h>
#include <stdint.h>

#include "audio/frame.h"
#include "audio/ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct parley_frame f;
	if (parley_frame_decode(data, size, PARLEY_FRAME_MAX_SAMPLES, &f) != PARLEY_FRAME_OK)
		return 0;
	static int16_t pcm[PARLEY_FRAME_MAX_SAMPLES];
	parley_frame_samples(&f, pcm);
	struct parley_ring r;
	parley_ring_init(&r, 5000);
	parley_ring_write(&r, pcm, f.nsamples);
	int16_t out[1000];
	while (parley_ring_read(&r, out, 1000))
		;
	parley_ring_destroy(&r);
	return 0;
}
