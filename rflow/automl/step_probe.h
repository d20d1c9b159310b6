// The planner's measurement of this machine: a planned run trained for a few steps, twice (a
// quarter of the steps, then all), so that loading the data, building the model and writing the
// checkpoint cancel out of the seconds per step; then the objective is evaluated once on the
// longer run, as a rung would be; the memory is the process's peak.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rflow/automl/planner.h"

namespace rflow::automl {

ProbeResult probe_training(const std::vector<std::string>& settings, int64_t steps, const ObjectiveOptions& objective);

}  // namespace rflow::automl
