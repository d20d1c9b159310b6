// Corpora: a user's sentence file with labels, and every kind of bad line refused naming its line;
// Debian's fortunes as one-line texts split by a hash, the same on every load.
#include <filesystem>

#include <gtest/gtest.h>

#include "rflow/core/error.h"
#include "rflow/text/corpus.h"
#include "tests/test_util.h"

using namespace rflow::text;

namespace {

std::string error_of(const std::string& path, int64_t max_words = 8) {
  try {
    read_sentence_file(path, max_words);
  } catch (const rflow::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Corpus, ASentenceFileCarriesItsLabels) {
  rflow::test::TempDir dir;
  const std::string f = dir.file("s.txt");
  rflow::test::write_text(f, "mood=happy\tI like  it\nplain sentence here\nmood=sad topic=food\tthe soup was cold\n\n\n");
  const Corpus c = read_sentence_file(f, 8);
  ASSERT_EQ(c.texts.size(), 3u);
  EXPECT_EQ(c.texts[0], "I like it");
  EXPECT_EQ(c.attributes, (std::vector<std::string>{"mood", "topic"}));
  EXPECT_EQ(c.values[0], (std::vector<std::string>{"happy", "sad"}));
  EXPECT_EQ(c.labels[0], (std::vector<int64_t>{0, -1}));
  EXPECT_EQ(c.labels[1], (std::vector<int64_t>{-1, -1}));
  EXPECT_EQ(c.labels[2], (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(c.attribute_index("topic", "x"), 1);
  EXPECT_THROW(c.attribute_index("colour", "x"), rflow::Error);
  EXPECT_THROW(c.value_index(0, "angry", "x"), rflow::Error);
}

TEST(Corpus, BadLinesAreRefusedNamingTheLine) {
  rflow::test::TempDir dir;
  const std::string f = dir.file("s.txt");
  rflow::test::write_text(f, "one fine line\n\nanother line\n");
  std::string e = error_of(f);
  EXPECT_NE(e.find("s.txt:2"), std::string::npos) << e;
  EXPECT_NE(e.find("empty"), std::string::npos) << e;
  rflow::test::write_text(f, "fine\nbad \xff byte\n");
  e = error_of(f);
  EXPECT_NE(e.find("s.txt:2"), std::string::npos) << e;
  EXPECT_NE(e.find("UTF-8"), std::string::npos) << e;
  rflow::test::write_text(f, "fine\nfine\na b c d e f g h i j\n");
  e = error_of(f);
  EXPECT_NE(e.find("s.txt:3"), std::string::npos) << e;
  EXPECT_NE(e.find("10 words"), std::string::npos) << e;
  rflow::test::write_text(f, "mood\tno value\n");
  EXPECT_NE(error_of(f).find("malformed label"), std::string::npos);
  rflow::test::write_text(f, "\n\n");
  EXPECT_NE(error_of(f).find("no sentences"), std::string::npos);
  EXPECT_THROW(check_sentence("tab\x01 control", 8, "x"), rflow::Error);
}

TEST(Corpus, FortunesAreOneLineTextsSplitByHash) {
  RFLOW_TEST_REQUIRES(std::filesystem::exists("/usr/share/games/fortunes/fortunes"), "Debian's fortunes");
  CorpusOptions o;
  o.name = "fortunes";
  o.max_words = 12;
  const Corpus train = load_corpus(o, "train"), test = load_corpus(o, "test");
  EXPECT_GT(train.texts.size(), 200u);
  EXPECT_GT(test.texts.size(), 10u);
  EXPECT_NEAR(double(test.texts.size()) / double(train.texts.size() + test.texts.size()), 0.1, 0.04);
  std::set<std::string> tr(train.texts.begin(), train.texts.end());
  for (const auto& t : test.texts) EXPECT_FALSE(tr.count(t)) << t;
  for (const auto& t : train.texts) {
    std::istringstream in(t);
    int n = 0;
    for (std::string w; in >> w;) ++n;
    EXPECT_GE(n, 3);
    EXPECT_LE(n, 12) << t;
    EXPECT_EQ(t.find(" -- "), std::string::npos) << "attribution kept: " << t;
  }
  EXPECT_EQ(load_corpus(o, "train").texts, train.texts);
}

TEST(Corpus, TheGrammarCorpusIsLabelledThroughTheRegistry) {
  CorpusOptions o;
  o.train_n = 100;
  const Corpus c = load_corpus(o, "train");
  ASSERT_EQ(c.texts.size(), 100u);
  EXPECT_EQ(c.attribute_index("sentiment", "x"), 0);
  for (const auto& l : c.labels) EXPECT_EQ(l.size(), c.attributes.size());
  EXPECT_TRUE(corpora().get("grammar").grammar);
  EXPECT_FALSE(corpora().get("fortunes").grammar);
  o.name = "grammer";
  EXPECT_THROW(o.validate("corpus"), rflow::Error);
}
