#!/usr/bin/env bash
# Webhook load (issue 4, "Figures"): `wrk` over TLS keep-alive on loopback posting a realistic
# UPDATE review of a Deployment (tests/testdata/admission/deployment-update-v1.json: `kubectl edit`
# of podinfo, object + oldObject with managedFields, ~10 KB) to `driftguard webhook`, for DURATION
# at 16 connections (throughput) and at 1 connection (latency p50/p99/p99.9). In the same run the
# ceiling: nginx (Debian package) with the same certificate on the same kind of port answering
# every POST with a fixed AdmissionReview response (driftguard's own answer to that review).
# Targets: throughput >= 0.5 x nginx; p99 at 1 connection <= 2 x nginx's.
#
# The guard does real work: a Git repository (file://) whose Kustomization flux-system/apps — the
# owner named by the review's Flux labels — renders podinfo as Git declares it (replicas 3, image
# 6.5.4, PODINFO_UI_COLOR #34577c); the review changes all three, so every request is decoded,
# looked up, compared and denied with a message. A second Kustomization adds FILLER objects so the
# index is not trivially small. The script checks the answer (allowed: false) before timing.
#
# Rounds alternate driftguard and nginx (ROUNDS times) so background noise hits both; the table
# shows medians over rounds. It also shows each server's CPU time (user + system, from /proc) per
# request at 16 connections: on 2 cores shared with wrk, throughput follows it. Also prints the
# decision-latency p99 bucket from driftguard's
# /metrics histogram (decoded request -> answer, without TLS and HTTP).
#
# Environment: BUILD_DIR, DURATION (default 20s), ROUNDS (default 3), THREADS (wrk threads at 16
# connections, default 2), FILLER (default 2000), PIN=1 to pin the servers to CPU 1 and wrk to
# CPU 0 with taskset.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/gen_tree.sh"

DURATION="${DURATION:-20s}"
ROUNDS="${ROUNDS:-3}"
THREADS="${THREADS:-2}"
FILLER="${FILLER:-2000}"
REVIEW="$REPO_ROOT/tests/testdata/admission/deployment-update-v1.json"

for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || [[ -x "/usr/sbin/$tool" ]] ||
    { echo "$tool is required (scripts/install-deps.sh)" >&2; exit 1; }
done
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
SERVER_CPU=()
WRK_CPU=()
if [[ "${PIN:-0}" == 1 ]]; then
  SERVER_CPU=(taskset -c 1)
  WRK_CPU=(taskset -c 0)
fi

bench_build driftguard
bench_tmpdir
S="$BENCH_SCRATCH"

# --- The Git repository declaring podinfo (as the review's oldObject has it) + filler objects.
repo="$S/repo"
mkdir -p "$repo/apps"
printf '%s\n' "resources:" "  - podinfo.yaml" >"$repo/apps/kustomization.yaml"
cat >"$repo/apps/podinfo.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: demo
  labels:
    app.kubernetes.io/name: podinfo
    app.kubernetes.io/part-of: demo
spec:
  replicas: 3
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: podinfo
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 25%
  template:
    metadata:
      labels:
        app.kubernetes.io/name: podinfo
      annotations:
        prometheus.io/port: "9797"
        prometheus.io/scrape: "true"
    spec:
      containers:
        - name: podinfo
          image: ghcr.io/stefanprodan/podinfo:6.5.4
          imagePullPolicy: IfNotPresent
          command:
            - ./podinfo
            - --port=9898
            - --port-metrics=9797
            - --grpc-port=9999
            - --grpc-service-name=podinfo
            - --level=info
            - --random-delay=false
            - --random-error=false
          ports:
            - name: http
              containerPort: 9898
              protocol: TCP
            - name: http-metrics
              containerPort: 9797
              protocol: TCP
            - name: grpc
              containerPort: 9999
              protocol: TCP
          env:
            - name: PODINFO_UI_COLOR
              value: "#34577c"
          livenessProbe:
            exec:
              command: [podcli, check, http, localhost:9898/healthz]
            initialDelaySeconds: 5
            timeoutSeconds: 5
          readinessProbe:
            exec:
              command: [podcli, check, http, localhost:9898/readyz]
            initialDelaySeconds: 5
            timeoutSeconds: 5
          resources:
            limits:
              cpu: "2"
              memory: 512Mi
            requests:
              cpu: 100m
              memory: 64Mi
EOF
gen_tree "$repo/filler" "$FILLER"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" commit -q -m "podinfo + filler"

"$DRIFTGUARD" certs generate --out-dir "$S/certs" --ip 127.0.0.1 >/dev/null
{
  flux_config "file://$repo" apps:./apps filler:./filler/overlay
  cat <<EOF
---
apiVersion: driftguard.io/v1alpha1
kind: GuardConfig
spec:
  defaultMode: enforce
  protect: all
EOF
} >"$S/config.yaml"

