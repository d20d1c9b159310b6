// What a text run is worth, in numbers (eval.json): the autoencoder's reconstruction and latent
// statistics; attribute-conditional generation (fluency = grammar parse rate, control accuracy,
// distinct and novel sentences) and edits (transfer accuracy, content kept, other attributes kept)
// for every flow of the chain at every NFE, beside the many-step sampler and the autoencoder's own
// latent offset; sentences per second; on free text, perplexity under a separate language model.
#pragma once

#include <string>

namespace rflow {

std::string text_eval_file(const std::string& run_dir);  // run_dir/eval.json

// Evaluates a trained text run and writes eval.json (atomically); returns the file.
std::string evaluate_text_run(const std::string& run_dir);

}  // namespace rflow
