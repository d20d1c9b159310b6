#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/eval/eval_result.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/html_report.h"
#include "rflow/io/npy.h"
#include "rflow/io/svg.h"
#include "rflow/methods/distill.h"
#include "rflow/pipeline/chain.h"
#include "rflow/pipeline/report/composite_section.h"
#include "rflow/pipeline/report/plots.h"
#include "rflow/pipeline/report/report_parts.h"
#include "rflow/pipeline/stages.h"

namespace fs = std::filesystem;

namespace rflow {

namespace {

// Error vs NFE on log-log axes, with the real-vs-real level (a second target draw against the
// reference) drawn across the curves' NFE range.
std::string error_vs_nfe(std::vector<io::Series> series, double floor, const std::string& floor_label,
                         const std::string& title, const std::string& ylabel) {
  double xmin = 1e30, xmax = 0;
  for (const auto& s : series)
    for (double x : s.x) xmin = std::min(xmin, x), xmax = std::max(xmax, x);
  series.push_back(io::Series{floor_label, {xmin, xmax}, {floor, floor}, "#9e9e9e", false});
  io::PlotOptions o;
  o.title = title;
  o.xlabel = "NFE";
  o.ylabel = ylabel;
  o.logx = o.logy = true;
  return io::svg_curves(series, o);
}

// The chain's table: straightness, transport cost and W2 at every Euler NFE for each model, and
// the floor (target vs target) as the last row.
void chain_table(io::HtmlReport& rep, const RunConfig& cfg, const std::vector<EvaluatedModel>& models) {
  rep.paragraph("Each model sampled from the same noise with Euler at each NFE; W2 is the exact 2-Wasserstein distance to " +
                std::to_string(cfg.eval.n) + " fresh target points; the last row, target vs target, is a second draw of " + std::to_string(cfg.eval.n) +
                " target points against them: what a perfect model scores on average, itself a random number that "
                "models can land below by chance or by sharpening the modes. Straightness Ŝ = 0 means "
                "straight paths at constant speed, where one Euler step is exact; transport cost is E‖Z1 − Z0‖² of the "
                "model's map (students: of their own k-step map). Students are trained at their k grid times only, so "
                "more steps do not help them.");
  const auto& nfes = cfg.eval.nfe;
  std::vector<std::string> head{"model", "straightness Ŝ", "normalised Ŝ", "transport cost"};
  for (auto k : nfes) head.push_back("W2 @ " + std::to_string(k));
  head.push_back("dopri5 W2 (NFE)");
  const bool labeled = models.front().eval.floor.count("label_accuracy") > 0;
  if (labeled) {
    head.push_back("label accuracy @ " + std::to_string(nfes.front()));
    head.push_back("@ " + std::to_string(nfes.back()));
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& [cm, met] : models) {
    const auto& st = met.straightness;
    std::vector<std::string> row{cm.label, short_number(st.straightness), short_number(st.normalized), short_number(st.transport_cost)};
    if (cm.student) row[1] = row[2] = "— (" + std::to_string(st.steps) + "-step map)";
    for (auto k : nfes) {
      const auto* r = met.find("euler", double(k));
      row.push_back(r ? short_number(r->score("w2")) : "-");
    }
    const auto* d = met.find("dopri5", -1);
    row.push_back(d ? short_number(d->score("w2")) + " (" + short_number(d->nfe, 3) + ")" : "-");
    if (labeled)
      for (auto k : {nfes.front(), nfes.back()}) {
        const auto* r = met.find("euler", double(k));
        row.push_back(r && r->has("label_accuracy") ? short_number(r->score("label_accuracy"), 3) : "-");
      }
    rows.push_back(row);
  }
  const auto& f = models.front().eval;
  std::vector<std::string> floor_row{"(target vs target)", "", "",
                                     "independent: " + short_number(f.independent_transport_cost)};
  for (size_t i = 0; i < nfes.size(); ++i) floor_row.push_back(short_number(f.floor_score("w2")));
  floor_row.push_back("");
  if (labeled) {
    floor_row.push_back(short_number(f.floor_score("label_accuracy"), 3));
    floor_row.push_back(floor_row.back());
  }
  rows.push_back(floor_row);
  rep.table(head, rows);
}

// Samples at a few NFE and trajectories, one row per model, on the reference's frame.
void chain_pictures(io::HtmlReport& rep, const RunConfig& cfg, const std::string& run_dir,
                    const std::vector<EvaluatedModel>& models) {
  const fs::path ref_path = fs::path(run_dir) / "eval" / "reference.npy";
  if (!fs::exists(ref_path)) return;
  at::Tensor ref = io::read_npy(ref_path.string());
  auto lim = plot_limits(ref);
  std::vector<int64_t> show;
  for (auto k : cfg.eval.nfe)
    if (k == 1 || k == 2 || k == 4 || k == 100) show.push_back(k);
  if (show.empty()) show = cfg.eval.nfe;
  for (const auto& [cm, met] : models) {
    std::vector<std::pair<std::string, std::string>> figs;
    for (auto k : show) {
      const fs::path p = fs::path(cm.eval_dir) / "samples" / ("euler_nfe" + std::to_string(k) + ".npy");
      const auto* r = met.find("euler", double(k));
      if (!fs::exists(p) || !r) continue;
      const std::string title = cm.label + ", Euler NFE " + std::to_string(k);
      figs.emplace_back(title + " — W2 " + short_number(r->score("w2"), 3),
                        scatter_vs_reference(io::read_npy(p.string()), ref, title, lim));
    }
    const fs::path tp = fs::path(cm.eval_dir) / "trajectory.npy";
    if (fs::exists(tp))
      figs.emplace_back("Ŝ " + short_number(met.straightness.straightness, 3),
                        trajectory_plot(io::read_npy(tp.string()), cm.label + ": trajectories", cfg.eval.trajectories, lim));
    rep.figure_row(figs);
  }
}

// 1-RF, k-RF and students side by side: the numbers of the reflow issue's claims (straightness,
// transport cost, one-step W2) and the pictures that show them.
void chain_section(io::HtmlReport& rep, const RunConfig& cfg, const std::string& run_dir,
                   const std::vector<EvaluatedModel>& models) {
  if (models.size() < 2) return;
  rep.heading("Reflow and distillation");
  chain_table(rep, cfg, models);
  const auto& f = models.front().eval;
  // W2 vs NFE, one curve per model.
  std::vector<io::Series> series;
  for (size_t i = 0; i < models.size(); ++i) {
    io::Series s{models[i].model.label, {}, {}, io::palette(i), false};
    for (const auto& r : models[i].eval.results)
      if (r.solver == "euler") s.x.push_back(r.nfe), s.y.push_back(r.score("w2"));
    if (!s.x.empty()) series.push_back(s);
  }
  std::vector<std::pair<std::string, std::string>> row;
  if (!series.empty())
    row.emplace_back("every model, Euler",
                     error_vs_nfe(series, f.floor_score("w2"), "real vs real", "W2 vs NFE (Euler)", "W2"));
  rep.figure_row(row);
  chain_pictures(rep, cfg, run_dir, models);
}

// The solvers any model was evaluated with, in first-seen order.
// FID-proxy and class accuracy of every model at every solver and NFE, the judge's second
// opinion, and FID vs NFE curves.
void fid_section(io::HtmlReport& rep, const RunConfig& cfg, const std::vector<EvaluatedModel>& models, bool labeled) {
  const auto& first = models.front().eval;
  rep.heading("FID-proxy and class accuracy");
  const auto& dc = cfg.method.get<DistillConfig>("distill");
  if (dc.loss == "feature" && dc.feature == "fidnet" && cfg.eval.fidnet.empty())
    rep.paragraph("EVALUATED BY THE LOSS NETWORK: the students were distilled with the FID network's own features "
                  "(method.distill.feature = \"fidnet\", allowed by method.distill.allow_eval_network), so their "
                  "FID-proxy and class accuracy grade what they were trained to match. The judge's figures below are "
                  "the independent ones.");
  rep.paragraph("FID-proxy: Fréchet distance between the FID network's 128-d features of " + std::to_string(first.n) +
                " samples (clipped to [−1, 1]) and of the " + (first.reference.empty() ? std::string("test set") : first.reference) +
                "; the floor is as many real training images. Class accuracy: share of conditional samples that the FID "
                "network classifies as the label they were asked for (its own test accuracy is the ceiling). FID network " +
                first.fidnet.id + ", test accuracy " +
                short_number(100 * first.fidnet.test_accuracy, 4) + "%. Every model starts from the same noise.");
  score_table(
      rep, cfg, models,
      [&](const eval::SolverResult& r) {
        std::string c = short_number(r.score("fid_proxy"), 3);
        if (labeled && r.has("class_accuracy")) c += " / " + short_number(100 * r.score("class_accuracy"), 3) + "%";
        return c;
      },
      short_number(first.floor_score("fid_proxy"), 3) +
          (labeled ? " / " + short_number(100 * first.floor_score("class_accuracy"), 3) + "%" : ""));
  rep.paragraph(labeled ? "Cells: FID-proxy / class accuracy." : "Cells: FID-proxy.");
  if (first.floor.count("diversity")) {
    rep.heading("A second opinion: the judge network", 3);
    rep.paragraph("The judge (network " + first.judge.id + ", test accuracy " + short_number(100 * first.judge.test_accuracy, 4) +
                  "%) is used neither in training nor by the FID-proxy. Cells: " +
                  (labeled ? std::string("the share of samples it classifies as their label / ") : std::string()) +
                  "per-class diversity: the mean distance between two samples' judge features within a class, as a "
                  "share of the same among real test images (1 = as varied as real images; one image repeated per "
                  "class scores 0, whatever its FID-proxy).");
    score_table(
        rep, cfg, models,
        [&](const eval::SolverResult& r) {
          std::string c = r.has("diversity") ? short_number(r.score("diversity"), 3) : "-";
          if (labeled && r.has("judge_accuracy")) c = short_number(100 * r.score("judge_accuracy"), 3) + "% / " + c;
          return c;
        },
        (labeled ? short_number(100 * first.floor_score("judge_accuracy"), 3) + "% / " : std::string()) +
            short_number(first.floor_score("diversity"), 3));
  }
  const std::vector<io::Series> series = score_vs_nfe(models, "fid_proxy");
  if (!series.empty()) {
    std::vector<std::pair<std::string, std::string>> row{
        {"every model and solver", error_vs_nfe(series, first.floor_score("fid_proxy"), "floor (train vs test)",
                                                "FID-proxy vs NFE", "FID-proxy")}};
    rep.figure_row(row);
  }
}

// Sample grids and noise → image strips, one row per model.
void sample_section(io::HtmlReport& rep, const std::string& run_dir, const std::vector<EvaluatedModel>& models,
                    bool labeled) {
  rep.heading("Samples");
  rep.paragraph(std::string("Each grid shows the first 100 samples from the same noise") +
                (labeled ? "; column k holds class k." : ".") + " Strips: noise (left) to image (right) along Euler paths.");
  const fs::path ref = fs::path(run_dir) / "eval" / "reference.png";
  if (fs::exists(ref)) rep.image_row({{"training images", io::read_file(ref.string())}});
  for (const auto& [cm, met] : models) {
    std::vector<std::pair<std::string, std::string>> pngs;
    for (const auto& r : met.results) {
      const double k = r.nfe;
      const std::string sv = r.solver;
      const bool show = (sv == "euler" && (k == 1 || k == 4 || k == 100)) || r.tag == sv;
      const fs::path p = fs::path(cm.eval_dir) / "samples" / (r.tag + ".png");
      if (!show || !fs::exists(p)) continue;
      std::string cap = cm.label + ", " + sv + " NFE " + short_number(k, 3);
      if (r.has("fid_proxy")) cap += " — FID-proxy " + short_number(r.score("fid_proxy"), 3);
      pngs.emplace_back(cap, io::read_file(p.string()));
    }
    const fs::path tp = fs::path(cm.eval_dir) / "trajectory.png";
    if (fs::exists(tp))
      pngs.emplace_back(cm.label + ": paths, Ŝ " + short_number(met.straightness.straightness, 3),
                        io::read_file(tp.string()));
    rep.image_row(pngs);
  }
}

// Image runs: FID-proxy and class accuracy of every model at every solver and NFE, FID vs NFE
// curves, sample grids and noise → image strips. Returns false when the run is not an image run.
bool image_sections(io::HtmlReport& rep, const RunConfig& cfg, const std::string& run_dir,
                    const std::vector<EvaluatedModel>& all) {
  std::vector<EvaluatedModel> models;
  for (const auto& m : all)
    if (m.eval.kind == "images") models.push_back(m);
  if (models.empty()) return false;
  const auto& first = models.front().eval;
  const bool labeled = first.floor.count("class_accuracy") > 0;
  if (first.floor.count("fid_proxy") > 0) fid_section(rep, cfg, models, labeled);
  sample_section(rep, run_dir, models, labeled);
  return true;
}

// A points run's 1-RF in detail: its samples at each NFE on the reference's frame.
void samples_by_nfe(io::HtmlReport& rep, const eval::ModelEval& met, const fs::path& evd, const at::Tensor& ref) {
  auto lim = plot_limits(ref);
  rep.heading("Samples by number of function evaluations");
  std::vector<std::pair<std::string, std::string>> figs;
  for (const auto& r : met.results) {
    fs::path p = evd / "samples" / (r.tag + ".npy");
    if (!fs::exists(p)) continue;
    std::string title = r.solver + ", NFE " + short_number(r.nfe, 4);
    figs.emplace_back(title + " — W2 " + short_number(r.score("w2"), 3),
                      scatter_vs_reference(io::read_npy(p.string()), ref, title, lim));
  }
  rep.figure_row(figs);
}

// Its Euler trajectories and the error of every solver against NFE.
void trajectories_and_error(io::HtmlReport& rep, const RunConfig& cfg, const eval::ModelEval& met, const fs::path& evd) {
  rep.heading("Trajectories and error vs NFE");
  std::vector<std::pair<std::string, std::string>> row;
  if (fs::exists(evd / "trajectory.npy")) {
    const auto& st = met.straightness;
    row.emplace_back("straightness " + short_number(st.straightness, 3) + " (normalised " + short_number(st.normalized, 3) + ")",
                     trajectory_plot(io::read_npy((evd / "trajectory.npy").string()), "Euler trajectories",
                                     cfg.eval.trajectories));
  }
  std::map<std::string, io::Series> by_solver;
  for (const auto& r : met.results) {
    auto& s = by_solver[r.solver];
    s.label = r.solver;
    s.x.push_back(r.nfe);
    s.y.push_back(r.score("w2"));
  }
  std::vector<io::Series> series;
  size_t ci = 0;
  for (auto& [name, s] : by_solver) s.color = io::palette(ci++), series.push_back(s);
  if (!series.empty())
    row.emplace_back("exact W2 on " + std::to_string(cfg.eval.n) + " points",
                     error_vs_nfe(series, met.floor_score("w2"), "real vs real", "W2 to the target vs NFE", "W2"));
  rep.figure_row(row);
}

// Its numbers: every solver and NFE, the floor, straightness, transport cost and likelihood.
void metrics_tables(io::HtmlReport& rep, const eval::ModelEval& met) {
  rep.heading("Metrics");
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : met.results)
    rows.push_back({r.solver, short_number(r.nfe, 4), short_number(r.score("w2")),
                    short_number(r.score("sliced_w2")), short_number(r.score("energy")),
                    short_number(r.score("mmd"))});
  rows.push_back({"(target vs target)", "-", short_number(met.floor_score("w2")), short_number(met.floor_score("sliced_w2")),
                  short_number(met.floor_score("energy")), short_number(met.floor_score("mmd"))});
  rep.table({"solver", "NFE", "W2", "sliced W2", "energy", "MMD²"}, rows);
  const auto& st = met.straightness;
  std::vector<std::string> head{"straightness Ŝ", "normalised Ŝ", "transport cost E‖Z1−Z0‖²",
                                "independent coupling E‖X1−X0‖²"};
  std::vector<std::string> cells{short_number(st.straightness), short_number(st.normalized), short_number(st.transport_cost),
                                 short_number(met.independent_transport_cost)};
  if (met.likelihood.computed) {
    head.push_back("mean log p (target points)");
    head.push_back("bits/dim");
    cells.push_back(short_number(met.likelihood.mean_log_p));
    cells.push_back(short_number(met.likelihood.bits_per_dim));
  }
  rep.table(head, {cells});
}

// Training curves of every model of the chain and the configuration; then the page is written.
void finish_report(io::HtmlReport& rep, StageContext& ctx) {
  const RunConfig& cfg = ctx.cfg;
  rep.heading("Training");
  for (const auto& cm : chain_models(cfg, ctx.run_dir)) {
    auto figs = training_figures((fs::path(cm.dir) / "metrics.jsonl").string(), cm.label);
    if (!figs.empty()) rep.figure_row(figs);
  }
  rep.heading("Configuration");
  rep.collapsed("keys that differ from the defaults", non_default_keys(cfg));
  rep.collapsed("the whole config (config.json)", ctx.config_json);
  const std::string path = (fs::path(ctx.run_dir) / "report.html").string();
  rep.save(path);
  spdlog::info("report: {}", path);
}

}  // namespace

