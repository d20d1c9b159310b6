#include "rflow/core/system_info.h"

#include <dlfcn.h>

#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/Version.h>

#include "rflow/core/thread_policy.h"
#include "rflow/core/kernels/blas_kernels.h"
#include "rflow/core/kernels/cpu_features.h"
#include "rflow/core/version.h"

namespace rflow {

namespace {

// oneDNN ships inside LibTorch (Debian links libdnnl.so.2); found by symbol so other builds work.
struct OneDnn {
  std::string version = "not found", isa = "unknown";
};

OneDnn onednn() {
  OneDnn d;
  struct Version {
    int major, minor, patch;
    const char* hash;
    unsigned cpu_runtime, gpu_runtime;
  };
  using VersionFn = const Version* (*)();
  using IsaFn = int (*)();
  if (auto v = reinterpret_cast<VersionFn>(dlsym(RTLD_DEFAULT, "dnnl_version")); v && v())
    d.version = std::to_string(v()->major) + "." + std::to_string(v()->minor) + "." + std::to_string(v()->patch);
  if (auto isa = reinterpret_cast<IsaFn>(dlsym(RTLD_DEFAULT, "dnnl_get_effective_cpu_isa"))) {
    // dnnl_cpu_isa_t of oneDNN 2.x.
    switch (isa()) {
      case 0x1: d.isa = "sse41"; break;
      case 0x3: d.isa = "avx"; break;
      case 0x7: d.isa = "avx2"; break;
      case 0x407: d.isa = "avx2_vnni"; break;
      case 0x27: d.isa = "avx512_core"; break;
      case 0x67: d.isa = "avx512_core_vnni"; break;
      case 0xe7: d.isa = "avx512_core_bf16"; break;
      case 0x3e7: d.isa = "avx512_core_amx"; break;
      default: d.isa = "code " + std::to_string(isa());
    }
  }
  return d;
}

// LibTorch reports the vectorised kernels it dispatches to ("AVX2", "AVX512", "DEFAULT") only in
// its configuration text.
std::string aten_capability() {
  std::istringstream in(at::show_config());
  std::string line;
  const std::string key = "CPU capability usage:";
  while (std::getline(in, line)) {
    auto p = line.find(key);
    if (p != std::string::npos) {
      auto v = line.substr(p + key.size());
      v.erase(0, v.find_first_not_of(' '));
      return v;
    }
  }
  return "unknown";
}

}  // namespace

nlohmann::json system_info_json() {
  const CpuFeatures& cpu = cpu_features();
  const BlasKernels& blas = blas_kernels();
  const OneDnn dnn = onednn();
  return {{"rflow", version_line()},
          {"cpu", cpu.model},
          {"cpu_vendor", cpu.vendor},
          {"cpu_isa", isa_level_name(cpu.level())},
          {"cpu_features", cpu.names()},
          {"hardware_threads", std::thread::hardware_concurrency()},
          {"blas", blas.config},
          {"blas_core", blas.core},
          {"blas_detected_core", blas.detected_core},
          {"blas_action", blas.action},
          {"blas_threads", blas.threads},
          {"torch", TORCH_VERSION},
          {"aten_cpu_capability", aten_capability()},
          {"onednn", dnn.version},
          {"onednn_isa", dnn.isa},
          {"threads", at::get_num_threads()},
          {"interop_threads", at::get_num_interop_threads()},
          {"thread_policy", thread_policy_text()}};
}

std::string system_info_text() {
  const auto j = system_info_json();
  std::string features;
  for (const auto& f : j["cpu_features"]) features += (features.empty() ? "" : " ") + f.get<std::string>();
  std::ostringstream o;
  o << "cpu          " << j["cpu"].get<std::string>() << " (" << j["cpu_vendor"].get<std::string>() << ", "
    << j["hardware_threads"].get<unsigned>() << " hardware threads)\n"
    << "isa          " << j["cpu_isa"].get<std::string>() << ": " << features << "\n"
    << "blas         " << j["blas"].get<std::string>() << "\n"
    << "blas core    " << j["blas_core"].get<std::string>() << " — " << blas_kernels().note << "\n"
    << "torch        LibTorch " << j["torch"].get<std::string>() << ", ATen CPU kernels "
    << j["aten_cpu_capability"].get<std::string>() << "\n"
    << "onednn       " << j["onednn"].get<std::string>() << ", ISA " << j["onednn_isa"].get<std::string>() << "\n"
    << "threads      " << j["threads"].get<int>() << " intra-op, " << j["interop_threads"].get<int>()
    << " inter-op, OpenBLAS " << j["blas_threads"].get<int>() << " (now)\n"
    << "policy       " << j["thread_policy"].get<std::string>() << "\n";
  return o.str();
}

std::string system_info_summary() {
  const CpuFeatures& cpu = cpu_features();
  const BlasKernels& blas = blas_kernels();
  return cpu.model + " (" + isa_level_name(cpu.level()) + "), BLAS core " + (blas.core.empty() ? "n/a" : blas.core) +
         (blas.action == "selected" ? " (selected by rflow; OpenBLAS detected " + blas.detected_core + ")" : "") +
         ", " + std::to_string(at::get_num_threads()) + " threads";
}

}  // namespace rflow
