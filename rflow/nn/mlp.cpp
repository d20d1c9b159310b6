#include "rflow/nn/mlp.h"

#include <atomic>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/label_rows.h"
#include "rflow/nn/layers/activation.h"
#include "rflow/nn/fast_mlp.h"
#include "rflow/nn/layers/linear.h"

namespace rflow {

void MlpOptions::validate(const std::string& where) const {
  RF_CHECK(hidden >= 1 && hidden <= (1 << 16), "hidden must be in [1, 65536]", where + ".hidden", "");
  RF_CHECK(depth >= 1 && depth <= 64, "depth must be in [1, 64]", where + ".depth", "");
  check_activation(activation, where + ".activation");
  RF_CHECK(time_dim >= 2 && time_dim % 2 == 0, "time_dim must be even and >= 2", where + ".time_dim", "");
  validate_policy_keys(obs_dim, variance_hidden, variance_depth, where);
}

MlpVelocityImpl::MlpVelocityImpl(MlpOptions opt, std::vector<int64_t> sample_shape, int64_t num_classes,
                                 std::string time_embed, double time_scale)
    : opt_(std::move(opt)),
      shape_(std::move(sample_shape)),
      num_classes_(num_classes),
      time_embed_(std::move(time_embed)),
      time_scale_(time_scale) {
  for (auto s : shape_) dim_ *= s;
  RF_CHECK(!shape_.empty() && dim_ >= 1, "sample shape must be non-empty", "model (mlp)", "");
  reset();
}

void MlpVelocityImpl::reset() {
  std::atomic_store(&fast_, std::shared_ptr<FastCache>());  // a clone packs its own weights
  hidden_.clear();
  temb_ = register_module("temb", std::make_shared<TimeEmbeddingImpl>(time_embed_, opt_.time_dim, time_scale_));
  in_x_ = register_module("in_x", torch::nn::Linear(dim_, opt_.hidden));
  // The bias lives in in_x; the time branch adds a bias-free projection.
  in_t_ = register_module("in_t", torch::nn::Linear(torch::nn::LinearOptions(opt_.time_dim, opt_.hidden).bias(false)));
  if (num_classes_ > 0)
    label_emb_ = register_module("label_emb", torch::nn::Embedding(num_classes_ + 1, opt_.hidden));
  if (opt_.obs_dim > 0)
    in_o_ = register_module("in_o", torch::nn::Linear(torch::nn::LinearOptions(opt_.obs_dim, opt_.hidden).bias(false)));
  for (int64_t i = 0; i + 1 < opt_.depth; ++i)
    hidden_.push_back(register_module("h" + std::to_string(i), torch::nn::Linear(opt_.hidden, opt_.hidden)));
  out_ = register_module("out", torch::nn::Linear(opt_.hidden, dim_));
  var_.build(*this, dim_, opt_.time_dim, opt_.obs_dim, opt_.variance_hidden, opt_.variance_depth);
}

at::Tensor MlpVelocityImpl::observations(const Cond& c, int64_t B) const {
  return policy_observations(c, B, opt_.obs_dim, "model.mlp.obs_dim");
}

at::Tensor MlpVelocityImpl::variance(const at::Tensor& x, const at::Tensor& t, const Cond& c) {
  if (!var_.defined()) return {};
  const int64_t B = x.size(0);
  return var_.sigma(x.reshape({B, dim_}), temb_->forward(t), opt_.obs_dim > 0 ? observations(c, B) : at::Tensor(),
                    opt_.activation);
}

at::Tensor MlpVelocityImpl::forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) {
  const int64_t B = x.size(0);
  // The first layer is split into x and time parts, so [x, emb] is never concatenated.
  auto h = rflow::linear(x.reshape({B, dim_}), in_x_->weight, in_x_->bias) + rflow::linear(temb_->forward(t), in_t_->weight);
  if (num_classes_ > 0) {
    h = h + label_emb_->forward(label_rows(c.labels, x, num_classes_));
  }
  if (in_o_) h = h + rflow::linear(observations(c, B), in_o_->weight);
  h = activate(opt_.activation, h);
  for (auto& l : hidden_) h = activate(opt_.activation, rflow::linear(h, l->weight, l->bias));
  auto out = rflow::linear(h, out_->weight, out_->bias);
  std::vector<int64_t> shape{B};
  shape.insert(shape.end(), shape_.begin(), shape_.end());
  return out.view(shape);
}

