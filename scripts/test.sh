#!/usr/bin/env bash
# README command 2: install dependencies, build, run the test suite (unit + end-to-end).
#   scripts/test.sh [ctest args]             the suite, as CI runs it
#   scripts/test.sh --sanitize [ctest args]  the same suite built with ASan + UBSan in build-sanitize/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD=build
if [ "${1:-}" = "--sanitize" ]; then
  shift
  BUILD=build-sanitize
  if [ ! -f $BUILD/CMakeCache.txt ]; then
    GEN=()
    command -v ninja >/dev/null && GEN=(-G Ninja)
    cmake -S . -B $BUILD "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DRFLOW_SANITIZE=address,undefined \
      -DRFLOW_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS="-g1" >/dev/null
  fi
  # LibTorch keeps its operator registry and thread pools alive until exit on purpose: leak reports
  # would be its, not ours. Every other finding fails the test that triggered it.
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_odr_violation=0:${ASAN_OPTIONS:-}
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}
  export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime CCACHE_BASEDIR="$PWD"
  cmake --build $BUILD -j "${JOBS:-2}"
else
  bash scripts/build.sh
fi
cd $BUILD
# Two threads per test process at most: the suite runs on 2-core machines, tests in parallel.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
ctest --output-on-failure -j 2 --timeout 900 "$@"
