# Helpers shared by the bench/*.sh scripts. Source it; do not run it.
#
# Environment:
#   BUILD_DIR   build tree holding the binaries (default: <repo>/build, what `make bench` uses);
#               configured with -DCMAKE_BUILD_TYPE=Release when it does not exist yet.
#   DRIFTGUARD  the driftguard binary to measure (default: BUILD_DIR/cmd/driftguard/driftguard),
#               e.g. to compare a variant build.
#   BENCH_JOBS  parallel build jobs (default: nproc).
#   BENCH_TMP   parent of the scratch directories (default: $TMPDIR or /tmp).

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_ROOT="$(cd "$BENCH_DIR/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$REPO_ROOT/build}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$REPO_ROOT/$BUILD_DIR" ;; esac
DRIFTGUARD="${DRIFTGUARD:-$BUILD_DIR/cmd/driftguard/driftguard}"

# Builds the given CMake targets in BUILD_DIR (configuring it first when needed).
bench_build() {
  if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
    cmake -S "$REPO_ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  local type
  type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")"
  if [[ "$type" != "Release" && "$type" != "RelWithDebInfo" ]]; then
    echo "warning: $BUILD_DIR is a '$type' build; figures from it are not representative" >&2
  fi
  local t
  for t in "$@"; do
    cmake --build "$BUILD_DIR" -j "${BENCH_JOBS:-$(nproc)}" --target "$t" >/dev/null
  done
}

# Creates a scratch directory removed on exit (together with the processes in BENCH_PIDS).
BENCH_PIDS=()
bench_tmpdir() {
  BENCH_SCRATCH="$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/driftguard-bench.XXXXXX")"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}
bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${BENCH_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  [[ -n "${BENCH_SCRATCH:-}" ]] && rm -rf "$BENCH_SCRATCH"
  return 0
}

# Median of the numbers given as arguments.
median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2] + v[NR/2+1]) / 2 }'
}

# ratio A B [digits]: A/B.
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b == 0) print "nan"; else printf "%.*f\n", d, a / b }'; }

# Medians (seconds) of a hyperfine --export-json file, one per command, in command order.
hyperfine_medians() { grep -o '"median": *[0-9.eE+-]*' "$1" | sed 's/.*: *//'; }

# seconds -> milliseconds with 1 decimal (3 below 10 ms).
ms() { awk -v s="$1" 'BEGIN { v = s * 1000; if (v < 10) printf "%.2f\n", v; else printf "%.1f\n", v }'; }

# A TCP port on 127.0.0.1 nobody listens on right now (checked by connecting).
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# wait_for SECONDS CMD...: retries CMD every 0.1 s until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "timed out waiting for: $*" >&2
      return 1
    fi
    sleep 0.1
  done
}

# "<cpus> CPUs, <model>, load <1-min load>" for result headers.
machine_note() {
  local model
  model="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "$(nproc) CPUs ($model), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
}

# Field (kB) of /proc/PID/status, printed in MiB with one decimal.
proc_mib() { awk -v f="$2:" '$1 == f { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status"; }

# A Git identity for commits made by the scripts, whatever the user's config holds.
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

# flux_config URL NAME:PATH...: on stdout, a driftguard config holding GitRepository
# flux-system/apps (URL, branch main) and one Kustomization per NAME:PATH (prune on, source apps).
flux_config() {
  local url="$1" ks
  shift
  cat <<YAML
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  url: $url
  ref:
    branch: main
YAML
  for ks in "$@"; do
    cat <<YAML
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: ${ks%%:*}
  namespace: flux-system
spec:
  interval: 10m
  path: ${ks#*:}
  prune: true
  sourceRef:
    kind: GitRepository
    name: apps
YAML
  done
}
