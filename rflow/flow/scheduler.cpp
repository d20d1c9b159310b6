#include "rflow/flow/scheduler.h"
#include "rflow/core/tensor_util.h"

#include <cmath>
#include <sstream>

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

Scheduler::~Scheduler() = default;

SchedulerValues LinearScheduler::at(const at::Tensor& t) const {
  return {t, 1 - t, torch::ones_like(t), torch::full_like(t, -1.0)};
}

SchedulerValues CosineScheduler::at(const at::Tensor& t) const {
  const double h = M_PI / 2;
  auto alpha = torch::sin(h * t);
  auto sigma = torch::sin(h * (1 - t));
  // d/dt sin(πt/2) = (π/2) cos(πt/2) = (π/2) σ: reusing σ keeps dα(1) = 0 exactly, likewise dσ(0).
  return {alpha, sigma, h * sigma, -h * alpha};
}

PolynomialScheduler::PolynomialScheduler(double n) : n_(n) {
  RF_CHECK(std::isfinite(n) && n > 0, "polynomial exponent must be a finite number > 0",
           "scheduler 'polynomial:N'", "write e.g. polynomial:2");
}

std::string PolynomialScheduler::name() const {
  std::ostringstream os;
  os.precision(17);
  os << "polynomial:" << n_;
  return os.str();
}

SchedulerValues PolynomialScheduler::at(const at::Tensor& t) const {
  auto alpha = torch::pow(t, n_);
  auto d_alpha = n_ * torch::pow(t, n_ - 1);
  return {alpha, 1 - alpha, d_alpha, -d_alpha};
}

VPScheduler::VPScheduler(double beta_min, double beta_max) : beta_min_(beta_min), beta_max_(beta_max) {
  RF_CHECK(beta_min > 0 && beta_max > beta_min, "vp needs 0 < beta_min < beta_max", "VPScheduler",
           "the DDPM values are beta_min = 0.1, beta_max = 20");
}

SchedulerValues VPScheduler::at(const at::Tensor& t) const {
  const double db = beta_max_ - beta_min_;
  auto s = 1 - t;
  auto m = -0.25 * db * s * s - 0.5 * beta_min_ * s;
  auto alpha = torch::exp(m);
  // 1 − α² via expm1: near t = 1, α² rounds to 1 and the plain difference loses every digit of σ.
  // abs: at t = 1 the argument may be −0, and sqrt(−0) = −0 would make dσ/dt = +∞ instead of −∞.
  auto sigma = torch::sqrt(-torch::expm1(2 * m)).abs();
  // dα/dt = α · dm/ds · ds/dt with ds/dt = −1.
  auto d_alpha = alpha * (0.5 * db * s + 0.5 * beta_min_);
  // From σ² = 1 − α²; this is −∞ at t = 1 (σ = 0), which the header documents.
  auto d_sigma = -alpha * d_alpha / sigma;
  return {alpha, sigma, d_alpha, d_sigma};
}

std::string scheduler_specs() { return "linear, cosine, vp, polynomial:N (N > 0, e.g. polynomial:2)"; }

std::unique_ptr<Scheduler> make_scheduler(const std::string& spec) {
  if (spec == "linear") return std::make_unique<LinearScheduler>();
  if (spec == "cosine") return std::make_unique<CosineScheduler>();
  if (spec == "vp") return std::make_unique<VPScheduler>();
  const std::string poly = "polynomial:";
  if (spec.compare(0, poly.size(), poly) == 0) {
    const std::string num = spec.substr(poly.size());
    double n = 0;
    size_t used = 0;
    try {
      n = std::stod(num, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    // stod accepts a numeric prefix ("2x"); the whole suffix must be the number.
    RF_CHECK(!num.empty() && used == num.size(), "bad polynomial exponent '" + num + "' in '" + spec + "'",
             "scheduler", "write polynomial:N with a number N > 0, e.g. polynomial:2");
    return std::make_unique<PolynomialScheduler>(n);
  }
  throw Error("unknown scheduler '" + spec + "'", "scheduler", "valid: " + scheduler_specs());
}

SchedulerValues scheduler_values_like(const Scheduler& s, const at::Tensor& t, const at::Tensor& like) {
  RF_CHECK(t.defined() && t.dim() == 1 && like.defined() && like.dim() >= 1 && t.size(0) == like.size(0),
           "t must be [B] for a batch [B, ...]", "scheduler_values_like", "pass one time per sample");
  const bool f64 = t.scalar_type() == at::kDouble || like.scalar_type() == at::kDouble;
  SchedulerValues v = s.at(t.to(like.device(), f64 ? at::kDouble : at::kFloat));
  auto shaped = [&](const at::Tensor& a) { return expand_like(a, like).to(like.scalar_type()); };
  return {shaped(v.alpha), shaped(v.sigma), shaped(v.d_alpha), shaped(v.d_sigma)};
}

}  // namespace rflow
