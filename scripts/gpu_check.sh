#!/usr/bin/env bash
# On a GPU machine: builds rflow against the CUDA LibTorch of the machine's own PyTorch, runs the
# test suite (its CUDA tests no longer skip), the U-Net bench in C++ and Python on the GPU, a toy
# image chain with device = cuda, the DiT bench and a DiT chain on the GPU (then as much of the MoE
# DiT teacher's training as the budget leaves, returned as a run directory), and re-evaluates the run directories that scripts/gpu_pack.sh
# packed into .gpu/runs with the full protocol (n = 10000). Logs and results go to $OUT.
#   scripts/gpu_pack.sh runs/fmnist_cond          (here, then carry .gpu to the GPU machine)
#   scripts/gpu_check.sh [build] [bench] [smoke] [dit] [eval] [test]   (default: all, in this order)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/rflow_gpu}
mkdir -p "$OUT"
[ -d .gpu/sysroot ] || { echo "gpu_check: no .gpu/sysroot; run scripts/gpu_pack.sh first and carry .gpu" >&2; exit 1; }
root=$PWD/.gpu/sysroot/usr
lib=$root/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
unset RFLOW_FIDNET  # the shipped evaluator (models/), as here
# rflow reads Fashion-MNIST where Debian puts it.
if [ ! -e /usr/share/datasets/fashion-mnist ]; then
  mkdir -p /usr/share/datasets && ln -s "$PWD/.gpu/fashion-mnist" /usr/share/datasets/fashion-mnist
fi
BIN=${RFLOW_BIN:-build-cuda}  # or a folder holding the binaries of bin_cuda.tgz
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(build bench smoke dit eval test)
BUDGET=${GPU_CHECK_BUDGET:-540}  # seconds: the test step gets what is left of it
t_start=$(date +%s)
stamp() { echo "== $1 ($(($(date +%s) - t_start)) s)"; }

do_build() {
  stamp build
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  g++ --version | head -1; cmake --version | head -1
  local tr abi
  tr=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')
  abi=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
  # Debian's spdlog needs its fmt 9, and torch ships a newer fmt in its include folder: a folder of
  # their own, searched first (the sysroot itself is a system folder, searched after torch's).
  mkdir -p .gpu/first && cp -r "$root/include/fmt" "$root/include/spdlog" .gpu/first/
  local std=17  # newer PyTorch headers refuse C++17 with an #error naming C++20
  grep -rqs "C++20 or later compatible compiler is required" "$tr/include/ATen" "$tr/include/c10" "$tr/include/torch" && std=20
  echo "C++$std"
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=$std -DRFLOW_TORCH_ROOT="$tr" -DRFLOW_TORCH_CXX11_ABI="$abi" \
    -DCMAKE_PREFIX_PATH="$root" -DRFLOW_DEPS_INCLUDE="$PWD/.gpu/first" -DRFLOW_STB_INCLUDE="$root/include/stb" -DZLIB_INCLUDE_DIR="$root/include" \
    -DZLIB_LIBRARY="$lib/libz.a" > "$OUT/cmake.log" 2>&1 || { tail -40 "$OUT/cmake.log"; return 1; }
  # -k 0: one pass shows every translation unit that fails, not the first.
  cmake --build build-cuda -j "$(nproc)" -- -k 0 > "$OUT/build.log" 2>&1 || { grep -A3 "error" "$OUT/build.log" | head -150; return 1; }
  # The binaries come back too, so a later call on a fresh machine needs no build (RFLOW_BIN).
  tar czf "$OUT/bin_cuda.tgz" -C build-cuda rflow rflow_tests rflow_e2e_tests bench_unet bench_dit
}

