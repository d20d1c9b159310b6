// A synthetic attributed corpus from a small English grammar ("the coffee was cold at night and the
// staff seemed rude"), with every sentence's attributes as labels — sentiment, tense, subject,
// template, length, place — and a parser that reads any string back into them or rejects it. Control
// and transfer are then measured exactly: parse the output, compare labels, count kept words.
// Torch-free: the corpus, its labels and the parser are plain strings and integers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rflow::text {

// The grammar's attributes, in label order, and their values (index = label).
struct GrammarAttribute {
  std::string name;
  std::vector<std::string> values;
  // The words that carry its value (sentiment: the adjectives; tense: the verbs and think/thought):
  // what an edit of it may change. Empty: any word may (length).
  std::vector<std::string> words;
};
const std::vector<GrammarAttribute>& grammar_attributes();

// Every choice one sentence makes: the labelled attributes plus its content slots.
struct GrammarSentence {
  int64_t sentiment = 0, tense = 0, subject = 0, templ = 0, length = 0, place = 0;  // labels
  int64_t adjective = 0, verb = 0, adverb = 0;              // first clause's words
  int64_t subject2 = 0, verb2 = 0, adjective2 = 0;          // the second clause (length = long)
  std::vector<int64_t> labels() const;  // in grammar_attributes() order
  std::string text() const;
};

// The sentence a string spells, if the grammar can produce it exactly (words separated by single
// spaces, lower case): the parse rate of generated text is its fluency.
std::optional<GrammarSentence> parse_grammar_sentence(const std::string& text);

// Whether `word` carries the attribute's value (see GrammarAttribute::words); the rest of a
// sentence's words are its content, which an edit of that attribute should keep. Throws naming the
// grammar's attributes for an unknown one.
bool is_attribute_word(const std::string& attribute, const std::string& word);

// Share of the source's content words (those not carrying `attribute`) that the output keeps,
// counted as multisets: 1 when an edit changed only the attribute's words. 1 for a source with no
// content words.
double content_kept(const std::string& source, const std::string& output, const std::string& attribute);

struct GrammarSplit {
  std::vector<GrammarSentence> sentences;
};
// n distinct sentences of a split, deterministic by seed. The test split holds exactly the
// (subject, adjective pair) combinations the train split never shows: one adjective pair in eight
// per subject ("coffee" with "fresh"/"stale", ...), so held-out sentences test composition.
GrammarSplit grammar_sentences(int64_t n, const std::string& split, uint64_t seed);
// Whether a sentence's (subject, adjective) combination is held out of the train split.
bool grammar_held_out(const GrammarSentence& s);

}  // namespace rflow::text
