#include "rflow/nn/layers/moe.h"

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/linear.h"
#include "rflow/nn/layers/silu.h"

namespace rflow {

void MoEOptions::validate(const std::string& where) const {
  const std::string w = where + ".";
  RF_CHECK(routed >= 1 && routed <= 4096, "experts must be in [1, 4096]", w + "experts", "");
  RF_CHECK(shared >= 0, "shared must be >= 0", w + "shared", "");
  RF_CHECK(top_k >= 1 && top_k <= routed, "top_k must be in [1, experts]", w + "top_k", "");
  RF_CHECK(hidden >= 1, "hidden must be >= 1", w + "hidden", "");
  RF_CHECK(groups >= 1 && routed % groups == 0, "groups must divide the number of experts", w + "groups",
           "e.g. 8 experts in 4 groups");
  RF_CHECK(limited_groups >= 1 && limited_groups <= groups, "limited_groups must be in [1, groups]",
           w + "limited_groups", "");
  RF_CHECK(limited_groups * (routed / groups) >= top_k, "limited_groups leave fewer experts than top_k",
           w + "limited_groups", "raise limited_groups or lower top_k");
  RF_CHECK(score == "sigmoid" || score == "softmax", "unknown gate score '" + score + "'", w + "score",
           "use sigmoid or softmax");
  RF_CHECK(route_scale > 0, "route_scale must be > 0", w + "route_scale", "");
  RF_CHECK(bias_rate >= 0 && balance_loss >= 0, "bias_rate and balance_loss must be >= 0", w + "bias_rate", "");
}

SwiGLUImpl::SwiGLUImpl(int64_t dim, int64_t hidden) : dim_(dim), hidden_(hidden) { reset(); }

void SwiGLUImpl::reset() {
  w1_ = register_module("w1", torch::nn::Linear(torch::nn::LinearOptions(dim_, hidden_).bias(false)));
  w2_ = register_module("w2", torch::nn::Linear(torch::nn::LinearOptions(hidden_, dim_).bias(false)));
  w3_ = register_module("w3", torch::nn::Linear(torch::nn::LinearOptions(dim_, hidden_).bias(false)));
}

at::Tensor SwiGLUImpl::forward(const at::Tensor& x) {
  return rflow::linear(rflow::silu(rflow::linear(x, w1_->weight)) * rflow::linear(x, w3_->weight), w2_->weight);
}

MoEImpl::MoEImpl(int64_t dim, MoEOptions opt) : dim_(dim), opt_(std::move(opt)) {
  opt_.validate("moe");
  reset();
}

void MoEImpl::reset() {
  const int64_t E = opt_.routed;
  gate_weight = register_parameter("gate", torch::randn({E, dim_}) / std::sqrt(double(dim_)));
  routing_bias = register_buffer("routing_bias", torch::zeros({E}));
  experts_ = register_module("experts", torch::nn::ModuleList());
  for (int64_t i = 0; i < E; ++i) experts_->push_back(SwiGLU(dim_, opt_.hidden));
  if (opt_.shared > 0) shared_ = register_module("shared", SwiGLU(dim_, opt_.shared * opt_.hidden));
  load_ = torch::zeros({E}, torch::kFloat64);
  balance_ = at::Tensor();
}

Routing MoEImpl::route(const at::Tensor& x) const {
  const int64_t E = opt_.routed, K = opt_.top_k;
  // Scores in fp32 whatever the activations are (DeepSeek-V3 gates in fp32).
  const at::Tensor logits = at::linear(x.to(at::kFloat), gate_weight.to(at::kFloat));
  Routing r;
  r.scores = opt_.score == "sigmoid" ? torch::sigmoid(logits) : torch::softmax(logits, -1);
  // The bias steers which experts are chosen; it never enters the weights.
  at::Tensor sel = r.scores.detach() + routing_bias.to(at::kFloat);
  if (opt_.groups > 1) {
    const int64_t G = opt_.groups, per = E / G;
    const at::Tensor grouped = sel.view({-1, G, per});
    // Group score: the sum of its best two (biased) scores (V3), one when a group has one expert.
    const at::Tensor gscore = std::get<0>(grouped.topk(std::min<int64_t>(2, per), -1)).sum(-1);
    const at::Tensor keep = std::get<1>(gscore.topk(opt_.limited_groups, -1));
    const at::Tensor gmask = torch::zeros({sel.size(0), G}, sel.options().dtype(at::kBool)).scatter_(1, keep, true);
    sel = grouped.masked_fill(gmask.logical_not().unsqueeze(-1), -std::numeric_limits<double>::infinity()).view({-1, E});
  }
  r.experts = std::get<1>(sel.topk(K, -1));
  r.weights = r.scores.gather(1, r.experts);
  if (opt_.score == "sigmoid") r.weights = r.weights / r.weights.sum(-1, true);
  r.weights = r.weights * opt_.route_scale;
  return r;
}

at::Tensor MoEImpl::forward(const at::Tensor& x) {
  RF_CHECK((x.dim() == 2 || x.dim() == 3) && x.size(-1) == dim_,
           "MoE input must be [N, " + std::to_string(dim_) + "] or [B, T, " + std::to_string(dim_) + "], got " +
               c10::str(x.sizes()),
           "moe", "");
  const int64_t E = opt_.routed, K = opt_.top_k;
  const at::Tensor x2 = x.reshape({-1, dim_});
  const int64_t N = x2.size(0);
  Routing r = route(x2);
  // Dispatch: sort the N·K (token, expert) assignments by expert, run each expert once on its
  // tokens' rows and add its weighted output back at those rows.
  const at::Tensor flat_expert = r.experts.reshape({-1});
  const at::Tensor order = flat_expert.argsort();
  const at::Tensor token_of = order.div(K, "floor");
  const at::Tensor weight_of = r.weights.reshape({-1}).index_select(0, order).unsqueeze(1).to(x.scalar_type());
  const at::Tensor counts = torch::bincount(flat_expert, {}, E);
  const auto counts_cpu = counts.cpu();
  const int64_t* c = counts_cpu.data_ptr<int64_t>();
  at::Tensor y = shared_ ? shared_->forward(x2) : torch::zeros_like(x2);
  int64_t begin = 0;
  for (int64_t e = 0; e < E; ++e) {
    if (c[e] == 0) continue;
    const at::Tensor rows = token_of.slice(0, begin, begin + c[e]);
    const at::Tensor out = experts_[e]->as<SwiGLUImpl>()->forward(x2.index_select(0, rows));
    y = y.index_add(0, rows, out * weight_of.slice(0, begin, begin + c[e]));
    begin += c[e];
  }
  if (is_training() && at::GradMode::is_enabled()) {
    load_ = load_.to(counts.device()).add(counts.to(at::kDouble));
    if (opt_.balance_loss > 0) {
      // Per sequence: f_i = E/(K·T)·(tokens routed to i), P_i = mean over t of the normalised scores.
      const int64_t T = x.dim() == 3 ? x.size(1) : N;
      const int64_t S = N / T;
      const at::Tensor chosen = torch::zeros({N, E}, r.scores.options()).scatter_(1, r.experts, 1.0);
      const at::Tensor f = chosen.view({S, T, E}).sum(1) * (double(E) / double(K * T));
      const at::Tensor P = (r.scores / r.scores.sum(-1, true)).view({S, T, E}).mean(1);
      const at::Tensor l = (f * P).sum(-1).mean() * opt_.balance_loss;
      balance_ = balance_.defined() ? balance_ + l : l;
    }
  }
  return y.view(x.sizes());
}

std::map<std::string, at::Tensor> MoEImpl::update_bias() {
  std::map<std::string, at::Tensor> out;
  const at::Tensor load = load_;
  load_ = torch::zeros_like(load_);
  const at::Tensor mean = load.mean();
  if (mean.item<double>() <= 0) return out;
  if (opt_.bias_rate > 0) {
    torch::NoGradGuard ng;
    routing_bias.add_((torch::sign(mean - load) * opt_.bias_rate).to(routing_bias.options()));
  }
  out["moe_load_max"] = load.max() / mean;
  out["moe_load_cv"] = load.std(false) / mean;
  return out;
}

at::Tensor MoEImpl::take_balance_loss() {
  at::Tensor l = balance_;
  balance_ = at::Tensor();
  return l;
}

std::map<std::string, at::Tensor> update_biases(const std::vector<MoE>& layers) {
  std::map<std::string, at::Tensor> sum;
  int64_t n = 0;
  for (MoE m : layers) {
    auto r = m->update_bias();
    if (r.empty()) continue;
    ++n;
    for (auto& [k, v] : r) sum[k] = sum.count(k) ? sum[k] + v : v;
  }
  for (auto& [k, v] : sum) v = v / double(n);
  return sum;
}

at::Tensor take_balance_losses(const std::vector<MoE>& layers) {
  at::Tensor total;
  for (MoE m : layers)
    if (at::Tensor l = m->take_balance_loss(); l.defined()) total = total.defined() ? total + l : l;
  return total;
}

}  // namespace rflow
