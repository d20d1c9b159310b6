// How a model's velocity is wrapped before a solver integrates it: classifier-free guidance
// (v_u + w (v_c − v_u)) and η, the step scale of solvers that step by the field's own variance
// estimate (AdaFlow: Δt = η/σ). They change the field a solver sees, not how it integrates, so they
// are kept apart from SolveOptions; every section that samples (sample, eval, reflow, policy
// evaluation) declares both, and `wrap_field` (solver.h) applies them.
#pragma once

#include <string>

namespace rflow {

struct FieldOptions {
  double guidance = 1.0;  // classifier-free guidance scale w (1 = conditional only, 0 = unconditional)
  double eta = 0.1;       // adaflow: step η/σ (σ the field's variance estimate), within [1/steps, 1 − t]

  template <class V>
  void visit(V& v) {
    v("guidance", guidance, "classifier-free guidance scale for conditional models (1 = plain conditional, 0 = unconditional)");
    v("eta", eta, "adaflow: each sample's step is eta / σ (σ: the model's variance head), at least 1/steps (AdaFlow: 0.1–0.5)");
  }
  // Throws naming `where`.<key> for the first bad setting.
  void validate(const std::string& where) const;
};

}  // namespace rflow
