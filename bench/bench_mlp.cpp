// Bench: the 2-D MLP recipe (3 hidden layers × 256, N(0, I) → 8 gaussians, Adam + clipping + EMA,
// through the real Trainer): training steps/s at batch 256 and 4096, sampling throughput (10k
// samples × 100 Euler steps) and batch-1 latency of a 100-step sample; also the flow_matching 2-D
// example's lighter loop at the same size (train_steps_per_s_b256_fm_recipe). Prints one JSON object.
// Usage: bench_mlp [threads]   (compare with bench/python/bench_mlp.py at the same thread count)

#include <chrono>
#include <filesystem>
#include <cstdlib>
#include <iostream>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/malloc_tuning.h"
#include "rflow/core/memory_usage.h"
#include "rflow/core/system_info.h"
#include "rflow/core/rng.h"
#include "rflow/methods/method_config.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/model_config.h"
#include "rflow/solve/solver.h"
#include "rflow/train/trainer.h"
#include "rflow/io/remove_tree.h"

using namespace rflow;
namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// fm_recipe: the work of Meta flow_matching's 2-D example loop at this width, depth and batch
// (checkerboard data, constant LR, no clipping, no EMA average, the smallest time embedding), to
// compare with bench/python/bench_fm_recipe.py.
double train_steps_per_s(int64_t batch, int64_t steps, bool fm_recipe = false) {
  seed_all(0);
  DataConfig dc;
  ModelConfig mc;
  TrainConfig tc;
  if (fm_recipe) {
    dc.target.name = "checkerboard";
    mc.get<MlpOptions>("mlp").time_dim = 2;
    tc.grad_clip = 0;
    tc.ema_decay = 0;
    tc.ema_warmup = false;
    tc.warmup = 0;
    tc.schedule = "constant";
  }
  auto data = make_coupling(dc);
  auto model = make_model(mc, {2});
  auto method = make_method(MethodConfig{});
  tc.batch_size = batch;
  tc.ckpt_every = 0;
  tc.log_every = 1000000;
  auto dir = fs::path(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") / ("rflow_bench_" + std::to_string(::getpid()));
  // Warm-up run (allocator, OpenMP pool), then the timed one in a fresh directory.
  tc.steps = 20;
  Trainer(tc, model, *method, *data, (dir / "warm").string(), "{}", torch::kCPU).run();
  tc.steps = steps;
  auto t0 = std::chrono::steady_clock::now();
  Trainer(tc, model, *method, *data, (dir / "timed").string(), "{}", torch::kCPU).run();
  double s = seconds_since(t0);
  rflow::io::remove_tree(dir);
  return steps / s;
}

}  // namespace

int main(int argc, char** argv) {
  rflow::keep_freed_memory();
  int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  torch::set_num_threads(threads);
  spdlog::set_level(spdlog::level::warn);
  nlohmann::json out{{"bench", "mlp_2d"}, {"threads", threads}, {"hidden", 256}, {"depth", 3}};
  out["train_steps_per_s_b256"] = train_steps_per_s(256, 1500);
  out["train_steps_per_s_b4096"] = train_steps_per_s(4096, 150);
  out["train_steps_per_s_b256_fm_recipe"] = train_steps_per_s(256, 1500, true);

  seed_all(0);
  auto model = make_model(ModelConfig{}, {2});
  model->eval();
  SolveOptions o;
  o.steps = 100;
  auto x = torch::randn({10000, 2});
  solve(*model, x, o);  // warm-up
  auto t0 = std::chrono::steady_clock::now();
  solve(*model, x, o);
  double s = seconds_since(t0);
  out["sample_10k_x100_euler_s"] = s;
  out["sample_points_per_s"] = 10000 / s;

  auto x1 = torch::randn({1, 2});
  solve(*model, x1, o);
  const int reps = 50;
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) solve(*model, x1, o);
  double lat = seconds_since(t0) / reps;
  out["batch1_100step_latency_ms"] = lat * 1e3;
  out["batch1_per_step_us"] = lat * 1e6 / 100;
  out["system"] = rflow::system_info_json();
  out["peak_rss_mb"] = static_cast<double>(rflow::peak_rss_bytes()) / (1 << 20);
  std::cout << out.dump() << std::endl;
}
