// The study as a page (self-contained HTML): where the search stands, the best value against
// trials and minutes, every trial's measured curve with the pruned ones ending at their rung,
// each finished trial's predicted end against what it reached, parameter importance and the
// leaderboard. `rflow auto search` writes it beside the study; `rflow auto report` on demand.
#pragma once

#include <string>
#include <vector>

#include "rflow/automl/search_options.h"
#include "rflow/automl/study.h"

namespace rflow::automl {

std::string study_report_html(const SearchOptions& s, const std::vector<TrialRecord>& trials);
std::string study_report_path(const SearchOptions& s);

}  // namespace rflow::automl
