// A trained text run, ready to use: its tokenizer, the sentence autoencoder, and the latent flows
// (the attribute-conditional generator and one edit flow per value of the edited attribute, each
// as a 1-RF and, after reflow, a 2-RF). Sentences in are checked (empty, unreadable, over-long,
// words the vocabulary lacks) before anything runs, with a message that names the problem.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rflow/data/sentence_latents.h"
#include "rflow/language/text_config.h"
#include "rflow/text/corpus.h"

namespace rflow {

struct LoadedModel;

namespace text {
class Tokenizer;
}

// Where a flow's run directory lives: run_dir/flows/<name> for the 1-RF, and the models the
// pipeline made from it inside (model "2rf", "3rf", "distill_2rf", ...).
std::string text_flow_dir(const std::string& run_dir, const std::string& name, const std::string& model = "1rf");
std::string edit_flow_name(const std::string& value);  // "to_<value>"

struct SolveSpec {
  int64_t steps = 1;      // Euler steps (= NFE)
  std::string model = "2rf";  // which model of the flow's chain: 1rf, 2rf (after one reflow), distill_2rf, ...
  double guidance = 1.0;  // classifier-free guidance (the 1-RF's; later models carry it in their pairs)
  std::string solver = "euler";
};

class TextModel {
 public:
  explicit TextModel(const std::string& run_dir);
  ~TextModel();
  const TextRunConfig& config() const { return cfg_; }
  const text::Tokenizer& tokenizer() const { return *tok_; }
  const std::string& run_dir() const { return dir_; }
  // The attributes and values the run knows (from its corpus).
  const SentenceAttributes& attribute_table() const { return attrs_; }
  const std::vector<std::string>& attributes() const { return attrs_.names; }
  const std::vector<std::vector<std::string>>& values() const { return attrs_.values; }

  // Whether every word of the sentence is in the vocabulary (encode() refuses those that are not).
  bool known(const std::string& sentence) const;
  // Posterior means [B, D] of checked sentences.
  at::Tensor encode(const std::vector<std::string>& sentences, const std::string& where);
  std::vector<std::string> decode(const at::Tensor& z);
  // n sentences with the control attributes set to `values` (one per control attribute; "" = any).
  at::Tensor sample_latents(int64_t n, const std::vector<std::string>& values, const SolveSpec& s, uint64_t seed);
  // Latents of sentences moved by the edit flow towards `to` (a value of the edited attribute).
  at::Tensor edit_latents(const at::Tensor& z, const std::string& to, const SolveSpec& s);
  std::vector<std::string> edit(const std::vector<std::string>& sentences, const std::string& to, const SolveSpec& s);
  // Loads a flow now (it is otherwise loaded on first use), so a timing that follows measures solving only.
  void load_flow(const std::string& name, const std::string& model) { flow(name, model); }
  // Whether the flow exists (trained) in this run.
  bool has_flow(const std::string& name, const std::string& model) const;
  int64_t flow_calls() const { return calls_; }
  // Mean velocity evaluations per sentence of the last flow solve (adaptive solvers choose it).
  double last_nfe() const { return last_nfe_; }

 private:
  LoadedModel& flow(const std::string& name, const std::string& model);
  at::Tensor run_flow(LoadedModel& m, const at::Tensor& x0, const at::Tensor& labels, const SolveSpec& s);
  std::string dir_;
  TextRunConfig cfg_;
  std::unique_ptr<text::Tokenizer> tok_;
  std::shared_ptr<class SentenceVAEImpl> vae_;
  SentenceAttributes attrs_;
  std::map<std::string, std::unique_ptr<LoadedModel>> flows_;
  int64_t calls_ = 0;
  double last_nfe_ = 0;
};

}  // namespace rflow
