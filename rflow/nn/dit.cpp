#include "rflow/nn/dit.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/label_rows.h"
#include "rflow/nn/layers/attention.h"
#include "rflow/nn/layers/gelu.h"
#include "rflow/nn/layers/linear.h"
#include "rflow/nn/layers/rope.h"
#include "rflow/nn/layers/silu.h"

namespace rflow {

namespace {
at::Tensor dense(const torch::nn::Linear& l, const at::Tensor& x) { return linear(x, l->weight, l->bias); }
// adaLN: LayerNorm without affine, then x·(1 + scale) + shift per sample.
at::Tensor modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale) {
  return torch::addcmul(shift.unsqueeze(1), x, scale.unsqueeze(1) + 1.0);
}
at::Tensor plain_norm(const at::Tensor& x) { return torch::layer_norm(x, {x.size(-1)}, {}, {}, 1e-6); }
torch::nn::LayerNorm layer_norm(int64_t d, bool affine = true) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(1e-6).elementwise_affine(affine));
}
void zero(torch::nn::Linear& l) {
  torch::NoGradGuard ng;
  l->weight.zero_();
  if (l->bias.defined()) l->bias.zero_();
}
}  // namespace

void DiTTextOptions::validate(const std::string& where) const {
  if (!enabled()) return;
  RF_CHECK(word_len >= 1 && char_len >= 0, "word_len must be >= 1 and char_len >= 0", where + ".word_len", "");
  TextEncoderOptions{words, word_len, word_dim, word_layers, heads}.validate(where + ".word");
  if (char_len > 0) TextEncoderOptions{260, char_len, char_dim, char_layers, heads}.validate(where + ".char");
}

void DiTOptions::validate(const std::string& where) const {
  RF_CHECK(patch >= 1 && patch <= 64, "patch must be in [1, 64]", where + ".patch", "e.g. 4 for 28 × 28 images");
  RF_CHECK(hidden >= 1 && depth >= 1 && heads >= 1, "hidden, depth and heads must be >= 1", where + ".hidden", "");
  RF_CHECK(hidden % heads == 0, fmt::format("hidden = {} is not divisible by heads = {}", hidden, heads),
           where + ".heads", "e.g. hidden = 128 with heads = 4");
  RF_CHECK(!rope || (hidden / heads) % 4 == 0,
           fmt::format("2-D rope needs a head size divisible by 4; hidden / heads = {}", hidden / heads),
           where + ".heads", "change hidden or heads, or set rope = false");
  RF_CHECK(rope_base >= 0, "rope_base must be >= 0", where + ".rope_base", "");
  RF_CHECK(mlp_ratio > 0 && std::isfinite(mlp_ratio), "mlp_ratio must be > 0", where + ".mlp_ratio", "");
  RF_CHECK(context_dim >= 0 && context_len >= 0, "context_dim and context_len must be >= 0", where + ".context_dim", "");
  RF_CHECK((context_dim > 0) == (context_len > 0), "context_dim and context_len go together",
           where + (context_dim > 0 ? ".context_len" : ".context_dim"), "set both (cross-attention) or neither");
  RF_CHECK(time_dim >= 2 && time_dim % 2 == 0, "time_dim must be even and >= 2", where + ".time_dim", "");
  RF_CHECK(ffn == "mlp" || ffn == "moe", "unknown feed-forward '" + ffn + "'", where + ".ffn", "use mlp or moe");
  RF_CHECK(moe_from >= 0 && moe_from <= depth, "moe_from must be in [0, depth]", where + ".moe_from", "");
  if (ffn == "moe") moe.validate(where + ".moe");
  text.validate(where + ".text");
  RF_CHECK(!text.enabled() || context_dim == 0, "with text encoders the context is theirs", where + ".context_dim",
           "leave context_dim and context_len at 0 (text.word_dim and text.word_len + text.char_len set them)");
}

DiTBlockImpl::DiTBlockImpl(const DiTOptions& opt, bool moe, bool skip_in) : opt_(opt), use_moe_(moe), skip_in_(skip_in) {
  reset();
}

