#include "rflow/text/sentencepiece_tokenizer.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "rflow/core/error.h"
#include "rflow/text/plugins/sentencepiece_plugin.h"

namespace fs = std::filesystem;

namespace rflow::text {

namespace {

// The plugin's entry points, loaded once. SentencePiece itself is opened first with its own scope
// (RTLD_LOCAL: its protobuf stays invisible to LibTorch's; RTLD_DEEPBIND: it uses its own copy).
struct Plugin {
  rflow_spm_train_fn train = nullptr;
  rflow_spm_load_fn load = nullptr;
  rflow_spm_encode_fn encode = nullptr;
  rflow_spm_decode_fn decode = nullptr;
  rflow_spm_info_fn info = nullptr;
  rflow_spm_free_fn free = nullptr;
  rflow_spm_release_fn release = nullptr;
};

std::vector<fs::path> plugin_candidates() {
  std::vector<fs::path> out;
  if (const char* d = std::getenv("RFLOW_PLUGIN_DIR"); d && *d) out.emplace_back(d);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) out.push_back(exe.parent_path().parent_path() / "lib" / "rflow");
#ifdef RFLOW_INSTALL_PLUGIN_DIR
  out.emplace_back(RFLOW_INSTALL_PLUGIN_DIR);
#endif
#ifdef RFLOW_BUILD_PLUGIN_DIR
  out.emplace_back(RFLOW_BUILD_PLUGIN_DIR);
#endif
  return out;
}

Plugin open_plugin() {
  RF_CHECK(sentencepiece_available(), "SentencePiece cannot be loaded in a build with AddressSanitizer (it needs RTLD_DEEPBIND)",
           "sentencepiece tokenizer", "use a build without RFLOW_SANITIZE=address, or the word / char tokenizers");
  const int flags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
  for (const char* lib : {"libsentencepiece.so.0", "libsentencepiece_train.so.0"})
    RF_CHECK(dlopen(lib, flags), std::string("cannot load SentencePiece: ") + dlerror(), "sentencepiece tokenizer",
             "install Debian's libsentencepiece0 (scripts/setup.sh does)");
  std::string tried;
  void* h = nullptr;
  for (const auto& dir : plugin_candidates()) {
    const fs::path p = dir / "librflow_sentencepiece.so";
    tried += (tried.empty() ? "" : ", ") + p.string();
    if (fs::exists(p) && (h = dlopen(p.c_str(), flags))) break;
  }
  RF_CHECK(h, "rflow's SentencePiece plugin is missing (looked at " + tried + ")", "sentencepiece tokenizer",
           "reinstall rflow, or point RFLOW_PLUGIN_DIR at the folder holding librflow_sentencepiece.so");
  auto sym = [&](const char* name) {
    void* f = dlsym(h, name);
    RF_CHECK(f, std::string("the SentencePiece plugin lacks ") + name, "sentencepiece tokenizer", "reinstall rflow");
    return f;
  };
  Plugin p;
  p.train = reinterpret_cast<rflow_spm_train_fn>(sym("rflow_spm_train"));
  p.load = reinterpret_cast<rflow_spm_load_fn>(sym("rflow_spm_load"));
  p.encode = reinterpret_cast<rflow_spm_encode_fn>(sym("rflow_spm_encode"));
  p.decode = reinterpret_cast<rflow_spm_decode_fn>(sym("rflow_spm_decode"));
  p.info = reinterpret_cast<rflow_spm_info_fn>(sym("rflow_spm_info"));
  p.free = reinterpret_cast<rflow_spm_free_fn>(sym("rflow_spm_free"));
  p.release = reinterpret_cast<rflow_spm_release_fn>(sym("rflow_spm_release"));
  return p;
}

const Plugin& plugin() {
  static const Plugin p = open_plugin();  // a failed load throws, and the next use tries again
  return p;
}

// Throws the plugin's error text (and frees it) if there is one.
void check(char* err, const std::string& what, const std::string& where, const std::string& hint) {
  if (!err) return;
  const std::string msg = err;
  plugin().release(err);
  throw Error(what + ": " + msg, where, hint);
}

std::unique_ptr<Tokenizer> train_pieces(const std::vector<std::string>& corpus, const TokenizerOptions& o) {
  const int64_t vocab = o.vocab_size > 0 ? o.vocab_size : 1000;
  // rflow's specials at rflow's ids; no normalisation beyond whitespace, so round trips are exact;
  // the vocabulary size is a ceiling (a small corpus gets fewer pieces instead of an error); one
  // thread, so the same corpus always gives the same model; only errors logged.
  const std::vector<std::string> kv{"model_type", o.model_type, "vocab_size", std::to_string(vocab),
                                    "hard_vocab_limit", "false", "pad_id", "0", "unk_id", "1", "bos_id", "2",
                                    "eos_id", "3", "character_coverage", "1.0", "normalization_rule_name",
                                    "identity", "num_threads", "1", "minloglevel", "2"};
  std::vector<const char*> args, texts;
  for (const auto& s : kv) args.push_back(s.c_str());
  for (const auto& s : corpus) texts.push_back(s.c_str());
  char* proto = nullptr;
  size_t len = 0;
  check(plugin().train(texts.data(), texts.size(), args.data(), args.size(), &proto, &len),
        "SentencePiece training failed", "tokenizer (sentencepiece)", "a larger corpus, or a smaller tokenizer.vocab_size");
  const std::string bytes(proto, len);
  plugin().release(proto);
  return std::make_unique<SentencePieceTokenizer>(bytes, "the trained model");
}

}  // namespace

