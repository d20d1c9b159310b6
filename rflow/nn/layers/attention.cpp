#include "rflow/nn/layers/attention.h"

#include <cmath>

#include <torch/torch.h>
#include <torch/version.h>

#include "rflow/core/error.h"

namespace rflow {

at::Tensor causal_allowed(int64_t tq, int64_t tk, int64_t open_tail, const at::Tensor& like) {
  RF_CHECK(tk >= tq, "causal attention needs at least as many keys as queries", "attention", "");
  RF_CHECK(open_tail >= 0 && open_tail <= tq, "open_tail must be in 0 … the number of queries", "attention", "");
  const at::Tensor allowed = torch::ones({tq, tk}, like.options().dtype(at::kBool)).tril(tk - tq);
  if (open_tail > 0) allowed.narrow(0, tq - open_tail, open_tail).narrow(1, tk - open_tail, open_tail).fill_(true);
  return allowed;
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionMask& mask,
                     double scale) {
  RF_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4 && q.size(-1) == k.size(-1) && k.size(2) == v.size(2),
           "attention needs q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv]; got " + c10::str(q.sizes()) + ", " +
               c10::str(k.sizes()) + ", " + c10::str(v.sizes()),
           "attention", "");
  const int64_t tq = q.size(2), tk = k.size(2);
  const double s = scale > 0 ? scale : 1.0 / std::sqrt(double(q.size(-1)));
  // The fused kernel only on CUDA (in LibTorch 1.13 its CPU path is the one below), only without a key
  // mask (all-masked rows must read 0, not NaN) and with causal masks only when square: the fused
  // kernel aligns a causal mask top-left, ours aligns it bottom-right (queries are the last tokens).
  if (q.is_cuda() && !mask.keys.defined() && mask.open_tail == 0 && (!mask.causal || tq == tk)) {
#if TORCH_VERSION_MAJOR >= 2
    return at::scaled_dot_product_attention(q, k, v, {}, 0.0, mask.causal, s);
#else
    if (std::abs(s * std::sqrt(double(q.size(-1))) - 1.0) < 1e-12)  // 1.13's takes the default scale only
      return std::get<0>(at::_scaled_dot_product_attention(q, k, v, c10::nullopt, 0.0, false, mask.causal));
#endif
  }
  at::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) * s;
  at::Tensor allowed;
  if (mask.causal) {
    allowed = causal_allowed(tq, tk, mask.open_tail, q);
  } else {
    RF_CHECK(mask.open_tail == 0, "open_tail needs a causal mask", "attention", "");
  }
  if (mask.keys.defined()) {
    const at::Tensor keys = mask.keys.to(at::kBool).view({mask.keys.size(0), 1, 1, tk});
    allowed = allowed.defined() ? allowed.logical_and(keys) : keys;
  }
  if (!allowed.defined()) return torch::matmul(torch::softmax(scores, -1), v);
  scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
  // All keys masked: softmax would give NaN; such a query reads nothing.
  at::Tensor p = torch::softmax(scores, -1).nan_to_num(0.0);
  return torch::matmul(p, v);
}

}  // namespace rflow
