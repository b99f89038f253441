#!/usr/bin/env bash
# Render speed of `driftguard render DIR` vs `kubectl kustomize DIR` on the same trees, side by side
# in one run (issue 3, "Figures": target driftguard >= 5x faster):
#   small  examples/apps/web/production (an overlay of a base: namespace, replicas, images, a
#          strategic-merge and a JSON 6902 patch, a configMapGenerator with behavior: merge)
#   large  generated trees of each size in OBJECTS objects (bench/lib/gen_tree.sh: a base in several
#          subdirectories + an overlay with namespace, namePrefix, labels, images, patches and a
#          configMapGenerator whose hashed name is rewritten into every Deployment)
# Before timing, both outputs must be semantically equal (identical bytes, or `driftguard diff`
# clean in both directions); otherwise the script fails. Prints a Markdown table of hyperfine
# medians (wall clock) and of CPU time (user + system, means), with the kubectl/driftguard ratios.
#
# Environment: BUILD_DIR (see bench/lib/common.sh), OBJECTS (sizes of the generated trees compared
# with kubectl, default "2000"), DG_ONLY_OBJECTS (sizes timed for driftguard alone, default "10000":
# kubectl kustomize needs over an hour there), RUNS (driftguard and small-tree kubectl runs, default 10), KUBECTL_LARGE_RUNS
# (default 3: kubectl needs seconds there; minutes at 10,000 objects).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/gen_tree.sh"

OBJECTS="${OBJECTS:-2000}"
DG_ONLY_OBJECTS="${DG_ONLY_OBJECTS:-10000}"
RUNS="${RUNS:-10}"
KUBECTL_LARGE_RUNS="${KUBECTL_LARGE_RUNS:-3}"

