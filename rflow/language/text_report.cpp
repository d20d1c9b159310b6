#include "rflow/language/text_report.h"

#include <filesystem>
#include <array>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "rflow/core/error.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/html_report.h"
#include "rflow/io/svg.h"
#include "rflow/language/text_eval.h"

namespace rflow {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string num(const json& v, int digits = 3) {
  return v.is_number() ? fmt::format("{:.{}f}", v.get<double>(), digits) : std::string("–");
}

std::string row_name(const json& r) {
  const std::string solver = r.value("solver", "euler") == "euler" ? "" : ", " + r["solver"].get<std::string>();
  if (r.contains("baseline")) return r["baseline"].get<std::string>() + (r.contains("model") ? " (" + r["model"].get<std::string>() + solver + ")" : "");
  return r.value("model", "?") + solver;
}

void training_curves(io::HtmlReport& page, const std::string& dir) {
  std::ifstream in(fs::path(dir) / "autoencoder" / "metrics.jsonl");
  io::Series rec{"reconstruction (nats / sentence)"}, kl{"KL (nats)"}, acc{"token accuracy"}, lambda{"λ (joint steps)"};
  for (std::string line; std::getline(in, line);) {
    const auto j = json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    const double s = j.value("step", 0.0);
    rec.x.push_back(s), rec.y.push_back(j.value("reconstruction", 0.0));
    kl.x.push_back(s), kl.y.push_back(j.value("kl", 0.0));
    acc.x.push_back(s), acc.y.push_back(j.value("token_accuracy", 0.0));
    if (j.contains("lambda")) lambda.x.push_back(s), lambda.y.push_back(j["lambda"].get<double>());
  }
  if (rec.x.empty()) return;
  page.heading("Autoencoder training");
  std::vector<std::pair<std::string, std::string>> figs{
      {"reconstruction and KL per logged window", io::svg_curves({rec, kl}, {"losses", "step", "nats"})},
      {"teacher-forced token accuracy", io::svg_curves({acc}, {"accuracy", "step", ""})}};
  if (!lambda.x.empty()) figs.push_back({"the barrier's λ in the joint phase (weight of the reconstruction gradient)", io::svg_curves({lambda}, {"λ", "step", ""})});
  page.figure_row(figs);
}

// A rate (0–1) vs NFE, a line per model of the chain; the many-step sampler as a point and the
// baselines that use no flow (no edit, the latent offset) as flat lines across, on a 0–1 axis so
// that small differences look small.
std::string curve(const json& rows, const std::string& metric, const std::string& title) {
  std::map<std::string, io::Series> by;
  std::vector<std::pair<std::string, double>> flat;
  double max_nfe = 1;
  for (const auto& r : rows) {
    if (!r.contains(metric)) continue;
    if (r.value("nfe", 0) <= 0) {
      flat.emplace_back(row_name(r), r[metric].get<double>());
      continue;
    }
    auto& s = by[row_name(r)];
    s.label = row_name(r);
    s.x.push_back(r["nfe"].get<double>()), s.y.push_back(r[metric].get<double>());
    max_nfe = std::max(max_nfe, r["nfe"].get<double>());
  }
  std::vector<io::Series> series;
  for (auto& [k, s] : by) series.push_back(s);
  for (const auto& [name, v] : flat) series.push_back({name, {0.8, max_nfe * 1.25}, {v, v}, "", false});
  io::PlotOptions o{title, "NFE (Euler steps)", metric};
  o.logx = true;
  o.limits = std::array<double, 4>{0.8, max_nfe * 1.25, 0.0, 1.02};
  return io::svg_curves(series, o);
}

void metric_table(io::HtmlReport& page, const json& rows, const std::vector<std::string>& metrics) {
  std::vector<std::string> header{"model", "NFE"};
  header.insert(header.end(), metrics.begin(), metrics.end());
  std::vector<std::vector<std::string>> out;
  for (const auto& r : rows) {
    std::vector<std::string> row{row_name(r), num(r.value("nfe", json(0)), r.value("solver", "euler") == "euler" ? 0 : 1)};
    for (const auto& m : metrics) row.push_back(num(r.value(m, json()), m == "sentences_per_s" ? 0 : 3));
    out.push_back(row);
  }
  page.table(header, out);
}

void generation_section(io::HtmlReport& page, const json& g) {
  page.heading("Generation");
  const json& rows = g.at("rows");
  metric_table(page, rows, {"control_accuracy", "fluency", "distinct", "novel", "perplexity", "sentences_per_s"});
  if (!rows.empty() && rows[0].contains("control_accuracy"))
    page.figure_row({{"control accuracy vs NFE", curve(rows, "control_accuracy", "control accuracy")},
                     {"fluency (grammar parse rate) vs NFE", curve(rows, "fluency", "fluency")},
                     {"distinct sentences vs NFE (one step of the 1-RF collapses to the mean)", curve(rows, "distinct", "distinct")}});
  for (const auto& [model, per_class] : g.at("examples").items()) {
    std::vector<std::vector<std::string>> out;
    for (const auto& [cls, sentences] : per_class.items())
      for (const auto& s : sentences) out.push_back({cls, s.get<std::string>()});
    page.heading("Samples of " + model + " per requested value", 3);
    page.table({"asked for", "generated"}, out);
  }
}

void transfer_section(io::HtmlReport& page, const json& t) {
  page.heading("Editing: " + t.value("attribute", std::string()));
  const json& rows = t.at("rows");
  metric_table(page, rows, {"accuracy", "preservation", "others_kept", "fluency", "sentences_per_s"});
  if (!rows.empty() && rows[0].contains("accuracy"))
    page.figure_row({{"transfer accuracy vs NFE", curve(rows, "accuracy", "transfer accuracy")},
                     {"content words kept vs NFE", curve(rows, "preservation", "content kept")},
                     {"fluency vs NFE", curve(rows, "fluency", "fluency")}});
  for (const auto& [model, ex] : t.at("examples").items()) {
    std::vector<std::vector<std::string>> out;
    for (const auto& e : ex) out.push_back({e.value("source", ""), "→ " + e.value("to", ""), e.value("output", "")});
    page.heading("Edits by " + model, 3);
    page.table({"before", "to", "after"}, out);
  }
}

std::vector<std::pair<std::string, std::string>> summary(const json& e) {
  std::vector<std::pair<std::string, std::string>> kv{{"corpus", e.value("corpus", "")}};
  const json& ae = e.at("autoencoder");
  kv.push_back({"reconstruction (test)", "exact " + num(ae["exact_match"]) + ", words " + num(ae["word_accuracy"]) + ", " +
                                             std::to_string(ae.value("active_units", 0)) + "/" + std::to_string(ae.value("latent_dim", 0)) + " latent units active"});
  kv.push_back({"latent (test means)", fmt::format("{} dimensions, mean norm {:.2f}, std {:.3f}", ae.value("latent_dim", 0),
                                                   ae.value("latent_mean_norm", 0.0), ae.value("latent_std", 0.0))});
  if (e.contains("judge"))
    kv.push_back({"perplexity of real test text (judge LM)", num(e["judge"]["perplexity_real_test"], 1)});
  if (e.contains("speed") && !e["speed"].is_null())
    kv.push_back({"one-step edit vs " + std::to_string(e["speed"].value("many_step_nfe", 0)) + "-step sampler",
                  num(e["speed"]["speedup_end_to_end"], 1) + "× sentences/s end to end, " + num(e["speed"]["speedup_flow"], 0) + "× in the flow"});
  return kv;
}

}  // namespace

std::string write_text_report(const std::string& run_dir) {
  const std::string file = text_eval_file(run_dir);
  io::check_readable_file(file, "run the eval stage first: rflow text eval " + run_dir);
  const json e = json::parse(io::read_file(file));
  io::HtmlReport page("Language RF: " + fs::path(run_dir).filename().string());
  page.key_values(summary(e));
  training_curves(page, run_dir);
  std::vector<std::vector<std::string>> rec;
  for (const auto& x : e["autoencoder"].value("examples", json::array())) rec.push_back({x.value("source", ""), x.value("decoded", "")});
  page.heading("Reconstructions (test split)", 3);
  page.table({"sentence", "decoded from its latent"}, rec);
  if (e.contains("generate")) generation_section(page, e["generate"]);
  if (e.contains("transfer")) transfer_section(page, e["transfer"]);
  const std::string out = (fs::path(run_dir) / "report.html").string();
  page.save(out);
  return out;
}

}  // namespace rflow
