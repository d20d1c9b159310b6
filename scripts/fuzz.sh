#!/usr/bin/env bash
# Fuzzes every parser rflow reads user files with (fuzz/*_fuzz.cpp: npy, safetensors, IDX plain and
# gzip, PNG/JPEG, TOML config + --set + config.json, a checkpoints folder) with libFuzzer under
# ASan + UBSan. Installs clang and its runtime (apt) if missing, builds into build-fuzz/, runs each
# target from its seed corpus (fuzz/corpus/<target>/) and prints runs, time, crashes per target.
# Findings land in fuzz-findings/ (reproduce: build-fuzz/<target> fuzz-findings/<file>); add each
# as a regression test.
#   scripts/fuzz.sh [runs per target, default 1000000] [target ...]
#   FUZZ_SECONDS=600 scripts/fuzz.sh ...   also stop each target after that many seconds
#   FUZZ_TIMEOUT=30 scripts/fuzz.sh ...    seconds one input may take (default 10; raise it on a busy
#                                          machine, where a starved process looks hung)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-1000000}
shift || true
need=()
command -v clang++ >/dev/null || need+=(clang)
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need+=(libclang-rt-14-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "fuzz: installing ${need[*]}"
  apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  GEN=()
  command -v ninja >/dev/null && GEN=(-G Ninja)
  # LibTorch's OpenMP runtime (libgomp), not clang's libomp: one runtime per process.
  CXX=clang++ cmake -S . -B build-fuzz "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS="-g1" \
    -DRFLOW_SANITIZE=address,undefined,fuzzer-no-link -DRFLOW_BUILD_FUZZ=ON -DRFLOW_BUILD_TESTS=OFF \
    -DRFLOW_BUILD_BENCH=OFF -DOpenMP_CXX_FLAGS=-fopenmp=libgomp -DOpenMP_CXX_LIB_NAMES=gomp \
    -DOpenMP_gomp_LIBRARY=/usr/lib/x86_64-linux-gnu/libgomp.so.1 >/dev/null
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(cd fuzz && ls *_fuzz.cpp | sed 's/\.cpp$//'))
cmake --build build-fuzz -j "${JOBS:-2}" --target "${targets[@]}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_odr_violation=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_NUM_THREADS=1
mkdir -p fuzz-findings
status=0
printf '%-20s %10s %8s %s\n' target runs seconds result
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  [ -d fuzz/corpus/$t ] && cp fuzz/corpus/$t/* "$work"/ 2>/dev/null || true
  log=fuzz-findings/$t.log
  start=$(date +%s)
  # Images: a 64 KB input may legitimately decode to 130 MB; 4 KB keeps each run short.
  max_len=65536
  [ "$t" = image_fuzz ] && max_len=4096
  if build-fuzz/$t -runs="$RUNS" -max_total_time="${FUZZ_SECONDS:-0}" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=4096 -max_len=$max_len \
       -artifact_prefix=fuzz-findings/$t- "$work" >"$log" 2>&1; then
    result=ok
  else
    result="FINDING (see $log)"
    status=1
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || echo "?")
  printf '%-20s %10s %8s %s\n' "$t" "$runs" "$(( $(date +%s) - start ))" "$result"
  rm -rf "$work"
done
exit $status
