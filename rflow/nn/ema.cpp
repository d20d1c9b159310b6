#include "rflow/nn/ema.h"

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/kernels/vector_kernels.h"

namespace rflow {

Ema::Ema(const torch::nn::Module& model, double decay, bool warmup) : decay_(decay), warmup_(warmup) {
  RF_CHECK(decay >= 0 && decay < 1, "EMA decay must be in [0, 1)", "train.ema_decay", "typical: 0.999");
  torch::NoGradGuard ng;
  if (auto* field = dynamic_cast<const VelocityFieldImpl*>(&model)) {
    try {
      shadow_ = clone_field(*field);
    } catch (const Error&) {
      shadow_ = nullptr;  // not cloneable: keep the average as plain tensors
    }
  }
  if (shadow_) {
    shadow_->eval();
    for (auto& p : shadow_->named_parameters()) {
      p.value().set_requires_grad(false);
      params_.emplace_back(p.key(), p.value());
    }
    for (const auto& b : shadow_->named_buffers()) buffers_.emplace_back(b.key(), b.value());
    shadow_flat_ = FlatParameters(*shadow_, false);
    return;
  }
  for (const auto& p : model.named_parameters()) params_.emplace_back(p.key(), p.value().detach().clone());
  for (const auto& b : model.named_buffers()) buffers_.emplace_back(b.key(), b.value().detach().clone());
}

double Ema::next_weight() {
  const double d = warmup_ ? std::min(decay_, (1.0 + updates_) / (10.0 + updates_)) : decay_;
  ++updates_;
  return 1.0 - d;
}

void Ema::update(const torch::nn::Module& model) {
  torch::NoGradGuard ng;
  auto ps = model.parameters();
  RF_CHECK(ps.size() == params_.size(), "model changed shape since EMA was created", "Ema::update", "");
  const double w = next_weight();
  for (size_t i = 0; i < ps.size(); ++i) params_[i].second.lerp_(ps[i].detach(), w);
  auto bs = model.buffers();
  for (size_t i = 0; i < bs.size(); ++i) buffers_[i].second.copy_(bs[i]);
}

void Ema::update(const torch::nn::Module& model, const FlatParameters& model_flat) {
  if (!shadow_flat_.defined() || !model_flat.defined() || !model_flat.intact() || !shadow_flat_.intact() ||
      model_flat.data().sizes() != shadow_flat_.data().sizes())
    return update(model);
  torch::NoGradGuard ng;
  const auto& e = shadow_flat_.data();
  const double w = next_weight();
  if (e.device().is_cpu() && e.scalar_type() == at::kFloat && model_flat.data().device().is_cpu()) {
    float* ep = e.data_ptr<float>();
    const float* pp = model_flat.data().data_ptr<float>();
    at::parallel_for(0, e.numel(), 1 << 15, [&](int64_t a, int64_t b) {
      kernels::lerp(ep + a, pp + a, b - a, static_cast<float>(w));
    });
  } else {
    e.lerp_(model_flat.data(), w);
  }
  auto bs = model.buffers();
  for (size_t i = 0; i < bs.size(); ++i) buffers_[i].second.copy_(bs[i]);
}

void Ema::copy_to(torch::nn::Module& model) const {
  torch::NoGradGuard ng;
  auto ps = model.parameters();
  auto bs = model.buffers();
  RF_CHECK(ps.size() == params_.size() && bs.size() == buffers_.size(), "EMA and model differ in structure",
           "Ema::copy_to", "");
  for (size_t i = 0; i < ps.size(); ++i) ps[i].copy_(params_[i].second);
  for (size_t i = 0; i < bs.size(); ++i) bs[i].copy_(buffers_[i].second);
}

std::vector<std::pair<std::string, at::Tensor>> Ema::state() const {
  auto out = params_;
  out.insert(out.end(), buffers_.begin(), buffers_.end());
  return out;
}

void Ema::load_state(const std::vector<std::pair<std::string, at::Tensor>>& named, int64_t updates,
                     const std::string& where) {
  torch::NoGradGuard ng;
  std::map<std::string, at::Tensor> by_name(named.begin(), named.end());
  for (auto* group : {&params_, &buffers_}) {
    for (auto& [name, t] : *group) {
      auto it = by_name.find(name);
      RF_CHECK(it != by_name.end(), "EMA tensor '" + name + "' missing", where, "the checkpoint does not match the model");
      RF_CHECK(it->second.sizes() == t.sizes(), "EMA tensor '" + name + "' has a different shape", where,
               "the checkpoint does not match the model config");
      t.copy_(it->second);
    }
  }
  updates_ = updates;
}

}  // namespace rflow
