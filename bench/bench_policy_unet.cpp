// Bench: the temporal U-Net policy of docs/policies.md (maze chunks [4, 2], observation 2, 32
// channels, mult [1, 2], variance head 64), one thread: AdaFlow training steps/s at batch 256
// through the real Trainer, one network evaluation (velocity + σ) at batch 1, and one action of 20
// Euler steps; with a trained run as argument also one AdaFlow action (η 0.5, ≤ 10 steps) and the
// NFE it spent. Prints one JSON object. Compare with bench/python/bench_policy_unet.py.
// Usage: bench_policy_unet [run directory of a trained temporal U-Net maze policy]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/malloc_tuning.h"
#include "bench/latency.h"
#include "rflow/core/rng.h"
#include "rflow/core/system_info.h"
#include "rflow/data/batch_source.h"
#include "rflow/methods/method_config.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/temporal_unet.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/solve/solver.h"
#include "rflow/train/trainer.h"
#include "rflow/io/remove_tree.h"

using namespace rflow;
using rflow::bench::timed;

int main(int argc, char** argv) {
  rflow::keep_freed_memory();
  at::set_num_threads(1);
  spdlog::set_level(spdlog::level::warn);
  seed_all(0);
  DataConfig data;
  data.target = DistributionConfig{"maze"};
  auto coupling = make_coupling(data);
  ModelConfig mc;
  mc.arch = "temporal_unet";
  auto& o = mc.get<TemporalUNetOptions>("temporal_unet");
  o.channels = 32, o.obs_dim = 2, o.variance_hidden = 64;
  VelocityField model = make_model(mc, coupling->sample_shape());
  nlohmann::json out{{"bench", "policy_temporal_unet"}, {"threads", 1}, {"channels", 32},
                     {"parameters", count_parameters(*model)}};
  MethodConfig m;
  m.name = "adaflow";
  auto method = make_method(m);
  TrainConfig tc;
  tc.batch_size = 256, tc.lr = 2e-3, tc.ckpt_every = 0, tc.log_every = 1000000, tc.ema_decay = 0.99;
  const std::string dir = "/tmp/rflow_bench_policy_unet_" + std::to_string(::getpid());
  tc.steps = 5;
  Trainer(tc, model, *method, *coupling, dir + "/warm", "{}", torch::kCPU).run();
  tc.steps = 60;
  const auto t0 = std::chrono::steady_clock::now();
  Trainer(tc, model, *method, *coupling, dir + "/timed", "{}", torch::kCPU).run();
  out["train_steps_per_s_b256"] =
      tc.steps / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rflow::io::remove_tree(dir);

  model->eval();
  torch::NoGradGuard ng;
  Cond c;
  c.extra["obs"] = torch::tensor({{-1.0f, 0.0f}});
  const at::Tensor x = torch::randn({1, 4, 2}), t = torch::full({1}, 0.5f);
  out["evaluation_b1"] = timed([&] { (void)model->forward(x, t, c), (void)model->variance(x, t, c); }, 500);
  SolveOptions euler;
  euler.method = "euler", euler.steps = 20;
  out["euler20_action"] = timed([&] { (void)solve(*model, torch::randn({1, 4, 2}), euler, c); }, 100);
  if (argc > 1) {
    LoadedModel run = load_model(argv[1], true, c10::Device(c10::kCPU));
    const Cond cond = run.data->target().sample(256).cond;
    const at::Tensor obs = cond.extra.at("obs");
    SolveOptions ada;
    ada.method = "adaflow", ada.steps = 10;
    const FieldOptions eta05{1.0, 0.5};
    int64_t i = 0, nfe = 0;
    out["adaflow_action"] = timed(
        [&] {
          Cond ci;
          ci.extra["obs"] = obs.slice(0, i % 256, i % 256 + 1);
          ++i;
          nfe += solve(*run.model, torch::randn({1, 4, 2}), ada, ci, eta05).nfe[0].item<int64_t>();
        },
        500);
    out["adaflow_nfe_mean"] = double(nfe) / double(i);
    out["run"] = argv[1];
  }
  out["system"] = system_info_json();
  std::cout << out.dump() << std::endl;
}
