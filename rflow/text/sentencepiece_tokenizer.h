// Subword tokenizer for free text on Debian's SentencePiece: a unigram or BPE model trained on a
// corpus (in memory, no files), the four rflow specials at ids 0–3, whitespace collapsed and no other
// normalisation, so decode(encode(s)) gives s back for any text whose characters the corpus had.
// SentencePiece is reached through a plugin loaded on first use (plugins/sentencepiece_plugin.h says why).
#pragma once

#include <memory>
#include <string>

#include "rflow/text/tokenizer.h"

namespace rflow::text {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // model_proto: SentencePiece's serialized model; `where` names its source in errors.
  SentencePieceTokenizer(const std::string& model_proto, const std::string& where);
  ~SentencePieceTokenizer() override;
  std::string kind() const override { return "sentencepiece"; }
  int64_t vocab_size() const override;
  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::string normalise(const std::string& s) const override;
  std::string serialize() const override { return proto_; }

 private:
  void* handle_ = nullptr;  // the plugin's processor
  int64_t vocab_size_ = 0;
  std::string proto_;
};

TokenizerEntry sentencepiece_tokenizer_entry();

// False in builds with AddressSanitizer, whose runtime refuses RTLD_DEEPBIND (SentencePiece cannot be
// loaded there; using it throws rflow::Error saying so).
bool sentencepiece_available();

}  // namespace rflow::text
