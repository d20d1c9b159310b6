// Tokenizers: round trips text → ids → text for every kind, SentencePiece trained on real short
// English texts (Debian's fortunes) and loaded back, the shared file format, batches with masks,
// and the errors a user meets (empty corpus, wrong file, unknown kind).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/text/sentencepiece_tokenizer.h"
#include "rflow/text/tokenizer.h"
#include "tests/test_util.h"

using namespace rflow;
using namespace rflow::text;

namespace {

const char* kFortunes = "/usr/share/games/fortunes/fortunes";

std::vector<std::string> captions() {
  return {"a sneaker left of a bag", "a bag above a coat", "a shirt", "a sandal left of a sneaker left of a bag",
          "an ankle boot above a dress", "a bag left of a bag"};
}

void write(const std::string& path, const std::string& s) { std::ofstream(path) << s; }

}  // namespace

TEST(WordTokenizer, BuildsItsVocabularyFromTheDataMostFrequentFirstAndRoundTrips) {
  TokenizerOptions o;
  o.kind = "word";
  const auto t = train_tokenizer(captions(), o);
  // "a" 10×, then "bag" 5×, "left" 4×, "of" 4× (ties alphabetically), ...
  EXPECT_EQ(t->encode("a"), std::vector<int64_t>{kReserved});
  EXPECT_EQ(t->encode("bag"), std::vector<int64_t>{kReserved + 1});
  EXPECT_EQ(t->encode("left of"), (std::vector<int64_t>{kReserved + 2, kReserved + 3}));
  // a bag left of above sneaker coat shirt sandal an ankle boot dress
  EXPECT_EQ(t->vocab_size(), kReserved + 13);
  for (const auto& s : captions()) EXPECT_EQ(t->decode(t->encode(s)), s);
  // Case, spacing and punctuation are normalised the same way on both sides.
  EXPECT_EQ(t->normalise("  A  Bag,above  a COAT. "), "a bag , above a coat .");
  EXPECT_EQ(t->decode(t->encode("A Bag above a COAT")), "a bag above a coat");
  // What the data never said is unknown, and decoding skips it with the other specials.
  const auto ids = t->encode("a purple bag");
  EXPECT_EQ(ids[1], kUnk);
  EXPECT_EQ(t->decode(ids), "a bag");
  // A cap on the vocabulary keeps the most frequent tokens.
  o.vocab_size = kReserved + 2;
  const auto small = train_tokenizer(captions(), o);
  EXPECT_EQ(small->vocab_size(), kReserved + 2);
  EXPECT_EQ(small->encode("a bag coat"), (std::vector<int64_t>{kReserved, kReserved + 1, kUnk}));
  o.vocab_size = 0, o.min_count = 5;
  EXPECT_EQ(train_tokenizer(captions(), o)->vocab_size(), kReserved + 2);  // a, bag
}

TEST(CharTokenizer, EveryTextRoundTripsByteForByte) {
  TokenizerOptions o;
  o.kind = "char";
  const auto t = train_tokenizer({"anything"}, o);
  EXPECT_EQ(t->vocab_size(), kReserved + 256);
  for (const std::string s : {"a sneaker left of a bag", "naïve café ☕", "tabs\tand\nlines", "%"}) {
    const auto ids = t->encode(s);
    EXPECT_EQ(ids.size(), s.size());
    for (int64_t i : ids) EXPECT_TRUE(i >= kReserved && i < t->vocab_size());
    EXPECT_EQ(t->decode(ids), s);
  }
  EXPECT_EQ(t->encode("a")[0], kReserved + 'a');
}

TEST(SentencePieceTokenizer, TrainsOnRealTextsLoadsBackAndRoundTripsUnseenOnes) {
  RFLOW_TEST_REQUIRES(std::filesystem::exists(kFortunes), "Debian's fortunes-min (short English texts)");
  if (!sentencepiece_available()) GTEST_SKIP() << "an AddressSanitizer build cannot load SentencePiece";
  const std::vector<std::string> all = read_corpus(kFortunes);
  ASSERT_GT(all.size(), 300u);
  // Train on all but the last 50 lines; those are unseen texts.
  const std::vector<std::string> train(all.begin(), all.end() - 50), held(all.end() - 50, all.end());
  test::TempDir dir;
  for (const std::string type : {"unigram", "bpe"}) {
    TokenizerOptions o;
    o.kind = "sentencepiece", o.vocab_size = 600, o.model_type = type;
    const auto t = train_tokenizer(train, o);
    EXPECT_LE(t->vocab_size(), 600) << type;
    EXPECT_GT(t->vocab_size(), 200) << type;
    int64_t chars = 0, tokens = 0, exact = 0;
    for (const auto& s : held) {
      const auto ids = t->encode(s);
      chars += static_cast<int64_t>(s.size()), tokens += static_cast<int64_t>(ids.size());
      const bool unknown = std::find(ids.begin(), ids.end(), kUnk) != ids.end();
      if (!unknown) {
        EXPECT_EQ(t->decode(ids), t->normalise(s)) << type << ": " << s;
        ++exact;
      }
    }
    EXPECT_GE(exact, 45) << type << ": unseen texts of the same language have the corpus's characters";
    // Subwords: well under one token per two characters on unseen English.
    EXPECT_LT(double(tokens) / double(chars), 0.5) << type;
    const auto foreign = t->encode("日本");  // characters the corpus never had
    EXPECT_NE(std::find(foreign.begin(), foreign.end(), kUnk), foreign.end()) << type;
    // Saved and loaded: the same ids for every text.
    const std::string path = dir.file(type + ".tok");
    save_tokenizer(*t, path);
    const auto back = load_tokenizer(path);
    EXPECT_EQ(back->kind(), "sentencepiece");
    EXPECT_EQ(back->vocab_size(), t->vocab_size());
    for (const auto& s : held) EXPECT_EQ(back->encode(s), t->encode(s));
    // The same corpus trains the same model.
    EXPECT_EQ(train_tokenizer(train, o)->serialize(), t->serialize()) << type;
  }
}

