// What the CPU can execute, read from cpuid (and xgetbv: the OS must save the wide registers too).
// The BLAS kernel selection compares it with the kernels OpenBLAS picked, and `rflow info --system`
// and every bench print it next to their figures, since absolute times mean nothing without it.
#pragma once

#include <string>
#include <vector>

namespace rflow {

// Vector instruction levels, ordered: a kernel built for one level runs on every higher one.
enum class IsaLevel { Unknown = 0, Sse3 = 1, Avx = 2, Avx2 = 3, Avx512 = 4 };

const char* isa_level_name(IsaLevel level);

struct CpuFeatures {
  std::string vendor;  // "GenuineIntel", "AuthenticAMD", ...
  std::string model;   // brand string, e.g. "Intel(R) Xeon(R) Processor"
  bool sse3 = false, avx = false, fma = false, avx2 = false;
  bool avx512f = false, avx512dq = false, avx512bw = false, avx512vl = false;
  bool avx512_vnni = false, avx512_bf16 = false, avx512_fp16 = false;
  bool amx_tile = false, amx_bf16 = false;

  IsaLevel level() const;
  std::vector<std::string> names() const;  // the flags that are set, in /proc/cpuinfo spelling
};

// Read once per process (cheap, but it never changes).
const CpuFeatures& cpu_features();

}  // namespace rflow
