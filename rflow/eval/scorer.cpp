#include "rflow/eval/scorer.h"

#include "rflow/eval/composite_scorer.h"
#include "rflow/eval/image_scorer.h"
#include "rflow/eval/point_scorer.h"

namespace rflow::eval {

Registry<ScorerEntry>& scorers() {
  static Registry<ScorerEntry> reg = [] {
    Registry<ScorerEntry> r("scorer");
    r.add("points", "exact W2, sliced W2, energy, MMD and 1-NN label accuracy against fresh target draws",
          point_scorer_entry());
    r.add("images", "FID-proxy and class accuracy through the pinned Fashion-MNIST network; PNG grids",
          image_scorer_entry());
    r.add("composites", "captioned composites: every 28×28 cell read by the pinned judge (compositional and cell accuracy), FID-proxy of the cells",
          composite_scorer_entry());
    return r;
  }();
  return reg;
}

}  // namespace rflow::eval
