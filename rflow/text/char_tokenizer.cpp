#include "rflow/text/char_tokenizer.h"

#include "rflow/core/error.h"

namespace rflow::text {

std::vector<int64_t> CharTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> out;
  out.reserve(text.size());
  for (unsigned char c : text) out.push_back(kReserved + c);
  return out;
}

std::string CharTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t i : ids)
    if (i >= kReserved && i < vocab_size()) out += static_cast<char>(static_cast<unsigned char>(i - kReserved));
  return out;
}

TokenizerEntry char_tokenizer_entry() {
  TokenizerEntry e;
  e.train = [](const std::vector<std::string>&, const TokenizerOptions&) { return std::make_unique<CharTokenizer>(); };
  e.load = [](const std::string& bytes, const std::string& where) -> std::unique_ptr<Tokenizer> {
    RF_CHECK(bytes.empty(), "a char tokenizer file has nothing after its header", where, "the file is damaged: rebuild it");
    return std::make_unique<CharTokenizer>();
  };
  return e;
}

}  // namespace rflow::text
