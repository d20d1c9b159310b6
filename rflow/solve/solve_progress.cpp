#include "rflow/solve/solve_progress.h"

#include <cmath>

namespace rflow {

SolveProgress::SolveProgress(const std::string& label, SolveOptions& opt) {
  const int per_step = solvers().get(opt.method, "solver")()->nfe_per_step();
  const int64_t total = per_step > 0 ? (opt.grid.empty() ? opt.steps : int64_t(opt.grid.size()) - 1) : 100;
  bar_ = std::make_shared<Progress>(label + (per_step > 0 ? " (steps)" : " (% of t)"), total);
  auto bar = bar_;
  auto previous = opt.on_progress;
  opt.on_progress = [bar, total, previous](double f) {
    bar->update(std::llround(f * total));
    if (previous) previous(f);
  };
}

}  // namespace rflow
