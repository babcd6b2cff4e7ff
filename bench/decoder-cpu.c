/*
 * decoder-cpu.c - the raw speech decoder on its own: the floor that
 * parley's listening path is measured against (bench/, docs/performance.md).
 *
 *   parley-decoder-bench [parley --stt-* options] [--chunk-ms N]
 *                        [--partial-ms N] [--pace] FILE.wav...
 *
 * Loads one pocketsphinx decoder with exactly the settings parley would use
 * (the same option table: --stt-maxhmmpf, --stt-fwdflat, --stt-bestpath,
 * --stt-hmm/-lm/-dict and their PARLEY_* variables), then decodes each
 * 16 kHz mono 16-bit WAV file as one utterance, fed in chunks of --chunk-ms
 * (default 100) and, with --partial-ms, asking for a partial hypothesis
 * that often (default 0: never). With --pace, each chunk is fed when its
 * audio would have arrived from a live talker (the decoder sleeps until
 * then, as parley's does between the pieces it is fed): the same decoder at
 * real-time pace, which costs more CPU per audio second than decoding a
 * file in one go (each piece starts from cold caches on a core that was
 * idle or busy with other work; docs/performance.md).
 * Prints one JSON object on stdout: the
 * settings, per file the audio seconds and the hypothesis, and in total the
 * audio seconds and the CPU seconds (user + system, getrusage) spent inside
 * the decoder calls only (loading the model is not counted).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "stt/decoder.h"
#include "util/config.h"

#define MAX_FILES 64
#define HYP_MAX 4096

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Sleeps until `start` (CLOCK_MONOTONIC) plus `s` seconds. */
static void sleep_until(const struct timespec *start, double s)
{
	struct timespec t = *start;
	t.tv_sec += (time_t)s;
	t.tv_nsec += (long)((s - (double)(time_t)s) * 1e9);
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
		;
}

/* A whole 16 kHz mono 16-bit PCM WAV file (chunks walked, not assumed). */
static int16_t *read_wav(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	unsigned char h[12];
	int16_t *pcm = NULL;
	int ok_fmt = 0;
	if (fread(h, 1, 12, f) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4))
		goto out;
	for (;;) {
		unsigned char c[8];
		if (fread(c, 1, 8, f) != 8)
			goto out;
		unsigned long len = c[4] | c[5] << 8 | c[6] << 16 | (unsigned long)c[7] << 24;
		if (!memcmp(c, "fmt ", 4)) {
			unsigned char fmt[16];
			if (len < 16 || fread(fmt, 1, 16, f) != 16)
				goto out;
			unsigned ch = fmt[2] | fmt[3] << 8;
			unsigned long rate = fmt[4] | fmt[5] << 8 | fmt[6] << 16;
			unsigned bits = fmt[14] | fmt[15] << 8;
			if (fmt[0] != 1 || ch != 1 || rate != 16000 || bits != 16) {
				fprintf(stderr, "%s: not 16 kHz mono 16-bit PCM\n", path);
				goto out;
			}
			ok_fmt = 1;
			if (fseek(f, (long)(len - 16 + (len & 1)), SEEK_CUR))
				goto out;
		} else if (!memcmp(c, "data", 4) && ok_fmt) {
			pcm = malloc(len ? len : 1);
			if (!pcm)
				goto out;
			*n = fread(pcm, 1, len, f) / 2;
			goto out;
		} else if (fseek(f, (long)(len + (len & 1)), SEEK_CUR)) {
			goto out;
		}
	}
out:
	fclose(f);
	return pcm;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

