// What every stage and CLI command needs from a config: the device, the threads, the data coupling
// and a model rebuilt from a checkpoint's own config.json (so sampling never needs the TOML).
#pragma once

#include <memory>
#include <string>

#include <c10/core/Device.h>

#include "rflow/data/batch_source.h"
#include "rflow/pipeline/run_config.h"

namespace rflow {

// Parses cfg.device, checks CUDA is present when asked for, applies cfg.threads.
c10::Device setup_device(const RunConfig& cfg);

struct LoadedModel {
  RunConfig cfg;          // the config stored with the checkpoint
  std::string checkpoint; // resolved checkpoint directory
  int64_t step = 0;
  VelocityField model;    // the field to sample, in eval mode, on the device
  VelocityField network;  // the trained network (model wraps it when the method reads its output another way)
  std::unique_ptr<IndependentCoupling> data;  // the checkpoint's source and target distributions
};

// path: a checkpoint directory, a checkpoints/ root, a run directory, or one self-describing weight
// file (then use_ema is moot: the file is the weights).
LoadedModel load_model(const std::string& path, bool use_ema, c10::Device device);

// A field from one weight file alone (a checkpoint's model.safetensors or ema.safetensors, copied
// anywhere): its header carries the run config, the sample shape and the step.
struct LoadedField {
  RunConfig cfg;
  VelocityField model;  // in eval mode, on the device
  std::vector<int64_t> sample_shape;
  int64_t step = 0;
  std::string written_by;  // the rflow version that wrote it
};
LoadedField load_field_file(const std::string& safetensors_path, c10::Device device);

// The training batches cfg.data asks for, including the online reflow coupling (which loads the
// data.teacher model onto the device).
std::unique_ptr<BatchSource> make_training_source(const RunConfig& cfg, c10::Device device);

}  // namespace rflow
