#include "rflow/automl/study_report.h"

#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "rflow/automl/learning_curve.h"
#include "rflow/automl/search.h"
#include "rflow/io/html_report.h"
#include "rflow/io/svg.h"

namespace rflow::automl {

namespace {

std::string number(double v) { return std::isfinite(v) ? fmt::format("{:.5g}", v) : "-"; }

// Best finished value so far, against trials (by number) and against minutes since the start.
std::pair<std::string, std::string> best_so_far_plots(const SearchOptions& s, const nlohmann::json& sum) {
  io::Series by_trial{"best so far", {}, {}, io::palette(0)}, by_time{"best so far", {}, {}, io::palette(0)};
  for (const auto& p : sum["best_so_far"]) {
    by_trial.x.push_back(double(p["trial"].get<int64_t>() + 1)), by_trial.y.push_back(p["best"].get<double>());
    by_time.x.push_back(p["minutes"].get<double>()), by_time.y.push_back(p["best"].get<double>());
  }
  io::PlotOptions o;
  o.ylabel = s.objective.metric;
  o.xlabel = "trial";
  o.title = "best " + s.objective.metric + " against trials";
  const std::string a = io::svg_curves({by_trial}, o);
  o.xlabel = "minutes";
  o.title = "… and against time";
  return {a, io::svg_curves({by_time}, o)};
}

// Every trial's values at its rungs (finished in colour, pruned in grey), and the best trial's
// power law fitted to its first three rungs, extrapolated.
std::string curves_plot(const SearchOptions& s, const std::vector<TrialRecord>& trials) {
  std::vector<io::Series> series;
  const TrialRecord* best = best_trial(trials);
  for (const auto& t : trials) {
    io::Series c{"", {}, {}, t.state == "complete" ? io::palette(1) : "#bbbbbb"};
    for (const auto& r : t.reports) c.x.push_back(double(r.step)), c.y.push_back(r.value);
    if (best && t.number == best->number) c.label = "trial " + std::to_string(t.number) + " (best)", c.color = io::palette(0);
    if (!c.x.empty()) series.push_back(c);
  }
  if (best && best->reports.size() >= 3) {
    std::vector<CurvePoint> first;
    for (size_t i = 0; i < 3; ++i) first.push_back({double(best->reports[i].step), best->reports[i].value});
    const PowerLaw f = fit_power_law(first);
    io::Series p{"its curve fitted to 3 rungs", {}, {}, io::palette(3), false};
    for (double x = first.front().step; x <= double(s.asha.max_steps) * 1.0001; x *= 1.1) p.x.push_back(x), p.y.push_back(f(x));
    if (f.fitted) series.push_back(p);
  }
  io::PlotOptions o;
  o.title = "every trial's " + s.objective.metric + " at its rungs (grey: pruned)";
  o.xlabel = "training steps";
  o.ylabel = s.objective.metric;
  o.logx = true;
  o.width = 560;
  return io::svg_curves(series, o);
}

// Predicted final value (from the rung nearest a third) against the value reached.
std::string prediction_plot(const SearchOptions& s, const nlohmann::json& sum) {
  io::PointSet pts{"finished trials", {}, {}, io::palette(2), 3.0, 0.8};
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& p : sum["prediction"]["trials"]) {
    const double a = p["actual"].get<double>(), b = p["predicted"].get<double>();
    pts.x.push_back(a), pts.y.push_back(b);
    lo = std::min({lo, a, b}), hi = std::max({hi, a, b});
  }
  io::PlotOptions o;
  o.title = "predicted at a third of the steps vs reached";
  o.xlabel = s.objective.metric + " reached";
  o.ylabel = "predicted";
  if (pts.x.empty()) return io::svg_scatter({pts}, o);
  const double pad = 0.05 * std::max(hi - lo, 1e-9);
  o.limits = std::array<double, 4>{lo - pad, hi + pad, lo - pad, hi + pad};
  io::PointSet diag{"predicted = reached", {}, {}, "#999999", 1.0, 0.6};
  for (int i = 0; i <= 50; ++i) diag.x.push_back(lo + (hi - lo) * i / 50.0), diag.y.push_back(diag.x.back());
  return io::svg_scatter({diag, pts}, o);
}

}  // namespace

std::string study_report_path(const SearchOptions& s) { return (std::filesystem::path(s.study_dir()) / "report.html").string(); }

std::string study_report_html(const SearchOptions& s, const std::vector<TrialRecord>& trials) {
  const nlohmann::json sum = summarize(s, trials);
  io::HtmlReport r("rflow auto: " + s.name);
  int complete = 0, pruned = 0, failed = 0, running = 0;
  for (const auto& t : trials) (t.state == "complete" ? complete : t.state == "pruned" ? pruned : t.state == "failed" ? failed : running)++;
  std::vector<std::pair<std::string, std::string>> kv{
      {"study", s.name + " (" + s.config + ")"},
      {"objective", fmt::format("{} of {} samples at {} NFE of {}, lower is better", s.objective.metric, s.objective.n, s.objective.nfe, s.objective.solver)},
      {"search", fmt::format("{}, seed {}, ASHA rungs from {} steps × {} up to {}", s.sampler, s.seed, s.asha.min_steps, s.asha.eta, s.asha.max_steps)},
      {"trials", fmt::format("{} of {}: {} finished, {} pruned, {} failed, {} running", trials.size(), s.trials, complete, pruned, failed, running)},
      {"training steps", std::to_string(sum["training_steps"].get<int64_t>())}};
  if (!sum["best"].is_null()) {
    std::string set;
    for (const auto& x : sum["best"]["settings"]) set += (set.empty() ? "" : " ") + x.get<std::string>();
    kv.emplace_back("best", fmt::format("trial {}: {} {}", sum["best"]["trial"].get<int64_t>(), number(sum["best"]["value"].get<double>()), set));
  }
  if (sum["prediction"].contains("median_relative_error"))
    kv.emplace_back("learning curve", fmt::format("median relative error at a third of the steps {:.1f} % ({} trials)",
                                                  100 * sum["prediction"]["median_relative_error"].get<double>(), sum["prediction"]["trials"].size()));
  r.key_values(kv);
  const auto [by_trial, by_time] = best_so_far_plots(s, sum);
  r.figure_row({{"", by_trial}, {"", by_time}});
  r.figure_row({{"", curves_plot(s, trials)}, {"", prediction_plot(s, sum)}});
  if (!sum["importance"].empty()) {
    r.heading("Which parameters mattered");
    r.paragraph("|Spearman ρ| of a number with the finished trials' values, the between-choice share of their variance for a choice; normalised to sum to 1.");
    std::vector<std::vector<std::string>> rows;
    for (const auto& [k, v] : sum["importance"].items()) rows.push_back({k, fmt::format("{:.2f}", v.get<double>())});
    r.table({"parameter", "importance"}, rows);
  }
  r.heading("Leaderboard");
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : sum["leaderboard"]) {
    std::string set;
    for (const auto& x : t["settings"]) set += (set.empty() ? "" : " ") + x.get<std::string>();
    rows.push_back({std::to_string(t["trial"].get<int64_t>()), t["state"].get<std::string>(), std::to_string(t["steps"].get<int64_t>()),
                    t["value"].is_null() ? "-" : number(t["value"].get<double>()), fmt::format("{:.0f}", t["seconds"].get<double>()), set});
  }
  r.table({"trial", "state", "steps", s.objective.metric, "seconds", "settings"}, rows);
  return r.render();
}

}  // namespace rflow::automl
