// Checkpoints: one directory per save, written under a temporary name and renamed into place, so
// a crash never leaves a half-written checkpoint. Contents: model.safetensors, ema.safetensors,
// optimizer.pt, state.json (step, RNG, EMA count, metrics), config.json (resolved run config).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/nn/module.h>

namespace torch::optim {
class Optimizer;
}

namespace rflow {

class Ema;

struct CheckpointState {
  int64_t step = 0;
  std::string rng;
  int64_t ema_updates = 0;
  std::string metrics_json = "{}";  // free-form JSON object
  // Data-parallel runs of several shards: each shard's random stream (rng_state() format); empty
  // for one shard, whose stream is `rng`.
  std::vector<std::string> shard_rng;
};

// Writes <root>/step_XXXXXXXX and points <root>/LATEST at it; keeps the `keep` newest.
std::string save_checkpoint(const std::string& root, const torch::nn::Module& model, const Ema* ema,
                            const torch::optim::Optimizer* optimizer, const CheckpointState& state,
                            const std::string& config_json, int64_t keep);

// The checkpoint to load from a run directory, a checkpoints root or a checkpoint directory: the
// newest step_* directory that validates (older ones are used with a warning naming what was
// skipped), or "" when there is none. A checkpoint directory passed itself must validate. Throws
// rflow::Error when checkpoints exist but none is intact. LATEST is written but not followed.
std::string resolve_checkpoint(const std::string& path);

// Why a checkpoint directory cannot be loaded ("" when it can): state.json (parses, step >= 0 and
// matching the folder), config.json (a JSON object), the weight files (safetensors headers and
// sizes, every weight finite) and optimizer.pt (a complete archive) are checked.
std::string checkpoint_problem(const std::string& dir);

// The step folders under a checkpoints/ folder that validate (checkpoint_problem), newest first:
// what a resume tries in turn when one fails to load into the model (an EMA or optimizer state of
// another model, a missing part). Empty when there are none; throws rflow::Error when there are
// some and none is intact.
std::vector<std::string> intact_checkpoints(const std::string& root);
// Renames a checkpoint that cannot be used to <step>.damaged beside it (replacing an older one of
// that name), keeping it for inspection and out of the way of the next save; warns with `problem`.
void set_aside(const std::string& dir, const std::string& problem);

CheckpointState read_checkpoint_state(const std::string& dir);

// Fingerprint of a checkpoint's weights (model and EMA files): a result made from a teacher tells
// by it that the teacher was retrained, even to the same step under the same name.
std::string checkpoint_fingerprint(const std::string& dir);
std::string read_checkpoint_config(const std::string& dir);

// Restores everything needed for exact resume; names and shapes are checked and differences listed.
void load_checkpoint(const std::string& dir, torch::nn::Module& model, Ema* ema, torch::optim::Optimizer* optimizer);

// Loads weights only (EMA weights when use_ema and present) for sampling / evaluation.
void load_weights(const std::string& dir, torch::nn::Module& model, bool use_ema);

// The header of a self-describing weight file: format, the rflow that wrote it, step, the run
// config and (for a velocity field) the sample shape, and what the weights are ("model", "ema", ...).
std::map<std::string, std::string> field_file_metadata(const torch::nn::Module& model, const std::string& config_json,
                                                       int64_t step, const std::string& weights);

// Named parameters then buffers, in module order.
std::vector<std::pair<std::string, at::Tensor>> module_tensors(const torch::nn::Module& model);
void assign_module_tensors(torch::nn::Module& model, const std::vector<std::pair<std::string, at::Tensor>>& named,
                           const std::string& where);

}  // namespace rflow
