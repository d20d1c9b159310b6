#include "rflow/automl/warm_start.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include "rflow/automl/search.h"
#include "rflow/automl/study.h"
#include "rflow/io/atomic_file.h"
#include "rflow/automl/trial_rules.h"

namespace fs = std::filesystem;

namespace rflow::automl {

namespace {

// A parameter's value from settings (key → text), else from the resolved base config, else the
// middle of its range (the geometric middle of a log range, the first choice).
double value_for(const ParamSpec& p, const std::map<std::string, std::string>& settings, const nlohmann::json& base) {
  std::string text;
  if (auto it = settings.find(p.key); it != settings.end()) text = it->second;
  else if (const nlohmann::json* v = resolved_value(base, p.key); v && !v->is_null()) text = v->is_string() ? v->get<std::string>() : v->dump();
  if (p.categorical()) {
    const auto it = std::find(p.choices.begin(), p.choices.end(), text);
    return it == p.choices.end() ? 0.0 : double(it - p.choices.begin());
  }
  double x = p.log ? std::sqrt(p.low * p.high) : 0.5 * (p.low + p.high);
  try {
    if (!text.empty()) x = std::stod(text);
  } catch (const std::exception&) {
  }
  x = std::clamp(x, p.low, p.high);
  return p.integer() ? std::round(x) : x;
}

Point point_from(const SearchOptions& s, const std::map<std::string, std::string>& settings, const nlohmann::json& base) {
  Point x;
  for (const auto& p : s.space.params) x.push_back(value_for(p, settings, base));
  return snap(s.space, x);
}

bool is_search_file(const std::string& path) {
  try {
    const toml::table t = toml::parse_file(path);
    return t.contains("space") && t.contains("config");
  } catch (const std::exception&) {
    return false;
  }
}

// The best finished trial of the study a search file makes (nullopt: none yet).
std::optional<std::pair<SearchOptions, TrialRecord>> best_of(const std::string& search_file) {
  SearchOptions o = SearchOptions::load(search_file, {});
  if (!fs::exists(study_path(o))) return std::nullopt;
  Study study(study_path(o), o.name, o.meta());
  const auto trials = study.trials();
  const TrialRecord* b = best_trial(trials);
  if (!b) return std::nullopt;
  return std::make_pair(o, *b);
}

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::string w;
  for (char c : text + " ") {
    if (std::isalnum(static_cast<unsigned char>(c))) w += char(std::tolower(static_cast<unsigned char>(c)));
    else if (!w.empty()) out.push_back(w), w.clear();
  }
  return out;
}

// TF-IDF cosine of two descriptions, the document frequencies from `corpus`.
double tfidf_cosine(const std::string& a, const std::string& b, const std::vector<std::string>& corpus) {
  std::map<std::string, double> df;
  for (const auto& d : corpus) {
    const auto ws = words(d);
    for (const auto& w : std::set<std::string>(ws.begin(), ws.end())) df[w] += 1;
  }
  const auto vec = [&](const std::string& t) {
    std::map<std::string, double> v;
    for (const auto& w : words(t)) v[w] += std::log((1.0 + double(corpus.size())) / (1.0 + df[w])) + 1.0;
    return v;
  };
  const auto va = vec(a), vb = vec(b);
  double dot = 0, na = 0, nb = 0;
  for (const auto& [w, x] : va) na += x * x, dot += vb.count(w) ? x * vb.at(w) : 0.0;
  for (const auto& [w, x] : vb) nb += x * x;
  return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0.0;
}

DataCard card_of(const nlohmann::json& j) {
  DataCard d;
  d.name = j.value("name", std::string());
  d.modality = j.value("modality", std::string());
  d.description = j.value("description", std::string());
  d.shape = j.value("shape", std::vector<int64_t>{1});
  d.size = j.value("size", int64_t(0));
  d.classes = j.value("classes", int64_t(0));
  return d;
}

}  // namespace

std::vector<Point> warm_points(const SearchOptions& s) {
  std::vector<Point> out;
  if (s.warm_start.empty()) return out;
  const nlohmann::json base = resolved_config(s.config, {});
  for (const auto& w : s.warm_start) {
    if (!is_search_file(w)) {  // a run config: every value from it
      out.push_back(point_from(s, {}, resolved_config(w, {})));
      continue;
    }
    const auto best = best_of(w);
    if (!best) {
      spdlog::warn("auto: warm start {}: its study has no finished trial yet; skipped", w);
      continue;
    }
    std::map<std::string, std::string> settings;
    for (const auto& kv : settings_of(best->first.space, best->second.x)) settings[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
    out.push_back(point_from(s, settings, base));
  }
  return out;
}

double card_distance(const DataCard& a, const DataCard& b, const std::vector<std::string>& corpus) {
  const auto fa = a.features(), fb = b.features();
  double d2 = 0;
  for (size_t i = 0; i < fa.size() && i < fb.size(); ++i) d2 += (fa[i] - fb[i]) * (fa[i] - fb[i]);
  return std::sqrt(d2) + (1.0 - tfidf_cosine(a.description, b.description, corpus));
}

std::vector<EarlierPlan> nearest_plans(const DataCard& data, const std::string& model, const std::string& root, size_t k) {
  std::vector<std::pair<DataCard, std::string>> found;
  if (!fs::is_directory(root)) return {};
  for (const auto& e : fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied)) {
    if (e.path().filename() != "plan.json") continue;
    try {
      const nlohmann::json j = nlohmann::json::parse(io::read_file(e.path().string()));
      if (j.at("search").get<std::string>().empty()) continue;  // a plan without a search (a policy)
      const std::string search = (e.path().parent_path() / j.at("search").get<std::string>()).string();
      if (j.at("model").get<std::string>() == model && fs::exists(search) && best_of(search)) found.emplace_back(card_of(j.at("data")), search);
    } catch (const std::exception& ex) {
      spdlog::warn("plan: {} skipped ({})", e.path().string(), ex.what());
    }
  }
  std::vector<std::string> corpus{data.description};
  for (const auto& [c, s] : found) corpus.push_back(c.description);
  std::vector<EarlierPlan> out;
  for (const auto& [c, s] : found) out.push_back({s, card_distance(data, c, corpus)});
  std::sort(out.begin(), out.end(), [](const EarlierPlan& a, const EarlierPlan& b) { return a.distance < b.distance; });
  if (out.size() > k) out.resize(k);
  return out;
}

std::vector<CurvePoint> best_curve(const std::string& search_file) {
  const auto best = best_of(search_file);
  if (!best) return {};
  std::vector<CurvePoint> out;
  for (const auto& r : best->second.reports)
    if (std::isfinite(r.value)) out.push_back({double(r.step) / double(best->first.asha.max_steps), r.value});
  return out;
}

}  // namespace rflow::automl
