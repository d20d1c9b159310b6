// Bench: the latency of one sample from a small MLP field — a control loop's action. A 3 × 256
// SiLU MLP on 2-D (149k parameters), 100 Euler steps, one thread: FastMlp held by the caller (the
// control-loop path), solve() on the model (which takes FastMlp for batches ≤ 64), the
// step-by-step LibTorch solver, and a hand-written LibTorch loop; then batches of 8 and 64.
// Median and 99th percentile over many repeats. Then a trained AdaFlow maze policy: per-action
// latency of the adaptive solver at its measured NFE. Prints one JSON object.
// Usage: bench_mlp_latency [repeats = 2000]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/kernels/dense_kernels.h"
#include "rflow/core/system_info.h"
#include "rflow/nn/fast_mlp.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/model_config.h"
#include "bench/latency.h"
#include "rflow/core/rng.h"
#include "rflow/data/batch_source.h"
#include "rflow/methods/method_config.h"
#include "rflow/solve/butcher.h"
#include "rflow/solve/solver.h"
#include "rflow/train/trainer.h"
#include "rflow/io/remove_tree.h"

using namespace rflow;
using rflow::bench::timed;

namespace {

// The maze policy (configs/adaflow_maze.toml at 3 × 256) trained here for 2 000 steps, then one
// action chunk per call from observations of the demonstrations: AdaFlow (η 0.5, ≤ 10 steps) on
// the fast path and step by step, and 20 Euler steps, with the NFE AdaFlow spent.
nlohmann::json policy_latency(int repeats) {
  seed_all(1);
  DataConfig data;
  data.target = DistributionConfig{"maze"};
  auto coupling = make_coupling(data);
  ModelConfig mc;
  auto& o = mc.get<MlpOptions>("mlp");
  o.obs_dim = 2, o.variance_hidden = 64;
  VelocityField model = make_model(mc, coupling->sample_shape());
  MethodConfig m;
  m.name = "adaflow";
  auto method = make_method(m);
  TrainConfig tc;
  tc.steps = 2000, tc.batch_size = 256, tc.lr = 2e-3, tc.ckpt_every = 0, tc.log_every = 1000, tc.ema_decay = 0.99;
  const std::string dir = "/tmp/rflow_bench_policy_" + std::to_string(::getpid());
  {
    torch::AutoGradMode grad(true);  // main() samples without autograd; training needs it
    const auto level = spdlog::get_level();
    spdlog::set_level(spdlog::level::warn);  // standard output is the JSON
    Trainer(tc, model, *method, *coupling, dir, "{}", torch::kCPU).run();
    spdlog::set_level(level);
  }
  rflow::io::remove_tree(dir);
  model->eval();
  torch::NoGradGuard ng;
  const Cond cond = coupling->target().sample(256).cond;
  const at::Tensor obs = cond.extra.at("obs");
  int64_t i = 0, nfe = 0, calls = 0;
  auto act = [&](const SolveOptions& opt, const FieldOptions& fo, bool fast) {
    Cond c;
    c.extra["obs"] = obs.slice(0, i % 256, i % 256 + 1);
    ++i;
    const at::Tensor x0 = torch::randn({1, 4, 2});
    const SolveResult r = fast ? solve(*model, x0, opt, c, fo) : solve(wrap_field(*model, c, fo), x0, opt);
    nfe += r.nfe[0].item<int64_t>(), ++calls;
  };
  SolveOptions ada;
  ada.method = "adaflow", ada.steps = 10;
  const FieldOptions eta05{1.0, 0.5};
  SolveOptions euler;
  euler.method = "euler", euler.steps = 20;
  nlohmann::json out{{"hidden", 256}, {"depth", 3}, {"variance_hidden", 64}, {"train_steps", 2000}};
  out["adaflow_fast"] = timed([&] { act(ada, eta05, true); }, repeats);
  out["adaflow_nfe_mean"] = double(nfe) / calls;
  out["adaflow_libtorch"] = timed([&] { act(ada, eta05, false); }, std::max(50, repeats / 4));
  out["euler20_fast"] = timed([&] { act(euler, {}, true); }, repeats);
  return out;
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
  SolvePlan plan{&euler_tableau(), time_grid(opt), 1.0};

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
  out["policy"] = policy_latency(repeats);
  out["system"] = system_info_json();
  std::cout << out.dump() << std::endl;
}
