#!/usr/bin/env bash
# Installs exactly what driftguard's build, tests and benchmarks need, from Debian's archive.
# Quick when everything is present: apt-get runs only when a package is missing.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config git clang clang-format
  # libraries (DESIGN.md "Dependencies")
  libcpp-httplib-dev libssl-dev libyaml-cpp-dev nlohmann-json3-dev libgit2-dev libspdlog-dev
  libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  # JSON parsing on the webhook's request path (core/json.cc)
  libsimdjson-dev
  # malloc of the driftguard binary (cmd/driftguard/CMakeLists.txt)
  libmimalloc-dev
  # real peers used by tests and benchmarks
  openssh-server openssh-client nginx fcgiwrap curl wrk hyperfine prometheus
  # openssl CLI: certs/generate.sh and its test
  openssl
  # libFuzzer runtime for the fuzz targets
  libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
