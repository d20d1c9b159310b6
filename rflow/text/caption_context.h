// The token context of captions as Hunyuan-DiT's two text encoders read it: the word tokenizer's ids
// (max_words), then, with max_chars > 0, the captions' UTF-8 bytes as character ids (max_chars),
// under one mask. Every captioned data set encodes its captions and prompts through here.
#pragma once

#include <string>
#include <vector>

#include "rflow/text/tokenizer.h"

namespace rflow::text {

TokenBatch caption_context(const Tokenizer& words, const std::vector<std::string>& captions, int64_t max_words,
                           int64_t max_chars);

}  // namespace rflow::text
