#include "rflow/text/grammar_corpus.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "rflow/core/error.h"

namespace rflow::text {

namespace {

// Word lists. Adjectives are antonym-aligned (good ↔ bad, fresh ↔ stale, ...) and verbs
// tense-aligned (is ↔ was), so an ideal edit changes only the attribute's words.
const std::vector<std::string> kSubjects{"food", "staff", "room", "service", "music", "coffee", "waiter", "view"};
const std::vector<std::string> kAdjectives[2] = {
    {"bad", "awful", "rude", "stale", "dirty", "cold", "terrible", "noisy"},            // negative
    {"good", "great", "friendly", "fresh", "clean", "warm", "lovely", "quiet"}};        // positive
const std::vector<std::string> kVerbs[2] = {{"was", "seemed", "looked", "felt"},        // past
                                            {"is", "seems", "looks", "feels"}};         // present
const std::vector<std::string> kAdverbs{"really", "very", "quite", "so"};
const std::string kThink[2] = {"thought", "think"};
const std::vector<std::vector<std::string>> kPlaces{{}, {"at", "lunch"}, {"at", "dinner"}, {"at", "night"},
                                                    {"on", "the", "weekend"}};
constexpr int64_t kHeldOutModulus = 8;

int64_t index_of(const std::vector<std::string>& list, const std::string& w) {
  auto it = std::find(list.begin(), list.end(), w);
  return it == list.end() ? -1 : int64_t(it - list.begin());
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// Reads words in order; every read either matches or fails the parse.
struct Reader {
  const std::vector<std::string>& w;
  size_t i = 0;
  bool at(const std::string& s) const { return i < w.size() && w[i] == s; }
  bool take(const std::string& s) {
    if (!at(s)) return false;
    ++i;
    return true;
  }
  int64_t take_from(const std::vector<std::string>& list) {
    if (i >= w.size()) return -1;
    const int64_t k = index_of(list, w[i]);
    if (k >= 0) ++i;
    return k;
  }
  // A word of one of two aligned lists: (which list, index), or (-1, -1).
  std::pair<int64_t, int64_t> take_either(const std::vector<std::string> (&lists)[2]) {
    for (int64_t which = 0; which < 2; ++which) {
      const int64_t k = take_from(lists[which]);
      if (k >= 0) return {which, k};
    }
    return {-1, -1};
  }
};

// "the SUBJECT VERB [ADVERB] ADJECTIVE" into s (first clause) — tense and sentiment are read here.
bool parse_clause(Reader& r, GrammarSentence& s) {
  if (!r.take("the")) return false;
  if ((s.subject = r.take_from(kSubjects)) < 0) return false;
  auto [tense, verb] = r.take_either(kVerbs);
  if (tense < 0) return false;
  s.tense = tense, s.verb = verb;
  const int64_t adverb = r.take_from(kAdverbs);
  if (adverb >= 0) {
    if (s.templ != 0) return false;  // adverbs only in the plain template
    s.templ = 1, s.adverb = adverb;
  }
  auto [sentiment, adjective] = r.take_either(kAdjectives);
  if (sentiment < 0) return false;
  s.sentiment = sentiment, s.adjective = adjective;
  return true;
}

bool parse_second_clause(Reader& r, GrammarSentence& s) {
  if (!r.take("the")) return false;
  s.subject2 = r.take_from(kSubjects);
  if (s.subject2 < 0 || s.subject2 == s.subject) return false;
  s.verb2 = r.take_from(kVerbs[s.tense]);  // the same tense and sentiment as the first clause
  if (s.verb2 < 0) return false;
  s.adjective2 = r.take_from(kAdjectives[s.sentiment]);
  return s.adjective2 >= 0;
}

std::vector<std::string> concat_words(std::initializer_list<std::vector<std::string>> lists) {
  std::vector<std::string> out;
  for (const auto& l : lists) out.insert(out.end(), l.begin(), l.end());
  return out;
}

}  // namespace

const std::vector<GrammarAttribute>& grammar_attributes() {
  static const std::vector<GrammarAttribute> attrs{
      {"sentiment", {"negative", "positive"}, concat_words({kAdjectives[0], kAdjectives[1]})},
      {"tense", {"past", "present"}, concat_words({kVerbs[0], kVerbs[1], {kThink[0], kThink[1]}})},
      {"subject", kSubjects, kSubjects},
      {"template", {"plain", "adverb", "opinion", "overall"}, concat_words({kAdverbs, {"overall", ",", "i", kThink[0], kThink[1]}})},
      {"length", {"short", "long"}, {}},
      {"place", {"none", "lunch", "dinner", "night", "weekend"}, {"at", "on", "lunch", "dinner", "night", "weekend"}},
  };
  return attrs;
}

std::vector<int64_t> GrammarSentence::labels() const { return {sentiment, tense, subject, templ, length, place}; }

std::string GrammarSentence::text() const {
  std::vector<std::string> w;
  if (templ == 2) w.insert(w.end(), {"i", kThink[tense]});
  if (templ == 3) w.insert(w.end(), {"overall", ","});
  w.insert(w.end(), {"the", kSubjects[subject], kVerbs[tense][verb]});
  if (templ == 1) w.push_back(kAdverbs[adverb]);
  w.push_back(kAdjectives[sentiment][adjective]);
  w.insert(w.end(), kPlaces[place].begin(), kPlaces[place].end());
  if (length == 1)
    w.insert(w.end(), {"and", "the", kSubjects[subject2], kVerbs[tense][verb2], kAdjectives[sentiment][adjective2]});
  std::string out;
  for (const auto& x : w) out += (out.empty() ? "" : " ") + x;
  return out;
}

std::optional<GrammarSentence> parse_grammar_sentence(const std::string& text) {
  const auto words = split_words(text);
  Reader r{words};
  GrammarSentence s;
  int64_t opener_tense = -1;
  if (r.take("i")) {
    if (r.take(kThink[0])) opener_tense = 0;
    else if (r.take(kThink[1])) opener_tense = 1;
    else return std::nullopt;
    s.templ = 2;
  } else if (r.take("overall")) {
    if (!r.take(",")) return std::nullopt;
    s.templ = 3;
  }
  if (!parse_clause(r, s)) return std::nullopt;
  if (opener_tense >= 0 && opener_tense != s.tense) return std::nullopt;
  for (size_t p = 1; p < kPlaces.size(); ++p) {
    const auto& words_p = kPlaces[p];
    if (r.i + words_p.size() <= words.size() && std::equal(words_p.begin(), words_p.end(), words.begin() + r.i)) {
      s.place = int64_t(p);
      r.i += words_p.size();
      break;
    }
  }
  if (r.take("and")) {
    if (!parse_second_clause(r, s)) return std::nullopt;
    s.length = 1;
  }
  if (r.i != words.size()) return std::nullopt;
  return s;
}

bool is_attribute_word(const std::string& attribute, const std::string& word) {
  for (const auto& a : grammar_attributes())
    if (a.name == attribute) return a.words.empty() || index_of(a.words, word) >= 0;
  std::string names;
  for (const auto& a : grammar_attributes()) names += (names.empty() ? "" : ", ") + a.name;
  throw Error("the grammar has no attribute '" + attribute + "'", "is_attribute_word", "use one of " + names);
}

double content_kept(const std::string& source, const std::string& output, const std::string& attribute) {
  std::map<std::string, int64_t> out;
  for (const auto& w : split_words(output)) ++out[w];
  int64_t content = 0, kept = 0;
  for (const auto& w : split_words(source)) {
    if (is_attribute_word(attribute, w)) continue;
    ++content;
    if (out[w] > 0) --out[w], ++kept;
  }
  return content == 0 ? 1.0 : double(kept) / double(content);
}

bool grammar_held_out(const GrammarSentence& s) { return (s.subject + s.adjective) % kHeldOutModulus == 0; }

GrammarSplit grammar_sentences(int64_t n, const std::string& split, uint64_t seed) {
  RF_CHECK(split == "train" || split == "test", "unknown grammar split '" + split + "'", "grammar_sentences",
           "use train or test");
  RF_CHECK(n > 0 && n <= 200000, "grammar corpus size must be in 1 … 200000 (got " + std::to_string(n) + ")",
           "grammar_sentences", "");
  const bool test = split == "test";
  // Another stream per split, so a test sentence is never the train split's by construction.
  std::mt19937_64 rng(seed * 2 + (test ? 1 : 0));
  const auto pick = [&](int64_t k) { return int64_t(rng() % uint64_t(k)); };
  std::set<std::string> seen;
  GrammarSplit out;
  for (int64_t tries = 0; int64_t(out.sentences.size()) < n; ++tries) {
    RF_CHECK(tries < 100 * n, "the grammar cannot make " + std::to_string(n) + " distinct " + split + " sentences",
             "grammar_sentences", "ask for fewer");
    GrammarSentence s;
    s.sentiment = pick(2), s.tense = pick(2), s.subject = pick(8), s.templ = pick(4), s.length = pick(2);
    s.place = pick(5), s.adjective = pick(8), s.verb = pick(4), s.adverb = pick(4);
    s.subject2 = (s.subject + 1 + pick(7)) % 8, s.verb2 = pick(4), s.adjective2 = pick(8);
    if (test) s.adjective = (kHeldOutModulus - s.subject % kHeldOutModulus) % kHeldOutModulus;  // held out
    else if (grammar_held_out(s)) continue;
    if (!test && s.length == 1 && (s.subject2 + s.adjective2) % kHeldOutModulus == 0) continue;
    if (seen.insert(s.text()).second) out.sentences.push_back(s);
  }
  return out;
}

}  // namespace rflow::text
