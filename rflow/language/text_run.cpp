#include "rflow/language/text_run.h"

#include <filesystem>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/thread_policy.h"
#include "rflow/data/sentence_latents.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/npy.h"
#include "rflow/io/remove_tree.h"
#include "rflow/io/safetensors.h"
#include "rflow/language/autoencoder_training.h"
#include "rflow/language/text_eval.h"
#include "rflow/language/text_report.h"
#include "rflow/pipeline/pipeline.h"
#include "rflow/pipeline/staged_run.h"
#include "rflow/text/corpus.h"
#include "rflow/text/tokenizer.h"
#include "rflow/train/checkpoint.h"

namespace rflow {

namespace fs = std::filesystem;

namespace {

std::string tokenizer_file(const std::string& dir) { return (fs::path(dir) / "tokenizer.tok").string(); }

SentenceVAEOptions autoencoder_options(const TextRunConfig& cfg, const text::Tokenizer& tok) {
  SentenceVAEOptions o = cfg.autoencoder;
  o.vocab = tok.vocab_size();
  return o;
}

void stage_autoencoder(TextStageContext& c) {
  const text::Corpus train = text::load_corpus(c.cfg.corpus, "train");
  spdlog::info("autoencoder: corpus {}", train.describe);
  auto tok = text::train_tokenizer(train.texts, c.cfg.tokenizer);
  text::save_tokenizer(*tok, tokenizer_file(c.dir));
  const SentenceVAEOptions o = autoencoder_options(c.cfg, *tok);
  const EncodedSentences data = encode_sentences(*tok, train.texts, o.max_len, "corpus (" + train.describe + ")");
  spdlog::info("autoencoder: {} sentences, vocabulary {}, latent {} × {}, {} + {} joint steps", train.texts.size(),
               tok->vocab_size(), o.latents, o.latent_dim, c.cfg.train.steps, c.cfg.train.joint_steps);
  const AutoencoderResult r = train_autoencoder(c.cfg, o, data, c.dir);
  spdlog::info("autoencoder: reconstruction {:.3f} nats/sentence, KL {:.2f}, token accuracy {:.4f}; joint steps {} ({} undone)",
               r.reconstruction, r.kl, r.token_accuracy, r.joint_steps, r.rejected);
}

void stage_latents(TextStageContext& c) {
  auto tok = text::load_tokenizer(tokenizer_file(c.dir));
  const SentenceVAEOptions o = autoencoder_options(c.cfg, *tok);
  SentenceVAE vae(o);
  const std::string weights = autoencoder_weights(c.dir);
  assign_module_tensors(*vae, io::load_safetensors(weights).tensors, weights);
  vae->eval();
  torch::NoGradGuard ng;
  nlohmann::json meta;
  for (const std::string split : {"train", "test"}) {
    const text::Corpus corpus = text::load_corpus(c.cfg.corpus, split);
    if (split == "train") meta = {{"attributes", corpus.attributes}, {"values", corpus.values}};
    if (corpus.texts.empty()) continue;
    const EncodedSentences e = encode_sentences(*tok, corpus.texts, o.max_len, corpus.describe);
    std::vector<at::Tensor> mu;
    for (int64_t i = 0; i < e.ids.size(0); i += 1024)
      mu.push_back(vae->encode(e.ids.slice(0, i, i + 1024), e.mask.slice(0, i, i + 1024)).mu);
    at::Tensor labels = torch::full({int64_t(corpus.texts.size()), int64_t(corpus.attributes.size())}, -1, torch::kInt64);
    for (size_t i = 0; i < corpus.labels.size(); ++i)
      for (size_t a = 0; a < corpus.labels[i].size(); ++a) labels[int64_t(i)][int64_t(a)] = corpus.labels[i][a];
    fs::create_directories(fs::path(c.dir) / "latents");
    io::write_npy(SentenceLatentFiles::latents(c.dir, split), torch::cat(mu));
    io::write_npy(SentenceLatentFiles::labels(c.dir, split), labels);
    spdlog::info("latents: {} → {} × {}", corpus.describe, e.ids.size(0), o.flat_dim());
  }
  io::write_file_atomic(SentenceLatentFiles::attributes(c.dir), meta.dump(2) + "\n");
}

void stage_generate(TextStageContext& c) { run_pipeline(generate_flow_config(c.cfg, c.dir)); }

void stage_transfer(TextStageContext& c) {
  for (const RunConfig& r : transfer_flow_configs(c.cfg, c.dir)) run_pipeline(r);
}

void stage_eval(TextStageContext& c) { evaluate_text_run(c.dir); }
void stage_report(TextStageContext& c) { write_text_report(c.dir); }

SentenceAttributes attributes_of(const std::string& dir) {
  return SentenceAttributes::read(dir, "the latents stage has not run: add \"latents\" to stages");
}

// Settings every latent flow of a run shares: where it lives and the run's seed and threads.
RunConfig flow_base(const RunConfig& r, const TextRunConfig& cfg, const std::string& dir, const std::string& name) {
  RunConfig out = r;
  out.name = name;
  out.out_dir = (fs::path(dir) / "flows").string();
  out.seed = cfg.seed;
  out.threads = cfg.threads;
  out.log_level = cfg.log_level;
  out.data.target.name = "sentence_latents";
  out.data.target.path = fs::absolute(dir).string();
  return out;
}

}  // namespace

RunConfig generate_flow_config(const TextRunConfig& cfg, const std::string& dir) {
  RunConfig r = flow_base(cfg.generate, cfg, dir, "generate");
  r.data.source.name = "gaussian";
  r.data.target.get<SentenceLatentsOptions>("sentence_latents").label = cfg.control;
  const SentenceAttributes attrs = attributes_of(dir);
  int64_t classes = cfg.control.empty() ? 0 : 1;
  for (const auto& a : cfg.control) classes *= int64_t(attrs.values[size_t(attrs.index(a, "control"))].size());
  r.data.labels = classes > 0;
  r.model.num_classes = classes;
  r.validate();
  return r;
}

std::vector<RunConfig> transfer_flow_configs(const TextRunConfig& cfg, const std::string& dir) {
  std::vector<RunConfig> out;
  if (cfg.edit.empty()) return out;
  const SentenceAttributes attrs = attributes_of(dir);
  for (const auto& v : attrs.values[size_t(attrs.index(cfg.edit, "edit"))]) {
    RunConfig r = flow_base(cfg.transfer, cfg, dir, "to_" + v);
    // 1-RF between two data sets: the other values' sentences at t = 0, this value's at t = 1,
    // paired independently (unpaired text, as the paper); reflow then straightens the map.
    r.data.source = r.data.target;
    r.data.source.get<SentenceLatentsOptions>("sentence_latents").keep = {cfg.edit + "!=" + v};
    r.data.target.get<SentenceLatentsOptions>("sentence_latents").keep = {cfg.edit + "=" + v};
    r.data.labels = false;
    r.model.num_classes = 0;
    r.validate();
    out.push_back(r);
  }
  return out;
}

Registry<TextStage>& text_stages() {
  static Registry<TextStage> reg = [] {
    Registry<TextStage> r("text stage");
    const std::vector<std::string> ae{"seed", "corpus", "tokenizer", "autoencoder", "train"};
    r.add("autoencoder", "tokenizer from the train split, then the sentence autoencoder (reconstruction, then jointly with a latent flow)",
          {stage_autoencoder, ae, {"tokenizer.tok", "autoencoder"}});
    r.add("latents", "the train and test splits encoded to latents (latents/), with their labels", {stage_latents, ae, {"latents"}});
    r.add("generate", "the attribute-conditional flow from N(0, I) to the latents (flows/generate, with reflow)",
          {stage_generate, {"seed", "generate", "control"}, {"flows/generate"}});
    r.add("transfer", "one edit flow to each value of the edited attribute, from the other values' latents (flows/to_<value>)",
          {stage_transfer, {"seed", "transfer", "edit"}, {"flows/to_*"}});
    r.add("eval", "control, fluency, transfer and preservation vs NFE, baselines and speed (eval.json)",
          {stage_eval, {"eval"}, {"eval.json", "eval"}});
    r.add("report", "report.html: samples per attribute, edits before and after, curves", {stage_report, {}, {"report.html"}});
    return r;
  }();
  return reg;
}

std::string run_text(const TextRunConfig& cfg, const TextRunOptions& o) {
  const std::string dir = cfg.run_dir();
  if (o.fresh && fs::exists(dir)) io::remove_tree(dir);
  TextRunConfig copy = cfg;
  apply_thread_setting(cfg.threads);
  TextStageContext c{cfg, dir};
  std::vector<KeyedStage> stages;
  for (const auto& s : o.stages.empty() ? cfg.stages : o.stages) {
    const TextStage& stage = text_stages().get(s, "stages");
    stages.push_back({s, [&c, &stage] { stage.run(c); }, stage.reads, stage.outputs});
  }
  run_keyed_stages(dir, to_json(copy), stages, !o.stages.empty());
  return dir;
}

}  // namespace rflow
