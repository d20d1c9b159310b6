#include "rflow/nn/unet.h"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/label_rows.h"
#include "rflow/nn/layers/group_norm_silu.h"

namespace rflow {

namespace F = torch::nn::functional;

namespace {
torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2));
}
void zero_init(torch::nn::Conv2d& c) {
  torch::NoGradGuard ng;
  c->weight.zero_();
  c->bias.zero_();
}
}  // namespace

ResBlockImpl::ResBlockImpl(int64_t in, int64_t out, int64_t emb_dim, int64_t groups, double dropout)
    : in_(in), out_(out), emb_dim_(emb_dim), groups_(groups), dropout_(dropout) {
  reset();
}

void ResBlockImpl::reset() {
  const int64_t in = in_, out = out_, emb_dim = emb_dim_, groups = groups_;
  norm1_ = register_module("norm1", torch::nn::GroupNorm(groups, in));
  conv1_ = register_module("conv1", conv(in, out, 3));
  emb_ = register_module("emb", torch::nn::Linear(emb_dim, out));
  norm2_ = register_module("norm2", torch::nn::GroupNorm(groups, out));
  conv2_ = register_module("conv2", conv(out, out, 3));
  zero_init(conv2_);  // the block starts as the identity (plus its skip projection)
  if (in != out) skip_ = register_module("skip", conv(in, out, 1));
}

namespace {
// GroupNorm in fp32: under bf16 autocast the convolutions hand it bfloat16, and LibTorch 1.13's CPU
// group_norm refuses a bf16 input with fp32 weights (its statistics also want fp32).
at::Tensor as_fp32(const at::Tensor& x) { return x.scalar_type() == at::kBFloat16 ? x.to(at::kFloat) : x; }

at::Tensor norm_fp32(torch::nn::GroupNorm& norm, const at::Tensor& x) { return norm(as_fp32(x)); }

// silu(GroupNorm(x)) in fp32, as one fused op (rflow/nn/layers/group_norm_silu.h).
at::Tensor norm_silu(torch::nn::GroupNorm& norm, const at::Tensor& x) {
  const auto& o = norm->options;
  return group_norm_silu(as_fp32(x), o.num_groups(), norm->weight, norm->bias, o.eps());
}
}  // namespace

at::Tensor ResBlockImpl::forward(const at::Tensor& x, const at::Tensor& emb) {
  at::Tensor h = conv1_(norm_silu(norm1_, x));
  h = h + emb_(emb).unsqueeze(2).unsqueeze(3);
  h = norm_silu(norm2_, h);
  if (dropout_ > 0) h = F::dropout(h, F::DropoutFuncOptions().p(dropout_).training(is_training()));
  h = conv2_(h);
  return (skip_ ? skip_(x) : x) + h;
}

AttentionBlockImpl::AttentionBlockImpl(int64_t channels, int64_t heads, int64_t groups)
    : channels_(channels), heads_(heads), groups_(groups) {
  reset();
}

void AttentionBlockImpl::reset() {
  const int64_t channels = channels_, groups = groups_;
  norm_ = register_module("norm", torch::nn::GroupNorm(groups, channels));
  qkv_ = register_module("qkv", conv(channels, 3 * channels, 1));
  out_ = register_module("out", conv(channels, channels, 1));
  zero_init(out_);
}

at::Tensor AttentionBlockImpl::forward(const at::Tensor& x) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), d = C / heads_;
  // [B, 3C, H, W] → q, k, v as [B·heads, HW, d].
  auto qkv = qkv_(norm_fp32(norm_, x)).view({B, 3, heads_, d, H * W});
  auto q = qkv.select(1, 0).transpose(2, 3).reshape({B * heads_, H * W, d});
  auto k = qkv.select(1, 1).transpose(2, 3).reshape({B * heads_, H * W, d});
  auto v = qkv.select(1, 2).transpose(2, 3).reshape({B * heads_, H * W, d});
  auto w = torch::softmax(torch::bmm(q, k.transpose(1, 2)) / std::sqrt(double(d)), -1);
  auto h = torch::bmm(w, v).view({B, heads_, H * W, d}).transpose(2, 3).reshape({B, C, H, W});
  return x + out_(h);
}

void UNetOptions::validate(const std::string& where) const {
  RF_CHECK(channels >= 1 && !channel_mult.empty() && res_blocks >= 1 && heads >= 1 && norm_groups >= 1,
           "unet sizes must be positive (and channel_mult non-empty)", where, "");
  for (auto m : channel_mult) {
    RF_CHECK(m >= 1, "channel_mult entries must be >= 1", where + ".channel_mult", "");
    RF_CHECK((channels * m) % norm_groups == 0 && (channels * m) % heads == 0,
             fmt::format("channels × {} = {} is not divisible by norm_groups and heads", m, channels * m),
             where + ".channels", "e.g. channels = 32 with norm_groups = 8 and heads = 4");
  }
  RF_CHECK(dropout >= 0 && dropout < 1, "dropout must be in [0, 1)", where + ".dropout", "");
}

UNetImpl::UNetImpl(UNetOptions opt, std::vector<int64_t> sample_shape, int64_t num_classes, std::string time_embed,
                   double time_scale)
    : opt_(std::move(opt)),
      shape_(std::move(sample_shape)),
      num_classes_(num_classes),
      time_embed_(std::move(time_embed)),
      time_scale_(time_scale) {
  RF_CHECK(shape_.size() == 3, "the U-Net needs image samples [C, H, W]", "model.arch",
           "use arch = mlp for flat data, or an image data set");
  const int64_t levels = static_cast<int64_t>(opt_.channel_mult.size());
  const int64_t factor = int64_t(1) << (levels - 1);
  RF_CHECK(shape_[1] % factor == 0 && shape_[2] % factor == 0,
           "image size " + std::to_string(shape_[1]) + "×" + std::to_string(shape_[2]) + " is not divisible by 2^" +
               std::to_string(levels - 1),
           "model.unet.channel_mult", "use fewer levels (28×28 allows 3: 28, 14, 7)");
  reset();
}

