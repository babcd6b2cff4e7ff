# parley: two commands.
#   make run    install missing packages, build, start parley on http://localhost:8080
#   make test   install missing packages, build (ASan+UBSan, -Werror), run every test
# Extra arguments for the server: make run ARGS="--port 9000 --log-level debug"
# Also: make bench (the standard benchmark against the release build: one
# table, JSON in build/bench.json; make bench BENCH_ARGS="--quick"), make soak
# (50 clients for 2 minutes, bench/soak.mjs), make tsan (ThreadSanitizer),
# make fuzz (libFuzzer).

JOBS  ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
TEST_BUILD ?= build-test
ARGS  ?=

.PHONY: run test build deps deps-test clean fuzz soak bench tsan tsan-unit

FUZZ_SECONDS ?= 60

run: build
	./$(BUILD)/parley $(ARGS)

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_TESTS=OFF >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

test: deps-test
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPARLEY_SANITIZE=ON -DPARLEY_WERROR=ON -DPARLEY_TESTS=ON >/dev/null
	cmake --build $(TEST_BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ctest --output-on-failure --timeout 600
	$(MAKE) --no-print-directory tsan-unit

# ThreadSanitizer (it excludes ASan, hence its own build dir). tsan-unit, run
# by `make test` too, builds only the thread tests: the out-queue, the worker
# strands, the decoder pool, the LLM engine, the HTTP pool, the HTTP STT
# engine, the embedded TTS runner and the voice allow-list growing while
# read, and sessions answering through the LLM engine. `make tsan` also
# runs the server under TSan through integration tests that drive the wake
# list and the event loop; its reports go to
# $(TSAN_BUILD)/tsan-logs/ and fail the target.
TSAN_BUILD ?= build-tsan
TSAN_UNITS = test_outq test_workers test_pool test_engine test_http test_stt_openai test_tts_engine \
	test_svcerr test_session_answers
TSAN_INTEGRATION = ws llm llm-faults speech shutdown
TSAN_SUPP = suppressions=$(CURDIR)/tests/tsan.supp

tsan-unit: deps-test
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPARLEY_TSAN=ON -DPARLEY_WERROR=ON -DPARLEY_TESTS=ON >/dev/null
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_UNITS)
	@for t in $(TSAN_UNITS); do \
	  if TSAN_OPTIONS="halt_on_error=1 $(TSAN_SUPP)" ./$(TSAN_BUILD)/tests/$$t >$(TSAN_BUILD)/$$t.log 2>&1; then \
	    echo "tsan: $$t clean"; \
	  else cat $(TSAN_BUILD)/$$t.log; echo "tsan: $$t FAILED"; exit 1; fi; \
	done

tsan: tsan-unit
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target parley
	rm -rf $(TSAN_BUILD)/tsan-logs && mkdir -p $(TSAN_BUILD)/tsan-logs
	TSAN_OPTIONS="$(TSAN_SUPP) log_path=$(CURDIR)/$(TSAN_BUILD)/tsan-logs/parley" \
	  PARLEY_BIN=$(TSAN_BUILD)/parley node --test --test-concurrency=1 \
	  $(TSAN_INTEGRATION:%=tests/integration/%.test.mjs)
	@if [ -n "$$(ls -A $(TSAN_BUILD)/tsan-logs)" ]; then cat $(TSAN_BUILD)/tsan-logs/*; \
	  echo "tsan: ThreadSanitizer reports from parley (above)"; exit 1; fi
	@echo "tsan: clean"

# Soak: 50 clients for 2 minutes against the release build, with random
# disconnects, barge-ins and a failing fake LLM; see bench/soak.mjs.
# make soak SOAK_ARGS="--clients 20 --duration 60"
SOAK_ARGS ?=
soak: build deps-test
	node bench/soak.mjs --bin $(BUILD)/parley $(SOAK_ARGS)

# The standard benchmark (bench/bench.mjs, docs/performance.md#make-bench):
# listening CPU against the raw decoder, talkers per core, speech end ->
# first audio with speculation on and off, barge-in, connect -> status with
# 1,000 idle sessions, RSS per session; one table, JSON in $(BUILD)/bench.json.
# make bench BENCH_ARGS="--quick" (about half as long), or e.g.
# BENCH_ARGS="--steps capacity --talkers 8,10,12".
BENCH_ARGS ?=
bench: build deps-test
	node bench/bench.mjs --bin $(BUILD)/parley --out $(BUILD)/bench.json $(BENCH_ARGS)

# Open-ended fuzzing with libFuzzer (clang), FUZZ_SECONDS per parser; new
# inputs are added to tests/fuzz/corpus/.
fuzz:
	@scripts/install-deps.sh --fuzz
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DPARLEY_SANITIZE=ON -DPARLEY_LIBFUZZER=ON >/dev/null
	cmake --build build-fuzz -j $(JOBS) --target fuzz_control fuzz_frame fuzz_stream fuzz_eventstream fuzz_path fuzz_access fuzz_tts fuzz_pcm fuzz_realtime
	./build-fuzz/tests/fuzz_control -max_total_time=$(FUZZ_SECONDS) tests/fuzz/corpus/control
	./build-fuzz/tests/fuzz_frame -max_total_time=$(FUZZ_SECONDS) tests/fuzz/corpus/frame
	./build-fuzz/tests/fuzz_stream -max_total_time=$(FUZZ_SECONDS) tests/fuzz/corpus/openai tests/fuzz/corpus/ollama
	./build-fuzz/tests/fuzz_eventstream -max_total_time=$(FUZZ_SECONDS) tests/fuzz/corpus/eventstream
	./build-fuzz/tests/fuzz_path -max_total_time=$(FUZZ_SECONDS) tests/fuzz/corpus/path
	./build-fuzz/tests/fuzz_access -max_total_time=$(FUZZ_SECONDS) tests/fuzz/corpus/access
	./build-fuzz/tests/fuzz_tts -max_total_time=$(FUZZ_SECONDS) -max_len=4096 tests/fuzz/corpus/tts
	./build-fuzz/tests/fuzz_pcm -max_total_time=$(FUZZ_SECONDS) -max_len=4096 tests/fuzz/corpus/pcm
	./build-fuzz/tests/fuzz_realtime -max_total_time=$(FUZZ_SECONDS) tests/fuzz/corpus/realtime

deps:
	@scripts/install-deps.sh

deps-test:
	@scripts/install-deps.sh --test

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(TSAN_BUILD)