void DiTBlockImpl::reset() {
  const int64_t D = opt_.hidden, hd = D / opt_.heads;
  ada_ = register_module("ada", torch::nn::Linear(D, 6 * D));
  zero(ada_);  // adaLN-Zero: every gate starts closed, each block starts as the identity
  qkv_ = register_module("qkv", torch::nn::Linear(D, 3 * D));
  proj_ = register_module("proj", torch::nn::Linear(D, D));
  if (opt_.qk_norm) {
    q_norm_ = register_module("q_norm", layer_norm(hd));
    k_norm_ = register_module("k_norm", layer_norm(hd));
  }
  if (opt_.context_dim > 0) {
    cross_norm_ = register_module("cross_norm", layer_norm(D));
    cq_ = register_module("cq", torch::nn::Linear(D, D));
    ckv_ = register_module("ckv", torch::nn::Linear(D, 2 * D));
    cproj_ = register_module("cproj", torch::nn::Linear(D, D));
    if (opt_.qk_norm) {
      cq_norm_ = register_module("cq_norm", layer_norm(hd));
      ck_norm_ = register_module("ck_norm", layer_norm(hd));
    }
  }
  if (skip_in_) {
    skip_norm_ = register_module("skip_norm", layer_norm(2 * D));
    skip_linear_ = register_module("skip_linear", torch::nn::Linear(2 * D, D));
  }
  if (use_moe_) {
    moe_ = register_module("moe", MoE(D, opt_.moe));
  } else {
    const int64_t h = std::max<int64_t>(1, std::llround(opt_.mlp_ratio * double(D)));
    fc1_ = register_module("fc1", torch::nn::Linear(D, h));
    fc2_ = register_module("fc2", torch::nn::Linear(h, D));
  }
}

at::Tensor DiTBlockImpl::heads_of(const at::Tensor& x) const {
  return x.view({x.size(0), x.size(1), opt_.heads, opt_.hidden / opt_.heads}).transpose(1, 2);
}

at::Tensor DiTBlockImpl::forward(const at::Tensor& x_in, const at::Tensor& c, const at::Tensor& angles,
                                 const at::Tensor& ctx, const at::Tensor& skip) {
  const int64_t B = x_in.size(0), T = x_in.size(1), D = opt_.hidden;
  at::Tensor x = x_in;
  if (skip_in_) x = dense(skip_linear_, skip_norm_(torch::cat({x, skip}, -1)));
  const auto m = dense(ada_, rflow::silu(c)).chunk(6, -1);
  // Self-attention.
  const auto qkv = dense(qkv_, modulate(plain_norm(x), m[0], m[1])).chunk(3, -1);
  at::Tensor q = heads_of(qkv[0]), k = heads_of(qkv[1]), v = heads_of(qkv[2]);
  if (q_norm_) q = q_norm_(q), k = k_norm_(k);
  if (angles.defined()) q = apply_rope(q, angles), k = apply_rope(k, angles);
  at::Tensor a = attention(q, k, v).transpose(1, 2).reshape({B, T, D});
  x = x + m[2].unsqueeze(1) * dense(proj_, a);
  // Cross-attention: rotary positions on the image queries only, so the text tokens' order does
  // not matter beyond what the context itself encodes.
  if (ctx.defined()) {
    at::Tensor cq = heads_of(dense(cq_, cross_norm_(x)));
    const auto kv = dense(ckv_, ctx).chunk(2, -1);
    at::Tensor ck = heads_of(kv[0]), cv = heads_of(kv[1]);
    if (cq_norm_) cq = cq_norm_(cq), ck = ck_norm_(ck);
    if (angles.defined()) cq = apply_rope(cq, angles);
    x = x + dense(cproj_, attention(cq, ck, cv).transpose(1, 2).reshape({B, T, D}));
  }
  // Feed-forward.
  const at::Tensor h = modulate(plain_norm(x), m[3], m[4]);
  const at::Tensor f = use_moe_ ? moe_->forward(h) : dense(fc2_, rflow::gelu_tanh(dense(fc1_, h)));
  return x + m[5].unsqueeze(1) * f;
}

