// The pipeline's stages. Each reads what earlier stages left in the run directory and writes its
// own outputs there; the pipeline driver marks it done. Stages are idempotent and resumable:
// train resumes from the latest checkpoint, eval skips results already on disk.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "rflow/core/registry.h"
#include "rflow/pipeline/run_config.h"

namespace rflow {

struct StageContext {
  RunConfig cfg;
  std::string run_dir;
  std::string config_json;
  c10::Device device{c10::kCPU};
};

// Trains cfg's model in dir (resuming there), from cfg.train.init_from if set; the 1-RF of the
// train stage and every k-RF / student of the reflow and distill stages go through here. stop_at
// (>= 0): stop there with a checkpoint, the schedule still that of cfg.train.steps (a tuning
// trial trains rung by rung).
void train_run(RunConfig cfg, const std::string& dir, c10::Device device, int64_t stop_at = -1);

// What a training run is made from outside its own directory, as JSON: the checkpoints it starts
// from or reads (train.init_from, method.teacher, data.teacher) and the stored pairs (data.pairs),
// each by content. A change restarts the run (train_run) and reruns a finished train stage.
std::string train_inputs(const RunConfig& cfg);

// Solves the run's k-RF teacher into its pairs directory (skipping shards already there).
void make_teacher_pairs(StageContext& ctx, int64_t k);

// One file each (stage_<name>.cpp).
void stage_train(StageContext& ctx);
void stage_sample(StageContext& ctx);
void stage_eval(StageContext& ctx);
void stage_report(StageContext& ctx);
void stage_reflow(StageContext& ctx);
void stage_distill(StageContext& ctx);

struct StageEntry {
  std::function<void(StageContext&)> run;
  // The config keys the stage reads (stage_keys.h): its done marker records their fingerprint.
  // When one of them changed since the stage finished, a measuring stage runs again and a stage
  // that makes models refuses (their weights would no longer match the run's config).
  std::function<std::vector<std::string>(const RunConfig&)> reads;
  // Whether it trains models (train, reflow, distill) rather than measuring them.
  bool makes_models = false;
  // Whether a rerun makes every later stage stale (false: only the report reads its output).
  bool invalidates_later = true;
  // What the stage reads from outside the run (JSON; empty: nothing): recorded in its done marker,
  // and a finished stage whose inputs changed since runs again.
  std::function<std::string(const StageContext&)> inputs;
  // Whether every rank of a distributed run takes part (data-parallel training); rank 0 alone
  // runs the others while the other ranks wait.
  bool data_parallel = false;
};
// Name → stage, in no particular order (a run's `stages` list gives the order, and a stage that
// runs again makes the ones after it in that list run again).
Registry<StageEntry>& stages();

}  // namespace rflow
