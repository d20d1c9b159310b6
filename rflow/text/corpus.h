// Sentence corpora for text models, registered by name (corpora()): "grammar" (the synthetic
// attributed corpus, labels exact), "fortunes" (Debian's fortune cookies: real short English) and
// "file" (your own sentences, one per line, optionally labelled). Each loads a train or test split
// as sentences with per-attribute labels; every line is checked before any training starts.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rflow/core/registry.h"

namespace rflow::text {

struct CorpusOptions {
  std::string name = "grammar";
  std::string path;         // file: the sentences; fortunes: the fortune folder ("" = Debian's)
  int64_t train_n = 20000;  // grammar: sentences drawn for the train split
  int64_t test_n = 2000;    // grammar: ... for the test split
  int64_t max_words = 16;   // longer sentences: fortunes skips them, a file is refused
  int64_t min_words = 3;    // fortunes: shorter texts are skipped
  double test_fraction = 0.1;  // fortunes / file: the share held out (by a hash of the text)
  int64_t seed = 0;

  template <class V>
  void visit(V& v) {
    v("name", name, "corpus: grammar (synthetic, labelled), fortunes (Debian's fortune cookies), file (one sentence per line)");
    v("path", path, "file: the sentences (\"label=value ...<TAB>sentence\" lines may carry labels); fortunes: the folder (\"\" = /usr/share/games/fortunes)");
    v("train_n", train_n, "grammar: distinct sentences in the train split");
    v("test_n", test_n, "grammar: distinct sentences in the test split (held-out subject/adjective combinations)");
    v("max_words", max_words, "longest sentence in words: fortunes skips longer texts, a file with one is refused");
    v("min_words", min_words, "fortunes: texts with fewer words are skipped (and code, URLs, chat logs: a \"word\" over 20 characters or markup such as < > | { } _ @ #)");
    v("test_fraction", test_fraction, "fortunes / file: share of the sentences held out as the test split (chosen by a hash of the text)");
    v("seed", seed, "grammar: the draw of sentences");
  }
  void validate(const std::string& where) const;
};

// Sentences with labels: labels[i][a] is sentence i's value index for attribute a (−1 = unlabelled).
struct Corpus {
  std::string describe;
  std::vector<std::string> texts;
  std::vector<std::string> attributes;              // names, in label order
  std::vector<std::vector<std::string>> values;     // per attribute, its values (index = label)
  std::vector<std::vector<int64_t>> labels;         // [texts][attributes]
  // The attribute's index; throws naming the corpus's attributes when it has none of that name.
  int64_t attribute_index(const std::string& name, const std::string& where) const;
  // The value's index within an attribute; throws naming the attribute's values.
  int64_t value_index(int64_t attribute, const std::string& value, const std::string& where) const;
};

struct CorpusEntry {
  std::function<Corpus(const CorpusOptions&, const std::string& split)> load;
  bool grammar = false;  // outputs parse with the grammar: control and transfer are measured exactly
};
// Mutable: programs and tests may register their own corpora.
Registry<CorpusEntry>& corpora();

// The split ("train" | "test") of the configured corpus.
Corpus load_corpus(const CorpusOptions& o, const std::string& split);

// One sentence from a user, checked as a corpus line is: not empty, valid UTF-8 without control
// characters, at most max_words words. Throws rflow::Error naming `where` (a file and line).
void check_sentence(const std::string& s, int64_t max_words, const std::string& where);

// Lines of a user's sentence file: "sentence" or "name=value name=value<TAB>sentence"; blank lines
// and malformed labels are refused naming the line.
Corpus read_sentence_file(const std::string& path, int64_t max_words);

}  // namespace rflow::text
