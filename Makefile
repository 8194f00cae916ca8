# mailferry: the two commands are `make demo` and `make check`.
# Both install missing Debian packages first (as root; otherwise they print
# the apt-get line to run).

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c)))
GEN        := -G Ninja

.PHONY: all deps build asan check unit demo fuzz clean format

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) $(GEN) -DCMAKE_BUILD_TYPE=Debug -DMF_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD)

# Unit tests and end-to-end tests against real servers, in the release build
# and again in the ASan/UBSan build.
check: build asan
	@sh tests/servers/cyrus-fetch.sh >/dev/null
	@sh tests/corpus/fetch.sh >/dev/null
	ctest --test-dir $(BUILD) --output-on-failure
	MAILFERRY_ASAN=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --test-dir $(ASAN_BUILD) --output-on-failure

unit: build
	ctest --test-dir $(BUILD) --output-on-failure -E e2e

demo: build
	@sh scripts/demo.sh $(BUILD)/mailferry

# mailferry side by side with mbsync and offlineimap (not part of check;
# about 10 minutes): make bench [BENCH_MESSAGES=500 BENCH_RUNS=1 ...], see bench/README.md.
.PHONY: bench
bench: build
	@sh bench/run.sh $(BUILD)

# libFuzzer targets (clang), each run for FUZZ_SECONDS.
fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) $(GEN) -DCMAKE_BUILD_TYPE=Debug \
		-DMF_SANITIZE=ON -DMF_FUZZ=ON -DMF_E2E=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) --target $(FUZZ_TARGETS)
	@for f in $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS)); do \
		name=$$(basename $$f); mkdir -p $(FUZZ_BUILD)/corpus-$$name; \
		echo "fuzzing $$name for $(FUZZ_SECONDS) s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
			$(FUZZ_BUILD)/corpus-$$name tests/fuzz/corpus || exit 1; \
	done

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