TEST(Tokenizer, SavedFilesLoadBackAndBadOnesSayWhat) {
  test::TempDir dir;
  TokenizerOptions o;
  const auto words = train_tokenizer(captions(), o);
  save_tokenizer(*words, dir.file("w.tok"));
  const auto back = load_tokenizer(dir.file("w.tok"));
  EXPECT_EQ(back->kind(), "word");
  for (const auto& s : captions()) EXPECT_EQ(back->encode(s), words->encode(s));
  o.kind = "char";
  save_tokenizer(*train_tokenizer(captions(), o), dir.file("c.tok"));
  EXPECT_EQ(load_tokenizer(dir.file("c.tok"))->kind(), "char");

  write(dir.file("plain.txt"), "a bag\n");
  EXPECT_THROW(load_tokenizer(dir.file("plain.txt")), Error);
  write(dir.file("kind.tok"), "rflow-tokenizer wrod 1\na\n");
  try {
    load_tokenizer(dir.file("kind.tok"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'word'"), std::string::npos) << e.what();
  }
  write(dir.file("format.tok"), "rflow-tokenizer word 7\na\n");
  EXPECT_THROW(load_tokenizer(dir.file("format.tok")), Error);
  write(dir.file("dup.tok"), "rflow-tokenizer word 1\na\nbag\na\n");
  EXPECT_THROW(load_tokenizer(dir.file("dup.tok")), Error);
  write(dir.file("sp.tok"), "rflow-tokenizer sentencepiece 1\nnot a model");
  EXPECT_THROW(load_tokenizer(dir.file("sp.tok")), Error);
  EXPECT_THROW(load_tokenizer(dir.file("missing.tok")), Error);

  for (const std::string kind : {"word", "sentencepiece"}) {
    o.kind = kind;
    EXPECT_THROW(train_tokenizer({}, o), Error) << kind;
    EXPECT_THROW(train_tokenizer({"", "  \t"}, o), Error) << kind;
  }
  o.kind = "sentencepice";
  EXPECT_THROW(train_tokenizer(captions(), o), Error);
  o.kind = "sentencepiece", o.model_type = "wordpiece";
  EXPECT_THROW(train_tokenizer(captions(), o), Error);
}

TEST(Tokenizer, BatchesArePaddedMaskedCutAndDecodeBack) {
  TokenizerOptions o;
  const auto t = train_tokenizer(captions(), o);
  const std::vector<std::string> texts{"a bag", "", "a sandal left of a sneaker left of a bag"};
  const TokenBatch b = encode_batch(*t, texts, 6);
  ASSERT_EQ(b.ids.sizes(), (std::vector<int64_t>{3, 6}));
  ASSERT_EQ(b.mask.sizes(), (std::vector<int64_t>{3, 6}));
  EXPECT_TRUE(torch::equal(b.mask.sum(1), torch::tensor({2.0f, 0.0f, 6.0f})));
  // Padding is kPad exactly where the mask is 0; the empty text is the null prompt (all pad).
  EXPECT_TRUE(torch::equal(b.ids.eq(kPad), b.mask.eq(0)));
  EXPECT_EQ(b.ids[0][0].item<int64_t>(), t->encode("a")[0]);
  const auto back = decode_batch(*t, b.ids);
  EXPECT_EQ(back[0], "a bag");
  EXPECT_EQ(back[1], "");
  EXPECT_EQ(back[2], "a sandal left of a sneaker");  // cut at 6 tokens
  const TokenBatch s = encode_batch(*t, {"a bag"}, 5, /*bos_eos=*/true);
  EXPECT_TRUE(torch::equal(s.ids[0], torch::tensor({kBos, t->encode("a")[0], t->encode("bag")[0], kEos, kPad})));
}

TEST(Tokenizer, CorpusFilesReadOneTextPerLineAndFortuneSeparators) {
  test::TempDir dir;
  write(dir.file("c.txt"), "first text\n%\n  second one  \n\n%\nthird\n");
  EXPECT_EQ(read_corpus(dir.file("c.txt")), (std::vector<std::string>{"first text", "second one", "third"}));
  write(dir.file("empty.txt"), "\n%\n  \n");
  EXPECT_THROW(read_corpus(dir.file("empty.txt")), Error);
}
