// Asynchronous successive halving (ASHA, Li et al., MLSys 2020) with training steps as the
// resource: rungs at min_steps·η^k below max_steps. A trial reaching a rung goes on only while its
// value is among the best ⌊n/η⌋ of the n values recorded at that rung so far, itself included; the
// first arrivals (n < η) go on only when best so far — trials cannot be paused and resumed later,
// so this is the asynchronous rule Optuna's SuccessiveHalvingPruner also uses. Lower is better.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rflow::automl {

struct AshaOptions {
  int64_t min_steps = 100;   // the first rung (r_min)
  int64_t max_steps = 2700;  // a trial that passes every rung trains this long
  int64_t eta = 3;           // reduction factor
  void validate(const std::string& where = "asha") const;
  template <class V>
  void visit(V& v) {
    v("min_steps", min_steps, "training steps of the first rung (about max_steps / 27 gives 3-4 rungs)");
    v("max_steps", max_steps, "training steps of a trial that passes every rung");
    v("eta", eta, "reduction factor: each rung keeps the best 1/eta");
  }
};

class Asha {
 public:
  explicit Asha(const AshaOptions& opt);
  // The steps where a trial is judged: min_steps·η^k < max_steps.
  const std::vector<int64_t>& rungs() const { return rungs_; }
  const AshaOptions& options() const { return opt_; }
  // Whether a trial with `value` at a rung goes on; rung_values: every value recorded at that rung
  // (this trial's included). NaN never goes on.
  bool continues(double value, std::vector<double> rung_values) const;
  // Training steps a search of n trials spends at most when each rung keeps exactly 1/η (the
  // synchronous bound: n·r_min + n/η·(r_1 − r_0) + …).
  double budget_bound(int64_t trials) const;

 private:
  AshaOptions opt_;
  std::vector<int64_t> rungs_;
};

}  // namespace rflow::automl
