// Settings of the minibatch optimal-transport coupling (rflow/data/ot_coupling.h). Kept apart from
// the coupling itself so that DataConfig can hold them without batch_source.h and ot_coupling.h
// including each other.
#pragma once

#include <cstdint>
#include <string>

namespace rflow {

struct OtConfig {
  std::string method = "exact";
  double epsilon = 0.05;
  int64_t iterations = 200;
  bool replace = false;

  template <class V>
  void visit(V& v) {
    v("method", method, "exact (optimal permutation) | sinkhorn (entropic plan)");
    v("epsilon", epsilon, "sinkhorn: regularisation, relative to the batch's mean squared distance");
    v("iterations", iterations, "sinkhorn: number of iterations (small epsilon needs more)");
    v("replace", replace, "sinkhorn: draw each x0's partner from the plan, with replacement, "
                          "instead of a permutation drawn from it by perturb-and-MAP");
  }
  // Defined in ot_coupling.cpp.
  void validate(const std::string& where) const;
};

}  // namespace rflow
