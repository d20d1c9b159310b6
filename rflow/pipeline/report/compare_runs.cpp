#include "rflow/pipeline/report/compare_runs.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "rflow/core/error.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/html_report.h"
#include "rflow/io/svg.h"
#include "rflow/nn/model_config.h"
#include "rflow/pipeline/report/report_parts.h"
#include "rflow/pipeline/run_config.h"

namespace fs = std::filesystem;

namespace rflow {

namespace {

struct LoadedRun {
  std::string dir, label;
  RunConfig cfg;
  std::vector<EvaluatedModel> models;
};

using RunModels = std::vector<std::pair<const LoadedRun*, const EvaluatedModel*>>;

// Every run directory's config and evaluated models; runs of the same name go by their path.
std::vector<LoadedRun> load_runs(const std::vector<std::string>& run_dirs) {
  std::vector<LoadedRun> runs;
  std::map<std::string, int> names;
  for (const auto& d : run_dirs) {
    const fs::path config = fs::path(d) / "config.json";
    RF_CHECK(fs::is_directory(d) && fs::exists(config), "not a run directory (no config.json)", d,
             "pass directories made by `rflow run`, e.g. runs/demo_2d");
    LoadedRun r;
    r.dir = fs::path(d).lexically_normal().string();
    r.cfg = run_config_from_json(io::read_file(config.string()), config.string());
    r.models = evaluated_models(r.cfg, r.dir);
    RF_CHECK(!r.models.empty(), "no evaluated model in this run", d, "run its eval stage first (rflow run " + d + ")");
    r.label = r.cfg.name;
    ++names[r.label];
    runs.push_back(std::move(r));
  }
  for (auto& r : runs)  // runs of the same name (from different folders) go by their path
    if (names[r.label] > 1) r.label = r.dir;
  return runs;
}

// The table of one metric: a row per model, a column per Euler NFE any run evaluated.
void metric_table(io::HtmlReport& rep, const std::string& metric, const RunModels& entries) {
  const std::string name = headline_name(metric);
  std::set<double> nfes;
  for (const auto& [r, m] : entries)
    for (const auto& res : m->eval.results)
      if (res.solver == "euler") nfes.insert(res.nfe);
  rep.heading(name + " by model and Euler NFE");
  std::vector<std::string> head{"run", "model", "method · backbone", "training steps"};
  for (double k : nfes) head.push_back("NFE " + short_number(k, 6));
  head.insert(head.end(), {"floor", "normalised straightness"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& [r, m] : entries) {
    std::vector<std::string> row{r->label, m->model.label, r->cfg.method.name + " · " + describe_model(r->cfg.model),
                                 std::to_string(m->eval.checkpoint_step)};
    for (double k : nfes) {
      const auto* res = m->eval.find("euler", k);
      row.push_back(res && res->has(metric) ? short_number(res->score(metric)) : "-");
    }
    row.push_back(m->eval.floor.count(metric) ? short_number(m->eval.floor.at(metric)) : "-");
    row.push_back(m->model.student ? "— (" + std::to_string(m->eval.straightness.steps) + "-step map)"
                                   : short_number(m->eval.straightness.normalized, 3));
    rows.push_back(row);
  }
  rep.table(head, rows);
}

// The metric against NFE, every model of every run, with the highest floor as a line.
void metric_curves(io::HtmlReport& rep, const std::string& metric, const RunModels& entries) {
  const std::string name = headline_name(metric);
  std::vector<io::Series> series;
  double floor = 0;
  for (const auto& [r, m] : entries) {
    if (auto s = euler_curve(*m, r->label + ": " + m->model.label, series.size())) series.push_back(*s);
    if (m->eval.floor.count(metric)) floor = std::max(floor, m->eval.floor.at(metric));
  }
  if (!series.empty()) {
    double xmin = 1e300, xmax = 0;
    for (const auto& s : series)
      for (double x : s.x) xmin = std::min(xmin, x), xmax = std::max(xmax, x);
    if (floor > 0) series.push_back(io::Series{"highest floor", {xmin, xmax}, {floor, floor}, "#9e9e9e", false});
    io::PlotOptions o;
    o.title = name + " vs NFE (Euler)";
    o.xlabel = "NFE";
    o.ylabel = name;
    o.logx = o.logy = true;
    o.width = 640;
    o.height = 420;
    rep.figure_row({{"every model of every run", io::svg_curves(series, o)}});
  }
}

// Training losses overlaid (each run's 1-RF; the k-RF and students have their own runs inside).
void loss_section(io::HtmlReport& rep, const std::vector<LoadedRun>& runs) {
  std::vector<io::Series> losses;
  for (const auto& r : runs) {
    io::Series s = read_training_log((fs::path(r.dir) / "metrics.jsonl").string()).loss;
    s.label = r.label, s.color = io::palette(losses.size()), s.markers = false;
    if (!s.x.empty()) losses.push_back(s);
  }
  if (!losses.empty()) {
    rep.heading("Training loss of each run's 1-RF");
    io::PlotOptions o;
    o.title = "training loss";
    o.xlabel = "step";
    o.ylabel = "loss";
    o.logy = true;
    o.width = 640;
    o.height = 420;
    rep.figure_row({{"loss per logged window", io::svg_curves(losses, o)}});
  }
}

}  // namespace

void write_run_comparison(const std::vector<std::string>& run_dirs, const std::string& out_html) {
  RF_CHECK(!run_dirs.empty(), "no runs to compare", "rflow compare", "pass two or more run directories");
  const std::vector<LoadedRun> runs = load_runs(run_dirs);
  io::HtmlReport rep("rflow: " + std::to_string(runs.size()) + " runs compared");
  rep.paragraph("Every evaluated model of each run, from its own eval results (each run draws its own noise and "
                "reference; a difference below the runs' floors is noise). Runs: " +
                [&] {
                  std::string s;
                  for (const auto& r : runs) s += (s.empty() ? "" : ", ") + r.dir;
                  return s;
                }() + ".");
  // One table per metric kind (points: W2, images: FID-proxy), a column per NFE any run evaluated.
  std::map<std::string, RunModels> by_metric;
  for (const auto& r : runs)
    for (const auto& m : r.models) by_metric[headline_score(m.eval)].emplace_back(&r, &m);
  for (const auto& [metric, entries] : by_metric) {
    metric_table(rep, metric, entries);
    metric_curves(rep, metric, entries);
  }
  loss_section(rep, runs);
  rep.heading("Runs");
  for (const auto& r : runs) {
    rep.heading(r.label, 3);
    rep.key_values(run_metadata(r.dir));
    rep.collapsed("keys that differ from the defaults", non_default_keys(r.cfg));
  }
  rep.save(out_html);
}

}  // namespace rflow
