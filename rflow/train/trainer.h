// The method-agnostic training loop: Adam/AdamW with warmup + cosine LR, gradient clipping, EMA,
// metrics.jsonl, periodic atomic checkpoints and exact resume (model, EMA, optimizer, RNG, step).
// A NaN/Inf loss stops training with the step named and leaves the last good checkpoint in place;
// Ctrl-C saves a checkpoint at the current step before stopping.
#pragma once

#include <string>

#include <c10/core/Device.h>

#include "rflow/data/batch_source.h"
#include "rflow/flow/path.h"
#include "rflow/flow/velocity_field.h"
#include "rflow/train/method.h"
#include "rflow/train/train_config.h"

namespace rflow {

struct TrainResult {
  int64_t step = 0;         // step reached
  int64_t resumed_from = 0; // 0 for a fresh start
  double last_loss = 0;     // mean loss over the last logging window
  double steps_per_s = 0;
  std::string checkpoint;   // last checkpoint written
};

class Trainer {
 public:
  // run_dir receives metrics.jsonl and checkpoints/; config_json is stored in every checkpoint.
  // path: what methods interpolate along (linear when null); teacher: a frozen field handed to
  // the method through TrainContext (moved to the device, eval mode, no gradients).
  Trainer(TrainConfig cfg, VelocityField model, Method& method, BatchSource& data, std::string run_dir,
          std::string config_json, c10::Device device, std::shared_ptr<const Path> path = nullptr,
          VelocityField teacher = nullptr);
  // Trains until cfg.steps (or stop_at, if >= 0, for staged runs and tests); resumes from the
  // latest checkpoint in run_dir when there is one.
  TrainResult run(int64_t stop_at = -1);

 private:
  TrainConfig cfg_;
  VelocityField model_;
  Method& method_;
  BatchSource& data_;
  std::string run_dir_, config_json_;
  c10::Device device_;
  std::shared_ptr<const Path> path_;
  VelocityField teacher_;
};

}  // namespace rflow
