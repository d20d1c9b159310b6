#include "rflow/automl/trial_rules.h"

#include <nlohmann/json.hpp>

#include "rflow/pipeline/run_config.h"

namespace rflow::automl {

nlohmann::json resolved_config(const std::string& path, const std::vector<std::string>& settings) {
  RunConfig cfg = load_run_config(path, settings);
  return nlohmann::json::parse(to_json(cfg));
}

bool keeps(const std::vector<Constraint>& rules, const nlohmann::json& resolved, std::string* why) {
  for (const auto& c : rules)
    if (!c.holds(resolved, why)) return false;
  return true;
}

nlohmann::json resolved_trial_config(const SearchOptions& s, const Point& x) { return resolved_config(s.config, settings_of(s.space, x)); }

bool keeps_rules(const SearchOptions& s, const Point& x, std::string* why) {
  return s.constraints.empty() || keeps(s.constraints, resolved_trial_config(s, x), why);
}

}  // namespace rflow::automl
