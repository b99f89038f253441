#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in their own build directory and runs each for a bounded
# time. Usage: scripts/fuzz.sh [SECONDS=60] [BUILD_DIR=build-fuzz]
# With FUZZ_RUNS=N each target instead runs exactly N inputs from a fixed seed: a deterministic,
# bounded run, which is what CI uses (`make test`), so a green run here is a green run there.
# Exits non-zero when a target finds a crash, leak or timeout (the reproducer is left in BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
build_dir="${2:-build-fuzz}"
jobs="${JOBS:-2}"

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ \
  -DDRIFTGUARD_BUILD_FUZZ=ON -DDRIFTGUARD_BUILD_BENCH=OFF >/dev/null
cmake --build "$build_dir" -j "$jobs" --target admission_decode_fuzz yaml_parse_fuzz

run() {  # target seed-corpus-dir
  local target="$1" seeds="$2"
  local corpus="$build_dir/corpus/$target"
  mkdir -p "$corpus" "$build_dir/artifacts/$target"
  echo "fuzz: $target for ${seconds}s (seeds: $seeds)" >&2
  # New inputs go to the scratch corpus; the checked-in seeds are only read.
  local bound=(-max_total_time="$seconds")
  if [[ -n "${FUZZ_RUNS:-}" ]]; then
    bound=(-runs="$FUZZ_RUNS" -seed=1)
    rm -rf "$corpus" && mkdir -p "$corpus"
  fi
  "$build_dir/tests/fuzz/$target" "$corpus" "$seeds" \
    "${bound[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$build_dir/artifacts/$target/" -print_final_stats=1
}

run admission_decode_fuzz tests/testdata/fuzz/admission
run yaml_parse_fuzz tests/testdata/yaml
