// Butcher tableaux of the explicit Runge–Kutta methods rflow ships. One generic stepping core
// (rk_fixed) runs any of them, so adding a method is adding a table.
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

const ButcherTableau& euler_tableau();
const ButcherTableau& midpoint_tableau();
const ButcherTableau& heun_tableau();
const ButcherTableau& rk4_tableau();

}  // namespace rflow
