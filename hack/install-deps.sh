#!/usr/bin/env bash
# Installs, from Debian's packages only, everything the build, tests, demo and benchmarks need.
# Idempotent: does nothing when every package is already there. Runs as root (or via sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates openssl
  libboost1.81-dev libssl-dev rapidjson-dev libyaml-cpp-dev libsodium-dev libgoogle-glog-dev
  libmimalloc-dev               # mcp-connector's allocator (README "Dependencies")
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  clang-14 libclang-rt-14-dev   # libFuzzer (-DFUZZ=ON)
  nginx-light wrk procps curl   # benchmarks (nginx baseline, wrk), /proc readers; curl in tests
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# nginx-light's package starts a system nginx on port 80; the benchmarks run their own.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
pkill -f 'nginx: master process /usr/sbin/nginx' 2>/dev/null || true

if ! command -v kubectl >/dev/null 2>&1; then
  echo "install-deps: WARNING: kubectl is not on PATH; the kubectl-driven tests will be skipped" >&2
fi