struct MlpVelocityImpl::FastCache {
  std::vector<std::pair<const void*, uint32_t>> packed_from;
  std::shared_ptr<const FastMlp> mlp;
};

FastSolve MlpVelocityImpl::fast_solve(const at::Tensor& x0, const Cond& cond, const SolvePlan& plan) {
  const int64_t B = x0.size(0);
  if (plan.eta > 0 && !var_.defined()) return {};  // the step-by-step path reports the missing head
  if (B < 1 || B > kFastBatch || !x0.device().is_cpu() || x0.scalar_type() != torch::kFloat32 ||
      cond.context.defined() || cond.mask.defined() || x0.numel() != B * dim_ ||
      (cond.labels.defined() && cond.labels.numel() != B))
    return {};  // the step-by-step path handles (and reports) everything else
  at::Tensor obs;
  for (const auto& [key, value] : cond.extra)
    if (key != "obs" || opt_.obs_dim == 0) return {};
  if (opt_.obs_dim > 0) obs = observations(cond, B).to(torch::kCPU).contiguous();
  std::vector<std::pair<const void*, uint32_t>> now;
  for (const auto& p : parameters()) {
    if (!p.device().is_cpu() || p.scalar_type() != torch::kFloat32) return {};
    now.emplace_back(p.data_ptr(), p._version());
  }
  // Shared pointer copies (atomic): concurrent solves on one model each keep the packing they use.
  std::shared_ptr<FastCache> cache = std::atomic_load(&fast_);
  if (!cache || cache->packed_from != now) {
    auto fresh = std::make_shared<FastCache>();
    fresh->packed_from = std::move(now);
    fresh->mlp = std::make_shared<const FastMlp>(*this);
    std::atomic_store(&fast_, fresh);
    cache = fresh;
  }
  // One workspace per thread, for the packing it was made for (its time-branch table holds that
  // packing's weights).
  thread_local FastMlp::WorkspacePtr ws;
  thread_local std::weak_ptr<const FastMlp> ws_owner;
  if (!ws || ws_owner.lock() != cache->mlp) {
    ws = cache->mlp->workspace(2 * kFastBatch);
    ws_owner = cache->mlp;
  }
  at::Tensor x = x0.contiguous().clone();
  at::Tensor labels;
  if (cond.labels.defined()) labels = cond.labels.to(torch::kCPU, torch::kInt64).contiguous();
  at::Tensor nfe = torch::empty({B}, torch::kInt64);
  cache->mlp->solve(*ws, plan, x.data_ptr<float>(), labels.defined() ? labels.data_ptr<int64_t>() : nullptr, B,
                    x.data_ptr<float>(), obs.defined() ? obs.data_ptr<float>() : nullptr, nfe.data_ptr<int64_t>());
  return {x, nfe};
}

ModelEntry mlp_entry() {
  ModelEntry e;
  e.options = [] { return AnyOptions::of<MlpOptions>(); };
  e.make = [](const ModelConfig& c, const std::vector<int64_t>& shape) -> VelocityField {
    return std::make_shared<MlpVelocityImpl>(c.get<MlpOptions>("mlp"), shape, c.num_classes, c.time_embed,
                                             c.time_scale);
  };
  e.describe = [](const ModelConfig& c) {
    const auto& o = c.get<MlpOptions>("mlp");
    return std::to_string(o.depth) + " × " + std::to_string(o.hidden);
  };
  return e;
}

}  // namespace rflow
