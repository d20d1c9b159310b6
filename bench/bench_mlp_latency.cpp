// Bench: the latency of one sample from a small MLP field — a control loop's action. A 3 × 256
// SiLU MLP on 2-D (149k parameters), 100 Euler steps, one thread: FastMlp held by the caller (the
// control-loop path), solve() on the model (which takes FastMlp for batches ≤ 64), the
// step-by-step LibTorch solver, and a hand-written LibTorch loop; then batches of 8 and 64.
// Median and 99th percentile over many repeats. Prints one JSON object.
// Usage: bench_mlp_latency [repeats = 2000]
#include <algorithm>
#include <chrono>
#include <iostream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/core/dense_kernels.h"
#include "rflow/core/system_info.h"
#include "rflow/nn/fast_mlp.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/model_config.h"
#include "rflow/solve/solver.h"

using namespace rflow;

namespace {

// Median and p99 of `fn`'s wall time in milliseconds over `repeats` calls (after a warm-up).
template <class F>
nlohmann::json timed(F&& fn, int repeats) {
  for (int i = 0; i < std::max(10, repeats / 20); ++i) fn();
  std::vector<double> ms(repeats);
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  std::sort(ms.begin(), ms.end());
  return {{"median_ms", ms[repeats / 2]}, {"p99_ms", ms[repeats * 99 / 100]}, {"min_ms", ms.front()}};
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::stoi(argv[1]) : 2000;
  at::set_num_threads(1);
  torch::manual_seed(0);
  ModelConfig mc;
  mc.arch = "mlp";
  auto field = std::dynamic_pointer_cast<MlpVelocityImpl>(make_model(mc, {2}));  // 3 × 256, SiLU
  field->eval();
  torch::NoGradGuard ng;
  SolveOptions opt;
  opt.method = "euler", opt.steps = 100;
  FixedStepPlan plan{{{}}, {1.0}, {0.0}, time_grid(opt), 1.0};

  nlohmann::json out{{"bench", "mlp_latency"}, {"threads", 1}, {"hidden", 256}, {"depth", 3}, {"steps", 100},
                     {"dense_isa", kernels::dense_isa()}};
  int64_t params = 0;
  for (const auto& p : field->parameters()) params += p.numel();
  out["parameters"] = params;

  FastMlp fast(*field);
  auto ws = fast.workspace(128);
  for (int64_t B : {1, 8, 64}) {
    const int reps = B == 1 ? repeats : std::max(50, repeats / (B == 8 ? 4 : 16));
    const at::Tensor x0 = torch::randn({B, 2});
    std::vector<float> x(B * 2);
    const float* x0p = x0.data_ptr<float>();
    nlohmann::json row;
    row["fast_held"] = timed([&] { fast.solve(*ws, plan, x0p, nullptr, B, x.data()); }, reps);
    row["solve_on_model"] = timed([&] { (void)solve(*field, x0, opt); }, reps);
    row["libtorch_stepwise"] = timed([&] { (void)solve(bind_field(*field), x0, opt); }, reps);
    row["libtorch_loop"] = timed(
        [&] {
          at::Tensor xt = x0.clone(), t = torch::empty({B});
          for (int i = 0; i < 100; ++i) {
            t.fill_(i / 100.0);
            xt.add_(field->forward(xt, t), 0.01);
          }
        },
        reps);
    // The same answer: the held path against the step-by-step LibTorch solve.
    fast.solve(*ws, plan, x0p, nullptr, B, x.data());
    const at::Tensor ref = solve(bind_field(*field), x0, opt).x;
    row["max_abs_diff_vs_libtorch"] = (torch::from_blob(x.data(), {B, 2}) - ref).abs().max().item<double>();
    out["batch_" + std::to_string(B)] = row;
  }
  out["system"] = system_info_json();
  std::cout << out.dump() << std::endl;
}
