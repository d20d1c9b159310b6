#include "rflow/pipeline/report/report_parts.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "rflow/core/config.h"
#include "rflow/core/version.h"
#include "rflow/data/distribution.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/svg.h"
#include "rflow/methods/method_config.h"
#include "rflow/nn/model_config.h"
#include "rflow/pipeline/run_config.h"
#include "rflow/pipeline/stages.h"

namespace fs = std::filesystem;

namespace rflow {

namespace {

nlohmann::json read_json(const fs::path& p) {
  if (!fs::exists(p)) return nullptr;
  return nlohmann::json::parse(io::read_file(p.string()), nullptr, false);
}

std::string nfe_text(double nfe) { return nfe == std::floor(nfe) ? fmt::format("{:.0f}", nfe) : fmt::format("{:.1f}", nfe); }

}  // namespace

std::string short_number(double v, int significant) { return fmt::format("{:.{}g}", v, significant); }

std::vector<EvaluatedModel> evaluated_models(const RunConfig& cfg, const std::string& run_dir) {
  std::vector<EvaluatedModel> out;
  for (const auto& model : chain_models(cfg, run_dir)) {
    for (const auto& cm : eval_views(model)) {
      const fs::path p = fs::path(cm.eval_dir) / "metrics.json";
      if (fs::exists(p)) out.push_back({cm, eval::read_model_eval(p.string())});
    }
  }
  return out;
}

// By what the scorer measured: FID-proxy where there is one (images, composites' cells), else W2.
std::string headline_score(const eval::ModelEval& m) { return m.floor.count("fid_proxy") ? "fid_proxy" : "w2"; }
std::string headline_name(const std::string& score) { return score == "w2" ? "W2" : "FID-proxy"; }

TrainingLog read_training_log(const std::string& metrics_jsonl) {
  TrainingLog log;
  std::ifstream in(metrics_jsonl);
  auto add = [](io::Series& s, double step, const nlohmann::json& v) {
    if (v.is_number()) s.x.push_back(step), s.y.push_back(v.get<double>());
  };
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("step") || !j.contains("loss") || !j["loss"].is_number()) continue;
    const double step = j["step"].get<double>(), l = j["loss"].get<double>();
    if (!std::isfinite(l)) continue;
    log.loss.x.push_back(step), log.loss.y.push_back(l);
    for (const auto& [key, v] : j.items()) {
      if (key == "step" || key == "loss" || key == "steps_per_s") continue;
      if (key == "lr") add(log.lr, step, v);
      else if (key == "grad_norm") add(log.grad_norm, step, v);
      else {
        const std::string& name = key;  // a structured binding cannot be captured before C++20
        auto it = std::find_if(log.terms.begin(), log.terms.end(), [&](const io::Series& t) { return t.label == name; });
        if (it == log.terms.end()) it = log.terms.insert(log.terms.end(), io::Series{key, {}, {}, "", false});
        add(*it, step, v);
      }
    }
  }
  return log;
}

void summary_table(io::HtmlReport& rep, const std::vector<EvaluatedModel>& models) {
  if (models.empty()) return;
  const std::string key = headline_score(models.front().eval);
  const std::string name = headline_name(key);
  std::vector<std::vector<std::string>> rows;
  for (const auto& [cm, met] : models) {
    const eval::SolverResult* fewest = nullptr;
    const eval::SolverResult* best = nullptr;
    for (const auto& r : met.results) {
      if (!r.has(key)) continue;
      if (!fewest || r.nfe < fewest->nfe) fewest = &r;
      if (!best || r.score(key) < best->score(key)) best = &r;
    }
    if (!fewest) continue;
    const auto& st = met.straightness;
    rows.push_back({cm.label, short_number(fewest->score(key)) + " (" + fewest->solver + ", NFE " + nfe_text(fewest->nfe) + ")",
                    short_number(best->score(key)) + " (" + best->solver + ", NFE " + nfe_text(best->nfe) + ")",
                    met.floor.count(key) ? short_number(met.floor.at(key)) : "-",
                    cm.student ? "— (" + std::to_string(st.steps) + "-step map)" : short_number(st.normalized, 3)});
  }
  rep.table({"model", name + " at the fewest NFE", "best " + name, "real vs real", "normalised straightness"}, rows);
}

