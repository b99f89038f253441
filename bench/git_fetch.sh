#!/usr/bin/env bash
# Git source figures (issue 3, "Figures"): a fetch of an unchanged repository (no new commits)
# under 50 ms; a first clone within 1.5x of `git clone`.
#
# Builds a repository of FILES files (~1 KB each, little compressible, in 30 directories, plus a
# generated 1,000-object kustomization tree) with COMMITS commits of history, serves it bare over
# `git daemon` on 127.0.0.1 (git://) and over file://, and for each transport times
#   - a first clone: bench/git_fetch_bench (reconciler::LibGit2Source::Fetch into an empty cache:
#     clone of the selected branch + checkout of the artifact) vs `git clone --bare` and
#     `git clone` (hyperfine medians, the cache removed before every run);
#   - unchanged fetches: FETCHES fetches with the same LibGit2Source (the steady state of the
#     source sync), timed in-process (median, p90); and RESTARTS fetches each with a new
#     LibGit2Source on the warm cache (a restarted process re-checks out the artifact);
#     `git fetch` of an up-to-date clone is shown for reference.
# Prints a Markdown table.
#
# Environment: BUILD_DIR, FILES (default 3000), COMMITS (default 20), RUNS (hyperfine runs,
# default 10), FETCHES (default 50), RESTARTS (default 10).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/gen_tree.sh"

FILES="${FILES:-3000}"
COMMITS="${COMMITS:-20}"
RUNS="${RUNS:-10}"
FETCHES="${FETCHES:-50}"
RESTARTS="${RESTARTS:-10}"

bench_build git_fetch_bench
BIN="$BUILD_DIR/bench/git_fetch_bench"
bench_tmpdir
S="$BENCH_SCRATCH"

# --- The repository.
work="$S/work"
mkdir -p "$work"
git -C "$work" init -q -b main
gen_tree "$work/deploy" 1000
dirs=30
per_dir=$(((FILES + dirs - 1) / dirs))
for ((d = 0; d < dirs; d++)); do
  mkdir -p "$work/src/pkg$d"
  # ~1 KB of base64 text per file: packs to roughly its size, like real source and manifests.
  head -c $((per_dir * 760)) /dev/urandom | base64 -w 76 |
    split -l 13 -a 3 --additional-suffix=.txt - "$work/src/pkg$d/file-"
done
git -C "$work" add -A
git -C "$work" commit -q -m "initial import"
mapfile -t all_files < <(cd "$work" && git ls-files src)
for ((c = 1; c < COMMITS; c++)); do
  for ((k = 0; k < 50; k++)); do
    f="${all_files[$(((RANDOM * 32768 + RANDOM) % ${#all_files[@]}))]}"
    echo "change $c.$k $RANDOM$RANDOM" >>"$work/$f"
  done
  git -C "$work" commit -q -a -m "change $c"
done
mkdir -p "$S/srv"
git clone -q --bare "$work" "$S/srv/repo.git"
# Packed, as on a real server (a local clone hard-links the loose objects).
git -C "$S/srv/repo.git" gc -q
files="$(git -C "$work" ls-files | wc -l)"
pack_kib="$(du -sk "$S/srv/repo.git/objects" | cut -f1)"
tree_kib="$(git -C "$work" ls-files -z | (cd "$work" && xargs -0 cat) | wc -c | awk '{print int($1 / 1024)}')"

# --- git daemon on 127.0.0.1.
port="$(free_port)"
git daemon --reuseaddr --listen=127.0.0.1 --port="$port" --base-path="$S/srv" --export-all \
  "$S/srv" >"$S/daemon.log" 2>&1 &
BENCH_PIDS+=($!)
wait_for 10 git ls-remote "git://127.0.0.1:$port/repo.git"

declare -A RESULT
measure() {
  local transport="$1" url="$2" t="$S/t-$1"
  mkdir -p "$t"
  hyperfine -N --warmup 1 --runs "$RUNS" --prepare "rm -rf $t/c" --export-json "$t/clone.json" \
    "$BIN --url $url --cache $t/c/dg" \
    "git clone -q --bare $url $t/c/bare" \
    "git clone -q $url $t/c/full" >&2
  mapfile -t med < <(hyperfine_medians "$t/clone.json")
  RESULT[$transport.dg]="${med[0]}"
  RESULT[$transport.bare]="${med[1]}"
  RESULT[$transport.full]="${med[2]}"

  local out
  out="$("$BIN" --url "$url" --cache "$t/u" --fetches "$FETCHES" --restarts "$RESTARTS")"
  echo "$out" >&2
  RESULT[$transport.unchanged]="$(sed -n 's/^unchanged median_ms=\([0-9.]*\).*/\1/p' <<<"$out")"
  RESULT[$transport.unchanged_p90]="$(sed -n 's/^unchanged .*p90_ms=\([0-9.]*\).*/\1/p' <<<"$out")"
  RESULT[$transport.restart]="$(sed -n 's/^restart median_ms=\([0-9.]*\).*/\1/p' <<<"$out")"

  git clone -q "$url" "$t/ref"
  hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$t/fetch.json" \
    "git -C $t/ref fetch -q origin" >&2
  RESULT[$transport.gitfetch]="$(hyperfine_medians "$t/fetch.json")"
}
measure git "git://127.0.0.1:$port/repo.git"
measure file "file://$S/srv/repo.git"

echo
echo "### Git source: LibGit2Source::Fetch vs git ($(git --version | cut -d' ' -f3), libgit2" \
  "$(pkg-config --modversion libgit2 2>/dev/null || echo '?'))"
echo
echo "Repository: $files files, $((tree_kib / 1024)) MiB checked out, $((pack_kib / 1024)) MiB packed, $COMMITS commits."
echo
echo "| transport | driftguard first clone | git clone --bare | git clone | vs git clone (target <= 1.5x) | unchanged fetch median / p90 (target < 50 ms) | new source, warm cache | git fetch, up to date |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for tr in git file; do
  r="$(ratio "${RESULT[$tr.dg]}" "${RESULT[$tr.full]}" 2)"
  echo "| $tr:// | $(ms "${RESULT[$tr.dg]}") ms | $(ms "${RESULT[$tr.bare]}") ms |" \
    "$(ms "${RESULT[$tr.full]}") ms | ${r}x $(awk -v r="$r" 'BEGIN { print (r <= 1.5 ? "(met)" : "(missed)") }') |" \
    "${RESULT[$tr.unchanged]} / ${RESULT[$tr.unchanged_p90]} ms" \
    "$(awk -v v="${RESULT[$tr.unchanged]}" 'BEGIN { print (v < 50 ? "(met)" : "(missed)") }') |" \
    "${RESULT[$tr.restart]} ms | $(ms "${RESULT[$tr.gitfetch]}") ms |"
done
echo
echo "Clones: hyperfine medians of $RUNS runs (whole process, empty target each run). Unchanged" \
  "fetch: in-process median of $FETCHES fetches; warm cache: median of $RESTARTS."
