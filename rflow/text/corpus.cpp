#include "rflow/text/corpus.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "rflow/core/error.h"
#include "rflow/text/grammar_corpus.h"

namespace rflow::text {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFortuneDir = "/usr/share/games/fortunes";
constexpr size_t kLongestFortuneWord = 20;

// FNV-1a: the same text lands in the same split on every machine.
uint64_t text_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}
bool in_test_split(const std::string& s, double fraction) { return double(text_hash(s) % 10000) < fraction * 10000.0; }

int64_t word_count(const std::string& s) {
  std::istringstream in(s);
  int64_t n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}

size_t longest_word(const std::string& s) {
  std::istringstream in(s);
  size_t n = 0;
  for (std::string w; in >> w;) n = std::max(n, w.size());
  return n;
}

std::string collapse_spaces(const std::string& s) {
  std::istringstream in(s);
  std::string out;
  for (std::string w; in >> w;) out += (out.empty() ? "" : " ") + w;
  return out;
}

// Position of the first byte that is not valid UTF-8 or is a control character, or npos.
size_t bad_character(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return i;
    if (len == 1 && (c < 32 || c == 127) && c != '\t') return i;
    for (int k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return i;
    i += len;
  }
  return std::string::npos;
}

Corpus grammar_corpus(const CorpusOptions& o, const std::string& split) {
  Corpus c;
  for (const auto& a : grammar_attributes()) {
    c.attributes.push_back(a.name);
    c.values.push_back(a.values);
  }
  for (const auto& s : grammar_sentences(split == "train" ? o.train_n : o.test_n, split, uint64_t(o.seed)).sentences) {
    c.texts.push_back(s.text());
    c.labels.push_back(s.labels());
  }
  c.describe = "grammar(" + split + ", " + std::to_string(c.texts.size()) + " sentences)";
  return c;
}

// One fortune as one line: its lines joined, a trailing attribution ("-- Author") cut.
std::string fortune_line(const std::string& block) {
  std::string text = collapse_spaces(block);
  const size_t attribution = text.find(" -- ");
  if (attribution != std::string::npos) text = text.substr(0, attribution);
  return text;
}

Corpus fortunes_corpus(const CorpusOptions& o, const std::string& split) {
  const fs::path dir = o.path.empty() ? fs::path(kFortuneDir) : fs::path(o.path);
  RF_CHECK(fs::is_directory(dir), "no fortune folder at " + dir.string(), "text.corpus.path",
           "install Debian's fortunes package (apt-get install fortunes; scripts/setup.sh does) or set text.corpus.path");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && !e.path().has_extension()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::set<std::string> texts;  // sorted and distinct: the same corpus on every machine
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line, block;
    const auto flush = [&] {
      const std::string t = fortune_line(block);
      block.clear();
      const int64_t words = word_count(t);
      // Code, URLs, chat logs and ASCII art are not sentences: very long "words" or markup characters.
      if (words >= o.min_words && words <= o.max_words && longest_word(t) <= kLongestFortuneWord &&
          t.find_first_of("<>|{}[]_\\@#$^~*=") == std::string::npos && bad_character(t) == std::string::npos)
        texts.insert(t);
    };
    while (std::getline(in, line)) {
      if (line == "%") flush();
      else block += line + " ";
    }
    flush();
  }
  Corpus c;
  for (const auto& t : texts)
    if (in_test_split(t, o.test_fraction) == (split == "test")) c.texts.push_back(t);
  RF_CHECK(!c.texts.empty(), "no fortunes of " + std::to_string(o.min_words) + "–" + std::to_string(o.max_words) + " words in " + dir.string(),
           "text.corpus", "raise text.corpus.max_words or install the fortunes package");
  c.labels.assign(c.texts.size(), {});
  c.describe = "fortunes(" + split + ", " + std::to_string(c.texts.size()) + " texts)";
  return c;
}

// "name=value name=value" → pairs; throws naming the line on a malformed pair.
std::vector<std::pair<std::string, std::string>> parse_labels(const std::string& field, const std::string& where) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(field);
  for (std::string pair; in >> pair;) {
    const size_t eq = pair.find('=');
    RF_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < pair.size(), "malformed label '" + pair + "'", where,
             "write labels as name=value separated by spaces, then a TAB, then the sentence");
    out.emplace_back(pair.substr(0, eq), pair.substr(eq + 1));
  }
  return out;
}

int64_t index_in(std::vector<std::string>& list, const std::string& s) {
  auto it = std::find(list.begin(), list.end(), s);
  if (it != list.end()) return int64_t(it - list.begin());
  list.push_back(s);
  return int64_t(list.size()) - 1;
}

Corpus file_corpus(const CorpusOptions& o, const std::string& split) {
  RF_CHECK(!o.path.empty(), "the file corpus needs a path", "text.corpus.path", "set text.corpus.path=sentences.txt");
  Corpus all = read_sentence_file(o.path, o.max_words);
  Corpus c;
  c.attributes = all.attributes, c.values = all.values;
  for (size_t i = 0; i < all.texts.size(); ++i) {
    if (in_test_split(all.texts[i], o.test_fraction) != (split == "test")) continue;
    c.texts.push_back(all.texts[i]);
    c.labels.push_back(all.labels[i]);
  }
  c.describe = "file(" + o.path + ", " + split + ", " + std::to_string(c.texts.size()) + " sentences)";
  return c;
}

}  // namespace

