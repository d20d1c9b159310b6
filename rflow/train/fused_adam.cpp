#include "rflow/train/fused_adam.h"

#include <cmath>
#include <vector>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/kernels/vector_kernels.h"
#include "rflow/train/optimizer_state_key.h"

namespace rflow {

FusedAdam::FusedAdam(torch::optim::Optimizer& opt, const FlatParameters& flat, const TrainConfig& cfg)
    : opt_(opt),
      flat_(flat),
      decoupled_(cfg.optimizer == "adamw"),
      beta1_(cfg.beta1),
      beta2_(cfg.beta2),
      eps_(cfg.adam_eps),
      weight_decay_(cfg.weight_decay) {
  RF_CHECK(flat.defined() && flat.grad().defined(), "fused Adam needs flat parameters with gradients", "FusedAdam",
           "build FlatParameters(model) first");
  exp_avg_ = torch::zeros_like(flat.data());
  exp_avg_sq_ = torch::zeros_like(flat.data());
  bind_state();
}

void FusedAdam::bind_state() {
  auto& state = opt_.state();
  const auto& params = flat_.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const auto key = optimizer_state_key(params[i]);
    auto m = flat_.slice(exp_avg_, i), v = flat_.slice(exp_avg_sq_, i);
    auto set = [&](auto* s) {
      s->step(step_);
      s->exp_avg(m);
      s->exp_avg_sq(v);
    };
    if (decoupled_) {
      auto s = std::make_unique<torch::optim::AdamWParamState>();
      set(s.get());
      state[key] = std::move(s);
    } else {
      auto s = std::make_unique<torch::optim::AdamParamState>();
      set(s.get());
      state[key] = std::move(s);
    }
  }
}

void FusedAdam::adopt_state() {
  torch::NoGradGuard ng;
  auto& state = opt_.state();
  const auto& params = flat_.parameters();
  int64_t step = -1;
  for (size_t i = 0; i < params.size(); ++i) {
    auto m_slice = flat_.slice(exp_avg_, i), v_slice = flat_.slice(exp_avg_sq_, i);
    at::Tensor m, v;
    int64_t s = 0;
    if (auto it = state.find(optimizer_state_key(params[i])); it != state.end()) {
      if (decoupled_) {
        auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
        m = st.exp_avg(), v = st.exp_avg_sq(), s = st.step();
      } else {
        auto& st = static_cast<torch::optim::AdamParamState&>(*it->second);
        m = st.exp_avg(), v = st.exp_avg_sq(), s = st.step();
      }
    }
    // An entry that still holds our own buffer was not in the file (torch writes no state for a
    // parameter that never had a gradient): it starts from zero moments and says nothing of the step.
    if (!m.defined() || m.data_ptr() == m_slice.data_ptr()) {
      m_slice.zero_();
      v_slice.zero_();
      continue;
    }
    RF_CHECK(step < 0 || s == step, "optimizer state has parameters at different steps", "optimizer.pt",
             "the checkpoint was not written by rflow's trainer");
    step = s;
    m_slice.copy_(m);
    v_slice.copy_(v);
  }
  step_ = std::max<int64_t>(step, 0);
  bind_state();
}

void FusedAdam::step(double lr, const at::Tensor& grad_scale, at::Tensor* grad_norm) {
  torch::NoGradGuard ng;
  ++step_;
  const auto& p = flat_.data();
  const double bias1 = 1 - std::pow(beta1_, static_cast<double>(step_));
  const double bias2 = 1 - std::pow(beta2_, static_cast<double>(step_));
  if (p.device().is_cpu() && p.scalar_type() == at::kFloat) {
    kernels::AdamStep s{};
    s.beta1 = static_cast<float>(beta1_), s.beta2 = static_cast<float>(beta2_), s.eps = static_cast<float>(eps_);
    s.step_size = static_cast<float>(lr / bias1);
    s.inv_sqrt_bias2 = static_cast<float>(1 / std::sqrt(bias2));
    s.grad_scale = grad_scale.defined() ? grad_scale.item<float>() : 1.0f;  // on the CPU: no sync
    s.weight_decay = static_cast<float>(weight_decay_);
    s.l2 = !decoupled_ && weight_decay_ != 0;
    s.decay_factor = decoupled_ ? static_cast<float>(1 - lr * weight_decay_) : 1.0f;
    float* pp = p.data_ptr<float>();
    float* m = exp_avg_.data_ptr<float>();
    float* v = exp_avg_sq_.data_ptr<float>();
    const float* g = flat_.grad().data_ptr<float>();
    if (grad_norm) {
      // One partial sum per thread, added in thread order: the same norm for the same split.
      std::vector<double> part(static_cast<size_t>(at::get_num_threads()), 0.0);
      at::parallel_for(0, p.numel(), 1 << 15, [&](int64_t a, int64_t b) {
        part[static_cast<size_t>(at::get_thread_num())] += kernels::adam_sumsq(pp + a, m + a, v + a, g + a, b - a, s);
      });
      double sum = 0;
      for (double x : part) sum += x;
      *grad_norm = torch::scalar_tensor(std::sqrt(sum), torch::kDouble);
    } else {
      at::parallel_for(0, p.numel(), 1 << 15, [&](int64_t a, int64_t b) {
        kernels::adam(pp + a, m + a, v + a, g + a, b - a, s);
      });
    }
  } else {
    if (grad_norm) *grad_norm = flat_.grad().norm(2);
    at::Tensor g = grad_scale.defined() ? flat_.grad() * grad_scale : flat_.grad();
    if (weight_decay_ != 0) {
      if (decoupled_)
        p.mul_(1 - lr * weight_decay_);
      else
        g = g.add(p, weight_decay_);
    }
    // The order of torch::optim::Adam's update, so results match it to rounding.
    exp_avg_.mul_(beta1_).add_(g, 1 - beta1_);
    exp_avg_sq_.mul_(beta2_).addcmul_(g, g, 1 - beta2_);
    auto denom = (exp_avg_sq_.sqrt() / std::sqrt(bias2)).add_(eps_);
    p.addcdiv_(exp_avg_, denom, -lr / bias1);
  }
  // Keep the per-parameter step counts torch's serialisation writes.
  for (auto& [key, s] : opt_.state()) {
    if (decoupled_)
      static_cast<torch::optim::AdamWParamState&>(*s).step(step_);
    else
      static_cast<torch::optim::AdamParamState&>(*s).step(step_);
  }
}

GradNorm grad_norm_flat(const FlatParameters& flat, double max_norm) {
  torch::NoGradGuard ng;
  GradNorm r;
  r.norm = flat.grad().norm(2);
  if (max_norm > 0) r.scale = (max_norm / (r.norm + 1e-6)).clamp_max(1.0);
  return r;
}

}  // namespace rflow
