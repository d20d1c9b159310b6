// Bench: the linear layer of rflow's MLPs (y = x Wᵀ + b, 256 → 256) at the batch sizes training and
// sampling use, through OpenBLAS (at::linear) and through oneDNN's sgemm (rflow::linear), forward
// only and forward + backward. Prints one JSON object with microseconds per call.
// Usage: bench_linear [threads]
#include <chrono>
#include <cstdlib>
#include <iostream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/core/malloc_tuning.h"
#include "rflow/core/memory_usage.h"
#include "rflow/core/system_info.h"
#include "rflow/nn/layers/linear.h"

using Clock = std::chrono::steady_clock;

namespace {

template <class F>
double time_us(F&& f, int reps) {
  for (int i = 0; i < 10; ++i) f();
  auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) f();
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / reps;
}

}  // namespace

int main(int argc, char** argv) {
  rflow::keep_freed_memory();
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  torch::set_num_threads(threads);
  nlohmann::json out{{"bench", "linear_256"}, {"threads", threads}, {"onednn_available", rflow::onednn_gemm_enabled()}};
  for (int64_t rows : {1, 16, 256, 1024, 4096, 10000}) {
    auto x = torch::randn({rows, 256});
    auto w = torch::randn({256, 256}, torch::requires_grad());
    auto b = torch::randn({256}, torch::requires_grad());
    auto xg = x.clone().requires_grad_(true);
    const int reps = rows <= 256 ? 2000 : rows <= 4096 ? 200 : 50;
    nlohmann::json row;
    for (bool onednn : {false, true}) {
      rflow::set_onednn_gemm(onednn);
      const char* key = onednn ? "onednn" : "openblas";
      {
        torch::NoGradGuard ng;
        row[key]["forward_us"] = time_us([&] { (void)rflow::linear(x, w, b); }, reps);
      }
      row[key]["train_us"] = time_us(
          [&] {
            auto y = rflow::linear(xg, w, b);
            y.backward(torch::ones_like(y));
          },
          reps);
    }
    out["rows_" + std::to_string(rows)] = row;
  }
  // Row counts that change from call to call (per-sample adaptive solves shrink the active batch).
  for (bool onednn : {false, true}) {
    rflow::set_onednn_gemm(onednn);
    auto w = torch::randn({256, 256}), b = torch::randn({256});
    auto x = torch::randn({512, 256}, torch::requires_grad());
    auto t0 = Clock::now();
    for (int64_t rows = 1; rows <= 512; ++rows) {
      auto y = rflow::linear(x.narrow(0, 0, rows), w, b);
      y.backward(torch::ones_like(y));
    }
    out["varying_rows_1_to_512_train_ms"][onednn ? "onednn" : "openblas"] =
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }
  out["system"] = rflow::system_info_json();
  out["peak_rss_mb"] = static_cast<double>(rflow::peak_rss_bytes()) / (1 << 20);
  std::cout << out.dump() << std::endl;
}
