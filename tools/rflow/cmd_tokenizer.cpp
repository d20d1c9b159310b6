// `rflow tokenizer train | encode | decode`: build a tokenizer from a corpus file and save it, and
// look at what it does to a text (ids, pieces, the round trip).
#include <iostream>

#include <nlohmann/json.hpp>

#include "rflow/core/error.h"
#include "rflow/text/tokenizer.h"
#include "tools/rflow/commands.h"
#include "tools/rflow/config_flags.h"

namespace rflow::cli {

namespace {

void add_tokenizer_train(CLI::App& tok) {
  auto* cmd = tok.add_subcommand("train", "build a tokenizer from a corpus (one text per line) and save it");
  cmd->footer("\nExamples:\n  rflow tokenizer train /usr/share/games/fortunes/fortunes --kind sentencepiece --vocab-size 800 -o fortunes.tok\n"
              "  rflow tokenizer train captions.txt --kind word -o captions.tok");
  struct Args {
    std::string corpus, out;
    text::TokenizerOptions opt;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("corpus", a->corpus, "text file: one text per line (fortune files with % lines work too)")->required();
  cmd->add_option("-o,--out", a->out, "tokenizer file to write")->required();
  add_flags_for(*cmd, a->opt, "Tokenizer");
  cmd->callback([a] {
    a->opt.validate("rflow tokenizer train");
    const auto corpus = text::read_corpus(a->corpus);
    const auto t = text::train_tokenizer(corpus, a->opt);
    text::save_tokenizer(*t, a->out);
    int64_t tokens = 0, unknown = 0;
    for (const auto& s : corpus)
      for (int64_t id : t->encode(s)) ++tokens, unknown += id == text::kUnk;
    std::cout << nlohmann::json{{"out", a->out}, {"kind", t->kind()}, {"vocab_size", t->vocab_size()},
                                {"texts", corpus.size()}, {"tokens", tokens},
                                {"tokens_per_text", double(tokens) / double(corpus.size())}, {"unknown", unknown}}
                     .dump()
              << std::endl;
  });
}

void add_tokenizer_encode(CLI::App& tok) {
  auto* cmd = tok.add_subcommand("encode", "print each text's ids and their decoded round trip, one JSON line per text");
  cmd->footer("\nExample:\n  rflow tokenizer encode fortunes.tok \"A visit to a strange place will bring fresh work.\"");
  struct Args {
    std::string file;
    std::vector<std::string> texts;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("tokenizer", a->file, "tokenizer file (rflow tokenizer train, or a run's)")->required();
  cmd->add_option("texts", a->texts, "texts to encode (none: one per line from standard input)");
  cmd->callback([a] {
    const auto t = text::load_tokenizer(a->file);
    auto one = [&](const std::string& s) {
      const auto ids = t->encode(s);
      std::cout << nlohmann::json{{"text", s}, {"ids", ids}, {"decoded", t->decode(ids)}}.dump() << std::endl;
    };
    if (!a->texts.empty()) {
      for (const auto& s : a->texts) one(s);
      return;
    }
    for (std::string line; std::getline(std::cin, line);) one(line);
  });
}

void add_tokenizer_decode(CLI::App& tok) {
  auto* cmd = tok.add_subcommand("decode", "print the text of ids");
  cmd->footer("\nExample:\n  rflow tokenizer decode fortunes.tok 57 12 9");
  struct Args {
    std::string file;
    std::vector<int64_t> ids;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("tokenizer", a->file, "tokenizer file")->required();
  cmd->add_option("ids", a->ids, "ids")->required();
  cmd->callback([a] {
    const auto t = text::load_tokenizer(a->file);
    for (int64_t id : a->ids)
      RF_CHECK(id >= 0 && id < t->vocab_size(), "id " + std::to_string(id) + " is outside the vocabulary",
               "rflow tokenizer decode", "ids are in [0, " + std::to_string(t->vocab_size()) + ")");
    std::cout << t->decode(a->ids) << std::endl;
  });
}

}  // namespace

void add_tokenizer(CLI::App& app) {
  auto* tok = app.add_subcommand("tokenizer", "tokenizers for text conditioning: train one on a corpus, encode and decode with it");
  tok->require_subcommand(1);
  add_tokenizer_train(*tok);
  add_tokenizer_encode(*tok);
  add_tokenizer_decode(*tok);
}

}  // namespace rflow::cli
