#include "rflow/automl/search_space.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "rflow/core/error.h"

namespace rflow::automl {

void ParamSpec::validate(const std::string& where) const {
  RF_CHECK(!key.empty(), "a search parameter needs the config key it sets", where + ".key", "e.g. key = \"train.lr\"");
  RF_CHECK(kind == "float" || kind == "int" || kind == "categorical", "unknown parameter kind '" + kind + "'",
           where + ".kind", "float | int | categorical");
  if (categorical()) {
    RF_CHECK(!choices.empty(), "a categorical parameter needs choices", where + ".choices", "e.g. choices = [\"adam\", \"adamw\"]");
    RF_CHECK(std::set<std::string>(choices.begin(), choices.end()).size() == choices.size(), "choices repeat",
             where + ".choices", "list each choice once");
    return;
  }
  RF_CHECK(std::isfinite(low) && std::isfinite(high) && low <= high, "the range [low, high] is empty or not finite",
           where, "give low <= high");
  RF_CHECK(!log || low > 0, "a log-uniform range needs low > 0", where + ".low", "or drop log = true");
  RF_CHECK(!integer() || (low == std::floor(low) && high == std::floor(high)), "an int range needs whole bounds", where,
           "e.g. low = 2, high = 8");
}

void SearchSpace::validate(const std::string& where) const {
  RF_CHECK(!params.empty(), "the search space is empty", where, "declare at least one parameter to tune");
  std::set<std::string> keys;
  for (size_t i = 0; i < params.size(); ++i) {
    params[i].validate(fmt::format("{}[{}]", where, i));
    RF_CHECK(keys.insert(params[i].key).second, "'" + params[i].key + "' is tuned twice", fmt::format("{}[{}].key", where, i),
             "declare each key once");
  }
}

SearchSpace SearchSpace::from_json(const nlohmann::json& j, const std::string& where) {
  RF_CHECK(j.is_array(), "the search space must be a list of parameters", where, "e.g. [{key = \"train.lr\", low = 1e-4, high = 3e-3, log = true}]");
  SearchSpace s;
  static const std::set<std::string> kKnown{"key", "kind", "low", "high", "log", "choices"};
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string at = fmt::format("{}[{}]", where, i);
    const nlohmann::json& e = j[i];
    RF_CHECK(e.is_object(), "a parameter must be a table", at, "{key = ..., low = ..., high = ...} or {key = ..., choices = [...]}");
    for (const auto& [k, v] : e.items()) RF_CHECK(kKnown.count(k), "unknown field '" + k + "'", at, "fields: key, kind, low, high, log, choices");
    ParamSpec p;
    try {
      p.key = e.value("key", std::string());
      p.kind = e.value("kind", std::string(e.contains("choices") ? "categorical" : "float"));
      p.low = e.value("low", 0.0), p.high = e.value("high", 0.0);
      p.log = e.value("log", false);
      if (e.contains("choices"))
        for (const auto& c : e["choices"]) p.choices.push_back(c.is_string() ? c.get<std::string>() : c.dump());
    } catch (const nlohmann::json::exception& ex) {
      throw Error(std::string("a field has the wrong type: ") + ex.what(), at, "key: text, low/high: numbers, log: true|false, choices: a list");
    }
    s.params.push_back(p);
  }
  s.validate(where);
  return s;
}

nlohmann::json SearchSpace::to_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : params) {
    nlohmann::json e{{"key", p.key}, {"kind", p.kind}};
    if (p.categorical()) e["choices"] = p.choices;
    else e.update({{"low", p.low}, {"high", p.high}, {"log", p.log}});
    out.push_back(e);
  }
  return out;
}

std::string setting_value(const ParamSpec& p, double v) {
  if (p.categorical()) return p.choices.at(static_cast<size_t>(v));
  if (p.integer()) return std::to_string(static_cast<int64_t>(std::llround(v)));
  return fmt::format("{:.6g}", v);
}

std::vector<std::string> settings_of(const SearchSpace& s, const Point& x) {
  RF_CHECK(contains(s, x), "the point does not lie in the search space", "automl::settings_of", "this is a bug in a sampler");
  std::vector<std::string> out;
  for (size_t i = 0; i < s.params.size(); ++i) out.push_back(s.params[i].key + "=" + setting_value(s.params[i], x[i]));
  return out;
}

Point snap(const SearchSpace& s, Point x) {
  for (size_t i = 0; i < x.size() && i < s.params.size(); ++i)
    if (s.params[i].real()) x[i] = std::clamp(std::stod(setting_value(s.params[i], x[i])), s.params[i].low, s.params[i].high);
  return x;
}

Point point_of(const SearchSpace& s, const nlohmann::json& values, const std::string& where) {
  RF_CHECK(values.is_object(), "the parameters must be an object of config key → value", where,
           "e.g. {\"train.lr\": 0.001, \"train.batch_size\": \"128\"}");
  for (const auto& [k, v] : values.items())
    RF_CHECK(std::any_of(s.params.begin(), s.params.end(), [&](const ParamSpec& p) { return p.key == k; }),
             "'" + k + "' is not a parameter of the search space", where, "give only the [[space]] keys");
  Point x;
  for (const ParamSpec& p : s.params) {
    const std::string at = where + "." + p.key;
    RF_CHECK(values.contains(p.key), "no value for '" + p.key + "'", where, "give every [[space]] key a value");
    const nlohmann::json& v = values[p.key];
    if (p.categorical()) {
      const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
      const auto it = std::find(p.choices.begin(), p.choices.end(), text);
      RF_CHECK(it != p.choices.end(), "'" + text + "' is not one of the choices", at, "choose one of the [[space]] choices");
      x.push_back(double(it - p.choices.begin()));
    } else {
      RF_CHECK(v.is_number(), "the value must be a number", at, fmt::format("a number in [{}, {}]", p.low, p.high));
      x.push_back(v.get<double>());
      RF_CHECK(x.back() >= p.low && x.back() <= p.high && (!p.integer() || x.back() == std::floor(x.back())),
               fmt::format("{} lies outside the parameter's range", x.back()), at,
               fmt::format("{} in [{}, {}]", p.integer() ? "a whole number" : "a number", p.low, p.high));
    }
  }
  return snap(s, x);
}

bool contains(const SearchSpace& s, const Point& x) {
  if (x.size() != s.params.size()) return false;
  for (size_t i = 0; i < x.size(); ++i) {
    const ParamSpec& p = s.params[i];
    if (!std::isfinite(x[i])) return false;
    if (p.categorical()) {
      if (x[i] != std::floor(x[i]) || x[i] < 0 || x[i] >= double(p.choices.size())) return false;
    } else {
      if (x[i] < p.low || x[i] > p.high) return false;
      if (p.integer() && x[i] != std::floor(x[i])) return false;
    }
  }
  return true;
}

}  // namespace rflow::automl
