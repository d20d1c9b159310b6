// A search's outcome as a file people run: the base config with the best trial's settings, fully
// resolved, as TOML (`rflow run best.toml` trains it), headed by where it came from.
#pragma once

#include <string>

#include "rflow/automl/search_options.h"
#include "rflow/automl/study.h"

namespace rflow::automl {

std::string best_config_toml(const SearchOptions& s, const TrialRecord& best);

}  // namespace rflow::automl
