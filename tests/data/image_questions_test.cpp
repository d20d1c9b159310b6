// The composites' questions: answers agree with the garments and their places, every word any
// kind can produce is in the run's tokenizer, and a typed question with unknown words is refused
// naming them.
#include <gtest/gtest.h>

#include "rflow/core/error.h"
#include "rflow/data/image_questions.h"
#include "rflow/text/tokenizer.h"
#include "rflow/data/vqa_task.h"

using namespace rflow;

TEST(ImageQuestions, AnswersMatchTheGarmentsAndTheirPlaces) {
  std::mt19937_64 rng(3);
  for (const auto& layout : composite_layouts()) {
    EXPECT_EQ(place_names(layout).size(), layout.cells() == 1 ? 0u : size_t(layout.cells())) << layout.name;
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<int64_t> classes;
      for (int64_t k = 0; k < layout.cells(); ++k) classes.push_back(int64_t(rng() % 10));
      const auto d = question_kinds().get("describe").ask(classes, layout, rng);
      ASSERT_TRUE(d);
      EXPECT_EQ(parse_caption(d->answer).classes, classes);
      const auto w = question_kinds().get("where").ask(classes, layout, rng);
      ASSERT_EQ(bool(w), layout.cells() > 1);
      if (w) {
        const auto places = place_names(layout);
        const std::string place = w->question.substr(std::string("what is on the ").size());
        const size_t k = size_t(std::find(places.begin(), places.end(), place) - places.begin());
        ASSERT_LT(k, places.size()) << w->question;
        EXPECT_EQ(w->answer, garment_with_article(classes[k]));
      }
      const auto c = question_kinds().get("count").ask(classes, layout, rng);
      ASSERT_TRUE(c);
      int64_t cls = -1;
      for (int64_t g = 0; g < 10; ++g)
        if (c->question == "how many " + garment_plural(g) + " are there") cls = g;
      ASSERT_GE(cls, 0) << c->question;
      EXPECT_EQ(c->answer, count_word(std::count(classes.begin(), classes.end(), cls)));
    }
  }
}

TEST(ImageQuestions, EveryWordIsInTheTokenizerAndUnknownOnesAreNamed) {
  const std::vector<std::string> kinds{"describe", "where", "count"};
  auto tok = question_tokenizer(kinds);
  std::mt19937_64 rng(5);
  int64_t none = 0;
  for (const auto& layout : composite_layouts())
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<int64_t> classes;
      for (int64_t k = 0; k < layout.cells(); ++k) classes.push_back(int64_t(rng() % 10));
      for (const auto& k : kinds)
        if (const auto q = question_kinds().get(k).ask(classes, layout, rng)) {
          for (const std::string& s : {q->question, q->answer}) {
            const auto ids = tok->encode(s);
            EXPECT_EQ(std::count(ids.begin(), ids.end(), text::kUnk), 0) << s;
            EXPECT_EQ(tok->decode(ids), tok->normalise(s));
          }
          none += q->answer == "none";
        }
    }
  EXPECT_GT(none, 300);  // "none" is asked often enough to be learned
  // A caption's ids are the same in the questions' tokenizer: one embedding table reads both.
  const auto captions = caption_tokenizer();
  for (int64_t id = text::kReserved; id < captions->vocab_size(); ++id)
    EXPECT_EQ(tok->encode(captions->decode({id})), std::vector<int64_t>{id}) << captions->decode({id});
  const auto p = vqa_prompt(*tok, "What is on the LEFT?", 21, 100, 101);
  ASSERT_EQ(p.size(), 1u + 21u + 5u + 1u);
  EXPECT_EQ(p.front(), text::kBos);
  EXPECT_EQ(std::count(p.begin(), p.end(), 100), 21);
  EXPECT_EQ(p.back(), 101);
  try {
    vqa_prompt(*tok, "what colour is the purple hat", 21, 100, 101);
    FAIL() << "unknown words accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'colour'"), std::string::npos) << m;
    EXPECT_NE(m.find("'purple'"), std::string::npos) << m;
    EXPECT_EQ(m.find("'what'"), std::string::npos) << m;
  }
  EXPECT_THROW(vqa_prompt(*tok, " ? ", 21, 100, 101), Error);
}

TEST(ImageQuestions, DescribeGivesPartialCreditPerGarmentInPlace) {
  const auto& parts = question_kinds().get("describe").parts;
  ASSERT_TRUE(parts);
  const CompositeLayout& row2 = composite_layout("row2", "test");
  EXPECT_EQ(parts("a bag left of a coat", {8, 4}, row2), (std::pair<int64_t, int64_t>{2, 2}));
  EXPECT_EQ(parts("a coat left of a bag", {8, 4}, row2), (std::pair<int64_t, int64_t>{0, 2}));  // swapped: wrong places
  EXPECT_EQ(parts("a bag left of a shirt", {8, 4}, row2), (std::pair<int64_t, int64_t>{1, 2}));
  EXPECT_EQ(parts("a bag above a coat", {8, 4}, row2), (std::pair<int64_t, int64_t>{0, 2}));    // another layout
  EXPECT_EQ(parts("bag bag", {8, 4}, row2), (std::pair<int64_t, int64_t>{0, 2}));               // not a caption
  EXPECT_FALSE(question_kinds().get("where").parts);
}
