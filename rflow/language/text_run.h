// `rflow text train`: a Language RF run, stage by stage, in out_dir/name — autoencoder (tokenizer,
// then the sentence autoencoder, jointly with a latent flow at the end), latents (the corpus
// encoded), generate (the attribute-conditional flow from noise), transfer (one edit flow to each
// value of the edited attribute, from the other values' sentences), eval and report. Stages are
// registered (text_stages()) with the config keys they read: a finished stage leaves
// stages/<name>.done and is skipped on rerun while those keys hold; when they change (or a stage
// before it reran) its outputs are removed and it runs again. A crashed stage resumes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "rflow/core/registry.h"
#include "rflow/language/text_config.h"

namespace rflow {

struct TextStageContext {
  TextRunConfig cfg;
  std::string dir;  // the run directory
};
struct TextStage {
  std::function<void(TextStageContext&)> run;
  std::vector<std::string> reads;    // top-level config keys it depends on
  std::vector<std::string> outputs;  // paths in the run directory it makes ("x*": every name starting with x)
};
Registry<TextStage>& text_stages();

struct TextRunOptions {
  bool fresh = false;               // delete the run directory first
  std::vector<std::string> stages;  // run only these (default: cfg.stages)
};
// Returns the run directory.
std::string run_text(const TextRunConfig& cfg, const TextRunOptions& o = {});

// The flow runs a text run trains, fully configured (data, labels, names): what the generate and
// transfer stages give run_pipeline. The run's latents must exist (attributes.json is read).
RunConfig generate_flow_config(const TextRunConfig& cfg, const std::string& dir);
std::vector<RunConfig> transfer_flow_configs(const TextRunConfig& cfg, const std::string& dir);

}  // namespace rflow
