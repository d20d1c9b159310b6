#!/usr/bin/env bash
# README command 2: install dependencies, build, run the test suite (unit + end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build
# Two threads per test process at most: the suite runs on 2-core machines, tests in parallel.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
ctest --output-on-failure -j 2 --timeout 900 "$@"
