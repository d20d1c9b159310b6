// Word-level tokenizer for closed vocabularies (captions of generated data, command words): lower
// case, words of letters, digits, ' and - , every other visible character a token of its own. The
// vocabulary is built from the data, most frequent first, and saved with the run.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "rflow/text/tokenizer.h"

namespace rflow::text {

class WordTokenizer : public Tokenizer {
 public:
  // tokens: the vocabulary after the four specials, in id order (ids 4, 5, ...).
  explicit WordTokenizer(std::vector<std::string> tokens);
  std::string kind() const override { return "word"; }
  int64_t vocab_size() const override { return kReserved + static_cast<int64_t>(tokens_.size()); }
  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::string normalise(const std::string& s) const override;
  std::string serialize() const override;
  // The id of one token (kUnk if absent).
  int64_t id(const std::string& token) const;

  // The pieces the tokenizer cuts a text into (lower case, no spaces), and those joined by single
  // spaces (what normalise() gives; no vocabulary needed).
  static std::vector<std::string> split(const std::string& text);
  static std::string normalised(const std::string& text);

 private:
  std::vector<std::string> tokens_;
  std::map<std::string, int64_t> ids_;
};

TokenizerEntry word_tokenizer_entry();

}  // namespace rflow::text
