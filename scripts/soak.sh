#!/usr/bin/env bash
# Crash soak: kills `rflow run` with SIGKILL at RFLOW_SOAK_KILLS (default 20) random moments, half
# of them while a checkpoint is being written, reruns it each time, and compares the final
# checkpoint with an uninterrupted run's (weights, EMA, optimizer state, state.json, metrics log);
# then kills `rflow export`, `rflow delta` and reflow pair generation the same way and checks that
# their files are the old ones or the new ones whole, with no temporary or exporter left behind.
# Usage: scripts/soak.sh [kills] [seed]     (after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export RFLOW_SOAK_KILLS=${1:-20} RFLOW_SOAK_SEED=${2:-1} OMP_NUM_THREADS=1
exec build/rflow_e2e_tests --gtest_also_run_disabled_tests --gtest_filter='Soak.*'
