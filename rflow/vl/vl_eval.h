// `rflow vl eval`: exact-match answers on test-split composites, per layout and question kind, for
// the dynamic-tiling model and the resize baseline (the same images and questions); and the MLA
// decoder's numbers — KV-cache bytes per token against plain multi-head attention, tokens/s cached
// and uncached at each batch size, and how many answers the two decodings agree on (eval.json).
#pragma once

#include <string>

namespace rflow {

// A vision-language run's eval.json, or a JanusFlow run's understanding.json (its understanding
// path alone: exact-match answers and the decoder's numbers).
void evaluate_vl_run(const std::string& run_dir);
std::string vl_eval_file(const std::string& run_dir, bool unified);

}  // namespace rflow
