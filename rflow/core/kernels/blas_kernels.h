// BLAS kernel selection. Debian's OpenBLAS picks its kernels from a table of CPU models it knew when
// it was built; on newer CPUs it falls back to SSE3 (Prescott) kernels and every GEMM runs ~5× slower.
// At start-up (before main, in every program that links rflow) this compares the core OpenBLAS chose
// with the CPU's instruction set and, when it is behind, switches OpenBLAS to the matching kernels.
// A user's own OPENBLAS_CORETYPE always wins; nothing happens with another BLAS library.
#pragma once

#include <string>
#include <vector>

#include "rflow/core/kernels/cpu_features.h"

namespace rflow {

struct BlasKernels {
  bool openblas = false;      // OpenBLAS with run-time kernel selection (DYNAMIC_ARCH) is loaded
  std::string config;         // openblas_get_config(), or what is known about the BLAS otherwise
  std::string detected_core;  // the core OpenBLAS chose on its own ("Prescott", "SkylakeX", ...)
  std::string core;           // the core running now
  // "kept" (the detected core fits the CPU), "selected" (rflow switched it), "user"
  // (OPENBLAS_CORETYPE is set), "unavailable" (no OpenBLAS core fits better), "not-openblas".
  std::string action;
  std::string note;  // one sentence for logs and `rflow info --system`
  int threads = 0;   // openblas_get_num_threads(), 0 when unknown
};

// The outcome of the start-up selection (it runs on first use if start-up code did not run it).
const BlasKernels& blas_kernels();

// The instruction level an OpenBLAS core name targets; Unknown for names this table lacks.
IsaLevel openblas_core_level(const std::string& core);

// The OpenBLAS cores worth switching to on this CPU, best first: each targets a level above
// `current` and at most the CPU's. `available` says whether the loaded OpenBLAS has a core.
std::vector<std::string> openblas_upgrade_candidates(const CpuFeatures& cpu, IsaLevel current,
                                                     bool (*available)(const std::string& core));

}  // namespace rflow