bool sentencepiece_available() {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return false;
#else
  return true;
#endif
#else
  return true;
#endif
}

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_proto, const std::string& where)
    : proto_(model_proto) {
  check(plugin().load(model_proto.data(), model_proto.size(), &handle_), "not a SentencePiece model", where,
        "retrain the tokenizer");
  int vocab = 0, sp[4] = {0, 0, 0, 0};
  plugin().info(handle_, &vocab, sp);
  vocab_size_ = vocab;
  if (sp[0] != kPad || sp[1] != kUnk || sp[2] != kBos || sp[3] != kEos) {
    plugin().free(handle_);
    throw Error("the SentencePiece model's special ids are not rflow's (pad 0, unk 1, bos 2, eos 3)", where,
                "train it with `rflow tokenizer train --kind sentencepiece`");
  }
}

SentencePieceTokenizer::~SentencePieceTokenizer() { plugin().free(handle_); }

int64_t SentencePieceTokenizer::vocab_size() const { return vocab_size_; }

std::vector<int64_t> SentencePieceTokenizer::encode(const std::string& text) const {
  int* ids = nullptr;
  size_t n = 0;
  check(plugin().encode(handle_, text.data(), text.size(), &ids, &n), "SentencePiece could not encode the text",
        "tokenizer (sentencepiece)", "");
  std::vector<int64_t> out(ids, ids + n);
  plugin().release(ids);
  return out;
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<int> keep;
  for (int64_t i : ids)
    if (i >= kReserved && i < vocab_size_) keep.push_back(static_cast<int>(i));
  char* text = nullptr;
  size_t len = 0;
  check(plugin().decode(handle_, keep.data(), keep.size(), &text, &len), "SentencePiece could not decode the ids",
        "tokenizer (sentencepiece)", "");
  std::string out(text, len);
  plugin().release(text);
  return out;
}

std::string SentencePieceTokenizer::normalise(const std::string& s) const {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

TokenizerEntry sentencepiece_tokenizer_entry() {
  TokenizerEntry e;
  e.train = train_pieces;
  e.load = [](const std::string& bytes, const std::string& where) -> std::unique_ptr<Tokenizer> {
    return std::make_unique<SentencePieceTokenizer>(bytes, where);
  };
  return e;
}

}  // namespace rflow::text
