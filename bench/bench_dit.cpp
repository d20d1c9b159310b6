// Bench: the DiT backbones of configs/dit_fmnist.toml (dense, 6 blocks × 96, patch 4) and
// configs/dit_moe_fmnist.toml (DeepSeekMoE feed-forward) through the real Trainer on the real
// Fashion-MNIST data: training steps/s at batch 64, sampling images/s at NFE 1 (batch 500). And
// MLA's decode cache: bytes per token and layer against an expanded multi-head cache (the mini
// token model and DeepSeek-V3's shape), and decoding speed with the latent cache vs recomputing
// the prefix for every new token. One JSON object.
// Usage: bench_dit [threads] [device = cpu | cuda] [all | train]
//   (compare with bench/python/bench_dit.py [threads] [device] at the same thread count and device)

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/malloc_tuning.h"
#include "rflow/core/rng.h"
#include "rflow/core/system_info.h"
#include "rflow/data/batch_source.h"
#include "rflow/methods/method_config.h"
#include "rflow/nn/dit.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/token_transformer.h"
#include "rflow/solve/solver.h"
#include "rflow/train/trainer.h"
#include "rflow/io/remove_tree.h"

using namespace rflow;
namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
void sync(const torch::Tensor& t) { (void)t.sum().item<double>(); }

// The model sections of configs/dit_fmnist.toml and configs/dit_moe_fmnist.toml.
ModelConfig dit_config(bool moe) {
  ModelConfig m;
  m.arch = "dit";
  m.num_classes = 10;
  auto& o = m.get<DiTOptions>("dit");
  o.patch = 4, o.hidden = 96, o.depth = 6, o.heads = 4, o.mlp_ratio = 4.0;
  if (moe) {
    o.ffn = "moe", o.moe_from = 1;
    o.moe.routed = 8, o.moe.shared = 1, o.moe.top_k = 2, o.moe.hidden = 128, o.moe.bias_rate = 1e-3;
  }
  return m;
}

double train_steps_per_s(bool moe, BatchSource& data, torch::Device dev, const fs::path& dir, int64_t* params) {
  seed_all(0);
  auto model = make_model(dit_config(moe), {1, 28, 28});
  model->to(dev);
  *params = count_parameters(*model);
  MethodConfig mc;
  mc.label_dropout = 0.1;
  auto method = make_method(mc);
  TrainConfig tc;
  tc.batch_size = 64, tc.lr = 5e-4, tc.ckpt_every = 0, tc.log_every = 1000000;
  tc.steps = 5;  // warm-up (allocator, OpenMP pool, oneDNN primitives)
  Trainer(tc, model, *method, data, (dir / "warm").string(), "{}", dev).run();
  tc.steps = dev.is_cuda() ? 200 : 40;
  sync(model->parameters().front());
  const auto t0 = std::chrono::steady_clock::now();
  Trainer(tc, model, *method, data, (dir / "timed").string(), "{}", dev).run();
  sync(model->parameters().front());
  rflow::io::remove_tree(dir);
  return double(tc.steps) / seconds_since(t0);
}

double images_per_s(bool moe, int64_t batch, torch::Device dev) {
  seed_all(0);
  auto model = make_model(dit_config(moe), {1, 28, 28});
  model->to(dev);
  model->eval();
  torch::NoGradGuard ng;
  for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.02);  // away from the zero init
  SolveOptions o;
  o.steps = 1;
  auto x = torch::randn({batch, 1, 28, 28}, dev);
  auto labels = torch::arange(batch, torch::TensorOptions(torch::kInt64).device(dev)).remainder(10);
  auto field = guided_field(*model, Cond{labels}, 1.0);
  sync(solve(field, x, o).x);
  const auto t0 = std::chrono::steady_clock::now();
  sync(solve(field, x, o).x);
  return double(batch) / seconds_since(t0);
}

nlohmann::json mla_cache(torch::Device dev) {
  TokenTransformerOptions o;  // the mini DeepSeek-style model (3 blocks, d 64, MLA d_c 16 + d_R 8)
  o.vocab = 128, o.dim = 64, o.layers = 3, o.dense_layers = 1, o.dense_hidden = 128;
  o.mla.heads = 4, o.mla.kv_rank = 16, o.mla.nope_dim = 16, o.mla.rope_dim = 8, o.mla.v_dim = 16;
  o.moe.routed = 8, o.moe.shared = 1, o.moe.top_k = 2, o.moe.hidden = 32;
  seed_all(0);
  TokenTransformer lm(o);
  lm->to(dev);
  lm->eval();
  torch::NoGradGuard ng;
  const int64_t T = 256;
  const auto tokens = torch::randint(o.vocab, {1, T}, torch::TensorOptions(torch::kInt64).device(dev));
  nlohmann::json out;
  MLAOptions v3;
  v3.heads = 128, v3.q_rank = 1536, v3.kv_rank = 512, v3.nope_dim = 128, v3.rope_dim = 64, v3.v_dim = 128;
  out["mini_latent_floats_per_token_layer"] = o.mla.latent_cache_floats();
  out["mini_mha_floats_per_token_layer"] = o.mla.mha_cache_floats();
  out["v3_latent_floats_per_token_layer"] = v3.latent_cache_floats();
  out["v3_mha_floats_per_token_layer"] = v3.mha_cache_floats();
  // Decoding T tokens one at a time: from the latent cache vs a full forward of the prefix each time.
  std::vector<LatentCache> caches;
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t t = 0; t < T; ++t) sync(lm->decode(tokens.slice(1, t, t + 1), caches, T));
  out["decode_ms_per_token_latent_cache"] = 1e3 * seconds_since(t0) / double(T);
  out["cache_bytes_measured_per_token_all_layers"] = int64_t(caches.size()) * caches[0].bytes_per_token();
  t0 = std::chrono::steady_clock::now();
  for (int64_t t = 0; t < T; ++t) sync(lm->forward(tokens.slice(1, 0, t + 1)));
  out["decode_ms_per_token_recompute"] = 1e3 * seconds_since(t0) / double(T);
  out["decode_tokens"] = T;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  rflow::keep_freed_memory();
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const torch::Device dev(argc > 2 ? argv[2] : "cpu");
  const bool train_only = argc > 3 && std::string(argv[3]) == "train";
  torch::set_num_threads(threads);
  spdlog::set_level(spdlog::level::warn);
  DataConfig dc;
  dc.labels = true;
  dc.target.name = "fashion_mnist";
  auto data = make_coupling(dc);
  const auto dir = fs::path(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") / ("rflow_bench_dit_" + std::to_string(::getpid()));
  nlohmann::json out{{"bench", "dit_fmnist"}, {"threads", threads}, {"device", dev.str()}};
  int64_t params = 0;
  out["train_steps_per_s_b64"] = train_steps_per_s(false, *data, dev, dir, &params);
  out["parameters"] = params;
  out["moe_train_steps_per_s_b64"] = train_steps_per_s(true, *data, dev, dir, &params);
  out["moe_parameters"] = params;
  if (!train_only) {
    out["sample_images_per_s_nfe1_b500"] = images_per_s(false, 500, dev);
    out["moe_sample_images_per_s_nfe1_b500"] = images_per_s(true, 500, dev);
    out["mla"] = mla_cache(dev);
  }
  out["system"] = rflow::system_info_json();
  std::cout << out.dump() << std::endl;
  return 0;
}
