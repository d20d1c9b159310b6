#!/usr/bin/env bash
# README command 1: install dependencies, build, and run the main job (1-RF on 2-D data, sampled
# at several NFE, evaluated, report in runs/demo_2d/report.html). Extra args go to `rflow run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh --target rflow
./build/rflow run configs/demo_2d.toml "$@"
echo "open runs/demo_2d/report.html"
