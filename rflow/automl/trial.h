// One trial of a search: the base run config with the trial's point applied (its own directory
// and seed), trained rung by rung — each call resumes from the trial's last checkpoint, with the
// learning-rate schedule of the full length — and scored at each rung by the objective: the eval
// stage's draws, solver and scorer at the objective's NFE.
#pragma once

#include <cstdint>
#include <string>

#include "rflow/automl/search_options.h"
#include "rflow/core/error.h"

namespace rflow::automl {

std::string trial_dir(const SearchOptions& s, int64_t number);
// The trial's settings as `--set` overrides of the base config (its point, directory, length).
std::vector<std::string> trial_overrides(const SearchOptions& s, const Point& x, int64_t number);
// Training stopped before the rung (Ctrl-C, SIGTERM): the trial stays running in the study and the
// next search takes it over where its checkpoints end.
struct TrialInterrupted : Error {
  using Error::Error;
};

// The objective at the run directory's latest checkpoint (its EMA weights), which must have
// trained at least `steps`: the same draws (from `seed`), solver and scorer as every trial's.
double score_run(const std::string& dir, const ObjectiveOptions& o, uint64_t seed, int64_t steps = 0);

// Trains the trial to `steps` (of asha.max_steps) and returns the objective at that checkpoint.
double train_and_score(const SearchOptions& s, const Point& x, int64_t number, int64_t steps);

}  // namespace rflow::automl