std::vector<double> smoothed_losses(const std::vector<double>& losses) {
  std::vector<double> out;
  double ema = 0, weight = 0;
  for (double l : losses) {
    ema = 0.95 * ema + 0.05 * l, weight = 0.95 * weight + 0.05;
    out.push_back(ema / weight);
  }
  return out;
}

bool log_axis_suits(const std::vector<double>& values) {
  if (values.empty()) return false;
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  return *lo > 0 && *hi >= 10 * *lo;
}

std::string readable_term(const std::string& key) {
  static const std::map<std::string, std::string> kNames{
      {"variance_nll", "variance NLL"}, {"sigma_mean", "mean σ"}, {"distill_l2", "distillation L2"},
      {"distill_feature", "distillation feature distance"}, {"beta", "β"}};
  if (auto it = kNames.find(key); it != kNames.end()) return it->second;
  std::string out = key;
  std::replace(out.begin(), out.end(), '_', ' ');
  return out;
}

std::vector<std::pair<std::string, std::string>> training_figures(const std::string& metrics_jsonl,
                                                                 const std::string& label) {
  TrainingLog log = read_training_log(metrics_jsonl);
  if (log.loss.x.empty()) return {};
  io::Series loss = log.loss, smooth{"smoothed", log.loss.x, {}, io::palette(0), false};
  loss.label = "loss", loss.color = "#9ecae1", loss.markers = false;
  smooth.y = smoothed_losses(log.loss.y);
  io::Series lr = log.lr, gnorm = log.grad_norm;
  lr.label = "learning rate", lr.color = io::palette(1), lr.markers = false;
  gnorm.label = "gradient norm", gnorm.color = io::palette(2), gnorm.markers = false;
  const std::string prefix = label.empty() ? "" : label + ": ";
  std::vector<std::pair<std::string, std::string>> figs;
  io::PlotOptions o;
  o.title = prefix + "training loss";
  o.xlabel = "step";
  o.ylabel = "loss";
  o.logy = log_axis_suits(log.loss.y);
  figs.emplace_back(prefix + "loss per logged window (light) and its moving average", io::svg_curves({loss, smooth}, o));
  if (!lr.x.empty()) {
    io::PlotOptions ol;
    ol.title = prefix + "learning rate";
    ol.xlabel = "step";
    ol.ylabel = "learning rate";
    figs.emplace_back(prefix + "learning rate (warm-up, then the schedule)", io::svg_curves({lr}, ol));
  }
  if (!gnorm.x.empty()) {
    io::PlotOptions og;
    og.title = prefix + "gradient norm";
    og.xlabel = "step";
    og.ylabel = "‖g‖ (before clipping)";
    og.logy = true;
    figs.emplace_back(prefix + "gradient norm, mean per logged window", io::svg_curves({gnorm}, og));
  }
  // Each term a method logs beside its loss (AdaFlow's flow loss and NLL, a student's feature and L2
  // parts) on its own axes: a negative NLL beside a positive error would share no useful scale.
  for (std::size_t i = 0; i < log.terms.size(); ++i) {
    io::Series t = log.terms[i];
    t.label = readable_term(t.label), t.color = io::palette(3 + i);
    io::PlotOptions ot;
    ot.title = prefix + t.label;
    ot.xlabel = "step";
    ot.logy = log_axis_suits(t.y);
    figs.emplace_back(prefix + t.label + ", mean per logged window", io::svg_curves({t}, ot));
  }
  return figs;
}

