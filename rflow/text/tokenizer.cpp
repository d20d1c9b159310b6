#include "rflow/text/tokenizer.h"

#include <algorithm>
#include <sstream>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/io/atomic_file.h"
#include "rflow/text/char_tokenizer.h"
#include "rflow/text/sentencepiece_tokenizer.h"
#include "rflow/text/word_tokenizer.h"

namespace rflow::text {

namespace {
constexpr const char* kMagic = "rflow-tokenizer";
constexpr int kFormat = 1;
}  // namespace

void TokenizerOptions::validate(const std::string& where) const {
  tokenizers().get(kind, where + ".kind");
  RF_CHECK(vocab_size == 0 || vocab_size > kReserved, "vocab_size must be 0 (automatic) or more than the 4 specials",
           where + ".vocab_size", "e.g. 1000 for subwords of short English texts");
  RF_CHECK(min_count >= 1, "min_count must be >= 1", where + ".min_count", "1 keeps every token seen");
  RF_CHECK(model_type == "unigram" || model_type == "bpe", "unknown sentencepiece model type '" + model_type + "'",
           where + ".model_type", "use unigram or bpe");
}

Registry<TokenizerEntry>& tokenizers() {
  static Registry<TokenizerEntry> reg = [] {
    Registry<TokenizerEntry> r("tokenizer");
    r.add("word", "words and punctuation, lower case, a closed vocabulary built from the data (captions)", word_tokenizer_entry());
    r.add("char", "UTF-8 bytes: 256 ids, nothing to train, every text encodes", char_tokenizer_entry());
    r.add("sentencepiece", "subwords (unigram or BPE) trained on a corpus with SentencePiece, for free text",
          sentencepiece_tokenizer_entry());
    return r;
  }();
  return reg;
}

std::unique_ptr<Tokenizer> train_tokenizer(const std::vector<std::string>& corpus, const TokenizerOptions& o) {
  o.validate("tokenizer");
  const bool any = std::any_of(corpus.begin(), corpus.end(), [](const std::string& s) {
    return s.find_first_not_of(" \t\r\n") != std::string::npos;
  });
  RF_CHECK(any, "the corpus holds no text", "tokenizer (" + o.kind + ")", "give a file with one text per line");
  return tokenizers().get(o.kind, "tokenizer.kind").train(corpus, o);
}

void save_tokenizer(const Tokenizer& t, const std::string& path) {
  io::write_file_atomic(path, std::string(kMagic) + " " + t.kind() + " " + std::to_string(kFormat) + "\n" + t.serialize());
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  const std::string bytes = io::read_file(path, 1ull << 30);
  const size_t eol = bytes.find('\n');
  std::istringstream head(bytes.substr(0, eol == std::string::npos ? 0 : eol));
  std::string magic, kind;
  int format = 0;
  head >> magic >> kind >> format;
  RF_CHECK(eol != std::string::npos && magic == kMagic, "not an rflow tokenizer file", path,
           "make one with `rflow tokenizer train` (or a run that builds one)");
  RF_CHECK(format == kFormat, "tokenizer file format " + std::to_string(format) + " is not the one this rflow reads (1)",
           path, "retrain the tokenizer with this rflow");
  return tokenizers().get(kind, path).load(bytes.substr(eol + 1), path);
}

TokenBatch encode_batch(const Tokenizer& t, const std::vector<std::string>& texts, int64_t max_len, bool bos_eos) {
  RF_CHECK(max_len >= 1, "max_len must be >= 1", "encode_batch", "");
  const int64_t B = static_cast<int64_t>(texts.size());
  TokenBatch out{torch::full({B, max_len}, kPad, torch::kInt64), torch::zeros({B, max_len}, torch::kFloat32)};
  auto ids = out.ids.accessor<int64_t, 2>();
  auto mask = out.mask.accessor<float, 2>();
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t> seq = t.encode(texts[b]);
    if (bos_eos && !seq.empty()) {
      seq.insert(seq.begin(), kBos);
      seq.push_back(kEos);
    }
    const int64_t n = std::min<int64_t>(max_len, static_cast<int64_t>(seq.size()));
    for (int64_t i = 0; i < n; ++i) ids[b][i] = seq[i], mask[b][i] = 1.0f;
  }
  return out;
}

std::vector<std::string> decode_batch(const Tokenizer& t, const at::Tensor& ids) {
  RF_CHECK(ids.dim() == 2, "ids must be [B, L]", "decode_batch", "");
  const at::Tensor c = ids.to(torch::kCPU, torch::kInt64).contiguous();
  std::vector<std::string> out;
  for (int64_t b = 0; b < c.size(0); ++b) {
    const int64_t* p = c[b].data_ptr<int64_t>();
    out.push_back(t.decode(std::vector<int64_t>(p, p + c.size(1))));
  }
  return out;
}

std::vector<std::string> read_corpus(const std::string& path) {
  std::istringstream in(io::read_file(path, 1ull << 32));
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    const size_t a = line.find_first_not_of(" \t\r"), b = line.find_last_not_of(" \t\r");
    if (a == std::string::npos) continue;
    line = line.substr(a, b - a + 1);
    if (line != "%") out.push_back(line);
  }
  RF_CHECK(!out.empty(), "the corpus holds no text", path, "one text per line (fortune files with % separators work too)");
  return out;
}

}  // namespace rflow::text
