// The pipeline's stages. Each reads what earlier stages left in the run directory and writes its
// own outputs there; the pipeline driver marks it done. Stages are idempotent and resumable:
// train resumes from the latest checkpoint, eval skips results already on disk.
#pragma once

#include <string>

#include <c10/core/Device.h>

#include "rflow/pipeline/run_config.h"

namespace rflow {

struct StageContext {
  RunConfig cfg;
  std::string run_dir;
  std::string config_json;
  c10::Device device{c10::kCPU};
};

void stage_train(StageContext& ctx);
void stage_sample(StageContext& ctx);
void stage_eval(StageContext& ctx);
void stage_report(StageContext& ctx);
void stage_reflow(StageContext& ctx);

}  // namespace rflow
