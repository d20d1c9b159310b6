// Where a figure was measured: CPU model and features, the BLAS library and the kernels it runs,
// LibTorch's version and CPU capability, oneDNN's ISA, thread counts. `rflow info --system` prints
// it, every bench JSON and every run log carry it, since timings are meaningless without it.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace rflow {

nlohmann::json system_info_json();
std::string system_info_text();    // aligned "key  value" lines for a terminal
std::string system_info_summary(); // one line: "CPU ..., BLAS core ..., N threads"

}  // namespace rflow
