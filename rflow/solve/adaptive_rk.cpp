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

}  // namespace

AdaptiveRK::AdaptiveRK(EmbeddedTableau tableau) : tab_(std::move(tableau)) {
  const int S = tab_.stages();
  RF_CHECK(S >= 2 && int(tab_.a.size()) == S && int(tab_.c.size()) == S && int(tab_.e.size()) == S,
           "malformed embedded tableau '" + tab_.name + "'", "AdaptiveRK", "");
  for (int j = 0; j < S; ++j)
    RF_CHECK(tab_.a[S - 1][j] == tab_.b[j], "tableau '" + tab_.name + "' is not first-same-as-last", "AdaptiveRK",
             "the last row of a must equal b");
}

SolveResult AdaptiveRK::integrate(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt) const {
  const auto& A = tab_.a;
  const auto& C = tab_.c;
  const auto& E = tab_.e;
  const int S = tab_.stages();
  // Step-size exponents from the lower order of the pair (q): h ∝ err^(−1/(q+1)).
  const double q1 = tab_.error_order + 1.0;
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
  const int64_t B = x0.size(0);
  const double dir = opt.t1 > opt.t0 ? 1.0 : -1.0;
  const double span = std::abs(opt.t1 - opt.t0);
  auto dopt = torch::TensorOptions().dtype(torch::kFloat64);  // times and step sizes live on the CPU
  // No budget asked for is still a budget: a step floor of 1e-300 must not run forever.
  const int64_t budget = opt.max_nfe > 0 ? opt.max_nfe : SolveOptions::kDefaultNfeCap;

  at::Tensor x = x0.clone();
  at::Tensor t = torch::full({B}, opt.t0, dopt);   // current time per sample
  at::Tensor nfe = torch::zeros({B}, torch::kInt64);
  SolveResult res;
  auto all_rows = torch::arange(B, torch::kInt64);
  auto call = [&](const at::Tensor& xs, const at::Tensor& ts, const at::Tensor& rows) {
    ++res.calls;
    res.evaluations += rows.size(0);
    nfe.index_add_(0, rows, torch::ones({rows.size(0)}, torch::kInt64));
    return f(xs, ts.to(torch::kFloat32).to(x.device()), rows.size(0) == B ? at::Tensor() : rows.to(x.device()));
  };

  at::Tensor k1 = call(x, t, all_rows);
  auto scale_of = [&](const at::Tensor& a, const at::Tensor& b) { return opt.atol + opt.rtol * torch::max(a.abs(), b.abs()); };

  // Initial step: Hairer, Nørsett & Wanner's heuristic (II.4), per sample; shared mode takes the minimum.
  at::Tensor h;
  if (opt.first_step > 0) {
    h = torch::full({B}, std::min(opt.first_step, span), dopt);
  } else {
    torch::NoGradGuard step_control;  // step sizes are decisions, not part of any gradient
    auto sc = scale_of(x, x);
    auto d0 = rms(x, sc).to(torch::kFloat64).cpu(), d1 = rms(k1, sc).to(torch::kFloat64).cpu();
    auto h0 = torch::where((d0 < 1e-5) | (d1 < 1e-5), torch::full_like(d0, 1e-6), 0.01 * d0 / d1).clamp_max(span);
    auto x1 = x + bcast(h0 * dir, x).to(x.device()) * k1;
    auto k2 = call(x1, t + h0 * dir, all_rows);
    auto d2 = (rms(k2 - k1, sc).to(torch::kFloat64).cpu() / h0);
    auto dm = torch::max(d1, d2);
    auto h1 = torch::where(dm <= 1e-15, torch::max(torch::full_like(h0, 1e-6), h0 * 1e-3), (0.01 / dm).pow(1.0 / q1));
    h = torch::min(100 * h0, h1).clamp_max(span);
  }
  if (!opt.per_sample) h = torch::full({B}, h.min().item<double>(), dopt);
  const double max_step = opt.max_step > 0 ? opt.max_step : span;
  h.clamp_(opt.min_step, std::max(opt.min_step, max_step));

  at::Tensor done = torch::zeros({B}, torch::kBool);
  at::Tensor starved = torch::zeros({B}, torch::kBool);
  std::vector<at::Tensor> k(S);
  const double eps_t = 1e-12 * std::max(1.0, span);
  while (true) {
    // Samples still moving and able to afford a step (S − 1 evaluations, the last stage is FSAL).
    starved = starved | (~done & (nfe + (S - 1) > budget));
    at::Tensor active = (~done & ~starved).nonzero().squeeze(1);
    const int64_t n = active.size(0);
    if (n == 0) break;
    const bool whole = n == B;
    at::Tensor rows_dev = active.to(x.device());
    at::Tensor xa = whole ? x : x.index_select(0, rows_dev);
    at::Tensor ta = whole ? t : t.index_select(0, active);
    at::Tensor remaining = (opt.t1 - ta) * dir;
    at::Tensor ha = torch::min(whole ? h : h.index_select(0, active), remaining);
    at::Tensor hd = bcast(ha * dir, xa).to(x.device());
    k[0] = whole ? k1 : k1.index_select(0, rows_dev);
    at::Tensor xnew;
    for (int s = 1; s < S; ++s) {
      at::Tensor xs = xa.clone();
      for (int j = 0; j < s; ++j)
        if (A[s][j] != 0.0) xs = opt.enable_grad ? xs + k[j] * hd * A[s][j] : xs.add_(k[j] * hd, A[s][j]);
      k[s] = call(xs, ta + ha * (C[s] * dir), active);
      if (s == S - 1) xnew = xs;  // FSAL: the last stage's input is the new solution
    }
    at::Tensor err = torch::zeros_like(xa);
    for (int j = 0; j < S; ++j)
      if (E[j] != 0.0) err.add_(k[j].detach() * hd, E[j]);
    at::Tensor en = rms(err, scale_of(xa.detach(), xnew.detach())).to(torch::kFloat64).cpu();
    en = torch::nan_to_num(en, std::numeric_limits<double>::infinity());
    at::Tensor accept = (en <= 1.0) | (ha <= opt.min_step * (1 + 1e-12));
    if (!opt.per_sample) accept = torch::full_like(accept, accept.all().item<bool>());
    // Standard controller with safety 0.9 and growth limited to [0.2, 10].
    at::Tensor factor = (0.9 * en.clamp_min(1e-10).pow(-1.0 / q1)).clamp(0.2, 10.0);
    if (!opt.per_sample) factor = torch::full_like(factor, factor.min().item<double>());
    at::Tensor hnext = (ha * factor).clamp(opt.min_step, std::max(opt.min_step, max_step));
    at::Tensor acc_rows = accept.nonzero().squeeze(1);
    const int64_t n_acc = acc_rows.size(0);
    res.accepted += opt.per_sample ? n_acc : (n_acc > 0);
    res.rejected += opt.per_sample ? (n - n_acc) : (n_acc == 0);
    if (n_acc > 0) {
      at::Tensor glob = active.index_select(0, acc_rows);
      at::Tensor glob_dev = glob.to(x.device()), acc_dev = acc_rows.to(x.device());
      if (opt.enable_grad) {  // out of place: earlier stages still hold views of x in the graph
        x = x.index_copy(0, glob_dev, xnew.index_select(0, acc_dev));
        k1 = k1.index_copy(0, glob_dev, k[S - 1].index_select(0, acc_dev));
      } else {
        x.index_copy_(0, glob_dev, xnew.index_select(0, acc_dev));
        k1.index_copy_(0, glob_dev, k[S - 1].index_select(0, acc_dev));
      }
      at::Tensor tnew = ta.index_select(0, acc_rows) + ha.index_select(0, acc_rows) * dir;
      at::Tensor finished = (opt.t1 - tnew) * dir <= eps_t;
      tnew = torch::where(finished, torch::full_like(tnew, opt.t1), tnew);
      t.index_copy_(0, glob, tnew);
      done.index_copy_(0, glob, finished);
    }
    h.index_copy_(0, active, hnext);
    if (!opt.per_sample) h.fill_(h.index_select(0, active).min().item<double>());
    if (opt.on_progress) opt.on_progress(span > 0 ? ((t - opt.t0) * dir).min().item<double>() / span : 1.0);
  }

  res.x = x;
  res.nfe = nfe;
  res.t_reached = t.to(torch::kFloat32);
  res.status = starved.any().item<bool>() ? SolveStatus::kBudgetExhausted : SolveStatus::kOk;
  res.times = {opt.t0, opt.t1};
  return res;
}

}  // namespace rflow
