// `rflow vl train`: a vision-language run, stage by stage, in out_dir/name — train (the model with
// dynamic tiling), baseline (the same model on images letterboxed into one tile), eval (eval.json)
// and report (report.html). Stages are registered (vl_stages()) with the config keys they read, so a
// rerun skips what still holds and redoes what a changed key touches; a crashed stage resumes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "rflow/core/registry.h"
#include "rflow/vl/vl_config.h"

namespace rflow {

struct VlStage {
  std::function<void(const VlRunConfig& cfg, const std::string& dir)> run;
  std::vector<std::string> reads;
  std::vector<std::string> outputs;
};
Registry<VlStage>& vl_stages();

struct VlRunOptions {
  bool fresh = false;
  std::vector<std::string> stages;  // run only these (default: cfg.stages)
};
std::string run_vl(const VlRunConfig& cfg, const VlRunOptions& o = {});

}  // namespace rflow
