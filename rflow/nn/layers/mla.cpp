#include "rflow/nn/layers/mla.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/attention.h"
#include "rflow/nn/layers/rope.h"

namespace rflow {

void MLAOptions::validate(const std::string& where) const {
  RF_CHECK(heads >= 1, "heads must be >= 1", where + ".heads", "");
  RF_CHECK(q_rank >= 0 && kv_rank >= 1, "kv_rank must be >= 1 and q_rank >= 0", where + ".kv_rank", "");
  RF_CHECK(nope_dim >= 1 && v_dim >= 1, "nope_dim and v_dim must be >= 1", where + ".nope_dim", "");
  RF_CHECK(rope_dim >= 2 && rope_dim % 2 == 0, "rope_dim must be even and >= 2", where + ".rope_dim", "");
}

int64_t LatentCache::bytes_per_token() const {
  if (!latent.defined()) return 0;
  return (latent.size(-1) + rope_key.size(-1)) * int64_t(latent.element_size());
}

MLAImpl::MLAImpl(int64_t dim, MLAOptions opt) : dim_(dim), opt_(opt) {
  opt_.validate("mla");
  reset();
}

void MLAImpl::reset() {
  const auto& o = opt_;
  const int64_t qk = o.nope_dim + o.rope_dim;
  auto lin = [](int64_t in, int64_t out) { return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)); };
  if (o.q_rank == 0) {
    wq_ = register_module("wq", lin(dim_, o.heads * qk));
  } else {
    wq_a_ = register_module("wq_a", lin(dim_, o.q_rank));
    q_norm_ = register_module("q_norm", RMSNorm(o.q_rank));
    wq_b_ = register_module("wq_b", lin(o.q_rank, o.heads * qk));
  }
  wkv_a_ = register_module("wkv_a", lin(dim_, o.kv_rank + o.rope_dim));
  kv_norm_ = register_module("kv_norm", RMSNorm(o.kv_rank));
  wkv_b_ = register_module("wkv_b", lin(o.kv_rank, o.heads * (o.nope_dim + o.v_dim)));
  wo_ = register_module("wo", lin(o.heads * o.v_dim, dim_));
}

MLAImpl::Projected MLAImpl::project(const at::Tensor& x, int64_t start) {
  const auto& o = opt_;
  const int64_t B = x.size(0), T = x.size(1);
  const at::Tensor pos = torch::arange(start, start + T, x.options().dtype(at::kDouble));
  const at::Tensor angles = rope_angles(pos, o.rope_dim, o.theta).to(x.scalar_type());
  at::Tensor q = o.q_rank == 0 ? wq_(x) : wq_b_(q_norm_(wq_a_(x)));
  q = q.view({B, T, o.heads, o.nope_dim + o.rope_dim}).transpose(1, 2);
  Projected p;
  p.q_nope = q.narrow(-1, 0, o.nope_dim);
  p.q_rope = apply_rope(q.narrow(-1, o.nope_dim, o.rope_dim), angles);
  const at::Tensor kv = wkv_a_(x);
  p.latent = kv_norm_(kv.narrow(-1, 0, o.kv_rank));
  p.k_rope = apply_rope(kv.narrow(-1, o.kv_rank, o.rope_dim), angles);
  return p;
}

at::Tensor MLAImpl::forward(const at::Tensor& x, int64_t start, int64_t open_tail) {
  RF_CHECK(x.dim() == 3 && x.size(-1) == dim_, "MLA input must be [B, T, " + std::to_string(dim_) + "]", "mla", "");
  const auto& o = opt_;
  const int64_t B = x.size(0), T = x.size(1);
  Projected p = project(x, start);
  const at::Tensor kv = wkv_b_(p.latent).view({B, T, o.heads, o.nope_dim + o.v_dim}).transpose(1, 2);
  const at::Tensor k = torch::cat({kv.narrow(-1, 0, o.nope_dim),
                                   p.k_rope.unsqueeze(1).expand({B, o.heads, T, o.rope_dim})}, -1);
  const at::Tensor q = torch::cat({p.q_nope, p.q_rope}, -1);
  const at::Tensor out = attention(q, k, kv.narrow(-1, o.nope_dim, o.v_dim), AttentionMask{{}, true, open_tail});
  return wo_(out.transpose(1, 2).reshape({B, T, o.heads * o.v_dim}));
}

at::Tensor MLAImpl::decode(const at::Tensor& x, LatentCache& cache, int64_t max_len, int64_t open_tail) {
  RF_CHECK(x.dim() == 3 && x.size(-1) == dim_, "MLA input must be [B, T, " + std::to_string(dim_) + "]", "mla", "");
  const auto& o = opt_;
  const int64_t B = x.size(0), T = x.size(1);
  if (!cache.latent.defined()) {
    cache.latent = torch::zeros({B, max_len, o.kv_rank}, x.options());
    cache.rope_key = torch::zeros({B, max_len, o.rope_dim}, x.options());
    cache.length = 0;
  }
  const int64_t start = cache.length, end = start + T;
  RF_CHECK(cache.latent.size(0) == B, "the cache holds another batch size", "mla", "start a new LatentCache");
  RF_CHECK(end <= cache.latent.size(1),
           "the cache holds " + std::to_string(cache.latent.size(1)) + " tokens; " + std::to_string(end) + " needed",
           "mla", "allocate the cache for the whole sequence (max_len)");
  Projected p = project(x, start);
  cache.latent.narrow(1, start, T).copy_(p.latent);
  cache.rope_key.narrow(1, start, T).copy_(p.k_rope);
  cache.length = end;
  const at::Tensor c = cache.latent.narrow(1, 0, end), kr = cache.rope_key.narrow(1, 0, end);
  // Head i's slices of the up-projection: W_UK [H, d_h, d_c], W_UV [H, d_v, d_c].
  const at::Tensor w = wkv_b_->weight.view({o.heads, o.nope_dim + o.v_dim, o.kv_rank});
  const at::Tensor w_uk = w.narrow(1, 0, o.nope_dim), w_uv = w.narrow(1, o.nope_dim, o.v_dim);
  // Scores: (W_UKᵀ qC)·c_s + qR·kR_s, the key up-projection absorbed into the query.
  const at::Tensor q_lat = torch::einsum("bhtd,hdc->bhtc", {p.q_nope, w_uk});
  at::Tensor scores = torch::einsum("bhtc,bsc->bhts", {q_lat, c}) + torch::einsum("bhtr,bsr->bhts", {p.q_rope, kr});
  scores = scores * (1.0 / std::sqrt(double(o.nope_dim + o.rope_dim)));
  const at::Tensor allowed = causal_allowed(T, end, open_tail, x);
  scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
  const at::Tensor prob = torch::softmax(scores, -1);
  // Attend in the latent space, then up-project to each head's values.
  const at::Tensor out = torch::einsum("bhtc,hdc->bhtd", {torch::einsum("bhts,bsc->bhtc", {prob, c}), w_uv});
  return wo_(out.transpose(1, 2).reshape({B, T, o.heads * o.v_dim}));
}

}  // namespace rflow
