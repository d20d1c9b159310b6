#include "rflow/language/text_config.h"

#include <algorithm>
#include <filesystem>

#include "rflow/core/config.h"
#include "rflow/core/error.h"
#include "rflow/pipeline/staged_run.h"

namespace rflow {

namespace fs = std::filesystem;

namespace {

// What a latent flow of text needs beside the run config defaults: an MLP (the latents are
// vectors), N(0, I) noise or the other attribute's sentences at t = 0, and reflow right after.
void latent_flow_defaults(RunConfig& r, int64_t steps) {
  r.stages = {"train", "reflow"};
  r.model.arch = "mlp";
  r.train.steps = steps;
  r.train.batch_size = 256;
  r.train.lr = 1e-3;
  r.train.warmup = 200;
  r.train.ema_decay = 0.999;
  r.reflow.rounds = 1;
  r.reflow.pairs = 20000;
  r.reflow.solve.method = "rk4";
  r.reflow.solve.steps = 25;
  r.reflow.train.steps = steps / 2;
  r.reflow.train.batch_size = 256;
  r.reflow.train.lr = 5e-4;
  r.reflow.train.warmup = 100;
  r.reflow.train.ema_decay = 0.999;
}

}  // namespace

TextRunConfig::TextRunConfig() {
  name = "text";
  latent_flow_defaults(generate, 6000);
  generate.method.label_dropout = 0.1;  // the unconditional field of classifier-free guidance
  generate.reflow.field.guidance = 2.0;
  latent_flow_defaults(transfer, 6000);
}

void AutoencoderTrainOptions::validate(const std::string& where) const {
  RF_CHECK(steps >= 1 && joint_steps >= 0, "steps must be >= 1 and joint_steps >= 0", where + ".steps", "");
  RF_CHECK(batch_size >= 2, "batch_size must be >= 2", where + ".batch_size", "");
  RF_CHECK(lr > 0 && lr < 1, "lr must be in (0, 1)", where + ".lr", "");
  RF_CHECK(warmup >= 0 && anneal_steps >= 0, "warmup and anneal_steps must be >= 0", where + ".warmup", "");
  RF_CHECK(beta >= 0 && free_bits >= 0, "beta and free_bits must be >= 0", where + ".beta", "");
  RF_CHECK(flow_hidden >= 8, "flow_hidden must be >= 8", where + ".flow_hidden", "");
  RF_CHECK(log_every >= 1 && ckpt_every >= 1, "log_every and ckpt_every must be >= 1", where + ".log_every", "");
  lexicographic.validate(where + ".lexicographic");
}

void TextEvalOptions::validate(const std::string& where) const {
  RF_CHECK(!nfe.empty(), "eval.nfe is empty", where + ".nfe", "e.g. [1, 2, 4, 8, 20]");
  for (int64_t k : nfe) RF_CHECK(k >= 1 && k <= 10000, "every NFE must be in 1 … 10000", where + ".nfe", "");
  RF_CHECK(n >= 1 && baseline_steps >= 1 && lm_steps >= 0, "n and baseline_steps must be >= 1", where + ".n", "");
}

void TextRunConfig::validate() const {
  RF_CHECK(!name.empty() && name.find('/') == std::string::npos, "name must be a plain directory name", "name", "");
  corpus.validate("corpus");
  tokenizer.validate("tokenizer");
  SentenceVAEOptions ae = autoencoder;
  ae.vocab = 1 << 20;  // known once the tokenizer is trained
  ae.validate("autoencoder");
  train.validate("train");
  eval.validate("eval");
  static const std::vector<std::string> known{"autoencoder", "latents", "generate", "transfer", "eval", "report"};
  for (const auto& s : stages)
    RF_CHECK(std::find(known.begin(), known.end(), s) != known.end(), "unknown text stage '" + s + "'", "stages",
             "valid: autoencoder, latents, generate, transfer, eval, report");
}

TextRunConfig load_text_config(const std::string& path, const std::vector<std::string>& overrides) {
  return load_keyed_run_config<TextRunConfig>(path, overrides, "not a text run: `rflow text train CONFIG` makes one");
}

std::string to_json(TextRunConfig& cfg) { return config::to_json(config::fields_of(cfg)); }

}  // namespace rflow
