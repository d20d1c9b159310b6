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

const EmbeddedTableau& dopri5_tableau() {
  static const EmbeddedTableau t{
      "dopri5",
      5,
      4,
      {{0, 0, 0, 0, 0, 0, 0},
       {1.0 / 5, 0, 0, 0, 0, 0, 0},
       {3.0 / 40, 9.0 / 40, 0, 0, 0, 0, 0},
       {44.0 / 45, -56.0 / 15, 32.0 / 9, 0, 0, 0, 0},
       {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729, 0, 0, 0},
       {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656, 0, 0},
       {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0}},
      {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0},
      {0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1},
      // Dormand & Prince's error weights (5th minus 4th order); the sign does not enter the norm.
      {71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40}};
  return t;
}

const EmbeddedTableau& bosh3_tableau() {
  static const EmbeddedTableau t{"bosh3",
                                 3,
                                 2,
                                 {{0, 0, 0, 0}, {0.5, 0, 0, 0}, {0, 0.75, 0, 0}, {2.0 / 9, 1.0 / 3, 4.0 / 9, 0}},
                                 {2.0 / 9, 1.0 / 3, 4.0 / 9, 0},
                                 {0, 0.5, 0.75, 1},
                                 // b̂ = (7/24, 1/4, 1/3, 1/8)
                                 {7.0 / 24 - 2.0 / 9, 1.0 / 4 - 1.0 / 3, 1.0 / 3 - 4.0 / 9, 1.0 / 8}};
  return t;
}

// Tsitouras (2011), "Runge–Kutta pairs of order 5(4) satisfying only the first column simplifying
// assumption", Table 1 (the values OrdinaryDiffEq.jl ships, to double precision).
const EmbeddedTableau& tsit5_tableau() {
  static const EmbeddedTableau t{
      "tsit5",
      5,
      4,
      {{0, 0, 0, 0, 0, 0, 0},
       {0.161, 0, 0, 0, 0, 0, 0},
       {-0.008480655492356989, 0.335480655492357, 0, 0, 0, 0, 0},
       {2.8971530571054935, -6.359448489975075, 4.3622954328695815, 0, 0, 0, 0},
       {5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525, 0, 0, 0},
       {5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401, -0.028269050394068383, 0, 0},
       {0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081, 2.324710524099774, 0}},
      {0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081, 2.324710524099774, 0},
      {0, 0.161, 0.327, 0.9, 0.9800255409045097, 1, 1},
      {-0.00178001105222577714, -0.0008164344596567469, 0.007880878010261995, -0.1447110071732629,
       0.5823571654525552, -0.45808210592918697, 0.015151515151515152}};
  return t;
}

}  // namespace rflow
