// The adaptive core runs any embedded pair from its table: each table is checked against the
// Runge–Kutta order conditions (golden rationals), its propagated solution converges at its order
// on a fixed grid, and the adaptive solves reach the closed form at tight tolerances.
#include <cmath>
#include <functional>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/solve/adaptive_rk.h"
#include "rflow/solve/butcher.h"
#include "rflow/solve/rk_fixed.h"
#include "rflow/solve/solver.h"

using namespace rflow;

namespace {

using Vec = std::vector<double>;
Vec mul(const Vec& a, const Vec& b) {
  Vec o(a.size());
  for (size_t i = 0; i < a.size(); ++i) o[i] = a[i] * b[i];
  return o;
}
Vec amul(const std::vector<Vec>& A, const Vec& v) {
  Vec o(A.size(), 0.0);
  for (size_t i = 0; i < A.size(); ++i)
    for (size_t j = 0; j < v.size(); ++j) o[i] += A[i][j] * v[j];
  return o;
}
double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// The 17 order conditions up to order 5 (Butcher trees), as (order, value of b·Φ, expected).
std::vector<std::tuple<int, double, double>> conditions(const std::vector<Vec>& A, const Vec& b, const Vec& c) {
  Vec one(c.size(), 1.0), c2 = mul(c, c), c3 = mul(c2, c), c4 = mul(c3, c);
  Vec Ac = amul(A, c), Ac2 = amul(A, c2), AAc = amul(A, Ac);
  return {{1, dot(b, one), 1.0},
          {2, dot(b, c), 1.0 / 2},
          {3, dot(b, c2), 1.0 / 3},
          {3, dot(b, Ac), 1.0 / 6},
          {4, dot(b, c3), 1.0 / 4},
          {4, dot(b, mul(c, Ac)), 1.0 / 8},
          {4, dot(b, Ac2), 1.0 / 12},
          {4, dot(b, AAc), 1.0 / 24},
          {5, dot(b, c4), 1.0 / 5},
          {5, dot(b, mul(c2, Ac)), 1.0 / 10},
          {5, dot(b, mul(c, Ac2)), 1.0 / 15},
          {5, dot(b, mul(c, AAc)), 1.0 / 30},
          {5, dot(b, mul(Ac, Ac)), 1.0 / 20},
          {5, dot(b, amul(A, c3)), 1.0 / 20},
          {5, dot(b, amul(A, mul(c, Ac))), 1.0 / 40},
          {5, dot(b, amul(A, Ac2)), 1.0 / 60},
          {5, dot(b, amul(A, AAc)), 1.0 / 120}};
}

// Highest p such that every condition of order ≤ p holds.
int satisfied_order(const std::vector<Vec>& A, const Vec& b, const Vec& c) {
  int p = 5;
  for (auto [order, got, want] : conditions(A, b, c))
    if (std::abs(got - want) > 1e-12) p = std::min(p, order - 1);
  return p;
}

const std::vector<const EmbeddedTableau*> kPairs{&dopri5_tableau(), &tsit5_tableau(), &bosh3_tableau()};

// Logistic growth dx/dt = x (1 − x): x(t) = 1 / (1 + (1/x0 − 1) e^−t). Autonomous, so the float32
// time the solvers pass to fields does not limit the float64 accuracy measured here.
FieldFn logistic() {
  return [](const at::Tensor& x, const at::Tensor&) { return x * (1 - x); };
}
at::Tensor logistic_exact(const at::Tensor& x0, double t) { return 1 / (1 + (1 / x0 - 1) * std::exp(-t)); }

}  // namespace

TEST(EmbeddedTableau, EachPairSatisfiesItsOrderConditions) {
  for (const auto* tab : kPairs) {
    const int S = tab->stages();
    for (int i = 0; i < S; ++i) {
      double row = 0;
      for (int j = 0; j < S; ++j) row += tab->a[i][j];
      EXPECT_NEAR(row, tab->c[i], 1e-12) << tab->name << " row " << i;  // c_i = Σ_j a_ij
    }
    double esum = 0;
    for (double e : tab->e) esum += e;
    EXPECT_NEAR(esum, 0.0, 1e-12) << tab->name;
    EXPECT_EQ(satisfied_order(tab->a, tab->b, tab->c), tab->order) << tab->name;
    // The embedded solution b ± e (the sign convention differs between papers) has exactly the
    // lower order, so e·k estimates the error of the lower-order solution.
    Vec bp(S), bm(S);
    for (int j = 0; j < S; ++j) bp[j] = tab->b[j] + tab->e[j], bm[j] = tab->b[j] - tab->e[j];
    EXPECT_EQ(std::max(satisfied_order(tab->a, bp, tab->c), satisfied_order(tab->a, bm, tab->c)), tab->error_order)
        << tab->name;
  }
}

