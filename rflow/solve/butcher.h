// Butcher tableaux of the explicit Runge–Kutta methods rflow ships. Two generic cores run them:
// rk_fixed (any tableau, fixed grid) and adaptive_rk (embedded pairs, per-sample step control),
// so adding a method is adding a table and one registry line.
#pragma once

#include <string>
#include <vector>

namespace rflow {

struct ButcherTableau {
  std::string name;
  int order;
  std::vector<std::vector<double>> a;  // strictly lower triangular, stages × stages
  std::vector<double> b, c;
  int stages() const { return static_cast<int>(b.size()); }
};

// An embedded pair: the propagated solution b (order `order`) and error weights e = b̂ − b against
// the embedded solution b̂ (order `error_order`). First-same-as-last: the last stage is evaluated at
// the new solution (its row of a equals b), so it is the next step's first stage.
struct EmbeddedTableau {
  std::string name;
  int order, error_order;
  std::vector<std::vector<double>> a;  // stages × stages, strictly lower triangular
  std::vector<double> b, c, e;
  int stages() const { return static_cast<int>(b.size()); }
  // The propagated method alone, as a fixed-step tableau (for order checks).
  ButcherTableau main() const { return {name, order, a, b, c}; }
};

const ButcherTableau& euler_tableau();
const ButcherTableau& midpoint_tableau();
const ButcherTableau& heun_tableau();
const ButcherTableau& rk4_tableau();
const EmbeddedTableau& dopri5_tableau();  // Dormand & Prince 5(4), 7 stages, FSAL
const EmbeddedTableau& bosh3_tableau();   // Bogacki & Shampine 3(2), 4 stages, FSAL
const EmbeddedTableau& tsit5_tableau();   // Tsitouras 5(4), 7 stages, FSAL

}  // namespace rflow
