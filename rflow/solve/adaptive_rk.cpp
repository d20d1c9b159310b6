#include "rflow/solve/adaptive_rk.h"

#include <cmath>
#include <optional>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/tensor_util.h"

namespace rflow {

namespace {

// Per-sample RMS norm of x / scale over all non-batch elements → [B].
at::Tensor rms(const at::Tensor& x, const at::Tensor& scale) {
  return (x / scale).pow(2).flatten(1).mean(1).sqrt();
}

at::Tensor bcast(const at::Tensor& v, const at::Tensor& like) { return expand_like(v, like).to(like.dtype()); }

// One adaptive solve: the state of every sample (time, step size, NFE, its FSAL slope) and the
// named steps of the loop. Times and step sizes live on the CPU in float64.
class AdaptiveRun {
 public:
  AdaptiveRun(const RkPlan& plan, int error_order, const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt)
      : plan_(plan), q1_(error_order + 1.0), f_(f), opt_(opt), B_(x0.size(0)),
        dir_(opt.t1 > opt.t0 ? 1.0 : -1.0), span_(std::abs(opt.t1 - opt.t0)),
        // No budget asked for is still a budget: a step floor of 1e-300 must not run forever.
        budget_(opt.max_nfe > 0 ? opt.max_nfe : SolveOptions::kDefaultNfeCap),
        max_step_(opt.max_step > 0 ? opt.max_step : span_) {
    const auto dopt = torch::TensorOptions().dtype(torch::kFloat64);
    x_ = x0.clone();
    t_ = torch::full({B_}, opt.t0, dopt);
    nfe_ = torch::zeros({B_}, torch::kInt64);
    done_ = torch::zeros({B_}, torch::kBool);
    starved_ = torch::zeros({B_}, torch::kBool);
  }

  SolveResult run() {
    const at::Tensor all = torch::arange(B_, torch::kInt64);
    k1_ = call(x_, t_, all);
    h_ = opt_.first_step > 0 ? torch::full({B_}, std::min(opt_.first_step, span_), torch::kFloat64) : first_step(all);
    if (!opt_.per_sample) h_ = torch::full({B_}, h_.min().item<double>(), torch::kFloat64);
    h_.clamp_(opt_.min_step, std::max(opt_.min_step, max_step_));
    while (step()) {
    }
    res_.x = x_;
    res_.nfe = nfe_;
    res_.t_reached = t_.to(torch::kFloat32);
    res_.status = starved_.any().item<bool>() ? SolveStatus::kBudgetExhausted : SolveStatus::kOk;
    res_.times = {opt_.t0, opt_.t1};
    return res_;
  }

  // The Ops of rk_stages: stage inputs with one step size per active sample.
  at::Tensor combine(const at::Tensor& x, const std::vector<at::Tensor>& k, const RkRow& row) const {
    at::Tensor xs = x.clone();
    for (const RkTerm& r : row) xs = opt_.enable_grad ? xs + k[r.stage] * hd_ * r.coef : xs.add_(k[r.stage] * hd_, r.coef);
    return xs;
  }
  at::Tensor eval(const at::Tensor& xs, int s) { return call(xs, ta_ + ha_ * (plan_.c[s] * dir_), active_); }

 private:
  at::Tensor call(const at::Tensor& xs, const at::Tensor& ts, const at::Tensor& rows) {
    ++res_.calls;
    res_.evaluations += rows.size(0);
    nfe_.index_add_(0, rows, torch::ones({rows.size(0)}, torch::kInt64));
    return f_(xs, ts.to(torch::kFloat32).to(x_.device()), rows.size(0) == B_ ? at::Tensor() : rows.to(x_.device()));
  }
  at::Tensor scale_of(const at::Tensor& a, const at::Tensor& b) const {
    return opt_.atol + opt_.rtol * torch::max(a.abs(), b.abs());
  }