command -v kubectl >/dev/null || { echo "kubectl is required" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine is required" >&2; exit 1; }
bench_build driftguard
bench_tmpdir

# Checks that driftguard and kubectl render DIR to the same objects; prints how.
check_equal() {
  local name="$1" dir="$2" out="$BENCH_SCRATCH/$1"
  mkdir -p "$out/kubectl"
  "$DRIFTGUARD" render "$dir" >"$out/driftguard.yaml"
  kubectl kustomize "$dir" >"$out/kubectl/all.yaml"
  local n_dg n_k
  n_dg="$(grep -c '^kind:' "$out/driftguard.yaml" || true)"
  n_k="$(grep -c '^kind:' "$out/kubectl/all.yaml" || true)"
  if [[ "$n_dg" != "$n_k" ]]; then
    echo "$name: driftguard renders $n_dg objects, kubectl $n_k" >&2
    return 1
  fi
  if cmp -s "$out/driftguard.yaml" "$out/kubectl/all.yaml"; then
    echo "$name: $n_k objects, outputs byte-identical" >&2
    return 0
  fi
  # Every field driftguard renders has kubectl's value, and vice versa (a directory without a
  # kustomization renders its YAML files as they are).
  if ! "$DRIFTGUARD" diff "$dir" --live "$out/kubectl/all.yaml" >"$out/diff1.txt" 2>&1 ||
    ! "$DRIFTGUARD" diff "$out/kubectl" --live "$out/driftguard.yaml" >"$out/diff2.txt" 2>&1; then
    echo "$name: driftguard and kubectl outputs differ:" >&2
    head -20 "$out/diff1.txt" "$out/diff2.txt" >&2
    return 1
  fi
  echo "$name: $n_k objects, semantically equal (driftguard diff clean both ways)" >&2
}

# time_pair NAME DIR KUBECTL_RUNS KUBECTL_WARMUP: prints "dg_median k_median dg_cpu k_cpu" in seconds.
time_pair() {
  local name="$1" dir="$2" kruns="$3" kwarmup="$4" json="$BENCH_SCRATCH/$1"
  hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$json-dg.json" \
    "$DRIFTGUARD render $dir" >&2
  hyperfine -N --warmup "$kwarmup" --runs "$kruns" --export-json "$json-k.json" \
    "kubectl kustomize $dir" >&2
  local cpu
  cpu() { awk -F': *' '/"user"/ {u = $2 + 0} /"system"/ {s = $2 + 0} END {print u + s}' "$1"; }
  echo "$(hyperfine_medians "$json-dg.json") $(hyperfine_medians "$json-k.json")" \
    "$(cpu "$json-dg.json") $(cpu "$json-k.json")"
}

SMALL="$REPO_ROOT/examples/apps/web/production"
check_equal small "$SMALL"
read -r s_dg s_k s_dgc s_kc < <(time_pair small "$SMALL" "$RUNS" 2)
declare -A large_times
for n in $OBJECTS; do
  gen_tree "$BENCH_SCRATCH/tree-$n" "$n"
  # A Git work tree, as sources are: `driftguard render` reads files only below the work tree
  # holding DIR (here ../base from the overlay).
  git -C "$BENCH_SCRATCH/tree-$n" init -q
  check_equal "large-$n" "$BENCH_SCRATCH/tree-$n/overlay"
  large_times[$n]="$(time_pair "large-$n" "$BENCH_SCRATCH/tree-$n/overlay" "$KUBECTL_LARGE_RUNS" 0)"
done

declare -A dg_only_times dg_only_count
for n in $DG_ONLY_OBJECTS; do
  gen_tree "$BENCH_SCRATCH/tree-$n" "$n"
  git -C "$BENCH_SCRATCH/tree-$n" init -q
  hyperfine -N --warmup 1 --runs 3 --export-json "$BENCH_SCRATCH/dg-only-$n.json" \
    "$DRIFTGUARD render $BENCH_SCRATCH/tree-$n/overlay" >&2
  dg_only_times[$n]="$(hyperfine_medians "$BENCH_SCRATCH/dg-only-$n.json")"
  dg_only_count[$n]="$("$DRIFTGUARD" render "$BENCH_SCRATCH/tree-$n/overlay" | grep -c '^kind:')"
done

echo
echo "### Render: driftguard render vs kubectl kustomize ($(kubectl version --client 2>/dev/null |
  sed -n 's/^Kustomize Version: //p'))"
echo
echo "| tree | objects | driftguard median | kubectl median | ratio (wall) | driftguard CPU | kubectl CPU | ratio (CPU) | target >= 5x |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
row() {
  local r rc
  r="$(ratio "$4" "$3" 1)"
  rc="$(ratio "$6" "$5" 1)"
  echo "| $1 | $2 | $(ms "$3") ms | $(ms "$4") ms | ${r}x | $(ms "$5") ms | $(ms "$6") ms | ${rc}x |" \
    "$(awk -v r="$r" 'BEGIN { print (r >= 5 ? "met" : "missed") }') |"
}
row "examples/apps/web/production" "$(grep -c '^kind:' "$BENCH_SCRATCH/small/kubectl/all.yaml")" \
  "$s_dg" "$s_k" "$s_dgc" "$s_kc"
for n in $OBJECTS; do
  read -r l_dg l_k l_dgc l_kc <<<"${large_times[$n]}"
  row "generated overlay" "$(grep -c '^kind:' "$BENCH_SCRATCH/large-$n/kubectl/all.yaml")" \
    "$l_dg" "$l_k" "$l_dgc" "$l_kc"
done
for n in $DG_ONLY_OBJECTS; do
  echo "| generated overlay (driftguard only) | ${dg_only_count[$n]} | $(ms "${dg_only_times[$n]}") ms" \
    "| not run (over an hour) | | | | | |"
done
echo
echo "Medians of $RUNS runs after 2 warm-up runs (kubectl on the generated tree: $KUBECTL_LARGE_RUNS runs," \
  "no warm-up beyond the equality check);" \
  "CPU = mean user + system time per run."
