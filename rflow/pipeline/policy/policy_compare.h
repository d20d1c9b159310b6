// Policies and samplers side by side: each run evaluated (as `rflow policy eval` does) with each
// of a list of samplers, e.g. AdaFlow's adaptive steps beside 1, 2, 5 and 20 Euler steps and a
// behaviour-cloning baseline, with one table and one picture per pair. What `rflow policy compare` does.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rflow/pipeline/policy/policy_eval.h"

namespace rflow {

struct SamplerSpec {
  std::string label;  // as written: "adaflow:0.5", "euler:20"
  SolveOptions solve;
  FieldOptions field;  // adaflow's η
};

// "adaflow:ETA[:MAX_STEPS]" (10 steps at most by default) or "SOLVER:STEPS" for a fixed-step solver,
// comma-separated. Throws rflow::Error naming `where` on anything else.
std::vector<SamplerSpec> parse_samplers(const std::string& list, const std::string& where);

// Every run × every sampler: a behaviour-cloning run is a one-step map (one row, one Euler step);
// adaflow needs a variance head (a row says so where there is none). All runs must be policies on
// the same task. Returns the rows; writes an HTML page when html is not empty.
nlohmann::json compare_policies(const std::vector<std::string>& runs, const std::vector<SamplerSpec>& samplers,
                                const PolicyEvalOptions& base, const std::string& html);

}  // namespace rflow
