#!/usr/bin/env bash
# Sets up and runs every test: installs deps, configures with ASan+UBSan, builds, runs ctest, then
# the real-binary tests again against the Release build, then the fuzz targets.
# Usage: hack/test.sh [ctest args...]   (BUILD_DIR=build-test by default; SANITIZE=OFF to skip)
set -euo pipefail
cd "$(dirname "$0")/.."

bash hack/install-deps.sh

build_dir=${BUILD_DIR:-build-test}
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSANITIZE="${SANITIZE:-ON}" \
      -DBUILD_BENCH=OFF -DBUILD_TESTING=ON
cmake --build "$build_dir" -j "$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/hack/lsan.supp}
# No retries: a test must pass the first time. (The one known flake, a connection left open
# at a leak check under load, was a race in kube/http_server.cc, fixed with its regression test
# SessionTest.ClientClosingAsAStreamEndsIsNotKeptAlive.)
(cd "$build_dir" && ctest --output-on-failure -j "$jobs" --timeout 600 "$@")

# The product as shipped: mcp-connector in Release on mimalloc (README "Dependencies"), which the
# sanitized build above cannot link. The tests that start the real binary
# (tests/integration/connector/shutdown_test.cc) run once more, against it. RELEASE_CHECK=0 skips.
if [ "${RELEASE_CHECK:-1}" != "0" ]; then
  release_dir=${RELEASE_BUILD_DIR:-build-release}
  cmake -S . -B "$release_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
        -DBUILD_BENCH=OFF
  cmake --build "$release_dir" -j "$jobs" --target mcp-connector
  "$release_dir/mcp-connector" --version
  MCP_BUILD_DIR="$PWD/$release_dir" MCP_SOURCE_DIR="$PWD" \
    "$build_dir/tests/integration/connector/connector_integration_test" \
    --gtest_filter='BinaryShutdownTest.*'
fi

# Every libFuzzer target briefly over its corpus and kept reproducers (issue 8). FUZZ=0 skips.
if [ "${FUZZ:-1}" != "0" ]; then
  # fuzz.sh sets its own sanitizer options (with its UBSan suppressions): don't pass ours on.
  env -u ASAN_OPTIONS -u UBSAN_OPTIONS -u LSAN_OPTIONS FUZZ_CI_SECONDS="${FUZZ_CI_SECONDS:-10}" \
    bash hack/fuzz.sh --ci
fi
