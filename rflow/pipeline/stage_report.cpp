#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/io/atomic_file.h"
#include "rflow/io/html_report.h"
#include "rflow/io/npy.h"
#include "rflow/io/svg.h"
#include "rflow/pipeline/chain.h"
#include "rflow/pipeline/plots.h"
#include "rflow/pipeline/stages.h"

namespace fs = std::filesystem;

namespace rflow {

namespace {

std::string fmt_num(double v, int prec = 4) { return fmt::format("{:.{}g}", v, prec); }

std::string loss_curve(const fs::path& metrics_path) {
  io::Series loss{"loss", {}, {}, io::palette(0), false};
  std::ifstream in(metrics_path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("loss")) continue;
    loss.x.push_back(j["step"].get<double>());
    loss.y.push_back(j["loss"].get<double>());
  }
  io::PlotOptions o;
  o.title = "training loss";
  o.xlabel = "step";
  o.ylabel = "flow-matching loss";
  o.logy = true;
  return io::svg_curves({loss}, o);
}

// Error vs NFE on log-log axes, with the sampling floor drawn across the curves' NFE range.
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

nlohmann::json read_metrics(const fs::path& model_dir) {
  const fs::path p = model_dir / "eval" / "metrics.json";
  return fs::exists(p) ? nlohmann::json::parse(io::read_file(p.string())) : nlohmann::json();
}

const nlohmann::json* find_result(const nlohmann::json& met, const std::string& solver, double nfe) {
  for (const auto& r : met["results"])
    if (r["solver"] == solver && (nfe < 0 || r["nfe"].get<double>() == nfe)) return &r;
  return nullptr;
}

// 1-RF, k-RF and students side by side: the numbers of the reflow issue's claims (straightness,
// transport cost, one-step W2) and the pictures that show them.
void chain_section(io::HtmlReport& rep, const RunConfig& cfg, const std::string& run_dir) {
  std::vector<std::pair<ChainModel, nlohmann::json>> models;
  for (const auto& cm : chain_models(cfg, run_dir)) {
    auto met = read_metrics(cm.dir);
    if (!met.is_null()) models.emplace_back(cm, std::move(met));
  }
  if (models.size() < 2) return;
  rep.heading("Reflow and distillation");
  rep.paragraph("Each model sampled from the same noise with Euler at each NFE; W2 is the exact 2-Wasserstein distance to " +
                std::to_string(cfg.eval.n) + " fresh target points (the floor is target vs target). Straightness Ŝ = 0 means "
                "straight paths at constant speed, where one Euler step is exact; transport cost is E‖Z1 − Z0‖² of the "
                "model's map (students: of their own k-step map). Students are trained at their k grid times only, so "
                "more steps do not help them.");
  const auto& nfes = cfg.eval.nfe;
  std::vector<std::string> head{"model", "straightness Ŝ", "normalised Ŝ", "transport cost"};
  for (auto k : nfes) head.push_back("W2 @ " + std::to_string(k));
  head.push_back("dopri5 W2 (NFE)");
  const bool labeled = models.front().second["floor"].contains("label_accuracy");
  if (labeled) {
    head.push_back("label accuracy @ " + std::to_string(nfes.front()));
    head.push_back("@ " + std::to_string(nfes.back()));
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& [cm, met] : models) {
    const auto& st = met["straightness"];
    std::vector<std::string> row{cm.label, fmt_num(st["straightness"].get<double>()), fmt_num(st["normalized"].get<double>()),
                                 fmt_num(st["transport_cost"].get<double>())};
    if (cm.student) row[1] = row[2] = "— (" + std::to_string(st["steps"].get<int64_t>()) + "-step map)";
    for (auto k : nfes) {
      const auto* r = find_result(met, "euler", double(k));
      row.push_back(r ? fmt_num((*r)["w2"].get<double>()) : "-");
    }
    const auto* d = find_result(met, "dopri5", -1);
    row.push_back(d ? fmt_num((*d)["w2"].get<double>()) + " (" + fmt_num((*d)["nfe"].get<double>(), 3) + ")" : "-");
    if (labeled)
      for (auto k : {nfes.front(), nfes.back()}) {
        const auto* r = find_result(met, "euler", double(k));
        row.push_back(r && r->contains("label_accuracy") ? fmt_num((*r)["label_accuracy"].get<double>(), 3) : "-");
      }
    rows.push_back(row);
  }
  const auto& f = models.front().second;
  std::vector<std::string> floor_row{"(target vs target)", "", "",
                                     "independent: " + fmt_num(f["independent_transport_cost"].get<double>())};
  for (size_t i = 0; i < nfes.size(); ++i) floor_row.push_back(fmt_num(f["floor"]["w2"].get<double>()));
  floor_row.push_back("");
  if (labeled) {
    floor_row.push_back(fmt_num(f["floor"]["label_accuracy"].get<double>(), 3));
    floor_row.push_back(floor_row.back());
  }
  rows.push_back(floor_row);
  rep.table(head, rows);

  // W2 vs NFE, one curve per model.
  std::vector<io::Series> series;
  for (size_t i = 0; i < models.size(); ++i) {
    io::Series s{models[i].first.label, {}, {}, io::palette(i), false};
    for (const auto& r : models[i].second["results"])
      if (r["solver"] == "euler") s.x.push_back(r["nfe"].get<double>()), s.y.push_back(r["w2"].get<double>());
    if (!s.x.empty()) series.push_back(s);
  }
  std::vector<std::pair<std::string, std::string>> row;
  if (!series.empty())
    row.emplace_back("every model, Euler",
                     error_vs_nfe(series, f["floor"]["w2"].get<double>(), "sampling floor", "W2 vs NFE (Euler)", "W2"));
  rep.figure_row(row);

  // Samples at a few NFE and trajectories, one row per model, on the reference's frame.
  const fs::path ref_path = fs::path(run_dir) / "eval" / "reference.npy";
  if (!fs::exists(ref_path)) return;
  at::Tensor ref = io::read_npy(ref_path.string());
  auto lim = plot_limits(ref);
  std::vector<int64_t> show;
  for (auto k : nfes)
    if (k == 1 || k == 2 || k == 4 || k == 100) show.push_back(k);
  if (show.empty()) show = nfes;
  for (const auto& [cm, met] : models) {
    std::vector<std::pair<std::string, std::string>> figs;
    for (auto k : show) {
      const fs::path p = fs::path(cm.dir) / "eval" / "samples" / ("euler_nfe" + std::to_string(k) + ".npy");
      const auto* r = find_result(met, "euler", double(k));
      if (!fs::exists(p) || !r) continue;
      const std::string title = cm.label + ", Euler NFE " + std::to_string(k);
      figs.emplace_back(title + " — W2 " + fmt_num((*r)["w2"].get<double>(), 3),
                        scatter_vs_reference(io::read_npy(p.string()), ref, title, lim));
    }
    const fs::path tp = fs::path(cm.dir) / "eval" / "trajectory.npy";
    if (fs::exists(tp))
      figs.emplace_back("Ŝ " + fmt_num(met["straightness"]["straightness"].get<double>(), 3),
                        trajectory_plot(io::read_npy(tp.string()), cm.label + ": trajectories", cfg.eval.trajectories, lim));
    rep.figure_row(figs);
  }
}

// Image runs: FID-proxy and class accuracy of every model at every solver and NFE, FID vs NFE
// curves, sample grids and noise → image strips. Returns false when the run is not an image run.
bool image_sections(io::HtmlReport& rep, const RunConfig& cfg, const std::string& run_dir) {
  std::vector<std::pair<ChainModel, nlohmann::json>> models;
  for (const auto& cm : chain_models(cfg, run_dir)) {
    auto met = read_metrics(cm.dir);
    if (!met.is_null() && met.value("kind", "points") == "images") models.emplace_back(cm, std::move(met));
  }
  if (models.empty()) return false;
  const auto& first = models.front().second;
  const bool fid = first["floor"].contains("fid_proxy");
  const bool labeled = first["floor"].contains("class_accuracy");
  if (fid) {
    rep.heading("FID-proxy and class accuracy");
    rep.paragraph("FID-proxy: Fréchet distance between the FID network's 128-d features of " + std::to_string(first["n"].get<int64_t>()) +
                  " samples (clipped to [−1, 1]) and of the " + first.value("reference", std::string("test set")) +
                  "; the floor is as many real training images. Class accuracy: share of conditional samples that the FID "
                  "network classifies as the label they were asked for (its own test accuracy is the ceiling). FID network " +
                  first["fidnet"]["id"].get<std::string>() + ", test accuracy " +
                  fmt_num(100 * first["fidnet"]["test_accuracy"].get<double>(), 4) + "%. Every model starts from the same noise.");
    std::vector<std::string> solvers_seen;
    for (const auto& [cm, met] : models)
      for (const auto& r : met["results"])
        if (std::find(solvers_seen.begin(), solvers_seen.end(), r["solver"].get<std::string>()) == solvers_seen.end())
          solvers_seen.push_back(r["solver"].get<std::string>());
    std::vector<std::string> head{"model", "solver"};
    for (auto k : cfg.eval.nfe) head.push_back("NFE " + std::to_string(k));
    head.push_back("adaptive (NFE)");
    std::vector<std::vector<std::string>> rows;
    auto cell = [&](const nlohmann::json* r) {
      if (!r) return std::string("-");
      std::string c = fmt_num((*r)["fid_proxy"].get<double>(), 3);
      if (labeled && r->contains("class_accuracy")) c += " / " + fmt_num(100 * (*r)["class_accuracy"].get<double>(), 3) + "%";
      return c;
    };
    for (const auto& [cm, met] : models)
      for (const auto& sv : solvers_seen) {
        std::vector<std::string> row{cm.label, sv};
        const auto* ad = find_result(met, sv, -1);
        const bool adaptive = ad && (*ad)["tag"] == sv;
        for (auto k : cfg.eval.nfe) row.push_back(adaptive ? "" : cell(find_result(met, sv, double(k))));
        row.push_back(adaptive ? cell(ad) + " (" + fmt_num((*ad)["nfe"].get<double>(), 3) + ")" : "");
        rows.push_back(row);
      }
    std::vector<std::string> floor_row{"(train vs test)", ""};
    for (size_t i = 0; i <= cfg.eval.nfe.size(); ++i)
      floor_row.push_back(fmt_num(first["floor"]["fid_proxy"].get<double>(), 3) +
                          (labeled ? " / " + fmt_num(100 * first["floor"]["class_accuracy"].get<double>(), 3) + "%" : ""));
    rows.push_back(floor_row);
    rep.table(head, rows);
    rep.paragraph(labeled ? "Cells: FID-proxy / class accuracy." : "Cells: FID-proxy.");

    std::vector<io::Series> series;
    size_t ci = 0;
    for (const auto& [cm, met] : models)
      for (const auto& sv : solvers_seen) {
        io::Series s{cm.label + ", " + sv, {}, {}, io::palette(ci++), false};
        for (const auto& r : met["results"])
          if (r["solver"] == sv) s.x.push_back(r["nfe"].get<double>()), s.y.push_back(r["fid_proxy"].get<double>());
        if (!s.x.empty()) series.push_back(s);
      }
    if (!series.empty()) {
      std::vector<std::pair<std::string, std::string>> row{
          {"every model and solver", error_vs_nfe(series, first["floor"]["fid_proxy"].get<double>(), "floor (train vs test)",
                                                  "FID-proxy vs NFE", "FID-proxy")}};
      if (fs::exists(fs::path(run_dir) / "metrics.jsonl"))
        row.emplace_back("1-RF training loss", loss_curve(fs::path(run_dir) / "metrics.jsonl"));
      rep.figure_row(row);
    }
  }
  rep.heading("Samples");
  rep.paragraph(std::string("Each grid shows the first 100 samples from the same noise") +
                (labeled ? "; column k holds class k." : ".") + " Strips: noise (left) to image (right) along Euler paths.");
  const fs::path ref = fs::path(run_dir) / "eval" / "reference.png";
  if (fs::exists(ref)) rep.image_row({{"training images", io::read_file(ref.string())}});
  for (const auto& [cm, met] : models) {
    std::vector<std::pair<std::string, std::string>> pngs;
    for (const auto& r : met["results"]) {
      const double k = r["nfe"].get<double>();
      const std::string sv = r["solver"].get<std::string>();
      const bool show = (sv == "euler" && (k == 1 || k == 4 || k == 100)) || r["tag"] == sv;
      const fs::path p = fs::path(cm.dir) / "eval" / "samples" / (r["tag"].get<std::string>() + ".png");
      if (!show || !fs::exists(p)) continue;
      std::string cap = cm.label + ", " + sv + " NFE " + fmt_num(k, 3);
      if (r.contains("fid_proxy")) cap += " — FID-proxy " + fmt_num(r["fid_proxy"].get<double>(), 3);
      pngs.emplace_back(cap, io::read_file(p.string()));
    }
    const fs::path tp = fs::path(cm.dir) / "eval" / "trajectory.png";
    if (fs::exists(tp))
      pngs.emplace_back(cm.label + ": paths, Ŝ " + fmt_num(met["straightness"]["straightness"].get<double>(), 3),
                        io::read_file(tp.string()));
    rep.image_row(pngs);
  }
  return true;
}

}  // namespace