# --- driftguard.
dg_port="$(free_port)"
"${SERVER_CPU[@]}" "$DRIFTGUARD" webhook --config "$S/config.yaml" \
  --tls-cert-file "$S/certs/tls.crt" --tls-private-key-file "$S/certs/tls.key" \
  --bind-address 127.0.0.1 --secure-port "$dg_port" --metrics-bind-address 127.0.0.1:0 \
  --cache-dir "$S/cache" >"$S/webhook.log" 2>&1 &
dg_pid=$!
BENCH_PIDS+=("$dg_pid")
dg_ready() {
  kill -0 "$dg_pid" || { cat "$S/webhook.log" >&2; exit 1; }
  curl -fsS --cacert "$S/certs/ca.crt" "https://127.0.0.1:$dg_port/readyz"
}
wait_for 120 dg_ready
wait_for 10 grep -q "metrics on port" "$S/webhook.log"  # the log writer may lag a little
metrics_port="$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$S/webhook.log" | head -1)"

curl -fsS --cacert "$S/certs/ca.crt" -H 'Content-Type: application/json' \
  --data-binary "@$REVIEW" "https://127.0.0.1:$dg_port/validate" >"$S/response.json"
if ! grep -q '"allowed":false' "$S/response.json"; then
  echo "expected a denial from driftguard, got:" >&2
  cat "$S/response.json" >&2
  exit 1
fi
echo "driftguard's answer ($(wc -c <"$S/response.json") bytes): $(head -c 400 "$S/response.json")..." >&2

# --- nginx answering with that same response.
ng_port="$(free_port)"
mkdir -p "$S/nginx"
# In an nginx string '$' starts a variable and '\' escapes; neither matters for the ceiling.
sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g" -e 's/\$/S/g' "$S/response.json" >"$S/nginx/body"
{
  [[ "$(id -u)" == 0 ]] && echo "user root;"
  cat <<EOF
worker_processes auto;
daemon off;
pid $S/nginx/nginx.pid;
error_log $S/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $S/nginx/client_body;
  proxy_temp_path $S/nginx/proxy;
  fastcgi_temp_path $S/nginx/fastcgi;
  uwsgi_temp_path $S/nginx/uwsgi;
  scgi_temp_path $S/nginx/scgi;
  # driftguard's limits: 1000 requests per connection, 3 MiB bodies.
  keepalive_requests 1000;
  keepalive_timeout 75s;
  client_max_body_size 3m;
  server {
    listen 127.0.0.1:$ng_port ssl;
    ssl_certificate $S/certs/tls.crt;
    ssl_certificate_key $S/certs/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    default_type application/json;
    location / {
      return 200 '$(cat "$S/nginx/body")';
    }
  }
}
EOF
} >"$S/nginx/nginx.conf"
"${SERVER_CPU[@]}" "$NGINX" -p "$S/nginx" -c "$S/nginx/nginx.conf" -e "$S/nginx/error.log" \
  >"$S/nginx/stdout.log" 2>&1 &
ng_pid=$!
BENCH_PIDS+=("$ng_pid")
wait_for 10 curl -fsS --cacert "$S/certs/ca.crt" -o /dev/null "https://127.0.0.1:$ng_port/"

