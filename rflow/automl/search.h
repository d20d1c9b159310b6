// The search loop one worker runs: take over a trial a dead worker left (its run resumes from its
// last checkpoint), else ask the sampler for a new point; train the trial rung by rung, scoring
// each rung; ASHA — and, if asked, the fitted learning curve — decide whether it goes on. Every
// step is a transaction in the study, so any number of workers, killed or not, share it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "rflow/automl/search_options.h"
#include "rflow/automl/study.h"

namespace rflow::automl {

std::string study_path(const SearchOptions& s);

// Works until the study holds s.trials trials and none is left abandoned, or until `deadline`
// (seconds since the epoch, 0 = none) has passed; returns the trials this worker finished.
int64_t work_on_study(const SearchOptions& s, double deadline);

// The study as a summary: trials ranked, best-so-far by trial and by time, each finished trial's
// prediction error (at the rung nearest a third of its steps), parameter importance.
nlohmann::json summarize(const SearchOptions& s, const std::vector<TrialRecord>& trials);

// The best finished trial (NaN value: none finished).
const TrialRecord* best_trial(const std::vector<TrialRecord>& trials);

}  // namespace rflow::automl
