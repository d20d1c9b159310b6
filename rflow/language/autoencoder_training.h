// Training the sentence autoencoder of a text run: reconstruction (with the annealed, free-bits KL
// term) first; then, for joint_steps, together with a latent rectified flow under the
// lexicographic rule (rflow/train/lexicographic.h), so the latent space is shaped for transport
// without giving up reconstruction. Checkpointed as it goes and resumed exactly after a crash.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rflow/language/text_config.h"

namespace rflow {

namespace text {
class Tokenizer;
}

// Sentences as the autoencoder reads them: [N, max_len] ids (the tokens, kEos, then kPad) and
// mask (1 on tokens and kEos).
struct EncodedSentences {
  at::Tensor ids, mask;
};
// Throws rflow::Error naming the first sentence longer than max_len − 1 tokens and how many are.
EncodedSentences encode_sentences(const text::Tokenizer& tok, const std::vector<std::string>& texts, int64_t max_len,
                                  const std::string& where);
// The texts of decoded ids (up to the first kEos).
std::vector<std::string> decode_sentences(const text::Tokenizer& tok, const at::Tensor& ids);

struct AutoencoderResult {
  double reconstruction = 0, kl = 0, token_accuracy = 0;  // the last logged step's
  int64_t joint_steps = 0, rejected = 0;                  // joint steps taken, and undone
  double mean_lambda = 0, mean_cosine = 0;                // over the joint steps
  double seconds = 0;
};

// Trains (or resumes) the autoencoder in run_dir/autoencoder and writes its weights to
// run_dir/autoencoder/model.safetensors; metrics per logged step go to autoencoder/metrics.jsonl.
AutoencoderResult train_autoencoder(const TextRunConfig& cfg, const SentenceVAEOptions& opt, const EncodedSentences& data,
                                    const std::string& run_dir);

std::string autoencoder_weights(const std::string& run_dir);

}  // namespace rflow
