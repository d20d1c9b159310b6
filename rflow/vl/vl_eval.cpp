#include "rflow/vl/vl_eval.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/data/fashion_composites.h"
#include "rflow/data/image_questions.h"
#include "rflow/io/atomic_file.h"
#include "rflow/nn/layers/mla.h"
#include "rflow/text/word_tokenizer.h"
#include "rflow/vl/vl_model.h"
#include "rflow/data/vqa_task.h"

namespace rflow {

namespace fs = std::filesystem;

namespace {

// The test questions: per layout and kind, n composites of test-split garments, the same for
// every model (one seeded stream per cell).
struct TestCell {
  std::string layout, kind;
  std::vector<VqaExample> ex;
};

std::vector<TestCell> test_cells(const VlRunConfig& cfg, const VqaTask& task) {
  std::vector<TestCell> out;
  for (size_t l = 0; l < task.layouts().size(); ++l)
    for (size_t k = 0; k < task.kinds().size(); ++k) {
      std::mt19937_64 rng(uint64_t(cfg.seed) * 7919ull + 1000 * l + k + 3);
      auto ex = task.draw(task.layouts()[l], cfg.eval.n, rng, task.kinds()[k]);
      if (!ex.empty()) out.push_back({task.layouts()[l].name, task.kinds()[k], std::move(ex)});
    }
  return out;
}

nlohmann::json score_model(VlModel& model, const std::vector<TestCell>& cells, const SamplingOptions& greedy) {
  nlohmann::json parts_by_layout = nlohmann::json::object();
  nlohmann::json by_layout = nlohmann::json::object(), by_kind = nlohmann::json::object(), examples = nlohmann::json::array();
  std::map<std::string, std::pair<int64_t, int64_t>> kind_counts, layout_counts;
  int64_t right_all = 0, total = 0;
  VlAnswerStats stats;
  for (const auto& c : cells) {
    std::vector<at::Tensor> images;
    std::vector<std::string> questions;
    for (const auto& e : c.ex) images.push_back(e.image), questions.push_back(e.question.question);
    const auto answers = model.answer(images, questions, greedy, 0, &stats);
    int64_t right = 0, cells_right = 0, cells = 0;
    for (size_t i = 0; i < answers.size(); ++i) {
      const bool ok = answers[i] == text::WordTokenizer::normalised(c.ex[i].question.answer);
      right += ok;
      if (const auto& parts = question_kinds().get(c.kind).parts) {
        const auto [r, n] = parts(answers[i], c.ex[i].classes, composite_layout(c.layout, "eval"));
        cells_right += r, cells += n;
      }
      if (i < 3) examples.push_back({{"layout", c.layout}, {"question", questions[i]}, {"answer", answers[i]},
                                     {"expected", c.ex[i].question.answer}, {"right", ok}});
    }
    by_layout[c.layout][c.kind] = double(right) / double(answers.size());
    if (cells > 0) parts_by_layout[c.layout][c.kind] = double(cells_right) / double(cells);
    kind_counts[c.kind].first += right, kind_counts[c.kind].second += int64_t(answers.size());
    layout_counts[c.layout].first += right, layout_counts[c.layout].second += int64_t(answers.size());
    right_all += right, total += int64_t(answers.size());
  }
  for (const auto& [k, v] : kind_counts) by_kind[k] = double(v.first) / double(v.second);
  nlohmann::json layout_all = nlohmann::json::object();
  for (const auto& [k, v] : layout_counts) layout_all[k] = double(v.first) / double(v.second);
  return {{"tiling", model.tiling().mode}, {"accuracy", double(right_all) / double(total)}, {"questions", total},
          {"by_kind", by_kind}, {"by_layout", by_layout}, {"parts_by_layout", parts_by_layout}, {"layout_accuracy", layout_all}, {"examples", examples},
          {"answers_per_second", double(total) / stats.seconds}};
}

// Speed and equality of cached and uncached decoding on the longest answers: captions of the
// layout with the most garments, enough of them for a few batches of the largest size.
nlohmann::json decode_numbers(VlModel& model, const VqaTask& task, const VlRunConfig& cfg) {
  const CompositeLayout* largest = &task.layouts().front();
  for (const auto& l : task.layouts())
    if (l.cells() > largest->cells()) largest = &l;
  const int64_t most = *std::max_element(cfg.eval.batches.begin(), cfg.eval.batches.end());
  std::mt19937_64 rng(uint64_t(cfg.seed) * 7919ull + 999);
  std::vector<at::Tensor> images;
  std::vector<std::string> questions;
  for (const auto& e : task.draw(*largest, std::max<int64_t>(64, 4 * most), rng, "describe"))
    images.push_back(e.image), questions.push_back(e.question.question);
  SamplingOptions cached = cfg.decode, uncached = cfg.decode;
  cached.temperature = uncached.temperature = 0;
  cached.cache = true, uncached.cache = false;
  const auto a = model.answer(images, questions, cached), b = model.answer(images, questions, uncached);
  int64_t equal = 0;
  for (size_t i = 0; i < a.size(); ++i) equal += a[i] == b[i];
  nlohmann::json speed = nlohmann::json::array();
  for (int64_t B : cfg.eval.batches) {
    nlohmann::json row{{"batch", B}, {"layout", largest->name}};
    for (const auto* o : {&cached, &uncached}) {
      VlAnswerStats s;
      for (size_t i = 0; i + size_t(B) <= images.size() && s.seconds < 3.0; i += size_t(B))
        model.answer({images.begin() + long(i), images.begin() + long(i) + B},
                     {questions.begin() + long(i), questions.begin() + long(i) + B}, *o, 0, &s);
      row[o->cache ? "cached_tokens_per_s" : "uncached_tokens_per_s"] = s.seconds > 0 ? double(s.tokens) / s.seconds : 0.0;
    }
    speed.push_back(row);
  }
  const MLAOptions& mla = model.lm_options().mla;
  const int64_t layers = model.lm_options().layers;
  return {{"cached_equals_uncached", equal}, {"compared", int64_t(a.size())},
          {"kv_bytes_per_token", int64_t(sizeof(float)) * mla.latent_cache_floats() * layers},
          {"mha_kv_bytes_per_token", int64_t(sizeof(float)) * mla.mha_cache_floats() * layers},
          {"kv_compression", double(mla.mha_cache_floats()) / double(mla.latent_cache_floats())},
          {"speed", speed}};
}

}  // namespace

void evaluate_vl_run(const std::string& run_dir) {
  VlModel model(run_dir, "model");
  const VlRunConfig& cfg = model.config();
  const VqaTask task(cfg.data.path, "test", cfg.data.layouts, cfg.data.questions, model.tiling(), 0);
  const auto cells = test_cells(cfg, task);
  SamplingOptions greedy = cfg.decode;
  greedy.temperature = 0;
  nlohmann::json out{{"models", nlohmann::json::object()}};
  out["models"]["model"] = score_model(model, cells, greedy);
  spdlog::info("eval: {} {:.4f} exact match", model.unified() ? "JanusFlow understanding" : "dynamic tiling",
               out["models"]["model"]["accuracy"].get<double>());
  if (!model.unified() && fs::exists(vl_weights(run_dir, "baseline"))) {
    VlModel base(run_dir, "baseline");
    out["models"]["baseline"] = score_model(base, cells, greedy);
    spdlog::info("eval: resize baseline {:.4f} exact match", out["models"]["baseline"]["accuracy"].get<double>());
  }
  out["decode"] = decode_numbers(model, task, cfg);
  io::write_file_atomic(vl_eval_file(run_dir, model.unified()), out.dump(2) + "\n");
}

std::string vl_eval_file(const std::string& run_dir, bool unified) {
  return (fs::path(run_dir) / (unified ? "understanding.json" : "eval.json")).string();
}

}  // namespace rflow