std::vector<std::pair<std::string, std::string>> run_metadata(const std::string& run_dir) {
  std::vector<std::pair<std::string, std::string>> out;
  const fs::path run(run_dir);
  const auto sys = read_json(run / "system.json");
  if (sys.is_object() && sys.contains("rflow")) out.emplace_back("made by", sys.value("rflow", "?"));
  out.emplace_back("report by", version_line());
  if (sys.is_object()) {
    out.emplace_back("machine", sys.value("cpu", "?") + " (" + sys.value("cpu_isa", "?") + ", " +
                                    std::to_string(sys.value("hardware_threads", 0)) + " hardware threads)");
    out.emplace_back("kernels", "LibTorch " + sys.value("torch", "?") + ", BLAS core " + sys.value("blas_core", "?") +
                                    ", oneDNN " + sys.value("onednn_isa", "?"));
    out.emplace_back("threads", std::to_string(sys.value("threads", 0)) + " intra-op");
  }
  std::string times;
  double total = 0;
  std::optional<fs::file_time_type> last;
  for (const auto& name : stages().names()) {
    const fs::path marker = run / "stages" / (name + ".done");
    const auto j = read_json(marker);
    if (!j.is_object() || !j.contains("seconds")) continue;
    const double s = j.value("seconds", 0.0);
    total += s;
    times += (times.empty() ? "" : ", ") + name + " " + short_number(s, 3) + " s";
    if (j.contains("peak_rss_mb")) times += fmt::format(" ({:.0f} MB)", j.value("peak_rss_mb", 0.0));
    const auto t = fs::last_write_time(marker);
    if (!last || t > *last) last = t;
  }
  if (!times.empty()) {
    out.emplace_back("stage times (peak memory)", times + "; " + short_number(total, 3) + " s in all");
    // The newest marker's time, in UTC: when this run's results were last made.
    const auto sys_time = std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(*last - fs::file_time_type::clock::now());
    const std::time_t tt = std::chrono::system_clock::to_time_t(sys_time);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    out.emplace_back("results made", buf);
  }
  return out;
}

std::string non_default_keys(const RunConfig& cfg) {
  RunConfig copy = cfg, defaults;
  const auto fields = config::fields_of(copy), base = config::fields_of(defaults);
  std::string out;
  for (const auto& f : fields) {
    if (!f.alias_of.empty()) continue;
    const auto it = std::find_if(base.begin(), base.end(), [&](const config::Field& b) { return b.key == f.key; });
    const std::string v = config::value_string(f);
    if (it != base.end() && config::value_string(*it) == v) continue;
    out += f.key + " = " + v + "\n";
  }
  return out.empty() ? "(every key at its default)\n" : out;
}

namespace {

bool key_ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Keys that change neither the models nor their scores: when to save, how often to log, what the
// sample stage draws, which extra solvers eval tries.
bool is_bookkeeping_key(const std::string& key) {
  for (const char* k : {"name", "out_dir", "stages", "threads", "log_level", "device", "eval.solvers", "eval.nfe",
                        "eval.trajectories", "eval.likelihood", "eval.likelihood_n", "eval.batch", "eval.straightness_steps"})
    if (key == k) return true;
  for (const char* tail : {".log_every", ".ckpt_every", ".keep_checkpoints"})
    if (key_ends_with(key, tail)) return true;
  return key.rfind("sample.", 0) == 0;
}

// A key inside the options section of a backbone, method or distribution this run did not select
// (model.dit.* of an MLP run) says nothing about it. The students' method.distill.* always counts.
bool key_selected_in(const std::string& key, const RunConfig& cfg) {
  struct Selector {
    std::string prefix, chosen;
    std::function<bool(const std::string&)> is_section;
  };
  const Selector selectors[] = {
      {"model.", cfg.model.arch, [](const std::string& s) { return models().contains(s); }},
      {"method.", cfg.method.name, [](const std::string& s) { return s != "distill" && methods().contains(s); }},
      {"data.source.", cfg.data.source.name, [](const std::string& s) { return distributions().contains(s); }},
      {"data.target.", cfg.data.target.name, [](const std::string& s) { return distributions().contains(s); }}};
  for (const auto& sel : selectors) {
    if (key.rfind(sel.prefix, 0) != 0) continue;
    const std::size_t dot = key.find('.', sel.prefix.size());
    if (dot == std::string::npos) continue;
    const std::string section = key.substr(sel.prefix.size(), dot - sel.prefix.size());
    if (sel.is_section(section)) return section == sel.chosen;
  }
  return true;
}

}  // namespace

