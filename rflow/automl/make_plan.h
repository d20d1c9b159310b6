// `rflow auto plan` as a library call: the cards loaded and checked, the earlier plans nearest to
// them found, the planner run (it measures this machine), and the plan written to its folder —
// prompt.txt, run.toml, search.toml (warm-started), plan.json — every file checked by loading it.
#pragma once

#include <string>

#include "rflow/automl/plan_options.h"
#include "rflow/automl/planner.h"

namespace rflow::automl {

struct PlanOutcome {
  Plan plan;
  PlanRequest request;
  std::string dir, run_config, search_file;
};

// probe: how the planned run is measured (probe_training unless a test gives another).
PlanOutcome make_plan(const std::string& data_card, const std::string& model_card, PlanOptions o, Probe probe = nullptr);

// The plan as text for the terminal: the prompt, each choice, the predicted log, what to run next.
std::string describe_plan(const PlanOutcome& p);

}  // namespace rflow::automl
