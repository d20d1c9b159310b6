#include "rflow/nn/temporal_unet.h"

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/label_rows.h"
#include "rflow/nn/layers/group_norm_silu.h"
#include "rflow/nn/layers/silu.h"

namespace rflow {

namespace {
torch::nn::Conv1d conv1d(int64_t in, int64_t out, int64_t k, int64_t stride = 1) {
  return torch::nn::Conv1d(torch::nn::Conv1dOptions(in, out, k).stride(stride).padding(k / 2));
}
at::Tensor norm_silu_1d(torch::nn::GroupNorm& norm, const at::Tensor& x) {
  const auto& o = norm->options;
  return group_norm_silu(x, o.num_groups(), norm->weight, norm->bias, o.eps());
}
}  // namespace

void TemporalUNetOptions::validate(const std::string& where) const {
  RF_CHECK(channels >= 1 && channels <= (1 << 14), "channels must be in [1, 16384]", where + ".channels", "");
  RF_CHECK(!channel_mult.empty() && channel_mult.size() <= 8, "channel_mult needs 1 to 8 levels",
           where + ".channel_mult", "e.g. [1, 2]");
  RF_CHECK(norm_groups >= 1, "norm_groups must be >= 1", where + ".norm_groups", "");
  for (auto m : channel_mult) {
    RF_CHECK(m >= 1 && m <= 64, "channel_mult entries must be in [1, 64]", where + ".channel_mult", "");
    RF_CHECK((channels * m) % norm_groups == 0,
             fmt::format("channels × {} = {} is not divisible by norm_groups = {}", m, channels * m, norm_groups),
             where + ".norm_groups", "e.g. channels = 64 with norm_groups = 8");
  }
  RF_CHECK(kernel >= 1 && kernel <= 31 && kernel % 2 == 1, "kernel must be odd, in [1, 31]", where + ".kernel",
           "e.g. 3 or 5");
  RF_CHECK(time_dim >= 2 && time_dim % 2 == 0, "time_dim must be even and >= 2", where + ".time_dim", "");
  validate_policy_keys(obs_dim, variance_hidden, variance_depth, where);
}

TemporalBlockImpl::TemporalBlockImpl(int64_t in, int64_t out, int64_t cond_dim, int64_t kernel, int64_t groups)
    : in_(in), out_(out), cond_dim_(cond_dim), kernel_(kernel), groups_(groups) {
  reset();
}

void TemporalBlockImpl::reset() {
  conv1_ = register_module("conv1", conv1d(in_, out_, kernel_));
  norm1_ = register_module("norm1", torch::nn::GroupNorm(groups_, out_));
  film_ = register_module("film", torch::nn::Linear(cond_dim_, 2 * out_));
  conv2_ = register_module("conv2", conv1d(out_, out_, kernel_));
  norm2_ = register_module("norm2", torch::nn::GroupNorm(groups_, out_));
  if (in_ != out_) skip_ = register_module("skip", conv1d(in_, out_, 1));
}

at::Tensor TemporalBlockImpl::forward(const at::Tensor& x, const at::Tensor& cond) {
  at::Tensor h = norm_silu_1d(norm1_, conv1_(x));
  // FiLM as h·(1 + scale) + shift: a zero projection leaves the block unconditioned, not silenced.
  const auto ss = film_(cond).unsqueeze(2).chunk(2, 1);
  h = torch::addcmul(ss[1], h, ss[0] + 1.0);
  h = norm_silu_1d(norm2_, conv2_(h));
  return (skip_ ? skip_(x) : x) + h;
}

TemporalUNetImpl::TemporalUNetImpl(TemporalUNetOptions opt, std::vector<int64_t> sample_shape, int64_t num_classes,
                                   std::string time_embed, double time_scale)
    : opt_(std::move(opt)),
      shape_(std::move(sample_shape)),
      num_classes_(num_classes),
      time_embed_(std::move(time_embed)),
      time_scale_(time_scale) {
  RF_CHECK((shape_.size() == 1 || shape_.size() == 2) && shape_.back() >= 1 && shape_.front() >= 1,
           "the temporal U-Net needs action chunks [H, A] or single actions [A], got " + c10::str(shape_),
           "model.arch", "use arch = unet for images, mlp for other flat data");
  horizon_ = shape_.size() == 2 ? shape_[0] : 1;
  action_ = shape_.back();
  opt_.validate("model.temporal_unet");
  reset();
}

void TemporalUNetImpl::reset() {
  const int64_t ch = opt_.channels, cond_dim = 4 * ch, k = opt_.kernel, g = opt_.norm_groups;
  const auto& mult = opt_.channel_mult;
  const int64_t levels = static_cast<int64_t>(mult.size());
  down_.clear();
  up_.clear();
  downsample_.clear();
  upsample_.clear();
  halves_.clear();
  temb_ = register_module("temb", std::make_shared<TimeEmbeddingImpl>(time_embed_, opt_.time_dim, time_scale_));
  emb1_ = register_module("emb1", torch::nn::Linear(opt_.time_dim, cond_dim));
  emb2_ = register_module("emb2", torch::nn::Linear(cond_dim, cond_dim));
  if (num_classes_ > 0) label_emb_ = register_module("label_emb", torch::nn::Embedding(num_classes_ + 1, cond_dim));
  if (opt_.obs_dim > 0)
    obs_emb_ = register_module("obs_emb", torch::nn::Linear(torch::nn::LinearOptions(opt_.obs_dim, cond_dim).bias(false)));
  in_conv_ = register_module("in_conv", conv1d(action_, ch, k));
  auto block = [&](const std::string& name, int64_t in, int64_t out) {
    return register_module(name, TemporalBlock(in, out, cond_dim, k, g));
  };
  int64_t cur = ch, length = horizon_;
  for (int64_t i = 0; i < levels; ++i) {
    const int64_t c = ch * mult[i];
    const std::string n = "down" + std::to_string(i);
    down_.emplace_back(block(n + "_0", cur, c), block(n + "_1", c, c));
    cur = c;
    if (i + 1 < levels) {
      // An odd length stays (a stride-1 conv in its place), so every chunk size works.
      const bool halve = length % 2 == 0 && length >= 2;
      halves_.push_back(halve);
      if (halve) length /= 2;
      downsample_.push_back(register_module("downsample" + std::to_string(i), conv1d(c, c, 3, halve ? 2 : 1)));
    }
  }
  mid1_ = block("mid1", cur, cur);
  mid2_ = block("mid2", cur, cur);
  for (int64_t i = levels - 1; i >= 0; --i) {
    const int64_t c = ch * mult[i];
    const std::string n = "up" + std::to_string(i);
    up_.emplace_back(block(n + "_0", cur + c, c), block(n + "_1", c, c));
    cur = c;
    if (i > 0) {
      cur = ch * mult[i - 1];
      upsample_.push_back(register_module("upsample" + std::to_string(i), conv1d(c, cur, 3)));
    }
  }
  out_norm_ = register_module("out_norm", torch::nn::GroupNorm(g, cur));
  out_ = register_module("out", conv1d(cur, action_, 1));
  {
    torch::NoGradGuard ng;  // an untrained policy predicts v = 0: early training is stable
    out_->weight.zero_();
    out_->bias.zero_();
  }
  var_.build(*this, horizon_ * action_, opt_.time_dim, opt_.obs_dim, opt_.variance_hidden, opt_.variance_depth);
}

at::Tensor TemporalUNetImpl::observations(const Cond& c, int64_t B) const {
  return policy_observations(c, B, opt_.obs_dim, "model.temporal_unet.obs_dim");
}

at::Tensor TemporalUNetImpl::forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) {
  const int64_t B = x.size(0);
  RF_CHECK(x.numel() == B * horizon_ * action_, "input of shape " + c10::str(x.sizes()) + " does not match the model's " +
           c10::str(shape_), "model.temporal_unet", "");
  at::Tensor cond = emb2_(rflow::silu(emb1_(temb_->forward(t))));
  if (num_classes_ > 0) {
    cond = cond + label_emb_->forward(label_rows(c.labels, x, num_classes_));
  }
  if (obs_emb_) cond = cond + obs_emb_(observations(c, B));
  cond = rflow::silu(cond);
  // [B, H, A] → A channels along H.
  at::Tensor h = in_conv_(x.reshape({B, horizon_, action_}).transpose(1, 2));
  std::vector<at::Tensor> skips;
  for (size_t i = 0; i < down_.size(); ++i) {
    h = down_[i].second(down_[i].first(h, cond), cond);
    skips.push_back(h);
    if (i < downsample_.size()) h = downsample_[i](h);
  }
  h = mid2_(mid1_(h, cond), cond);
  for (size_t j = 0; j < up_.size(); ++j) {
    h = torch::cat({h, skips.back()}, 1);
    skips.pop_back();
    h = up_[j].second(up_[j].first(h, cond), cond);
    if (j < upsample_.size()) {
      // Back to the length of the level above: doubled where the way down halved it.
      const size_t level_above = down_.size() - 2 - j;
      if (halves_[level_above])
        h = torch::nn::functional::interpolate(
            h, torch::nn::functional::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0}).mode(torch::kNearest));
      h = upsample_[j](h);
    }
  }
  h = out_(norm_silu_1d(out_norm_, h)).transpose(1, 2);
  std::vector<int64_t> shape{B};
  shape.insert(shape.end(), shape_.begin(), shape_.end());
  return h.reshape(shape);
}

at::Tensor TemporalUNetImpl::variance(const at::Tensor& x, const at::Tensor& t, const Cond& c) {
  if (!var_.defined()) return {};
  const int64_t B = x.size(0);
  return var_.sigma(x.reshape({B, horizon_ * action_}), temb_->forward(t),
                    opt_.obs_dim > 0 ? observations(c, B) : at::Tensor(), "silu");
}

ModelEntry temporal_unet_entry() {
  ModelEntry e;
  e.options = [] { return AnyOptions::of<TemporalUNetOptions>(); };
  e.make = [](const ModelConfig& c, const std::vector<int64_t>& shape) -> VelocityField {
    return std::make_shared<TemporalUNetImpl>(c.get<TemporalUNetOptions>("temporal_unet"), shape, c.num_classes,
                                              c.time_embed, c.time_scale);
  };
  e.describe = [](const ModelConfig& c) {
    const auto& o = c.get<TemporalUNetOptions>("temporal_unet");
    return std::to_string(o.channels) + " channels, " + std::to_string(o.channel_mult.size()) + " levels";
  };
  return e;
}

}  // namespace rflow