DiTImpl::DiTImpl(DiTOptions opt, std::vector<int64_t> sample_shape, int64_t num_classes, std::string time_embed,
                 double time_scale)
    : opt_(std::move(opt)),
      shape_(std::move(sample_shape)),
      num_classes_(num_classes),
      time_embed_(std::move(time_embed)),
      time_scale_(time_scale) {
  RF_CHECK(shape_.size() == 3, "the DiT needs images [C, H, W], got " + c10::str(shape_), "model.arch",
           "use arch = mlp for flat data, temporal_unet for action chunks");
  opt_.validate("model.dit");
  if (opt_.text.enabled()) {  // the blocks cross-attend to the encoders' states
    opt_.context_dim = opt_.text.word_dim;
    opt_.context_len = opt_.text.word_len + opt_.text.char_len;
  }
  RF_CHECK(shape_[1] % opt_.patch == 0 && shape_[2] % opt_.patch == 0,
           fmt::format("patch = {} does not divide the {} × {} image", opt_.patch, shape_[1], shape_[2]),
           "model.dit.patch", "choose a patch size that divides both sides (28 × 28: 2, 4, 7, 14)");
  rows_ = shape_[1] / opt_.patch;
  cols_ = shape_[2] / opt_.patch;
  reset();
}

void DiTImpl::reset() {
  const int64_t D = opt_.hidden, C = shape_[0], p = opt_.patch;
  temb_ = register_module("temb", std::make_shared<TimeEmbeddingImpl>(time_embed_, opt_.time_dim, time_scale_));
  t1_ = register_module("t1", torch::nn::Linear(opt_.time_dim, D));
  t2_ = register_module("t2", torch::nn::Linear(D, D));
  if (num_classes_ > 0) label_emb_ = register_module("label_emb", torch::nn::Embedding(num_classes_ + 1, D));
  patch_embed_ = register_module("patch_embed", torch::nn::Conv2d(torch::nn::Conv2dOptions(C, D, p).stride(p)));
  const int64_t T = rows_ * cols_;
  if (opt_.rope) {
    auto [col, row] = patch_coordinates(rows_, cols_, opt_.rope_base);
    angles_ = rope_angles_2d(col, row, D / opt_.heads);
  } else {
    pos_emb_ = register_parameter("pos_emb", torch::randn({T, D}) * 0.02);
  }
  if (opt_.text.enabled()) {
    const DiTTextOptions& tx = opt_.text;
    word_enc_ = register_module("word_enc", TextEncoder(TextEncoderOptions{tx.words, tx.word_len, tx.word_dim, tx.word_layers, tx.heads}));
    if (tx.char_len > 0) {
      char_enc_ = register_module("char_enc", TextEncoder(TextEncoderOptions{260, tx.char_len, tx.char_dim, tx.char_layers, tx.heads}));
      char_fc1_ = register_module("char_fc1", torch::nn::Linear(tx.char_dim, 4 * tx.word_dim));
      char_fc2_ = register_module("char_fc2", torch::nn::Linear(4 * tx.word_dim, tx.word_dim));
    }
  }
  if (opt_.context_dim > 0) {
    ctx_proj_ = register_module("ctx_proj", torch::nn::Linear(opt_.context_dim, D));
    ctx_padding_ = register_parameter("ctx_padding", torch::randn({opt_.context_len, D}) * 0.02);
    ctx_pool_ = register_module("ctx_pool", torch::nn::Linear(D, D));
  }
  blocks_.clear();
  const auto pairs = skip_pairs();
  for (int64_t i = 0; i < opt_.depth; ++i) {
    const bool pops = std::any_of(pairs.begin(), pairs.end(), [&](const auto& pr) { return pr.second == i; });
    blocks_.push_back(register_module("block" + std::to_string(i),
                                      DiTBlock(opt_, opt_.ffn == "moe" && i >= opt_.moe_from, pops)));
  }
  final_norm_ = register_module("final_norm", layer_norm(D, false));
  final_ada_ = register_module("final_ada", torch::nn::Linear(D, 2 * D));
  final_ = register_module("final", torch::nn::Linear(D, p * p * C));
  zero(final_ada_);
  zero(final_);  // an untrained field predicts v = 0
}