  // Hairer, Nørsett & Wanner's initial step heuristic (II.4), per sample (one extra evaluation).
  at::Tensor first_step(const at::Tensor& all) {
    torch::NoGradGuard step_control;  // step sizes are decisions, not part of any gradient
    const auto sc = scale_of(x_, x_);
    const auto d0 = rms(x_, sc).to(torch::kFloat64).cpu(), d1 = rms(k1_, sc).to(torch::kFloat64).cpu();
    const auto h0 = torch::where((d0 < 1e-5) | (d1 < 1e-5), torch::full_like(d0, 1e-6), 0.01 * d0 / d1).clamp_max(span_);
    const auto x1 = x_ + bcast(h0 * dir_, x_).to(x_.device()) * k1_;
    const auto k2 = call(x1, t_ + h0 * dir_, all);
    const auto d2 = rms(k2 - k1_, sc).to(torch::kFloat64).cpu() / h0;
    const auto dm = torch::max(d1, d2);
    const auto h1 = torch::where(dm <= 1e-15, torch::max(torch::full_like(h0, 1e-6), h0 * 1e-3), (0.01 / dm).pow(1.0 / q1_));
    return torch::min(100 * h0, h1).clamp_max(span_);
  }

  // One attempted step of every sample still moving that can afford one; false when none is left.
  bool step() {
    const int S = plan_.stages();
    starved_ = starved_ | (~done_ & (nfe_ + (S - 1) > budget_));  // the last stage is FSAL: S − 1 calls
    active_ = (~done_ & ~starved_).nonzero().squeeze(1);
    const int64_t n = active_.size(0);
    if (n == 0) return false;
    const bool whole = n == B_;
    const at::Tensor rows_dev = active_.to(x_.device());
    const at::Tensor xa = whole ? x_ : x_.index_select(0, rows_dev);
    ta_ = whole ? t_ : t_.index_select(0, active_);
    ha_ = torch::min(whole ? h_ : h_.index_select(0, active_), (opt_.t1 - ta_) * dir_);
    hd_ = bcast(ha_ * dir_, xa).to(x_.device());
    std::vector<at::Tensor> k(S);
    k[0] = whole ? k1_ : k1_.index_select(0, rows_dev);
    const at::Tensor xnew = rk_stages(plan_, *this, xa, k, /*first=*/1);  // FSAL: the last input is the solution
    at::Tensor err = torch::zeros_like(xa);
    for (const RkTerm& r : plan_.e) err.add_(k[r.stage].detach() * hd_, r.coef);
    at::Tensor en = rms(err, scale_of(xa.detach(), xnew.detach())).to(torch::kFloat64).cpu();
    en = torch::nan_to_num(en, std::numeric_limits<double>::infinity());
    control(en, xnew, k[S - 1]);
    if (opt_.on_progress) opt_.on_progress(span_ > 0 ? ((t_ - opt_.t0) * dir_).min().item<double>() / span_ : 1.0);
    return true;
  }

