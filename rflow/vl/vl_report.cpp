#include "rflow/vl/vl_report.h"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/data/fashion_composites.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/html_report.h"
#include "rflow/io/image_file.h"
#include "rflow/io/svg.h"
#include "rflow/vl/vl_eval.h"
#include "rflow/vl/vl_model.h"
#include "rflow/data/vqa_task.h"

namespace rflow {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string pct(const json& j, const std::string& key) {
  return j.contains(key) && j[key].is_number() ? fmt::format("{:.1f}%", 100 * j[key].get<double>()) : "–";
}

at::Tensor grey_bytes(const at::Tensor& img) {  // [1, H, W] in [−1, 1] → uint8 [H, W]
  return img[0].add(1).mul(127.5).round().clamp(0, 255).to(torch::kUInt8).contiguous();
}

std::string png_of(const at::Tensor& img) { return io::encode_png(grey_bytes(img), "vl report"); }

void curves(io::HtmlReport& page, const std::string& dir) {
  std::vector<io::Series> loss, acc;
  for (const std::string which : {"model", "baseline"}) {
    std::ifstream in(fs::path(dir) / which / "metrics.jsonl");
    io::Series l{which == "model" ? "dynamic tiling" : "resize baseline"}, a{l.label};
    for (std::string line; std::getline(in, line);) {
      const auto j = json::parse(line, nullptr, false);
      if (j.is_discarded()) continue;
      l.x.push_back(j.value("step", 0.0)), l.y.push_back(j.value("loss", 0.0));
      a.x.push_back(j.value("step", 0.0)), a.y.push_back(j.value("accuracy", 0.0));
    }
    if (!l.x.empty()) loss.push_back(l), acc.push_back(a);
  }
  if (loss.empty()) return;
  page.heading("Training");
  io::PlotOptions lo{"answer loss", "step", "cross-entropy (nats / token)"};
  lo.logy = true;
  io::PlotOptions ao{"answer-token accuracy", "step", ""};
  ao.limits = std::array<double, 4>{0, loss[0].x.back(), 0, 1};
  page.figure_row({{"cross-entropy of the answer tokens", io::svg_curves(loss, lo)},
                   {"answer tokens predicted right (teacher-forced)", io::svg_curves(acc, ao)}});
}

// A JanusFlow run's losses, both tasks, from the trainer's metrics.jsonl.
void janusflow_curves(io::HtmlReport& page, const std::string& dir) {
  std::ifstream in(fs::path(dir) / "metrics.jsonl");
  io::Series rf{"rectified flow"}, und{"understanding (answers)"}, repa{"REPA (−cosine)"}, acc{"answer tokens right"};
  for (std::string line; std::getline(in, line);) {
    const auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("step")) continue;
    const double s = j["step"].get<double>();
    for (auto [series, key] : {std::pair{&rf, "rf_loss"}, {&und, "und_loss"}, {&repa, "repa_loss"}, {&acc, "und_accuracy"}})
      if (j.contains(key)) series->x.push_back(s), series->y.push_back(j[key].get<double>());
  }
  if (rf.x.empty()) return;
  page.heading("Training: both tasks in one model");
  std::vector<io::Series> losses{rf, und};
  io::PlotOptions lo{"losses", "step", "nats / token, squared error"};
  lo.logy = true;
  std::vector<std::pair<std::string, std::string>> figs{{"the two tasks' losses", io::svg_curves(losses, lo)}};
  if (!repa.x.empty()) figs.push_back({"REPA: −cosine to the frozen features", io::svg_curves({repa}, {"REPA", "step", ""})});
  io::PlotOptions ao{"answer-token accuracy", "step", ""};
  ao.limits = std::array<double, 4>{0, rf.x.back(), 0, 1};
  figs.push_back({"answer tokens predicted right (teacher-forced)", io::svg_curves({acc}, ao)});
  page.figure_row(figs);
}

void accuracy_tables(io::HtmlReport& page, const json& ev) {
  const json& m = ev["models"]["model"];
  const bool has_base = ev["models"].contains("baseline");
  const json base = ev["models"].value("baseline", json::object());
  page.heading("Exact-match answers on test-split composites");
  std::vector<std::vector<std::string>> rows;
  const auto row = [&](std::vector<std::string> r, const json& mine, const json& theirs, const std::string& kind) {
    r.push_back(pct(mine, kind));
    if (has_base) r.push_back(pct(theirs, kind));
    rows.push_back(r);
  };
  for (const auto& [layout, kinds] : m["by_layout"].items())
    for (const auto& [kind, v] : kinds.items()) {
      const json b = base.contains("by_layout") ? base["by_layout"].value(layout, json::object()) : json::object();
      row({layout, kind}, kinds, b, kind);
      const json parts = m["parts_by_layout"].value(layout, json::object());
      if (parts.contains(kind)) {
        const json bp = base.contains("parts_by_layout") ? base["parts_by_layout"].value(layout, json::object()) : json::object();
        row({layout, kind + " (parts right: garments in place)"}, parts, bp, kind);
      }
    }
  std::vector<std::string> header{"layout", "question", has_base ? "dynamic tiling" : "exact match"};
  if (has_base) header.push_back("resize baseline");
  page.table(header, rows);
}

