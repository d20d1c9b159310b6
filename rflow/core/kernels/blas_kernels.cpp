#include "rflow/core/kernels/blas_kernels.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace rflow {

namespace {

std::string ascii_lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string ascii_upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

// OpenBLAS is found by symbol, not linked: LibTorch may run on MKL or the reference BLAS instead.
template <class Fn>
Fn openblas_symbol(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

bool openblas_has_core(const std::string& core) {
  // DYNAMIC_ARCH builds export one parameter table per core they carry: gotoblas_SKYLAKEX, ...
  return dlsym(RTLD_DEFAULT, ("gotoblas_" + ascii_upper(core)).c_str()) != nullptr;
}

BlasKernels select_kernels() {
  BlasKernels k;
  using CharFn = char* (*)();
  using VoidFn = void (*)();
  using IntFn = int (*)();
  auto corename = openblas_symbol<CharFn>("openblas_get_corename");
  auto config = openblas_symbol<CharFn>("openblas_get_config");
  auto init = openblas_symbol<VoidFn>("gotoblas_dynamic_init");
  auto quit = openblas_symbol<VoidFn>("gotoblas_dynamic_quit");
  auto threads = openblas_symbol<IntFn>("openblas_get_num_threads");
  if (!corename || !config) {
    k.action = "not-openblas";
    k.config = "not OpenBLAS (MKL, the reference BLAS or a static build)";
    k.note = "BLAS is not OpenBLAS: kernels left to the library";
    return k;
  }
  k.config = config();
  k.detected_core = k.core = corename();
  k.threads = threads ? threads() : 0;
  k.openblas = init && quit;
  const CpuFeatures& cpu = cpu_features();
  if (const char* user = std::getenv("OPENBLAS_CORETYPE"); user && *user) {
    k.action = "user";
    k.note = "OpenBLAS core " + k.core + " (OPENBLAS_CORETYPE=" + user + " is set: left as chosen)";
    return k;
  }
  const IsaLevel current = openblas_core_level(k.core);
  if (!k.openblas || current == IsaLevel::Unknown || current >= cpu.level()) {
    k.action = "kept";
    k.note = "OpenBLAS core " + k.core + " fits this CPU (" + isa_level_name(cpu.level()) + ")";
    return k;
  }
  for (const auto& candidate : openblas_upgrade_candidates(cpu, current, &openblas_has_core)) {
    // The core is chosen inside gotoblas_dynamic_init from OPENBLAS_CORETYPE; the variable is
    // restored afterwards so child processes make their own choice (and see no user setting).
    quit();
    setenv("OPENBLAS_CORETYPE", candidate.c_str(), 1);
    init();
    unsetenv("OPENBLAS_CORETYPE");
    k.core = corename();
    if (ascii_lower(k.core) == ascii_lower(candidate)) {
      k.action = "selected";
      k.config = config();
      k.note = "OpenBLAS chose " + k.detected_core + " kernels for this " + isa_level_name(cpu.level()) +
               " CPU; rflow selected " + k.core + " (set OPENBLAS_CORETYPE to override)";
      return k;
    }
  }
  quit();
  init();
  k.core = corename();
  k.action = "unavailable";
  k.note = "OpenBLAS runs " + k.core + " kernels on this " + isa_level_name(cpu.level()) +
           " CPU and carries none that fit it better";
  return k;
}

}  // namespace

IsaLevel openblas_core_level(const std::string& core) {
  const std::string c = ascii_lower(core);
  for (const char* n : {"skylakex", "cooperlake", "sapphirerapids"})
    if (c == n) return IsaLevel::Avx512;
  for (const char* n : {"haswell", "zen", "excavator"})
    if (c == n) return IsaLevel::Avx2;
  for (const char* n : {"sandybridge", "bulldozer", "piledriver", "steamroller"})
    if (c == n) return IsaLevel::Avx;
  for (const char* n : {"prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "nano", "barcelona",
                        "opteron_sse3", "bobcat", "katmai", "coppermine", "northwood", "banias", "athlon", "opteron"})
    if (c == n) return IsaLevel::Sse3;
  return IsaLevel::Unknown;
}

std::vector<std::string> openblas_upgrade_candidates(const CpuFeatures& cpu, IsaLevel current,
                                                     bool (*available)(const std::string& core)) {
  // Cooperlake = SkylakeX's single/double kernels plus the bf16 ones; only where the CPU has bf16.
  std::vector<std::string> wanted;
  if (cpu.avx512_bf16) wanted.push_back("Cooperlake");
  wanted.push_back("SkylakeX");
  wanted.push_back(cpu.vendor == "AuthenticAMD" ? "Zen" : "Haswell");
  wanted.push_back("Haswell");
  wanted.push_back("Sandybridge");
  std::vector<std::string> out;
  for (const auto& core : wanted) {
    const IsaLevel level = openblas_core_level(core);
    if (level > current && level <= cpu.level() && available(core) &&
        std::find(out.begin(), out.end(), core) == out.end())
      out.push_back(core);
  }
  return out;
}

const BlasKernels& blas_kernels() {
  static const BlasKernels kernels = select_kernels();
  return kernels;
}

}  // namespace rflow

// Runs the selection before main() in every program that links rflow_core. The CMake target adds
// --undefined=rflow_blas_kernels_at_start to the link so the linker keeps this object file even
// where nothing calls into it.
extern "C" {
extern const int rflow_blas_kernels_at_start;
const int rflow_blas_kernels_at_start = (rflow::blas_kernels(), 1);
}
