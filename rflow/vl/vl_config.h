// The configuration of a vision-language run (`rflow vl train`): the composites it learns to read
// (layouts, question kinds), how images are tiled, the model (tile encoder + DeepSeek-style
// language model), training, decoding, and evaluation — including the resize baseline, the same
// model trained on every image letterboxed into one tile.
#pragma once

#include <string>
#include <vector>

#include "rflow/data/dynamic_tiling.h"
#include "rflow/nn/token_decoding.h"
#include "rflow/nn/vision_language_model.h"
#include "rflow/pipeline/staged_run.h"
#include "rflow/train/train_config.h"

namespace rflow {

struct VlDataOptions {
  std::string path;  // Fashion-MNIST's folder ("" = the Debian package's)
  std::string layouts = "all";
  std::vector<std::string> questions{"describe", "where", "count"};

  template <class V>
  void visit(V& v) {
    v("path", path, "Fashion-MNIST folder (\"\" = /usr/share/datasets/fashion-mnist)");
    v("layouts", layouts, "composite layouts drawn: single, row2, col2, row3, col3, grid, several comma-separated, or all");
    v("questions", questions, "question kinds asked (describe, where, count; `rflow list`)");
  }
  void validate(const std::string& where) const;
};

struct VlEvalOptions {
  int64_t n = 300;         // test images per layout and question kind
  bool baseline = true;    // also train and score the resize baseline
  std::vector<int64_t> batches{1, 16};  // decoding speed measured at these batch sizes

  template <class V>
  void visit(V& v) {
    v("n", n, "test-split images per layout and question kind");
    v("baseline", baseline, "train the resize baseline too (every image letterboxed into one tile) and compare");
    v("batches", batches, "batch sizes decoding speed is measured at (tokens/s, cached and uncached)");
  }
  void validate(const std::string& where) const;
};

struct VlRunConfig : KeyedRunBase {
  std::vector<std::string> stages{"train", "baseline", "eval", "report"};
  VlDataOptions data;
  TilingOptions tiling;
  VisionLanguageOptions model;
  TrainConfig train;
  SamplingOptions decode;
  VlEvalOptions eval;

  VlRunConfig();
  template <class V>
  void visit(V& v) {
    visit_base(v);
    v("stages", stages, "stages in order: train, baseline (the resize model), eval, report");
    v.section("data", data);
    v.section("tiling", tiling);
    v.section("model", model);
    v.section("train", train);
    v.section("decode", decode);
    v.section("eval", eval);
  }
  void validate() const;
};

VlRunConfig load_vl_config(const std::string& path, const std::vector<std::string>& overrides);
std::string to_json(VlRunConfig& cfg);

}  // namespace rflow