TEST(EmbeddedTableau, PropagatedSolutionConvergesAtItsOrder) {
  auto x0 = torch::tensor({{0.05, 0.3}}, torch::kFloat64);
  const auto exact = logistic_exact(x0, 4.0);
  for (const auto* tab : kPairs) {
    FixedStepRK fixed(tab->main());
    auto err = [&](int64_t steps) {
      SolveOptions o;
      o.steps = steps;
      o.t1 = 4.0;
      return (fixed.integrate(logistic(), x0, o).x - exact).abs().max().item<double>();
    };
    const double e1 = err(16), e2 = err(32);
    EXPECT_NEAR(std::log2(e1 / e2), tab->order, 0.35) << tab->name << " errors " << e1 << " " << e2;
  }
}

TEST(AdaptiveRK, EveryPairReachesTheClosedFormAndCheaperPairsCostMoreAtTightTolerances) {
  auto x0 = torch::tensor({{0.05, 0.3}, {0.9, 0.01}}, torch::kFloat64);
  const auto exact = logistic_exact(x0, 4.0);
  std::map<std::string, double> nfe;
  for (const char* name : {"dopri5", "tsit5", "bosh3"}) {
    SolveOptions o;
    o.method = name;
    o.t1 = 4.0;
    o.rtol = o.atol = 1e-9;
    auto r = solve(logistic(), x0, o);
    EXPECT_EQ(r.status, SolveStatus::kOk) << name;
    EXPECT_LT((r.x - exact).abs().max().item<double>(), 1e-7) << name;
    EXPECT_TRUE(torch::allclose(r.t_reached, torch::full({2}, 4.0f))) << name;
    nfe[name] = r.nfe.to(torch::kFloat64).mean().item<double>();
    EXPECT_EQ(solvers().get(name)()->nfe_per_step(), 0);
  }
  // A 3rd-order pair needs many more steps than the 5th-order ones at 1e-9.
  EXPECT_GT(nfe["bosh3"], 2 * nfe["dopri5"]);
  EXPECT_GT(nfe["bosh3"], 2 * nfe["tsit5"]);
}

TEST(Solve, EnableGradKeepsTheGraphThroughFixedAndAdaptiveSolves) {
  // dx/dt = a·x: x(1) = x0·e^a, so d x(1)/d a = x0·e^a and d x(1)/d x0 = e^a.
  for (const char* name : {"rk4", "dopri5", "tsit5"}) {
    auto a = torch::tensor(0.7, torch::dtype(torch::kFloat64).requires_grad(true));
    auto x0 = torch::tensor({{1.5}}, torch::dtype(torch::kFloat64).requires_grad(true));
    SolveOptions o;
    o.method = name;
    o.steps = 20;
    o.rtol = o.atol = 1e-10;
    o.enable_grad = true;
    auto r = solve([&](const at::Tensor& x, const at::Tensor&) { return a * x; }, x0, o);
    ASSERT_TRUE(r.x.requires_grad()) << name;
    r.x.sum().backward();
    EXPECT_NEAR(a.grad().item<double>(), 1.5 * std::exp(0.7), 1e-6) << name;
    EXPECT_NEAR(x0.grad().item<double>(), std::exp(0.7), 1e-6) << name;
  }
  // Without it, nothing is recorded (sampling never builds a graph).
  auto a = torch::tensor(0.7, torch::dtype(torch::kFloat64).requires_grad(true));
  SolveOptions o;
  o.method = "rk4";
  auto r = solve([&](const at::Tensor& x, const at::Tensor&) { return a * x; }, torch::ones({1, 1}, torch::kFloat64), o);
  EXPECT_FALSE(r.x.requires_grad());
}