int main(int argc, char **argv)
{
	const char *files[MAX_FILES];
	int nfiles = 0, chunk_ms = 100, partial_ms = 0, pace = 0;
	char *opts[256];
	int nopts = 0;
	opts[nopts++] = argv[0];
	for (int i = 1; i < argc; i++) {
		size_t len = strlen(argv[i]);
		if (!strcmp(argv[i], "--chunk-ms") && i + 1 < argc) {
			chunk_ms = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--partial-ms") && i + 1 < argc) {
			partial_ms = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--pace")) {
			pace = 1;
		} else if (len > 4 && !strcmp(argv[i] + len - 4, ".wav")) {
			if (nfiles < MAX_FILES)
				files[nfiles++] = argv[i];
		} else if (nopts < 255) {
			opts[nopts++] = argv[i];
		}
	}
	if (!nfiles || chunk_ms < 10 || partial_ms < 0) {
		fprintf(stderr, "usage: %s [--stt-* options] [--chunk-ms N>=10] [--partial-ms N] "
				"[--pace] FILE.wav...\n",
			argv[0]);
		return 2;
	}
	opts[nopts] = NULL;
	struct parley_config cfg;
	parley_config_defaults(&cfg);
	enum parley_config_result cr = parley_config_parse(&cfg, nopts, opts, getenv, stdout, stderr);
	if (cr != PARLEY_CONFIG_OK)
		return cr == PARLEY_CONFIG_EXIT ? 0 : 2;

	struct parley_stt_settings st = { .maxhmmpf = cfg.stt_maxhmmpf,
					  .fwdflat = cfg.stt_fwdflat,
					  .bestpath = cfg.stt_bestpath };
	snprintf(st.hmm, sizeof st.hmm, "%s", cfg.stt_hmm);
	snprintf(st.lm, sizeof st.lm, "%s", cfg.stt_lm);
	snprintf(st.dict, sizeof st.dict, "%s", cfg.stt_dict);
	const struct parley_stt_decoder_ops *ops = &parley_stt_ps_decoder;
	if (ops->global_init() != 0)
		return 1;
	void *dec = ops->create(&st);
	if (!dec)
		return 1;

	printf("{\"settings\":{\"maxhmmpf\":%d,\"fwdflat\":%d,\"bestpath\":%d,\"chunk_ms\":%d,"
	       "\"partial_ms\":%d,\"pace\":%s},\"files\":[",
	       st.maxhmmpf, st.fwdflat, st.bestpath, chunk_ms, partial_ms, pace ? "true" : "false");
	double audio = 0, cpu = 0;
	int rc = 0;
	char hyp[HYP_MAX];
	for (int i = 0; i < nfiles; i++) {
		size_t n = 0;
		int16_t *pcm = read_wav(files[i], &n);
		if (!pcm) {
			fprintf(stderr, "%s: cannot read\n", files[i]);
			rc = 1;
			break;
		}
		size_t chunk = (size_t)16000 * chunk_ms / 1000;
		size_t every = (size_t)16000 * partial_ms / 1000, next = every;
		struct timespec start;
		clock_gettime(CLOCK_MONOTONIC, &start);
		double t0 = cpu_seconds();
		ops->start(dec);
		for (size_t off = 0; off < n; off += chunk) {
			size_t k = n - off < chunk ? n - off : chunk;
			if (pace) {
				/* the chunk is due once its last sample was spoken;
				 * the sleep is not the decoder's CPU */
				cpu += cpu_seconds() - t0;
				sleep_until(&start, (double)(off + k) / 16000);
				t0 = cpu_seconds();
			}
			ops->feed(dec, pcm + off, k);
			if (every && off + chunk >= next) {
				ops->partial(dec, hyp, sizeof hyp);
				next += every;
			}
		}
		ops->finish(dec, hyp, sizeof hyp);
		cpu += cpu_seconds() - t0;
		audio += (double)n / 16000;
		printf("%s{\"file\":", i ? "," : "");
		json_string(files[i]);
		printf(",\"audio_s\":%.3f,\"hyp\":", (double)n / 16000);
		json_string(hyp);
		putchar('}');
		free(pcm);
	}
	printf("],\"audio_s\":%.3f,\"cpu_s\":%.3f,\"cpu_per_audio_s\":%.4f}\n", audio, cpu,
	       audio > 0 ? cpu / audio : 0);
	ops->destroy(dec);
	return rc;
}
