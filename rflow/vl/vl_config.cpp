#include "rflow/vl/vl_config.h"

#include <filesystem>

#include "rflow/core/config.h"
#include "rflow/core/error.h"
#include "rflow/data/fashion_composites.h"
#include "rflow/data/image_questions.h"
#include "rflow/pipeline/staged_run.h"
#include "rflow/vl/vl_run.h"

namespace rflow {

VlRunConfig::VlRunConfig() {
  name = "vl";
  // §2.4 of the VL2 notes in small: 28-pixel tiles, ViT patch 7, a 4-block MLA + MoE language model.
  model.lm.dim = 128;
  model.lm.layers = 4;
  model.lm.dense_layers = 1;
  model.lm.dense_hidden = 256;
  model.lm.mla.heads = 4;
  model.lm.mla.kv_rank = 32;
  model.lm.mla.nope_dim = 32;
  model.lm.mla.rope_dim = 16;
  model.lm.mla.v_dim = 32;
  model.lm.moe.routed = 8;
  model.lm.moe.shared = 1;
  model.lm.moe.top_k = 2;
  model.lm.moe.hidden = 128;
  train.steps = 3000;
  train.batch_size = 64;
  train.optimizer = "adamw";
  train.lr = 1e-3;
  train.beta2 = 0.95;
  train.warmup = 100;
  train.ema_decay = 0;
  train.log_every = 100;
  train.ckpt_every = 500;
}

void VlDataOptions::validate(const std::string& where) const {
  composite_layouts_named(layouts, where + ".layouts");
  RF_CHECK(!questions.empty(), "no question kinds", where + ".questions", "e.g. [\"describe\", \"where\", \"count\"]");
  for (const auto& q : questions) question_kinds().get(q, where + ".questions");
}

void VlEvalOptions::validate(const std::string& where) const {
  RF_CHECK(n >= 1, "eval.n must be >= 1", where + ".n", "");
  for (int64_t b : batches) RF_CHECK(b >= 1 && b <= 4096, "every batch size must be in 1 … 4096", where + ".batches", "");
}

void VlRunConfig::validate() const {
  RF_CHECK(!name.empty() && name.find('/') == std::string::npos, "name must be a plain directory name", "name", "");
  data.validate("data");
  tiling.validate("tiling");
  VisionLanguageOptions m = model;
  m.lm.vocab = 64;  // known once the tokenizer is built
  m.vision.dim = m.lm.dim;
  m.vision.tile = tiling.tile;
  m.validate("model");
  train.validate("train");
  // The trainer's settings a vision-language run does not follow are refused, not ignored.
  RF_CHECK(train.optimizer == "adamw", "a vision-language run trains with AdamW", "train.optimizer", "leave it \"adamw\"");
  RF_CHECK(train.precision == "fp32", "a vision-language run trains in fp32", "train.precision", "leave it \"fp32\"");
  RF_CHECK(train.ema_decay == 0, "a vision-language run keeps no EMA of its weights", "train.ema_decay", "set it to 0");
  RF_CHECK(train.shards == 0 && train.init_from.empty(), "data-parallel shards and init_from are not available to vision-language runs",
           "train.shards", "leave train.shards = 0 and train.init_from empty");
  decode.validate("decode");
  eval.validate("eval");
  for (const auto& s : stages) vl_stages().get(s, "stages");
}

VlRunConfig load_vl_config(const std::string& path, const std::vector<std::string>& overrides) {
  return load_keyed_run_config<VlRunConfig>(path, overrides, "not a vision-language run: `rflow vl train CONFIG` makes one");
}

std::string to_json(VlRunConfig& cfg) { return config::to_json(config::fields_of(cfg)); }

}  // namespace rflow
