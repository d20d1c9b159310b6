// A trained model that answers questions about images: a vision-language run's (run_dir/model, or
// run_dir/baseline for the resize baseline) or a JanusFlow run's understanding path (its EMA
// weights; questions and tiling from its method.janusflow settings). answer() takes images of any
// size and questions, groups them by tile grid and prompt length, and decodes each group as one batch.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rflow/nn/token_transformer.h"
#include "rflow/vl/vl_config.h"

namespace rflow {

namespace text {
class Tokenizer;
}

std::string vl_weights(const std::string& run_dir, const std::string& which);
// Whether run_dir is a JanusFlow run (an rflow run whose model.arch is janusflow), read from its config alone.
bool is_janusflow_run(const std::string& run_dir);
// The tiling a run's model of that name reads with (the baseline: resize).
TilingOptions vl_tiling(const VlRunConfig& cfg, const std::string& which);

struct VlAnswerStats {
  int64_t tokens = 0;    // generated tokens, stop tokens included
  int64_t batches = 0;
  double seconds = 0;    // in the model (tiling, encoding, decoding)
};

class VlModel {
 public:
  VlModel(const std::string& run_dir, const std::string& which = "model");
  // Whether the run is a JanusFlow run (an rflow run whose model.arch is janusflow).
  bool unified() const { return unified_; }
  ~VlModel();
  // images [C, H, W] in [−1, 1] (grey: C = 1), one question each.
  std::vector<std::string> answer(const std::vector<at::Tensor>& images, const std::vector<std::string>& questions,
                                  const SamplingOptions& o, uint64_t seed = 0, VlAnswerStats* stats = nullptr);
  // A file (PNG, JPEG, …) as the model reads it: grey, [1, H, W] in [−1, 1].
  static at::Tensor read_image(const std::string& path);
  const VlRunConfig& config() const { return cfg_; }
  const TokenTransformerOptions& lm_options() const;
  const TilingOptions& tiling() const { return tiling_; }
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  VlRunConfig cfg_;
  TilingOptions tiling_;
  bool unified_ = false;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rflow
