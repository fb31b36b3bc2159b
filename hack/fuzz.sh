#!/usr/bin/env bash
# libFuzzer runs of the targets in tests/fuzz/ (issue 8).
#
#   hack/fuzz.sh [--time SECONDS] [--jobs N] [TARGET...]   build, then fuzz each target (default:
#                                   all) for SECONDS (default 300) from tests/fuzz/corpus/<target>/;
#                                   new interesting inputs go to $FUZZ_DIR/corpus/<target>/
#   hack/fuzz.sh --ci               the same with 20 s per target (CI): exits non-zero on any crash,
#                                   leak, timeout or sanitizer report
#   hack/fuzz.sh --build-only       configure + build the targets only
#   hack/fuzz.sh --list             the target names
#
# Builds with clang-14 into $BUILD_DIR (default build-fuzz): only the fuzz targets.
# Crashes are written to $FUZZ_DIR/artifacts/<target>/ (default $BUILD_DIR/fuzz-runs); reproduce
# one with `$BUILD_DIR/fuzz/<target> <file>`, then keep it as a unit test in
# tests/unit/fuzz_regressions/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD_DIR=${BUILD_DIR:-build-fuzz}
FUZZ_DIR=${FUZZ_DIR:-$BUILD_DIR/fuzz-runs}
CC_BIN=${CC:-clang-14}
CXX_BIN=${CXX:-clang++-14}
TARGETS_ALL=(fuzz_request_info fuzz_selectors fuzz_json fuzz_translate_request
  fuzz_translate_response fuzz_list_splitter fuzz_watch_decoder fuzz_kubeconfig
  fuzz_authn_configmap fuzz_naming)

seconds=300
build_only=false
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ci) seconds=${FUZZ_CI_SECONDS:-20} ;;
    --time) seconds=${2:?--time needs seconds}; shift ;;
    --time=*) seconds=${1#*=} ;;
    --build-only) build_only=true ;;
    --list) printf '%s\n' "${TARGETS_ALL[@]}"; exit 0 ;;
    -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    fuzz_*) targets+=("$1") ;;
    *) echo "fuzz.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[ ${#targets[@]} -gt 0 ] || targets=("${TARGETS_ALL[@]}")

if ! command -v "$CXX_BIN" >/dev/null; then
  echo "fuzz.sh: $CXX_BIN not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 1
fi

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CC=$CC_BIN CXX=$CXX_BIN cmake -S . -B "$BUILD_DIR" -G Ninja -DFUZZ=ON -DBUILD_BENCH=OFF \
    -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" >/dev/null
fi
cmake --build "$BUILD_DIR" --target "${targets[@]}" -j"${FUZZ_BUILD_JOBS:-2}"
$build_only && exit 0

# Leaks are reported at exit of each run; UBSan reports abort (-fno-sanitize-recover is not set
# for fuzzer builds, so make every report fatal).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:suppressions=$ROOT/tests/fuzz/ubsan.supp}

failed=()
summary=()
for t in "${targets[@]}"; do
  seeds="tests/fuzz/corpus/$t"
  work="$FUZZ_DIR/corpus/$t"
  artifacts="$FUZZ_DIR/artifacts/$t"
  log="$FUZZ_DIR/$t.log"
  mkdir -p "$work" "$artifacts" "$seeds"
  dict=()
  [ -f "tests/fuzz/dict/$t.dict" ] && dict=(-dict="tests/fuzz/dict/$t.dict")
  echo "== $t (${seconds}s)"
  rc=0
  "$BUILD_DIR/fuzz/$t" "$work" "$seeds" "${dict[@]}" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
  stats=$(grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" | sed 's/^stat:://' |
    tr -s ' \n' '  ' || true)
  cov=$(grep -E '^#[0-9]+' "$log" | tail -1 |
    grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9/]+[a-zA-Z]*' || true)
  if [ $rc -ne 0 ] ||
    grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|FUZZ INVARIANT' "$log"
  then
    failed+=("$t")
    echo "   FAILED (exit $rc); log: $log"
    grep -E 'ERROR:|runtime error:|FUZZ INVARIANT|^SUMMARY|Test unit written' "$log" | head -10 | sed 's/^/   /'
  fi
  summary+=("$(printf '%-26s %s %s' "$t" "$cov" "$stats")")
done

echo
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets clean"
