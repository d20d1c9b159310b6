#include "rflow/language/text_model.h"

#include <filesystem>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/sentence_latents.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/safetensors.h"
#include "rflow/language/autoencoder_training.h"
#include "rflow/nn/sentence_vae.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/solve/solver.h"
#include "rflow/text/tokenizer.h"
#include "rflow/train/checkpoint.h"

namespace rflow {

namespace fs = std::filesystem;

std::string text_flow_dir(const std::string& run_dir, const std::string& name, const std::string& model) {
  const fs::path base = fs::path(run_dir) / "flows" / name;
  return (model == "1rf" ? base : base / model).string();
}

std::string edit_flow_name(const std::string& value) { return "to_" + value; }

TextModel::TextModel(const std::string& run_dir) : dir_(run_dir) {
  cfg_ = load_text_config(run_dir, {});
  const std::string tok_file = (fs::path(run_dir) / "tokenizer.tok").string();
  io::check_readable_file(tok_file, "not a trained text run: `rflow text train CONFIG` makes one");
  tok_ = text::load_tokenizer(tok_file);
  SentenceVAEOptions o = cfg_.autoencoder;
  o.vocab = tok_->vocab_size();
  vae_ = std::make_shared<SentenceVAEImpl>(o);
  const std::string weights = autoencoder_weights(run_dir);
  io::check_readable_file(weights, "the autoencoder stage has not finished: rerun `rflow text train " + run_dir + "`");
  const auto data = io::load_safetensors(weights);
  assign_module_tensors(*vae_, data.tensors, weights);
  vae_->eval();
  attrs_ = SentenceAttributes::read(run_dir, "the latents stage has not finished: rerun `rflow text train " + run_dir + "`");
}

TextModel::~TextModel() = default;

bool TextModel::known(const std::string& sentence) const {
  const auto ids = tok_->encode(sentence);
  return std::find(ids.begin(), ids.end(), text::kUnk) == ids.end();
}

at::Tensor TextModel::encode(const std::vector<std::string>& sentences, const std::string& where) {
  for (size_t i = 0; i < sentences.size(); ++i) {
    const std::string w = sentences.size() > 1 ? where + ": sentence " + std::to_string(i + 1) : where;
    text::check_sentence(sentences[i], cfg_.corpus.max_words, w);
    if (known(sentences[i])) continue;
    // Name the word the vocabulary lacks (only for a sentence that has one).
    std::istringstream words(tok_->normalise(sentences[i]));
    for (std::string word; words >> word;)
      RF_CHECK(known(word), "the word '" + word + "' is not in the run's vocabulary", w,
               "use words of the corpus the run was trained on (" + cfg_.corpus.name + ")");
  }
  const EncodedSentences e = encode_sentences(*tok_, sentences, cfg_.autoencoder.max_len, where);
  torch::NoGradGuard ng;
  return vae_->encode(e.ids, e.mask).mu;
}

std::vector<std::string> TextModel::decode(const at::Tensor& z) {
  torch::NoGradGuard ng;
  return decode_sentences(*tok_, vae_->decode_greedy(z, true));
}

bool TextModel::has_flow(const std::string& name, const std::string& model) const {
  return !resolve_checkpoint(text_flow_dir(dir_, name, model)).empty();
}

LoadedModel& TextModel::flow(const std::string& name, const std::string& model) {
  const std::string key = name + "/" + model;
  auto it = flows_.find(key);
  if (it != flows_.end()) return *it->second;
  const std::string d = text_flow_dir(dir_, name, model);
  RF_CHECK(fs::is_directory(d) && !resolve_checkpoint(d).empty(), "the run has no trained flow " + key, d,
           "train it: `rflow text train " + dir_ + "` with the generate / transfer stages (and reflow for 2rf)");
  auto m = std::make_unique<LoadedModel>(load_model(d, true, torch::kCPU));
  return *flows_.emplace(key, std::move(m)).first->second;
}

at::Tensor TextModel::run_flow(LoadedModel& m, const at::Tensor& x0, const at::Tensor& labels, const SolveSpec& s) {
  SolveOptions opt;
  opt.method = s.solver;
  opt.steps = s.steps;
  Cond c;
  if (labels.defined()) c.labels = labels;
  FieldOptions fo;
  fo.guidance = s.model == "1rf" ? s.guidance : 1.0;
  torch::NoGradGuard ng;
  ++calls_;
  const SolveResult r = solve(*m.model, x0, opt, c, fo);
  last_nfe_ = r.nfe.to(torch::kFloat64).mean().item<double>();
  return r.x;
}

at::Tensor TextModel::sample_latents(int64_t n, const std::vector<std::string>& values, const SolveSpec& s, uint64_t seed) {
  RF_CHECK(values.size() == cfg_.control.size(),
           "give one value per control attribute (" + std::to_string(cfg_.control.size()) + ")", "sample", "");
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor labels;
  if (!cfg_.control.empty()) {
    labels = torch::zeros({n}, torch::kInt64);
    for (size_t i = 0; i < values.size(); ++i) {
      const int64_t a = attrs_.index(cfg_.control[i], "sample");
      const auto& vs = attrs_.values[size_t(a)];
      const at::Tensor col = values[i].empty() ? torch::randint(0, int64_t(vs.size()), {n}, g, torch::kInt64)
                                               : torch::full({n}, attrs_.value_index(a, values[i], "sample"), torch::kInt64);
      labels = labels * int64_t(vs.size()) + col;
    }
  }
  const at::Tensor x0 = torch::randn({n, cfg_.autoencoder.flat_dim()}, g);
  return run_flow(flow("generate", s.model), x0, labels, s);
}

at::Tensor TextModel::edit_latents(const at::Tensor& z, const std::string& to, const SolveSpec& s) {
  RF_CHECK(!cfg_.edit.empty(), "the run has no edit flows", "edit", "set edit = \"<attribute>\" and train the transfer stage");
  attrs_.value_index(attrs_.index(cfg_.edit, "edit"), to, "edit --to");
  return run_flow(flow(edit_flow_name(to), s.model), z, {}, s);
}

std::vector<std::string> TextModel::edit(const std::vector<std::string>& sentences, const std::string& to, const SolveSpec& s) {
  return decode(edit_latents(encode(sentences, "edit"), to, s));
}

}  // namespace rflow
