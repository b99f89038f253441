#!/usr/bin/env bash
# Applier figures (issue 5, "Figures"): staged server-side apply of OBJECTS rendered objects
# (ConfigMaps, Deployments and Services in equal parts, spread over NAMESPACES namespaces) against
# the FakeApiServer, then a no-change resync of the same objects.
#
# Method (bench/apply_bench.cc): the FakeApiServer runs in a forked child process, so the bench
# process holds only the client side (reconciler::Applier with CONCURRENCY workers, the HTTPS
# HttpKubeClient). Per phase it reports
#   - object throughput: objects / wall-clock seconds of Applier::Apply;
#   - bytes on the wire: the sum of request_bytes + response_bytes the fake recorded for the
#     phase (HTTP bodies; headers and TLS framing are not counted);
#   - client CPU per object: getrusage(RUSAGE_SELF) user + system of the bench process during the
#     phase, divided by OBJECTS. The server's CPU is in the child and not counted.
# Each object costs a GET and a dry-run apply; a first apply adds the real apply, a resync does not
# write. A fresh server per run; RUNS runs, medians printed as a Markdown table.
#
# Environment: BUILD_DIR, OBJECTS (default 1000), RUNS (default 5), CONCURRENCY (default 4),
# NAMESPACES (default 4).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

OBJECTS="${OBJECTS:-1000}"
RUNS="${RUNS:-5}"
CONCURRENCY="${CONCURRENCY:-4}"
NAMESPACES="${NAMESPACES:-4}"

bench_build apply_bench
BIN="$BUILD_DIR/bench/apply_bench"
bench_tmpdir
out="$BENCH_SCRATCH/runs.tsv"

echo "apply_bench: $RUNS runs of $OBJECTS objects, concurrency $CONCURRENCY" >&2
"$BIN" --objects "$OBJECTS" --runs "$RUNS" --concurrency "$CONCURRENCY" \
  --namespaces "$NAMESPACES" | tee "$out" >&2

# column <phase> <field number> -> the values of that field over the runs
column() { awk -F'\t' -v p="$1" -v f="$2" 'NR > 1 && $2 == p { print $f }' "$out"; }

echo "### Apply: $OBJECTS objects against the FakeApiServer (medians of $RUNS runs, concurrency $CONCURRENCY)"
echo
echo "| phase | wall s | objects/s | requests | bytes on the wire | bytes/object | client CPU µs/object |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for phase in apply resync; do
  mapfile -t secs < <(column "$phase" 4)
  mapfile -t rate < <(column "$phase" 5)
  mapfile -t reqs < <(column "$phase" 6)
  mapfile -t wire < <(column "$phase" 7)
  mapfile -t cpu < <(column "$phase" 8)
  w="$(median "${wire[@]}")"
  label="first apply (all created)"
  [[ "$phase" == resync ]] && label="no-change resync (all unchanged)"
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$(median "${secs[@]}")" \
    "$(median "${rate[@]}")" "$(median "${reqs[@]}")" "$w" "$(ratio "$w" "$OBJECTS" 0)" \
    "$(median "${cpu[@]}")"
done
echo
echo "Client CPU = getrusage of the bench process (the fake API server runs in a forked child);"
echo "bytes = HTTP bodies recorded by the fake (request + response), without headers and TLS."
