#include "rflow/language/judge_lm.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/progress.h"
#include "rflow/io/safetensors.h"
#include "rflow/nn/token_transformer.h"
#include "rflow/text/tokenizer.h"
#include "rflow/train/checkpoint.h"

namespace rflow {

namespace {

// bos, tokens, eos, pads: [N, max_len + 1]; texts longer are cut (the judge scores their start).
at::Tensor lm_rows(const text::Tokenizer& tok, const std::vector<std::string>& texts, int64_t max_len) {
  at::Tensor ids = torch::full({int64_t(texts.size()), max_len + 1}, text::kPad, torch::kInt64);
  auto a = ids.accessor<int64_t, 2>();
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int64_t> t{text::kBos};
    for (int64_t id : tok.encode(texts[i])) t.push_back(id);
    t.push_back(text::kEos);
    for (int64_t k = 0; k < std::min<int64_t>(int64_t(t.size()), max_len + 1); ++k) a[int64_t(i)][k] = t[size_t(k)];
  }
  return ids;
}

// Summed negative log-likelihood of every real next token, and how many there are.
std::pair<at::Tensor, at::Tensor> nll(TokenTransformerImpl& lm, const at::Tensor& rows) {
  const at::Tensor logits = lm.forward(rows.slice(1, 0, rows.size(1) - 1));
  const at::Tensor target = rows.slice(1, 1);
  const at::Tensor ce = torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}), target.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  const at::Tensor m = (target.reshape({-1}) != text::kPad).to(torch::kFloat32);
  return {(ce * m).sum(), m.sum()};
}

}  // namespace

struct JudgeLm::Impl {
  const text::Tokenizer& tok;
  int64_t max_len;
  TokenTransformer lm{nullptr};
};

JudgeLm::JudgeLm(const text::Tokenizer& tok, const std::vector<std::string>& texts, int64_t max_len, int64_t steps,
                 uint64_t seed, const std::string& file)
    : impl_(std::make_unique<Impl>(Impl{tok, max_len})) {
  TokenTransformerOptions o;
  o.vocab = tok.vocab_size();
  o.dim = 128;
  o.layers = 2;
  o.dense_layers = 2;  // dense blocks: a plain small causal LM
  o.dense_hidden = 256;
  o.mla.heads = 4, o.mla.kv_rank = 32, o.mla.nope_dim = 32, o.mla.v_dim = 32, o.mla.rope_dim = 8;
  impl_->lm = TokenTransformer(o);
  auto& lm = *impl_->lm;
  if (!file.empty() && std::filesystem::exists(file)) {
    assign_module_tensors(lm, io::load_safetensors(file).tensors, file);
    lm.eval();
    return;
  }
  RF_CHECK(texts.size() >= 20, "too few texts to train the judge language model on (" + std::to_string(texts.size()) + ")",
           "judge_lm", "give the corpus at least 20 training sentences");
  // Every tenth text validates: the weights kept are those of the best validation perplexity, so
  // a judge that starts to memorise its training texts is not the one that scores.
  std::vector<std::string> fit, held;
  for (size_t i = 0; i < texts.size(); ++i) (i % 10 == 9 ? held : fit).push_back(texts[i]);
  const at::Tensor rows = lm_rows(tok, fit, max_len);
  torch::optim::AdamW adam(lm.parameters(), torch::optim::AdamWOptions(2e-3).weight_decay(0.01));
  const auto t0 = std::chrono::steady_clock::now();
  Progress progress("judge language model", steps);
  std::vector<std::pair<std::string, at::Tensor>> best;
  result_.best_validation = std::numeric_limits<double>::infinity();
  for (int64_t s = 0; s < steps; ++s) {
    lm.train();
    at::Generator g = at::make_generator<at::CPUGeneratorImpl>(seed * 7919 + uint64_t(s));
    at::Tensor batch = rows.index_select(0, torch::randint(0, rows.size(0), {64}, g, torch::kInt64));
    batch = batch.slice(1, 0, std::max<int64_t>(2, (batch != text::kPad).sum(1).max().item<int64_t>()));  // cut the padding
    for (auto& grp : adam.param_groups())
      grp.options().set_lr(2e-3 * (s < 100 ? double(s + 1) / 100 : 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * s / steps))));
    auto [sum, count] = nll(lm, batch);
    const at::Tensor loss = sum / count.clamp_min(1.0);
    adam.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(lm.parameters(), 1.0);
    adam.step();
    result_.final_loss = loss.item<double>();
    if ((s + 1) % 100 != 0 && s + 1 != steps) continue;
    lm.eval();
    const double v = perplexity(held);
    if (v < result_.best_validation) {
      result_.best_validation = v, result_.best_step = s + 1;
      best.clear();
      for (const auto& [n, t] : module_tensors(lm)) best.emplace_back(n, t.detach().clone());
    }
    progress.update(s + 1, fmt::format("loss {:.3f}, validation perplexity {:.1f} (best {:.1f} at {})", result_.final_loss, v,
                                       result_.best_validation, result_.best_step));
  }
  progress.finish();
  if (!best.empty()) assign_module_tensors(lm, best, "judge_lm");
  lm.eval();
  result_.steps = steps;
  result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!file.empty()) io::save_safetensors(file, module_tensors(lm), {{"format", "rflow-judge-lm"}});
}

JudgeLm::~JudgeLm() = default;

double JudgeLm::perplexity(const std::vector<std::string>& texts) const {
  RF_CHECK(!texts.empty(), "no texts to score", "judge_lm", "");
  torch::NoGradGuard ng;
  const at::Tensor rows = lm_rows(impl_->tok, texts, impl_->max_len);
  double sum = 0, count = 0;
  for (int64_t i = 0; i < rows.size(0); i += 512) {
    auto [s, c] = nll(*impl_->lm, rows.slice(0, i, i + 512));
    sum += s.item<double>(), count += c.item<double>();
  }
  return std::exp(sum / std::max(1.0, count));
}

}  // namespace rflow
