#include "rflow/automl/best_config.h"

#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "rflow/automl/trial_rules.h"

namespace rflow::automl {

namespace {

// JSON of a resolved config → TOML nodes (objects become tables, lists arrays).
void put(toml::table& t, const std::string& key, const nlohmann::json& v);

toml::array array_of(const nlohmann::json& v) {
  toml::array a;
  for (const auto& e : v) {
    if (e.is_boolean()) a.push_back(e.get<bool>());
    else if (e.is_number_integer()) a.push_back(e.get<int64_t>());
    else if (e.is_number()) a.push_back(e.get<double>());
    else if (e.is_string()) a.push_back(e.get<std::string>());
  }
  return a;
}

void put(toml::table& t, const std::string& key, const nlohmann::json& v) {
  if (v.is_object()) {
    toml::table sub;
    for (const auto& [k, e] : v.items()) put(sub, k, e);
    t.insert_or_assign(key, std::move(sub));
  } else if (v.is_array()) {
    t.insert_or_assign(key, array_of(v));
  } else if (v.is_boolean()) {
    t.insert_or_assign(key, v.get<bool>());
  } else if (v.is_number_integer()) {
    t.insert_or_assign(key, v.get<int64_t>());
  } else if (v.is_number()) {
    t.insert_or_assign(key, v.get<double>());
  } else if (v.is_string()) {
    t.insert_or_assign(key, v.get<std::string>());
  }
}

}  // namespace

std::string best_config_toml(const SearchOptions& s, const TrialRecord& best) {
  std::vector<std::string> set = settings_of(s.space, best.x);
  set.push_back("train.steps=" + std::to_string(s.asha.max_steps));
  const nlohmann::json j = resolved_config(s.config, set);
  toml::table t;
  for (const auto& [k, v] : j.items()) put(t, k, v);
  std::ostringstream out;
  out << fmt::format("# The best trial ({}) of the study '{}': {} = {:.6g} at {} steps ({} {} NFE {}).\n", best.number, s.name,
                     s.objective.metric, best.value, best.steps, s.objective.solver, "at", s.objective.nfe);
  out << "# Made by `rflow auto best` from " << s.config << " with:";
  for (const auto& kv : settings_of(s.space, best.x)) out << " " << kv;
  out << "\n\n" << t << "\n";
  return out.str();
}

}  // namespace rflow::automl