do_test() {
  stamp test
  local left=$((BUDGET - ($(date +%s) - t_start) - 15)) logs=/tmp/rflow_gpu_tests
  [ "$left" -gt 30 ] || { echo "test: no time left"; return 1; }
  # The e2e tests call the CLI by the path they were built with.
  [ -x build-cuda/rflow ] || { mkdir -p build-cuda && cp "$BIN/rflow" build-cuda/; }
  rm -rf "$logs" && mkdir -p "$logs"
  # gtest's own sharding: 16 processes per binary, one thread each, no ctest files needed.
  local n=16 t i
  for t in rflow_tests rflow_e2e_tests; do
    for ((i = 0; i < n; i++)); do
      GTEST_TOTAL_SHARDS=$n GTEST_SHARD_INDEX=$i OMP_NUM_THREADS=1 timeout "$left" "$BIN/$t" > "$logs/$t.$i.log" 2>&1 &
    done
  done
  wait
  cat "$logs"/*.log > "$OUT/tests.log"
  echo "passed: $(grep -c '^\[       OK \]' "$OUT/tests.log"), skipped: $(grep -c '^\[  SKIPPED \] .*\.' "$OUT/tests.log"), failed: $(grep -c '^\[  FAILED  \] .*\.' "$OUT/tests.log" | head -1)"
  grep -E '^\[  FAILED  \]|^\[  SKIPPED \] [A-Za-z]' "$OUT/tests.log" | sort -u | head -20
  grep -A6 "OnCuda" "$OUT/tests.log" | head -20
}

do_bench() {
  stamp bench
  local ch
  for ch in ${GPU_BENCH_CHANNELS:-32 16}; do
    if ! "$BIN/bench_unet" 16 "$ch" cuda | tee -a "$OUT/bench_unet_cuda.jsonl"; then
      # A crash: where, once (cuda-gdb also debugs host code; there is no plain gdb there).
      command -v cuda-gdb > /dev/null && timeout 120 cuda-gdb -q -batch -ex run -ex bt --args "$BIN/bench_unet" 16 "$ch" cuda 2>&1 | grep -E "^#|signal" | head -30
      break
    fi
  done
  if [ "${GPU_BENCH_PYTHON:-1}" = 1 ]; then python3 bench/python/bench_unet.py 16 cuda | tee -a "$OUT/bench_unet_cuda.jsonl"; fi
}

do_dit() {
  stamp dit
  "$BIN/bench_dit" 16 cuda | tee -a "$OUT/bench_dit_cuda.jsonl"
  if [ "${GPU_BENCH_PYTHON:-1}" = 1 ]; then python3 bench/python/bench_dit.py 16 cuda | tee -a "$OUT/bench_dit_cuda.jsonl"; fi
  local dir=/tmp/rflow_dit_smoke cfg
  for cfg in dit_fmnist dit_moe_fmnist; do
    rm -rf "$dir"
    "$BIN/rflow" run "configs/$cfg.toml" --set out_dir=$dir --set device=cuda \
      --set train.steps=200 --set reflow.pairs=256 --set reflow.train.steps=50 --set distill.train.steps=50 \
      --set eval.n=500 --set 'eval.nfe=[1,4]' > "$OUT/smoke_$cfg.log" 2>&1
    echo "$cfg chain on cuda: exit $?"; grep -E "steps_per_s|eval: |error|Error" "$OUT/smoke_$cfg.log" | tail -6
  done
  # What the budget leaves (minus the shares of the test step, GPU_CHECK_TEST_S, and of each packed
  # run's eval, GPU_CHECK_EVAL_S) trains the MoE DiT teacher;
  # the run directory comes back (newest checkpoint) to be resumed or evaluated elsewhere.
  shopt -s nullglob
  local runs=(.gpu/runs/*/)
  local left=$((BUDGET - ($(date +%s) - t_start) - ${GPU_CHECK_TEST_S:-150} - ${#runs[@]} * ${GPU_CHECK_EVAL_S:-150}))
  if [ "${GPU_DIT_TRAIN:-1}" = 1 ] && [ "$left" -gt 60 ]; then
    mkdir -p runs
    timeout -k 30 -s INT "$left" "$BIN/rflow" run configs/dit_moe_fmnist.toml --set device=cuda --set 'stages=["train"]' \
      > "$OUT/train_dit_moe.log" 2>&1
    echo "dit_moe_fmnist training on cuda for up to $left s: exit $?"; grep -E "steps_per_s" "$OUT/train_dit_moe.log" | tail -2
    find runs/dit_moe_fmnist -name LATEST -path '*/checkpoints/*' | while read -r latest; do
      keep=$(tr -d '[:space:]' < "$latest")
      for c in "$(dirname "$latest")"/step_*; do [ "$(basename "$c")" = "$(basename "$keep")" ] || rm -rf "$c"; done
    done
    (cd runs && tar czf "$OUT/run_dit_moe_fmnist.tgz" dit_moe_fmnist/config.json dit_moe_fmnist/checkpoints dit_moe_fmnist/stages)
  fi
}

do_smoke() {
  stamp smoke
  local dir=/tmp/rflow_smoke
  rm -rf "$dir"
  "$BIN/rflow" run configs/fmnist_cond.toml --set out_dir=$dir --set device=cuda \
    --set 'stages=["train","sample","reflow","distill","eval","report"]' --set model.unet.channels=8 \
    --set train.steps=50 --set reflow.pairs=64 --set reflow.steps=2 --set reflow.train.steps=20 \
    --set distill.train.steps=20 --set sample.n=20 --set sample.steps=2 --set eval.n=100 --set 'eval.nfe=[1,2]' \
    --set 'eval.solvers=["euler","dopri5"]' > "$OUT/smoke.log" 2>&1
  echo "smoke chain on cuda: exit $?"; grep -E "eval: |error|Error" "$OUT/smoke.log" | tail -8
}

do_eval() {
  shopt -s nullglob
  for d in .gpu/runs/*/; do
    local name
    name=$(basename "$d")
    stamp "eval $name"
    mkdir -p runs && rm -rf "runs/$name" && cp -r "$d" "runs/$name"
    # The protocol's n, and Heun's curve too: cheap on a GPU.
    "$BIN/rflow" run "runs/$name" --set device=cuda --set eval.n=10000 --set eval.batch=5000 \
      --set 'eval.solvers=["euler","heun","dopri5"]' --set 'stages=["eval","report"]' ${GPU_EVAL_SET:-} \
      > "$OUT/eval_$name.log" 2>&1
    echo "eval $name: exit $?"; grep -E "eval: " "$OUT/eval_$name.log" | tail -40
    (cd runs && tar czf "$OUT/eval_$name.tgz" --exclude='*.npy' "$name/report.html" $(cd "$name" && find . -name eval -type d | sed "s|^\.|$name|"))
  done
}

pack_logs() {  # at most 8 files come back from the GPU machine: the logs travel as one archive
  (cd "$OUT" && shopt -s nullglob && f=(*.log *.jsonl) && [ ${#f[@]} -gt 0 ] && tar czf logs.tgz "${f[@]}" && rm -f "${f[@]}")
}
for s in "${steps[@]}"; do "do_$s" || { stamp "$s failed"; [ "$s" = build ] && { pack_logs; exit 1; }; }; done
stamp done
pack_logs
