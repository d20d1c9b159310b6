#include "rflow/automl/card.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "rflow/automl/toml_json.h"
#include "rflow/core/config.h"
#include "rflow/core/error.h"

namespace rflow::automl {

namespace {

const std::vector<std::string> kFamilies{"mlp", "unet", "dit", "policy", "text"};

bool one_of(const std::string& v, const std::vector<std::string>& set) { return std::find(set.begin(), set.end(), v) != set.end(); }

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " | ") + s;
  return out;
}

void check_settings(const std::vector<std::string>& settings, const std::string& where) {
  for (size_t i = 0; i < settings.size(); ++i) {
    const auto eq = settings[i].find('=');
    RF_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < settings[i].size(), "'" + settings[i] + "' is not key=value",
             fmt::format("{}.settings[{}]", where, i), "e.g. \"data.target.name=moons\"");
  }
}

}  // namespace

const std::vector<Modality>& modalities() {
  static const std::vector<Modality> all{{"points", 2000, true}, {"images", 1000, true}, {"composites", 500, true}, {"policy", 0, false}};
  return all;
}

const Modality& modality_of(const std::string& name, const std::string& where) {
  for (const auto& m : modalities())
    if (m.name == name) return m;
  std::string known;
  for (const auto& m : modalities()) known += (known.empty() ? "" : " | ") + m.name;
  throw Error("unknown modality '" + name + "'", where, known);
}

std::vector<Constraint> constraints_from_json(const nlohmann::json& j, const std::string& where) {
  std::vector<Constraint> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string at = fmt::format("{}[{}]", where, i);
    Constraint c;
    for (const auto& [k, v] : j[i].items())
      RF_CHECK(k == "key" || k == "divisible_by" || k == "why", "unknown field '" + k + "'", at, "fields: key, divisible_by, why");
    try {
      c.key = j[i].value("key", std::string());
      c.why = j[i].value("why", std::string());
      for (const auto& d : j[i].value("divisible_by", nlohmann::json::array()))
        c.divisible_by.push_back(d.is_string() ? d.get<std::string>() : std::to_string(d.get<int64_t>()));
    } catch (const nlohmann::json::exception& e) {
      throw Error(std::string("a field has the wrong type: ") + e.what(), at, "key: text, divisible_by: a list of keys or whole numbers");
    }
    RF_CHECK(!c.key.empty() && !c.divisible_by.empty(), "a constraint needs key and divisible_by", at,
             "e.g. key = \"model.dit.hidden\", divisible_by = [\"model.dit.heads\"]");
    out.push_back(std::move(c));
  }
  return out;
}

DataCard DataCard::load(const std::string& path) {
  DataCard c;
  load_toml_fields(config::fields_of(c), path, "data card", {});
  c.validate(path);
  return c;
}

void DataCard::validate(const std::string& where) const {
  RF_CHECK(!name.empty(), "the data card has no name", where + ": name", "name = \"moons\"");
  modality_of(modality, where + ": modality");
  RF_CHECK(!shape.empty() && std::all_of(shape.begin(), shape.end(), [](int64_t d) { return d >= 1; }),
           "the shape must be a list of positive sizes", where + ": shape", "e.g. shape = [1, 28, 28]");
  RF_CHECK(size >= 0 && classes >= 0, "size and classes must be >= 0", where, "0 means drawn on demand / unlabelled");
  RF_CHECK(!metric.empty(), "the data card names no metric", where + ": metric", "e.g. metric = \"w2\"");
  RF_CHECK(!settings.empty(), "the data card has no settings that select the data", where + ": settings",
           "e.g. settings = [\"data.target.name=moons\"]");
  check_settings(settings, where);
  RF_CHECK(budget.cores >= 0 && budget.minutes > 0 && budget.memory_gb > 0, "the budget needs minutes > 0, memory_gb > 0, cores >= 0",
           where + ": budget", "e.g. minutes = 10, memory_gb = 4");
}

std::vector<double> DataCard::features() const {
  double dim = 1;
  for (int64_t d : shape) dim *= double(d);
  std::vector<double> f;
  for (const auto& m : modalities()) f.push_back(m.name == modality ? 1.0 : 0.0);
  f.push_back(std::log10(1.0 + double(size)) / 6);  // unlimited (0) sits with the small sets: its size is the budget's
  f.push_back(std::log10(dim) / 4);
  f.push_back(std::log10(1.0 + double(classes)) / 2);
  return f;
}

ModelCard ModelCard::load(const std::string& path) {
  ModelCard c;
  const nlohmann::json parts = load_toml_fields(config::fields_of(c), path, "model card", {"tunable", "constraint"});
  if (parts.contains("tunable")) c.tunable = SearchSpace::from_json(parts["tunable"], path + ": tunable");
  if (parts.contains("constraint")) c.constraints = constraints_from_json(parts["constraint"], path + ": constraint");
  c.validate(path);
  return c;
}

void ModelCard::validate(const std::string& where) const {
  RF_CHECK(!name.empty(), "the model card has no name", where + ": name", "name = \"dit\"");
  RF_CHECK(one_of(family, kFamilies), "unknown family '" + family + "'", where + ": family", joined(kFamilies));
  RF_CHECK(!modalities.empty(), "the model card names no modality", where + ": modalities", "e.g. modalities = [\"images\"]");
  for (const auto& m : modalities) modality_of(m, where + ": modalities");
  check_settings(settings, where);
  RF_CHECK(threads_per_trial >= 1 && probe_steps >= 2, "threads_per_trial >= 1 and probe_steps >= 2", where, "e.g. 1 and 20");
  if (!tunable.params.empty()) tunable.validate(where + ": tunable");
}

const nlohmann::json* resolved_value(const nlohmann::json& resolved, const std::string& key) {
  const nlohmann::json* at = &resolved;
  std::istringstream parts(key);
  for (std::string part; std::getline(parts, part, '.');) {
    if (!at->is_object() || !at->contains(part)) return nullptr;
    at = &(*at)[part];
  }
  return at;
}

bool Constraint::holds(const nlohmann::json& resolved, std::string* detail) const {
  const auto whole = [&](const std::string& k, int64_t* out) {
    if (!k.empty() && std::all_of(k.begin(), k.end(), ::isdigit)) return *out = std::stoll(k), true;
    const nlohmann::json* v = resolved_value(resolved, k);
    if (!v || !v->is_number_integer()) return false;
    return *out = v->get<int64_t>(), true;
  };
  int64_t value = 0, by = 1;
  std::string what = key;
  bool ok = whole(key, &value);
  for (const auto& d : divisible_by) {
    int64_t f = 0;
    ok = ok && whole(d, &f) && f > 0;
    by *= f;
    what += (d == divisible_by.front() ? " % (" : " · ") + d;
  }
  ok = ok && value % by == 0;
  if (!ok && detail)
    *detail = fmt::format("{}) == 0 does not hold ({} = {}, divisor {}){}", what, key, value, by, why.empty() ? "" : ": " + why);
  return ok;
}

}  // namespace rflow::automl
