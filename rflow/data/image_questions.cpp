#include "rflow/data/image_questions.h"

#include <algorithm>

#include "rflow/core/error.h"
#include "rflow/text/word_tokenizer.h"

namespace rflow {

namespace {

const char* const kCounts[] = {"none", "one", "two", "three", "four"};

std::optional<ImageQuestion> ask_describe(const std::vector<int64_t>& classes, const CompositeLayout& layout,
                                          std::mt19937_64&) {
  return ImageQuestion{"describe", "describe this image", composite_caption(classes, layout)};
}

std::optional<ImageQuestion> ask_where(const std::vector<int64_t>& classes, const CompositeLayout& layout,
                                       std::mt19937_64& rng) {
  const auto places = place_names(layout);
  if (places.empty()) return std::nullopt;
  const size_t k = std::uniform_int_distribution<size_t>(0, places.size() - 1)(rng);
  return ImageQuestion{"where", "what is on the " + places[k], garment_with_article(classes[k])};
}

// Half the time about a garment the image holds, half about any of the ten (mostly absent), so
// "none" is an answer it must give as often as a count.
std::optional<ImageQuestion> ask_count(const std::vector<int64_t>& classes, const CompositeLayout&,
                                       std::mt19937_64& rng) {
  const bool present = std::uniform_int_distribution<int>(0, 1)(rng) == 1;
  const int64_t cls = present ? classes[std::uniform_int_distribution<size_t>(0, classes.size() - 1)(rng)]
                              : std::uniform_int_distribution<int64_t>(0, 9)(rng);
  const int64_t n = std::count(classes.begin(), classes.end(), cls);
  return ImageQuestion{"count", "how many " + garment_plural(cls) + " are there", count_word(n)};
}

std::pair<int64_t, int64_t> describe_parts(const std::string& answer, const std::vector<int64_t>& classes,
                                           const CompositeLayout& layout) {
  int64_t right = 0;
  try {
    const ParsedCaption got = parse_caption(answer);
    for (size_t k = 0; k < classes.size() && got.layout.name == layout.name; ++k) right += got.classes[k] == classes[k];
  } catch (const Error&) {  // not a caption at all: no garment named right
  }
  return {right, int64_t(classes.size())};
}

std::vector<std::string> words_of(const std::vector<std::string>& texts) {
  std::vector<std::string> out;
  for (const auto& t : texts) {
    size_t i = 0;
    while (i < t.size()) {
      const size_t j = std::min(t.find(' ', i), t.size());
      if (j > i) out.push_back(t.substr(i, j - i));
      i = j + 1;
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

std::vector<std::string> place_names(const CompositeLayout& l) {
  if (l.cells() == 1) return {};
  if (l.rows == 1) return l.cols == 2 ? std::vector<std::string>{"left", "right"} : std::vector<std::string>{"left", "middle", "right"};
  if (l.cols == 1) return l.rows == 2 ? std::vector<std::string>{"top", "bottom"} : std::vector<std::string>{"top", "middle", "bottom"};
  return {"top left", "top right", "bottom left", "bottom right"};
}

std::string count_word(int64_t n) { return n >= 0 && n <= 4 ? kCounts[n] : std::to_string(n); }

std::string garment_plural(int64_t cls) {
  const std::string& name = garment_names().at(size_t(cls));
  if (name == "trouser") return "trousers";
  if (name == "dress") return "dresses";
  return name + "s";
}

Registry<QuestionKind>& question_kinds() {
  static Registry<QuestionKind> reg = [] {
    Registry<QuestionKind> r("question kind");
    std::vector<std::string> captions, garments, plurals;
    for (int64_t c = 0; c < 10; ++c) garments.push_back(garment_with_article(c)), plurals.push_back(garment_plural(c));
    captions = garments;
    captions.insert(captions.end(), {"left of", "above", "describe this image"});
    r.add("describe", "\"describe this image\" → the caption, garments in reading order", {ask_describe, words_of(captions), describe_parts});
    std::vector<std::string> where = garments;
    where.insert(where.end(), {"what is on the", "top left right bottom middle"});
    r.add("where", "\"what is on the left\" → \"a bag\" (left / middle / right, top / bottom, top left …)", {ask_where, words_of(where)});
    std::vector<std::string> count = plurals;
    count.insert(count.end(), {"how many are there", "none one two three four"});
    r.add("count", "\"how many bags are there\" → \"two\" (none … four)", {ask_count, words_of(count)});
    return r;
  }();
  return reg;
}

std::vector<std::string> question_vocabulary(const std::vector<std::string>& kinds) {
  std::vector<std::string> out;
  for (const auto& k : kinds) {
    const auto& w = question_kinds().get(k, "data.questions").words;
    out.insert(out.end(), w.begin(), w.end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::unique_ptr<text::Tokenizer> question_tokenizer(const std::vector<std::string>& kinds) {
  // The captions' words first, with the caption tokenizer's ids, so a model that reads prompts
  // (JanusFlow's generation) and questions in one embedding table means one word by one id.
  const auto captions = caption_tokenizer();
  std::vector<std::string> tokens;
  for (int64_t id = text::kReserved; id < captions->vocab_size(); ++id) tokens.push_back(captions->decode({id}));
  for (const auto& w : question_vocabulary(kinds))
    if (std::find(tokens.begin(), tokens.end(), w) == tokens.end()) tokens.push_back(w);
  return std::make_unique<text::WordTokenizer>(tokens);
}

}  // namespace rflow
