// The synthetic attributed corpus: every sentence parses back to the labels it was made with, the
// parser refuses what the grammar cannot produce, held-out combinations stay out of the train
// split, and content preservation counts exactly.
#include <set>

#include <gtest/gtest.h>

#include "rflow/core/error.h"
#include "rflow/text/grammar_corpus.h"

using namespace rflow::text;

TEST(GrammarCorpus, EverySentenceParsesBackToItsLabels) {
  for (const std::string split : {"train", "test"}) {
    const auto s = grammar_sentences(3000, split, 7).sentences;
    ASSERT_EQ(s.size(), 3000u);
    std::set<std::string> texts;
    std::vector<int64_t> seen(grammar_attributes().size(), 0);
    for (const auto& g : s) {
      const auto p = parse_grammar_sentence(g.text());
      ASSERT_TRUE(p.has_value()) << g.text();
      EXPECT_EQ(p->labels(), g.labels()) << g.text();
      EXPECT_EQ(p->text(), g.text());
      texts.insert(g.text());
      EXPECT_EQ(grammar_held_out(g), split == "test") << g.text();
      for (size_t a = 0; a < seen.size(); ++a) seen[a] |= int64_t(1) << g.labels()[a];
    }
    EXPECT_EQ(texts.size(), s.size()) << "sentences of a split are distinct";
    for (size_t a = 0; a < seen.size(); ++a)  // every value of every attribute occurs
      EXPECT_EQ(seen[a], (int64_t(1) << grammar_attributes()[a].values.size()) - 1) << grammar_attributes()[a].name;
  }
  EXPECT_EQ(grammar_sentences(50, "train", 3).sentences[10].text(), grammar_sentences(50, "train", 3).sentences[10].text());
}

TEST(GrammarCorpus, TheParserRefusesWhatTheGrammarCannotProduce) {
  EXPECT_TRUE(parse_grammar_sentence("the food was cold"));
  EXPECT_TRUE(parse_grammar_sentence("i think the staff is really friendly at night and the room looks clean") == std::nullopt)
      << "an adverb only in the plain template";
  EXPECT_TRUE(parse_grammar_sentence("the staff is really friendly at night and the room looks clean"));
  EXPECT_FALSE(parse_grammar_sentence("i think the food was cold")) << "opener and verb in different tenses";
  EXPECT_FALSE(parse_grammar_sentence("the food was cold and the room is dirty")) << "clauses in different tenses";
  EXPECT_FALSE(parse_grammar_sentence("the food was cold and the room was clean")) << "clauses of different sentiment";
  EXPECT_FALSE(parse_grammar_sentence("the food was cold and the food was stale")) << "the same subject twice";
  EXPECT_FALSE(parse_grammar_sentence("the food was cold cold"));
  EXPECT_FALSE(parse_grammar_sentence("food was cold"));
  EXPECT_FALSE(parse_grammar_sentence(""));
  const auto p = parse_grammar_sentence("overall , the coffee seemed stale on the weekend");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->labels(), (std::vector<int64_t>{0, 0, 5, 3, 0, 4}));  // negative, past, coffee, overall, short, weekend
}

TEST(GrammarCorpus, ContentKeptCountsTheNonAttributeWords) {
  EXPECT_DOUBLE_EQ(content_kept("the food was cold", "the food was warm", "sentiment"), 1.0);
  EXPECT_DOUBLE_EQ(content_kept("the food was cold", "the room was warm", "sentiment"), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(content_kept("the food was cold", "the food is cold", "tense"), 1.0);
  EXPECT_DOUBLE_EQ(content_kept("the food was cold", "the food is cold", "sentiment"), 2.0 / 3.0);
  // Multisets: a repeated word counts once per occurrence.
  EXPECT_DOUBLE_EQ(content_kept("the food was cold and the room was dirty", "the food was good", "sentiment"), 3.0 / 7.0);
  EXPECT_TRUE(is_attribute_word("tense", "thought"));
  EXPECT_FALSE(is_attribute_word("sentiment", "food"));
  EXPECT_THROW(is_attribute_word("mood", "food"), rflow::Error);
}
