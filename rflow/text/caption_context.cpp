#include "rflow/text/caption_context.h"

#include <torch/torch.h>

#include "rflow/text/char_tokenizer.h"

namespace rflow::text {

TokenBatch caption_context(const Tokenizer& words, const std::vector<std::string>& captions, int64_t max_words,
                           int64_t max_chars) {
  TokenBatch out = encode_batch(words, captions, max_words);
  if (max_chars > 0) {
    const TokenBatch chars = encode_batch(CharTokenizer(), captions, max_chars);
    out.ids = torch::cat({out.ids, chars.ids}, 1), out.mask = torch::cat({out.mask, chars.mask}, 1);
  }
  return out;
}

}  // namespace rflow::text
