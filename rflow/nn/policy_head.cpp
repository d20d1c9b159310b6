#include "rflow/nn/policy_head.h"

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/activation.h"
#include "rflow/nn/layers/linear.h"

namespace rflow {

void validate_policy_keys(int64_t obs_dim, int64_t variance_hidden, int64_t variance_depth, const std::string& where) {
  RF_CHECK(obs_dim >= 0 && obs_dim <= (1 << 20), "obs_dim must be in [0, 2^20]", where + ".obs_dim", "0 = no observations");
  RF_CHECK(variance_hidden >= 0 && variance_hidden <= (1 << 16), "variance_hidden must be in [0, 65536]",
           where + ".variance_hidden", "0 = no variance head");
  RF_CHECK(variance_depth >= 1 && variance_depth <= 64, "variance_depth must be in [1, 64]", where + ".variance_depth", "");
}

at::Tensor policy_observations(const Cond& c, int64_t B, int64_t obs_dim, const std::string& key) {
  auto it = c.extra.find("obs");
  RF_CHECK(it != c.extra.end() && it->second.defined(), "this policy needs observations", key,
           "pass them as cond.extra[\"obs\"] [B, " + std::to_string(obs_dim) + "] (data sets of demonstrations do)");
  const at::Tensor& o = it->second;
  RF_CHECK(o.dim() == 2 && o.size(0) == B && o.size(1) == obs_dim,
           "observations must be [B, " + std::to_string(obs_dim) + "], got " + c10::str(o.sizes()), key, "");
  return o.to(torch::kFloat32);
}

void VarianceHead::build(torch::nn::Module& owner, int64_t dim, int64_t time_dim, int64_t obs_dim, int64_t width,
                         int64_t depth) {
  hidden_.clear();
  in_x_ = in_t_ = in_o_ = out_ = nullptr;
  if (width <= 0) return;
  in_x_ = owner.register_module("var_in_x", torch::nn::Linear(dim, width));
  in_t_ = owner.register_module("var_in_t", torch::nn::Linear(torch::nn::LinearOptions(time_dim, width).bias(false)));
  if (obs_dim > 0)
    in_o_ = owner.register_module("var_in_o", torch::nn::Linear(torch::nn::LinearOptions(obs_dim, width).bias(false)));
  for (int64_t i = 0; i + 1 < depth; ++i)
    hidden_.push_back(owner.register_module("var_h" + std::to_string(i), torch::nn::Linear(width, width)));
  out_ = owner.register_module("var_out", torch::nn::Linear(width, 1));
}

at::Tensor VarianceHead::sigma(const at::Tensor& x_flat, const at::Tensor& temb, const at::Tensor& obs,
                               const std::string& activation) const {
  auto h = rflow::linear(x_flat, in_x_->weight, in_x_->bias) + rflow::linear(temb, in_t_->weight);
  if (in_o_) h = h + rflow::linear(obs, in_o_->weight);
  h = activate(activation, h);
  for (const auto& l : hidden_) h = activate(activation, rflow::linear(h, l->weight, l->bias));
  return torch::exp(rflow::linear(h, out_->weight, out_->bias).squeeze(1).clamp(-10.0, 10.0));
}

}  // namespace rflow
