// Runs the configured stages (train → sample → eval → report) in a run directory. Each finished
// stage leaves `stages/<name>.done`; a rerun skips finished stages and resumes a half-done one.
// A run directory is bound to its config: rerunning with a different config is refused unless
// `fresh` starts it over.
#pragma once

#include <string>
#include <vector>

#include "rflow/pipeline/run_config.h"

namespace rflow {

struct PipelineOptions {
  bool fresh = false;               // delete the run directory first
  std::vector<std::string> stages;  // run only these (default: cfg.stages)
};

// Returns the run directory.
std::string run_pipeline(RunConfig cfg, const PipelineOptions& opt = {});

}  // namespace rflow