void UNetImpl::reset() {
  const UNetOptions& cfg = opt_;
  down_.clear(), up_.clear(), downsample_.clear(), upsample_.clear();
  const int64_t levels = static_cast<int64_t>(cfg.channel_mult.size());
  const int64_t ch = cfg.channels, emb_dim = 4 * ch, g = cfg.norm_groups;
  temb_ = register_module("temb", std::make_shared<TimeEmbeddingImpl>(time_embed_, ch, time_scale_));
  emb1_ = register_module("emb1", torch::nn::Linear(ch, emb_dim));
  emb2_ = register_module("emb2", torch::nn::Linear(emb_dim, emb_dim));
  if (num_classes_ > 0) label_emb_ = register_module("label_emb", torch::nn::Embedding(num_classes_ + 1, emb_dim));
  in_ = register_module("in", conv(shape_[0], ch, 3));
  auto attn_at = [&](int64_t res) {
    return std::find(cfg.attn_resolutions.begin(), cfg.attn_resolutions.end(), res) != cfg.attn_resolutions.end();
  };
  auto make_stage = [&](const std::string& name, int64_t in, int64_t out, bool attn) {
    Stage s;
    s.res = register_module(name + "_res", ResBlock(in, out, emb_dim, g, cfg.dropout));
    if (attn) s.attn = register_module(name + "_attn", AttentionBlock(out, cfg.heads, g));
    return s;
  };
  // Down path: skips are the input conv's output and every stage's (and downsample's) output.
  std::vector<int64_t> skip_ch{ch};
  int64_t cur = ch, res = shape_[1];
  for (int64_t l = 0; l < levels; ++l) {
    down_.emplace_back();
    const int64_t out = ch * cfg.channel_mult[l];
    for (int64_t b = 0; b < cfg.res_blocks; ++b) {
      down_[l].push_back(make_stage("down" + std::to_string(l) + "_" + std::to_string(b), cur, out, attn_at(res)));
      cur = out;
      skip_ch.push_back(cur);
    }
    if (l + 1 < levels) {
      downsample_.push_back(register_module("downsample" + std::to_string(l), conv(cur, cur, 3, 2)));
      skip_ch.push_back(cur);
      res /= 2;
    }
  }
  mid1_ = make_stage("mid1", cur, cur, true);
  mid2_ = make_stage("mid2", cur, cur, false);
  // Up path mirrors it, one more stage per level to consume the downsample's skip.
  for (int64_t l = levels - 1; l >= 0; --l) {
    up_.emplace_back();
    const int64_t out = ch * cfg.channel_mult[l];
    for (int64_t b = 0; b <= cfg.res_blocks; ++b) {
      const int64_t skip = skip_ch.back();
      skip_ch.pop_back();
      up_.back().push_back(make_stage("up" + std::to_string(l) + "_" + std::to_string(b), cur + skip, out, attn_at(res)));
      cur = out;
    }
    if (l > 0) {
      upsample_.push_back(register_module("upsample" + std::to_string(l), conv(cur, cur, 3)));
      res *= 2;
    }
  }
  out_norm_ = register_module("out_norm", torch::nn::GroupNorm(g, cur));
  out_ = register_module("out", conv(cur, shape_[0], 3));
  zero_init(out_);
}

at::Tensor UNetImpl::run(Stage& s, const at::Tensor& x, const at::Tensor& emb) {
  at::Tensor h = s.res(x, emb);
  return s.attn ? s.attn(h) : h;
}

at::Tensor UNetImpl::forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) {
  RF_CHECK(x.dim() == 4 && x.size(1) == shape_[0] && x.size(2) == shape_[1] && x.size(3) == shape_[2],
           "U-Net input must be [B, " + std::to_string(shape_[0]) + ", " + std::to_string(shape_[1]) + ", " +
               std::to_string(shape_[2]) + "]",
           "unet", "");
  at::Tensor emb = emb2_(F::silu(emb1_(temb_->forward(t.to(x.scalar_type())))));
  if (num_classes_ > 0) {
    emb = emb + label_emb_(label_rows(c.labels, x, num_classes_));
  }
  std::vector<at::Tensor> skips;
  at::Tensor h = in_(x);
  skips.push_back(h);
  for (size_t l = 0; l < down_.size(); ++l) {
    for (auto& s : down_[l]) skips.push_back(h = run(s, h, emb));
    if (l < downsample_.size()) skips.push_back(h = downsample_[l](h));
  }
  h = run(mid2_, run(mid1_, h, emb), emb);
  for (size_t i = 0; i < up_.size(); ++i) {
    for (auto& s : up_[i]) {
      h = run(s, torch::cat({h, skips.back()}, 1), emb);
      skips.pop_back();
    }
    if (i < upsample_.size()) h = upsample_[i](F::interpolate(h, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest)));
  }
  return out_(norm_silu(out_norm_, h));
}

ModelEntry unet_entry() {
  ModelEntry e;
  e.options = [] { return AnyOptions::of<UNetOptions>(); };
  e.make = [](const ModelConfig& c, const std::vector<int64_t>& shape) -> VelocityField {
    return std::make_shared<UNetImpl>(c.get<UNetOptions>("unet"), shape, c.num_classes, c.time_embed, c.time_scale);
  };
  e.describe = [](const ModelConfig& c) { return std::to_string(c.get<UNetOptions>("unet").channels) + " channels"; };
  return e;
}

}  // namespace rflow
