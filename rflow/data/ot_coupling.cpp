#include "rflow/data/ot_coupling.h"

#include "rflow/data/coupling.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/algorithms/assignment.h"

namespace rflow {

void OtConfig::validate(const std::string& where) const {
  RF_CHECK(method == "exact" || method == "sinkhorn", "unknown OT method '" + method + "'", where + ".method",
           "valid: exact | sinkhorn");
  RF_CHECK(std::isfinite(epsilon) && epsilon > 0, "epsilon must be finite and > 0", where + ".epsilon",
           "it is relative to the mean squared distance; 0.01–0.1 is close to exact OT");
  RF_CHECK(iterations >= 1, "iterations must be >= 1", where + ".iterations", "");
}

namespace {

// Solves the assignment on a [n, n] float64 cost and returns row -> column as an int64 tensor.
at::Tensor assign(const at::Tensor& cost) {
  auto c = cost.contiguous();
  auto perm = linear_assignment(c.data_ptr<double>(), c.size(0));
  return torch::tensor(perm, torch::kInt64);
}

void check_batch(const Batch& b, const char* what) {
  RF_CHECK(b.x0.defined() && b.x1.defined(), std::string(what) + ": batch has no x0 or x1", "ot",
           "the wrapped BatchSource must fill both ends");
  RF_CHECK(b.x0.dim() >= 1 && b.x1.dim() >= 1 && b.x0.size(0) == b.x1.size(0),
           std::string(what) + ": x0 and x1 differ in batch size", "ot", "");
  const int64_t n = b.x0.size(0);
  RF_CHECK(n == 0 || b.x0.numel() == b.x1.numel(), std::string(what) + ": x0 and x1 rows differ in size", "ot",
           "both ends of a flow must live in the same space");
  b.cond.check_batch(n, std::string("ot: ") + what);
}

}  // namespace

at::Tensor ot_cost_matrix(const at::Tensor& x0, const at::Tensor& x1) {
  auto a = x0.detach().to(torch::kCPU, torch::kFloat64).reshape({x0.size(0), -1});
  auto b = x1.detach().to(torch::kCPU, torch::kFloat64).reshape({x1.size(0), -1});
  RF_CHECK(a.size(1) == b.size(1), "x0 and x1 rows differ in size", "ot", "");
  // The expanded form needs no [n, m, D] temporary; clamping removes the tiny negatives that
  // cancellation leaves on coincident points.
  auto c = a.pow(2).sum(1).unsqueeze(1) + b.pow(2).sum(1).unsqueeze(0) - 2 * torch::matmul(a, b.t());
  c = c.clamp_min(0);
  RF_CHECK(torch::isfinite(c).all().item<bool>(), "non-finite values in the batch", "ot",
           "check the data; an OT plan needs finite distances");
  return c;
}

at::Tensor sinkhorn_log_plan(const at::Tensor& cost, double epsilon, int64_t iterations) {
  RF_CHECK(cost.dim() == 2 && cost.size(0) > 0 && cost.size(1) > 0, "cost must be a non-empty matrix",
           "sinkhorn", "");
  RF_CHECK(std::isfinite(epsilon) && epsilon > 0, "epsilon must be finite and > 0", "sinkhorn", "");
  RF_CHECK(iterations >= 1, "iterations must be >= 1", "sinkhorn", "");
  auto c = cost.to(torch::kCPU, torch::kFloat64);
  const int64_t n = c.size(0), m = c.size(1);
  const double mean = c.mean().item<double>();
  // All points coincide: every plan is optimal, and dividing by zero would give NaNs.
  const double scale = mean > 0 ? mean : 1.0;
  auto k = c / (epsilon * scale);  // −log of the Gibbs kernel
  const double log_a = -std::log(static_cast<double>(n));
  const double log_b = -std::log(static_cast<double>(m));
  auto u = torch::zeros({n}, torch::kFloat64);
  auto v = torch::zeros({m}, torch::kFloat64);
  for (int64_t it = 0; it < iterations; ++it) {
    u = log_a - torch::logsumexp(v.unsqueeze(0) - k, 1);
    v = log_b - torch::logsumexp(u.unsqueeze(1) - k, 0);
  }
  return u.unsqueeze(1) + v.unsqueeze(0) - k;
}

at::Tensor ot_pairing(const at::Tensor& x0, const at::Tensor& x1, const OtConfig& cfg) {
  cfg.validate("ot");
  check_batch(Batch{x0, x1, {}}, "ot_pairing");
  const int64_t n = x0.size(0);
  if (n <= 1) return torch::arange(n, torch::kInt64);
  auto cost = ot_cost_matrix(x0, x1);
  if (cfg.method == "exact") return assign(cost);

  auto log_plan = sinkhorn_log_plan(cost, cfg.epsilon, cfg.iterations);
  if (cfg.replace) {
    // Conditional draw j ~ plan[i, :] for every i rather than torchcfm's joint draw of (i, j): the
    // same pairs in distribution (the row marginal is uniform), but x0 keeps its place and is used
    // exactly once.
    auto probs = torch::softmax(log_plan, 1);
    return torch::multinomial(probs, 1, /*replacement=*/true).squeeze(1);
  }
  // A permutation drawn by perturb-and-MAP: the best assignment under log plan + Gumbel noise.
  // Without the noise the u_i + v_j potentials cancel over any permutation and this would be exact
  // OT whatever epsilon is; with it, large epsilon tends to the independent coupling, small epsilon to
  // exact OT, and every x1 is still used once.
  auto u = torch::rand(log_plan.sizes(), log_plan.options()).clamp_(1e-12, 1.0 - 1e-12);
  return assign(-(log_plan - torch::log(-torch::log(u))));
}

Batch ot_couple(const Batch& b, const OtConfig& cfg) {
  check_batch(b, "ot_couple");
  auto idx = ot_pairing(b.x0, b.x1, cfg);
  Batch out;
  out.x0 = b.x0;
  out.x1 = b.x1.index_select(0, idx.to(b.x1.device()));
  out.cond = b.cond.select(idx);  // conditioning belongs to x1 and moves with it
  return out;
}

double pairing_cost(const Batch& b) {
  check_batch(b, "pairing_cost");
  const int64_t n = b.x0.size(0);
  if (n == 0) return 0.0;
  auto d = (b.x1.detach().to(torch::kCPU, torch::kFloat64) - b.x0.detach().to(torch::kCPU, torch::kFloat64))
               .reshape({n, -1});
  return d.pow(2).sum(1).mean().item<double>();
}

OtCoupling::OtCoupling(std::unique_ptr<BatchSource> inner, OtConfig cfg)
    : inner_(std::move(inner)), cfg_(std::move(cfg)) {
  RF_CHECK(inner_ != nullptr, "OtCoupling needs a source of batches", "data.ot", "");
  cfg_.validate("data.ot");
}

Batch OtCoupling::next(int64_t batch_size, c10::Device device) { return ot_couple(inner_->next(batch_size, device), cfg_); }

CouplingEntry ot_coupling_entry() {
  CouplingEntry e;
  e.validate = [](const DataConfig& c, const std::string& where) {
    RF_CHECK(!c.labels, "labels with the OT coupling are not supported", where + ".labels",
             "OT re-pairs x0 and x1 within a batch, which would cross labels; use the independent coupling");
  };
  e.make = [](const DataConfig& c, std::unique_ptr<IndependentCoupling> both_ends, const CouplingInputs&) {
    return std::unique_ptr<BatchSource>(std::make_unique<OtCoupling>(std::move(both_ends), c.ot));
  };
  return e;
}

}  // namespace rflow
