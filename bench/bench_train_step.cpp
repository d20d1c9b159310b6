// Bench: where one training step's time goes (the bench_mlp recipe: 3 × 256 MLP, batch 256, Adam,
// clipping at 1.0, EMA). Runs the step's phases one after another with the parts the Trainer uses
// (flat parameters, fused Adam, flat clipping and EMA) or, with "torch", with torch::optim's
// per-tensor Adam and clip_grad_norm_, and prints the mean microseconds of each phase as JSON.
// Usage: bench_train_step [threads] [batch = 256] [steps = 2000] [fused | torch]
#include <chrono>
#include <cstdlib>
#include <iostream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/malloc_tuning.h"
#include "rflow/core/memory_usage.h"
#include "rflow/core/rng.h"
#include "rflow/core/system_info.h"
#include "rflow/methods/method_config.h"
#include "rflow/nn/ema.h"
#include "rflow/nn/flat_parameters.h"
#include "rflow/nn/layers/linear.h"
#include "rflow/train/fused_adam.h"
#include "rflow/nn/model_config.h"
#include "rflow/train/train_config.h"

using namespace rflow;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  rflow::keep_freed_memory();
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int64_t batch = argc > 2 ? std::atoll(argv[2]) : 256;
  const int64_t steps = argc > 3 ? std::atoll(argv[3]) : 2000;
  const bool use_torch = argc > 4 && std::string(argv[4]) == "torch";
  torch::set_num_threads(threads);
  spdlog::set_level(spdlog::level::warn);
  seed_all(0);
  auto data = make_coupling(DataConfig{});
  auto model = make_model(ModelConfig{}, {2});
  auto method = make_method(MethodConfig{});
  auto path = make_path("linear");
  TrainConfig tc;
  FlatParameters flat;
  if (!use_torch) flat = FlatParameters(*model);
  auto params = model->parameters();
  torch::optim::Adam opt(params, torch::optim::AdamOptions(tc.lr));
  std::unique_ptr<FusedAdam> fused;
  if (!use_torch) fused = std::make_unique<FusedAdam>(opt, flat, tc);
  std::vector<at::Tensor> pending;
  Ema ema(*model, tc.ema_decay, tc.ema_warmup);
  TrainContext ctx{*model, *path};
  ctx.ema = ema.model();

  const char* names[] = {"data", "forward_loss", "zero_grad", "backward", "clip", "optimizer", "ema", "loss_readback"};
  constexpr int kPhases = 8;
  double total[kPhases] = {};
  auto run = [&](int64_t n, bool timed) {
    for (int64_t i = 0; i < n; ++i) {
      auto t0 = Clock::now();
      auto lap = [&](int phase) {
        auto now = Clock::now();
        if (timed) total[phase] += std::chrono::duration<double, std::micro>(now - t0).count();
        t0 = now;
      };
      Batch b = data->next(batch, torch::kCPU);
      lap(0);
      at::Tensor loss = method->loss(b, ctx);
      lap(1);
      if (fused) {
        flat.zero_grad();
        lap(2);
        {
          DirectWeightGradients direct;  // weight gradients written into the flat buffer, as the Trainer does
          loss.backward();
        }
        lap(3);
        GradNorm gn = grad_norm_flat(flat, 1.0);
        pending.push_back(gn.norm);
        lap(4);
        fused->step(tc.lr, gn.scale);
        lap(5);
        ema.update(*model, flat);
        lap(6);
        pending.push_back(loss.detach());
        if (pending.size() >= 256) (void)torch::stack(pending).sum().item<double>(), pending.clear();
        lap(7);
      } else {
        opt.zero_grad();
        lap(2);
        loss.backward();
        lap(3);
        torch::nn::utils::clip_grad_norm_(params, 1.0);
        lap(4);
        opt.step();
        lap(5);
        ema.update(*model);
        lap(6);
        (void)loss.item<double>();
        lap(7);
      }
    }
  };
  run(50, false);
  auto start = Clock::now();
  run(steps, true);
  const double step_us = std::chrono::duration<double, std::micro>(Clock::now() - start).count() / steps;
  nlohmann::json out{{"bench", "train_step"}, {"threads", threads}, {"batch", batch}, {"update", use_torch ? "torch" : "fused"}, {"step_us", step_us},
                     {"steps_per_s", 1e6 / step_us}};
  for (int p = 0; p < kPhases; ++p) out["phase_us"][names[p]] = total[p] / steps;
  out["system"] = rflow::system_info_json();
  out["peak_rss_mb"] = static_cast<double>(rflow::peak_rss_bytes()) / (1 << 20);
  std::cout << out.dump() << std::endl;
}
