#!/usr/bin/env bash
# DesiredState for OBJECTS objects (issue 3, "Figures": build time and resident memory, target
# <= 256 MB RSS; issue 4: resident memory of the webhook holding 10,000 desired objects).
#
# Generates a kustomization tree of OBJECTS objects (bench/lib/gen_tree.sh: Deployments, Services
# and ConfigMaps under an overlay with namePrefix, namespace, labels, images, patches and a
# configMapGenerator), committed to a Git repository, then
#   1. bench/desired_state_bench: render (with provenance) + Flux post-build + DesiredSnapshot::Build
#      + DesiredStateStore::Publish in one fresh process; VmRSS before/after and VmHWM from
#      /proc/self/status; build time as the median of REPETITIONS builds;
#   2. `driftguard webhook` with a config whose file:// GitRepository holds that repository: time
#      from start to GET /readyz == 200, then VmRSS and VmHWM of the process (after SETTLE seconds).
# Prints a Markdown table.
#
# Environment: BUILD_DIR, OBJECTS (default 10000), REPETITIONS (default 3), SETTLE (default 2).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/gen_tree.sh"

OBJECTS="${OBJECTS:-10000}"
REPETITIONS="${REPETITIONS:-3}"
SETTLE="${SETTLE:-2}"
TARGET_MIB=256

bench_build driftguard desired_state_bench
bench_tmpdir
S="$BENCH_SCRATCH"

repo="$S/repo"
gen_tree "$repo" "$OBJECTS"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" commit -q -m "$OBJECTS objects"
tree_mib="$(du -sk --exclude=.git "$repo" | awk '{printf "%.1f", $1 / 1024}')"

# --- 1. In-process build.
out="$("$BUILD_DIR/bench/desired_state_bench" --root "$repo" --path overlay \
  --repetitions "$REPETITIONS")"
echo "$out" >&2
get() { sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" <<<"$out"; }

# --- 2. The webhook holding the same objects.
"$DRIFTGUARD" certs generate --out-dir "$S/certs" --ip 127.0.0.1 >/dev/null
flux_config "file://$repo" apps:./overlay >"$S/config.yaml"
port="$(free_port)"
start_ns="$(date +%s%N)"
"$DRIFTGUARD" webhook --config "$S/config.yaml" --tls-cert-file "$S/certs/tls.crt" \
  --tls-private-key-file "$S/certs/tls.key" --bind-address 127.0.0.1 --secure-port "$port" \
  --metrics-bind-address 127.0.0.1:0 --cache-dir "$S/cache" >"$S/webhook.log" 2>&1 &
pid=$!
BENCH_PIDS+=("$pid")
ready() {
  kill -0 "$pid" || { cat "$S/webhook.log" >&2; exit 1; }
  curl -fsS --cacert "$S/certs/ca.crt" "https://127.0.0.1:$port/readyz"
}
wait_for 600 ready
ready_ms=$((($(date +%s%N) - start_ns) / 1000000))
# The log is written by a background thread (at most 100 ms behind): wait for the line.
wait_for 10 grep -q "objects at" "$S/webhook.log" || { cat "$S/webhook.log" >&2; exit 1; }
loaded="$(sed -n 's/.*Kustomization flux-system\/apps: \([0-9]*\) objects at.*/\1/p' "$S/webhook.log")"
sleep "$SETTLE"
wh_rss="$(proc_mib "$pid" VmRSS)"
wh_hwm="$(proc_mib "$pid" VmHWM)"
kill "$pid"
wait "$pid" 2>/dev/null || true

verdict() { awk -v v="$1" -v t="$TARGET_MIB" 'BEGIN { print (v <= t ? "met" : "missed") }'; }
echo
echo "### DesiredState: $(get objects) objects ($tree_mib MiB of YAML in $(find "$repo" -name '*.yaml' | wc -l) files)"
echo
echo "| what | build time (median of $REPETITIONS) | RSS held | peak RSS (VmHWM) | target <= $TARGET_MIB MB RSS |"
echo "| --- | ---: | ---: | ---: | --- |"
echo "| render + post-build + snapshot + publish (desired_state_bench) | $(get total_ms) ms" \
  "(render $(get render_ms), post-build $(get postbuild_ms), snapshot $(get snapshot_ms)," \
  "publish $(get publish_ms)) | $(get rss_after_mib) MiB (process baseline $(get rss_before_mib))" \
  "| $(get hwm_mib) MiB | $(verdict "$(get rss_after_mib)") (peak: $(verdict "$(get hwm_mib)")) |"
echo "| \`driftguard webhook\` holding $loaded objects (file:// GitRepository) |" \
  "$ready_ms ms from start to /readyz 200 (clone + checkout + render + publish) | $wh_rss MiB |" \
  "$wh_hwm MiB | $(verdict "$wh_rss") (peak: $(verdict "$wh_hwm")) |"
echo
echo "The snapshot records $(get origins) field origins (provenance). After malloc_trim(0) the" \
  "bench process holds $(get rss_trimmed_mib) MiB: the rest of its RSS is freed render" \
  "temporaries that glibc keeps cached. Sizes are MiB, the target is read as 256 MiB (256 MB decimal = 244 MiB)."
