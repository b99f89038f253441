# The two commands of the README: `make demo` and `make test`. Both install what is missing first.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

.PHONY: deps configure build test demo format format-check bench fuzz clean

deps:
	bash scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build format-check
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -LE e2e
	FUZZ_RUNS=$(FUZZ_RUNS) bash scripts/fuzz.sh 60 $(BUILD_DIR)-fuzz

# Inputs each fuzz target runs in `make test` (deterministic: fixed seed); `scripts/fuzz.sh 600`
# fuzzes for longer.
FUZZ_RUNS ?= 20000

demo: build
	$(BUILD_DIR)/cmd/driftguard/driftguard demo

format:
	git ls-files --cached --others --exclude-standard '*.h' '*.cc' | xargs -r clang-format -i

format-check:
	@files=$$(git ls-files --cached --others --exclude-standard '*.h' '*.cc'); \
	if [ -n "$$files" ]; then clang-format --dry-run --Werror $$files; fi

bench: build
	bash bench/run_all.sh

fuzz:
	bash scripts/fuzz.sh 600 $(BUILD_DIR)-fuzz

clean:
	rm -rf $(BUILD_DIR)
