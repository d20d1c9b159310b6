// Lexicographic optimisation of two losses (Gong & Liu's dynamic barrier, used by Language RF to
// train the autoencoder and the flow together): the primary loss (reconstruction) comes first, the
// secondary (the flow's) is minimised only in ways that do not undo it. The shared parameters
// move along g₂ + λ·g₁ with the smallest λ ≥ 0 that keeps ⟨d, g₁⟩ ≥ α‖g₁‖²; a step after which the
// primary loss, re-evaluated on the same batch, rose by more than its tolerance is undone.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace torch::optim {
class Optimizer;
}

namespace rflow {

struct LexicographicOptions {
  double barrier = 1.0;      // α: the primary falls at least as fast (first order) as α × a primary-only step
  double tolerance = 0.005;  // a step whose re-evaluated primary rose more than this fraction is undone

  template <class V>
  void visit(V& v) {
    v("barrier", barrier, "α of the dynamic barrier: the reconstruction loss must fall at least α times as fast as a reconstruction-only step would (first order)");
    v("tolerance", tolerance, "a joint step after which the reconstruction loss of its batch rose by more than this fraction is undone");
  }
  void validate(const std::string& where) const;
};

// λ = max(0, (α‖g₁‖² − ⟨g₁, g₂⟩) / ‖g₁‖²) and the direction g₂ + λ·g₁ (per tensor).
struct BarrierDirection {
  std::vector<at::Tensor> direction;
  double lambda = 0.0;
  double cosine = 0.0;  // cos(g₁, g₂): how much the two losses disagree
};
BarrierDirection barrier_direction(const std::vector<at::Tensor>& g1, const std::vector<at::Tensor>& g2, double alpha);

struct LexicographicStep {
  double primary_before = 0.0, primary_after = 0.0, secondary = 0.0, lambda = 0.0, cosine = 0.0;
  bool accepted = true;
};

// One step on a fixed batch: primary() and secondary() must be deterministic (fix their noise).
// `shared` parameters feel both losses, `own` only the secondary. The optimizer steps on the
// combined gradients; the step is undone (parameters restored) when primary() afterwards exceeds
// primary_before + tolerance·|primary_before|. The optimizer's moments keep the step's gradient.
LexicographicStep lexicographic_step(const std::function<at::Tensor()>& primary, const std::function<at::Tensor()>& secondary,
                                     const std::vector<at::Tensor>& shared, const std::vector<at::Tensor>& own,
                                     torch::optim::Optimizer& optimizer, const LexicographicOptions& o);

}  // namespace rflow
