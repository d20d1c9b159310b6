// MLP velocity field for flat data (2-D toys, tabular, latents): [x, emb(t) (, emb(label))] →
// hidden layers → velocity. The first layer is split per input so the concatenation is never
// materialised, which matters at batch 256 where per-op overhead dominates.
#pragma once

#include <string>

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include "rflow/flow/velocity_field.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/policy_head.h"
#include "rflow/nn/layers/time_embedding.h"

namespace rflow {

struct MlpOptions {
  int64_t hidden = 256;
  int64_t depth = 3;
  std::string activation = "silu";
  int64_t time_dim = 64;
  int64_t obs_dim = 0;          // policies: observation size (cond.extra["obs"]); 0 = none
  int64_t variance_hidden = 0;  // AdaFlow's variance head: width (0 = no head)
  int64_t variance_depth = 2;

  template <class V>
  void visit(V& v) {
    v("hidden", hidden, "hidden width");
    v("depth", depth, "number of hidden layers");
    v("activation", activation, "silu | gelu | tanh | relu");
    v("time_dim", time_dim, "time embedding size (even)");
    visit_policy_keys(v, obs_dim, variance_hidden, variance_depth);
  }
  void validate(const std::string& where) const;
};

class MlpVelocityImpl : public CloneableField<MlpVelocityImpl> {
 public:
  MlpVelocityImpl(MlpOptions opt, std::vector<int64_t> sample_shape, int64_t num_classes = 0,
                  std::string time_embed = "sinusoidal", double time_scale = 100.0);
  void reset() override;
  using VelocityFieldImpl::forward;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) override;
  std::vector<int64_t> sample_shape() const override { return shape_; }
  // With a variance head: σ(x, t | obs) [B], its estimate of the velocity's RMS error there.
  at::Tensor variance(const at::Tensor& x, const at::Tensor& t, const Cond& c) override;
  // CPU float32 batches of up to kFastBatch samples run on FastMlp (rflow/nn/fast_mlp.h).
  FastSolve fast_solve(const at::Tensor& x0, const Cond& cond, const SolvePlan& plan) override;
  static constexpr int64_t kFastBatch = 64;
  const MlpOptions& options() const { return opt_; }
  int64_t num_classes() const { return num_classes_; }

 private:
  // The packed weights of the last fast solve, and the parameter storage and versions they were
  // packed from: any change to a parameter (an optimizer step, a load) repacks.
  struct FastCache;
  std::shared_ptr<FastCache> fast_;
  MlpOptions opt_;
  std::vector<int64_t> shape_;
  int64_t dim_ = 1;
  int64_t num_classes_;
  std::string time_embed_;
  double time_scale_;
  TimeEmbedding temb_{nullptr};
  torch::nn::Linear in_x_{nullptr}, in_t_{nullptr}, in_o_{nullptr}, out_{nullptr};
  torch::nn::Embedding label_emb_{nullptr};
  std::vector<torch::nn::Linear> hidden_;
  VarianceHead var_;
  at::Tensor observations(const Cond& c, int64_t B) const;
};

ModelEntry mlp_entry();

}  // namespace rflow
