#!/usr/bin/env bash
# Gathers into .gpu/ (git-ignored) what a bare GPU machine needs to build and run rflow with
# scripts/gpu_check.sh: the header-only and small libraries Debian gives us (the GPU image has
# PyTorch, CMake and ninja but no -dev packages), Fashion-MNIST and the final checkpoints of the run directories named as arguments. Run it here, then carry `.gpu`.
#   scripts/gpu_pack.sh [runs/NAME ...]
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .gpu && mkdir -p .gpu/sysroot .gpu/fashion-mnist .gpu/runs
pkgs=(libfmt-dev libfmt9 libspdlog-dev libspdlog1.10 nlohmann-json3-dev libtomlplusplus-dev libtomlplusplus3
      libcli11-dev libstb-dev libgtest-dev libgmock-dev zlib1g-dev)
dpkg -L "${pkgs[@]}" | grep -vE '^/usr/share/(doc|lintian|man)/|^/usr/src/' | while read -r f; do
  if [ -f "$f" ] || [ -L "$f" ]; then echo "$f"; fi
done | tar cf - --no-recursion -T - 2>/dev/null | tar xf - -C .gpu/sysroot
cp /usr/share/datasets/fashion-mnist/*.gz .gpu/fashion-mnist/
# The image networks travel in models/ (tracked): the GPU machine scores with the same evaluator.
# A run directory travels without its pairs, samples, eval outputs and older checkpoints: the
# newest checkpoint of each model, configs and stage records are what `rflow run <dir>` evaluates.
for run in "$@"; do
  dst=.gpu/runs/$(basename "$run")
  cp -a "$run" "$dst"
  find "$dst" -depth \( -name pairs -o -name eval -o -name samples \) -type d -exec rm -rf {} +
  find "$dst" \( -name '*.npy' -o -name '*.png' -o -name report.html -o -name '*.log' -o -name optimizer.pt \) -type f -delete
  find "$dst" -name LATEST -path '*/checkpoints/*' | while read -r latest; do
    keep=$(tr -d '[:space:]' < "$latest")
    for c in "$(dirname "$latest")"/step_*; do [ "$(basename "$c")" = "$(basename "$keep")" ] || rm -rf "$c"; done
  done
done
du -sh .gpu
