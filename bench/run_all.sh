#!/usr/bin/env bash
# Runs every figure script in bench/ (and the Google Benchmark binaries guard_bench and yaml_bench
# when they build) and writes their Markdown tables to RESULTS (default bench/results.md), with the
# date, the commit and a note on the machine. Each script's progress output goes to
# RESULTS.log (bench/results.log). A script that fails is reported as such; the others still run.
# `make bench` calls this after building.
#
# Environment: BUILD_DIR (see bench/lib/common.sh), RESULTS, ONLY (space-separated subset of
# render_vs_kubectl git_fetch desired_state_memory webhook_load apply micro), and every variable the
# scripts read (RUNS, ROUNDS, DURATION, OBJECTS, ...).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

RESULTS="${RESULTS:-$BENCH_DIR/results.md}"
LOG="${RESULTS%.md}.log"
ONLY="${ONLY:-render_vs_kubectl git_fetch desired_state_memory webhook_load apply micro}"
: >"$LOG"

wanted() { [[ " $ONLY " == *" $1 "* ]]; }

# micro: the Google Benchmark binaries, medians over repetitions, pinned to one CPU.
micro() {
  local name found=0
  for name in guard_bench yaml_bench; do
    [[ -f "$BENCH_DIR/$name.cc" ]] || continue
    found=1
    if ! bench_build "$name" >>"$LOG" 2>&1; then
      echo "- \`$name\`: did not build (see $(basename "$LOG"))"
      continue
    fi
    local pin=()
    command -v taskset >/dev/null && ((($(nproc)) > 1)) && pin=(taskset -c 1)
    local out
    if ! out="$("${pin[@]}" "$BUILD_DIR/bench/$name" --benchmark_repetitions=10 \
      --benchmark_report_aggregates_only=true 2>>"$LOG")"; then
      echo "- \`$name\`: failed (see $(basename "$LOG"))"
      continue
    fi
    echo "$out" >>"$LOG"
    echo "#### $name (medians of 10 repetitions, ${pin[*]:-unpinned})"
    echo
    echo '```'
    grep -E '^-+$|^Benchmark|_median' <<<"$out" | grep -v '^-' || true
    echo '```'
    echo
  done
  ((found)) || echo "(no Google Benchmark sources in bench/)"
}

{
  echo "# driftguard figures"
  echo
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') by bench/run_all.sh at commit" \
    "$(git -C "$REPO_ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
    "$( [[ -n "$(git -C "$REPO_ROOT" status --porcelain 2>/dev/null)" ]] && echo '(with local changes)')."
  echo "Machine: $(machine_note); $(uname -sr)."
  echo "Build: $BUILD_DIR ($(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || echo 'not configured yet'))."
  echo
} >"$RESULTS"

status=0
for script in render_vs_kubectl git_fetch desired_state_memory webhook_load apply; do
  wanted "$script" || continue
  echo "== $script" | tee -a "$LOG" >&2
  start=$SECONDS
  if bash "$BENCH_DIR/$script.sh" >>"$RESULTS" 2>>"$LOG"; then
    echo "   done in $((SECONDS - start)) s" >&2
  else
    rc=$?
    status=1
    echo "   FAILED (exit $rc) after $((SECONDS - start)) s; see $LOG" >&2
    printf '\n### %s\n\nFAILED (exit %s); see %s.\n' "$script" "$rc" "$(basename "$LOG")" >>"$RESULTS"
  fi
  echo >>"$RESULTS"
done
if wanted micro; then
  echo "== micro-benchmarks" >&2
  {
    echo "### Micro-benchmarks (Google Benchmark)"
    echo
    micro
  } >>"$RESULTS"
fi
echo "wrote $RESULTS (log: $LOG)" >&2
exit "$status"