void stage_report(StageContext& ctx) {
  const RunConfig& cfg = ctx.cfg;
  const fs::path run(ctx.run_dir), evd = run / "eval";
  io::HtmlReport rep("rflow run: " + cfg.name);
  rep.paragraph(cfg.method.name + " on " + cfg.data.source.name + " → " + cfg.data.target.name + ", " +
                describe_model(cfg.model) + ", " +
                std::to_string(cfg.train.steps) + " steps × batch " + std::to_string(cfg.train.batch_size) +
                ", seed " + std::to_string(cfg.seed) + ". Time runs from noise (t = 0) to data (t = 1).");
  const auto models = evaluated_models(cfg, ctx.run_dir);
  if (!models.empty()) {
    rep.heading("Summary");
    summary_table(rep, models);
  }
  rep.key_values(run_metadata(ctx.run_dir));
  if (image_sections(rep, cfg, ctx.run_dir, models)) return finish_report(rep, ctx);
  if (composite_sections(rep, cfg, ctx.run_dir, models)) return finish_report(rep, ctx);
  chain_section(rep, cfg, ctx.run_dir, models);
  // The chain's first model (a 1-RF, a Consistency-FM model, ...), the one in the run directory itself.
  std::optional<eval::ModelEval> stored;
  if (!models.empty() && models.front().model.k == 1 && !models.front().model.student) stored = models.front().eval;
  if (stored && chain_models(cfg, ctx.run_dir).size() > 1) rep.heading("The " + models.front().model.label + " in detail");
  if (stored && fs::exists(evd / "reference.npy")) {
    samples_by_nfe(rep, *stored, evd, io::read_npy((evd / "reference.npy").string()));
    trajectories_and_error(rep, cfg, *stored, evd);
    metrics_tables(rep, *stored);
  }
  finish_report(rep, ctx);
}

}  // namespace rflow
