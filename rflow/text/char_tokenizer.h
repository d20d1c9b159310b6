// Character-level tokenizer: each UTF-8 byte is one id (4 + byte), so every text encodes with no
// unknown token and nothing to train; the reading a character-level text encoder needs.
#pragma once

#include "rflow/text/tokenizer.h"

namespace rflow::text {

class CharTokenizer : public Tokenizer {
 public:
  std::string kind() const override { return "char"; }
  int64_t vocab_size() const override { return kReserved + 256; }
  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::string serialize() const override { return {}; }
};

TokenizerEntry char_tokenizer_entry();

}  // namespace rflow::text
