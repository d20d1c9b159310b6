// Bench: the Fashion-MNIST U-Net of configs/fmnist_cond.toml (32 channels, mult [1, 2, 2], one
// residual block per level, attention at 7×7, 10 classes, 1.11M parameters) through the real
// Trainer on the real data: training steps/s at batch 64 (fp32, and bf16 autocast on the CPU); sampling images/s at NFE 1 (batch 500)
// and NFE 100 (Euler, batch 100), unguided and with CFG (one batched call on [x; x]). One JSON object.
// Also the peak memory of reflow pair generation (2000 pairs, one shard, a 4-step RK4 teacher
// solve) solved in one batch and in batches of 250 (reflow.batch).
// Usage: bench_unet [threads] [channels = 32] [device = cpu | cuda] [all | train]
//   (train: only the fp32 training figure, for back-to-back repeats)
//   (compare with bench/python/bench_unet.py [threads] [device] at the same thread count and device)

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
#include "rflow/data/batch_source.h"
#include "rflow/methods/method_config.h"
#include "rflow/methods/reflow.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/unet.h"
#include "rflow/solve/solver.h"
#include "rflow/train/trainer.h"
#include "rflow/io/remove_tree.h"

using namespace rflow;
namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

ModelConfig unet_config(int64_t channels) {
  ModelConfig m;
  m.arch = "unet";
  m.num_classes = 10;
  auto& u = m.get<UNetOptions>("unet");
  u.channels = channels;
  u.channel_mult = {1, 2, 2};
  u.res_blocks = 1;
  u.attn_resolutions = {7};
  return m;
}

// CUDA work is asynchronous: reading one value back waits for everything queued before it.
void sync(const torch::Tensor& t) { (void)t.sum().item<double>(); }

double images_per_s(VelocityField& model, int64_t batch, int64_t steps, double guidance, torch::Device dev) {
  SolveOptions o;
  o.steps = steps;
  auto x = torch::randn({batch, 1, 28, 28}, dev);
  auto labels = torch::arange(batch, torch::TensorOptions(torch::kInt64).device(dev)).remainder(10);
  auto field = guided_field(*model, Cond{labels}, guidance);
  sync(solve(field, x, o).x);  // warm-up
  auto t0 = std::chrono::steady_clock::now();
  sync(solve(field, x, o).x);
  return double(batch) / seconds_since(t0);
}

// Peak resident memory (MB) of generating `pairs` reflow pairs from `model` with reflow.batch = batch.
double pair_generation_peak_mb(VelocityField& model, int64_t pairs, int64_t batch, const fs::path& dir, torch::Device dev) {
  DistributionConfig src;  // N(0, I) in the image's shape
  src.name = "gaussian";
  auto source = make_distribution(src, {1, 28, 28}, "bench");
  ReflowConfig rc;
  rc.pairs = rc.shard_size = pairs;
  rc.batch = batch;
  rc.solve.steps = 1;
  auto labels = [](int64_t n, const std::vector<int64_t>&) {
    Cond c;
    c.labels = torch::arange(n, torch::kInt64).remainder(10);
    return c;
  };
  rflow::io::remove_tree(dir);
  reset_peak_rss();
  const int64_t before = current_rss_bytes();
  generate_pairs([&](const Cond& c) { return guided_field(*model, c, 1.5); }, *source, labels, rc, dir.string(), 0,
                 dev);
  rflow::io::remove_tree(dir);
  return static_cast<double>(peak_rss_bytes() - before) / (1 << 20);
}

}  // namespace

int main(int argc, char** argv) {
  rflow::keep_freed_memory();
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int64_t channels = argc > 2 ? std::atoll(argv[2]) : 32;
  const torch::Device dev(argc > 3 ? argv[3] : "cpu");
  const bool train_only = argc > 4 && std::string(argv[4]) == "train";
  torch::set_num_threads(threads);
  spdlog::set_level(spdlog::level::warn);
  seed_all(0);
  DataConfig dc;
  dc.labels = true;
  dc.target.name = "fashion_mnist";
  auto data = make_coupling(dc);
  auto model = make_model(unet_config(channels), {1, 28, 28});
  model->to(dev);
  MethodConfig mc;
  mc.label_dropout = 0.1;
  auto method = make_method(mc);
  nlohmann::json out{{"bench", "unet_fmnist"}, {"threads", threads}, {"channels", channels}, {"parameters", count_parameters(*model)}, {"device", dev.str()}};

  TrainConfig tc;
  tc.batch_size = 64;
  tc.lr = 5e-4;
  tc.ckpt_every = 0;
  tc.log_every = 1000000;
  auto dir = fs::path(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") / ("rflow_bench_unet_" + std::to_string(::getpid()));
  tc.steps = 5;  // warm-up (allocator, OpenMP pool, oneDNN primitives)
  Trainer(tc, model, *method, *data, (dir / "warm").string(), "{}", dev).run();
  tc.steps = dev.is_cuda() ? 200 : 40;
  sync(model->parameters().front());
  auto t0 = std::chrono::steady_clock::now();
  Trainer(tc, model, *method, *data, (dir / "timed").string(), "{}", dev).run();
  sync(model->parameters().front());
  out["train_steps_per_s_b64"] = double(tc.steps) / seconds_since(t0);
  out["train_images_per_s"] = out["train_steps_per_s_b64"].get<double>() * 64;
  if (train_only) {
    rflow::io::remove_tree(dir);
    out["system"] = rflow::system_info_json();
    std::cout << out.dump() << std::endl;
    return 0;
  }
  if (dev.is_cpu()) {  // train.precision = bf16: the forward pass under CPU autocast
    tc.precision = "bf16";
    tc.steps = 5;
    Trainer(tc, model, *method, *data, (dir / "warm_bf16").string(), "{}", dev).run();
    tc.steps = 40;
    t0 = std::chrono::steady_clock::now();
    Trainer(tc, model, *method, *data, (dir / "timed_bf16").string(), "{}", dev).run();
    out["train_steps_per_s_b64_bf16"] = double(tc.steps) / seconds_since(t0);
  }
  rflow::io::remove_tree(dir);

  model->eval();
  torch::NoGradGuard ng;
  out["sample_images_per_s_nfe1_b500"] = images_per_s(model, 500, 1, 1.0, dev);
  out["sample_images_per_s_nfe1_b500_cfg"] = images_per_s(model, 500, 1, 1.5, dev);
  out["sample_images_per_s_nfe100_b100"] = images_per_s(model, 100, 100, 1.0, dev);
  if (dev.is_cuda()) {  // a GPU is idle at these batches: the eval's chunk size says more
    out["sample_images_per_s_nfe1_b5000"] = images_per_s(model, 5000, 1, 1.0, dev);
    out["sample_images_per_s_nfe100_b5000_cfg"] = images_per_s(model, 5000, 100, 1.5, dev);
  }
  // Small batch first: the heap keeps what a run frees, which would hide the second run's peak.
  out["reflow_pairs_2000_extra_peak_mb_batch_250"] = pair_generation_peak_mb(model, 2000, 250, dir / "pairs", dev);
  out["reflow_pairs_2000_extra_peak_mb_batch_2000"] = pair_generation_peak_mb(model, 2000, 2000, dir / "pairs", dev);
  out["system"] = rflow::system_info_json();
  out["peak_rss_mb"] = static_cast<double>(rflow::peak_rss_bytes()) / (1 << 20);
  std::cout << out.dump() << std::endl;
}