std::vector<std::string> keys_that_differ(const std::vector<const RunConfig*>& cfgs) {
  std::vector<RunConfig> copies;  // the fields point into these: reserved so none moves
  copies.reserve(cfgs.size());
  std::vector<std::vector<config::Field>> fields;
  for (const RunConfig* c : cfgs) {
    copies.push_back(*c);
    fields.push_back(config::fields_of(copies.back()));
  }
  std::vector<std::string> out(cfgs.size());
  if (cfgs.size() < 2) return out;
  // Keys every run has whose values are not all the same, each shown where it matters to the run.
  for (const auto& f : fields.front()) {
    if (!f.alias_of.empty() || is_bookkeeping_key(f.key)) continue;
    std::vector<std::string> values;
    for (const auto& fs : fields) {
      const auto it = std::find_if(fs.begin(), fs.end(), [&](const config::Field& g) { return g.key == f.key; });
      if (it == fs.end()) break;
      values.push_back(config::value_string(*it));
    }
    if (values.size() != cfgs.size() || std::all_of(values.begin(), values.end(), [&](const auto& v) { return v == values[0]; }))
      continue;
    for (std::size_t i = 0; i < out.size(); ++i)
      if (key_selected_in(f.key, *cfgs[i])) out[i] += (out[i].empty() ? "" : ", ") + f.key + " = " + values[i];
  }
  return out;
}

std::optional<io::Series> euler_curve(const EvaluatedModel& m, const std::string& label, std::size_t color) {
  const std::string key = headline_score(m.eval);
  io::Series s{label, {}, {}, io::palette(color), true};
  std::vector<std::pair<double, double>> pts;
  for (const auto& r : m.eval.results)
    if (r.solver == "euler" && r.has(key)) pts.emplace_back(r.nfe, r.score(key));
  if (pts.empty()) return std::nullopt;
  std::sort(pts.begin(), pts.end());
  for (const auto& [x, y] : pts) s.x.push_back(x), s.y.push_back(y);
  return s;
}

std::vector<std::string> solvers_seen(const std::vector<EvaluatedModel>& models) {
  std::vector<std::string> out;
  for (const auto& [cm, met] : models)
    for (const auto& r : met.results)
      if (std::find(out.begin(), out.end(), r.solver) == out.end()) out.push_back(r.solver);
  return out;
}

std::vector<io::Series> score_vs_nfe(const std::vector<EvaluatedModel>& models, const std::string& key) {
  std::vector<io::Series> series;
  size_t ci = 0;
  const std::vector<std::string> seen = solvers_seen(models);
  for (const auto& [cm, met] : models)
    for (const auto& sv : seen) {
      io::Series s{cm.label + ", " + sv, {}, {}, io::palette(ci++), false};
      for (const auto& r : met.results)
        if (r.solver == sv && r.has(key)) s.x.push_back(r.nfe), s.y.push_back(r.score(key));
      if (!s.x.empty()) series.push_back(s);
    }
  return series;
}

// One row per (model, solver), a column per NFE and one for adaptive solvers; `cell` formats a result.
void score_table(io::HtmlReport& rep, const RunConfig& cfg, const std::vector<EvaluatedModel>& models,
                 const std::function<std::string(const eval::SolverResult&)>& cell, const std::string& floor_cell,
                 const std::string& floor_label) {
  std::vector<std::string> head{"model", "solver"};
  for (auto k : cfg.eval.nfe) head.push_back("NFE " + std::to_string(k));
  head.push_back("adaptive (NFE)");
  std::vector<std::vector<std::string>> rows;
  auto fmt_cell = [&](const eval::SolverResult* r) { return r ? cell(*r) : std::string("-"); };
  const std::vector<std::string> seen = solvers_seen(models);
  for (const auto& [cm, met] : models)
    for (const auto& sv : seen) {
      std::vector<std::string> row{cm.label, sv};
      const auto* ad = met.find(sv, -1);
      const bool adaptive = ad && ad->tag == sv;
      for (auto k : cfg.eval.nfe) row.push_back(adaptive ? "" : fmt_cell(met.find(sv, double(k))));
      row.push_back(adaptive ? fmt_cell(ad) + " (" + short_number(ad->nfe, 3) + ")" : "");
      rows.push_back(row);
    }
  std::vector<std::string> floor_row{floor_label, ""};
  for (size_t i = 0; i <= cfg.eval.nfe.size(); ++i) floor_row.push_back(floor_cell);
  rows.push_back(floor_row);
  rep.table(head, rows);
}


}  // namespace rflow
