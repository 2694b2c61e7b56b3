#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs the whole test
# suite: a Release build (warnings are errors), then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, then each libFuzzer target
# for a bounded time (built with clang).
#
#   bash deploy/dev/test.sh
#
# Environment:
#   WARDEN_SANITIZE=0   skip the sanitizer pass (faster local runs)
#   WARDEN_FUZZ=0       skip the fuzzers; WARDEN_FUZZ_SECONDS (20) per target
#   WARDEN_BUILD_DIR    where to build (default: build/test)
set -euo pipefail
cd "$(dirname "$0")/../.."

bash deploy/dev/install-deps.sh
bash deploy/dev/install-tools.sh

# Test servers die with their test binary, except a Postgres started as the
# postgres user (the uid change drops the parent-death signal): stop any
# that a crashed test left behind.
cleanup() {
  pkill -KILL -f "postgres -D /tmp/warden-(pg|run)-" 2>/dev/null || true
}
trap cleanup EXIT

build_dir="${WARDEN_BUILD_DIR:-build/test}"
jobs="$(nproc)"

# run_suite DIR "CTEST ARGS" CMAKE ARGS...
run_suite() {
  local dir="$1" ctest_args="$2"; shift 2
  cmake -S . -B "$dir" -G Ninja -DWARDEN_WERROR=ON "$@"
  cmake --build "$dir" -j "$jobs"
  # Each test owns its temp dirs, ports and servers (Redis is started per
  # test binary and killed with it), so they can run in parallel.
  # shellcheck disable=SC2086
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" $ctest_args
}

# A Release build, as a packager makes it (CMake's own -O3 -DNDEBUG), with
# warnings as errors under g++; file by file, unlike the two builds after it.
echo "== build and test: $build_dir"
run_suite "$build_dir" "" -DCMAKE_BUILD_TYPE=Release

if [ "${WARDEN_SANITIZE:-1}" != "0" ]; then
  echo "== build and test under ASan+UBSan: ${build_dir}-asan"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  # Benchmarks measure speed, which a sanitizer build cannot tell: not built.
  # The chart's checks run no C++, and the browser test drives no C++ that
  # http_api_e2e_test does not: once is enough. A unity build (each
  # target's sources compiled a few to a file) parses the heavy gRPC,
  # protobuf and Abseil headers a fraction as often; the Release build above
  # stays file by file, so a source missing an include still fails there.
  run_suite "${build_dir}-asan" "-LE helm|browser" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DWARDEN_SANITIZE=ON -DWARDEN_BENCH=OFF \
    -DCMAKE_UNITY_BUILD=ON
fi

if [ "${WARDEN_FUZZ:-1}" != "0" ]; then
  echo "== fuzz: ${build_dir}-fuzz"
  CC=clang CXX=clang++ cmake -S . -B "${build_dir}-fuzz" -G Ninja \
    -DWARDEN_FUZZ=ON -DWARDEN_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_UNITY_BUILD=ON
  cmake --build "${build_dir}-fuzz" -j "$jobs" --target fuzzers
  bash tests/fuzz/run_fuzzers.sh "${build_dir}-fuzz" "${WARDEN_FUZZ_SECONDS:-20}"
fi