std::vector<std::pair<int64_t, int64_t>> DiTImpl::skip_pairs() const {
  std::vector<std::pair<int64_t, int64_t>> out;
  if (!opt_.long_skips) return out;
  // Blocks 0 … n−1 push, blocks L−n … L−1 pop (last in, first out): i pairs with L−1−i; the
  // middle one or two blocks take part in neither.
  const int64_t L = opt_.depth, n = (L - 1) / 2;
  for (int64_t i = 0; i < n; ++i) out.emplace_back(i, L - 1 - i);
  return out;
}

at::Tensor DiTImpl::encode_text(const at::Tensor& ids, const at::Tensor& mask) const {
  const int64_t Lw = opt_.text.word_len, Lc = opt_.text.char_len;
  RF_CHECK(ids.dim() == 2 && ids.size(1) == Lw + Lc && ids.scalar_type() == at::kLong,
           fmt::format("text conditioning needs token ids [B, {}] int64 (words then characters), got {}", Lw + Lc,
                       c10::str(ids.sizes())),
           "model.dit.text", "match word_len / char_len to the data's max_words / max_chars");
  const at::Tensor m = mask.defined() ? mask : torch::ones(ids.sizes(), ids.options().dtype(at::kFloat));
  at::Tensor states = word_enc_.ptr()->forward(ids.narrow(1, 0, Lw), m.narrow(1, 0, Lw));
  if (Lc == 0) return states;
  const at::Tensor ch = char_enc_.ptr()->forward(ids.narrow(1, Lw, Lc), m.narrow(1, Lw, Lc));
  return torch::cat({states, dense(char_fc2_, rflow::silu(dense(char_fc1_, ch)))}, 1);
}

at::Tensor DiTImpl::context_tokens(const Cond& c, int64_t B) const {
  const int64_t L = opt_.context_len, D = opt_.hidden;
  const at::Tensor pad = ctx_padding_.unsqueeze(0).expand({B, L, D});
  if (!c.context.defined()) return pad;
  // Text ids are read by the encoders first; a float context is taken as it is.
  const at::Tensor context = opt_.text.enabled() ? encode_text(c.context, c.mask) : c.context;
  RF_CHECK(context.dim() == 3 && context.size(0) == B && context.size(2) == opt_.context_dim,
           "context must be [B, T, " + std::to_string(opt_.context_dim) + "], got " + c10::str(context.sizes()),
           "model.dit.context_dim", "");
  const int64_t T = context.size(1);
  RF_CHECK(T <= L, fmt::format("a context of {} tokens is longer than context_len = {}", T, L), "model.dit.context_len",
           "raise context_len");
  at::Tensor ctx = dense(ctx_proj_, context.to(ctx_padding_.scalar_type()));
  if (T < L) ctx = torch::cat({ctx, torch::zeros({B, L - T, D}, ctx.options())}, 1);
  at::Tensor present = torch::zeros({B, L}, ctx.options().dtype(at::kBool));
  if (c.mask.defined()) {
    RF_CHECK(c.mask.sizes() == context.sizes().slice(0, 2), "mask must be [B, T] like the context", "cond.mask", "");
    present.narrow(1, 0, T).copy_(c.mask.to(at::kBool));
  } else {
    present.narrow(1, 0, T).fill_(true);
  }
  return torch::where(present.unsqueeze(-1), ctx, pad);
}

bool DiTImpl::takes_shape(const std::vector<int64_t>& shape) const {
  if (shape == shape_) return true;
  return opt_.rope && shape.size() == 3 && shape[0] == shape_[0] && shape[1] >= opt_.patch && shape[2] >= opt_.patch &&
         shape[1] % opt_.patch == 0 && shape[2] % opt_.patch == 0;
}

