// What every policy backbone shares: the observations it is conditioned on (cond.extra["obs"],
// checked against the configured size) and AdaFlow's variance head, a small MLP on
// [x, emb(t), obs] whose output is log σ. The head registers its layers on the owning backbone as
// var_in_x, var_in_t, var_in_o, var_h<i>, var_out, so checkpoints name them the same for every backbone.
#pragma once

#include <string>
#include <vector>

#include <torch/nn/modules/linear.h>

#include "rflow/flow/cond.h"

namespace rflow {

// The policy keys of a backbone's options (model.<arch>.obs_dim, .variance_hidden, .variance_depth):
// declared and checked once for every backbone that can be a policy.
template <class V>
void visit_policy_keys(V& v, int64_t& obs_dim, int64_t& variance_hidden, int64_t& variance_depth) {
  v("obs_dim", obs_dim, "observation size of a policy: the field is conditioned on observations [B, obs_dim] (0 = none)");
  v("variance_hidden", variance_hidden,
    "width of the variance head σ(x, t | obs) that the adaflow solver steps by (0 = no head; AdaFlow: 128)");
  v("variance_depth", variance_depth, "hidden layers of the variance head");
}
void validate_policy_keys(int64_t obs_dim, int64_t variance_hidden, int64_t variance_depth, const std::string& where);

// cond.extra["obs"] as float32 [B, obs_dim]; throws rflow::Error naming `key` (the backbone's
// obs_dim key) when missing or of another shape.
at::Tensor policy_observations(const Cond& c, int64_t B, int64_t obs_dim, const std::string& key);

class VarianceHead {
 public:
  // Registers the layers on `owner` (nothing when width = 0). dim: the flat sample size.
  void build(torch::nn::Module& owner, int64_t dim, int64_t time_dim, int64_t obs_dim, int64_t width, int64_t depth);
  bool defined() const { return static_cast<bool>(out_); }
  // σ [B] in e^−10 … e^10 (log σ clamped, so η/σ and the NLL stay finite). x_flat [B, dim],
  // temb [B, time_dim], obs [B, obs_dim] or undefined.
  at::Tensor sigma(const at::Tensor& x_flat, const at::Tensor& temb, const at::Tensor& obs,
                   const std::string& activation) const;

 private:
  torch::nn::Linear in_x_{nullptr}, in_t_{nullptr}, in_o_{nullptr}, out_{nullptr};
  std::vector<torch::nn::Linear> hidden_;
};

}  // namespace rflow