void stage_report(StageContext& ctx) {
  const RunConfig& cfg = ctx.cfg;
  const fs::path run(ctx.run_dir), evd = run / "eval";
  io::HtmlReport rep("rflow run: " + cfg.name);
  const std::string size = cfg.model.arch == "unet" ? std::to_string(cfg.model.channels) + " channels"
                                                    : std::to_string(cfg.model.depth) + " × " + std::to_string(cfg.model.hidden);
  rep.paragraph(cfg.method.name + " on " + cfg.data.source.name + " → " + cfg.data.target.name + ", " + cfg.model.arch +
                " (" + size + "), " +
                std::to_string(cfg.train.steps) + " steps × batch " + std::to_string(cfg.train.batch_size) +
                ", seed " + std::to_string(cfg.seed) + ". Time runs from noise (t = 0) to data (t = 1).");

  auto finish = [&] {
    rep.heading("Configuration");
    rep.preformatted(ctx.config_json);
    const std::string path = (run / "report.html").string();
    rep.save(path);
    spdlog::info("report: {}", path);
  };
  if (image_sections(rep, cfg, ctx.run_dir)) return finish();
  chain_section(rep, cfg, ctx.run_dir);
  nlohmann::json met = read_metrics(run);
  if (!met.is_null() && chain_models(cfg, ctx.run_dir).size() > 1) rep.heading("The 1-RF in detail");

  if (!met.is_null() && fs::exists(evd / "reference.npy")) {
    at::Tensor ref = io::read_npy((evd / "reference.npy").string());
    auto lim = plot_limits(ref);
    rep.heading("Samples by number of function evaluations");
    std::vector<std::pair<std::string, std::string>> figs;
    for (const auto& r : met["results"]) {
      fs::path p = evd / "samples" / (r["tag"].get<std::string>() + ".npy");
      if (!fs::exists(p)) continue;
      std::string title = r["solver"].get<std::string>() + ", NFE " + fmt_num(r["nfe"].get<double>(), 4);
      figs.emplace_back(title + " — W2 " + fmt_num(r["w2"].get<double>(), 3),
                        scatter_vs_reference(io::read_npy(p.string()), ref, title, lim));
    }
    rep.figure_row(figs);

    rep.heading("Trajectories and error vs NFE");
    std::vector<std::pair<std::string, std::string>> row;
    if (fs::exists(evd / "trajectory.npy")) {
      const auto& st = met["straightness"];
      row.emplace_back("straightness " + fmt_num(st["straightness"].get<double>(), 3) + " (normalised " +
                           fmt_num(st["normalized"].get<double>(), 3) + ")",
                       trajectory_plot(io::read_npy((evd / "trajectory.npy").string()), "Euler trajectories",
                                       cfg.eval.trajectories));
    }
    std::map<std::string, io::Series> by_solver;
    for (const auto& r : met["results"]) {
      auto& s = by_solver[r["solver"].get<std::string>()];
      s.label = r["solver"].get<std::string>();
      s.x.push_back(r["nfe"].get<double>());
      s.y.push_back(r["w2"].get<double>());
    }
    std::vector<io::Series> series;
    size_t ci = 0;
    for (auto& [name, s] : by_solver) s.color = io::palette(ci++), series.push_back(s);
    if (!series.empty())
      row.emplace_back("exact W2 on " + std::to_string(cfg.eval.n) + " points",
                       error_vs_nfe(series, met["floor"]["w2"].get<double>(), "sampling floor", "W2 to the target vs NFE", "W2"));
    if (fs::exists(run / "metrics.jsonl")) row.emplace_back("training loss", loss_curve(run / "metrics.jsonl"));
    rep.figure_row(row);

    rep.heading("Metrics");
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : met["results"])
      rows.push_back({r["solver"].get<std::string>(), fmt_num(r["nfe"].get<double>(), 4), fmt_num(r["w2"].get<double>()),
                      fmt_num(r["sliced_w2"].get<double>()), fmt_num(r["energy"].get<double>()),
                      fmt_num(r["mmd"].get<double>())});
    const auto& f = met["floor"];
    rows.push_back({"(target vs target)", "-", fmt_num(f["w2"].get<double>()), fmt_num(f["sliced_w2"].get<double>()),
                    fmt_num(f["energy"].get<double>()), fmt_num(f["mmd"].get<double>())});
    rep.table({"solver", "NFE", "W2", "sliced W2", "energy", "MMD²"}, rows);
    const auto& st = met["straightness"];
    std::vector<std::string> head{"straightness Ŝ", "normalised Ŝ", "transport cost E‖Z1−Z0‖²",
                                  "independent coupling E‖X1−X0‖²"};
    std::vector<std::string> cells{fmt_num(st["straightness"].get<double>()), fmt_num(st["normalized"].get<double>()),
                                   fmt_num(st["transport_cost"].get<double>()),
                                   fmt_num(met["independent_transport_cost"].get<double>())};
    if (met.contains("likelihood")) {
      head.push_back("mean log p (target points)");
      head.push_back("bits/dim");
      cells.push_back(fmt_num(met["likelihood"]["mean_log_p"].get<double>()));
      cells.push_back(fmt_num(met["likelihood"]["bits_per_dim"].get<double>()));
    }
    rep.table(head, {cells});
  } else if (fs::exists(run / "metrics.jsonl")) {
    rep.figure_row({{"training loss", loss_curve(run / "metrics.jsonl")}});
  }
  finish();
}

}  // namespace rflow