  // Accepts the samples whose error passes, moves them to xnew, and sets every active sample's next step.
  void control(const at::Tensor& en, const at::Tensor& xnew, const at::Tensor& k_last) {
    const int64_t n = active_.size(0);
    at::Tensor accept = (en <= 1.0) | (ha_ <= opt_.min_step * (1 + 1e-12));
    if (!opt_.per_sample) accept = torch::full_like(accept, accept.all().item<bool>());
    // Standard controller with safety 0.9 and growth limited to [0.2, 10].
    at::Tensor factor = (0.9 * en.clamp_min(1e-10).pow(-1.0 / q1_)).clamp(0.2, 10.0);
    if (!opt_.per_sample) factor = torch::full_like(factor, factor.min().item<double>());
    const at::Tensor hnext = (ha_ * factor).clamp(opt_.min_step, std::max(opt_.min_step, max_step_));
    const at::Tensor acc_rows = accept.nonzero().squeeze(1);
    const int64_t n_acc = acc_rows.size(0);
    res_.accepted += opt_.per_sample ? n_acc : (n_acc > 0);
    res_.rejected += opt_.per_sample ? (n - n_acc) : (n_acc == 0);
    if (n_acc > 0) {
      const at::Tensor glob = active_.index_select(0, acc_rows);
      const at::Tensor glob_dev = glob.to(x_.device()), acc_dev = acc_rows.to(x_.device());
      if (opt_.enable_grad) {  // out of place: earlier stages still hold views of x in the graph
        x_ = x_.index_copy(0, glob_dev, xnew.index_select(0, acc_dev));
        k1_ = k1_.index_copy(0, glob_dev, k_last.index_select(0, acc_dev));
      } else {
        x_.index_copy_(0, glob_dev, xnew.index_select(0, acc_dev));
        k1_.index_copy_(0, glob_dev, k_last.index_select(0, acc_dev));
      }
      at::Tensor tnew = ta_.index_select(0, acc_rows) + ha_.index_select(0, acc_rows) * dir_;
      const at::Tensor finished = (opt_.t1 - tnew) * dir_ <= 1e-12 * std::max(1.0, span_);
      tnew = torch::where(finished, torch::full_like(tnew, opt_.t1), tnew);
      t_.index_copy_(0, glob, tnew);
      done_.index_copy_(0, glob, finished);
    }
    h_.index_copy_(0, active_, hnext);
    if (!opt_.per_sample) h_.fill_(h_.index_select(0, active_).min().item<double>());
  }

  const RkPlan& plan_;
  const double q1_;  // step-size exponent from the pair's lower order q: h ∝ err^(−1/(q+1))
  const FieldFn& f_;
  const SolveOptions& opt_;
  const int64_t B_;
  const double dir_, span_;
  const int64_t budget_;
  const double max_step_;
  at::Tensor x_, t_, nfe_, h_, k1_, done_, starved_;
  at::Tensor active_, ta_, ha_, hd_;  // the step being attempted
  SolveResult res_;
};

}  // namespace

AdaptiveRK::AdaptiveRK(EmbeddedTableau tableau) : tab_(std::move(tableau)) {
  const int S = tab_.stages();
  RF_CHECK(S >= 2 && int(tab_.a.size()) == S && int(tab_.c.size()) == S && int(tab_.e.size()) == S,
           "malformed embedded tableau '" + tab_.name + "'", "AdaptiveRK", "");
  for (int j = 0; j < S; ++j)
    RF_CHECK(tab_.a[S - 1][j] == tab_.b[j], "tableau '" + tab_.name + "' is not first-same-as-last", "AdaptiveRK",
             "the last row of a must equal b");
  plan_ = rk_plan(tab_);
}

SolveResult AdaptiveRK::integrate(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt) const {
  RF_CHECK(opt.grid.empty(), tab_.name + " chooses its own steps; a custom grid is not used", "solve.grid",
           "leave grid empty and set t0/t1, rtol/atol");
  RF_CHECK(!opt.record_trajectory, "trajectory recording needs a fixed grid", "solve.record_trajectory",
           "use euler/heun/rk4 with a step count to record trajectories");
  RF_CHECK(opt.rtol > 0 && opt.atol > 0, "rtol and atol must be > 0", "solve.rtol/atol", "typical: 1e-5");
  RF_CHECK(std::isfinite(opt.t0) && std::isfinite(opt.t1) && opt.t0 != opt.t1, "t0 and t1 must be finite and differ",
           "solve.t0/t1", "");
  // Methods that train through a few solver steps keep the graph (enable_grad); sampling does not.
  std::optional<torch::NoGradGuard> no_grad;
  if (!opt.enable_grad) no_grad.emplace();
  return AdaptiveRun(plan_, tab_.error_order, f, x0, opt).run();
}

}  // namespace rflow
