// A progress bar for one solve: steps for fixed-step solvers, the share of the time interval that
// every sample has covered for adaptive ones. Attach it to the options before solving; it shows
// only on a terminal and only if the solve takes more than a second.
#pragma once

#include <memory>
#include <string>

#include "rflow/core/progress.h"
#include "rflow/solve/solver.h"

namespace rflow {

class SolveProgress {
 public:
  // Sets opt.on_progress (chaining any callback already there); the bar lives as long as this.
  SolveProgress(const std::string& label, SolveOptions& opt);
  ~SolveProgress() { bar_->finish(); }
  SolveProgress(const SolveProgress&) = delete;
  SolveProgress& operator=(const SolveProgress&) = delete;

 private:
  std::shared_ptr<Progress> bar_;
};

}  // namespace rflow
