#include "rflow/pipeline/report/compare_runs.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "rflow/core/error.h"
#include "rflow/data/distribution.h"
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
  std::string differs;  // "key = value, …" where this run's config differs from the others'
  RunConfig cfg;
  std::vector<EvaluatedModel> models;
};

using RunModels = std::vector<std::pair<const LoadedRun*, const EvaluatedModel*>>;

// What works for a run without eval results: a policy is judged by `rflow policy`, any other run
// by its eval stage, which `--stage eval` runs on the stored config.
std::string how_to_evaluate(const RunConfig& cfg, const std::string& dir) {
  if (make_distribution(cfg.data.target, {}, "data.target")->obs_dim() > 0)
    return "it is a policy: compare policies with `rflow policy compare " + dir + " OTHER_RUN -o compare.html`";
  return "evaluate it first: `rflow run " + dir + " --stage eval`";
}

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
    if (r.models.empty()) throw Error("no evaluated model in this run", d, how_to_evaluate(r.cfg, d));
    r.label = r.cfg.name;
    ++names[r.label];
    runs.push_back(std::move(r));
  }
  for (auto& r : runs)  // runs of the same name (from different folders) go by their path
    if (names[r.label] > 1) r.label = r.dir;
  std::vector<const RunConfig*> cfgs;
  for (const auto& r : runs) cfgs.push_back(&r.cfg);
  const auto differs = keys_that_differ(cfgs);
  for (std::size_t i = 0; i < runs.size(); ++i) runs[i].differs = differs[i];
  return runs;
}

// Runs evaluated on draws of different sizes have different real-vs-real levels (W2 and FID-proxy
// shrink as n grows): their scores are not on one scale, and the page says so before any table.
void eval_size_warning(io::HtmlReport& rep, const std::vector<LoadedRun>& runs) {
  std::map<int64_t, std::vector<std::string>> by_n;
  for (const auto& r : runs)
    for (const auto& m : r.models) {
      auto& names = by_n[m.eval.n];
      if (std::find(names.begin(), names.end(), r.label) == names.end()) names.push_back(r.label);
    }
  if (by_n.size() < 2) return;
  std::string sizes;
  for (const auto& [n, names] : by_n) {
    std::string who;
    for (const auto& name : names) who += (who.empty() ? "" : ", ") + name;
    sizes += (sizes.empty() ? "" : "; ") + fmt::format("n = {} ({})", n, who);
  }
  spdlog::warn("compare: the runs were evaluated on draws of different sizes ({}); their scores are not on one scale", sizes);
  rep.paragraph("⚠ Not on one scale: these runs were evaluated on draws of different sizes (" + sizes +
                "). W2 and FID-proxy of finite draws shrink as n grows, so compare each model with its own run's "
                "real-vs-real level, or evaluate every run with the same eval.n.");
}

// The table of one metric: a row per model, a column per Euler NFE any run evaluated.
void metric_table(io::HtmlReport& rep, const std::string& metric, const RunModels& entries) {
  const std::string name = headline_name(metric);
  std::set<double> nfes;
  for (const auto& [r, m] : entries)
    for (const auto& res : m->eval.results)
      if (res.solver == "euler") nfes.insert(res.nfe);
  rep.heading(name + " by model and Euler NFE");
  std::vector<std::string> head{"run", "model", "method · backbone", "differs by", "training steps"};
  for (double k : nfes) head.push_back("NFE " + short_number(k, 6));
  head.insert(head.end(), {"real vs real", "normalised straightness"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& [r, m] : entries) {
    std::vector<std::string> row{r->label, m->model.label, r->cfg.method.name + " · " + describe_model(r->cfg.model),
                                 r->differs.empty() ? "—" : r->differs, std::to_string(m->eval.checkpoint_step)};
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

// The metric against NFE, every model of every run, with the highest real-vs-real level as a line.
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
    if (floor > 0) series.push_back(io::Series{"real vs real (highest)", {xmin, xmax}, {floor, floor}, "#9e9e9e", false});
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

// Training losses overlaid (each run's first model; the k-RF and students have their own runs inside).
void loss_section(io::HtmlReport& rep, const std::vector<LoadedRun>& runs) {
  std::vector<io::Series> losses;
  for (const auto& r : runs) {
    io::Series s = read_training_log((fs::path(r.dir) / "metrics.jsonl").string()).loss;
    s.label = r.label, s.color = io::palette(losses.size()), s.markers = false;
    if (!s.x.empty()) losses.push_back(s);
  }
  if (!losses.empty()) {
    rep.heading("Training loss of each run's first model");
    io::PlotOptions o;
    o.title = "training loss";
    o.xlabel = "step";
    o.ylabel = "loss";
    std::vector<double> all;
    for (const auto& s : losses) all.insert(all.end(), s.y.begin(), s.y.end());
    o.logy = log_axis_suits(all);
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
                "reference; a difference smaller than the gap between a run's real-vs-real level and a second such draw is noise). Runs: " +
                [&] {
                  std::string s;
                  for (const auto& r : runs) s += (s.empty() ? "" : ", ") + r.dir;
                  return s;
                }() + ".");
  eval_size_warning(rep, runs);
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
