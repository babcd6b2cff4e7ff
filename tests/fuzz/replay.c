/*
 * replay.c - runs a fuzz target without libFuzzer: every file of the corpus
 * directories given on the command line, then a fixed number of
 * deterministic mutations of them (bit flips, truncations, byte runs,
 * splices). ctest runs this under ASan+UBSan on every `make test`; with
 * clang, `make fuzz` links the same targets to libFuzzer for open-ended
 * fuzzing (see tests/fuzz/README.md).
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUTS 512
#define MAX_SIZE 65536
#ifndef MUTATIONS
#define MUTATIONS 4000 /* a target may ask for fewer (-DMUTATIONS=n) */
#endif

static uint8_t *inputs[MAX_INPUTS];
static size_t sizes[MAX_INPUTS];
static int ninputs;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void load_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "replay: cannot open %s\n", dir);
		exit(2);
	}
	struct dirent *e;
	while ((e = readdir(d)) && ninputs < MAX_INPUTS) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		uint8_t *buf = malloc(MAX_SIZE);
		size_t n = fread(buf, 1, MAX_SIZE, f);
		fclose(f);
		inputs[ninputs] = buf;
		sizes[ninputs++] = n;
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		load_dir(argv[i]);
	if (!ninputs) {
		fprintf(stderr, "replay: empty corpus\n");
		return 2;
	}
	for (int i = 0; i < ninputs; i++) {
		uint8_t *copy = malloc(sizes[i] ? sizes[i] : 1); /* exact size: ASan sees overreads */
		memcpy(copy, inputs[i], sizes[i]);
		LLVMFuzzerTestOneInput(copy, sizes[i]);
		free(copy);
	}
	uint8_t *m = malloc(MAX_SIZE * 2);
	for (int k = 0; k < MUTATIONS; k++) {
		int a = (int)(next() % (uint64_t)ninputs);
		size_t n = sizes[a];
		memcpy(m, inputs[a], n);
		switch (next() % 5) {
		case 0: /* flip bits */
			for (int j = 0; j < 4 && n; j++)
				m[next() % n] ^= (uint8_t)(1u << (next() % 8));
			break;
		case 1: /* truncate */
			n = n ? next() % n : 0;
			break;
		case 2: { /* a run of one byte */
			size_t at = n ? next() % n : 0, len = next() % 64;
			if (at + len > MAX_SIZE)
				len = MAX_SIZE - at;
			memset(m + at, (int)(next() & 0xff), len);
			if (at + len > n)
				n = at + len;
			break;
		}
		case 3: { /* splice another input's tail */
			int b = (int)(next() % (uint64_t)ninputs);
			size_t cut = n ? next() % n : 0, from = sizes[b] ? next() % sizes[b] : 0;
			memcpy(m + cut, inputs[b] + from, sizes[b] - from);
			n = cut + sizes[b] - from;
			break;
		}
		default: /* insert interesting bytes */
			if (n < MAX_SIZE - 4) {
				static const uint8_t interesting[] = { 0, 0xff, '\n', '\r', '"', '\\', '{', ':' };
				size_t at = n ? next() % n : 0;
				memmove(m + at + 1, m + at, n - at);
				m[at] = interesting[next() % sizeof interesting];
				n++;
			}
			break;
		}
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, m, n);
		LLVMFuzzerTestOneInput(copy, n);
		free(copy);
	}
	free(m);
	for (int i = 0; i < ninputs; i++)
		free(inputs[i]);
	printf("replay: %d corpus inputs and %d mutations, no crash\n", ninputs, MUTATIONS);
	return 0;
}