# --- wrk.
cat >"$S/post.lua" <<'EOF'
-- POSTs the review in REVIEW_FILE; prints one RESULT line (latency in microseconds).
local f = assert(io.open(os.getenv("REVIEW_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50_us=%d p99_us=%d p999_us=%d errors=%d non2xx=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.connect + e.read + e.write + e.timeout, e.status))
end
EOF

# CPU time (clock ticks, user + system) used so far by the server NAME: driftguard's process, or
# nginx's master and workers.
server_ticks() {
  local pids=("$dg_pid")
  [[ "$1" == nginx ]] && mapfile -t pids < <(echo "$ng_pid"; pgrep -P "$ng_pid")
  local p total=0
  for p in "${pids[@]}"; do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  echo "$total"
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))

declare -A R
# run_wrk NAME PORT CONNECTIONS THREADS ROUND
run_wrk() {
  local out before after
  before="$(server_ticks "$1")"
  out="$(REVIEW_FILE="$REVIEW" "${WRK_CPU[@]}" wrk -t "$4" -c "$3" -d "$DURATION" --latency \
    -s "$S/post.lua" "https://127.0.0.1:$2/validate")"
  after="$(server_ticks "$1")"
  echo "== $1 c=$3 round $5" >&2
  echo "$out" >&2
  local line
  line="$(grep '^RESULT' <<<"$out")"
  local field
  for field in rps p50_us p99_us p999_us errors non2xx; do
    R[$1.$3.$field]+="$(sed -n "s/.*\\b$field=\\([0-9.]*\\).*/\\1/p" <<<"$line") "
  done
  local requests
  requests="$(sed -n 's/.*\brequests=\([0-9]*\).*/\1/p' <<<"$line")"
  R[$1.$3.cpu_us]+="$(awk -v t=$((after - before)) -v u="$TICK_US" -v n="$requests" \
    'BEGIN { printf "%.1f", (n > 0 ? t * u / n : 0) }') "
}
for ((round = 1; round <= ROUNDS; round++)); do
  for server in driftguard nginx; do
    port="$dg_port"
    [[ "$server" == nginx ]] && port="$ng_port"
    run_wrk "$server" "$port" 16 "$THREADS" "$round"
    run_wrk "$server" "$port" 1 1 "$round"
  done
done

# p99 of driftguard's decision-latency histogram (upper bound of the bucket holding it).
metrics="$(curl -fsS "http://127.0.0.1:$metrics_port/metrics")"
decision_p99="$(awk '
  /^driftguard_admission_decision_duration_seconds_bucket/ {
    match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
    n++; les[n] = le; counts[n] = $NF }
  /^driftguard_admission_decision_duration_seconds_count/ { total = $NF }
  END {
    for (i = 1; i <= n; i++) if (counts[i] >= 0.99 * total) {
      if (les[i] == "+Inf") print "> " les[i - 1] * 1e6 " us"; else print "<= " les[i] * 1e6 " us"
      exit }
  }' <<<"$metrics")"
decisions="$(awk '/^driftguard_admission_decision_duration_seconds_count/ {print $NF}' <<<"$metrics")"

med() { median ${R[$1]}; }
sum() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s }' <<<"${R[$1]}"; }
us_ms() { awk -v u="$1" 'BEGIN { printf "%.2f ms", u / 1000 }'; }

dg_rps="$(med driftguard.16.rps)"
ng_rps="$(med nginx.16.rps)"
t_exact="$(ratio "$dg_rps" "$ng_rps" 6)"  # targets are judged unrounded (0.497 is not 0.5)
dg_p99="$(med driftguard.1.p99_us)"
ng_p99="$(med nginx.1.p99_us)"
l_exact="$(ratio "$dg_p99" "$ng_p99" 6)"
errors="$(($(sum driftguard.16.errors) + $(sum driftguard.1.errors) + $(sum nginx.16.errors) + $(sum nginx.1.errors)))"
non2xx="$(($(sum driftguard.16.non2xx) + $(sum driftguard.1.non2xx) + $(sum nginx.16.non2xx) + $(sum nginx.1.non2xx)))"

echo
echo "### Webhook load: driftguard vs nginx ceiling (wrk, TLS keep-alive, 127.0.0.1)"
echo
echo "Review: $(basename "$REVIEW") ($(wc -c <"$REVIEW") bytes, denied by driftguard)." \
  "$DURATION per run, medians of $ROUNDS alternating rounds${PIN:+, PIN=$PIN}."
echo
echo "| | driftguard | nginx (fixed answer) | driftguard / nginx | target |"
echo "| --- | ---: | ---: | ---: | --- |"
echo "| throughput, 16 connections | $(printf '%.0f' "$dg_rps") req/s | $(printf '%.0f' "$ng_rps") req/s |" \
  "$(ratio "$dg_rps" "$ng_rps" 3)x | >= 0.5x: $(awk -v r="$t_exact" 'BEGIN { print (r >= 0.5 ? "met" : "missed") }') |"
for q in p50 p99 p999; do
  label="${q/p999/p99.9}"
  extra=""
  if [[ "$q" == p99 ]]; then
    extra="<= 2x: $(awk -v r="$l_exact" 'BEGIN { print (r <= 2 ? "met" : "missed") }')"
  fi
  echo "| latency $label, 1 connection | $(us_ms "$(med "driftguard.1.${q}_us")") |" \
    "$(us_ms "$(med "nginx.1.${q}_us")") |" \
    "$(ratio "$(med "driftguard.1.${q}_us")" "$(med "nginx.1.${q}_us")" 2)x | $extra |"
done
echo "| server CPU per request, 16 connections | $(med driftguard.16.cpu_us) µs |" \
  "$(med nginx.16.cpu_us) µs | $(ratio "$(med driftguard.16.cpu_us)" "$(med nginx.16.cpu_us)" 2)x | |"
echo "| latency p99, 16 connections | $(us_ms "$(med driftguard.16.p99_us)") |" \
  "$(us_ms "$(med nginx.16.p99_us)") | $(ratio "$(med driftguard.16.p99_us)" "$(med nginx.16.p99_us)" 2)x | |"
echo
echo "driftguard decision latency (its /metrics histogram, $decisions decisions): p99 $decision_p99." \
  "Socket errors: $errors; non-2xx answers: $non2xx."
