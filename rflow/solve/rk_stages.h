// The one Runge–Kutta stage loop. Every explicit method rflow runs — fixed-step sampling in place,
// training through solver steps, per-sample adaptive pairs, PeRFlow's window solves and the fast
// MLP's raw-buffer solve — walks a tableau through rk_stages / rk_step and supplies only its own
// arithmetic (an Ops: how a stage input x + h·Σ a_sj k_j is formed and how the field is called).
#pragma once

#include <vector>

#include "rflow/solve/butcher.h"

namespace rflow {

// One non-zero coefficient of a tableau row: stage j's slope weighted by `coef`.
struct RkTerm {
  int stage;
  double coef;
};
using RkRow = std::vector<RkTerm>;

// A tableau reduced to the coefficients any loop multiplies by. A stage with an empty row is
// evaluated at the step's start itself (Euler's only stage, every method's first).
struct RkPlan {
  std::vector<RkRow> a;  // per stage
  RkRow b;               // the propagated solution
  RkRow e;               // error weights of an embedded pair (empty for a fixed-step tableau)
  std::vector<double> c;
  int stages() const { return static_cast<int>(c.size()); }
};

inline RkRow rk_row(const std::vector<double>& coefs, size_t n) {
  RkRow row;
  for (size_t j = 0; j < n && j < coefs.size(); ++j)
    if (coefs[j] != 0.0) row.push_back({static_cast<int>(j), coefs[j]});
  return row;
}

inline RkPlan rk_plan(const ButcherTableau& t) {
  RkPlan p;
  for (int s = 0; s < t.stages(); ++s) p.a.push_back(rk_row(t.a[s], static_cast<size_t>(s)));
  p.b = rk_row(t.b, t.b.size());
  p.c = t.c;
  return p;
}

inline RkPlan rk_plan(const EmbeddedTableau& t) {
  RkPlan p = rk_plan(t.main());
  p.e = rk_row(t.e, t.e.size());
  return p;
}

// Evaluates stages [first, S) of one step from x into k (k[0] given when first = 1: the previous
// step's last stage of a first-same-as-last pair) and returns the last stage's input, which is the
// new solution of a FSAL pair. Ops:
//   State combine(const State& x, const std::vector<State>& k, const RkRow& row)  x + h·Σ coef·k_j
//   State eval(const State& xs, int s)                                         v(xs, t + c_s·h)
// where h (a number or one step per sample) and t belong to the Ops.
template <class Ops, class State>
State rk_stages(const RkPlan& p, Ops& ops, const State& x, std::vector<State>& k, int first = 0) {
  if (static_cast<int>(k.size()) < p.stages()) k.resize(p.stages());
  State xs = x;
  for (int s = first; s < p.stages(); ++s) {
    xs = p.a[s].empty() ? x : ops.combine(x, k, p.a[s]);
    k[s] = ops.eval(xs, s);
  }
  return xs;
}

// One whole step: the stages, then Ops::advance(x, k, b) forms x + h·Σ b_s k_s (in place or not,
// as the Ops chooses) and is returned.
template <class Ops, class State>
State rk_step(const RkPlan& p, Ops& ops, const State& x, std::vector<State>& k) {
  rk_stages(p, ops, x, k);
  return ops.advance(x, k, p.b);
}

}  // namespace rflow
