// Questions about a composite of garments and their exact answers, the understanding task of the
// vision-language models: "describe this image" → its caption in reading order; "what is on the
// left" → "a bag"; "how many bags are there" → "two". Kinds are registered (question_kinds()), each
// saying which layouts it can ask about and every word it uses, so the tokenizer of a run is the
// union of the kinds' words and a question outside them is refused by name.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "rflow/core/registry.h"
#include "rflow/data/fashion_composites.h"
#include "rflow/text/tokenizer.h"

namespace rflow {

struct ImageQuestion {
  std::string kind, question, answer;
};

struct QuestionKind {
  // One question about an image of `classes` (reading order) in `layout`, drawn with rng; none when
  // the kind cannot ask about this layout.
  std::function<std::optional<ImageQuestion>(const std::vector<int64_t>& classes, const CompositeLayout& layout,
                                             std::mt19937_64& rng)>
      ask;
  // Every word its questions and answers can hold.
  std::vector<std::string> words;
  // Optional partial credit of an answer: {parts right, parts} (describe: garments named right in
  // their place — what a classifier reading each cell would score).
  std::function<std::pair<int64_t, int64_t>(const std::string& answer, const std::vector<int64_t>& classes,
                                            const CompositeLayout& layout)>
      parts;
};
Registry<QuestionKind>& question_kinds();

// The cells of a layout as questions name them, in reading order: "left", "right"; "left",
// "middle", "right"; "top", "bottom"; "top left", …; a single garment has no places.
std::vector<std::string> place_names(const CompositeLayout& layout);
// "none", "one", … "four".
std::string count_word(int64_t n);
// A garment's plural as counting questions name it ("bags", "ankle boots", "trousers").
std::string garment_plural(int64_t cls);

// Every text the named kinds can produce (questions and answers), to build a tokenizer from.
std::vector<std::string> question_vocabulary(const std::vector<std::string>& kinds);
// The word tokenizer of every question and answer of the kinds (the same ids on every machine);
// the captions' words keep their caption_tokenizer() ids, the others follow.
std::unique_ptr<text::Tokenizer> question_tokenizer(const std::vector<std::string>& kinds);

}  // namespace rflow