at::Tensor DiTImpl::forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) {
  const int64_t B = x.size(0), C = shape_[0], p = opt_.patch;
  RF_CHECK(x.dim() == 4 && takes_shape(x.sizes().slice(1).vec()),
           "input of shape " + c10::str(x.sizes()) + " does not match the model's " + c10::str(shape_), "model.dit",
           opt_.rope ? "its sides must be multiples of the patch size" : "learned positions fix the grid: use rope = true for several shapes");
  const int64_t rows = x.size(2) / p, cols = x.size(3) / p;
  at::Tensor cond = dense(t2_, rflow::silu(dense(t1_, temb_->forward(t))));
  if (num_classes_ > 0) {
    cond = cond + label_emb_->forward(label_rows(c.labels, x, num_classes_));
  }
  at::Tensor ctx;
  if (opt_.context_dim > 0) {
    ctx = context_tokens(c, B);
    cond = cond + dense(ctx_pool_, ctx.mean(1));  // Hunyuan-DiT adds a pooled text vector to c
  }
  at::Tensor h = patch_embed_(x).flatten(2).transpose(1, 2);  // [B, T, D], patches row by row
  at::Tensor angles;
  if (opt_.rope && (rows != rows_ || cols != cols_)) {
    // Another aspect ratio: its own grid's positions (centred in the same box with rope_base).
    auto [col, row] = patch_coordinates(rows, cols, opt_.rope_base);
    angles = rope_angles_2d(col, row, opt_.hidden / opt_.heads).to(x.device(), h.scalar_type());
  } else if (opt_.rope) {
    if (angles_.device() != x.device()) angles_ = angles_.to(x.device());
    angles = angles_.to(h.scalar_type());
  } else {
    h = h + pos_emb_;
  }
  const auto pairs = skip_pairs();
  std::vector<at::Tensor> skips;
  for (int64_t i = 0; i < opt_.depth; ++i) {
    const bool pops = !pairs.empty() && i >= opt_.depth - int64_t(pairs.size());
    at::Tensor skip;
    if (pops) {
      skip = skips.back();
      skips.pop_back();
    }
    h = blocks_[i]->forward(h, cond, angles, ctx, skip);
    if (i < int64_t(pairs.size())) skips.push_back(h);
  }
  const auto m = dense(final_ada_, rflow::silu(cond)).chunk(2, -1);
  h = dense(final_, modulate(final_norm_(h), m[0], m[1]));  // [B, T, p·p·C]
  return h.view({B, rows, cols, p, p, C}).permute({0, 5, 1, 3, 2, 4}).reshape(x.sizes());
}

std::vector<MoE> DiTImpl::moe_layers() const {
  std::vector<MoE> out;
  for (const auto& b : blocks_)
    if (b->moe()) out.push_back(b->moe());
  return out;
}

at::Tensor DiTImpl::auxiliary_loss() { return take_balance_losses(moe_layers()); }

std::map<std::string, at::Tensor> DiTImpl::after_step() { return update_biases(moe_layers()); }

std::vector<at::Tensor> DiTImpl::summed_statistics() {
  std::vector<at::Tensor> loads;
  for (const MoE& m : moe_layers())
    if (m->load().defined()) loads.push_back(m->load());  // the same storage: summed in place
  return loads;
}

ModelEntry dit_entry() {
  ModelEntry e;
  e.options = [] { return AnyOptions::of<DiTOptions>(); };
  e.make = [](const ModelConfig& c, const std::vector<int64_t>& shape) -> VelocityField {
    return std::make_shared<DiTImpl>(c.get<DiTOptions>("dit"), shape, c.num_classes, c.time_embed, c.time_scale);
  };
  e.describe = [](const ModelConfig& c) {
    const auto& o = c.get<DiTOptions>("dit");
    std::string s = fmt::format("{} blocks × {}, patch {}", o.depth, o.hidden, o.patch);
    if (o.ffn == "moe") s += fmt::format(", MoE {}+{} experts top {}", o.moe.routed, o.moe.shared, o.moe.top_k);
    return s;
  };
  return e;
}

}  // namespace rflow
