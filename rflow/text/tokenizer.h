// The Tokenizer contract: text ↔ integer ids, with four reserved ids (pad 0, unk 1, bos 2, eos 3)
// that every kind shares, so a token context [B, L] of ids with its mask means the same thing
// whoever made it (all pad = the null prompt of classifier-free guidance). Kinds are registered
// (tokenizers()): "word" (a closed vocabulary built from the data), "char" (UTF-8 bytes) and
// "sentencepiece" (subwords trained on a corpus); each saves to and loads from one file.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rflow/core/registry.h"

namespace rflow::text {

inline constexpr int64_t kPad = 0, kUnk = 1, kBos = 2, kEos = 3;
inline constexpr int64_t kReserved = 4;  // ids below this are the specials above

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string kind() const = 0;    // its registry name
  virtual int64_t vocab_size() const = 0;  // ids are in [0, vocab_size), the specials included
  // Ids of the text's tokens, without specials; what the vocabulary lacks is kUnk.
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;
  // The text of ids; specials are skipped. decode(encode(s)) == normalise(s) when no id is kUnk.
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  // The text the tokenizer reads for `s` (word: lower case, single spaces; others: s itself), so
  // that round trips can be stated exactly.
  virtual std::string normalise(const std::string& s) const { return s; }
  // The kind's own bytes (what load() of its registry entry reads back).
  virtual std::string serialize() const = 0;
};

// Settings of a tokenizer that is trained (tokenizer.* in configs, flags of `rflow tokenizer train`).
struct TokenizerOptions {
  std::string kind = "word";
  int64_t vocab_size = 0;  // 0: word = every token seen, sentencepiece = 1000
  int64_t min_count = 1;   // word: tokens seen fewer times are unknown
  std::string model_type = "unigram";  // sentencepiece: unigram | bpe

  template <class V>
  void visit(V& v) {
    v("kind", kind, "tokenizer: word (closed vocabulary from the data), char (UTF-8 bytes), sentencepiece (subwords)");
    v("vocab_size", vocab_size, "largest vocabulary, specials included (0: word = every token seen, sentencepiece = 1000)");
    v("min_count", min_count, "word: tokens seen fewer times than this are unknown");
    v("model_type", model_type, "sentencepiece: unigram | bpe");
  }
  void validate(const std::string& where) const;
};

struct TokenizerEntry {
  // Builds the vocabulary from a corpus (one text per element); throws on an empty corpus.
  std::function<std::unique_ptr<Tokenizer>(const std::vector<std::string>& corpus, const TokenizerOptions& o)> train;
  // Rebuilds it from serialize()'s bytes; `where` names the file in errors.
  std::function<std::unique_ptr<Tokenizer>(const std::string& bytes, const std::string& where)> load;
};
// Mutable: programs and tests may register their own kinds.
Registry<TokenizerEntry>& tokenizers();

std::unique_ptr<Tokenizer> train_tokenizer(const std::vector<std::string>& corpus, const TokenizerOptions& o);
// One file for every kind: a header line naming the kind and format, then the kind's bytes;
// written through the shared output path (temporary file + rename).
void save_tokenizer(const Tokenizer& t, const std::string& path);
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// Ids and mask of a batch of texts, [B, max_len] int64 and float32 (1 = a token): each text's ids
// (bos/eos around them when asked), cut to max_len, padded with kPad. The empty text is all pad:
// the null prompt.
struct TokenBatch {
  at::Tensor ids, mask;
};
TokenBatch encode_batch(const Tokenizer& t, const std::vector<std::string>& texts, int64_t max_len,
                        bool bos_eos = false);
// The texts of a [B, L] id batch (pads and other specials skipped).
std::vector<std::string> decode_batch(const Tokenizer& t, const at::Tensor& ids);

// Texts of a corpus file: one per non-empty line; lines of a single '%' (the fortune format) and
// surrounding blanks are separators. Throws naming the file when it holds no text.
std::vector<std::string> read_corpus(const std::string& path);

}  // namespace rflow::text
