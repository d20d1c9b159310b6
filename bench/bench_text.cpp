// Bench: text in rflow. Tokenizer throughput (captions through the word tokenizer, the same through
// the byte tokenizer, Debian's fortunes through a SentencePiece model trained on them, and that
// training itself), the text encoders' forward at batch 64, and training steps/s of the text DiT of
// configs/t2i_fmnist.toml (row-of-two composites, words and characters) through the real Trainer.
// One JSON object. Usage: bench_text [threads]

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/malloc_tuning.h"
#include "rflow/core/rng.h"
#include "rflow/core/system_info.h"
#include "rflow/data/batch_source.h"
#include "rflow/data/fashion_composites.h"
#include "rflow/io/remove_tree.h"
#include "rflow/methods/method_config.h"
#include "rflow/nn/dit.h"
#include "rflow/nn/layers/text_encoder.h"
#include "rflow/nn/model_config.h"
#include "rflow/text/char_tokenizer.h"
#include "rflow/text/tokenizer.h"
#include "rflow/train/trainer.h"

using namespace rflow;
namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Texts per second and tokens per second of encode() over `texts`, repeated to at least 0.5 s.
nlohmann::json encode_rate(const text::Tokenizer& t, const std::vector<std::string>& texts) {
  int64_t tokens = 0, done = 0, checksum = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (seconds_since(t0) < 0.5)
    for (const auto& s : texts) {
      // Every id is read, so the encoding cannot be optimised away.
      for (int64_t id : t.encode(s)) checksum += id, ++tokens;
      ++done;
    }
  const double secs = seconds_since(t0);
  return {{"texts_per_s", double(done) / secs}, {"tokens_per_s", double(tokens) / secs}, {"checksum", checksum}};
}

// The model section of configs/t2i_fmnist.toml.
ModelConfig t2i_model() {
  ModelConfig m;
  m.arch = "dit";
  auto& o = m.get<DiTOptions>("dit");
  o.patch = 4, o.hidden = 96, o.depth = 6, o.heads = 4, o.rope_base = 14;
  o.text.words = 20, o.text.word_len = 12, o.text.word_dim = 96, o.text.word_layers = 2;
  o.text.char_len = 40, o.text.char_dim = 64, o.text.char_layers = 1, o.text.heads = 4;
  return m;
}

double train_steps_per_s(BatchSource& data, const fs::path& dir) {
  seed_all(0);
  auto model = make_model(t2i_model(), data.sample_shape());
  MethodConfig mc;
  mc.label_dropout = 0.1;
  auto method = make_method(mc);
  TrainConfig tc;
  tc.batch_size = 64, tc.lr = 5e-4, tc.ckpt_every = 0, tc.log_every = 1000000;
  tc.steps = 5;  // warm-up
  Trainer(tc, model, *method, data, (dir / "warm").string(), "{}", torch::kCPU).run();
  tc.steps = 30;
  const auto t0 = std::chrono::steady_clock::now();
  Trainer(tc, model, *method, data, (dir / "timed").string(), "{}", torch::kCPU).run();
  const double rate = double(tc.steps) / seconds_since(t0);
  rflow::io::remove_tree(dir);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  rflow::keep_freed_memory();
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  torch::set_num_threads(threads);
  spdlog::set_level(spdlog::level::warn);
  nlohmann::json out{{"bench", "text"}, {"threads", threads}};

  // Captions of every layout.
  std::vector<std::string> captions;
  for (int64_t i = 0; i < 1000; ++i) {
    const auto& l = composite_layouts()[static_cast<size_t>(i % 6)];
    std::vector<int64_t> c;
    for (int64_t k = 0; k < l.cells(); ++k) c.push_back((i * 7 + k * 3) % 10);
    captions.push_back(composite_caption(c, l));
  }
  out["word_captions"] = encode_rate(*caption_tokenizer(), captions);
  out["char_captions"] = encode_rate(text::CharTokenizer(), captions);
  const std::string corpus = "/usr/share/games/fortunes/fortunes";
  if (fs::exists(corpus)) {
    const auto texts = text::read_corpus(corpus);
    text::TokenizerOptions o;
    o.kind = "sentencepiece", o.vocab_size = 800;
    const auto t0 = std::chrono::steady_clock::now();
    const auto sp = text::train_tokenizer(texts, o);
    out["sentencepiece_train_s_fortunes_800"] = seconds_since(t0);
    out["sentencepiece_fortunes"] = encode_rate(*sp, texts);
  }

  // The word and character encoders of the t2i DiT, forward at batch 64.
  {
    torch::NoGradGuard ng;
    seed_all(0);
    TextEncoder words(TextEncoderOptions{20, 12, 96, 2, 4});
    TextEncoder chars(TextEncoderOptions{260, 40, 64, 1, 4});
    const at::Tensor w = torch::randint(4, 20, {64, 12}, torch::kInt64), c = torch::randint(4, 260, {64, 40}, torch::kInt64);
    for (int i = 0; i < 3; ++i) (void)words->forward(w), (void)chars->forward(c);
    int64_t n = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (seconds_since(t0) < 1.0) (void)words->forward(w), (void)chars->forward(c), ++n;
    out["text_encoders_captions_per_s_b64"] = 64.0 * double(n) / seconds_since(t0);
  }

  DataConfig dc;
  dc.target.name = "fashion_composites";
  dc.target.get<FashionCompositesOptions>("fashion_composites").max_words = 12;
  dc.target.get<FashionCompositesOptions>("fashion_composites").max_chars = 40;
  auto data = make_coupling(dc);
  const auto dir = fs::path(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") / ("rflow_bench_text_" + std::to_string(::getpid()));
  out["t2i_train_steps_per_s_b64"] = train_steps_per_s(*data, dir);
  out["system"] = rflow::system_info_json();
  std::cout << out.dump() << std::endl;
  return 0;
}
