#include "rflow/core/kernels/cpu_features.h"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace rflow {

const char* isa_level_name(IsaLevel level) {
  switch (level) {
    case IsaLevel::Sse3: return "SSE3";
    case IsaLevel::Avx: return "AVX";
    case IsaLevel::Avx2: return "AVX2";
    case IsaLevel::Avx512: return "AVX-512";
    default: return "unknown";
  }
}

IsaLevel CpuFeatures::level() const {
  // The AVX-512 kernels of OpenBLAS (SkylakeX and later) use F, DQ, BW and VL together.
  if (avx512f && avx512dq && avx512bw && avx512vl) return IsaLevel::Avx512;
  if (avx2 && fma) return IsaLevel::Avx2;
  if (avx) return IsaLevel::Avx;
  if (sse3) return IsaLevel::Sse3;
  return IsaLevel::Unknown;
}

std::vector<std::string> CpuFeatures::names() const {
  std::vector<std::string> out;
  auto add = [&](bool on, const char* name) {
    if (on) out.emplace_back(name);
  };
  add(sse3, "sse3");
  add(avx, "avx");
  add(fma, "fma");
  add(avx2, "avx2");
  add(avx512f, "avx512f");
  add(avx512dq, "avx512dq");
  add(avx512bw, "avx512bw");
  add(avx512vl, "avx512vl");
  add(avx512_vnni, "avx512_vnni");
  add(avx512_bf16, "avx512_bf16");
  add(avx512_fp16, "avx512_fp16");
  add(amx_tile, "amx_tile");
  add(amx_bf16, "amx_bf16");
  return out;
}

namespace {

CpuFeatures detect_cpu() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  f.vendor = vendor;

  __get_cpuid(1, &a, &b, &c, &d);
  f.sse3 = c & (1u << 0);
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
  // The registers are usable only if the OS saves them on a context switch (XCR0 bits).
  unsigned long long xcr0 = 0;
  if (osxsave) {
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
  }
  const bool ymm_os = (xcr0 & 0x6) == 0x6;
  const bool zmm_os = ymm_os && (xcr0 & 0xe0) == 0xe0;
  const bool amx_os = (xcr0 & 0x60000) == 0x60000;
  f.avx = avx && ymm_os;
  f.fma = fma && ymm_os;
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = (b & (1u << 5)) && ymm_os;
    f.avx512f = (b & (1u << 16)) && zmm_os;
    f.avx512dq = (b & (1u << 17)) && zmm_os;
    f.avx512bw = (b & (1u << 30)) && zmm_os;
    f.avx512vl = (b & (1u << 31)) && zmm_os;
    f.avx512_vnni = (c & (1u << 11)) && zmm_os;
    f.avx512_fp16 = (d & (1u << 23)) && zmm_os;
    f.amx_bf16 = (d & (1u << 22)) && amx_os;
    f.amx_tile = (d & (1u << 24)) && amx_os;
    const unsigned subleaves = a;
    if (subleaves >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      f.avx512_bf16 = (a & (1u << 5)) && zmm_os;
    }
  }
  __get_cpuid(0x80000000, &a, &b, &c, &d);
  if (a >= 0x80000004) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      __get_cpuid(0x80000002 + i, &a, &b, &c, &d);
      std::memcpy(brand + 16 * i, &a, 4);
      std::memcpy(brand + 16 * i + 4, &b, 4);
      std::memcpy(brand + 16 * i + 8, &c, 4);
      std::memcpy(brand + 16 * i + 12, &d, 4);
    }
    std::string s = brand;
    const auto first = s.find_first_not_of(' ');
    const auto last = s.find_last_not_of(' ');
    f.model = first == std::string::npos ? "" : s.substr(first, last - first + 1);
  }
#endif
  if (f.model.empty()) f.model = "unknown CPU";
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect_cpu();
  return features;
}

}  // namespace rflow
