#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/io/atomic_file.h"
#include "rflow/io/html_report.h"
#include "rflow/io/npy.h"
#include "rflow/io/svg.h"
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

}  // namespace

void stage_report(StageContext& ctx) {
  const RunConfig& cfg = ctx.cfg;
  const fs::path run(ctx.run_dir), evd = run / "eval";
  io::HtmlReport rep("rflow run: " + cfg.name);
  rep.paragraph(cfg.method.name + " on " + cfg.data.source.name + " → " + cfg.data.target.name + ", " + cfg.model.arch +
                " (" + std::to_string(cfg.model.depth) + " × " + std::to_string(cfg.model.hidden) + "), " +
                std::to_string(cfg.train.steps) + " steps × batch " + std::to_string(cfg.train.batch_size) +
                ", seed " + std::to_string(cfg.seed) + ". Time runs from noise (t = 0) to data (t = 1).");

  nlohmann::json met;
  if (fs::exists(evd / "metrics.json")) met = nlohmann::json::parse(io::read_file((evd / "metrics.json").string()));

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
    if (!series.empty()) {
      double fl = met["floor"]["w2"].get<double>();
      double xmin = series[0].x.front(), xmax = xmin;
      for (const auto& se : series)
        for (double x : se.x) xmin = std::min(xmin, x), xmax = std::max(xmax, x);
      io::Series floor{"sampling floor", {xmin, xmax}, {fl, fl}, "#9e9e9e", false};
      series.push_back(floor);
      io::PlotOptions o;
      o.title = "W2 to the target vs NFE";
      o.xlabel = "NFE";
      o.ylabel = "W2";
      o.logx = o.logy = true;
      row.emplace_back("exact W2 on " + std::to_string(cfg.eval.n) + " points", io::svg_curves(series, o));
    }
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
  rep.heading("Configuration");
  rep.preformatted(ctx.config_json);
  const std::string path = (run / "report.html").string();
  rep.save(path);
  spdlog::info("report: {}", path);
}

}  // namespace rflow
