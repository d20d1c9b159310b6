#include "rflow/solve/butcher.h"

namespace rflow {

const ButcherTableau& euler_tableau() {
  static const ButcherTableau t{"euler", 1, {{0}}, {1}, {0}};
  return t;
}
const ButcherTableau& midpoint_tableau() {
  static const ButcherTableau t{"midpoint", 2, {{0, 0}, {0.5, 0}}, {0, 1}, {0, 0.5}};
  return t;
}
const ButcherTableau& heun_tableau() {
  static const ButcherTableau t{"heun", 2, {{0, 0}, {1, 0}}, {0.5, 0.5}, {0, 1}};
  return t;
}
const ButcherTableau& rk4_tableau() {
  static const ButcherTableau t{"rk4",
                                4,
                                {{0, 0, 0, 0}, {0.5, 0, 0, 0}, {0, 0.5, 0, 0}, {0, 0, 1, 0}},
                                {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6},
                                {0, 0.5, 0.5, 1}};
  return t;
}

}  // namespace rflow