void CorpusOptions::validate(const std::string& where) const {
  corpora().get(name, where + ".name");
  RF_CHECK(train_n > 0 && test_n > 0, "corpus sizes must be positive", where + ".train_n", "");
  RF_CHECK(max_words >= 1 && max_words <= 256, "max_words must be in 1 … 256", where + ".max_words", "");
  RF_CHECK(min_words >= 1 && min_words <= max_words, "min_words must be in 1 … max_words", where + ".min_words", "");
  RF_CHECK(test_fraction >= 0 && test_fraction < 1, "test_fraction must be in [0, 1)", where + ".test_fraction", "");
}

int64_t Corpus::attribute_index(const std::string& name, const std::string& where) const {
  for (size_t a = 0; a < attributes.size(); ++a)
    if (attributes[a] == name) return int64_t(a);
  std::string names;
  for (const auto& a : attributes) names += (names.empty() ? "" : ", ") + a;
  throw Error("the corpus has no attribute '" + name + "'", where,
              names.empty() ? "this corpus is unlabelled: label the file's lines (name=value<TAB>sentence)" : "its attributes: " + names);
}

int64_t Corpus::value_index(int64_t attribute, const std::string& value, const std::string& where) const {
  const auto& vs = values.at(size_t(attribute));
  auto it = std::find(vs.begin(), vs.end(), value);
  if (it != vs.end()) return int64_t(it - vs.begin());
  std::string names;
  for (const auto& v : vs) names += (names.empty() ? "" : ", ") + v;
  throw Error(attributes[size_t(attribute)] + " has no value '" + value + "'", where, "its values: " + names);
}

Registry<CorpusEntry>& corpora() {
  static Registry<CorpusEntry> reg = [] {
    Registry<CorpusEntry> r("corpus");
    r.add("grammar", "synthetic attributed sentences (sentiment, tense, subject, template, length, place); outputs parse back exactly",
          {grammar_corpus, true});
    r.add("fortunes", "Debian's fortune cookies: short real English texts (fortunes package)", {fortunes_corpus, false});
    r.add("file", "your sentences, one per line, optionally labelled (name=value ...<TAB>sentence)", {file_corpus, false});
    return r;
  }();
  return reg;
}

Corpus load_corpus(const CorpusOptions& o, const std::string& split) {
  RF_CHECK(split == "train" || split == "test", "unknown split '" + split + "'", "load_corpus", "use train or test");
  return corpora().get(o.name, "text.corpus.name").load(o, split);
}

void check_sentence(const std::string& s, int64_t max_words, const std::string& where) {
  RF_CHECK(collapse_spaces(s).size() > 0, "empty sentence", where, "give one sentence per line, no blank lines");
  const size_t bad = bad_character(s);
  RF_CHECK(bad == std::string::npos,
           "unreadable character at byte " + std::to_string(bad + 1) + " (not UTF-8, or a control character)", where,
           "save the text as UTF-8 without control characters");
  const int64_t words = word_count(s);
  RF_CHECK(words <= max_words,
           "sentence of " + std::to_string(words) + " words, longer than the " + std::to_string(max_words) + " allowed", where,
           "split it, or raise the limit (text.corpus.max_words) and retrain");
}

Corpus read_sentence_file(const std::string& path, int64_t max_words) {
  std::ifstream in(path);
  RF_CHECK(in.good(), "cannot read " + path, path, "check the path");
  Corpus c;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  while (!lines.empty() && collapse_spaces(lines.back()).empty()) lines.pop_back();  // trailing blank lines
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string where = path + ":" + std::to_string(i + 1);
    const size_t tab = lines[i].find('\t');
    const std::string sentence = tab == std::string::npos ? lines[i] : lines[i].substr(tab + 1);
    check_sentence(sentence, max_words, where);
    std::vector<int64_t> labels(c.attributes.size(), -1);
    if (tab != std::string::npos)
      for (const auto& [name, value] : parse_labels(lines[i].substr(0, tab), where)) {
        const int64_t a = index_in(c.attributes, name);
        if (a >= int64_t(c.values.size())) c.values.emplace_back();
        labels.resize(c.attributes.size(), -1);
        labels[size_t(a)] = index_in(c.values[size_t(a)], value);
      }
    c.texts.push_back(collapse_spaces(sentence));
    c.labels.push_back(labels);
  }
  RF_CHECK(!c.texts.empty(), "no sentences in " + path, path, "write one sentence per line");
  for (auto& l : c.labels) l.resize(c.attributes.size(), -1);
  c.describe = "file(" + path + ", " + std::to_string(c.texts.size()) + " sentences)";
  return c;
}

}  // namespace rflow::text
