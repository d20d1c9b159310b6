// DeepSeekMoE feed-forward layer: shared experts that every token uses plus fine-grained routed
// experts of which each token takes its top k. Routing follows DeepSeek-V3: the selection adds a
// per-expert bias (a buffer, no gradient) that the trainer nudges after each optimiser step by
// γ·sign(mean load − load), so the load balances without an auxiliary loss; the mixing weights
// come from the unbiased scores. A sequence-wise balance loss (α · Σ f_i·P_i) can be switched on.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>

namespace rflow {

struct MoEOptions {
  int64_t routed = 8;          // N_r fine-grained routed experts
  int64_t shared = 1;          // N_s shared experts (fused into one SwiGLU of N_s × hidden)
  int64_t top_k = 2;           // K_r experts per token
  int64_t hidden = 128;        // each expert's SwiGLU hidden size
  int64_t groups = 1;          // group-limited routing: experts in `groups` groups ...
  int64_t limited_groups = 1;  // ... of which a token may use this many
  std::string score = "sigmoid";  // sigmoid (V3: weights renormalised) | softmax (V2)
  double route_scale = 1.0;
  double bias_rate = 1e-3;     // γ of the bias update (0 = routing bias frozen)
  double balance_loss = 0.0;   // α of the sequence-wise balance loss (0 = off; V3: 1e-4)

  template <class V>
  void visit(V& v) {
    v("experts", routed, "routed experts (fine-grained; each token takes top_k of them)");
    v("shared", shared, "shared experts, always used");
    v("top_k", top_k, "routed experts per token");
    v("hidden", hidden, "hidden size of each expert's SwiGLU");
    v("groups", groups, "expert groups for group-limited routing (1 = none)");
    v("limited_groups", limited_groups, "groups a token may route into");
    v("score", score, "gate scores: sigmoid (DeepSeek-V3, weights renormalised) | softmax");
    v("route_scale", route_scale, "factor on the routing weights");
    v("bias_rate", bias_rate, "γ: after each optimiser step every expert's routing bias moves by γ toward balanced load (aux-loss-free; 0 = frozen)");
    v("balance_loss", balance_loss, "α of the sequence-wise balance loss α·Σ f·P (0 = off; DeepSeek-V3 1e-4)");
  }
  void validate(const std::string& where) const;
};

// w2(silu(w1 x) ⊙ w3 x), the expert and dense feed-forward of DeepSeek models.
class SwiGLUImpl : public torch::nn::Cloneable<SwiGLUImpl> {
 public:
  SwiGLUImpl(int64_t dim, int64_t hidden);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);

 private:
  int64_t dim_, hidden_;
  torch::nn::Linear w1_{nullptr}, w2_{nullptr}, w3_{nullptr};
};
TORCH_MODULE(SwiGLU);

struct Routing {
  at::Tensor experts;  // [N, K] int64
  at::Tensor weights;  // [N, K] mixing weights (from the unbiased scores)
  at::Tensor scores;   // [N, E] unbiased gate scores (sigmoid or softmax of the logits)
};

class MoEImpl : public torch::nn::Cloneable<MoEImpl> {
 public:
  MoEImpl(int64_t dim, MoEOptions opt);
  void reset() override;
  // x [B, T, D] (T tokens per sequence, for the balance loss) or [N, D].
  at::Tensor forward(const at::Tensor& x);
  Routing route(const at::Tensor& x2d) const;  // the gate alone, on [N, D]

  // Tokens routed to each expert [E] since the last update_bias (training forwards with grad).
  const at::Tensor& load() const { return load_; }
  // The bias rule on the accumulated load; clears it. Returns the load's max / mean and coefficient
  // of variation before the update (undefined when no token was routed).
  std::map<std::string, at::Tensor> update_bias();
  // The balance loss of the training forwards since the last call (undefined when off); clears it.
  at::Tensor take_balance_loss();

  const MoEOptions& options() const { return opt_; }
  at::Tensor gate_weight, routing_bias;  // [E, D] parameter; [E] buffer

 private:
  int64_t dim_;
  MoEOptions opt_;
  torch::nn::ModuleList experts_{nullptr};
  SwiGLU shared_{nullptr};
  at::Tensor load_, balance_;
};
TORCH_MODULE(MoE);

// Over a model's MoE layers: each one's bias update, metrics averaged over the layers that routed
// tokens; and the sum of their pending balance losses (undefined when none).
std::map<std::string, at::Tensor> update_biases(const std::vector<MoE>& layers);
at::Tensor take_balance_losses(const std::vector<MoE>& layers);

}  // namespace rflow