// One test composite per layout: the image, then the views the encoder reads. The composites are
// also written to examples/<layout>.png, images to try `rflow vl ask` on.
void tiling_pictures(io::HtmlReport& page, const VlRunConfig& cfg, const std::string& run_dir) {
  page.heading("How images are tiled");
  page.paragraph("Each composite is seen as a global thumbnail (letterboxed into one " + std::to_string(cfg.tiling.tile) +
                 "-pixel tile, grey where padded) and local tiles of the grid that keeps most of its pixels, "
                 "read row by row. The resize baseline sees only the thumbnail (and the same image as its one local tile).");
  const VqaTask task(cfg.data.path, "test", cfg.data.layouts, cfg.data.questions, cfg.tiling, 0);
  std::mt19937_64 rng(uint64_t(cfg.seed) + 5);
  for (const auto& layout : task.layouts()) {
    const auto ex = task.draw(layout, 1, rng, "describe");
    if (ex.empty()) continue;
    const TiledImage t = tile_image(ex[0].image, cfg.tiling);
    fs::create_directories(fs::path(run_dir) / "examples");
    io::write_png((fs::path(run_dir) / "examples" / (layout.name + ".png")).string(), grey_bytes(ex[0].image));
    std::vector<std::pair<std::string, std::string>> imgs{{layout.name + " (" + std::to_string(ex[0].image.size(2)) + "×" +
                                                               std::to_string(ex[0].image.size(1)) + ")", png_of(ex[0].image)},
                                                          {"global view", png_of(t.tiles[0])}};
    for (int64_t k = 0; k < t.grid.tiles(); ++k)
      imgs.push_back({fmt::format("tile row {} col {}", k / t.grid.cols + 1, k % t.grid.cols + 1), png_of(t.tiles[k + 1])});
    page.heading(layout.name + ": grid " + std::to_string(t.grid.cols) + " × " + std::to_string(t.grid.rows) + " tiles", 3);
    page.image_row(imgs, 3);
  }
}

void decode_section(io::HtmlReport& page, const json& d) {
  page.heading("The MLA decoder");
  page.key_values({{"KV cache per token (all layers)", fmt::format("{} bytes (latent + rotary key) vs {} bytes for multi-head attention: {:.1f}× smaller",
                                                                   d.value("kv_bytes_per_token", 0), d.value("mha_kv_bytes_per_token", 0),
                                                                   d.value("kv_compression", 0.0))},
                   {"cached = uncached decoding", fmt::format("{} of {} answers identical", d.value("cached_equals_uncached", 0), d.value("compared", 0))}});
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : d["speed"])
    rows.push_back({std::to_string(r.value("batch", 0)), r.value("layout", ""), fmt::format("{:.0f}", r.value("cached_tokens_per_s", 0.0)),
                    fmt::format("{:.0f}", r.value("uncached_tokens_per_s", 0.0))});
  page.table({"batch", "images", "tokens/s with the latent cache", "tokens/s recomputing"}, rows);
}

}  // namespace

void write_vl_report(const std::string& run_dir) {
  VlModel model(run_dir);
  const VlRunConfig& cfg = model.config();
  const bool unified = model.unified();
  io::HtmlReport page((unified ? "rflow JanusFlow, understanding: " : "rflow vision-language: ") + cfg.name);
  const std::string eval = vl_eval_file(run_dir, unified);
  json ev;
  if (fs::exists(eval)) ev = json::parse(io::read_file(eval));
  if (!ev.is_null()) {
    const json& m = ev["models"]["model"];
    const json base = ev["models"].value("baseline", json::object());
    std::vector<std::pair<std::string, std::string>> kv{{unified ? "exact match" : "exact match, dynamic tiling", pct(m, "accuracy")}};
    if (!unified) kv.push_back({"exact match, resize baseline", pct(base, "accuracy")});
    for (const std::string l : {"row3", "col3"})
      if (m["layout_accuracy"].contains(l))
        kv.push_back({l + " (wide / tall): tiling vs resize",
                      pct(m["layout_accuracy"], l) + " vs " + (base.contains("layout_accuracy") ? pct(base["layout_accuracy"], l) : "–")});
    page.key_values(kv);
    accuracy_tables(page, ev);
  }
  if (unified) janusflow_curves(page, run_dir);
  else curves(page, run_dir);
  tiling_pictures(page, cfg, run_dir);
  if (!ev.is_null()) {
    page.heading("Answers (first test questions of each layout and kind)");
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : ev["models"]["model"]["examples"])
      rows.push_back({e.value("layout", ""), e.value("question", ""), e.value("answer", ""), e.value("expected", ""),
                      e.value("right", false) ? "✓" : "✗"});
    page.table({"layout", "question", "answer", "expected", ""}, rows);
    if (ev.contains("decode")) decode_section(page, ev["decode"]);
  }
  page.save((fs::path(run_dir) / (unified ? "understanding.html" : "report.html")).string());
}

}  // namespace rflow
