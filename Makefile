# The two commands of the README: `make demo` and `make test`. Both install what is missing first.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

.PHONY: deps configure build test demo format format-check bench clean

deps:
	bash scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build format-check
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -LE e2e

demo: build
	$(BUILD_DIR)/cmd/driftguard/driftguard demo

format:
	git ls-files --cached --others --exclude-standard '*.h' '*.cc' | xargs -r clang-format -i

format-check:
	@files=$$(git ls-files --cached --others --exclude-standard '*.h' '*.cc'); \
	if [ -n "$$files" ]; then clang-format --dry-run --Werror $$files; fi

bench: build
	bash bench/run_all.sh

clean:
	rm -rf $(BUILD_DIR)
