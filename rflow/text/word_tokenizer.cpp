#include "rflow/text/word_tokenizer.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "rflow/core/error.h"

namespace rflow::text {

namespace {
bool word_char(unsigned char c) { return std::isalnum(c) || c == '\'' || c == '-' || c >= 0x80; }
}  // namespace

WordTokenizer::WordTokenizer(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    RF_CHECK(!tokens_[i].empty() && split(tokens_[i]) == std::vector<std::string>{tokens_[i]},
             "'" + tokens_[i] + "' is not a token this tokenizer makes", "word tokenizer", "rebuild it from the data");
    RF_CHECK(ids_.emplace(tokens_[i], kReserved + static_cast<int64_t>(i)).second,
             "'" + tokens_[i] + "' is in the vocabulary twice", "word tokenizer", "rebuild it from the data");
  }
}

std::vector<std::string> WordTokenizer::split(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (unsigned char c : text) {
    if (word_char(c)) {
      cur += static_cast<char>(c < 0x80 ? std::tolower(c) : c);
      continue;
    }
    if (!cur.empty()) out.push_back(cur), cur.clear();
    if (std::isgraph(c)) out.emplace_back(1, static_cast<char>(c));
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

int64_t WordTokenizer::id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? kUnk : it->second;
}

std::vector<int64_t> WordTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> out;
  for (const auto& w : split(text)) out.push_back(id(w));
  return out;
}

std::string WordTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t i : ids) {
    if (i < kReserved || i >= vocab_size()) continue;
    out += (out.empty() ? "" : " ") + tokens_[static_cast<size_t>(i - kReserved)];
  }
  return out;
}

std::string WordTokenizer::normalised(const std::string& s) {
  std::string out;
  for (const auto& w : split(s)) out += (out.empty() ? "" : " ") + w;
  return out;
}

std::string WordTokenizer::normalise(const std::string& s) const { return normalised(s); }

std::string WordTokenizer::serialize() const {
  std::string out;
  for (const auto& t : tokens_) out += t + "\n";
  return out;
}

namespace {
std::unique_ptr<Tokenizer> train_words(const std::vector<std::string>& corpus, const TokenizerOptions& o) {
  std::map<std::string, int64_t> counts;
  for (const auto& s : corpus)
    for (const auto& w : WordTokenizer::split(s)) ++counts[w];
  std::vector<std::pair<std::string, int64_t>> kept;
  for (const auto& [w, n] : counts)
    if (n >= o.min_count) kept.emplace_back(w, n);
  // Most frequent first, ties alphabetically: the same data always gives the same ids.
  std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  if (o.vocab_size > 0 && static_cast<int64_t>(kept.size()) > o.vocab_size - kReserved)
    kept.resize(static_cast<size_t>(o.vocab_size - kReserved));
  RF_CHECK(!kept.empty(), "no token is seen min_count = " + std::to_string(o.min_count) + " times", "tokenizer.min_count",
           "lower min_count");
  std::vector<std::string> tokens;
  for (const auto& [w, n] : kept) tokens.push_back(w);
  return std::make_unique<WordTokenizer>(std::move(tokens));
}

std::unique_ptr<Tokenizer> load_words(const std::string& bytes, const std::string& where) {
  std::istringstream in(bytes);
  std::vector<std::string> tokens;
  for (std::string line; std::getline(in, line);) tokens.push_back(line);
  RF_CHECK(!tokens.empty(), "the word tokenizer file lists no tokens", where, "rebuild it from the data");
  try {
    return std::make_unique<WordTokenizer>(std::move(tokens));
  } catch (const Error& e) {
    throw Error(e.message(), where, "the file is damaged: rebuild it from the data");
  }
}
}  // namespace

TokenizerEntry word_tokenizer_entry() { return {train_words, load_words}; }

}  // namespace rflow::text
