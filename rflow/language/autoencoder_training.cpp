#include "rflow/language/autoencoder_training.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/progress.h"
#include "rflow/core/rng.h"
#include "rflow/io/safetensors.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/mlp.h"
#include "rflow/text/tokenizer.h"
#include "rflow/train/checkpoint.h"
#include "rflow/train/sigint_scope.h"
#include "rflow/train/train_config.h"

namespace rflow {

namespace fs = std::filesystem;

namespace {

// The autoencoder and the joint phase's latent flow, checkpointed together.
struct AutoencoderAndFlowImpl : torch::nn::Module {
  AutoencoderAndFlowImpl(const SentenceVAEOptions& o, int64_t flow_hidden) {
    vae = register_module("vae", SentenceVAE(o));
    ModelConfig mc;
    mc.arch = "mlp";
    mc.get<MlpOptions>("mlp").hidden = flow_hidden;
    flow = register_module("flow", make_model(mc, {o.flat_dim()}));
  }
  SentenceVAE vae{nullptr};
  VelocityField flow;
};

// The trainer's schedule: linear warm-up, then cosine to a tenth of lr over all the steps.
TrainConfig schedule_of(const AutoencoderTrainOptions& o) {
  TrainConfig t;
  t.lr = o.lr, t.warmup = o.warmup, t.steps = o.steps + o.joint_steps, t.min_lr_ratio = 0.1;
  return t;
}

// Rectified flow's loss on the latents' means: the flow's secondary objective, which reaches
// the encoder through mu.
at::Tensor latent_flow_loss(AutoencoderAndFlowImpl& m, const at::Tensor& ids, const at::Tensor& mask, const at::Tensor& x0,
                            const at::Tensor& t) {
  const at::Tensor x1 = m.vae->encode(ids, mask).mu;
  const at::Tensor tt = t.unsqueeze(1);
  const at::Tensor xt = tt * x1 + (1 - tt) * x0;
  return (m.flow->forward(xt, t) - (x1 - x0)).pow(2).mean();
}

// Batches come from per-step streams, so the global RNG state is stored only because every
// checkpoint carries one (and is checked for it).
CheckpointState checkpoint_state(int64_t step) {
  CheckpointState s;
  s.step = step;
  s.rng = rng_state();
  return s;
}

struct StepLog {
  double rec = 0, kl = 0, acc = 0, lambda = 0, cosine = 0, flow = 0;
  int64_t n = 0, joint = 0, rejected = 0;
};

}  // namespace

EncodedSentences encode_sentences(const text::Tokenizer& tok, const std::vector<std::string>& texts, int64_t max_len,
                                  const std::string& where) {
  const int64_t N = int64_t(texts.size());
  RF_CHECK(N > 0, "no sentences to encode", where, "");
  at::Tensor ids = torch::full({N, max_len}, text::kPad, torch::kInt64);
  at::Tensor mask = torch::zeros({N, max_len}, torch::kFloat32);
  auto ia = ids.accessor<int64_t, 2>();
  auto ma = mask.accessor<float, 2>();
  int64_t too_long = 0;
  std::string first;
  for (int64_t i = 0; i < N; ++i) {
    std::vector<int64_t> t = tok.encode(texts[size_t(i)]);
    t.push_back(text::kEos);
    if (int64_t(t.size()) > max_len) {
      if (too_long++ == 0) first = texts[size_t(i)] + "\" (" + std::to_string(t.size()) + " tokens with the end token)";
      continue;
    }
    for (size_t k = 0; k < t.size(); ++k) ia[i][int64_t(k)] = t[k], ma[i][int64_t(k)] = 1.0f;
  }
  RF_CHECK(too_long == 0,
           std::to_string(too_long) + " sentence(s) longer than the autoencoder's " + std::to_string(max_len) +
               " tokens, e.g. \"" + first,
           where, "raise autoencoder.max_len or lower corpus.max_words");
  return {ids, mask};
}

std::vector<std::string> decode_sentences(const text::Tokenizer& tok, const at::Tensor& ids) {
  std::vector<std::string> out;
  const at::Tensor c = ids.to(torch::kCPU).contiguous();
  auto a = c.accessor<int64_t, 2>();
  for (int64_t i = 0; i < c.size(0); ++i) {
    std::vector<int64_t> t;
    for (int64_t k = 0; k < c.size(1) && a[i][k] != text::kEos; ++k) t.push_back(a[i][k]);
    out.push_back(tok.decode(t));
  }
  return out;
}

std::string autoencoder_weights(const std::string& run_dir) {
  return (fs::path(run_dir) / "autoencoder" / "model.safetensors").string();
}

AutoencoderResult train_autoencoder(const TextRunConfig& cfg, const SentenceVAEOptions& opt, const EncodedSentences& data,
                                    const std::string& run_dir) {
  const auto& o = cfg.train;
  const fs::path dir = fs::path(run_dir) / "autoencoder";
  fs::create_directories(dir);
  const std::string root = (dir / "checkpoints").string();
  auto m = std::make_shared<AutoencoderAndFlowImpl>(opt, o.flow_hidden);
  torch::optim::AdamW adam(m->parameters(), torch::optim::AdamWOptions(o.lr).weight_decay(0.0));
  const int64_t total = o.steps + o.joint_steps;
  const TrainConfig schedule = schedule_of(o);
  int64_t start = 0;
  TextRunConfig copy = cfg;
  const std::string config_json = to_json(copy);
  if (const std::string ck = resolve_checkpoint(root); !ck.empty()) {
    load_checkpoint(ck, *m, nullptr, &adam);
    start = read_checkpoint_state(ck).step;
    spdlog::info("autoencoder: resumed at step {} from {}", start, ck);
  }
  std::vector<at::Tensor> shared = m->vae->parameters(), own = m->flow->parameters();
  std::ofstream metrics(dir / "metrics.jsonl", std::ios::app);
  const int64_t N = data.ids.size(0), B = std::min(o.batch_size, N), D = opt.flat_dim();
  AutoencoderResult result;
  StepLog acc;
  Progress progress("autoencoder", total, start);
  SigintScope sigint;  // Ctrl-C: checkpoint at the current step, then stop
  const auto t0 = std::chrono::steady_clock::now();
  m->train();
  for (int64_t step = start; step < total; ++step) {
    // Each step's draws come from a stream of its own: a resumed run takes the same batches.
    at::Generator g = at::make_generator<at::CPUGeneratorImpl>(uint64_t(cfg.seed) * 1000003ull + uint64_t(step) + 17);
    const at::Tensor rows = torch::randint(0, N, {B}, g, torch::kInt64);
    // Cut the batch to its longest sentence: padding costs as much as tokens.
    const at::Tensor rows_mask = data.mask.index_select(0, rows);
    const int64_t L = std::max<int64_t>(1, rows_mask.sum(1).max().item<int64_t>());
    const at::Tensor ids = data.ids.index_select(0, rows).slice(1, 0, L), mask = rows_mask.slice(1, 0, L);
    const at::Tensor eps = torch::randn({B, D}, g);
    const double beta = o.anneal_steps > 0 ? o.beta * std::min(1.0, double(step) / double(o.anneal_steps)) : o.beta;
    for (auto& grp : adam.param_groups()) grp.options().set_lr(learning_rate(schedule, step));
    VaeLosses last;
    const auto primary = [&] {
      last = m->vae->losses(ids, mask, eps, o.free_bits);
      return last.reconstruction + beta * last.kl_free_bits;
    };
    if (step < o.steps) {
      adam.zero_grad();
      primary().backward();
      torch::nn::utils::clip_grad_norm_(shared, 1.0);
      adam.step();
    } else {
      const at::Tensor x0 = torch::randn({B, D}, g), t = torch::rand({B}, g);
      const auto secondary = [&] { return latent_flow_loss(*m, ids, mask, x0, t); };
      const LexicographicStep s = lexicographic_step(primary, secondary, shared, own, adam, o.lexicographic);
      acc.lambda += s.lambda, acc.cosine += s.cosine, acc.flow += s.secondary, ++acc.joint;
      result.mean_lambda += s.lambda, result.mean_cosine += s.cosine, ++result.joint_steps;
      if (!s.accepted) ++acc.rejected, ++result.rejected;
    }
    acc.rec += last.reconstruction.item<double>(), acc.kl += last.kl.item<double>();
    acc.acc += last.token_accuracy.item<double>(), ++acc.n;
    if ((step + 1) % o.log_every == 0 || step + 1 == total) {
      nlohmann::json j{{"step", step + 1}, {"reconstruction", acc.rec / acc.n}, {"kl", acc.kl / acc.n},
                       {"token_accuracy", acc.acc / acc.n}, {"beta", beta}, {"lr", learning_rate(schedule, step)}};
      if (acc.joint > 0)
        j.update({{"flow_loss", acc.flow / acc.joint}, {"lambda", acc.lambda / acc.joint}, {"cosine", acc.cosine / acc.joint},
                  {"rejected", acc.rejected}});
      metrics << j.dump() << "\n" << std::flush;
      result.reconstruction = acc.rec / acc.n, result.kl = acc.kl / acc.n, result.token_accuracy = acc.acc / acc.n;
      progress.update(step + 1, fmt::format("rec {:.3f} kl {:.2f} acc {:.3f}{}", result.reconstruction, result.kl,
                                            result.token_accuracy,
                                            acc.joint ? fmt::format(" flow {:.3f} λ {:.2f} undone {}", acc.flow / acc.joint,
                                                                    acc.lambda / acc.joint, acc.rejected)
                                                      : std::string()));
      acc = StepLog{};
    }
    if (SigintScope::requested()) {
      save_checkpoint(root, *m, nullptr, &adam, checkpoint_state(step + 1), config_json, 2);
      throw Error("interrupted (Ctrl-C) at step " + std::to_string(step + 1) + " of " + std::to_string(total), "autoencoder",
                  "a checkpoint was saved: run the same command again to resume");
    }
    if ((step + 1) % o.ckpt_every == 0 && step + 1 < total)
      save_checkpoint(root, *m, nullptr, &adam, checkpoint_state(step + 1), config_json, 2);
  }
  progress.finish();
  if (result.joint_steps > 0) result.mean_lambda /= double(result.joint_steps), result.mean_cosine /= double(result.joint_steps);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  save_checkpoint(root, *m, nullptr, &adam, checkpoint_state(total), config_json, 2);
  io::save_safetensors(autoencoder_weights(run_dir), module_tensors(*m->vae), {{"format", "rflow-sentence-vae"}});
  return result;
}

}  // namespace rflow
