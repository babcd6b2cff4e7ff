# parley: two commands.
#   make run    install missing packages, build, start parley on http://localhost:8080
#   make test   install missing packages, build (ASan+UBSan, -Werror), run every test
# Extra arguments for the server: make run ARGS="--port 9000 --log-level debug"

JOBS  ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
TEST_BUILD ?= build-test
ARGS  ?=

.PHONY: run test build deps deps-test clean fuzz

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

# Open-ended fuzzing with libFuzzer (clang), FUZZ_SECONDS per parser; new
# inputs are added to tests/fuzz/corpus/.
fuzz: deps-test
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DPARLEY_SANITIZE=ON -DPARLEY_LIBFUZZER=ON >/dev/null
	cmake --build build-fuzz -j $(JOBS) --target fuzz_control fuzz_frame fuzz_stream fuzz_path fuzz_tts
	./build-fuzz/tests/fuzz_control -max_total_time=$(FUZZ_SECONDS) tests/fuzz/corpus/control
	./build-fuzz/tests/fuzz_frame -max_total_time=$(FUZZ_SECONDS) tests/fuzz/corpus/frame
	./build-fuzz/tests/fuzz_stream -max_total_time=$(FUZZ_SECONDS) tests/fuzz/corpus/openai tests/fuzz/corpus/ollama
	./build-fuzz/tests/fuzz_path -max_total_time=$(FUZZ_SECONDS) tests/fuzz/corpus/path
	./build-fuzz/tests/fuzz_tts -max_total_time=$(FUZZ_SECONDS) -max_len=4096 tests/fuzz/corpus/tts

deps:
	@scripts/install-deps.sh

deps-test:
	@scripts/install-deps.sh --test

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
