// Training a vision-language model of a run on the composites' questions: each step draws one
// layout (so the batch shares a tile grid) and a question per image, supervises only the answer,
// and updates the MoE routing biases after the optimiser step. Checkpointed as it goes, resumed
// exactly after a crash or Ctrl-C; metrics.jsonl per logged step.
#pragma once

#include <string>

#include "rflow/vl/vl_config.h"

namespace rflow {

struct VlTrainResult {
  double loss = 0, accuracy = 0;  // the last logged step's (answer tokens)
  int64_t parameters = 0;
  double seconds = 0;
};

// Trains run_dir/<which> ("model": dynamic tiling; "baseline": resize) and writes its weights to
// vl_weights(run_dir, which).
VlTrainResult train_vl_model(const VlRunConfig& cfg, const std::string& run_dir, const std::string& which);

}  // namespace rflow
