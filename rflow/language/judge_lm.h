// The language model that judges generated text: a small DeepSeek-style causal transformer trained
// on the run's train split, apart from the autoencoder's decoder (which would flatter its own
// output). Perplexity of generated sentences under it is set beside that of real held-out text.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rflow {

namespace text {
class Tokenizer;
}

struct JudgeLmResult {
  double seconds = 0, final_loss = 0;
  int64_t steps = 0;
  double best_validation = 0;  // perplexity on the held-back tenth of its texts, at best_step
  int64_t best_step = 0;
};

class JudgeLm {
 public:
  // Trains on `texts` for `steps`, every tenth text held back to choose the step whose weights are
  // kept (or loads `file` when it exists, else trains and saves there).
  JudgeLm(const text::Tokenizer& tok, const std::vector<std::string>& texts, int64_t max_len, int64_t steps,
          uint64_t seed, const std::string& file);
  ~JudgeLm();
  // exp(mean negative log-likelihood per token, the end token included) over the texts.
  double perplexity(const std::vector<std::string>& texts) const;
  const JudgeLmResult& training() const { return result_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  JudgeLmResult result_;
};

}  // namespace rflow
